use tokenauth::{User, token_auth};

#[token_auth(keyword = ["Bearer", "bearer"])]
#[poem::handler]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
