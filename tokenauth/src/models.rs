//! The rows tokenauth works with: [`User`], [`Token`], and [`NewToken`] for creating tokens.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Error;
use crate::rules::MAX_TOKEN_NAME_LEN;

/// An account in tokenauth's own `tokenauth_users` table (Django's `request.user`).
///
/// The password hash is never loaded into a `User`: it cannot leak through `Debug`, `Display`
/// or serialization.
///
/// ```
/// # async fn demo() -> Result<(), tokenauth::Error> {
/// let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let user = store.create_user("alice", Some("s3cret-passw0rd")).await?;
/// assert_eq!(user.username, "alice");
/// assert!(user.is_active);
/// assert_eq!(user.to_string(), "alice");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, tokenauth_macros::AuthUser)]
#[auth_user(table = "tokenauth_users", cacheable)]
#[non_exhaustive]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// Inactive users cannot authenticate (DRF: "User inactive or deleted.").
    pub is_active: bool,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.username)
    }
}

/// A stored token (Django REST framework's `request.auth`), without its secret.
///
/// The key is not part of a `Token`: only its digest is stored, and the plaintext [`Key`]
/// is handed out once, when the token is created.
///
/// ```
/// # async fn demo() -> Result<(), tokenauth::Error> {
/// use tokenauth::{NewToken, Store};
///
/// let store = Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let user = store.create_user("alice", None).await?;
/// let (token, key) = store
///     .tokens().create(user.id, NewToken::named("laptop").scope("orders:read")?)
///     .await?;
/// assert_eq!(token.user_id, user.id);
/// assert!(token.has_scope("orders:read"));
/// assert!(!token.to_string().contains(key.expose_secret()));
/// # Ok(()) }
/// ```
///
/// [`Key`]: crate::Key
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Token {
    /// Primary key: use it to name a token (e.g. to revoke it), never the key.
    pub id: i64,
    /// The owner's id.
    pub user_id: i64,
    /// A label chosen at creation, e.g. the device or script using the token. May be empty.
    pub name: String,
    /// When the token was created.
    pub created: DateTime<Utc>,
    /// After this instant the token is refused as `Invalid token.`; `None` never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the token last authenticated a request, if recorded.
    pub last_used_at: Option<DateTime<Utc>>,
    /// What the token may do; `*` grants everything, `orders:*` everything under `orders:`.
    pub scopes: Vec<String>,
}

impl Token {
    /// Whether the token has expired at `now`.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let user = store.create_user("alice", None).await?;
    /// use chrono::{Duration, Utc};
    /// use tokenauth::NewToken;
    ///
    /// let (token, _key) = store
    ///     .tokens().create(user.id, NewToken::default().expires_in(Duration::hours(1)))
    ///     .await?;
    /// assert!(!token.is_expired(Utc::now()));
    /// assert!(token.is_expired(Utc::now() + Duration::hours(2)));
    /// # Ok(()) }
    /// ```
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }

    /// Whether the token grants the required scope `scope`: it was granted `scope` itself, `*`,
    /// or a wildcard covering it (`orders:*` covers `orders:read` and `orders:items:write`, not
    /// `orders` nor `ordersx:read`), by the rule of [`rules::grants`](crate::rules::grants). A
    /// wildcard is never a requirement: `has_scope("orders:*")` is `false` for every token.
    ///
    /// The application's implications ([`Policy::scope_implies`](crate::Policy::scope_implies))
    /// need the policy: [`Policy::grants`](crate::Policy::grants) applies both, as the
    /// authentication of a scoped handler does.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let user = store.create_user("alice", None).await?;
    /// let (admin, _key) = store
    ///     .tokens().create(user.id, tokenauth::NewToken::default().scope("*")?)
    ///     .await?;
    /// assert!(admin.has_scope("anything:at-all"));
    /// let (orders, _key) = store
    ///     .tokens().create(user.id, tokenauth::NewToken::default().scope("orders:*")?)
    ///     .await?;
    /// assert!(orders.has_scope("orders:read"));
    /// assert!(!orders.has_scope("ordersx:read"));
    /// # Ok(()) }
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        tokenauth_rules::grants(&self.scopes, scope)
    }
}

impl fmt::Display for Token {
    /// `token #<id> of user #<user_id>`: never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token #{} of user #{}", self.id, self.user_id)
    }
}

/// The pattern of a token name, as the OpenAPI document states it: no control characters
/// (see [`tokenauth_rules::SCOPE_PATTERN`] for why it ends in `(?![\s\S])`).
#[cfg(any(feature = "openapi", test))]
pub(crate) const TOKEN_NAME_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*(?![\s\S])";

/// Options for a new token: a name, an expiry and scopes. `NewToken::default()` is an unnamed,
/// never-expiring token without scopes, like DRF's.
///
/// Every issuing path applies the store's [`Policy`](crate::Policy): an expiry is clamped to
/// [`Policy::max_ttl`](crate::Policy::max_ttl) and to [`MAX_LIFETIME`](crate::rules::MAX_LIFETIME).
///
/// ```
/// use chrono::Duration;
/// use tokenauth::NewToken;
///
/// let options = NewToken::named("ci")
///     .expires_in(Duration::days(30))
///     .scope("deploy")?
///     .scope("read")?;
/// assert_eq!(options.scopes(), ["deploy", "read"]);
/// assert!(NewToken::default().scope("two words").is_err());
/// # Ok::<(), tokenauth::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewToken {
    pub(crate) name: String,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) scopes: Vec<String>,
}

/// When a new token expires, as asked for; resolved against the clock when it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    At(DateTime<Utc>),
    In(chrono::Duration),
}

impl NewToken {
    /// A token labelled `name` (e.g. the device or script that will use it): at most
    /// [`MAX_TOKEN_NAME_LEN`] characters, without control characters (checked when the token
    /// is issued, [`Error::InvalidTokenName`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let user = store.create_user("alice", None).await?;
    /// let (token, _key) = store.tokens().create(user.id, tokenauth::NewToken::named("laptop")).await?;
    /// assert_eq!(token.name, "laptop");
    /// assert!(store.tokens().create(user.id, tokenauth::NewToken::named("a\nb")).await.is_err());
    /// # Ok(()) }
    /// ```
    pub fn named(name: impl Into<String>) -> Self {
        NewToken {
            name: name.into(),
            ..NewToken::default()
        }
    }

    /// Expire at a fixed instant.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    ///
    /// let new_year = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    /// let options = tokenauth::NewToken::default().expires_at(new_year);
    /// # let _ = options;
    /// ```
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expiry = Some(Expiry::At(at));
        self
    }

    /// Expire `ttl` after the token is issued. A `ttl` beyond what a timestamp can hold is
    /// [`Error::InvalidExpiry`] when the token is issued; a long one is clamped to the
    /// policy's maximum.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let user = store.create_user("alice", None).await?;
    /// use chrono::{Duration, Utc};
    ///
    /// let options = tokenauth::NewToken::default().expires_in(Duration::days(7));
    /// let (token, _key) = store.tokens().create(user.id, options).await?;
    /// assert!(token.expires_at.unwrap() > Utc::now() + Duration::days(6));
    /// # Ok(()) }
    /// ```
    pub fn expires_in(mut self, ttl: chrono::Duration) -> Self {
        self.expiry = Some(Expiry::In(ttl));
        self
    }

    /// Grant a scope (`*` grants all).
    ///
    /// # Errors
    /// [`Error::InvalidScope`] if `scope` is empty, longer than [`MAX_SCOPE_LEN`](crate::rules::MAX_SCOPE_LEN) characters
    /// or contains whitespace or control characters (scopes are stored space-separated, as
    /// OAuth 2.0's `scope` parameter); [`Error::TooManyScopes`] beyond [`MAX_SCOPES`](crate::rules::MAX_SCOPES).
    ///
    /// ```
    /// use tokenauth::NewToken;
    ///
    /// let options = NewToken::default().scope("orders:read")?.scope("orders:read")?;
    /// assert_eq!(options.scopes(), ["orders:read"]); // no duplicates
    /// assert!(NewToken::default().scope("").is_err());
    /// assert!(NewToken::default().scope("bell\u{7}").is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn scope(mut self, scope: impl Into<String>) -> Result<Self, Error> {
        let scope = scope.into();
        if !tokenauth_rules::is_valid_scope(&scope) {
            return Err(Error::InvalidScope(scope));
        }
        // At most MAX_SCOPES entries: the duplicate check is bounded.
        if !self.scopes.contains(&scope) {
            if self.scopes.len() >= tokenauth_rules::MAX_SCOPES {
                return Err(Error::TooManyScopes);
            }
            self.scopes.push(scope);
        }
        Ok(self)
    }

    /// The scopes granted so far.
    ///
    /// ```
    /// assert!(tokenauth::NewToken::default().scopes().is_empty());
    /// ```
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Checks what cannot be checked as the options are built: the name (at most
    /// [`MAX_TOKEN_NAME_LEN`] characters, no control characters). Issuing a token checks this
    /// too.
    ///
    /// # Errors
    /// [`Error::InvalidTokenName`].
    ///
    /// ```
    /// use tokenauth::NewToken;
    ///
    /// assert!(NewToken::named("laptop").validate().is_ok());
    /// assert!(NewToken::named("evil\u{1b}[2J").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.name.chars().count() > MAX_TOKEN_NAME_LEN || self.name.chars().any(char::is_control)
        {
            return Err(Error::InvalidTokenName);
        }
        Ok(())
    }
}

/// Splits the stored, space-separated scopes column.
pub(crate) fn split_scopes(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's name pattern refuses exactly the characters a token name may not hold.
    #[test]
    fn the_name_pattern_is_the_name_rule() {
        let class = TOKEN_NAME_PATTERN
            .strip_prefix(r"^[^\x")
            .and_then(|p| p.strip_suffix(r"]*(?![\s\S])"))
            .expect("a negated class");
        assert_eq!(class, r"00-\x1F\x7F-\x9F");
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let by_pattern = matches!(c as u32, 0x00..=0x1F | 0x7F..=0x9F);
            let by_rule = NewToken::named(c.to_string()).validate().is_err();
            assert_eq!(by_pattern, by_rule, "U+{:04X}", c as u32);
        }
    }

    /// `User`'s columns are its fields, and it is cached in the compact form, exactly.
    #[test]
    fn a_user_reads_its_columns_and_packs_exactly() {
        use crate::store::AuthUser as _;
        use crate::store::{Packer, Unpacker};

        assert_eq!(User::TABLE, "tokenauth_users");
        assert_eq!(
            User::COLUMNS,
            ["id", "username", "is_active", "date_joined"]
        );
        assert_eq!(User::TOKENS_TABLE, "tokenauth_tokens");
        const { assert!(User::CACHEABLE) };
        let user = User {
            id: -8_192,
            username: "ａlice".into(),
            is_active: false,
            date_joined: DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap(),
        };
        assert!(!user.is_active());
        let mut out = Packer::new();
        user.pack(&mut out);
        assert_eq!(out.as_bytes().len(), 2 + 1 + "ａlice".len() + 1 + 5 + 5);
        let mut from = Unpacker::new(out.as_bytes());
        assert_eq!(User::unpack(&mut from), Some(user));
        assert!(from.is_empty());
    }
}
