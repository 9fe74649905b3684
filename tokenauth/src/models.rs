//! The rows tokenauth works with: [`User`], [`Token`], and [`NewToken`] for creating tokens.

use std::fmt;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use crate::error::Error;
use crate::rules::{MAX_ALLOWED_IPS, MAX_TOKEN_NAME_LEN};

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
    /// The networks the token may be used from; empty: anywhere. A request from any other
    /// client address is refused with DRF's `403`.
    pub allowed_ips: Vec<IpNet>,
    /// Whether the token may only read: `GET`, `HEAD` and `OPTIONS` of the application's
    /// operations (and logging itself out); any other request is refused with DRF's `403`.
    pub read_only: bool,
    /// When the key presented stops working, if it is the previous key of a token rolled with
    /// a grace period ([`Tokens::roll`](crate::store::Tokens::roll)); `None` for the current
    /// key. Never serialized: it describes the request, not the token.
    #[serde(skip)]
    pub(crate) previous_key_until: Option<DateTime<Utc>>,
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

    /// Whether the key presented is the previous key of a token rolled with a grace period:
    /// it keeps working until the grace ends (the instant returned), the token's new key
    /// after that. `None` for the token's current key, and for tokens read from the store.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let user = store.create_user("alice", None).await?;
    /// let (token, _key) = store.tokens().create(user.id, Default::default()).await?;
    /// assert_eq!(token.previous_key_until(), None);
    /// # Ok(()) }
    /// ```
    pub fn previous_key_until(&self) -> Option<DateTime<Utc>> {
        self.previous_key_until
    }

    /// Whether a request from `client` may use the token: its [`allowed_ips`](Token::allowed_ips)
    /// is empty or holds a network containing the address. An unknown address is allowed only
    /// when the list is empty. IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`) are taken as
    /// the IPv4 address they carry.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let user = store.create_user("alice", None).await?;
    /// use tokenauth::NewToken;
    ///
    /// let options = NewToken::named("ci").allow_ip("203.0.113.0/24")?;
    /// let (token, _key) = store.tokens().create(user.id, options).await?;
    /// assert!(token.allows_client(Some("203.0.113.7".parse().unwrap())));
    /// assert!(!token.allows_client(Some("198.51.100.1".parse().unwrap())));
    /// assert!(!token.allows_client(None));
    /// # Ok(()) }
    /// ```
    pub fn allows_client(&self, client: Option<IpAddr>) -> bool {
        if self.allowed_ips.is_empty() {
            return true;
        }
        let Some(client) = client.map(|ip| ip.to_canonical()) else {
            return false;
        };
        self.allowed_ips.iter().any(|net| net.contains(&client))
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
    pub(crate) allowed_ips: Vec<IpNet>,
    pub(crate) read_only: bool,
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

    /// Allow the token only from `network`: an IP address (`203.0.113.7`, `2001:db8::1`) or a
    /// network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`). Called several times, the
    /// token may be used from any of the networks; never called, from anywhere. Host bits are
    /// dropped (`10.1.2.3/8` is `10.0.0.0/8`), an IPv4-mapped IPv6 address is its IPv4 form.
    ///
    /// # Errors
    /// [`Error::InvalidNetwork`] if `network` is neither; [`Error::TooManyNetworks`] beyond
    /// [`MAX_ALLOWED_IPS`].
    ///
    /// ```
    /// use tokenauth::NewToken;
    ///
    /// let options = NewToken::named("deploy").allow_ip("10.1.2.3/8")?.allow_ip("2001:db8::1")?;
    /// assert_eq!(options.allowed_ips()[0].to_string(), "10.0.0.0/8");
    /// assert_eq!(options.allowed_ips()[1].to_string(), "2001:db8::1/128");
    /// assert!(NewToken::default().allow_ip("10.0.0.0/33").is_err());
    /// assert!(NewToken::default().allow_ip("example.com").is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn allow_ip(self, network: &str) -> Result<Self, Error> {
        let net =
            parse_network(network).ok_or_else(|| Error::InvalidNetwork(network.to_owned()))?;
        self.allow_network(net)
    }

    /// [`NewToken::allow_ip`] with a parsed network.
    ///
    /// # Errors
    /// [`Error::TooManyNetworks`] beyond [`MAX_ALLOWED_IPS`].
    ///
    /// ```
    /// let net: ipnet::IpNet = "192.0.2.0/24".parse().unwrap();
    /// let options = tokenauth::NewToken::default().allow_network(net)?;
    /// assert_eq!(options.allowed_ips(), [net]);
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn allow_network(mut self, network: IpNet) -> Result<Self, Error> {
        let network = canonical_network(network);
        // At most MAX_ALLOWED_IPS entries: the duplicate check is bounded.
        if !self.allowed_ips.contains(&network) {
            if self.allowed_ips.len() >= MAX_ALLOWED_IPS {
                return Err(Error::TooManyNetworks);
            }
            self.allowed_ips.push(network);
        }
        Ok(self)
    }

    /// The networks allowed so far (empty: anywhere).
    ///
    /// ```
    /// assert!(tokenauth::NewToken::default().allowed_ips().is_empty());
    /// ```
    pub fn allowed_ips(&self) -> &[IpNet] {
        &self.allowed_ips
    }

    /// Make the token read-only (or not): it may then only send `GET`, `HEAD` and `OPTIONS`
    /// requests to the application's operations, and log itself out.
    ///
    /// ```
    /// let options = tokenauth::NewToken::named("dashboard").read_only(true);
    /// assert!(options.is_read_only());
    /// ```
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Whether the token will be read-only.
    ///
    /// ```
    /// assert!(!tokenauth::NewToken::default().is_read_only());
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.read_only
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

/// `network` as an address or a network in CIDR notation, canonical (see
/// [`canonical_network`]); `None` if it is neither.
pub(crate) fn parse_network(network: &str) -> Option<IpNet> {
    let parsed = match network.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(network.parse::<IpAddr>().ok()?),
    };
    Some(canonical_network(parsed))
}

/// Without host bits, and an IPv4-mapped IPv6 network (`::ffff:0:0/96` and narrower) as the
/// IPv4 network it maps, so that it matches the canonical client addresses compared with it.
fn canonical_network(network: IpNet) -> IpNet {
    let network = network.trunc();
    if let IpNet::V6(v6) = network
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(net) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(net);
    }
    network
}

/// The stored, space-separated `allowed_ips` column. An entry that does not parse (written by
/// hand into the database) is kept as a network that contains no address, so that a token
/// with only unreadable entries is refused everywhere rather than allowed anywhere.
pub(crate) fn split_networks(stored: &str) -> Vec<IpNet> {
    stored
        .split_whitespace()
        .map(|entry| parse_network(entry).unwrap_or_else(unmatchable_network))
        .collect()
}

/// A network that contains no client address: the IPv6 discard prefix's first /128
/// (RFC 6666), which no client is ever seen from.
fn unmatchable_network() -> IpNet {
    IpNet::from(IpAddr::V6(std::net::Ipv6Addr::new(
        0x100, 0, 0, 0, 0, 0, 0, 0,
    )))
}

/// The stored form of `allowed_ips`: space-separated canonical networks.
pub(crate) fn join_networks(networks: &[IpNet]) -> String {
    let mut out = String::new();
    for net in networks {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&net.to_string());
    }
    out
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
