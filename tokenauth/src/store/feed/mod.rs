//! The change feed: how a store learns of changes made elsewhere — another instance, the CLI
//! in another process, plain SQL, Django — to what its cached authentications and live-key
//! filters hold, and how it proves that it has not missed one.
//!
//! The migrations add triggers that record, in the changing transaction, every change that
//! may revoke or narrow what a key grants, and every added key, in a log table that only
//! tokenauth's role can write (`tokenauth_changes`). Each store reads the log on a
//! connection of its own, outside its pool:
//!
//! - PostgreSQL ([`postgres`]): at least every [`postgres::POLL`], and at once (within a few
//!   milliseconds) when tokenauth itself commits a change anywhere — its writes send a
//!   NOTIFY *hint* after their commit, best effort, which carries nothing. Every
//!   [`postgres::HEARTBEAT`] the feed sends a heartbeat through the very triggers that
//!   report changes (statements that change no row fire them), and renews the cache's lease
//!   only when the log shows that every one of them reported it; it also watches the
//!   catalog for triggers altered, disabled or replaced.
//! - SQLite ([`sqlite`]): `PRAGMA data_version` tells, at no cost, whether any other
//!   connection committed since the last look, every few milliseconds after a change and
//!   backing off to [`sqlite::MAX_POLL`] while nothing changes; the log is read only then,
//!   and must continue without a gap from the last row read (a log cleared, pruned unread or
//!   reset, or an older database restored, makes the store forget everything).
//!
//! Each proof renews the cache's lease ([`AuthCache::renew`]): while a feed cannot prove, the
//! lease runs out within [`REVOCATION_BOUND`](super::cache::REVOCATION_BOUND) and every
//! authentication reads the database; the next proof forgets everything first.
//!
//! What it watches is not listed here: tokenauth's own tables
//! ([`TOKENAUTH`](super::watch::TOKENAUTH)), and the groups ([`Watch`](super::watch::Watch))
//! named by the cacheable user types that the store has authenticated, registered with its
//! cache ([`AuthCache::watch`]) and read again at every heartbeat.

#[cfg(feature = "postgres")]
pub(super) mod postgres;
#[cfg(feature = "sqlite")]
pub(super) mod sqlite;

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use super::Store;
use super::backend::{Pool, on_backend};
use super::cache::{AuthCache, FeedWork};
use super::filter::{Filter, Verdict};
use crate::key::RawDigest;

#[cfg(feature = "postgres")]
pub(crate) use postgres::{Hints, PRUNE};

/// How a backend's feed follows the log: implemented for each backend's pool, beside its
/// transport (`sqlite`, `postgres`).
trait Transport {
    /// Follows the log until the cache is dropped or the pool closed (see [`follow`]).
    fn follow(self, cache: Weak<AuthCache>) -> impl Future<Output = ()> + Send + 'static;
}

/// The longest wait between two attempts to bring the feed back up.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// Digests read per query while building a filter.
const FILTER_PAGE: i64 = 10_000;

impl Store {
    /// Starts the change feed, once per cache (and again if its task ended).
    pub(crate) fn start_feed(&self, cache: &Arc<AuthCache>) {
        if cache.feed_running.load(Ordering::Acquire) {
            return; // the common case, without the lock
        }
        let mut feed = cache.feed.lock().unwrap_or_else(PoisonError::into_inner);
        if feed.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the cache stays bypassed
        };
        // Set before the task can end and clear it (see `LapseOnExit`).
        cache.feed_running.store(true, Ordering::Release);
        let weak = Arc::downgrade(cache);
        *feed = Some(on_backend!(&self.pool, Pool(pool) => {
            runtime.spawn(Transport::follow(pool.clone(), weak))
        }));
    }

    /// What the live-key filter of `table` says about `digest`; builds the filter in the
    /// background when there is none or it is stale. While the cache does not serve the
    /// table, nothing is known.
    pub(crate) fn live_key(
        &self,
        cache: &Arc<AuthCache>,
        table: &'static str,
        digest: &RawDigest,
    ) -> Verdict {
        if !cache.serves(table) {
            return Verdict::Unknown;
        }
        let (verdict, build) = cache.keys().check(table, digest);
        if build {
            build_filter(cache, &self.pool, table);
        }
        verdict
    }

    /// A key was added through this store: in the filter before the adding call returns
    /// (see [`Store::changed`]).
    pub(crate) fn key_added(&self, table: &'static str, digest: &crate::key::KeyDigest) {
        if let Some(cache) = &self.cache
            && let Some(raw) = RawDigest::from_hex(digest.as_str())
            && cache.key_added(table, &raw)
        {
            build_filter(cache, &self.pool, table); // full: built again, bigger
        }
    }

    /// A query found a key that the filter of `table` did not hold (made elsewhere, and not
    /// yet read from the log): into the filter.
    pub(crate) fn learned_key(&self, cache: &Arc<AuthCache>, table: &'static str, raw: &RawDigest) {
        if cache.keys().add_raw(table, raw) {
            build_filter(cache, &self.pool, table); // full: built again, bigger
        }
    }

    /// Many keys were added through this store (an import): the filter is built again (see
    /// [`Store::changed`]).
    pub(crate) fn keys_added(&self, table: &str) {
        if let Some(cache) = &self.cache {
            cache.keys_added_in_bulk(table);
        }
    }

    /// Tells the other instances to read the log now (PostgreSQL: a NOTIFY sent after this
    /// store's commit, in the background; nothing waits for it or fails with it). SQLite
    /// stores notice at their next look at `data_version`.
    pub(crate) fn hint_others(&self) {
        #[cfg(feature = "postgres")]
        if let Some(pool) = self.postgres_pool() {
            self.hints.send(pool);
        }
    }

    /// Forgets every cached authentication and live-key filter, at once.
    ///
    /// Changes made with SQL outside tokenauth — by another process, another instance, or
    /// this one — reach the cache through the change feed within its bound (see
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

/// Builds the filter of `table` in the background, unless a build is claimed or under way, or
/// the last one started too recently (see [`super::filter::BUILD_INTERVAL`]).
fn build_filter(cache: &Arc<AuthCache>, pool: &Pool, table: &'static str) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let Some(claim) = cache.keys().claim(table) else {
        return; // being built, or built a moment ago
    };
    FeedWork::count(&cache.work().builds);
    let (weak, pool) = (Arc::downgrade(cache), pool.clone());
    runtime.spawn(async move {
        let count = format!("SELECT count(*) FROM {table}");
        let live: Result<i64, sqlx::Error> = on_backend!(&pool, Pool(p) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .fetch_one(p)
                .await
        });
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
            return; // forgotten meanwhile (the feed lost its proof, or an import)
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
    // The keys, then the previous keys of tokens rolled with a grace period, which are
    // accepted too until their grace ends (a `NULL` is never `> $1`).
    for column in ["key_digest", "previous_key_digest"] {
        fill_column(pool, cache, table, column, filter).await?;
    }
    Ok(())
}

/// Reads every digest in `column` of `table` into `filter` (see [`fill`]).
async fn fill_column(
    pool: &Pool,
    cache: &Weak<AuthCache>,
    table: &str,
    column: &str,
    filter: &Arc<Filter>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SELECT {column} FROM {table} WHERE {column} > $1 \
         ORDER BY {column} LIMIT {FILTER_PAGE}"
    );
    let mut after = String::new();
    loop {
        let page: Vec<String> = on_backend!(pool, Pool(p) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&after)
                .fetch_all(p)
                .await?
        });
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

/// A key added to `table` by someone else, as the log reports it: into its filter (if the
/// table is the tokens table of a group registered with the cache; the name comes from the
/// database and is never used as SQL unless it is one), and no longer known absent.
fn added_elsewhere(cache: &Arc<AuthCache>, pool: &Pool, table: &str, digest: &str) {
    if let Some(table) = cache.tokens_table(table)
        && let Some(raw) = RawDigest::from_hex(digest)
        && cache.key_added(table, &raw)
    {
        build_filter(cache, pool, table); // full: built again, bigger
    }
}

/// Withdraws the cache's leases when the feed's task ends, however it ends (an error, a
/// panic, an abort, its runtime shutting down), and lets the next request start another.
struct LapseOnExit(Weak<AuthCache>);

impl Drop for LapseOnExit {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            cache.lapse_all();
            cache.feed_running.store(false, Ordering::Release);
        }
    }
}

/// What carries over from one session of a feed to the next: the wait before the next
/// attempt (back to [`MIN_BACKOFF`] once a session proves), and what was reported.
struct Attempts {
    backoff: Duration,
    reporter: Reporter,
}

/// Runs `session` — a connection's following of the log, which returns why it ended (`None`:
/// the cache or the store is gone) — again and again, backing off between failures, until the
/// cache is dropped or `closed()`. Whatever ends a session lapses the cache's leases: the next
/// session starts from a new point of the log.
async fn follow<S, F>(cache: &Weak<AuthCache>, closed: impl Fn() -> bool, mut session: S)
where
    S: FnMut(Attempts) -> F,
    F: Future<Output = (Attempts, Option<String>)>,
{
    let _lapse = LapseOnExit(cache.clone());
    let mut attempts = Attempts {
        backoff: MIN_BACKOFF,
        reporter: Reporter::default(),
    };
    loop {
        if cache.strong_count() == 0 || closed() {
            return;
        }
        let (back, problem) = session(attempts).await;
        attempts = back;
        if let Some(cache) = cache.upgrade() {
            cache.lapse_all();
        }
        let Some(problem) = problem else {
            return; // the cache or the pool is gone
        };
        attempts.reporter.down(&problem);
        back_off(&mut attempts.backoff).await;
    }
}

/// Waits before the next attempt to bring the feed up, doubling the wait up to [`MAX_BACKOFF`].
async fn back_off(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

/// Reports the feed's problems in the log: the first at once, a repeat of the same at most
/// once a minute (a database that stays down must not fill the log).
#[derive(Default)]
struct Reporter {
    last: Option<(String, tokio::time::Instant)>,
}

impl Reporter {
    fn down(&mut self, problem: &str) {
        let now = tokio::time::Instant::now();
        let repeat = self.last.as_ref().is_some_and(|(last, at)| {
            last == problem && now.duration_since(*at) < Duration::from_secs(60)
        });
        if !repeat {
            tracing::warn!(
                problem,
                "tokenauth: the change feed cannot prove that it sees every change; \
                 authentications are read from the database until it can"
            );
            if self.last.is_none() {
                crate::telemetry::system(crate::telemetry::Event::FeedDown, Some(problem));
            }
            self.last = Some((problem.to_owned(), now));
        }
    }

    fn up(&mut self) {
        if self.last.take().is_some() {
            tracing::info!("tokenauth: the change feed is back; authentications are cached again");
            crate::telemetry::system(crate::telemetry::Event::FeedUp, None);
        }
    }
}
