//! Token use (`last_used_at`, sliding expiry) written off the request path: an authentication
//! only records what is due in memory, coalesced per token; a background task writes it every
//! [`FLUSH_INTERVAL`], in one transaction, and [`Store::flush_usage`] / [`Store::close`] write
//! what is pending at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Store;
use super::backend::{Pool, on_backend};
use crate::error::Error;

/// How often pending use is written.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What is due for one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    /// The latest use, and the time before which a stored last use is stale (the use minus
    /// the policy's interval): a stored one after it is not overwritten, so that whatever
    /// the instances and races, a token is written at most once per interval.
    last_used: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// A sliding refresh: from the expiry it was computed from, to the latest target.
    refresh: Option<(Option<DateTime<Utc>>, DateTime<Utc>)>,
}

/// Tokens by table, then id.
type Queue = HashMap<(&'static str, i64), Pending>;

/// The pending writes of one store (and its clones).
#[derive(Default)]
pub(crate) struct Usage {
    queue: Mutex<Queue>,
    /// The background writer, started with the first pending write (again if its runtime
    /// went away).
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held while a batch is taken and written: a flush returns only once what was pending
    /// when it was called — including a batch the writer had already taken — is stored.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage").finish_non_exhaustive()
    }
}

impl Usage {
    fn take(&self) -> Queue {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Store {
    /// Records a use of token `id` of `table`, to be written within [`FLUSH_INTERVAL`]:
    /// `last_used` with its staleness cutoff (written only over a last use before the
    /// cutoff) and a sliding refresh from `from` to `to` (written only if the token's expiry
    /// is still `from`, so an expiry changed meanwhile wins).
    pub(crate) fn record_use(
        &self,
        table: &'static str,
        id: i64,
        last_used: Option<(DateTime<Utc>, DateTime<Utc>)>,
        refresh: Option<(Option<DateTime<Utc>>, DateTime<Utc>)>,
    ) {
        {
            let mut queue = self
                .usage
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let pending = queue.entry((table, id)).or_insert(Pending {
                last_used: None,
                refresh: None,
            });
            pending.last_used = pending.last_used.max(last_used);
            pending.refresh = match (pending.refresh, refresh) {
                // Refreshes computed before a flush all start from the stored expiry.
                (Some((from, old)), Some((_, new))) => Some((from, old.max(new))),
                (old, new) => old.or(new),
            };
        }
        self.start_writer();
    }

    fn start_writer(&self) {
        let mut writer = self
            .usage
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if writer.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // written by the next flush_usage or close
        };
        let usage = Arc::downgrade(&self.usage);
        let pool = self.pool.clone();
        *writer = Some(runtime.spawn(write_periodically(usage, pool)));
    }

    /// Writes the pending records of token use (`last_used_at`, sliding expiry) now, instead
    /// of within the next second. [`Store::close`] does it too.
    ///
    /// # Errors
    /// A database error; the records are then dropped (a use is a hint, not a credential).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// use chrono::Duration;
    /// use tokenauth::{Policy, Store};
    ///
    /// let store = Store::connect("sqlite::memory:")
    ///     .await?
    ///     .with_policy(Policy::default().last_used_interval(Some(Duration::minutes(1))));
    /// store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// store.authenticate(key.expose_secret()).await.unwrap(); // no write on the request
    /// assert_eq!(store.tokens().list(alice.id).await?[0].last_used_at, None);
    /// store.flush_usage().await?;
    /// assert!(store.tokens().list(alice.id).await?[0].last_used_at.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn flush_usage(&self) -> Result<(), Error> {
        let _writing = self.usage.writing.lock().await;
        write(&self.pool, self.usage.take()).await
    }
}

/// The background writer: flushes every [`FLUSH_INTERVAL`] until the store is dropped.
async fn write_periodically(usage: Weak<Usage>, pool: Pool) {
    let first = tokio::time::Instant::now() + FLUSH_INTERVAL;
    let mut ticks = tokio::time::interval_at(first, FLUSH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(usage) = usage.upgrade() else {
            return;
        };
        let _writing = usage.writing.lock().await;
        let queue = usage.take();
        if queue.is_empty() {
            continue;
        }
        if let Err(error) = write(&pool, queue).await {
            tracing::warn!(%error, "tokenauth: could not record the use of tokens");
        }
    }
}

/// Writes `queue` in one transaction: one `UPDATE` per token.
async fn write(pool: &Pool, queue: Queue) -> Result<(), Error> {
    if queue.is_empty() {
        return Ok(());
    }
    // Not a `Write`: nothing that authentication refuses depends on it (a cached expiry that
    // a refresh extended is confirmed by a query before it refuses).
    let mut tx = pool.begin_write().await?;
    for ((table, id), pending) in &queue {
        let (from, to) = match pending.refresh {
            Some((from, to)) => (from, Some(to)),
            None => (None, None),
        };
        let (used, stale) = match pending.last_used {
            Some((used, stale)) => (Some(used), Some(stale)),
            None => (None, None),
        };
        // The last use only over a stale one (at most one write per interval, across
        // instances); the expiry only from where the refresh was computed (an expiry
        // changed meanwhile wins). A row with nothing to change is not written.
        let sql = format!(
            "UPDATE {table} SET \
             last_used_at = CASE WHEN {use_due} THEN $1 ELSE last_used_at END, \
             expires_at = CASE WHEN {refresh_due} THEN $2 ELSE expires_at END \
             WHERE id = $4 AND (({use_due}) OR ({refresh_due}))",
            use_due = "$1 IS NOT NULL AND (last_used_at IS NULL OR last_used_at <= $5)",
            refresh_due = "$2 IS NOT NULL \
                AND (expires_at = $3 OR (expires_at IS NULL AND $3 IS NULL))",
        );
        on_backend!(&mut tx, Tx(tx) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(used)
            .bind(to)
            .bind(from)
            .bind(*id)
            .bind(stale)
            .execute(&mut **tx)
            .await
            .map(drop))?;
    }
    tx.commit().await?;
    Ok(())
}
