//! What the store's authentication cache and change feed have done, for tests (tokenauth's
//! own suite and benchmarks). Not public API: hidden, and it may change in any release.

use std::sync::atomic::Ordering::Relaxed;

use super::Store;
use crate::key::RawDigest;

/// Whether the store's authentication cache is serving: its change feed is up (for tests,
/// which wait for it before counting queries).
pub fn cache_is_serving(store: &Store) -> bool {
    store
        .auth_cache()
        .is_some_and(|cache| cache.serves("tokenauth_tokens"))
}

/// Whether the live-key filter of `table` is built, serving and current (for tests).
pub fn live_key_filter_ready(store: &Store, table: &str) -> bool {
    store.auth_cache().is_some_and(|cache| {
        // Built, and not stale (no build wanted).
        !cache.keys().check(table, &RawDigest::of("")).1
    })
}

/// How many authentication queries the store (and its clones) has run since it got its
/// cache (for tests that check what the cache and the filter save).
pub fn authentication_queries(store: &Store) -> u64 {
    store.auth_cache().map_or(0, |cache| cache.stats().queries)
}

/// What the change feed of the store has done: `(looks, reads, builds)` — how often it
/// looked for changes (SQLite's `PRAGMA data_version`, PostgreSQL's heartbeats), read the
/// change log, and started building a live-key filter (for tests of what an idle or flooded
/// feed costs).
pub fn feed_work(store: &Store) -> (u64, u64, u64) {
    store.auth_cache().map_or((0, 0, 0), |cache| {
        let work = cache.work();
        (
            work.looks.load(Relaxed),
            work.reads.load(Relaxed),
            work.builds.load(Relaxed),
        )
    })
}

/// Prunes PostgreSQL's change log once, as every instance does each minute (for tests of
/// what pruning may delete).
#[cfg(feature = "postgres")]
pub async fn prune_change_log(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(super::feed::PRUNE)
        .execute(pool)
        .await
        .map(drop)
}
