use poem_openapi::{OpenApi, payload::PlainText};
use tokenauth::{User, token_auth};

struct Api;

#[token_auth]
#[OpenApi]
impl Api {
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: User) -> PlainText<String> {
        PlainText(self.describe(&user))
    }

    #[token_auth(keyword = "Bearer")]
    fn describe(&self, user: &User) -> String {
        user.username.clone()
    }
}

fn main() {}
