//! Storage of users and tokens with sqlx, on SQLite or PostgreSQL behind one API.
//!
//! [`Store`] wraps a connection pool of either backend. Every query is written once, with
//! `$n` placeholders (both backends accept them), and run on whichever pool the store holds
//! (`backend`, the one place that knows there are two); every write commits through `write`,
//! the one place that tells the cache and the other instances.
//!
//! [`Pack`], [`Packer`] and [`Unpacker`] write and read a cacheable user type's compact form
//! in the authentication cache (see [`AuthUser::pack`]).

mod auth;
pub(crate) mod backend;
mod cache;
mod entry;
mod feed;
mod filter;
mod health;
mod packed;
#[doc(hidden)]
pub mod testing;
mod tokens;
mod usage;
mod user;
pub(crate) mod users;
pub(crate) mod watch;
pub(crate) mod write;

use std::time::Duration;

use crate::error::Error;
use crate::key::Key;
use crate::policy::Policy;

pub use auth::AuthenticateError;
pub use backend::DecodeRow;
#[cfg(feature = "sqlite")]
pub use backend::SQLITE_PAGE_CACHE_KIB;
use backend::{Pool, on_backend};
pub use cache::CacheStats;
pub use health::{CacheState, HEALTH_TIMEOUT, Health, Problem};
pub use packed::{Pack, Packer, Unpacker};
pub use tokens::Tokens;
pub use user::AuthUser;

/// The table in which tokenauth records its own applied migrations, apart from the
/// application's `_sqlx_migrations`, so both migrators can run against one database.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let sql = format!("SELECT count(*) FROM {}", tokenauth::store::MIGRATIONS_TABLE);
/// let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
///     .fetch_one(store.sqlite_pool().unwrap())
///     .await?;
/// assert!(applied >= 1);
/// # Ok(()) }
/// ```
pub const MIGRATIONS_TABLE: &str = "_tokenauth_migrations";

/// A migration that [`Store::migrate`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppliedMigration {
    /// Its version: the number its file name starts with, e.g. `20261127000001`.
    pub version: i64,
    /// What it does: the rest of its file name, e.g. `initial`.
    pub description: String,
}

/// A new authentication cache as `policy` asks, or none.
fn cache_for(policy: &Policy) -> Option<std::sync::Arc<cache::AuthCache>> {
    policy.auth_cache.map(|(entries, age)| {
        std::sync::Arc::new(cache::AuthCache::new(entries, age, policy.refusal_checks))
    })
}

/// How long a store trusts its knowledge of whether Django PBKDF2 hashes are present: an
/// import by another process is taken into account within this time.
const DJANGO_HASHES_RECHECK: Duration = Duration::from_secs(60);

/// The database behind tokenauth: a sqlx pool for SQLite or PostgreSQL.
///
/// Cloning is cheap (the pool is reference-counted). Add it to your poem app with
/// `.data(store)` so that the [`Auth`](crate::Auth) extractor can find it.
///
/// Its methods, by what they are for:
///
/// | for | methods |
/// |---|---|
/// | opening | [`connect`](Store::connect), [`connect_existing`](Store::connect_existing), [`migrate`](Store::migrate), [`with_policy`](Store::with_policy), [`check_user_type`](Store::check_user_type), [`close`](Store::close) |
/// | authenticating | [`authenticate`](Store::authenticate), [`authenticate_as`](Store::authenticate_as) |
/// | users (Django's `User.objects`) | [`create_user`](Store::create_user), [`create_user_with`](Store::create_user_with), [`user`](Store::user), [`user_by_username`](Store::user_by_username), [`users`](Store::users), [`set_password`](Store::set_password), [`check_password`](Store::check_password), [`login`](Store::login), [`set_active`](Store::set_active), [`delete_user`](Store::delete_user) |
/// | tokens | [`tokens`](Store::tokens) and [`tokens_for`](Store::tokens_for), a user's [`Tokens`] (create, list, revoke, …); [`generate_key`](Store::generate_key), [`flush_usage`](Store::flush_usage) |
/// | importing | [`import_begin`](Store::import_begin), [`import_users`](Store::import_users), [`import_tokens`](Store::import_tokens) (see [`import`](crate::import)) |
/// | the cache and the pool | [`health`](Store::health), [`policy`](Store::policy), [`cache_stats`](Store::cache_stats), [`forget_cached`](Store::forget_cached), [`backend`](Store::backend), and the sqlx pool (`sqlite_pool`, `postgres_pool`) |
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// use tokenauth::Store;
///
/// // A file, created on first use: "sqlite://tokenauth.db". Or "postgres://user@host/db".
/// let store = Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    policy: std::sync::Arc<Policy>,
    /// Password hashing workers, shared by clones; started on first use.
    hasher: std::sync::Arc<crate::password::Hasher>,
    /// Token use waiting to be written (shared by clones).
    usage: std::sync::Arc<usage::Usage>,
    /// The authentication cache, if the policy has one (shared by clones).
    cache: Option<std::sync::Arc<cache::AuthCache>>,
    /// Whether the users table holds Django PBKDF2 hashes, checked at most once a minute.
    django_pbkdf2: std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, bool)>>>,
    /// The login throttle's key (PostgreSQL), read once.
    #[cfg(all(feature = "postgres", feature = "openapi"))]
    throttle_key: std::sync::Arc<tokio::sync::OnceCell<[u8; 32]>>,
    /// Hints of this store's changes to the other instances (PostgreSQL).
    #[cfg(feature = "postgres")]
    hints: std::sync::Arc<feed::Hints>,
}

impl Store {
    /// Uses `policy` for every operation through this store and its clones (see [`Policy`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:")
    ///     .await?
    ///     .with_policy(tokenauth::Policy::default().max_tokens_per_user(3));
    /// assert_eq!(store.policy().clone(), tokenauth::Policy::default().max_tokens_per_user(3));
    /// # Ok(()) }
    /// ```
    pub fn with_policy(mut self, policy: Policy) -> Store {
        self.hasher = std::sync::Arc::new(crate::password::Hasher::new(policy.password_limits));
        if (self.policy.auth_cache, self.policy.refusal_checks)
            != (policy.auth_cache, policy.refusal_checks)
        {
            self.cache = cache_for(&policy);
        }
        self.policy = std::sync::Arc::new(policy);
        self
    }

    /// Whether some user still has a PBKDF2 hash imported from Django (and failed logins must
    /// cost what they cost in Django: see `Hasher::verify`). Read from the database at most
    /// once per [`DJANGO_HASHES_RECHECK`] per store (and its clones), and after an import;
    /// once none is left, it stays false until the next recheck.
    pub(crate) async fn has_django_pbkdf2_hashes(&self) -> Result<bool, Error> {
        let cached = *self
            .django_pbkdf2
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, present)) = cached
            && at.elapsed() < DJANGO_HASHES_RECHECK
        {
            return Ok(present);
        }
        let sql =
            "SELECT EXISTS (SELECT 1 FROM tokenauth_users WHERE password_hash LIKE 'pbkdf2%')";
        let present: bool =
            on_backend!(&self.pool, Pool(pool) => sqlx::query_scalar(sql).fetch_one(pool).await)?;
        *self
            .django_pbkdf2
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), present));
        Ok(present)
    }

    /// What this store's authentication cache has done, and whether it serves now (`None`
    /// when the policy has no cache): for an operator's dashboard, alongside the log lines
    /// the cache and its change feed write (see [`CacheStats`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let stats = store.cache_stats().unwrap();
    /// assert_eq!(stats.queries, 0);
    /// let off = store.with_policy(tokenauth::Policy::default().no_auth_cache());
    /// assert!(off.cache_stats().is_none());
    /// # Ok(()) }
    /// ```
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.auth_cache().map(|cache| cache.stats())
    }

    /// Sets tokenauth's gauges to this store's state now: call it before an exporter renders
    /// them (a scrape), as the quickstart's `/metrics` does. `tokenauth_cache_entries`,
    /// `tokenauth_filter_bytes`, `tokenauth_filter_degraded` (1 while refusals are given
    /// without a check: a flood of made-up keys spent the budget), `tokenauth_feed_up` (1 while
    /// the change feed proves the cache current; 0 also when there is no cache),
    /// `tokenauth_feed_last_proof_seconds` (since its last proof) and
    /// `tokenauth_password_queue_depth` (password checks waiting for a worker).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.record_gauges(); // a no-op without a metrics recorder installed
    /// # Ok(()) }
    /// ```
    pub fn record_gauges(&self) {
        crate::telemetry::gauges(
            self.auth_cache()
                .map(|cache| cache.gauges())
                .unwrap_or_default(),
            self.hasher().waiting(),
        );
    }

    /// The authentication cache, if any.
    pub(crate) fn auth_cache(&self) -> Option<&std::sync::Arc<cache::AuthCache>> {
        self.cache.as_ref()
    }

    /// Forgets whether Django hashes are present (after an import).
    pub(crate) fn recheck_django_hashes(&self) {
        *self
            .django_pbkdf2
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The store's password hashing workers.
    pub(crate) fn hasher(&self) -> &crate::password::Hasher {
        &self.hasher
    }

    /// A store on `pool`, with the default policy.
    fn with_pool(pool: Pool) -> Store {
        let policy = Policy::default();
        let cache = cache_for(&policy);
        Store {
            pool,
            hasher: std::sync::Arc::new(crate::password::Hasher::new(policy.password_limits)),
            policy: std::sync::Arc::new(policy),
            django_pbkdf2: Default::default(),
            usage: Default::default(),
            cache,
            #[cfg(all(feature = "postgres", feature = "openapi"))]
            throttle_key: Default::default(),
            #[cfg(feature = "postgres")]
            hints: Default::default(),
        }
    }

    /// The secret that keys the login throttle's digests on PostgreSQL (created by the
    /// migrations), read once per store.
    #[cfg(all(feature = "postgres", feature = "openapi"))]
    pub(crate) async fn throttle_key(&self) -> Result<[u8; 32], Error> {
        let Some(pool) = self.postgres_pool() else {
            return Err(Error::Database(sqlx::Error::Configuration(
                "the throttle key lives in PostgreSQL".into(),
            )));
        };
        let key = self
            .throttle_key
            .get_or_try_init(|| async {
                let key: Vec<u8> = sqlx::query_scalar("SELECT key FROM tokenauth_throttle_key")
                    .fetch_one(pool)
                    .await?;
                <[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
                    Error::Database(sqlx::Error::Protocol(
                        "tokenauth_throttle_key holds a key of the wrong length".into(),
                    ))
                })
            })
            .await?;
        Ok(*key)
    }

    /// A new key in the policy's [`KeyFormat`](crate::key::KeyFormat), e.g. to pass to
    /// [`Tokens::replace_all`] or [`Tokens::import`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// assert_eq!(store.generate_key()?.expose_secret().len(), 40);
    /// # Ok(()) }
    /// ```
    pub fn generate_key(&self) -> Result<Key, Error> {
        self.policy.key_format.generate()
    }

    /// The store's [`Policy`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// assert_eq!(store.policy(), &tokenauth::Policy::default());
    /// # Ok(()) }
    /// ```
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Writes the pending records of token use ([`Store::flush_usage`]) and, on PostgreSQL,
    /// sends the last hint of this store's changes to the other instances (waiting a few
    /// seconds at most), then closes the pool and the change feed's connection (on SQLite,
    /// once it returns, no connection of the store holds the database's files open): later
    /// operations fail with a database error (and authentication with `503 Service
    /// Unavailable`). Call it when the application shuts down; the `tokenauth` CLI calls it
    /// after each command.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.close().await;
    /// assert!(store.migrate().await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) {
        let feed = self.cache.as_ref().and_then(|cache| {
            cache.lapse_all(); // nothing is served from the cache from now on
            cache
                .feed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        });
        if let Err(error) = self.flush_usage().await {
            tracing::warn!(%error, "tokenauth: could not record the use of tokens");
        }
        #[cfg(feature = "postgres")]
        self.hints.flush().await;
        self.pool.close().await;
        if let Some(feed) = feed {
            // A feed whose connection holds the database's files open sees the pool closed at
            // its next look and closes its connection (so that SQLite removes its
            // write-ahead log): wait for it, briefly. Others are dropped with their task.
            let mut feed = feed;
            if self.pool.dialect().feed_holds_files
                && tokio::time::timeout(Duration::from_secs(1), &mut feed)
                    .await
                    .is_ok()
            {
                return;
            }
            feed.abort();
            let _ = feed.await;
        }
    }
}

impl std::fmt::Debug for Store {
    /// Shows the backend only: pool options can hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Maps a violation of the unique constraint on `column` to `on_unique`, any other error
/// (including other unique constraints of an application's own tables) to
/// [`Error::Database`](crate::Error::Database).
fn unique_violation(err: sqlx::Error, column: &str, on_unique: impl FnOnce() -> Error) -> Error {
    match &err {
        // PostgreSQL names the constraint (`<table>_<column>_key`); SQLite names the column
        // in its message (`UNIQUE constraint failed: <table>.<column>`).
        sqlx::Error::Database(db)
            if db.is_unique_violation()
                && (db.constraint().is_some_and(|c| c.contains(column))
                    || db.message().contains(column)) =>
        {
            on_unique()
        }
        _ => Error::Database(err),
    }
}
