//! [`Store::health`]: whether a store can serve now, for a readiness probe.

use std::time::{Duration, Instant};

use super::backend::on_backend;
use super::{AppliedMigration, MIGRATIONS_TABLE, Store};

/// How long [`Store::health`] waits for each database query, and for the change feed to
/// come up.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// How often [`Store::health`] looks whether the change feed came up.
const FEED_POLL: Duration = Duration::from_millis(10);

/// What [`Store::health`] found: the [`Problem`]s that keep the store from serving as it
/// should, and the state of its authentication cache.
///
/// Its `Display` is one line per problem (`ready` when there is none), safe to log: it never
/// holds a key, digest, password or connection URL.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// use tokenauth::store::CacheState;
///
/// let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// let health = store.health().await;
/// assert!(!health.is_ready()); // not migrated yet
/// assert!(health.to_string().starts_with("migrations not applied: "));
///
/// store.migrate().await?;
/// let health = store.health().await;
/// assert!(health.is_ready(), "{health}");
/// assert_eq!(health.cache(), CacheState::Serving);
/// assert_eq!(health.to_string(), "ready");
///
/// let uncached = store.with_policy(tokenauth::Policy::default().no_auth_cache());
/// assert_eq!(uncached.health().await.cache(), CacheState::Off);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    problems: Vec<Problem>,
    cache: CacheState,
}

/// A reason why [`Store::health`] finds a store not ready; its `Display` is one line that
/// names the problem and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The database did not answer a query, or answered with an error (within
    /// [`HEALTH_TIMEOUT`]): what went wrong.
    Database(String),
    /// Migrations this build embeds that the database has not applied
    /// ([`MIGRATIONS_TABLE`] does not record them), oldest first.
    MissingMigrations(Vec<AppliedMigration>),
    /// Triggers of the change feed that are missing, disabled (PostgreSQL), or not as
    /// tokenauth's migrations wrote them. The authentication cache cannot serve without them.
    MissingTriggers(Vec<&'static str>),
    /// The authentication cache is on, but its change feed did not come up within
    /// [`HEALTH_TIMEOUT`]: every authentication reads the database.
    FeedDown,
}

/// The state of a store's authentication cache, as [`Store::health`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheState {
    /// The change feed is up: the cache serves.
    Serving,
    /// The policy has no cache ([`Policy::no_auth_cache`](crate::Policy::no_auth_cache)):
    /// knowingly off, which is no problem.
    Off,
    /// The cache is on, but its change feed is down: it does not serve.
    Down,
}

impl Health {
    /// Whether the store can serve: no [`Problem`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// assert!(store.health().await.is_ready());
    /// store.close().await;
    /// assert!(!store.health().await.is_ready());
    /// # Ok(()) }
    /// ```
    pub fn is_ready(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems found, in the order they were checked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// use tokenauth::store::Problem;
    ///
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.close().await;
    /// let health = store.health().await;
    /// assert!(matches!(health.problems(), [Problem::Database(_)]));
    /// # Ok(()) }
    /// ```
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The state of the authentication cache.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:")
    ///     .await?
    ///     .with_policy(tokenauth::Policy::default().no_auth_cache());
    /// assert_eq!(store.health().await.cache(), tokenauth::store::CacheState::Off);
    /// # Ok(()) }
    /// ```
    pub fn cache(&self) -> CacheState {
        self.cache
    }
}

impl std::fmt::Display for Health {
    /// One line per problem, or `ready`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.problems.is_empty() {
            return f.write_str("ready");
        }
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Database(error) => write!(f, "database unreachable: {error}"),
            Problem::MissingMigrations(missing) => {
                f.write_str("migrations not applied: ")?;
                for (i, migration) in missing.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(f, "{sep}{} {}", migration.version, migration.description)?;
                }
                f.write_str(" (run `Store::migrate`, or `tokenauth migrate`)")
            }
            Problem::MissingTriggers(missing) => write!(
                f,
                "change feed triggers missing or altered: {} (the authentication cache cannot \
                 serve; create them again as tokenauth's migrations wrote them)",
                missing.join(", ")
            ),
            Problem::FeedDown => write!(
                f,
                "the authentication cache's change feed did not come up within {} s: every \
                 authentication reads the database (its log lines say why)",
                HEALTH_TIMEOUT.as_secs()
            ),
        }
    }
}

/// `query` within [`HEALTH_TIMEOUT`], its error or timeout as a message.
async fn timed<T>(
    what: &str,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(HEALTH_TIMEOUT, query).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{what}: {error}")),
        Err(_) => Err(format!(
            "{what}: no answer within {} s",
            HEALTH_TIMEOUT.as_secs()
        )),
    }
}

impl Store {
    /// Whether the store can serve now, for a readiness probe: the database answers
    /// (`SELECT 1`), every migration this build embeds is applied, on SQLite the change
    /// feed's triggers are in place, and the authentication cache serves (its change feed is
    /// up, started here if it was not) or is knowingly off
    /// ([`Policy::no_auth_cache`](crate::Policy::no_auth_cache)).
    ///
    /// Never panics, and returns within four times [`HEALTH_TIMEOUT`] (2 s): each query,
    /// and the wait for the change feed, is bounded by it. A store whose database does not
    /// answer is reported as such, and nothing else is checked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let health = store.health().await;
    /// assert!(health.is_ready(), "not ready: {health}");
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Health {
        let mut problems = Vec::new();
        let cache_now = || match self.auth_cache() {
            None => CacheState::Off,
            Some(cache) if cache.serves(super::watch::TOKENAUTH.tokens_table) => {
                CacheState::Serving
            }
            Some(_) => CacheState::Down,
        };
        let reachable = on_backend!(&self.pool, Pool(pool) => {
            timed("SELECT 1", sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool)).await
        });
        if let Err(error) = reachable {
            problems.push(Problem::Database(error));
            return Health {
                problems,
                cache: cache_now(),
            };
        }

        let sql = format!("SELECT version FROM {MIGRATIONS_TABLE} WHERE success");
        let applied = on_backend!(&self.pool, Pool(pool) => {
            let query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_all(pool);
            timed(MIGRATIONS_TABLE, query).await
        });
        let applied = match applied {
            Ok(applied) => Some(applied),
            // No table: nothing applied (as the migrator takes it).
            Err(error) if is_missing_table(&error) => Some(Vec::new()),
            // Unreadable (a role without the right, a timeout): which migrations are applied
            // is not known, and none is said to be missing.
            Err(error) => {
                problems.push(Problem::Database(error));
                None
            }
        };
        let missing: Vec<AppliedMigration> = (self.pool.dialect().migrations)()
            .iter()
            .filter(|migration| {
                applied
                    .as_ref()
                    .is_some_and(|applied| !applied.contains(&migration.version))
            })
            .map(|migration| AppliedMigration {
                version: migration.version,
                description: migration.description.to_string(),
            })
            .collect();
        let migrated = applied.is_some() && missing.is_empty();
        if !missing.is_empty() {
            problems.push(Problem::MissingMigrations(missing));
        }

        #[cfg(feature = "sqlite")]
        if let Some(pool) = self.sqlite_pool()
            && migrated
        {
            match timed("sqlite_master", super::feed::sqlite::missing_triggers(pool)).await {
                Ok(missing) if missing.is_empty() => {}
                Ok(missing) => problems.push(Problem::MissingTriggers(missing)),
                Err(error) => problems.push(Problem::Database(error)),
            }
        }
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.postgres_pool()
            && migrated
        {
            match timed("pg_trigger", super::feed::postgres::missing_triggers(pool)).await {
                Ok(missing) if missing.is_empty() => {}
                Ok(missing) => problems.push(Problem::MissingTriggers(missing)),
                Err(error) => problems.push(Problem::Database(error)),
            }
        }

        if let Some(cache) = self.auth_cache()
            && migrated
            && cache_now() != CacheState::Serving
        {
            self.start_feed(cache);
            let deadline = Instant::now() + HEALTH_TIMEOUT;
            while cache_now() != CacheState::Serving && Instant::now() < deadline {
                tokio::time::sleep(FEED_POLL).await;
            }
        }
        let cache = cache_now();
        if cache == CacheState::Down && problems.is_empty() {
            problems.push(Problem::FeedDown);
        }
        Health { problems, cache }
    }
}

/// Whether a query's error (as [`timed`] words it) says that its table does not exist.
fn is_missing_table(error: &str) -> bool {
    error.contains("no such table") || error.contains("does not exist")
}
