use tokenauth::{Token, token_auth};

struct Account;

#[token_auth(user = Account)]
#[poem::handler]
async fn me(token: Token) -> String {
    token.name
}

fn main() {}
