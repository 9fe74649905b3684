//! Django REST framework's `TokenAuthentication` for [poem], and what DRF lacks: hashed
//! tokens in SQLite or PostgreSQL (via sqlx), many named tokens per user, expiry and scopes.
//!
//! - [`parse_authorization`] parses the `Authorization` header byte for byte as DRF does.
//! - [`Store`] keeps users and tokens with sqlx; only a SHA-256 [`KeyDigest`] of each key is
//!   stored, and the plaintext [`Key`] is shown once, at creation.
//! - [`Auth`] and [`MaybeAuth`] are poem extractors that yield the [`User`] and the [`Token`];
//!   failures answer exactly as DRF does ([`Rejection`]).
//!
//! ```no_run
//! use poem::{get, handler, listener::TcpListener, web::Json, EndpointExt, Route, Server};
//! use tokenauth::{Auth, Store, User};
//!
//! #[handler]
//! async fn me(auth: Auth) -> Json<User> {
//!     Json(auth.user)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let store = Store::connect("sqlite://tokenauth.db").await?;
//!     store.migrate().await?;
//!     let app = Route::new().at("/me", get(me)).data(store);
//!     Server::new(TcpListener::bind("127.0.0.1:3000")).run(app).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Cargo features
//! - `sqlite` (default): SQLite storage.
//! - `postgres`: PostgreSQL storage.
//! - `openapi`: poem-openapi support (`ApiAuth`, `ApiMaybeAuth`, `Secured`).
//!
//! [poem]: https://docs.rs/poem

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
// `#[token_auth]` expands to `::tokenauth::…` paths, also inside this crate.
#[cfg(feature = "openapi")]
extern crate self as tokenauth;

#[cfg(feature = "openapi")]
mod endpoints;
mod error;
mod extract;
mod header;
mod key;
mod models;
#[cfg(feature = "openapi")]
mod openapi;
mod password;
mod policy;
mod rejection;
mod store;

#[cfg(feature = "openapi")]
pub use endpoints::{AuthApi, Limit};
pub use error::{AuthError, Error};
pub use extract::{
    Auth, BearerKeyword, Keyword, MaybeAuth, TokenKeyword, authenticate_request, is_valid_keyword,
    is_valid_scheme_name,
};
pub use header::parse_authorization;
pub use key::{KEY_BYTES, Key, KeyDigest, KeyFormat, MAX_IMPORTED_KEY_LEN, MIN_IMPORTED_KEY_LEN};
pub use models::{MAX_SCOPE_LEN, MAX_SCOPES, MAX_TOKEN_NAME_LEN, NewToken, Token, User};
#[cfg(feature = "openapi")]
pub use openapi::{ApiAuth, ApiMaybeAuth, Secured, spec_endpoint, spec_with_scopes};
pub use policy::{MAX_LIFETIME, Policy};
pub use rejection::{
    MISSING_ATTRIBUTE_DETAIL, MISSING_STORE_DETAIL, OVERLOADED_DETAIL, Rejection,
    STORE_FAILURE_DETAIL, UNAVAILABLE_DETAIL,
};
pub use store::{
    AuthUser, AuthenticateError, DecodeRow, MAX_USERNAME_LEN, MIGRATIONS_TABLE, Store, Tokens,
};

#[doc = include_str!("token_auth.md")]
#[cfg_attr(feature = "openapi", doc = include_str!("token_auth_openapi.md"))]
pub use tokenauth_macros::token_auth;

/// The sqlx this crate is built with, for constructing pools and deriving `sqlx::FromRow` on
/// an [`AuthUser`] type with matching versions.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// let pool = tokenauth::sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let store = tokenauth::Store::from(pool);
/// # Ok(()) }
/// ```
pub use sqlx;

/// The README's examples are compiled as doctests.
#[cfg(all(doctest, feature = "openapi"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
