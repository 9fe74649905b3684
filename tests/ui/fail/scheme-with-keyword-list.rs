use tokenauth::{User, token_auth};

#[token_auth(keyword = ["Token", "Bearer"], scheme = "EitherAuth")]
#[poem::handler]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
