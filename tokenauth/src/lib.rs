//! Django REST framework's `TokenAuthentication` for [poem], and what DRF lacks: hashed
//! tokens in SQLite or PostgreSQL (via sqlx), many named tokens per user, expiry and scopes.
//!
//! Its heart is one attribute, [`#[token_auth]`](token_auth): the handler gets the
//! authenticated [`User`] and [`Token`] (DRF's `request.user` and `request.auth`) and is never
//! called without valid credentials — the client gets DRF's `401` with
//! `WWW-Authenticate: <keyword>` and DRF's exact body.
//!
//! ```no_run
//! use poem::{get, handler, listener::TcpListener, web::Json, EndpointExt, Route, Server};
//! use tokenauth::{token_auth, Store, Token, User};
//!
//! #[token_auth(keyword = "Bearer")] // keyword defaults to "Token", as in DRF
//! #[handler]
//! async fn me(user: User, token: Token) -> Json<User> {
//!     println!("{user} authenticated with {token}");
//!     Json(user)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let store = Store::connect("sqlite://tokenauth.db").await?; // or postgres://…
//!     store.migrate().await?;
//!     let app = Route::new().at("/me", get(me)).data(store);
//!     Server::new(TcpListener::bind("127.0.0.1:3000")).run(app).await?;
//!     Ok(())
//! }
//! ```
//!
//! The same attribute secures poem-openapi `#[OpenApi]` impls (feature `openapi`), declaring
//! the security scheme and the `401` in the OpenAPI document, so that Swagger UI's
//! **Authorize** works.
//!
//! # Where things are
//! The crate root holds what the examples above and the README use; the rest is in rooms.
//!
//! | at the root | what it is |
//! |---|---|
//! | [`#[token_auth]`](token_auth), [`keyword!`], [`#[derive(AuthUser)]`](macro@AuthUser) | the macros |
//! | [`User`], [`Token`] | DRF's `request.user` and `request.auth`, as a handler takes them |
//! | [`Store`], [`Policy`] | users and tokens in SQLite or PostgreSQL (sqlx), and the rules they follow: expiry, scopes, limits, the authentication cache |
//! | [`NewToken`], [`Key`] | a token to create, and its plaintext key, shown once (only a SHA-256 digest is stored) |
//! | [`Auth`], [`MaybeAuth`], [`authenticate`] | the extractors the attribute uses, for handlers that take them directly, and the one authentication they run |
//! | [`parse_authorization`], [`Rejection`] | DRF's header parsing, byte for byte, and DRF's answers (`401`, `403`, and `5xx` when the store fails) |
//! | [`Error`] | why a store operation failed |
//! | `AuthApi`, `ApiAuth`, `ApiMaybeAuth` (feature `openapi`) | DRF's obtain-token view with logout, logout everywhere and a login throttle; the extractors as OpenAPI security schemes |
//! | [`AuthUser`] | the trait of the user types tokens authenticate |
//!
//! | module | what is in it |
//! |---|---|
//! | [`store`] | the store's other types: the [`Tokens`](store::Tokens) of a user, the cache's statistics and compact form ([`Pack`](store::Pack)), migrations |
//! | [`import`] | bulk import of users and tokens (from Django) |
//! | [`keyword`](mod@keyword) | keywords as types ([`TokenKeyword`](keyword::TokenKeyword), [`BearerKeyword`](keyword::BearerKeyword)) and what an operation requires ([`Requirement`](keyword::Requirement)) |
//! | [`key`] | keys, their digests and their formats |
//! | [`rejection`] | DRF's reasons for a `401` ([`Reason`](rejection::Reason)) and the bodies of the other answers |
//! | [`rules`] | the rules and bounds: valid keywords, scopes, scheme names, and every length limit |
//! | `openapi` (feature `openapi`) | poem-openapi support: `AuthApi`, the extractors, `WithAuthErrors`, `drf_methods`, the document with scopes, Swagger UI |
//! | `django` (features `django`, `postgres`) | running beside Django, on Django's own tables |
//! | `secret_scanning` (feature `secret-scanning`) | the receiving end of GitHub's secret scanning partner program: leaked keys revoked |
//!
//! # Cargo features
//! - `sqlite` (default): SQLite storage.
//! - `postgres`: PostgreSQL storage.
//! - `openapi`: poem-openapi support (the `openapi` module, and `AuthApi`, `ApiAuth` and
//!   `ApiMaybeAuth` at the root).
//! - `swagger-ui`: `openapi::swagger_ui`, poem-openapi's Swagger UI showing the document with
//!   `x-required-scopes`, whose Authorize dialog takes the key alone for every keyword.
//! - `django`: moving from Django. Django's password hashers (`pbkdf2_sha256`, `pbkdf2_sha1`,
//!   `argon2`, `bcrypt_sha256`, `scrypt`), so that users imported from Django ([`import`], or
//!   `tokenauth import-django`) log in with their Django passwords, then upgraded to
//!   Argon2id; and, with `postgres`, the `django` module (running beside Django). It adds the
//!   `bcrypt`, `scrypt`, `pbkdf2` and `sha1` crates. Without it, a hash in one of Django's
//!   formats never matches: the import keeps it and reports it
//!   ([`import::Warning::UnverifiablePassword`]), and a login against it is refused as with a
//!   wrong password, the process logging a warning that says so, once.
//! - `secret-scanning`: the `secret_scanning` module, the receiving end of GitHub's secret
//!   scanning partner program. It adds RustCrypto's `p256` (ECDSA P-256 verification).
//!
//! [poem]: https://docs.rs/poem

// Not public API: the paths of generated code (re-exports only).
#[doc(hidden)]
pub mod __private;
#[cfg(all(feature = "django", feature = "postgres"))]
pub mod django;
// `#[token_auth]`, `keyword!` and `#[derive(AuthUser)]` expand to `::tokenauth::…` paths, also
// inside this crate (`User` and `DjangoUser` derive `AuthUser`).
extern crate self as tokenauth;

mod authentication;
mod client;
mod error;
mod extract;
mod header;
pub mod import;
pub mod key;
pub mod keyword;
mod models;
#[cfg(feature = "openapi")]
pub mod openapi;
// Public, hidden, for its test hooks (`password::testing`).
#[doc(hidden)]
pub mod password;
mod policy;
pub mod rejection;
#[cfg(any(feature = "openapi", feature = "secret-scanning"))]
mod request_body;
pub mod rules;
mod scheme;
#[cfg(feature = "secret-scanning")]
pub mod secret_scanning;
pub mod store;
mod telemetry;

// What the first examples use; everything else is in the modules above.
pub use authentication::authenticate;
pub use error::Error;
pub use extract::{Auth, MaybeAuth};
pub use header::parse_authorization;
pub use key::Key;
pub use models::{NewToken, Token, User};
#[cfg(feature = "openapi")]
pub use openapi::{ApiAuth, ApiMaybeAuth, AuthApi};
pub use policy::Policy;
pub use rejection::Rejection;
pub use store::{AuthUser, Store};

#[doc = include_str!("token_auth.md")]
#[cfg_attr(feature = "openapi", doc = include_str!("token_auth_openapi.md"))]
pub use tokenauth_macros::token_auth;

/// Defines a [`Keyword`](keyword::Keyword) type (also a [`Requirement`](keyword::Requirement)), checking at compile time that the
/// keyword is a valid HTTP authentication scheme. Its OpenAPI security scheme is named by
/// [`scheme_name`](rules::scheme_name) — `<keyword>Auth`, `BearerAuth` for `Bearer` in any case — the rule
/// `#[token_auth]` follows; give `scheme = "..."` for a keyword with characters a scheme name
/// cannot have (anything but letters, digits, `.`, `-` and `_`). `scopes = [...]` makes a
/// requirement whose token must also grant those scopes, each listed once and none a wildcard
/// (a token's `*` or `orders:*` grants them: [`Policy::grants`]).
///
/// `challenge = "rfc6750"` (with `realm = "..."`) gives a `Bearer` keyword RFC 6750's
/// challenge ([`Challenge`](keyword::Challenge)).
///
/// After the name and keyword, the arguments are those of [`#[token_auth]`](macro@token_auth)
/// (`scheme`, `scopes`, `challenge`, `realm`), read by the same grammar: a mistake gets the
/// same message, on the same tokens, in both macros.
///
/// ```
/// tokenauth::keyword!(
///     /// `Authorization: Api-Key <key>`
///     pub ApiKey = "Api-Key"
/// );
/// tokenauth::keyword!(pub Bang = "Key!", scheme = "BangAuth");
/// // A token must grant `orders:read` (or `orders:*`, or `*`), else 403.
/// tokenauth::keyword!(pub Orders = "Token", scopes = ["orders:read"]);
/// // Refusals carry RFC 6750's challenge: `Bearer realm="shop", error="invalid_token", …`.
/// tokenauth::keyword!(pub OAuth = "Bearer", challenge = "rfc6750", realm = "shop");
///
/// use tokenauth::keyword::{Keyword, Requirement};
/// assert_eq!(OAuth::CHALLENGE.realm(), Some("shop"));
/// assert_eq!(Orders::SCOPES, ["orders:read"]);
/// assert_eq!(ApiKey::KEYWORD, "Api-Key");
/// assert_eq!(ApiKey::SCHEME_NAME, "Api-KeyAuth");
/// assert_eq!(Bang::SCHEME_NAME, "BangAuth");
/// ```
///
/// ```compile_fail
/// tokenauth::keyword!(pub Spaced = "Api Key"); // error: the keyword contains whitespace
/// ```
pub use tokenauth_macros::keyword;

/// Implements [`AuthUser`](trait@AuthUser) for an application's user type from its fields:
/// `COLUMNS` are the columns its `#[derive(sqlx::FromRow)]` reads (field names, or their
/// `#[sqlx(rename = "...")]`; `#[sqlx(skip)]` fields left out), so the list is written once.
/// tokenauth's own [`User`] and `django::DjangoUser` are derived so.
///
/// | `#[auth_user(...)]` | default | meaning |
/// |---|---|---|
/// | `table = "accounts"` | required | the users table |
/// | `tokens_table = "account_tokens"` | `tokenauth_tokens` | the table of their tokens |
/// | `id_column = "id"` | `id` | the key that `tokens_table.user_id` refers to |
/// | `is_active = active` or `is_active = !disabled` | the field `is_active` | the `bool` field that says whether the user may authenticate |
/// | `cacheable` | not cacheable | [`AuthUser::CACHEABLE`]: authentications may be cached (only if the change feed watches `table` and `tokens_table`), in the cache's compact form ([`AuthUser::pack`]) written field by field: every field read from a column must be [`store::Pack`]; `#[sqlx(skip)]` fields come back as their `Default` |
///
/// Each argument is given once. Check the type against the database at start-up with
/// [`Store::check_user_type`](crate::Store::check_user_type).
///
/// ```
/// #[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
/// #[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled)]
/// struct Account {
///     id: i64,
///     #[sqlx(rename = "mail")]
///     email: String,
///     disabled: bool,
/// }
///
/// use tokenauth::AuthUser;
/// assert_eq!(Account::COLUMNS, ["id", "mail", "disabled"]);
/// assert_eq!(Account::TOKENS_TABLE, "account_tokens");
/// let account = Account { id: 1, email: "a@example.com".into(), disabled: true };
/// assert!(!account.is_active());
/// ```
///
/// A `cacheable` type's fields must each have a compact form ([`store::Pack`]):
///
/// ```compile_fail,E0277
/// #[derive(Clone, sqlx::Type)]
/// #[sqlx(transparent)]
/// struct Email(String);
///
/// #[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
/// #[auth_user(table = "tokenauth_users", cacheable)]
/// struct Member {
///     id: i64,
///     email: Email, // error: `Email` has no compact form for tokenauth's authentication cache
///     is_active: bool,
/// }
/// ```
///
/// Fix: implement [`store::Pack`] for the field's type, or leave out `cacheable`
/// (`#[sqlx(skip)]` fields, not read from the table, need no compact form):
///
/// ```
/// use tokenauth::store::{Pack, Packer, Unpacker};
///
/// #[derive(Clone, Debug, PartialEq, sqlx::Type)]
/// #[sqlx(transparent)]
/// struct Email(String);
///
/// impl Pack for Email {
///     fn pack(&self, out: &mut Packer) {
///         out.put(&self.0);
///     }
///     fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
///         from.take().map(Email)
///     }
/// }
///
/// #[derive(Clone, Debug, PartialEq, sqlx::FromRow, tokenauth::AuthUser)]
/// #[auth_user(table = "tokenauth_users", cacheable)]
/// struct Member {
///     id: i64,
///     email: Email,
///     is_active: bool,
///     #[sqlx(skip)]
///     visits: u32,
/// }
///
/// use tokenauth::AuthUser;
/// assert!(Member::CACHEABLE);
/// assert_eq!(Member::COLUMNS, ["id", "email", "is_active"]);
/// let member = Member { id: 1, email: Email("a@example.com".into()), is_active: true, visits: 3 };
/// let mut out = Packer::new();
/// member.pack(&mut out);
/// let unpacked = Member::unpack(&mut Unpacker::new(out.as_bytes())).unwrap();
/// assert_eq!(unpacked, Member { visits: 0, ..member });
/// ```
pub use tokenauth_macros::AuthUser;

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

/// The README's examples are compiled as doctests (they use `openapi` and
/// `secret-scanning`).
#[cfg(all(doctest, feature = "openapi", feature = "secret-scanning"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
