use tokenauth::{Token, token_auth};

#[token_auth]
#[poem::handler]
async fn me(token: Token, again: Token) -> String {
    format!("{token} {again}")
}

fn main() {}
