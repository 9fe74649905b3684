use tokenauth::{User, token_auth};

#[token_auth(scopes = ["orders:read", "orders:write", "orders:read"])]
#[poem::handler]
async fn me(user: User) -> String {
    user.username
}

fn main() {}
