use poem_openapi::{OpenApi, payload::PlainText};
use tokenauth::token_auth;

struct Api;

#[token_auth]
#[OpenApi]
impl Api {
    #[token_auth(keyword = "Bearer")]
    #[oai(path = "/ping", method = "get")]
    async fn ping(&self) -> PlainText<&'static str> {
        PlainText("pong")
    }
}

fn main() {}
