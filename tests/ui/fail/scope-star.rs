use tokenauth::{User, token_auth};

#[token_auth(scopes = ["*"])]
#[poem::handler]
async fn admin(user: User) -> String {
    user.username
}

fn main() {}
