use poem_openapi::{OpenApi, payload::PlainText};
use tokenauth::token_auth;

struct Account {
    name: String,
}

struct Api;

#[token_auth(user = Account)]
#[OpenApi]
impl Api {
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: Account) -> PlainText<String> {
        PlainText(user.name)
    }
}

fn main() {}
