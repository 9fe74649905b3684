//! An application that keeps its own users (`accounts`) and authenticates them with
//! tokenauth: shared by `main.rs` and the integration tests.

use poem::web::Json;
use poem::{Endpoint, EndpointExt, Route, get, handler};
use serde::Serialize;
use tokenauth::{AuthUser, Store, Token, token_auth};

/// The application's user type, read from its own `accounts` table. `AuthUser` tells
/// tokenauth how to authenticate an `Account` in one query; its columns are the fields that
/// `sqlx::FromRow` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, AuthUser)]
#[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled)]
pub(crate) struct Account {
    pub(crate) id: i64,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) disabled: bool,
}

/// `user = Account` tells the attribute which parameter is the user.
#[token_auth(user = Account)]
#[handler]
async fn me(account: Account) -> Json<Account> {
    Json(account)
}

/// A handler that takes only the token still authenticates an `Account` (and its table).
#[token_auth(user = Account, keyword = "Bearer")]
#[handler]
async fn token(token: Token) -> Json<Token> {
    Json(token)
}

/// Applies the application's own migrations (its `_sqlx_migrations` table); tokenauth's own
/// tables are not needed at all.
pub(crate) async fn migrate(store: &Store) -> Result<(), sqlx::migrate::MigrateError> {
    if let Some(pool) = store.sqlite_pool() {
        sqlx::migrate!("examples/custom_user/migrations/sqlite")
            .run(pool)
            .await
    } else if let Some(pool) = store.postgres_pool() {
        sqlx::migrate!("examples/custom_user/migrations/postgres")
            .run(pool)
            .await
    } else {
        unreachable!("this example is built with both backends")
    }
}

/// Inserts an account (the application's own code, not tokenauth's).
pub(crate) async fn create_account(
    store: &Store,
    email: &str,
    name: &str,
) -> sqlx::Result<Account> {
    let sql = "INSERT INTO accounts (email, display_name) VALUES ($1, $2) \
               RETURNING id, email, display_name, disabled";
    match (store.sqlite_pool(), store.postgres_pool()) {
        (Some(pool), _) => {
            sqlx::query_as(sql)
                .bind(email)
                .bind(name)
                .fetch_one(pool)
                .await
        }
        (_, Some(pool)) => {
            sqlx::query_as(sql)
                .bind(email)
                .bind(name)
                .fetch_one(pool)
                .await
        }
        (None, None) => unreachable!("this example is built with both backends"),
    }
}

/// `GET /me` (`Authorization: Token <key>`) and `GET /token` (`Authorization: Bearer <key>`).
pub(crate) fn app(store: Store) -> impl Endpoint {
    Route::new()
        .at("/me", get(me))
        .at("/token", get(token))
        .data(store)
}
