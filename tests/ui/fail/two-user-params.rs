use tokenauth::{User, token_auth};

#[token_auth]
#[poem::handler]
async fn me(user: User, again: User) -> String {
    format!("{user} {again}")
}

fn main() {}
