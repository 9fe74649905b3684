//! Error types: why a request was not authenticated ([`AuthError`]) and why a store
//! operation failed ([`Error`]).

use std::fmt;

/// Why a request could not be authenticated. Each variant carries Django REST framework's exact
/// message, returned to the client as `{"detail": "<message>"}` with `401 Unauthorized`.
///
/// ```
/// use tokenauth::AuthError;
///
/// assert_eq!(AuthError::InvalidToken.detail(), "Invalid token.");
/// assert_eq!(AuthError::InvalidToken.to_string(), "Invalid token.");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials for this scheme on an endpoint that requires authentication.
    NotAuthenticated,
    /// The header holds the keyword and nothing else.
    NoCredentialsInHeader,
    /// The header holds more than two whitespace-separated parts.
    SpacesInToken,
    /// The key is not valid UTF-8.
    InvalidCharacters,
    /// No token has this key, or the token has expired.
    InvalidToken,
    /// The token's user is not active.
    UserInactive,
}

impl AuthError {
    /// DRF's message for this failure.
    ///
    /// ```
    /// assert_eq!(
    ///     tokenauth::AuthError::NotAuthenticated.detail(),
    ///     "Authentication credentials were not provided."
    /// );
    /// ```
    pub const fn detail(self) -> &'static str {
        match self {
            AuthError::NotAuthenticated => "Authentication credentials were not provided.",
            AuthError::NoCredentialsInHeader => "Invalid token header. No credentials provided.",
            AuthError::SpacesInToken => {
                "Invalid token header. Token string should not contain spaces."
            }
            AuthError::InvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            AuthError::InvalidToken => "Invalid token.",
            AuthError::UserInactive => "User inactive or deleted.",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for AuthError {}

/// An error from a [`Store`](crate::Store) operation.
///
/// Messages never contain a key, a digest or a password.
///
/// ```
/// use tokenauth::Error;
///
/// let err = Error::UsernameTaken("alice".into());
/// assert_eq!(err.to_string(), "a user named `alice` already exists");
/// assert!(!err.is_unavailable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying tokenauth's migrations failed.
    #[error("could not apply tokenauth's migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database URL names a backend this build does not support.
    #[error(
        "unsupported database URL `{0}`: expected `sqlite:…` (feature `sqlite`) or `postgres://…` (feature `postgres`)"
    )]
    UnsupportedUrl(String),
    /// Another user already has this username.
    #[error("a user named `{0}` already exists")]
    UsernameTaken(String),
    /// The username is empty, too long or contains characters other than letters, digits and `@.+-_`.
    #[error(
        "invalid username `{0}`: use 1 to 150 letters, digits and `@`, `.`, `+`, `-`, `_` characters"
    )]
    InvalidUsername(String),
    /// No user matches.
    #[error("user {0} does not exist")]
    UserNotFound(String),
    /// No token has this id.
    #[error("token {0} does not exist")]
    TokenNotFound(i64),
    /// A token with this key already exists; nothing was written.
    #[error("a token with this key already exists")]
    DuplicateKey,
    /// The user already has the maximum number of live tokens ([`Policy::max_tokens_per_user`](crate::Policy::max_tokens_per_user)).
    #[error("Maximum amount of tokens allowed per user exceeded.")]
    TokenLimit,
    /// A key given for import is not acceptable.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A scope contains whitespace or is empty.
    #[error("invalid scope {0:?}: scopes are non-empty and contain no whitespace")]
    InvalidScope(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

impl Error {
    /// Whether this error means the database is unreachable or overloaded (a pool timeout, a
    /// closed pool, an I/O or TLS failure), as opposed to a failed query or a logical error.
    /// Authentication answers `503 Service Unavailable` for these and `500` for other
    /// database errors.
    ///
    /// ```
    /// let err = tokenauth::Error::Database(sqlx::Error::PoolTimedOut);
    /// assert!(err.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Database(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Database(err)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(err)
    }
}
