//! The change feed: how a store learns of changes made elsewhere — another instance, the CLI
//! in another process, plain SQL — to what its cached authentications and live-key filters
//! hold. The migrations `change_feed` add triggers that report every change that may revoke
//! or narrow what a key grants, and every added key:
//!
//! - PostgreSQL: `NOTIFY tokenauth` when the changing transaction commits, received by a
//!   `LISTEN` on a connection of the store's pool. If that connection drops, the cache is
//!   flushed and bypassed (and the filters dropped) until it is listening again.
//! - SQLite: a log table written in the changing transaction, read by a connection of its
//!   own every [`SQLITE_POLL`] (after `PRAGMA data_version` says something was committed).
//!   A change committed by another process is therefore seen within [`SQLITE_POLL`] plus one
//!   read; if reading fails, the cache is bypassed until it works again.
//!
//! Payloads (PostgreSQL `NOTIFY`, and the SQLite log's rows): `-` (a NULL digest) — forget
//! cached authentications; `+<table> <digest>` — a key was added; `*<table>` — many keys
//! were added: build the table's filter again.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use super::cache::{AuthCache, Filter, Verdict};
use super::{Pool, Store};
use crate::KeyDigest;

/// How often a SQLite store looks for changes made by other connections.
pub(crate) const SQLITE_POLL: Duration = Duration::from_millis(5);

/// The longest wait between two attempts to bring the feed back up.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The PostgreSQL channel of the triggers.
#[cfg(feature = "postgres")]
const CHANNEL: &str = "tokenauth";

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
    /// Starts the change feed, once per cache (and again if its runtime went away).
    pub(crate) fn start_feed(&self, cache: &Arc<AuthCache>) {
        let mut feed = cache.feed.lock().unwrap_or_else(PoisonError::into_inner);
        if feed.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the cache stays bypassed
        };
        let weak = Arc::downgrade(cache);
        *feed = Some(match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => runtime.spawn(sqlite::run(weak, pool.clone())),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => runtime.spawn(postgres::run(weak, pool.clone())),
        });
    }

    /// What the live-key filter of `table` says about `digest`; builds the filter in the
    /// background when there is none.
    pub(crate) fn live_key(
        &self,
        cache: &Arc<AuthCache>,
        table: &'static str,
        digest: &KeyDigest,
    ) -> Verdict {
        let verdict = cache.keys().check(table, digest);
        if verdict == Verdict::Unknown && cache.feed_is_up() {
            self.build_filter(cache, table);
        }
        verdict
    }

    /// Builds the filter of `table` in the background, unless one is being built.
    fn build_filter(&self, cache: &Arc<AuthCache>, table: &'static str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (cache, pool) = (Arc::downgrade(cache), self.pool.clone());
        runtime.spawn(async move {
            let Some(strong) = cache.upgrade() else {
                return;
            };
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
            let live = match live {
                Ok(live) => u64::try_from(live).unwrap_or(0),
                Err(error) => {
                    tracing::warn!(%error, table, "tokenauth: could not build the live-key filter");
                    return;
                }
            };
            // Registered before the table is read: keys added meanwhile go into it too.
            let Some(filter) = strong.keys().begin(table, live) else {
                return; // being built
            };
            drop(strong);
            match fill(&pool, table, &filter).await {
                Ok(()) => {
                    if let Some(cache) = cache.upgrade() {
                        tracing::debug!(
                            table,
                            bytes = filter.bytes(),
                            "tokenauth: live-key filter built"
                        );
                        cache.keys().finish(table, &filter);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, table, "tokenauth: could not build the live-key filter");
                    if let Some(cache) = cache.upgrade() {
                        cache.keys().abandon(table, &filter);
                    }
                }
            }
        });
    }

    /// A key was added through this store: in the filter before the adding call returns.
    pub(crate) fn key_added(&self, table: &str, digest: &KeyDigest) {
        if let Some(cache) = &self.cache
            && cache.keys().add(table, digest.as_str())
        {
            cache.keys().forget(table); // full: built again, bigger
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
    /// this one — reach the cache through the change feed: within milliseconds (see the
    /// README's "Caching" section). Call this after changing tokenauth's tables with SQL in
    /// this process when the very next request must see the change.
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

/// Reads every digest of `table` into `filter`, a page at a time.
async fn fill(pool: &Pool, table: &str, filter: &Filter) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT key_digest FROM {table} WHERE key_digest > $1 ORDER BY key_digest LIMIT {FILTER_PAGE}"
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
        let full = page.len() == FILTER_PAGE as usize;
        match page.into_iter().last() {
            Some(last) if full => after = last,
            _ => return Ok(()),
        }
    }
}

/// Applies one change (a payload of the [module](self)'s format).
fn apply(cache: &AuthCache, payload: &str) {
    if payload == "-" {
        cache.changed();
    } else if let Some(added) = payload.strip_prefix('+') {
        if let Some((table, digest)) = added.split_once(' ')
            && cache.keys().add(table, digest)
        {
            cache.keys().forget(table);
        }
    } else if let Some(table) = payload.strip_prefix('*') {
        cache.keys().forget(table);
    }
}

/// Waits before the next attempt to bring the feed up, doubling the wait up to [`MAX_BACKOFF`].
async fn back_off(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use sqlx::postgres::PgListener;

    /// Listens until the cache is dropped (or the pool closed), reconnecting when the
    /// connection drops; the cache is bypassed while it is not listening.
    pub(super) async fn run(cache: Weak<AuthCache>, pool: sqlx::PgPool) {
        let mut backoff = MIN_BACKOFF;
        loop {
            if cache.strong_count() == 0 || pool.is_closed() {
                return;
            }
            let mut listener = match listen(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "tokenauth: the change feed cannot listen; the authentication cache is bypassed");
                    back_off(&mut backoff).await;
                    continue;
                }
            };
            backoff = MIN_BACKOFF;
            match cache.upgrade() {
                Some(cache) => cache.feed_up(),
                None => return,
            }
            let error = loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => match cache.upgrade() {
                        Some(cache) => apply(&cache, notification.payload()),
                        None => return,
                    },
                    Ok(None) => break None,
                    Err(error) => break Some(error),
                }
            };
            if let Some(cache) = cache.upgrade() {
                cache.feed_down();
            }
            if pool.is_closed() {
                return;
            }
            match error {
                Some(error) => {
                    tracing::warn!(%error, "tokenauth: the change feed failed; the authentication cache is bypassed until it is back")
                }
                None => tracing::warn!(
                    "tokenauth: the change feed's connection dropped; the authentication cache is bypassed until it is back"
                ),
            }
            back_off(&mut backoff).await;
        }
    }

    async fn listen(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        // A lost connection is reported at once (the cache is bypassed), and re-established
        // here, by `run`.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};

    /// Polls the log until the cache is dropped (or the pool closed); the cache is bypassed
    /// while the log cannot be read.
    pub(super) async fn run(cache: Weak<AuthCache>, pool: sqlx::SqlitePool) {
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
            tracing::warn!(%error, "tokenauth: the change feed cannot read the change log; the authentication cache is bypassed until it can");
            back_off(&mut backoff).await;
        }
    }

    /// Polls on `connection`; returns the error that stopped it, or `None` when the cache or
    /// the pool is gone.
    async fn poll(
        cache: &Weak<AuthCache>,
        pool: &sqlx::SqlitePool,
        connection: &mut SqliteConnection,
        backoff: &mut Duration,
    ) -> Option<sqlx::Error> {
        // An in-memory database is shared by the pool's connections in one cache, where
        // `data_version` does not move: read the log every time.
        let in_memory = pool
            .connect_options()
            .get_filename()
            .to_string_lossy()
            .contains("memory");
        let mut seen: i64 =
            match sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM tokenauth_changes")
                .fetch_one(&mut *connection)
                .await
            {
                Ok(seen) => seen,
                Err(error) => return Some(error),
            };
        let mut version: Option<i64> = None;
        match cache.upgrade() {
            Some(cache) => cache.feed_up(),
            None => return None,
        }
        *backoff = MIN_BACKOFF;
        let mut last_read = tokio::time::Instant::now();
        let mut last_prune = last_read;
        let mut ticks = tokio::time::interval(SQLITE_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(cache) = cache.upgrade() else {
                return None;
            };
            if pool.is_closed() {
                return None;
            }
            if last_read.elapsed() > SQLITE_LOG_KEEPS / 2 {
                // Stalled (a suspended process?): changes may have been pruned unread.
                return Some(sqlx::Error::Protocol(
                    "the change log was not read for minutes".into(),
                ));
            }
            if !in_memory {
                let now: i64 = match sqlx::query_scalar("PRAGMA data_version")
                    .fetch_one(&mut *connection)
                    .await
                {
                    Ok(now) => now,
                    Err(error) => return Some(error),
                };
                if version == Some(now) {
                    last_read = tokio::time::Instant::now();
                    continue;
                }
                version = Some(now);
            }
            let rows: Vec<(i64, Option<String>, Option<String>)> = match sqlx::query_as(
                "SELECT seq, tokens_table, key_digest FROM tokenauth_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
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
                version = None; // read again: more may have come
                continue;
            }
            for (seq, table, digest) in rows {
                seen = seq;
                match (table, digest) {
                    (Some(table), Some(digest)) => {
                        if cache.keys().add(&table, &digest) {
                            cache.keys().forget(&table);
                        }
                    }
                    _ => cache.changed(),
                }
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = tokio::time::Instant::now();
                let cutoff = SQLITE_LOG_KEEPS.as_secs_f64() / 86_400.0;
                if let Err(error) =
                    sqlx::query("DELETE FROM tokenauth_changes WHERE at < julianday('now') - $1")
                        .bind(cutoff)
                        .execute(&mut *connection)
                        .await
                {
                    tracing::debug!(%error, "tokenauth: could not prune the change log");
                }
            }
        }
    }
}
