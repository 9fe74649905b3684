use tokenauth::{User, token_auth};

#[token_auth(scheme = "ApiKeyAuth")]
#[poem::handler]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
