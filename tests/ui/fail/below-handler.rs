use tokenauth::{User, token_auth};

#[poem::handler]
#[token_auth]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
