use tokenauth::{User, token_auth};

#[token_auth]
#[poem::handler]
async fn me(&self, user: User) -> String {
    user.username
}

fn main() {}
