use tokenauth::{User, token_auth};

#[token_auth(keyword = "Key!", scheme = "Key!Auth")]
#[poem::handler]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
