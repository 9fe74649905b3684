//! The one seam between tokenauth and its two databases. Everything that knows there are two
//! lives here: the pool and transaction types ([`Pool`], [`Tx`]) and the one dispatch over
//! them ([`on_backend!`]), opening a database, row decoding ([`DecodeRow`]), migrating, and
//! the few pieces of SQL that differ ([`Dialect`]). The rest of `store/` writes each query
//! once, in SQL both backends accept (`$n` placeholders), and runs it through `on_backend!`,
//! which compiles it once per enabled backend. (The change feed's transports differ
//! throughout, and are two modules of their own: `feed/sqlite.rs`, `feed/postgres.rs`.)

use std::time::Duration;

use sqlx::migrate::Migrator;

use super::{AppliedMigration, MIGRATIONS_TABLE, Store};
use crate::error::Error;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "tokenauth needs a database backend: enable the `sqlite` feature, the `postgres` feature, or both"
);

/// How long a request waits for a pooled connection before authentication answers
/// `503 Service Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A store's connection pool, of whichever backend it uses.
#[derive(Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// A transaction on a store's pool (see [`Pool::begin_write`]).
pub(crate) enum Tx {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// The one dispatch: `on_backend!(value, Pool(pool) => body)` (or `Tx(tx)`) runs `body` with
/// the inner sqlx pool (or transaction) of whichever backend `value` holds. The body is
/// compiled once per enabled backend, so the same query text and row types serve both; what
/// must differ comes from [`Pool::dialect`].
macro_rules! on_backend {
    ($value:expr, $kind:ident($inner:pat) => $body:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $crate::store::backend::$kind::Sqlite($inner) => $body,
            #[cfg(feature = "postgres")]
            $crate::store::backend::$kind::Postgres($inner) => $body,
        }
    };
}
pub(crate) use on_backend;

/// `$first, $first + 1, …`: `count` numbered parameters, the list of an `IN (…)` (both
/// backends take `$n`).
pub(crate) fn parameter_list(count: usize, first: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What differs between the backends' SQL: the rest is written once.
pub(crate) struct Dialect {
    /// The backend's name, as [`Store::backend`] gives it.
    pub(crate) name: &'static str,
    /// Begins a transaction that writes. SQLite takes the database's write lock at once
    /// (`IMMEDIATE`), waiting out other writers (busy timeout) rather than failing half-way
    /// on a snapshot another writer has moved past; PostgreSQL locks rows as it goes.
    pub(crate) begin_write: &'static str,
    /// Appended to a `SELECT` of a user's row inside a write transaction, to serialise the
    /// writers of one user: PostgreSQL locks the row (`NO KEY UPDATE`, so the application's
    /// own foreign keys to it are not blocked); SQLite's write lock, taken by
    /// [`begin_write`](Self::begin_write), already serialises every writer.
    pub(crate) lock_row: &'static str,
    /// An SQL expression that compares as the timestamp `expression` holds. PostgreSQL's
    /// `timestamptz` compares natively; SQLite's text goes through `julianday()`, which reads
    /// any of SQLite's time formats (a plain text comparison misorders other formats and
    /// years past 9999).
    pub(crate) timestamp: fn(&str) -> String,
    /// What must run after users were inserted with ids of their own (an import keeping
    /// Django's ids): PostgreSQL's identity must not hand out an id that the import took, nor
    /// go back to ids it handed out before (whose users may have been deleted); SQLite's
    /// `AUTOINCREMENT` moves past them itself.
    pub(crate) after_ids_kept: Option<&'static str>,
    /// tokenauth's migrations for this backend (`migrations/<backend>`).
    pub(crate) migrations: fn() -> Migrator,
    /// Whether the change feed's connection holds the database's files open, so that
    /// [`Store::close`] waits for the feed to close it (SQLite; PostgreSQL's is a socket).
    pub(crate) feed_holds_files: bool,
}

#[cfg(feature = "sqlite")]
const SQLITE: Dialect = Dialect {
    name: "sqlite",
    begin_write: "BEGIN IMMEDIATE",
    lock_row: "",
    timestamp: |expression| format!("julianday({expression})"),
    after_ids_kept: None,
    migrations: || sqlx::migrate!("migrations/sqlite"),
    feed_holds_files: true,
};

#[cfg(feature = "postgres")]
const POSTGRES: Dialect = Dialect {
    name: "postgres",
    begin_write: "BEGIN",
    lock_row: " FOR NO KEY UPDATE",
    timestamp: |expression| expression.to_owned(),
    after_ids_kept: Some(
        "SELECT setval(pg_get_serial_sequence('tokenauth_users', 'id'), \
         GREATEST((SELECT COALESCE(max(id), 0) FROM tokenauth_users), \
         nextval(pg_get_serial_sequence('tokenauth_users', 'id'))))",
    ),
    migrations: || sqlx::migrate!("migrations/postgres"),
    feed_holds_files: false,
};

/// Row decoding for every enabled backend: implemented for any type with `#[derive(sqlx::FromRow)]`.
///
/// ```
/// #[derive(sqlx::FromRow)]
/// struct Account {
///     id: i64,
/// }
/// fn decodes<T: tokenauth::store::DecodeRow>() {}
/// decodes::<Account>();
/// ```
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub trait DecodeRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
}
#[cfg(all(feature = "sqlite", feature = "postgres"))]
impl<T> DecodeRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
}

/// Row decoding for every enabled backend: implemented for any type with `#[derive(sqlx::FromRow)]`.
///
/// ```
/// #[derive(sqlx::FromRow)]
/// struct Account {
///     id: i64,
/// }
/// fn decodes<T: tokenauth::store::DecodeRow>() {}
/// decodes::<Account>();
/// ```
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
pub trait DecodeRow: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> {}
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
impl<T> DecodeRow for T where T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> {}

/// Row decoding for every enabled backend: implemented for any type with `#[derive(sqlx::FromRow)]`.
///
/// ```
/// #[derive(sqlx::FromRow)]
/// struct Account {
///     id: i64,
/// }
/// fn decodes<T: tokenauth::store::DecodeRow>() {}
/// decodes::<Account>();
/// ```
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
pub trait DecodeRow: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> {}
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
impl<T> DecodeRow for T where T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> {}

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
/// assert_eq!(pages, -i64::from(tokenauth::store::SQLITE_PAGE_CACHE_KIB));
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

impl Pool {
    /// Opens the database at `url` (see [`Store::connect`]).
    #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
    pub(crate) async fn open(url: &str, create: bool) -> Result<Pool, Error> {
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
            return Ok(Pool::Sqlite(pool.connect_with(options).await?));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            return Ok(Pool::Postgres(pool));
        }
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        Err(Error::UnsupportedUrl(format!("{scheme}:")))
    }

    /// What differs in this backend's SQL.
    pub(crate) fn dialect(&self) -> &'static Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => &SQLITE,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => &POSTGRES,
        }
    }

    /// Begins a transaction that writes ([`Dialect::begin_write`]).
    pub(crate) async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        let begin = self.dialect().begin_write;
        Ok(on_backend!(self, Pool(pool) => pool.begin_with(begin).await?.into_tx()))
    }

    /// Applies `migrator`, recording it in `table`, and returns the migrations it applied.
    pub(crate) async fn migrate(
        &self,
        mut migrator: Migrator,
        table: &'static str,
    ) -> Result<Vec<AppliedMigration>, Error> {
        migrator.dangerous_set_table_name(table);
        let sql = format!("SELECT version FROM {table} WHERE success");
        // No table yet: nothing applied before.
        let before: Vec<i64> = on_backend!(self, Pool(pool) => {
            let before = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .unwrap_or_default();
            migrator.run(pool).await?;
            before
        });
        Ok(migrator
            .iter()
            .filter(|migration| !before.contains(&migration.version))
            .map(|migration| AppliedMigration {
                version: migration.version,
                description: migration.description.to_string(),
            })
            .collect())
    }

    /// Closes the pool (see [`Store::close`]).
    pub(crate) async fn close(&self) {
        on_backend!(self, Pool(pool) => pool.close().await);
    }
}

/// A transaction of either backend, as a [`Tx`].
trait IntoTx {
    fn into_tx(self) -> Tx;
}

#[cfg(feature = "sqlite")]
impl IntoTx for sqlx::Transaction<'static, sqlx::Sqlite> {
    fn into_tx(self) -> Tx {
        Tx::Sqlite(self)
    }
}

#[cfg(feature = "postgres")]
impl IntoTx for sqlx::Transaction<'static, sqlx::Postgres> {
    fn into_tx(self) -> Tx {
        Tx::Postgres(self)
    }
}

impl Tx {
    /// Commits the transaction.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        on_backend!(self, Tx(tx) => tx.commit().await)
    }

    /// Rolls the transaction back.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        on_backend!(self, Tx(tx) => tx.rollback().await)
    }
}

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
    /// [`Error::UnsupportedUrl`] for another scheme (the
    /// message names the scheme only, never credentials), or
    /// [`Error::Database`] if the database cannot be opened.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = tokenauth::Store::connect("mysql://root:hunter2@db/app").await.err().unwrap();
    /// assert!(err.to_string().starts_with("unsupported database URL `mysql:`"));
    /// assert!(!err.to_string().contains("hunter2"));
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Store, Error> {
        Ok(Store::with_pool(Pool::open(url, true).await?))
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
    pub async fn connect_existing(url: &str) -> Result<Store, Error> {
        Ok(Store::with_pool(Pool::open(url, false).await?))
    }

    /// Applies tokenauth's migrations (embedded at compile time with `sqlx::migrate!`), and
    /// returns those it applied (none when the tables were up to date).
    ///
    /// They are recorded in their own table, [`MIGRATIONS_TABLE`], so an application's own
    /// `sqlx::migrate!` keeps working on the same database. Safe to call on every start and
    /// from several instances at once (sqlx takes a lock on PostgreSQL).
    ///
    /// # Errors
    /// [`Error::Migrate`] if a migration fails or the database holds a
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
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>, Error> {
        let migrations = (self.pool.dialect().migrations)();
        self.migrate_with(migrations, MIGRATIONS_TABLE).await
    }

    /// Applies `migrator`'s migrations, recorded in `table` (see [`Store::migrate`]).
    pub(crate) async fn migrate_with(
        &self,
        migrator: Migrator,
        table: &'static str,
    ) -> Result<Vec<AppliedMigration>, Error> {
        self.pool.migrate(migrator, table).await
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
        self.pool.dialect().name
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
