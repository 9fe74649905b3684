//! Every supported way to write a plain handler.

use poem::web::{Json, Path};
use poem::{EndpointExt, Route, get, post};
use tokenauth::{Token, User, token_auth};

#[token_auth]
#[poem::handler]
async fn user_only(user: User) -> String {
    user.username
}

#[token_auth]
#[poem::handler]
async fn token_only(token: Token) -> String {
    token.name
}

#[token_auth(keyword = "Bearer")]
#[poem::handler]
async fn both_token_first(token: Token, user: User) -> String {
    format!("{user} {token}")
}

#[token_auth(keyword = "Api-Key")]
#[poem::handler]
async fn custom_keyword(Path(id): Path<i64>, mut user: User, Json(body): Json<Vec<u8>>) -> String {
    user.username.push('!');
    format!("{id} {} {}", user.username, body.len())
}

#[token_auth]
#[poem::handler]
async fn optional(user: Option<User>, token: Option<Token>) -> String {
    format!("{:?} {:?}", user.map(|u| u.id), token.map(|t| t.id))
}

#[token_auth]
#[poem::handler]
async fn patterns(tokenauth::User { username, .. }: tokenauth::User, _: Token) -> String {
    username
}

#[token_auth]
#[poem::handler]
async fn early_return(user: User) -> poem::Result<String> {
    if user.is_active {
        return Ok(user.username);
    }
    Err(poem::Error::from_status(poem::http::StatusCode::FORBIDDEN))
}

// A raw identifier with a custom keyword, optional authentication.
#[token_auth(keyword = "Api-Key")]
#[poem::handler]
async fn r#match(user: Option<User>) -> String {
    user.map(|u| u.username).unwrap_or_default()
}

// A keyword `<keyword>Auth` cannot name, its scheme named as `keyword!` names it.
#[token_auth(keyword = "Key!", scheme = "BangAuth", scopes = ["orders:read"])]
#[poem::handler]
async fn named_scheme(user: User) -> String {
    user.username
}

tokenauth::keyword!(pub Bang = "Key!", scheme = "BangAuth", scopes = ["orders:read"]);

pub(crate) fn main() {
    let _app = Route::new()
        .at("/a", get(user_only))
        .at("/b", get(token_only))
        .at("/c", get(both_token_first))
        .at("/d/:id", post(custom_keyword))
        .at("/e", get(optional))
        .at("/f", get(patterns))
        .at("/g", get(early_return))
        .at("/h", get(r#match))
        .at("/i", get(named_scheme))
        .data(());
    let _ = Bang;
}
