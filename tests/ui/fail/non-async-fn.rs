use tokenauth::{User, token_auth};

#[token_auth]
#[poem::handler]
fn me(user: User) -> String {
    user.username
}

fn main() {}
