//! The throttle's state in PostgreSQL (`tokenauth_login_attempts`), shared by every
//! application instance on the database, so that instances behind a load balancer do not
//! each grant an attacker the limit.
//!
//! A row is one attempt against one subject. While its login is undecided the row is
//! *pending* (`pending_until` is set); a failure clears `pending_until`, making the row a
//! recorded failure until `expires_at`; a success or a server error deletes it. A pending row
//! whose `pending_until` has passed — its instance crashed, or lost the database, before the
//! verdict — counts as a failure.
//!
//! Every time is the database's: rows are stamped with `now()` and compared with `now()`, and
//! no instance sends a timestamp, so an instance whose clock is off can neither sweep the
//! others' live attempts nor miscount them. Nothing is remembered in the instance: each
//! reservation reads the shared table, so a subject is let in everywhere as soon as its
//! failures leave the table.
//!
//! A reservation first reads the counts without a lock (a refused or waiting login costs one
//! query and no lock). With room, it reserves in one transaction: take a transaction-scoped
//! advisory lock per subject (in a fixed order), count again, and insert one pending row per
//! subject only if every subject still has room. The locks are *tried*, never waited for: a
//! contended reservation gives its connection back and retries shortly, so a flood of
//! attempts for one subject cannot park the pool's connections on a lock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::types::PgInterval;

use super::{Count, Limit, Step, Subject, Verdict, judge};
use crate::error::Error;

/// The advisory lock class of tokenauth's throttle (`pg_advisory_xact_lock(class, key)`):
/// "tkau".
const LOCK_CLASS: i32 = 0x746b_6175;

/// How often one instance deletes every expired attempt.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How long a login may take past its wait for a password worker
/// ([`Policy::password_hashing`](crate::Policy::password_hashing)'s `max_wait`) before its
/// pending attempt counts as a failure: the password check itself and the login's queries,
/// each bounded by the pool's acquire timeout, with room to spare.
const PENDING_MARGIN: Duration = Duration::from_secs(60);

/// How long an attempt reserved through a store with this policy may stay pending: longer
/// than any login can take.
pub(super) fn pending_bound(policy: &crate::policy::Policy) -> Duration {
    policy
        .password_limits
        .max_wait
        .saturating_add(PENDING_MARGIN)
}

/// A duration as an `INTERVAL`, in whole microseconds, at most [`crate::rules::MAX_LIFETIME`].
fn interval(duration: Duration) -> PgInterval {
    let max = crate::rules::MAX_LIFETIME
        .num_microseconds()
        .unwrap_or(i64::MAX);
    let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
    PgInterval {
        months: 0,
        days: 0,
        microseconds: micros.min(max),
    }
}

/// This instance's share of the throttle: when it last swept expired attempts (a local clock
/// serves: it only spaces the sweeps; what is expired is the database's to say).
#[derive(Debug, Default)]
pub(super) struct Shared {
    last_sweep: Mutex<Option<Instant>>,
}

impl Shared {
    /// One look: `Granted` with the pending rows inserted (one per subject), `Denied` or
    /// `Busy` by the subjects' counts, or `Contended` when another reservation holds a lock.
    pub(super) async fn try_reserve(
        &self,
        pool: &PgPool,
        subjects: &[(Subject, Limit)],
        pending_for: Duration,
    ) -> Result<Step<Vec<i64>>, Error> {
        self.maybe_sweep(pool).await;
        // Refusals and waits cost one read and no lock.
        if let Some(refusal) = judge(counts(pool, subjects).await?) {
            return Ok(refusal);
        }
        let mut ordered: Vec<&(Subject, Limit)> = subjects.iter().collect();
        ordered.sort_by_key(|(subject, _)| *subject);
        let mut tx = pool.begin().await?;
        for (subject, _) in &ordered {
            let bytes = subject.as_bytes();
            let key = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
            if !locked {
                tx.rollback().await?; // gives the connection back, releases any lock taken
                return Ok(Step::Contended);
            }
        }
        if let Some(refusal) = judge(counts(&mut *tx, subjects).await?) {
            tx.rollback().await?; // inserts nothing, releases the locks
            return Ok(refusal);
        }
        let mut rows = Vec::with_capacity(subjects.len());
        for (subject, limit) in subjects {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tokenauth_login_attempts \
                     (subject, attempted_at, expires_at, pending_until) \
                 VALUES ($1, now(), now() + $2, now() + $3) RETURNING id",
            )
            .bind(&subject.as_bytes()[..])
            .bind(interval(limit.window))
            .bind(interval(pending_for))
            .fetch_one(&mut *tx)
            .await?;
            rows.push(id);
        }
        tx.commit().await?;
        Ok(Step::Granted(rows))
    }

    /// Deletes expired attempts, at most once a minute per instance (a failure only delays
    /// the cleanup: counts never include expired rows).
    async fn maybe_sweep(&self, pool: &PgPool) {
        {
            let mut last = self
                .last_sweep
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            if last.is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY) {
                return;
            }
            *last = Some(now);
        }
        let swept = sqlx::query(
            "DELETE FROM tokenauth_login_attempts WHERE expires_at <= now() \
             AND (pending_until IS NULL OR pending_until <= now())",
        )
        .execute(pool)
        .await;
        if let Err(error) = swept {
            tracing::warn!(%error, "tokenauth: could not delete expired login attempts");
        }
    }
}

/// Each subject's recorded failures (pending rows past their bound included) and pending
/// attempts, by the database's clock, in the order given; with, for a subject whose failures
/// reach its limit, how long until they fall below it. Each with its place and its limit.
async fn counts<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    subjects: &[(Subject, Limit)],
) -> Result<Vec<(usize, Count, Limit)>, Error> {
    let bytes: Vec<Vec<u8>> = subjects
        .iter()
        .map(|(s, _)| s.as_bytes().to_vec())
        .collect();
    let limits: Vec<i64> = subjects
        .iter()
        .map(|(_, l)| i64::try_from(l.failures).unwrap_or(i64::MAX))
        .collect();
    let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM tokenauth_login_attempts a \
             WHERE a.subject = s.subject AND a.expires_at > now() \
               AND (a.pending_until IS NULL OR a.pending_until <= now())), \
           (SELECT count(*) FROM tokenauth_login_attempts a \
             WHERE a.subject = s.subject AND a.pending_until > now()), \
           (SELECT ceil(extract(epoch FROM min(f.expires_at) - now()) * 1000)::bigint \
              FROM (SELECT a.expires_at FROM tokenauth_login_attempts a \
                     WHERE a.subject = s.subject AND a.expires_at > now() \
                       AND (a.pending_until IS NULL OR a.pending_until <= now()) \
                     ORDER BY a.expires_at DESC LIMIT s.failures) f) \
         FROM unnest($1::bytea[], $2::bigint[]) WITH ORDINALITY AS s(subject, failures, n) \
         ORDER BY s.n",
    )
    .bind(bytes)
    .bind(limits)
    .fetch_all(executor)
    .await?;
    let counts = rows.into_iter().map(|(failed, pending, retry_ms)| Count {
        failed: usize::try_from(failed).unwrap_or(0),
        pending: usize::try_from(pending).unwrap_or(0),
        retry: Duration::from_millis(retry_ms.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0)),
    });
    Ok(counts
        .zip(subjects.iter().map(|(_, limit)| *limit))
        .enumerate()
        .map(|(place, (count, limit))| (place, count, limit))
        .collect())
}

/// Records a reservation's verdict: a failure keeps its rows as recorded failures; a success
/// deletes them and `username`'s recorded failures (other logins' pending attempts stay); a
/// release deletes them.
pub(super) async fn settle(
    pool: &PgPool,
    rows: &[i64],
    username: Option<Subject>,
    verdict: Verdict,
) -> Result<(), Error> {
    match verdict {
        Verdict::Failed => {
            sqlx::query(
                "UPDATE tokenauth_login_attempts SET pending_until = NULL WHERE id = ANY($1)",
            )
            .bind(rows)
            .execute(pool)
            .await?;
        }
        Verdict::Succeeded | Verdict::Released => {
            let forget = username
                .filter(|_| verdict == Verdict::Succeeded)
                .map(|subject| subject.as_bytes().to_vec());
            sqlx::query(
                "DELETE FROM tokenauth_login_attempts WHERE id = ANY($1) \
                 OR (subject = $2 AND (pending_until IS NULL OR pending_until <= now()))",
            )
            .bind(rows)
            .bind(forget)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}
