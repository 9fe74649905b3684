use tokenauth::{Token, User, token_auth};

#[token_auth]
#[poem::handler]
async fn me(user: User, token: Option<Token>) -> String {
    format!("{user} {token:?}")
}

fn main() {}
