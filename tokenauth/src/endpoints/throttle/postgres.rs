//! The throttle's state in PostgreSQL (`tokenauth_login_attempts`), shared by every
//! application instance on the database, so that instances behind a load balancer do not
//! each grant an attacker the limit.
//!
//! A reservation is one transaction: take a transaction-scoped advisory lock per subject (in
//! a fixed order, so two reservations never deadlock), count the subject's live attempts,
//! and insert one row per subject only if every count is under its limit.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Limit, Subject};
use crate::Error;

/// The advisory lock class of tokenauth's throttle (`pg_advisory_xact_lock(class, key)`):
/// "tkau".
const LOCK_CLASS: i32 = 0x746b_6175;

/// How often one instance deletes every expired attempt.
const SWEEP_EVERY_SECONDS: i64 = 60;

/// When this instance last deleted expired attempts.
#[derive(Debug, Default)]
pub(super) struct Sweeps {
    last: AtomicI64,
}

impl Sweeps {
    /// Deletes expired attempts, at most once a minute per instance (a failure only delays
    /// the cleanup: live counts never include expired rows).
    pub(super) async fn maybe_sweep(&self, pool: &PgPool, now: DateTime<Utc>) {
        let second = now.timestamp();
        let last = self.last.load(Ordering::Relaxed);
        if second - last < SWEEP_EVERY_SECONDS
            || self
                .last
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

/// Reserves one attempt per subject: `Ok(Ok(rows))` with the inserted row ids, or
/// `Ok(Err(wait))` when a subject is at its limit (nothing inserted).
pub(super) async fn reserve(
    pool: &PgPool,
    subjects: &[(Subject, Limit)],
    now: DateTime<Utc>,
) -> Result<Result<Vec<i64>, Duration>, Error> {
    let mut ordered: Vec<&(Subject, Limit)> = subjects.iter().collect();
    ordered.sort_by_key(|(subject, _)| *subject);
    let mut tx = pool.begin().await?;
    for (subject, _) in &ordered {
        let bytes = subject.as_bytes();
        let key = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    let mut wait: Option<Duration> = None;
    for (subject, limit) in &ordered {
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
            wait = wait.max(Some(retry));
        }
    }
    if let Some(wait) = wait {
        tx.rollback().await?; // inserts nothing, releases the locks
        return Ok(Err(wait));
    }
    let mut rows = Vec::with_capacity(ordered.len());
    for (subject, limit) in &ordered {
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
    Ok(Ok(rows))
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
