//! The change feed: how a store learns of changes made elsewhere — another instance, the CLI
//! in another process, plain SQL — to what its cached authentications and live-key filters
//! hold. The migrations `change_feed` add triggers that report every change that may revoke
//! or narrow what a key grants, and every added key:
//!
//! - PostgreSQL: `NOTIFY tokenauth` when the changing transaction commits, received by a
//!   `LISTEN` on a connection of the store's own (outside its pool). The feed counts as up
//!   only once a notification it sent itself has come back, and sends one every
//!   [`HEARTBEAT`]: if one does not come back within the next, or the connection drops, the
//!   cache is flushed and bypassed (and the filters dropped) until it is listening again —
//!   so a connection that dies silently is noticed within two heartbeats.
//! - SQLite: a log table written in the changing transaction, read by a connection of its
//!   own every [`SQLITE_POLL`]: a change committed by another process is seen within
//!   [`SQLITE_POLL`] plus one read. If reading fails, the cache is bypassed until it works.
//!
//! Only tables whose triggers exist are watched ([`WATCHABLE`], read when the feed comes up
//! and at each heartbeat): a database not yet migrated, or beside a Django database without
//! `migrate-django`'s latest migration, is read on every request.
//!
//! Payloads (PostgreSQL `NOTIFY`, and the SQLite log's rows): `-` (a NULL digest) — forget
//! cached authentications; `+<table> <digest>` — a key was added; `*<table>` — many keys
//! were added: build the table's filter again. `?<n>` is a heartbeat.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use super::cache::{AuthCache, Filter, Verdict};
use super::{Pool, Store};
use crate::key::RawDigest;

/// How often a SQLite store reads the change log.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_POLL: Duration = Duration::from_millis(5);

/// How often a PostgreSQL store checks that its feed is alive, and how long it waits for
/// the check to come back.
#[cfg(feature = "postgres")]
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

/// The longest wait between two attempts to bring the feed back up.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// The PostgreSQL channel of the triggers.
#[cfg(feature = "postgres")]
const CHANNEL: &str = "tokenauth";

/// The `application_name` of the feed's connection, as `pg_stat_activity` shows it.
#[cfg(feature = "postgres")]
pub(crate) const APPLICATION_NAME: &str = "tokenauth change feed";

/// The tokens tables a feed can watch, each with the trigger that must exist for it (and
/// whose migration also installs its users table's triggers).
const WATCHABLE: [(&str, &str); 2] = [
    ("tokenauth_tokens_changed", "tokenauth_tokens"),
    (
        "tokenauth_authtoken_token_changed",
        "tokenauth_django_tokens",
    ),
];

/// How long the SQLite log keeps a change (rows older are deleted by the pollers), and how
/// long a poller may go without reading before it assumes it missed some.
#[cfg(feature = "sqlite")]
const SQLITE_LOG_KEEPS: Duration = Duration::from_secs(600);

/// SQLite log rows read at once; a poller finding more forgets everything instead.
#[cfg(feature = "sqlite")]
const SQLITE_BATCH: i64 = 1000;

/// Digests read per query while building a filter.
const FILTER_PAGE: i64 = 10_000;

impl Store {
    /// Starts the change feed, once per cache (and again if its task ended).
    pub(crate) fn start_feed(&self, cache: &Arc<AuthCache>) {
        let mut feed = cache.feed.lock().unwrap_or_else(PoisonError::into_inner);
        if feed.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the cache stays bypassed
        };
        cache.feed_down(); // whatever the last task left
        let weak = Arc::downgrade(cache);
        *feed = Some(match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => runtime.spawn(sqlite::run(weak, pool.clone())),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => runtime.spawn(postgres::run(weak, pool.clone())),
        });
    }

    /// What the live-key filter of `table` says about `digest`; builds the filter in the
    /// background when there is none. While the feed is down, nothing is refused.
    pub(crate) fn live_key(
        &self,
        cache: &Arc<AuthCache>,
        table: &'static str,
        digest: &RawDigest,
    ) -> Verdict {
        if !cache.feed_is_up() {
            return Verdict::Unknown;
        }
        let verdict = cache.keys().check(table, digest);
        if verdict == Verdict::Unknown {
            build_filter(cache, &self.pool, table);
        }
        verdict
    }

    /// A key was added through this store: in the filter before the adding call returns.
    pub(crate) fn key_added(&self, table: &'static str, digest: &crate::KeyDigest) {
        if let Some(cache) = &self.cache
            && cache.keys().add(table, digest.as_str())
        {
            build_filter(cache, &self.pool, table); // full: built again, bigger
        }
    }

    /// Many keys were added through this store (an import): the filter is built again.
    pub(crate) fn keys_added(&self, table: &str) {
        if let Some(cache) = &self.cache {
            cache.keys().forget(table);
        }
    }

    /// Forgets every cached authentication and live-key filter, at once.
    ///
    /// Changes made with SQL outside tokenauth — by another process, another instance, or
    /// this one — reach the cache through the change feed within milliseconds (see
    /// [`Policy::auth_cache`](crate::Policy::auth_cache)). Call this after changing
    /// tokenauth's tables with SQL in this process when the very next request must see it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let (_, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// store.authenticate(key.expose_secret()).await.unwrap();
    /// sqlx::query("UPDATE tokenauth_users SET is_active = FALSE")
    ///     .execute(store.sqlite_pool().unwrap())
    ///     .await?;
    /// store.forget_cached();
    /// assert!(store.authenticate(key.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    pub fn forget_cached(&self) {
        if let Some(cache) = &self.cache {
            cache.forget();
        }
    }
}

/// Builds the filter of `table` in the background, unless a build is claimed or under way.
fn build_filter(cache: &Arc<AuthCache>, pool: &Pool, table: &'static str) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(claim) = cache.keys().claim(table) else {
        return; // being built
    };
    let (weak, pool) = (Arc::downgrade(cache), pool.clone());
    runtime.spawn(async move {
        let count = format!("SELECT count(*) FROM {table}");
        let live: Result<i64, sqlx::Error> = match &pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                    .fetch_one(p)
                    .await
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                    .fetch_one(p)
                    .await
            }
        };
        let Some(cache) = weak.upgrade() else {
            return;
        };
        let live = match live {
            Ok(live) => u64::try_from(live).unwrap_or(0),
            Err(error) => {
                tracing::warn!(%error, table, "tokenauth: could not build the live-key filter");
                cache.keys().unclaim(table, claim);
                return;
            }
        };
        // Registered before the table is read: keys added meanwhile go into it too.
        let Some(filter) = cache.keys().begin(table, claim, live) else {
            return; // forgotten meanwhile (the feed went down, or an import)
        };
        drop(cache);
        let result = fill(&pool, &weak, table, &filter).await;
        let Some(cache) = weak.upgrade() else {
            return;
        };
        match result {
            Ok(()) => {
                tracing::debug!(
                    table,
                    bytes = filter.bytes(),
                    "tokenauth: live-key filter built"
                );
                cache.keys().finish(table, &filter);
            }
            Err(error) => {
                tracing::warn!(%error, table, "tokenauth: could not build the live-key filter");
                cache.keys().abandon(table, &filter);
            }
        }
    });
}

/// Reads every digest of `table` into `filter`, a page at a time, until done or the build
/// is dropped.
async fn fill(
    pool: &Pool,
    cache: &Weak<AuthCache>,
    table: &str,
    filter: &Arc<Filter>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT key_digest FROM {table} WHERE key_digest > $1 \
         ORDER BY key_digest LIMIT {FILTER_PAGE}"
    );
    let mut after = String::new();
    loop {
        let page: Vec<String> = match pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(&after)
                    .fetch_all(p)
                    .await?
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(&after)
                    .fetch_all(p)
                    .await?
            }
        };
        for digest in &page {
            filter.add(digest);
        }
        let full = page.len() == usize::try_from(FILTER_PAGE).unwrap_or(usize::MAX);
        match page.into_iter().last() {
            Some(last) if full => after = last,
            _ => return Ok(()),
        }
        let wanted = cache
            .upgrade()
            .is_some_and(|cache| cache.keys().is_building(table, filter));
        if !wanted {
            return Ok(()); // dropped: `finish` will not serve it
        }
    }
}

/// Applies one change (a payload of the [module](self)'s format).
#[cfg(feature = "postgres")]
fn apply(cache: &Arc<AuthCache>, pool: &Pool, payload: &str) {
    if payload == "-" {
        cache.changed();
    } else if let Some(added) = payload.strip_prefix('+') {
        if let Some((table, digest)) = added.split_once(' ') {
            added_elsewhere(cache, pool, table, digest);
        }
    } else if let Some(table) = payload.strip_prefix('*') {
        cache.keys().forget(table);
    }
}

/// A key added to `table` by someone else: into its filter, if the table is watched (the
/// name comes from the database, and is never used as SQL unless it is a watched one).
fn added_elsewhere(cache: &Arc<AuthCache>, pool: &Pool, table: &str, digest: &str) {
    if let Some(table) = cache.watched(table)
        && cache.keys().add(table, digest)
    {
        build_filter(cache, pool, table); // full: built again, bigger
    }
}

/// The watched tables among the triggers `names` that exist.
fn watched(names: &[String]) -> Vec<&'static str> {
    WATCHABLE
        .iter()
        .filter(|(trigger, _)| names.iter().any(|name| name == trigger))
        .map(|(_, table)| *table)
        .collect()
}

/// Marks the feed down when its task ends, however it ends (an error, a panic, an abort,
/// its runtime shutting down).
struct DownOnExit(Weak<AuthCache>);

impl Drop for DownOnExit {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            cache.feed_down();
        }
    }
}

/// Waits before the next attempt to bring the feed up, doubling the wait up to [`MAX_BACKOFF`].
async fn back_off(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use sqlx::postgres::{PgListener, PgPoolOptions};

    /// Listens until the cache is dropped or the pool closed, reconnecting when the
    /// connection drops or stops answering; the cache is bypassed while it is not listening.
    pub(super) async fn run(cache: Weak<AuthCache>, pool: sqlx::PgPool) {
        let _down_on_exit = DownOnExit(cache.clone());
        let mut backoff = MIN_BACKOFF;
        loop {
            if cache.strong_count() == 0 || pool.is_closed() {
                return;
            }
            let problem = match listen(&pool).await {
                Ok((listener, own)) => {
                    let problem = serve(&cache, &pool, listener, &mut backoff).await;
                    own.close().await;
                    problem
                }
                Err(error) => Some(error.to_string()),
            };
            if let Some(cache) = cache.upgrade() {
                cache.feed_down();
            }
            let Some(problem) = problem else {
                return; // the cache or the pool is gone
            };
            tracing::warn!(
                problem,
                "tokenauth: the change feed is down; authentications are not cached until it is back"
            );
            back_off(&mut backoff).await;
        }
    }

    /// A listener on a connection of its own (a pool of one, from the store's options), so
    /// that it never takes one of the application's connections.
    async fn listen(pool: &sqlx::PgPool) -> Result<(PgListener, sqlx::PgPool), sqlx::Error> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(HEARTBEAT * 5)
            .connect_with(
                (*pool.connect_options())
                    .clone()
                    .application_name(APPLICATION_NAME),
            )
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        // A lost connection is reported at once (the cache is bypassed), and re-established
        // by `run`.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok((listener, own))
    }

    /// The triggers that exist, and a heartbeat sent through the listener's own connection.
    async fn check(listener: &mut PgListener, beat: u64) -> Result<Vec<&'static str>, sqlx::Error> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT tgname::text FROM pg_trigger WHERE tgname LIKE 'tokenauth\\_%'",
        )
        .fetch_all(&mut *listener)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("?{beat}"))
            .execute(&mut *listener)
            .await?;
        Ok(watched(&names))
    }

    /// Applies notifications until the connection fails or stops answering (returns why),
    /// or the cache or the pool is gone (returns `None`).
    async fn serve(
        cache: &Weak<AuthCache>,
        pool: &sqlx::PgPool,
        mut listener: PgListener,
        backoff: &mut Duration,
    ) -> Option<String> {
        let store_pool = Pool::Postgres(pool.clone());
        let mut beat: u64 = 0;
        // The heartbeat sent and not yet back: its number, when it was sent, and the tables
        // its check found.
        let mut outstanding: Option<(u64, tokio::time::Instant, Vec<&'static str>)> = None;
        let mut next_check = tokio::time::Instant::now();
        let mut up = false;
        loop {
            let now = tokio::time::Instant::now();
            if outstanding.is_none() && now >= next_check {
                beat += 1;
                match tokio::time::timeout(HEARTBEAT, check(&mut listener, beat)).await {
                    Ok(Ok(tables)) => outstanding = Some((beat, now, tables)),
                    Ok(Err(error)) => return Some(error.to_string()),
                    Err(_) => return Some("the feed's connection stopped answering".into()),
                }
            }
            let deadline = match &outstanding {
                Some((_, sent, _)) => *sent + HEARTBEAT,
                None => next_check,
            };
            let received = tokio::time::timeout_at(deadline, listener.try_recv()).await;
            let cache = cache.upgrade()?;
            if pool.is_closed() {
                return None;
            }
            match received {
                Ok(Ok(Some(notification))) => {
                    let payload = notification.payload();
                    match payload.strip_prefix('?') {
                        Some(number) => {
                            let back = outstanding.take_if(|(sent, _, _)| {
                                number.parse::<u64>().is_ok_and(|number| number == *sent)
                            });
                            if let Some((_, _, tables)) = back {
                                next_check = tokio::time::Instant::now() + HEARTBEAT;
                                cache.set_watched(tables);
                                if !up {
                                    // Listening, and notifications arrive: what was read
                                    // before is forgotten, what is read from now on is kept.
                                    cache.feed_up();
                                    up = true;
                                    *backoff = MIN_BACKOFF;
                                }
                            }
                        }
                        None => apply(&cache, &store_pool, payload),
                    }
                }
                Ok(Ok(None)) => return Some("the feed's connection dropped".into()),
                Ok(Err(error)) => return Some(error.to_string()),
                Err(_) if outstanding.is_some() => {
                    return Some(format!(
                        "a heartbeat did not come back within {} ms",
                        HEARTBEAT.as_millis()
                    ));
                }
                Err(_) => {} // time for the next heartbeat
            }
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};

    /// Reads the log until the cache is dropped or the pool closed; the cache is bypassed
    /// while the log cannot be read.
    pub(super) async fn run(cache: Weak<AuthCache>, pool: sqlx::SqlitePool) {
        let _down_on_exit = DownOnExit(cache.clone());
        let mut backoff = MIN_BACKOFF;
        loop {
            if cache.strong_count() == 0 || pool.is_closed() {
                return;
            }
            let error = match pool.connect_options().connect().await {
                Ok(mut connection) => {
                    let error = poll(&cache, &pool, &mut connection, &mut backoff).await;
                    let _ = connection.close().await;
                    error
                }
                Err(error) => Some(error),
            };
            if let Some(cache) = cache.upgrade() {
                cache.feed_down();
            }
            let Some(error) = error else {
                return; // the cache or the pool is gone
            };
            tracing::warn!(
                %error,
                "tokenauth: the change feed cannot read the change log; authentications are not cached until it can"
            );
            back_off(&mut backoff).await;
        }
    }

    /// The watched tables: those whose triggers exist.
    async fn triggers(connection: &mut SqliteConnection) -> Result<Vec<&'static str>, sqlx::Error> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                .fetch_all(&mut *connection)
                .await?;
        Ok(watched(&names))
    }

    /// Reads the log on `connection`; returns the error that stopped it, or `None` when the
    /// cache or the pool is gone.
    async fn poll(
        cache: &Weak<AuthCache>,
        pool: &sqlx::SqlitePool,
        connection: &mut SqliteConnection,
        backoff: &mut Duration,
    ) -> Option<sqlx::Error> {
        let store_pool = Pool::Sqlite(pool.clone());
        let mut seen: i64 =
            match sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM tokenauth_changes")
                .fetch_one(&mut *connection)
                .await
            {
                Ok(seen) => seen,
                Err(error) => return Some(error),
            };
        let tables = match triggers(connection).await {
            Ok(tables) => tables,
            Err(error) => return Some(error),
        };
        match cache.upgrade() {
            Some(cache) => {
                cache.set_watched(tables);
                cache.feed_up();
            }
            None => return None,
        }
        *backoff = MIN_BACKOFF;
        let mut last_read = tokio::time::Instant::now();
        let mut last_chores = last_read;
        let mut ticks = tokio::time::interval(SQLITE_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let cache = cache.upgrade()?;
            if pool.is_closed() {
                return None;
            }
            if last_read.elapsed() > SQLITE_LOG_KEEPS / 2 {
                // Stalled (a suspended process?): changes may have been pruned unread.
                return Some(sqlx::Error::Protocol(
                    "the change log was not read for minutes".into(),
                ));
            }
            let rows: Vec<(i64, Option<String>, Option<String>)> = match sqlx::query_as(
                "SELECT seq, tokens_table, key_digest FROM tokenauth_changes \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(seen)
            .bind(SQLITE_BATCH)
            .fetch_all(&mut *connection)
            .await
            {
                Ok(rows) => rows,
                Err(error) => return Some(error),
            };
            last_read = tokio::time::Instant::now();
            if i64::try_from(rows.len()).is_ok_and(|n| n >= SQLITE_BATCH) {
                // An import, or a mass revocation: forget everything, skip to the end.
                match sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM tokenauth_changes")
                    .fetch_one(&mut *connection)
                    .await
                {
                    Ok(end) => seen = end,
                    Err(error) => return Some(error),
                }
                cache.forget();
                continue;
            }
            for (seq, table, digest) in rows {
                seen = seq;
                match (table, digest) {
                    (Some(table), Some(digest)) => {
                        added_elsewhere(&cache, &store_pool, &table, &digest)
                    }
                    _ => cache.changed(),
                }
            }
            if last_chores.elapsed() > Duration::from_secs(60) {
                last_chores = tokio::time::Instant::now();
                match triggers(connection).await {
                    Ok(tables) => cache.set_watched(tables),
                    Err(error) => return Some(error),
                }
                prune(connection).await;
            }
        }
    }

    /// Deletes log rows older than [`SQLITE_LOG_KEEPS`], if the database is free at once:
    /// best effort, never holding up the reads.
    async fn prune(connection: &mut SqliteConnection) {
        let cutoff = SQLITE_LOG_KEEPS.as_secs_f64() / 86_400.0;
        let result = async {
            sqlx::query("PRAGMA busy_timeout = 0")
                .execute(&mut *connection)
                .await?;
            let deleted =
                sqlx::query("DELETE FROM tokenauth_changes WHERE at < julianday('now') - $1")
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
}
