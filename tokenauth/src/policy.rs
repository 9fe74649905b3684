//! Token policy, configured once on the [`Store`](crate::Store): default lifetime, sliding
//! refresh, a cap on live tokens per user, how often `last_used_at` is written, what revokes
//! a user's tokens, and which scopes imply others.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::rules::MAX_LIFETIME;

use crate::error::Error;
use crate::key::KeyFormat;
use crate::models::Expiry;
use crate::models::Token;
use crate::password::{Cost, Limits};

/// The default authentication cache: entries.
const DEFAULT_CACHE_ENTRIES: u64 = 100_000;
/// The default authentication cache: the age at which an entry is read again.
const DEFAULT_CACHE_AGE: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest maximum age (a day; a longer one is this).
const MAX_CACHE_AGE: std::time::Duration = std::time::Duration::from_secs(86_400);
/// The default budget of refusal checks, per second and instance.
const DEFAULT_REFUSAL_CHECKS: u32 = 1000;

/// How tokens live. `Policy::default()` is DRF's behaviour plus one safety: tokens never
/// expire, there is no cap, `last_used_at` is not recorded (no write on the request path),
/// and changing a password through the [`Store`](crate::Store) revokes the user's tokens.
/// Deactivating a user keeps them, refused with `User inactive or deleted.` until the user
/// is activated again (DRF's behaviour).
///
/// ```
/// use chrono::Duration;
/// use tokenauth::{Policy, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// let store = Store::connect("sqlite::memory:").await?.with_policy(
///     Policy::default()
///         .default_ttl(Duration::days(30))
///         .auto_refresh(Duration::minutes(15), Duration::days(90))
///         .max_tokens_per_user(10)
///         .last_used_interval(Some(Duration::minutes(1))),
/// );
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) auto_refresh: Option<AutoRefresh>,
    pub(crate) max_ttl: Option<Duration>,
    pub(crate) max_tokens_per_user: Option<usize>,
    pub(crate) last_used_interval: Option<Duration>,
    pub(crate) revoke_on_password_change: bool,
    pub(crate) revoke_on_deactivation: bool,
    /// `(scope, implied)`: a token with `scope` has `implied` too ([`Policy::scope_implies`]).
    pub(crate) scope_implications: Vec<(String, String)>,
    pub(crate) key_format: KeyFormat,
    /// Server-side secrets of key digests ([`Policy::pepper`]).
    pub(crate) peppers: crate::key::Peppers,
    pub(crate) password_limits: Limits,
    /// The authentication cache: most entries, and their longest age.
    pub(crate) auth_cache: Option<(u64, std::time::Duration)>,
    /// Refusals of the cache and the live-key filter checked with a query, per second.
    pub(crate) refusal_checks: u32,
    pub(crate) max_roll_grace: Duration,
    pub(crate) expire_unused: Option<Duration>,
    pub(crate) trusted_proxies: Vec<IpAddr>,
}

/// Sliding refresh (knox's `AUTO_REFRESH`): see [`Policy::auto_refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AutoRefresh {
    pub(crate) min_interval: Duration,
    pub(crate) max_lifetime: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_ttl: None,
            auto_refresh: None,
            max_ttl: None,
            max_tokens_per_user: None,
            last_used_interval: None,
            revoke_on_password_change: true,
            revoke_on_deactivation: false,
            scope_implications: Vec::new(),
            key_format: KeyFormat::hex(),
            peppers: crate::key::Peppers::default(),
            password_limits: Limits::default(),
            auth_cache: Some((DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_AGE)),
            refusal_checks: DEFAULT_REFUSAL_CHECKS,
            max_roll_grace: Duration::zero(),
            expire_unused: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Policy {
    /// Tokens created without an explicit expiry expire `ttl` after creation (knox's
    /// `TOKEN_TTL`). An expired token answers like an unknown one: `Invalid token.`
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().default_ttl(chrono::Duration::hours(10));
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// Sliding expiry (knox's `AUTO_REFRESH`): each authenticated use moves a token's expiry
    /// to `now + default_ttl`, written at most once per `min_interval` (knox's
    /// `MIN_REFRESH_INTERVAL`) and never past `created + max_lifetime` (knox's
    /// `AUTO_REFRESH_MAX_TTL`). Only tokens that expire are refreshed, by the default TTL.
    ///
    /// ```
    /// use chrono::Duration;
    /// let policy = tokenauth::Policy::default()
    ///     .default_ttl(Duration::hours(1))
    ///     .auto_refresh(Duration::minutes(5), Duration::days(30));
    /// ```
    pub fn auto_refresh(mut self, min_interval: Duration, max_lifetime: Duration) -> Self {
        self.auto_refresh = Some(AutoRefresh {
            min_interval,
            max_lifetime,
        });
        self
    }

    /// The longest lifetime a token may get, by any issuing path: the login view's
    /// `expires_in`, [`NewToken`](crate::NewToken)'s expiry, the default TTL, sliding refresh and
    /// the CLI (`--max-ttl`). Longer expiries are clamped to it, and tokens asked for without
    /// an expiry get this one. Authentication enforces it too: a token older than `ttl` is
    /// refused (`Invalid token.`), whoever created it and whenever. Without it, the ceiling is
    /// [`MAX_LIFETIME`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// use chrono::{Duration, Utc};
    /// use tokenauth::{NewToken, Policy, Store};
    ///
    /// let store = Store::connect("sqlite::memory:")
    ///     .await?
    ///     .with_policy(Policy::default().max_ttl(Duration::hours(1)));
    /// store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let ten_years = NewToken::default().expires_in(Duration::days(3650));
    /// let (token, _key) = store.tokens().create(alice.id, ten_years).await?;
    /// assert!(token.expires_at.unwrap() <= Utc::now() + Duration::hours(1));
    /// # Ok(()) }
    /// ```
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = Some(ttl);
        self
    }

    /// At most `limit` unexpired tokens per user (knox's `TOKEN_LIMIT_PER_USER`): creating
    /// one more is [`Error::TokenLimit`](crate::Error::TokenLimit) (`403` from the login view).
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().max_tokens_per_user(5);
    /// ```
    pub fn max_tokens_per_user(mut self, limit: usize) -> Self {
        self.max_tokens_per_user = Some(limit);
        self
    }

    /// The longest grace period a roll may give the key it replaces
    /// ([`Tokens::roll`](crate::store::Tokens::roll), `POST /auth/token/roll`, `tokenauth
    /// roll --grace`): default zero — a rolled key is refused at once, everywhere. A longer
    /// grace asked for is refused (`400` from the roll view), never shortened silently. At most
    /// [`MAX_LIFETIME`](crate::rules::MAX_LIFETIME); a negative one is zero.
    ///
    /// ```
    /// // Deployments get an hour to switch to the new key.
    /// let policy = tokenauth::Policy::default().max_roll_grace(chrono::Duration::hours(1));
    /// ```
    pub fn max_roll_grace(mut self, grace: Duration) -> Self {
        self.max_roll_grace = grace.clamp(Duration::zero(), MAX_LIFETIME);
        self
    }

    /// Refuse a token not used for `unused` (`Invalid token.`), as GitHub does with personal
    /// access tokens unused for a year: on every instance and from the authentication cache
    /// alike. A token without a recorded use counts from its creation — so turning this on
    /// for existing tokens whose uses were never recorded (the default: no
    /// [`Policy::last_used_interval`]; or keys imported from Django) refuses those older than
    /// `unused` at once, however often they are used: record uses for that long first
    /// (`last_used_interval`), or prune with `tokenauth list-tokens --unused-for` in view. While this is on, every token's
    /// `last_used_at` is recorded, at least once per hundredth of `unused` (whatever
    /// [`Policy::last_used_interval`] says), so a token is refused at most 1% early;
    /// [`Tokens::prune_expired`](crate::store::Tokens::prune_expired) (`tokenauth
    /// prune-expired --unused-for`) deletes them and
    /// [`Tokens::unused_since`](crate::store::Tokens::unused_since) (`tokenauth list-tokens
    /// --unused-for`) lists them. `unused` is at least one second and at most
    /// [`MAX_LIFETIME`](crate::rules::MAX_LIFETIME).
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().expire_unused(chrono::Duration::days(90));
    /// ```
    pub fn expire_unused(mut self, unused: Duration) -> Self {
        self.expire_unused = Some(unused.clamp(Duration::seconds(1), MAX_LIFETIME));
        self
    }

    /// Reverse proxies whose `X-Forwarded-For` is believed when finding a request's client
    /// address — for the login throttle and for tokens' `allowed_ips` alike. From any other
    /// peer the header is ignored, so clients cannot pick the address they are seen from.
    /// None by default: the peer's address is the client's.
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().trusted_proxies(["10.0.0.1".parse().unwrap()]);
    /// ```
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// The client address of `req` as tokenauth sees it — for the login throttle and tokens'
    /// `allowed_ips`: the peer's, or, when the peer is one of
    /// [`Policy::trusted_proxies`], the right-most address of `X-Forwarded-For` that is not a
    /// trusted proxy (a malformed entry falls back to the peer). `None` when the peer is not an
    /// IP socket. With [`Token::allows_client`](crate::Token::allows_client), what code that
    /// authenticates with [`Store::authenticate`](crate::Store::authenticate) checks itself.
    ///
    /// ```
    /// let policy = tokenauth::Policy::default();
    /// let req = poem::Request::builder().finish();
    /// assert_eq!(policy.client_address(&req), None); // no peer
    /// ```
    pub fn client_address(&self, req: &poem::Request) -> Option<IpAddr> {
        crate::client::client_address(req, &self.trusted_proxies)
    }

    /// Record `last_used_at` at most once per `interval` per token (`None`, the default:
    /// never, unless [`Policy::expire_unused`] is on). Writing on every request made Laravel Sanctum deadlock and broke read replicas.
    ///
    /// Neither this nor a sliding refresh ([`Policy::auto_refresh`]) writes on the request:
    /// uses are coalesced per token in memory and written within a second, in one
    /// transaction, by a background task (and by [`Store::flush_usage`](crate::Store::flush_usage)
    /// and [`Store::close`](crate::Store::close)). A stored last use is overwritten only once
    /// it is `interval` old, so however many instances share the database, a token is written
    /// at most once per interval; a refresh is written only if the token's expiry has not
    /// changed since it was read.
    ///
    /// ```
    /// let never = tokenauth::Policy::default().last_used_interval(None);
    /// ```
    pub fn last_used_interval(mut self, interval: Option<Duration>) -> Self {
        self.last_used_interval = interval;
        self
    }

    /// Whether setting or removing a password revokes the user's tokens (default: yes).
    ///
    /// ```
    /// let keep = tokenauth::Policy::default().revoke_on_password_change(false);
    /// ```
    pub fn revoke_on_password_change(mut self, revoke: bool) -> Self {
        self.revoke_on_password_change = revoke;
        self
    }

    /// Whether deactivating a user deletes their tokens (default: no). By default, as in
    /// Django REST framework, the tokens are kept, refused with `User inactive or deleted.`,
    /// and work again when the user is activated.
    ///
    /// ```
    /// let delete = tokenauth::Policy::default().revoke_on_deactivation(true);
    /// ```
    pub fn revoke_on_deactivation(mut self, revoke: bool) -> Self {
        self.revoke_on_deactivation = revoke;
        self
    }

    /// Declares that a token granted `scope` also has `implied` wherever a scope is required
    /// (a scoped handler, [`Policy::grants`]): `scope_implies("orders:write", "orders:read")`
    /// lets an `orders:write` token read orders, not the reverse. Implications are followed
    /// transitively and compose with wildcards (an `orders:*` token has `orders:write`, and so
    /// what it implies); a cycle is harmless. They do not widen what a login may request
    /// ([`AuthApi::grantable_scopes`](crate::AuthApi::grantable_scopes)), nor change a token's
    /// stored scopes.
    ///
    /// # Errors
    /// [`Error::InvalidImplication`], naming the scope, when either scope is not a valid
    /// scope or is a wildcard (`*`, `orders:*`: they already grant what they cover), or
    /// beyond [`MAX_IMPLICATIONS`](crate::rules::MAX_IMPLICATIONS) implications (each is
    /// followed at most once per check, so a check's work is bounded by them). Declaring one
    /// twice, or a scope implying itself, changes nothing.
    ///
    /// ```
    /// use tokenauth::Policy;
    ///
    /// let policy = Policy::default()
    ///     .scope_implies("orders:write", "orders:read")?
    ///     .scope_implies("admin", "orders:write")?;
    /// assert!(Policy::default().scope_implies("orders:*", "reports:read").is_err());
    /// assert!(Policy::default().scope_implies("orders:write", "two words").is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn scope_implies(
        mut self,
        scope: impl Into<String>,
        implied: impl Into<String>,
    ) -> Result<Self, Error> {
        let pair = (scope.into(), implied.into());
        if let Some(problem) = tokenauth_rules::implication_problem(&pair.0, &pair.1) {
            return Err(Error::InvalidImplication(problem));
        }
        if pair.0 == pair.1 || self.scope_implications.contains(&pair) {
            return Ok(self);
        }
        if self.scope_implications.len() >= tokenauth_rules::MAX_IMPLICATIONS {
            return Err(Error::InvalidImplication(format!(
                "at most {} implications; `{}` → `{}` would be one more",
                tokenauth_rules::MAX_IMPLICATIONS,
                pair.0,
                pair.1
            )));
        }
        self.scope_implications.push(pair);
        Ok(self)
    }

    /// Whether `token` has the required scope `scope` under this policy: granted itself, by
    /// `*` or a wildcard covering it (`orders:*`), or through the policy's implications
    /// ([`Policy::scope_implies`]) — the check of every scoped handler and operation, by the
    /// rule of [`rules::grants_with_implications`](crate::rules::grants_with_implications). A
    /// wildcard is never a requirement (`false`). [`Token::has_scope`] is the same check
    /// without implications.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// use tokenauth::{NewToken, Policy, Store};
    ///
    /// let policy = Policy::default().scope_implies("orders:write", "orders:read")?;
    /// let store = Store::connect("sqlite::memory:").await?.with_policy(policy);
    /// store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let writer = NewToken::default().scope("orders:write")?;
    /// let (token, _key) = store.tokens().create(alice.id, writer).await?;
    /// assert!(store.policy().grants(&token, "orders:read"));
    /// assert!(!token.has_scope("orders:read"), "implications need the policy");
    /// assert!(!store.policy().grants(&token, "orders:delete"));
    /// # Ok(()) }
    /// ```
    pub fn grants(&self, token: &Token, scope: &str) -> bool {
        tokenauth_rules::grants_with_implications(&token.scopes, scope, &self.scope_implications)
    }

    /// The format of new keys (default: DRF's 40 hex characters). With
    /// [`KeyFormat::prefixed`], a presented key that claims the prefix but fails its checksum
    /// is refused (`Invalid token.`) without a database query; keys of the other format keep
    /// working.
    ///
    /// ```
    /// use tokenauth::Policy;
    /// use tokenauth::key::KeyFormat;
    /// let policy = Policy::default().key_format(KeyFormat::prefixed("tka")?);
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn key_format(mut self, format: KeyFormat) -> Self {
        self.key_format = format;
        self
    }

    /// Stores new keys' digests as HMAC-SHA-256 under a server-side secret, the pepper, rather
    /// than as plain SHA-256 — NetBox 4.5's defence, for keys that need no per-key salt:
    ///
    /// - a dump of the database alone (a backup, a read-only SQL injection, a replica) cannot
    ///   confirm a guessed key offline, nor match a list of leaked keys;
    /// - someone who may write the tokens table but not read the pepper cannot plant the
    ///   digest of a key of their own.
    ///
    /// The pepper with the highest `id` is current, unless [`Policy::current_pepper`] names
    /// another: new keys (created, imported, rolled, issued by a login or the CLI) are stored
    /// under it, with its id in the row (`key_pepper`). Every pepper given keeps verifying the
    /// keys stored under it, and keys stored before any pepper (plain SHA-256) keep working, so
    /// a pepper is rotated without logging anyone out — with several instances, in two
    /// deployments, so that no instance meets a key under a pepper it does not have yet:
    ///
    /// 1. give every instance (and the CLI) the new pepper, with a higher id, keeping the old
    ///    one current (`current_pepper(old)`);
    /// 2. once all have it, make it current (drop `current_pepper`).
    ///
    /// Drop the old pepper once `tokenauth check` counts no key under it (a key under a dropped
    /// pepper is refused as unknown).
    ///
    /// The secret is at least 32 random bytes, kept out of the database (an environment
    /// variable, a secret store): `openssl rand -hex 32`. Every instance, and the CLI, must be
    /// given the same peppers (the quickstart and the CLI read `TOKENAUTH_PEPPER`). At most
    /// [`MAX_PEPPERS`](crate::key::MAX_PEPPERS); ids 0 to 32767. A pepper is never logged nor
    /// shown by `Debug`.
    ///
    /// It changes nothing beside Django ([`tokenauth::django`](crate::django)): Django keeps
    /// the keys themselves in `authtoken_token`, and PostgreSQL computes their plain digests;
    /// those are looked up as they are.
    ///
    /// # Errors
    /// [`Error::InvalidPepper`] for a secret shorter than 32 bytes, an id over 32767 or given
    /// twice, or a ninth pepper.
    ///
    /// ```
    /// use tokenauth::Policy;
    ///
    /// let old = [7u8; 32]; // in production: random bytes from a secret store
    /// let new = [9u8; 32];
    /// let policy = Policy::default().pepper(1, old)?.pepper(2, new)?; // 2 is current
    /// assert!(Policy::default().pepper(1, b"too short").is_err());
    /// assert!(!format!("{policy:?}").contains("9, 9"));
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn pepper(mut self, id: u16, secret: impl AsRef<[u8]>) -> Result<Self, Error> {
        self.peppers = self.peppers.with(id, secret.as_ref())?;
        Ok(self)
    }

    /// Makes the pepper `id`, given before with [`Policy::pepper`], current: new keys are
    /// stored under it instead of the highest id's. The first step of a rotation across
    /// several instances (see [`Policy::pepper`]).
    ///
    /// # Errors
    /// [`Error::InvalidPepper`] if no pepper `id` was given.
    ///
    /// ```
    /// use tokenauth::Policy;
    ///
    /// let policy = Policy::default().pepper(1, [1; 32])?.pepper(2, [2; 32])?.current_pepper(1)?;
    /// assert_eq!(policy.pepper_ids().collect::<Vec<_>>(), [1, 2]);
    /// assert!(Policy::default().current_pepper(1).is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn current_pepper(mut self, id: u16) -> Result<Self, Error> {
        self.peppers = self.peppers.with_current(id)?;
        Ok(self)
    }

    /// The ids of the peppers given ([`Policy::pepper`]), the current first.
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().pepper(1, [1; 32])?.pepper(3, [3; 32])?;
    /// assert_eq!(policy.pepper_ids().collect::<Vec<_>>(), [3, 1]);
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn pepper_ids(&self) -> impl Iterator<Item = i16> + '_ {
        self.peppers.ids()
    }

    /// Adds the peppers written in `spec` ([`Policy::pepper`]), as an environment variable
    /// holds them (the quickstart's and the CLI's `TOKENAUTH_PEPPER`): `<hex>` (id 1), or
    /// `<id>:<hex>` separated by commas, e.g. `2:<hex>,1:<hex>` while rotating from 1 to 2,
    /// and optionally `current=<id>` ([`Policy::current_pepper`]), e.g.
    /// `2:<hex>,1:<hex>,current=1` for the first step of a rotation across instances. Each
    /// secret is hexadecimal, at least 64 digits (32 bytes).
    ///
    /// # Errors
    /// [`Error::InvalidPepper`], saying what is wrong without showing a secret.
    ///
    /// ```
    /// let spec = format!("2:{},1:{}", "ab".repeat(32), "cd".repeat(32));
    /// let policy = tokenauth::Policy::default().peppers(&spec)?;
    /// assert!(tokenauth::Policy::default().peppers("not hex").is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn peppers(mut self, spec: &str) -> Result<Self, Error> {
        let mut entries: Vec<&str> = spec.split(',').map(str::trim).collect();
        let mut current = None;
        if let Some(at) = entries.iter().position(|e| e.starts_with("current=")) {
            let id = entries.remove(at)["current=".len()..].trim();
            current = Some(id.parse::<u16>().map_err(|_| {
                Error::InvalidPepper("`current=<id>` names a pepper's id, 0 to 32767".into())
            })?);
        }
        let alone = entries.len() == 1;
        for entry in entries {
            let (id, hex) = match entry.split_once(':') {
                Some((id, hex)) => (
                    id.trim().parse::<u16>().map_err(|_| {
                        Error::InvalidPepper("a pepper's id is a number from 0 to 32767".into())
                    })?,
                    hex.trim(),
                ),
                None if alone => (1, entry),
                None => {
                    return Err(Error::InvalidPepper(
                        "several peppers are written `<id>:<hex>`, separated by commas".into(),
                    ));
                }
            };
            let secret = crate::key::decode_hex(hex).ok_or_else(|| {
                Error::InvalidPepper(format!(
                    "the secret of pepper {id} is not hexadecimal (an even number of digits)"
                ))
            })?;
            self = self.pepper(id, zeroize::Zeroizing::new(secret).as_slice())?;
        }
        match current {
            Some(id) => self.current_pepper(id),
            None => Ok(self),
        }
    }

    /// Bounds on password hashing, the costliest work a request can cause (each Argon2
    /// computation holds 19 MiB): at most `workers` computations at once (by default one per
    /// CPU), each on a worker thread that reuses its memory; at most `queue` more logins wait
    /// for a worker, each at most `max_wait` (by default 64 and 3 s). Beyond that a login
    /// fails with [`Error::Overloaded`](crate::Error::Overloaded): `503` with `Retry-After`.
    /// Peak memory for hashing is about `workers × 19 MiB` (a stored hash with stronger
    /// parameters, e.g. imported, borrows up to 256 MiB for its verification). The bound holds
    /// per store and its clones: each `with_policy` starts workers of its own. New passwords
    /// ([`Store::set_password`](crate::Store::set_password), `create_user`) share the queue
    /// with logins; an administrative tool may use a store of its own.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = tokenauth::Policy::default().password_hashing(4, 100, Duration::from_secs(2));
    /// ```
    pub fn password_hashing(
        mut self,
        workers: usize,
        queue: usize,
        max_wait: std::time::Duration,
    ) -> Self {
        self.password_limits = Limits {
            workers: Some(workers.max(1)),
            queue,
            max_wait,
            cost: self.password_limits.cost,
        };
        self
    }

    /// Caches authentications in memory: at most `max_entries` keys, each for at most
    /// `max_age`, so that a repeated key costs no query. On by default, with 100,000 entries
    /// for 60 seconds. Expiry, activity and scopes are still checked on every request, from
    /// the cached rows exactly as from fresh ones. A cached key of tokenauth's own user types
    /// takes about 200 bytes (its rows packed into one buffer, and the cache's slot): 20 MB
    /// for 100,000 keys. Unknown keys are recognised without a query by a filter of the live
    /// keys' digests (30 bits per token when built: 3.75 MB for a million tokens, as it is
    /// sized for twice the tokens it holds).
    ///
    /// **The cache never answers differently from the database, but for a bounded delay on
    /// revocations:**
    /// - A key that exists when a request arrives is never refused because this instance has
    ///   not heard of it yet (nor a user activated since, nor a token extended since): every
    ///   refusal the cache or the filter would give is checked with a query first, within
    ///   [`refusal_checks`](Policy::refusal_checks) a second (a flood of made-up keys beyond
    ///   that is refused without a query, counted in
    ///   [`CacheStats::unconfirmed_refusals`](crate::store::CacheStats) and reported in the log).
    /// - A revocation, deactivation or password change made anywhere — through this store
    ///   (at once, before the call returns), another instance, the CLI, plain SQL, Django —
    ///   is refused by every instance at most 2 seconds after it commits, whatever fails: the
    ///   cache serves only while its change feed proves, by heartbeats through the very
    ///   triggers that report changes, that it has seen every change. Normally it takes
    ///   milliseconds (changes through tokenauth are hinted to the other instances at once;
    ///   others are read within 100 ms on PostgreSQL, 50 ms on SQLite).
    ///
    /// Only user types whose tables tokenauth watches are cached: its own
    /// [`User`](crate::User) and `django::DjangoUser` (see
    /// [`AuthUser::CACHEABLE`](crate::AuthUser::CACHEABLE)). Entries are kept by key: two
    /// cacheable user types read through the same tokens table replace each other's entry
    /// for a key that both authenticate (each then queries in turn; neither is served the
    /// other's rows). Only tables whose triggers exist are cached (a database not yet
    /// migrated is read on every request). `max_age` (at most a day) is a backstop, counted
    /// from the read: it is the only bound on changes made by a session that turns triggers
    /// off for itself (`session_replication_role = replica`, as PostgreSQL's logical
    /// replication applies changes), which no other connection can see. The feed runs on the Tokio runtime: a runtime that only runs inside `block_on`
    /// proves (and so caches) only while it runs.
    ///
    /// ```
    /// let policy = tokenauth::Policy::default()
    ///     .auth_cache(10_000, std::time::Duration::from_secs(30));
    /// ```
    pub fn auth_cache(mut self, max_entries: u64, max_age: std::time::Duration) -> Self {
        self.auth_cache = Some((max_entries, max_age.min(MAX_CACHE_AGE)));
        self
    }

    /// No authentication cache and no live-key filter: every authentication queries the
    /// database.
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().no_auth_cache();
    /// ```
    pub fn no_auth_cache(mut self) -> Self {
        self.auth_cache = None;
        self
    }

    /// How many refusals per second (and instance) the authentication cache checks with the
    /// database before answering them — a key the live-key filter does not hold, a cached
    /// inactive user, a cached expiry — so that a key made on another instance a moment ago
    /// is never refused (see [`auth_cache`](Policy::auth_cache)). 1,000 by default, with a
    /// burst of as many. Beyond it — a flood of made-up keys — refusals are served without a
    /// query: counted in [`CacheStats::unconfirmed_refusals`](crate::store::CacheStats) and reported
    /// in the log at most every 10 seconds. A made-up key repeated costs one check, not one
    /// per request (the database's answer is remembered until a key is added). `0` checks
    /// none (the filter and the cache refuse on their own knowledge, which lags changes made
    /// elsewhere by milliseconds).
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().refusal_checks(200);
    /// ```
    pub fn refusal_checks(mut self, per_second: u32) -> Self {
        self.refusal_checks = per_second;
        self
    }

    /// The Argon2id cost of new password hashes: memory in KiB, passes, lanes. By default
    /// OWASP's recommendation, 19 MiB, 2 passes and 1 lane (19456, 2, 1).
    ///
    /// A stored hash that is weaker — less memory or fewer passes, not Argon2id version 0x13,
    /// or one of Django's formats — is replaced by one at this cost on the user's next
    /// successful login, as Django does for hashes its `must_update` flags. A worker borrows
    /// `memory_kib` per computation, so peak memory for hashing is about
    /// `workers × memory_kib`.
    ///
    /// # Errors
    /// [`Error::PasswordHash`](crate::Error::PasswordHash) for parameters Argon2 refuses (less
    /// than 8 KiB per lane, no passes, no lanes) or over tokenauth's limits (256 MiB, 1 GiB
    /// × passes, 16 lanes).
    ///
    /// ```
    /// let policy = tokenauth::Policy::default().argon2(64 * 1024, 3, 1)?;
    /// assert!(tokenauth::Policy::default().argon2(1 << 30, 1, 1).is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn argon2(
        mut self,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, Error> {
        self.password_limits.cost = Cost::new(memory_kib, iterations, parallelism)?;
        Ok(self)
    }

    /// The expiry of a token issued at `now`, asked for as `requested`: the default TTL when
    /// none was asked for, clamped to the maximum lifetime.
    pub(crate) fn expiry_for(
        &self,
        requested: Option<Expiry>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let asked = match requested {
            Some(Expiry::At(at)) => Some(at),
            Some(Expiry::In(ttl)) => Some(
                now.checked_add_signed(ttl)
                    .ok_or(Error::InvalidExpiry("the lifetime is too long"))?,
            ),
            None => self.default_ttl.map(|ttl| add_capped(now, ttl)),
        };
        let floor = now - MAX_LIFETIME;
        let ceiling = add_capped(now, self.max_ttl.unwrap_or(MAX_LIFETIME)).max(floor);
        Ok(match asked {
            Some(at) => Some(at.clamp(floor, ceiling)),
            None if self.max_ttl.is_some() => Some(ceiling),
            None => None,
        })
    }

    /// When `token` expires under this policy: its own expiry, or earlier when the policy's
    /// maximum lifetime ends first.
    pub(crate) fn effective_expiry(&self, token: &Token) -> Option<DateTime<Utc>> {
        let capped = self.max_ttl.map(|ttl| add_capped(token.created, ttl));
        match (token.expires_at, capped) {
            (Some(own), Some(capped)) => Some(own.min(capped)),
            (own, capped) => own.or(capped),
        }
    }

    /// What to write back after `token` authenticated at `now`: `(last_used_at, expires_at)`,
    /// each `None` when unchanged. Nothing at all on most requests.
    /// How often a token's last use is written: [`Policy::last_used_interval`], and with
    /// [`Policy::expire_unused`] at least once per hundredth of it.
    pub(crate) fn recorded_interval(&self) -> Option<Duration> {
        let unused = self.expire_unused.map(|unused| unused / 100);
        match (self.last_used_interval, unused) {
            (Some(interval), Some(unused)) => Some(interval.min(unused)),
            (interval, unused) => interval.or(unused),
        }
    }

    /// Whether `token` has not been used for [`Policy::expire_unused`] at `now`.
    pub(crate) fn unused_too_long(&self, token: &Token, now: DateTime<Utc>) -> bool {
        self.expire_unused.is_some_and(|unused| {
            let since = token.last_used_at.unwrap_or(token.created);
            since
                .checked_add_signed(unused)
                .is_some_and(|end| end <= now)
        })
    }

    pub(crate) fn on_use(
        &self,
        token: &Token,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let last_used = self.recorded_interval().and_then(|interval| {
            let due = token.last_used_at.is_none_or(|at| now - at >= interval);
            due.then_some(now)
        });
        let refreshed = match (self.auto_refresh, self.default_ttl, token.expires_at) {
            (Some(refresh), Some(ttl), Some(current)) => {
                let lifetime = refresh
                    .max_lifetime
                    .min(self.max_ttl.unwrap_or(MAX_LIFETIME));
                let target = add_capped(now, ttl).min(add_capped(token.created, lifetime));
                (target - current >= refresh.min_interval && target > current).then_some(target)
            }
            _ => None,
        };
        (last_used, refreshed)
    }
}

/// `at + duration`, with `duration` capped at [`MAX_LIFETIME`] (never overflows for times
/// tokenauth stores).
fn add_capped(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    at.checked_add_signed(duration.min(MAX_LIFETIME))
        .unwrap_or(at)
}

/// `at` within the years both backends compare correctly (1–9999), e.g. a cutoff given by a
/// caller.
pub(crate) fn storable(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    let min = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single();
    let max = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).single();
    match (min, max) {
        (Some(min), Some(max)) => at.clamp(min, max),
        _ => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(
        created: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
    ) -> Token {
        Token {
            id: 1,
            user_id: 1,
            name: String::new(),
            created,
            expires_at,
            last_used_at,
            scopes: Vec::new(),
            allowed_ips: Vec::new(),
            read_only: false,
            previous_key_until: None,
        }
    }

    #[test]
    fn last_used_is_written_once_per_interval() {
        let policy = Policy::default().last_used_interval(Some(Duration::minutes(5)));
        let now = Utc::now();
        assert_eq!(policy.on_use(&token(now, None, None), now).0, Some(now));
        let recent = token(now, None, Some(now - Duration::minutes(4)));
        assert_eq!(policy.on_use(&recent, now), (None, None));
        let stale = token(now, None, Some(now - Duration::minutes(5)));
        assert_eq!(policy.on_use(&stale, now).0, Some(now));
        assert_eq!(
            Policy::default()
                .last_used_interval(None)
                .on_use(&stale, now),
            (None, None)
        );
    }

    #[test]
    fn refresh_slides_within_the_interval_and_the_cap() {
        let policy = Policy::default()
            .last_used_interval(None)
            .default_ttl(Duration::hours(1))
            .auto_refresh(Duration::minutes(10), Duration::hours(3));
        let created = Utc::now();
        let now = created + Duration::minutes(5);
        // Expiry would move by only 5 minutes: not written.
        assert_eq!(
            policy.on_use(
                &token(created, Some(created + Duration::hours(1)), None),
                now
            ),
            (None, None)
        );
        let now = created + Duration::minutes(30);
        assert_eq!(
            policy
                .on_use(
                    &token(created, Some(created + Duration::hours(1)), None),
                    now
                )
                .1,
            Some(now + Duration::hours(1))
        );
        // Never past created + max lifetime.
        let now = created + Duration::minutes(150);
        assert_eq!(
            policy
                .on_use(
                    &token(created, Some(created + Duration::minutes(175)), None),
                    now
                )
                .1,
            None,
            "only 5 minutes left to gain before the cap"
        );
        let now = created + Duration::minutes(140);
        assert_eq!(
            policy
                .on_use(
                    &token(created, Some(created + Duration::minutes(150)), None),
                    now
                )
                .1,
            Some(created + Duration::hours(3))
        );
        // Tokens that never expire are not refreshed.
        assert_eq!(policy.on_use(&token(created, None, None), now).1, None);
    }
}
