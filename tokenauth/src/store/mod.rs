//! Storage of users and tokens with sqlx, on SQLite or PostgreSQL behind one API.
//!
//! [`Store`] wraps a connection pool of either backend. Every query is written once, with
//! `$n` placeholders (both backends accept them), and run on whichever pool the store holds.
//!
//! [`Pack`], [`Packer`] and [`Unpacker`] write and read a cacheable user type's compact form
//! in the authentication cache (see [`AuthUser::pack`]).

mod auth;
mod cache;
mod feed;
mod filter;
mod import;
mod packed;
mod tokens;
mod usage;
mod users;

use std::time::Duration;

pub use auth::{AuthUser, AuthenticateError, DecodeRow};
pub use cache::CacheStats;
#[cfg(feature = "postgres")]
pub(crate) use feed::PRUNE;
pub use import::{Import, ImportReport, ImportToken, ImportUser, ImportWarning};
pub use packed::{Pack, Packer, Unpacker};
pub use tokens::Tokens;
pub use users::MAX_USERNAME_LEN;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "tokenauth needs a database backend: enable the `sqlite` feature, the `postgres` feature, or both"
);

/// The table in which tokenauth records its own applied migrations, apart from the
/// application's `_sqlx_migrations`, so both migrators can run against one database.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let sql = format!("SELECT count(*) FROM {}", tokenauth::MIGRATIONS_TABLE);
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
fn cache_for(policy: &crate::Policy) -> Option<std::sync::Arc<cache::AuthCache>> {
    policy.auth_cache.map(|(entries, age)| {
        std::sync::Arc::new(cache::AuthCache::new(entries, age, policy.refusal_checks))
    })
}

/// The migrations of `migrator` that were not among `before` (versions applied before a run).
pub(crate) fn applied(migrator: &sqlx::migrate::Migrator, before: &[i64]) -> Vec<AppliedMigration> {
    migrator
        .iter()
        .filter(|migration| !before.contains(&migration.version))
        .map(|migration| AppliedMigration {
            version: migration.version,
            description: migration.description.to_string(),
        })
        .collect()
}

/// How long a store trusts its knowledge of whether Django PBKDF2 hashes are present: an
/// import by another process is taken into account within this time.
const DJANGO_HASHES_RECHECK: Duration = Duration::from_secs(60);

/// How long a request waits for a pooled connection before authentication answers
/// `503 Service Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The database behind tokenauth: a sqlx pool for SQLite or PostgreSQL.
///
/// Cloning is cheap (the pool is reference-counted). Add it to your poem app with
/// `.data(store)` so that the [`Auth`](crate::Auth) extractor can find it.
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
    policy: std::sync::Arc<crate::Policy>,
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

#[derive(Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds. The body is compiled once
/// per enabled backend, so the same query text and row types serve both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            #[cfg(feature = "sqlite")]
            $crate::store::Pool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The page cache, in KiB, of each SQLite connection that [`Store::connect`] opens on a file.
/// (An in-memory database lives in its page cache, which keeps SQLite's default.)
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("tokenauth-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let url = format!("sqlite://{}/app.db", dir.display());
/// let store = tokenauth::Store::connect(&url).await?;
/// let (pages,): (i64,) = sqlx::query_as("PRAGMA cache_size") // negative: KiB
///     .fetch_one(store.sqlite_pool().unwrap())
///     .await?;
/// assert_eq!(pages, -i64::from(tokenauth::SQLITE_PAGE_CACHE_KIB));
///
/// let memory = tokenauth::Store::connect("sqlite::memory:").await?;
/// let (pages,): (i64,) = sqlx::query_as("PRAGMA cache_size")
///     .fetch_one(memory.sqlite_pool().unwrap())
///     .await?;
/// assert_eq!(pages, -2000); // SQLite's default
/// # store.close().await;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[cfg(feature = "sqlite")]
pub const SQLITE_PAGE_CACHE_KIB: u32 = 256;

impl Store {
    /// Connects to `url`:
    /// - `sqlite://path/to/file.db` (feature `sqlite`): the file is created if missing and
    ///   opened in WAL mode with foreign keys on; `sqlite::memory:` is a private in-memory
    ///   database that lives as long as the store. Each connection to a file (the pool's, and
    ///   the change feed's) keeps a page cache of at most `SQLITE_PAGE_CACHE_KIB` (256 KiB;
    ///   SQLite's default is about 2 MB per connection, 20 MB for a pool of ten holding the
    ///   same pages): the operating system caches the file, and the authentication cache keeps
    ///   the rows a request needs. Give [`Store::from`] a pool of your own for other settings.
    /// - `postgres://…` or `postgresql://…` (feature `postgres`).
    ///
    /// Call [`Store::migrate`] before first use.
    ///
    /// # Errors
    /// [`Error::UnsupportedUrl`](crate::Error::UnsupportedUrl) for another scheme (the
    /// message names the scheme only, never credentials), or
    /// [`Error::Database`](crate::Error::Database) if the database cannot be opened.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = tokenauth::Store::connect("mysql://root:hunter2@db/app").await.err().unwrap();
    /// assert!(err.to_string().starts_with("unsupported database URL `mysql:`"));
    /// assert!(!err.to_string().contains("hunter2"));
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Store, crate::Error> {
        Store::open(url, true).await
    }

    /// Like [`Store::connect`], but a SQLite database file must already exist: for tools that
    /// must not create an empty database from a mistyped path.
    ///
    /// # Errors
    /// As [`Store::connect`]; a missing SQLite file is a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let missing = tokenauth::Store::connect_existing("sqlite:///nonexistent/tokenauth.db").await;
    /// assert!(missing.is_err());
    /// # }
    /// ```
    pub async fn connect_existing(url: &str) -> Result<Store, crate::Error> {
        Store::open(url, false).await
    }

    #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
    async fn open(url: &str, create: bool) -> Result<Store, crate::Error> {
        #[cfg(feature = "sqlite")]
        if url.starts_with("sqlite:") {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
            use std::str::FromStr as _;

            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let mut options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            if !in_memory {
                // An in-memory database lives in its page cache: not bounded here.
                options = options.pragma("cache_size", format!("-{SQLITE_PAGE_CACHE_KIB}"));
                options = options.journal_mode(SqliteJournalMode::Wal);
            }
            // No ping before each use: a SQLite connection is a handle in this process, which
            // cannot lose its server, and the ping is a round trip to the connection's thread
            // on every query.
            let mut pool = SqlitePoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false);
            if in_memory {
                // An in-memory database vanishes with its last connection: keep one open.
                pool = pool
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            return Ok(Store::from(pool.connect_with(options).await?));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            return Ok(Store::from(pool));
        }
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        Err(crate::Error::UnsupportedUrl(format!("{scheme}:")))
    }

    /// Applies tokenauth's migrations (embedded at compile time with `sqlx::migrate!`), and
    /// returns those it applied (none when the tables were up to date).
    ///
    /// They are recorded in their own table, [`MIGRATIONS_TABLE`], so an application's own
    /// `sqlx::migrate!` keeps working on the same database. Safe to call on every start and
    /// from several instances at once (sqlx takes a lock on PostgreSQL).
    ///
    /// # Errors
    /// [`Error::Migrate`](crate::Error::Migrate) if a migration fails or the database holds a
    /// migration this build does not know.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// let applied = store.migrate().await?;
    /// assert_eq!(applied[0].description, "initial");
    /// assert!(store.migrate().await?.is_empty()); // idempotent
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>, crate::Error> {
        let sql = "SELECT version FROM _tokenauth_migrations WHERE success";
        debug_assert!(sql.contains(MIGRATIONS_TABLE));
        // No table yet: nothing applied before.
        let (before, migrator) = match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let before: Vec<i64> = sqlx::query_scalar(sql)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default();
                let mut migrator = sqlx::migrate!("migrations/sqlite");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await?;
                (before, migrator)
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let before: Vec<i64> = sqlx::query_scalar(sql)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default();
                let mut migrator = sqlx::migrate!("migrations/postgres");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await?;
                (before, migrator)
            }
        };
        Ok(applied(&migrator, &before))
    }

    /// Uses `policy` for every operation through this store and its clones (see [`Policy`](crate::Policy)).
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
    pub fn with_policy(mut self, policy: crate::Policy) -> Store {
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
    pub(crate) async fn has_django_pbkdf2_hashes(&self) -> Result<bool, crate::Error> {
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
            with_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?;
        *self
            .django_pbkdf2
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), present));
        Ok(present)
    }

    /// A change to what some key grants (a revocation, a user's password or activity),
    /// committed: no authentication cached before it is served again — before the changing
    /// call returns — and the other instances are hinted to read the change log now.
    pub(crate) fn credentials_changed(&self) {
        if let Some(cache) = self.auth_cache() {
            cache.changed();
        }
        self.hint_others();
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

    fn with_pool(pool: Pool) -> Store {
        let policy = crate::Policy::default();
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
    pub(crate) async fn throttle_key(&self) -> Result<[u8; 32], crate::Error> {
        let Some(pool) = self.postgres_pool() else {
            return Err(crate::Error::Database(sqlx::Error::Configuration(
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
                    crate::Error::Database(sqlx::Error::Protocol(
                        "tokenauth_throttle_key holds a key of the wrong length".into(),
                    ))
                })
            })
            .await?;
        Ok(*key)
    }

    /// A new key in the policy's [`KeyFormat`](crate::KeyFormat), e.g. to pass to
    /// [`Tokens::replace_all`] or [`Tokens::import`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// assert_eq!(store.generate_key()?.expose_secret().len(), 40);
    /// # Ok(()) }
    /// ```
    pub fn generate_key(&self) -> Result<crate::Key, crate::Error> {
        self.policy.key_format.generate()
    }

    /// The store's [`Policy`](crate::Policy).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// assert_eq!(store.policy(), &tokenauth::Policy::default());
    /// # Ok(()) }
    /// ```
    pub fn policy(&self) -> &crate::Policy {
        &self.policy
    }

    /// Which database the store uses: `"sqlite"` or `"postgres"`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// assert_eq!(store.backend(), "sqlite");
    /// # Ok(()) }
    /// ```
    pub fn backend(&self) -> &'static str {
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => "postgres",
        }
    }

    /// The SQLite pool, if the store uses SQLite: run your own queries on the same database.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let pool = store.sqlite_pool().expect("a SQLite store");
    /// let users: i64 = sqlx::query_scalar("SELECT count(*) FROM tokenauth_users")
    ///     .fetch_one(pool)
    ///     .await?;
    /// assert_eq!(users, 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "sqlite")]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool),
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, if the store uses PostgreSQL: run your own queries on the same
    /// database.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// assert!(store.postgres_pool().is_none());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "postgres")]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => None,
        }
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
        with_pool!(self, pool => pool.close().await);
        if let Some(feed) = feed {
            // The SQLite feed sees the pool closed at its next look and closes its connection
            // (so that SQLite removes its write-ahead log): wait for it, briefly. The
            // PostgreSQL feed's connection is only a socket: it is dropped with the task.
            #[cfg(feature = "sqlite")]
            let feed = {
                let mut feed = feed;
                if matches!(self.pool, Pool::Sqlite(_))
                    && tokio::time::timeout(Duration::from_secs(1), &mut feed)
                        .await
                        .is_ok()
                {
                    return;
                }
                feed
            };
            feed.abort();
            let _ = feed.await;
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for Store {
    /// Uses an existing SQLite pool. Keep foreign keys on (sqlx's default) so that deleting a
    /// user deletes their tokens.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let store = tokenauth::Store::from(pool);
    /// # Ok(()) }
    /// ```
    fn from(pool: sqlx::SqlitePool) -> Self {
        Store::with_pool(Pool::Sqlite(pool))
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for Store {
    /// Uses an existing PostgreSQL pool.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// let store = tokenauth::Store::from(pool);
    /// # Ok(()) }
    /// ```
    fn from(pool: sqlx::PgPool) -> Self {
        Store::with_pool(Pool::Postgres(pool))
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
fn unique_violation(
    err: sqlx::Error,
    column: &str,
    on_unique: impl FnOnce() -> crate::Error,
) -> crate::Error {
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
        _ => crate::Error::Database(err),
    }
}
