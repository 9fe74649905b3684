use tokenauth::{User, token_auth};

#[token_auth(keyword = "Token")]
#[token_auth(keyword = "Bearer")]
#[poem::handler]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
