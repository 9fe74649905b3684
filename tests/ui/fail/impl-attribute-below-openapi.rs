use poem_openapi::{OpenApi, payload::PlainText};
use tokenauth::{User, token_auth};

struct Api;

#[OpenApi]
#[token_auth]
impl Api {
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }
}

fn main() {}
