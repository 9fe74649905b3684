//! The throttle's state in PostgreSQL (`tokenauth_login_attempts`), shared by every
//! application instance on the database, so that instances behind a load balancer do not
//! each grant an attacker the limit.
//!
//! A reservation is one transaction: take a transaction-scoped advisory lock per subject (in
//! a fixed order), count the subject's live attempts, and insert one row per subject only if
//! every count is under its limit. The locks are *tried*, never waited for: a contended
//! reservation gives its connection back and retries shortly, so a flood of attempts for one
//! subject cannot park the pool's connections on a lock. Denials are remembered in process
//! memory until they expire, so repeated attempts for a blocked subject cost no query.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Limit, Subject};
use crate::Error;

/// The advisory lock class of tokenauth's throttle (`pg_advisory_xact_lock(class, key)`):
/// "tkau".
const LOCK_CLASS: i32 = 0x746b_6175;

/// How often one instance deletes every expired attempt.
const SWEEP_EVERY_SECONDS: i64 = 60;

/// How many times a reservation tries the locks before answering `429` (about a second).
const LOCK_TRIES: u32 = 40;

/// Denied subjects remembered at most (a cache: when full it is emptied).
const DENIED_CAPACITY: usize = 10_000;

/// This instance's share of the throttle: when it last swept expired attempts, and which
/// subjects it knows to be over their limit until when.
#[derive(Debug, Default)]
pub(super) struct Shared {
    last_sweep: AtomicI64,
    denied: Mutex<HashMap<Subject, Instant>>,
}

impl Shared {
    /// Reserves one attempt per subject: `Ok(Ok(rows))` with the inserted row ids, or
    /// `Ok(Err(wait))` when a subject is at its limit (nothing inserted).
    pub(super) async fn reserve(
        &self,
        pool: &PgPool,
        subjects: &[(Subject, Limit)],
    ) -> Result<Result<Vec<i64>, Duration>, Error> {
        if let Some(wait) = self.denied_for(subjects, Instant::now()) {
            return Ok(Err(wait));
        }
        self.maybe_sweep(pool, Utc::now()).await;
        let mut ordered: Vec<&(Subject, Limit)> = subjects.iter().collect();
        ordered.sort_by_key(|(subject, _)| *subject);
        for attempt in 0..LOCK_TRIES {
            if attempt > 0 {
                // Jittered, so that contenders do not retry in step.
                let jitter = u64::from(attempt * 7 % 13);
                tokio::time::sleep(Duration::from_millis(10 + jitter)).await;
            }
            match try_reserve(pool, &ordered, Utc::now()).await? {
                None => continue,
                Some(Ok(rows)) => return Ok(Ok(rows)),
                Some(Err(over)) => {
                    self.remember_denied(&over);
                    let wait = over.iter().map(|(_, wait)| *wait).max();
                    return Ok(Err(wait.unwrap_or(Duration::from_secs(1))));
                }
            }
        }
        Ok(Err(Duration::from_secs(1))) // this subject is under heavy contention
    }

    fn denied_for(&self, subjects: &[(Subject, Limit)], now: Instant) -> Option<Duration> {
        let denied = self
            .denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subjects
            .iter()
            .filter_map(|(subject, _)| denied.get(subject))
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    /// Remembers the subjects found over their limits, each until its wait ends.
    fn remember_denied(&self, over: &[(Subject, Duration)]) {
        let now = Instant::now();
        let mut denied = self
            .denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if denied.len() >= DENIED_CAPACITY {
            denied.retain(|_, until| *until > now);
            if denied.len() >= DENIED_CAPACITY {
                denied.clear();
            }
        }
        for (subject, wait) in over {
            if let Some(until) = now.checked_add(*wait) {
                denied.insert(*subject, until);
            }
        }
    }

    /// Deletes expired attempts, at most once a minute per instance (a failure only delays
    /// the cleanup: live counts never include expired rows).
    async fn maybe_sweep(&self, pool: &PgPool, now: DateTime<Utc>) {
        let second = now.timestamp();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if second - last < SWEEP_EVERY_SECONDS
            || self
                .last_sweep
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let swept = sqlx::query("DELETE FROM tokenauth_login_attempts WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await;
        if let Err(error) = swept {
            tracing::warn!(%error, "tokenauth: could not delete expired login attempts");
        }
    }
}

/// One try: `None` if another reservation holds a subject's lock (nothing was done);
/// `Some(Err(over))` with the subjects over their limits and how long each must wait.
async fn try_reserve(
    pool: &PgPool,
    ordered: &[&(Subject, Limit)],
    now: DateTime<Utc>,
) -> Result<Option<Result<Vec<i64>, Vec<(Subject, Duration)>>>, Error> {
    let mut tx = pool.begin().await?;
    for (subject, _) in ordered {
        let bytes = subject.as_bytes();
        let key = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            tx.rollback().await?; // gives the connection back, releases any lock taken
            return Ok(None);
        }
    }
    let mut over = Vec::new();
    for (subject, limit) in ordered {
        let (live, first_expiry): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT count(*), min(expires_at) FROM tokenauth_login_attempts \
             WHERE subject = $1 AND expires_at > $2",
        )
        .bind(&subject.as_bytes()[..])
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(live).unwrap_or(usize::MAX) >= limit.failures {
            let retry = first_expiry
                .and_then(|at| (at - now).to_std().ok())
                .unwrap_or(Duration::from_secs(1));
            over.push((*subject, retry));
        }
    }
    if !over.is_empty() {
        tx.rollback().await?; // inserts nothing, releases the locks
        return Ok(Some(Err(over)));
    }
    let mut rows = Vec::with_capacity(ordered.len());
    for (subject, limit) in ordered {
        let window = chrono::Duration::from_std(limit.window).unwrap_or(crate::MAX_LIFETIME);
        let expires_at = now
            .checked_add_signed(window.min(crate::MAX_LIFETIME))
            .unwrap_or(now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokenauth_login_attempts (subject, attempted_at, expires_at) \
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(&subject.as_bytes()[..])
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        rows.push(id);
    }
    tx.commit().await?;
    Ok(Some(Ok(rows)))
}

/// Deletes a reservation's rows and, after a successful login, every attempt of `forget`.
pub(super) async fn finish(
    pool: &PgPool,
    rows: &[i64],
    forget: Option<Subject>,
) -> Result<(), Error> {
    let forget = forget.map(|subject| subject.as_bytes().to_vec());
    sqlx::query("DELETE FROM tokenauth_login_attempts WHERE id = ANY($1) OR subject = $2")
        .bind(rows)
        .bind(forget)
        .execute(pool)
        .await?;
    Ok(())
}
