//! The generated code uses absolute paths only: local items shadowing prelude names change
//! nothing. (poem's own `#[handler]` output needs `poem` and `std` unshadowed.)
#![allow(dead_code, non_camel_case_types, unused_macros)]

struct Result;
struct Option;
struct Some;
struct None;
struct Ok;
struct Err;
struct Box;
struct Vec;
struct String;
struct From;
struct Into;
struct Default;
struct Send;
struct Sync;
struct Future;
struct Clone;
struct tokenauth_private;
mod core {}
macro_rules! assert {
    ($($t:tt)*) => {};
}
macro_rules! concat {
    ($($t:tt)*) => {};
}

use poem_openapi::OpenApi;
use poem_openapi::payload::PlainText;
use tokenauth::{Token, User, token_auth};

#[token_auth(keyword = "Api-Key")]
#[poem::handler]
async fn me(user: User, token: Token) -> PlainText<std::string::String> {
    PlainText(format!("{user} {token}"))
}

struct Api;

#[token_auth(keyword = "X-Custom")]
#[OpenApi]
impl Api {
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: User) -> PlainText<std::string::String> {
        PlainText(user.username)
    }
}

/// `#[derive(AuthUser)]` with `cacheable`: its impl and compact form. (sqlx's `FromRow`
/// output needs `Default` unshadowed for `#[sqlx(skip)]` fields, so there are none.)
#[derive(std::clone::Clone, sqlx::FromRow, tokenauth::AuthUser)]
#[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled, cacheable)]
struct Account {
    id: i64,
    email: std::string::String,
    disabled: bool,
    last_login: std::option::Option<i64>,
}

pub(crate) fn main() {}
