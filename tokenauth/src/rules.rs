//! The rules and bounds tokenauth enforces, in one place: what a keyword, a scheme name and a
//! scope may be, and what scopes grant (shared with the macros, which check them at compile
//! time), and the limits on keys, names, hashes and lifetimes.
//!
//! ```
//! use tokenauth::rules;
//!
//! assert!(rules::is_valid_scope("orders:read"));
//! assert!(rules::grants(&["orders:*"], "orders:read"));
//! assert_eq!(rules::scheme_name("bearer").as_deref(), Ok("BearerAuth"));
//! assert_eq!(rules::MAX_USERNAME_LEN, 150);
//! ```

use chrono::Duration;

pub use tokenauth_rules::{
    MAX_IMPLICATIONS, MAX_SCOPE_LEN, MAX_SCOPES, covers, grants, grants_with_implications,
    implication_problem, is_challenge_scope, is_challenge_text, is_valid_keyword,
    is_valid_required_scope, is_valid_scheme_name, is_valid_scope, is_wildcard, may_request,
    scheme_name, wildcards_covering,
};

/// Number of random bytes in a generated key (DRF's `secrets.token_hex(20)`: 160 bits).
///
/// ```
/// let key = tokenauth::Key::generate()?;
/// assert_eq!(key.expose_secret().len(), 2 * tokenauth::rules::KEY_BYTES);
/// # Ok::<(), tokenauth::Error>(())
/// ```
pub const KEY_BYTES: usize = 20;

/// Longest key accepted by [`Key::import`](crate::Key::import).
///
/// ```
/// use tokenauth::Key;
/// use tokenauth::rules::MAX_IMPORTED_KEY_LEN;
///
/// assert!(Key::import("k".repeat(MAX_IMPORTED_KEY_LEN)).is_ok());
/// assert!(Key::import("k".repeat(MAX_IMPORTED_KEY_LEN + 1)).is_err());
/// ```
pub const MAX_IMPORTED_KEY_LEN: usize = 256;

/// The longest token name, in characters.
///
/// ```
/// let long = "x".repeat(tokenauth::rules::MAX_TOKEN_NAME_LEN + 1);
/// assert!(tokenauth::NewToken::named(long).validate().is_err());
/// ```
pub const MAX_TOKEN_NAME_LEN: usize = 128;

/// The longest password hash an import takes as a hash: Django's `password` field holds 128
/// characters, so a longer value is no Django hash (see
/// [`ImportWarning::OversizedPassword`](crate::import::Warning::OversizedPassword)).
///
/// ```
/// assert_eq!(tokenauth::rules::MAX_PASSWORD_HASH_LEN, 128);
/// ```
pub const MAX_PASSWORD_HASH_LEN: usize = 128;

/// Longest accepted username (Django's `AbstractUser.username`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// # store.migrate().await?;
/// let too_long = "x".repeat(tokenauth::rules::MAX_USERNAME_LEN + 1);
/// assert!(store.create_user(&too_long, None).await.is_err());
/// # Ok(()) }
/// ```
pub const MAX_USERNAME_LEN: usize = 150;

/// The most networks a token's `allowed_ips` lists.
///
/// ```
/// assert_eq!(tokenauth::rules::MAX_ALLOWED_IPS, 64);
/// ```
pub const MAX_ALLOWED_IPS: usize = 64;

/// The longest lifetime of any token, whatever is asked for: 100 years. Longer expiries are
/// clamped to it, so every stored timestamp stays within years 1–9999, where both backends
/// compare them correctly.
///
/// ```
/// assert_eq!(tokenauth::rules::MAX_LIFETIME.num_days(), 36_525);
/// ```
pub const MAX_LIFETIME: Duration = Duration::days(36_525);
