//! Why a request was not authenticated ([`Reason`], public as `tokenauth::rejection::Reason`)
//! and why a store operation failed ([`Error`]).

use std::fmt;

/// Why a request could not be authenticated. Each variant carries Django REST framework's exact
/// message, returned to the client as `{"detail": "<message>"}` with `401 Unauthorized`.
///
/// ```
/// use tokenauth::rejection::Reason;
///
/// assert_eq!(Reason::InvalidToken.detail(), "Invalid token.");
/// assert_eq!(Reason::InvalidToken.to_string(), "Invalid token.");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
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

impl Reason {
    /// Every reason, for the document's examples of a `401`.
    #[cfg(feature = "openapi")]
    pub(crate) const ALL: [Reason; 6] = [
        Reason::NotAuthenticated,
        Reason::InvalidToken,
        Reason::UserInactive,
        Reason::NoCredentialsInHeader,
        Reason::SpacesInToken,
        Reason::InvalidCharacters,
    ];

    /// DRF's message for this failure.
    ///
    /// ```
    /// assert_eq!(
    ///     tokenauth::rejection::Reason::NotAuthenticated.detail(),
    ///     "Authentication credentials were not provided."
    /// );
    /// ```
    pub const fn detail(self) -> &'static str {
        match self {
            Reason::NotAuthenticated => "Authentication credentials were not provided.",
            Reason::NoCredentialsInHeader => "Invalid token header. No credentials provided.",
            Reason::SpacesInToken => {
                "Invalid token header. Token string should not contain spaces."
            }
            Reason::InvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            Reason::InvalidToken => "Invalid token.",
            Reason::UserInactive => "User inactive or deleted.",
        }
    }
}

impl Reason {
    /// Whether the `Authorization` header itself is malformed: the keyword alone, a key with
    /// spaces, or one that is not UTF-8. RFC 6750 calls these `invalid_request` (`400`);
    /// the others are `invalid_token` or no credentials at all.
    ///
    /// ```
    /// use tokenauth::rejection::Reason;
    ///
    /// assert!(Reason::SpacesInToken.is_malformed_header());
    /// assert!(!Reason::InvalidToken.is_malformed_header());
    /// ```
    pub const fn is_malformed_header(self) -> bool {
        matches!(
            self,
            Reason::NoCredentialsInHeader | Reason::SpacesInToken | Reason::InvalidCharacters
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for Reason {}

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
///
/// // A value from elsewhere (an import) is quoted up to 100 characters, with its length.
/// let err = Error::InvalidUsername("u".repeat(5_000_000));
/// let shown = format!("invalid username `{}…` (5000000 characters): use 1 to 150", "u".repeat(100));
/// assert!(err.to_string().starts_with(&shown));
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
    /// The operation is not available on this store's backend.
    #[error("not supported here: {0}")]
    Unsupported(&'static str),
    /// Another user already has this username (once normalized: see
    /// [`Store::create_user`](crate::Store::create_user)).
    #[error("a user named {} already exists", Excerpt::quoted(.0))]
    UsernameTaken(String),
    /// The username is empty, over 150 characters (as given or once normalized) or contains
    /// characters other than letters, digits and `@.+-_`.
    #[error(
        "invalid username {}: use 1 to 150 letters, digits and `@`, `.`, `+`, `-`, `_` characters",
        Excerpt::quoted(.0)
    )]
    InvalidUsername(String),
    /// An import row contradicts the store or another row (see [`Import`](crate::import::Import)).
    #[error("import conflict: {0}; nothing was imported")]
    ImportConflict(String),
    /// No user matches.
    #[error("user {} does not exist", Excerpt::plain(.0))]
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
    /// A pepper given to [`Policy::pepper`](crate::Policy::pepper) is refused: the message
    /// says why (never showing the secret).
    #[error("invalid pepper: {0}")]
    InvalidPepper(String),
    /// A scope is empty, longer than [`MAX_SCOPE_LEN`](crate::rules::MAX_SCOPE_LEN) characters, or
    /// contains whitespace or control characters.
    #[error(
        "invalid scope {0:?}: a scope is 1 to {max} characters, without whitespace or control characters",
        max = crate::rules::MAX_SCOPE_LEN
    )]
    InvalidScope(String),
    /// A token would have more than [`MAX_SCOPES`](crate::rules::MAX_SCOPES) scopes.
    #[error("too many scopes: a token has at most {max}", max = crate::rules::MAX_SCOPES)]
    TooManyScopes,
    /// An implication ([`Policy::scope_implies`](crate::Policy::scope_implies)) names a scope
    /// that cannot be required — a wildcard or an invalid scope, which the message names — or
    /// would be one more than [`MAX_IMPLICATIONS`](crate::rules::MAX_IMPLICATIONS).
    #[error("invalid scope implication: {0}")]
    InvalidImplication(String),
    /// A token name is longer than [`MAX_TOKEN_NAME_LEN`](crate::rules::MAX_TOKEN_NAME_LEN) characters
    /// or contains control characters.
    #[error(
        "invalid token name: at most {max} characters, without control characters",
        max = crate::rules::MAX_TOKEN_NAME_LEN
    )]
    InvalidTokenName,
    /// An expiry or a duration is beyond what a timestamp can hold.
    #[error("the expiry is out of range: {0}")]
    InvalidExpiry(&'static str),
    /// An entry of a token's `allowed_ips` is not an IP address or a network in CIDR notation
    /// (`203.0.113.0/24`, `2001:db8::/32`).
    #[error(
        "invalid network {}: expected an IP address or a network in CIDR notation, e.g. `203.0.113.0/24`",
        Excerpt::quoted(.0)
    )]
    InvalidNetwork(String),
    /// A token would list more than [`MAX_ALLOWED_IPS`](crate::rules::MAX_ALLOWED_IPS) networks.
    #[error("too many networks: a token allows at most {max}", max = crate::rules::MAX_ALLOWED_IPS)]
    TooManyNetworks,
    /// A roll's grace period is negative or longer than
    /// [`Policy::max_roll_grace`](crate::Policy::max_roll_grace) allows.
    #[error("invalid grace period: {0}")]
    InvalidGrace(String),
    /// The key presented is no longer the token's current key: another roll replaced it first
    /// (a previous key, still accepted during its grace period, cannot roll the token).
    #[error("the key is not the token's current key")]
    NotCurrentKey,
    /// Every password hashing worker is busy and the queue is full or waited too long
    /// (see [`Policy::password_hashing`](crate::Policy::password_hashing)): try again shortly.
    #[error("too many password checks at once; try again shortly")]
    Overloaded,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// An [`AuthUser`](crate::AuthUser) type does not match the database: a table or column
    /// it names is missing, or its row does not decode. Found by
    /// [`Store::check_user_type`](crate::Store::check_user_type), at start-up.
    #[error("the user type `{user_type}` does not match the database: {problem}")]
    UserType {
        /// The Rust type.
        user_type: &'static str,
        /// What does not match, with the database's own words.
        problem: String,
    },
}

impl Error {
    /// Whether this error is a temporary outage rather than a failed query or a logical error:
    /// the database is unreachable, shutting down, starting up, locked past its busy timeout or
    /// out of resources (a pool timeout, a closed pool, an I/O or TLS failure, PostgreSQL's
    /// classes `08`, `53`, `57P0x`, a read-only failover, SQLite's `BUSY`/`LOCKED`), or the password hashing queue is
    /// full ([`Error::Overloaded`]). Requests answer `503 Service Unavailable` with
    /// `Retry-After` for these and `500` for other store errors.
    ///
    /// ```
    /// let err = tokenauth::Error::Database(sqlx::Error::PoolTimedOut);
    /// assert!(err.is_unavailable());
    /// assert!(tokenauth::Error::Overloaded.is_unavailable());
    /// assert!(!tokenauth::Error::TokenLimit.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Overloaded => true,
            Error::Database(err) => database_unavailable(err),
            _ => false,
        }
    }

    /// How many seconds a client should wait before retrying, for errors that
    /// [are temporary](Error::is_unavailable): sent as `Retry-After`.
    ///
    /// ```
    /// assert_eq!(tokenauth::Error::Overloaded.retry_after(), Some(1));
    /// assert_eq!(tokenauth::Error::TokenLimit.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Overloaded => Some(1),
            _ if self.is_unavailable() => Some(5),
            _ => None,
        }
    }
}

/// Whether a database error is an outage (see [`Error::is_unavailable`]).
fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            #[cfg(feature = "sqlite")]
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // The primary result code is the low byte of the extended one: SQLITE_BUSY (5),
                // SQLITE_LOCKED (6), SQLITE_NOMEM (7), SQLITE_IOERR (10), SQLITE_FULL (13),
                // SQLITE_CANTOPEN (14).
                let code = sqlx::error::DatabaseError::code(sqlite)
                    .and_then(|code| code.parse::<i32>().ok());
                return code.is_some_and(|code| matches!(code & 0xff, 5 | 6 | 7 | 10 | 13 | 14));
            }
            #[cfg(feature = "postgres")]
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // SQLSTATE: connection exceptions (08), insufficient resources (53),
                // admin/crash shutdown and "cannot connect now" (57P01-57P03), statements
                // cancelled by a timeout (57014), a read-only server during a failover
                // (25006), and transient lock failures (55P03, 40001, 40P01).
                let code = pg.code();
                return code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(
                        code,
                        "57P01"
                            | "57P02"
                            | "57P03"
                            | "57014"
                            | "25006"
                            | "55P03"
                            | "40001"
                            | "40P01"
                    );
            }
            false
        }
        _ => false,
    }
}

/// The most characters of a value that a message quotes: a username read from another
/// system can be megabytes long, and a message is one line.
pub(crate) const QUOTED_CHARS: usize = 100;

/// A value as a message quotes it: whole if it is at most [`QUOTED_CHARS`] characters, else
/// its first ones, an ellipsis and its length (`` `aaaa…` (5242880 characters) ``).
///
/// Messages stay one line on a terminal only once the caller escapes control characters, as
/// the `tokenauth` CLI does; this bounds their length.
pub(crate) struct Excerpt<'a> {
    text: &'a str,
    quoted: bool,
}

impl<'a> Excerpt<'a> {
    /// In backticks: `` `alice` ``.
    pub(crate) fn quoted(text: &'a str) -> Self {
        Excerpt { text, quoted: true }
    }

    /// As it is: `alice`.
    pub(crate) fn plain(text: &'a str) -> Self {
        Excerpt {
            text,
            quoted: false,
        }
    }
}

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = if self.quoted { "`" } else { "" };
        match self.text.char_indices().nth(QUOTED_CHARS) {
            None => write!(f, "{quote}{}{quote}", self.text),
            Some((end, _)) => write!(
                f,
                "{quote}{}…{quote} ({} characters)",
                &self.text[..end],
                self.text.chars().count()
            ),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_on_character_boundaries() {
        assert_eq!(Excerpt::quoted("alice").to_string(), "`alice`");
        assert_eq!(Excerpt::plain("alice").to_string(), "alice");
        let exact = "é".repeat(QUOTED_CHARS);
        assert_eq!(Excerpt::plain(&exact).to_string(), exact);
        let long = "é".repeat(QUOTED_CHARS + 1);
        assert_eq!(
            Excerpt::quoted(&long).to_string(),
            format!("`{exact}…` (101 characters)")
        );
        let huge = "用".repeat(1 << 20);
        let shown = Excerpt::plain(&huge).to_string();
        assert!(shown.ends_with("… (1048576 characters)"), "{shown}");
        assert_eq!(shown.chars().filter(|c| *c == '用').count(), QUOTED_CHARS);
    }
}
