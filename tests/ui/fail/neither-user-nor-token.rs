use tokenauth::token_auth;

#[token_auth]
#[poem::handler]
async fn ping() -> &'static str {
    "pong"
}

fn main() {}
