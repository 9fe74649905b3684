use tokenauth::{User, token_auth};

#[token_auth(scopes = ["orders:read", "orders:*"])]
#[poem::handler]
async fn orders(user: User) -> String {
    user.username
}

fn main() {}
