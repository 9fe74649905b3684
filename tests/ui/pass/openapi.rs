//! A poem-openapi API: secured, optional and open operations, overrides, custom keywords,
//! `?` and `return` in bodies, and a response type with a `bad_request_handler`.

use poem_openapi::param::Query;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService};
use tokenauth::{Token, User, token_auth};

#[derive(Object)]
struct Order {
    quantity: u32,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
enum OrderResponse {
    #[oai(status = 200)]
    Ok(PlainText<String>),
    #[oai(status = 400)]
    BadRequest(PlainText<String>),
}

fn bad_request(err: poem::Error) -> OrderResponse {
    OrderResponse::BadRequest(PlainText(err.to_string()))
}

#[derive(Clone, sqlx::FromRow)]
struct Account {
    id: i64,
    disabled: bool,
}

impl tokenauth::AuthUser for Account {
    const TABLE: &'static str = "accounts";
    const COLUMNS: &'static [&'static str] = &["id", "disabled"];
    const TOKENS_TABLE: &'static str = "account_tokens";
    fn is_active(&self) -> bool {
        !self.disabled
    }
}

struct Api;

/// Another API whose operations authenticate the application's own accounts.
struct Accounts;

#[token_auth(user = Account)]
#[OpenApi]
impl Accounts {
    #[oai(path = "/account", method = "get")]
    async fn account(&self, account: Account) -> PlainText<String> {
        PlainText(self.describe(&account))
    }

    #[oai(path = "/account/token", method = "get")]
    async fn r#type(&self, token: Option<Token>) -> PlainText<String> {
        PlainText(format!("{:?}", token.map(|t| t.id)))
    }

    // A helper that is not an operation stays as written, even with a `User`-like parameter.
    fn describe(&self, account: &Account) -> String {
        format!("account {}", account.id)
    }
}

#[token_auth(keyword = "Bearer")]
#[OpenApi]
impl Api {
    #[oai(path = "/me", method = "get")]
    async fn me(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    #[oai(path = "/ping", method = "get")]
    async fn ping(&self) -> PlainText<&'static str> {
        PlainText("pong")
    }

    #[token_auth(keyword = "Token")]
    #[oai(path = "/legacy/me", method = "get")]
    async fn legacy(&self, token: Token) -> PlainText<String> {
        PlainText(token.to_string())
    }

    #[token_auth(keyword = "Api-Key")]
    #[oai(path = "/orders", method = "post")]
    async fn order(&self, Json(order): Json<Order>, user: User) -> OrderResponse {
        OrderResponse::Ok(PlainText(format!("{user}: {}", order.quantity)))
    }

    #[oai(path = "/maybe", method = "get")]
    async fn maybe(&self, name: Query<Option<String>>, user: Option<User>) -> PlainText<String> {
        PlainText(format!("{:?} {:?}", name.0, user.map(|u| u.id)))
    }

    #[oai(path = "/fallible", method = "get")]
    async fn fallible(&self, user: User) -> poem::Result<PlainText<String>> {
        if !user.is_active {
            return Err(poem::Error::from_status(poem::http::StatusCode::FORBIDDEN));
        }
        let n: i64 = "42".parse().map_err(poem::error::BadRequest)?;
        Ok(PlainText(format!("{n}")))
    }

    #[oai(path = "/nothing", method = "delete")]
    async fn nothing(&self, _token: Token) {}

    // `cfg` alternatives of one operation: what is generated beside each follows its `cfg`.
    #[cfg(debug_assertions)]
    #[oai(path = "/build", method = "get")]
    async fn build(&self, _user: User) -> PlainText<&'static str> {
        PlainText("debug")
    }

    #[cfg(not(debug_assertions))]
    #[oai(path = "/build", method = "get")]
    async fn build(&self, _user: User) -> PlainText<&'static str> {
        PlainText("release")
    }

    // Several methods share one `#[oai]`: no default id (it would be shared).
    #[oai(path = "/either", method = "get", method = "post")]
    async fn either_method(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    #[oai(path = "/hidden", method = "get", hidden = false)]
    async fn not_hidden(&self) -> PlainText<&'static str> {
        PlainText("shown")
    }
}

struct OAuth;

// RFC 6750's challenge for the impl; an operation's scopes under it, and an operation back on
// DRF's keyword.
#[token_auth(keyword = "Bearer", challenge = "rfc6750", realm = "shop")]
#[OpenApi]
impl OAuth {
    #[token_auth(scopes = ["orders:read"])]
    #[oai(path = "/oauth/orders", method = "get")]
    async fn orders(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    #[token_auth(keyword = "Token")]
    #[oai(path = "/oauth/legacy", method = "get")]
    async fn legacy(&self, token: Token) -> PlainText<String> {
        PlainText(token.to_string())
    }
}

pub(crate) fn main() {
    let _service = OpenApiService::new((Api, Accounts, OAuth), "test", "1.0");
}
