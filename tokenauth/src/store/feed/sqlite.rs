//! The change feed on SQLite: `PRAGMA data_version` on a connection of the store's own tells
//! whether any other connection — the store's pool, another process — committed since the
//! last look. Unchanged, it proves that nothing changed (the lease is renewed, no table is
//! read); changed, the log is read from the last row seen, in one read transaction with its
//! high-water mark (`sqlite_sequence`, which only grows unless someone resets it — or the
//! last row, if a statement that failed `OR FAIL` left rows beyond it).
//!
//! Looks come every [`MIN_POLL`] after a change and back off, doubling, to [`MAX_POLL`] while
//! nothing changes: an idle store costs a few dozen `PRAGMA`s a second, and a change is seen
//! within [`MAX_POLL`] (plus a read) even then.
//!
//! SQLite's row ids of the log (`AUTOINCREMENT`) are handed out without gaps, a rolled-back
//! insert giving its number back: the rows read must run on from the last one seen, up to the
//! high-water mark. A gap (rows deleted unread: the log cleared, or pruned while this store
//! was stopped), a mark below the last row seen (the log's sequence reset, or an older
//! database restored) or a changed schema (triggers dropped or replaced) makes the store
//! forget everything and start again from the mark.

use std::sync::Weak;
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};

use super::{Attempts, MIN_BACKOFF};
use crate::store::backend::Pool;
use crate::store::cache::{AuthCache, FeedWork};

/// The shortest time between two looks, right after a change.
pub(crate) const MIN_POLL: Duration = Duration::from_millis(5);

/// The longest time between two looks, while nothing changes.
pub(crate) const MAX_POLL: Duration = Duration::from_millis(100);

/// Log rows read at once; a store finding more forgets everything instead.
const BATCH: i64 = 1000;

/// How long the log keeps a change (rows older are deleted by the stores, at most once a
/// minute each).
const KEEPS: Duration = Duration::from_secs(600);

/// The tokens table that the SQLite triggers report: tokenauth's own (another group
/// registered with the cache is never proven, so never served, on SQLite).
const TOKENS_TABLE: &str = crate::store::watch::TOKENAUTH.tokens_table;

/// The migrations that create the triggers, in order: each trigger must be there, as the last
/// of them that creates it wrote it.
const MIGRATIONS: [&str; 2] = [
    include_str!("../../../migrations/sqlite/20261203000002_change_feed.sql"),
    include_str!("../../../migrations/sqlite/20261207000001_token_limits.sql"),
];

/// The triggers that report changes (see [`MIGRATIONS`]).
const TRIGGERS: [&str; 7] = [
    "tokenauth_tokens_added",
    "tokenauth_tokens_replacing",
    "tokenauth_users_replacing",
    "tokenauth_tokens_changed",
    "tokenauth_tokens_deleted",
    "tokenauth_users_changed",
    "tokenauth_users_deleted",
];

/// Follows the log until the cache is dropped or the pool closed; the cache is bypassed
/// while the log cannot be read.
impl super::Transport for sqlx::SqlitePool {
    fn follow(self, cache: Weak<AuthCache>) -> impl Future<Output = ()> + Send + 'static {
        run(cache, self)
    }
}

async fn run(cache: Weak<AuthCache>, pool: sqlx::SqlitePool) {
    super::follow(
        &cache,
        || pool.is_closed(),
        |mut attempts: Attempts| {
            let (cache, pool) = (cache.clone(), pool.clone());
            async move {
                let problem = match pool.connect_options().connect().await {
                    Ok(mut connection) => {
                        let ended = follow(&cache, &pool, &mut connection, &mut attempts).await;
                        let _ = connection.close().await;
                        ended.err().map(|error| error.to_string())
                    }
                    Err(error) => Some(error.to_string()),
                };
                (attempts, problem)
            }
        },
    )
    .await;
}

/// Where the log stands as one read transaction saw it.
struct Log {
    schema: i64,
    /// The log's high-water mark.
    mark: i64,
    /// Rows after the last one seen, up to the mark (at most [`BATCH`] + 1).
    rows: Vec<(i64, Option<String>, Option<String>)>,
}

async fn data_version(
    cache: &AuthCache,
    connection: &mut SqliteConnection,
) -> Result<i64, sqlx::Error> {
    FeedWork::count(&cache.work().looks);
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *connection)
        .await
}

/// Reads the schema's version, the log's mark and the rows after `seen`, in one read
/// transaction.
async fn read(
    cache: &AuthCache,
    connection: &mut SqliteConnection,
    seen: i64,
) -> Result<Log, sqlx::Error> {
    FeedWork::count(&cache.work().reads);
    let mut tx = connection.begin().await?;
    let schema: i64 = sqlx::query_scalar("PRAGMA schema_version")
        .fetch_one(&mut *tx)
        .await?;
    // The sequence's value, or the last row if it is beyond it: a statement that fails
    // `OR FAIL` keeps the log rows its triggers wrote before it failed, but not the
    // sequence's update.
    let mark: i64 = sqlx::query_scalar(
        "SELECT max(\
           COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tokenauth_changes'), 0), \
           COALESCE((SELECT max(seq) FROM tokenauth_changes), 0))",
    )
    .fetch_one(&mut *tx)
    .await?;
    let rows = sqlx::query_as(
        "SELECT seq, tokens_table, key_digest FROM tokenauth_changes \
         WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
    )
    .bind(seen)
    .bind(mark)
    .bind(BATCH + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Log { schema, mark, rows })
}

/// Whether every trigger of the change feed exists as its migration wrote it.
async fn triggers_intact(connection: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    let found: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&mut *connection)
            .await?;
    Ok(TRIGGERS.iter().all(|name| intact(name, &found)))
}

/// The change feed's triggers that are missing, or not as their migration wrote them (for
/// [`Store::health`](crate::Store::health)).
pub(crate) async fn missing_triggers(
    pool: &sqlx::SqlitePool,
) -> Result<Vec<&'static str>, sqlx::Error> {
    let found: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(pool)
            .await?;
    Ok(TRIGGERS
        .into_iter()
        .filter(|name| !intact(name, &found))
        .collect())
}

/// Whether `found` (names and definitions from `sqlite_master`) holds the trigger `name` as
/// its migration wrote it.
fn intact(name: &str, found: &[(String, Option<String>)]) -> bool {
    let Some(migration) = latest_definition(name) else {
        return false;
    };
    found.iter().any(|(found, sql)| {
        found == name && sql.as_deref().is_some_and(|sql| migration.contains(sql))
    })
}

/// The last of [`MIGRATIONS`] that creates the trigger `name`.
fn latest_definition(name: &str) -> Option<&'static str> {
    let create = format!("CREATE TRIGGER {name} ");
    MIGRATIONS
        .iter()
        .rev()
        .find(|migration| migration.contains(&create))
        .copied()
}

/// Follows the log on `connection`; returns the error that stopped it, or `Ok` when the
/// cache or the pool is gone.
async fn follow(
    cache: &Weak<AuthCache>,
    pool: &sqlx::SqlitePool,
    connection: &mut SqliteConnection,
    attempts: &mut Attempts,
) -> Result<(), sqlx::Error> {
    let store_pool = Pool::Sqlite(pool.clone());
    let mut proven_at = Instant::now();
    let Some(first) = cache.upgrade() else {
        return Ok(());
    };
    let mut version = data_version(&first, connection).await?;
    let start = read(&first, connection, i64::MAX).await?;
    drop(first);
    let (mut schema, mut seen) = (start.schema, start.mark);
    let mut intact = triggers_intact(connection).await?;
    let mut interval = MIN_POLL;
    let mut last_prune = Instant::now();
    loop {
        {
            let Some(cache) = cache.upgrade() else {
                return Ok(());
            };
            if pool.is_closed() {
                return Ok(());
            }
            if intact {
                // Everything committed before `proven_at` has been read.
                cache.renew(TOKENS_TABLE, proven_at);
                attempts.backoff = MIN_BACKOFF;
                attempts.reporter.up();
            } else {
                cache.lapse(TOKENS_TABLE);
                attempts
                    .reporter
                    .down("the change feed's triggers are missing or altered: run the migrations");
            }
        }
        tokio::time::sleep(interval).await;
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        if pool.is_closed() {
            return Ok(());
        }
        proven_at = Instant::now();
        let now = data_version(&cache, connection).await?;
        if now == version {
            interval = (interval * 2).min(MAX_POLL);
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = Instant::now();
                prune(connection).await;
            }
            continue;
        }
        version = now;
        interval = MIN_POLL;
        let log = read(&cache, connection, seen).await?;
        if log.schema != schema {
            schema = log.schema;
            intact = triggers_intact(connection).await?;
            cache.forget(); // triggers may have been dropped or replaced for a while
        }
        let count = i64::try_from(log.rows.len()).unwrap_or(i64::MAX);
        let continuous = log
            .rows
            .iter()
            .zip(seen.saturating_add(1)..)
            .all(|((seq, _, _), expected)| *seq == expected);
        if log.mark < seen || count > BATCH || !continuous || seen.saturating_add(count) != log.mark
        {
            // Reset, too many to follow, or rows deleted unread: start again from the mark.
            tracing::debug!(
                seen,
                mark = log.mark,
                "tokenauth: the change log cannot be followed from where it was read; forgetting what was cached"
            );
            cache.forget();
        } else {
            for (_, table, digest) in log.rows {
                match (table, digest) {
                    (Some(table), Some(digest)) => {
                        super::added_elsewhere(&cache, &store_pool, &table, &digest);
                    }
                    _ => cache.changed(),
                }
            }
        }
        seen = log.mark;
    }
}

/// Deletes log rows older than [`KEEPS`], if the database is free at once: best effort,
/// never holding up the reads.
async fn prune(connection: &mut SqliteConnection) {
    let cutoff = KEEPS.as_secs_f64() / 86_400.0;
    let result = async {
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut *connection)
            .await?;
        let deleted = sqlx::query("DELETE FROM tokenauth_changes WHERE at < julianday('now') - $1")
            .bind(cutoff)
            .execute(&mut *connection)
            .await;
        sqlx::query("PRAGMA busy_timeout = 5000")
            .execute(&mut *connection)
            .await?;
        deleted.map(|_| ())
    }
    .await;
    if let Err(error) = result {
        tracing::debug!(%error, "tokenauth: the change log was not pruned this time");
    }
}
