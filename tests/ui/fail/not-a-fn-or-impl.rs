use tokenauth::token_auth;

#[token_auth]
struct Me;

fn main() {
    let _ = Me;
}
