//! The change feed on PostgreSQL: the log read every [`POLL`] and when hinted, a heartbeat
//! through the triggers every [`HEARTBEAT`], on a connection of the store's own (named
//! [`APPLICATION_NAME`] in `pg_stat_activity`).
//!
//! Reading the log misses nothing whatever order transactions commit in: each row carries
//! the id of the transaction that wrote it, and each read takes, in the same statement, the
//! snapshot it reads with; the next read asks again for the rows of every transaction that
//! was still in progress then, and of every later one.
//!
//! A heartbeat is one transaction per watched tokens table that sets `tokenauth.beat` to a
//! fresh random nonce and runs, on each of its tables, an `INSERT`, `UPDATE` and `DELETE`
//! that change no row: the statement-level triggers that log changes fire for them too, and
//! record the nonce in the log (only nonces of this form: a role that may write the tables
//! cannot make the log hold large ones). The lease of a tokens table is renewed — to the
//! moment the heartbeat began — only when the next read finds every one of its triggers'
//! records: then every change committed before that moment has been read. Disabled
//! triggers, a role or database in `session_replication_role = replica`, a hung connection or
//! a stopped server all stop the renewals. The catalog is read at each heartbeat too: every
//! trigger must be the `AFTER … FOR EACH STATEMENT` trigger its migration made (no `WHEN`, no
//! column list, on its `SECURITY DEFINER` function), and a trigger or function altered,
//! disabled or replaced since the last look (even if put back since) makes the store forget
//! everything.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rand::TryRng as _;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::time::Instant;

use super::{Attempts, MIN_BACKOFF};
use crate::store::backend::Pool;
use crate::store::cache::{AuthCache, FeedWork};
use crate::store::watch::{Event, Trigger, Watch};

/// The longest time between two reads of the log.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// How often the feed proves that the triggers report (the lease lasts
/// [`REVOCATION_BOUND`](crate::store::cache::REVOCATION_BOUND), several heartbeats).
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(500);

/// The shortest time between two reads of the log, however many hints arrive.
const MIN_READ_GAP: Duration = Duration::from_millis(2);

/// How long any statement of the feed may take before its connection is given up.
const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// Log rows read at once; a read finding more forgets everything instead.
const READ_BATCH: i64 = 10_000;

/// How often an instance deletes log rows older than ten minutes.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Pruning the log: marks the rows found committed, and deletes those marked ten minutes ago
/// (rows age from when they are first seen committed: a transaction's rows carry its start
/// time, which can be long before its commit); skips rows another instance is handling.
pub(crate) const PRUNE: &str = "UPDATE tokenauth_changes SET seen_at = now() WHERE seq IN (\
       SELECT seq FROM tokenauth_changes WHERE seen_at IS NULL \
       LIMIT 10000 FOR UPDATE SKIP LOCKED); \
     DELETE FROM tokenauth_changes WHERE seq IN (\
       SELECT seq FROM tokenauth_changes WHERE seen_at < now() - interval '10 minutes' \
       LIMIT 10000 FOR UPDATE SKIP LOCKED);";

/// The `application_name` of the feed's connection, as `pg_stat_activity` shows it.
pub(crate) const APPLICATION_NAME: &str = "tokenauth change feed";

impl Event {
    /// Its `pg_trigger.tgtype`: the event's bit, no `ROW` (1) nor `BEFORE` (2) bit.
    fn tgtype(self) -> i16 {
        match self {
            Event::Insert => 4,
            Event::Delete => 8,
            Event::Update => 16,
            Event::Truncate => 32,
        }
    }

    /// The `TG_OP` its heartbeat records carry; `None` for `TRUNCATE`, which no heartbeat
    /// can fire (its trigger is only checked in the catalog).
    fn beat(self) -> Option<&'static str> {
        match self {
            Event::Insert => Some("INSERT"),
            Event::Update => Some("UPDATE"),
            Event::Delete => Some("DELETE"),
            Event::Truncate => None,
        }
    }
}

/// The log's own triggers, which every group needs.
const LOG_TRIGGERS: [Trigger; 2] = [
    Trigger(
        "tokenauth_changes_deleted",
        "tokenauth_changes",
        Event::Delete,
        "tokenauth_changes_lost",
    ),
    Trigger(
        "tokenauth_changes_truncated",
        "tokenauth_changes",
        Event::Truncate,
        "tokenauth_changes_lost",
    ),
];

/// tokenauth's triggers as the catalog shows them (see [`CatalogRow`]).
const CATALOG: &str = "SELECT t.tgname::text AS name, c.relname::text AS table, \
        t.tgenabled::text AS enabled, t.tgqual IS NOT NULL AS has_when, \
        t.tgattr::text AS columns, t.tgtype::int2 AS tgtype, \
        p.proname::text AS function, p.prosecdef AS security_definer, \
        t.xmin::text || ' ' || p.xmin::text AS versions \
 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                   JOIN pg_proc p ON p.oid = t.tgfoid \
 WHERE NOT t.tgisinternal AND t.tgname LIKE 'tokenauth\\_%' \
   AND pg_table_is_visible(c.oid) \
 ORDER BY 1, 2";

/// The change feed's triggers on tokenauth's own tables (and the log's) that are missing,
/// disabled, or not as tokenauth's migrations made them (for
/// [`Store::health`](crate::Store::health) and `tokenauth check`): the feed cannot prove a
/// cache current without them.
pub(crate) async fn missing_triggers(
    pool: &sqlx::PgPool,
) -> Result<Vec<&'static str>, sqlx::Error> {
    let catalog: Vec<CatalogRow> = sqlx::query_as(CATALOG).fetch_all(pool).await?;
    Ok(LOG_TRIGGERS
        .iter()
        .chain(crate::store::watch::TOKENAUTH.triggers)
        .filter(|trigger| !catalog.iter().any(|row| row.is(trigger)))
        .map(|trigger| trigger.0)
        .collect())
}

/// A trigger as the catalog shows it (see [`Session::watched`]).
#[derive(PartialEq, Eq, sqlx::FromRow)]
struct CatalogRow {
    name: String,
    table: String,
    /// `tgenabled`: `O` (origin and local) or `A` (always) fire; `D` and `R` do not.
    enabled: String,
    /// Whether it has a `WHEN` condition, a column list (`UPDATE OF`), and its type bits.
    has_when: bool,
    columns: String,
    tgtype: i16,
    function: String,
    security_definer: bool,
    /// The row versions of the trigger and its function, which change when either is
    /// altered, replaced, or dropped and made again.
    versions: String,
}

impl CatalogRow {
    /// Whether this row is `trigger`, in place and firing as tokenauth's migrations made it.
    fn is(&self, trigger: &Trigger) -> bool {
        let Trigger(name, table, event, function) = trigger;
        self.name == *name
            && self.table == *table
            && (self.enabled == "O" || self.enabled == "A")
            && !self.has_when
            && self.columns.is_empty()
            && self.tgtype == event.tgtype()
            && self.function == *function
            && self.security_definer
    }
}

/// Hints to the other instances, sent after this store's commits (see
/// [`Store::hint_others`](crate::Store::hint_others)): in the background, best effort, one at
/// a time — a change made while a hint is being sent is covered by one more, sent after it —
/// so that hints never hold more than one of the pool's connections, however many changes
/// are made and however slow the database.
#[derive(Default)]
pub(crate) struct Hints {
    /// The channel's name, read from `tokenauth_feed` once.
    channel: tokio::sync::OnceCell<String>,
    /// [`IDLE`], [`SENDING`] or [`SENDING_AGAIN`].
    state: Arc<AtomicU8>,
    /// The task sending hints, if any (awaited by `Store::close`).
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// No hint is being sent.
const IDLE: u8 = 0;
/// A hint is being sent.
const SENDING: u8 = 1;
/// A hint is being sent, and a change was made since it started: one more follows.
const SENDING_AGAIN: u8 = 2;

impl std::fmt::Debug for Hints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hints").finish_non_exhaustive()
    }
}

impl Hints {
    /// Sends a hint after the caller's commit (or asks the hint being sent for one more).
    pub(crate) fn send(self: &Arc<Self>, pool: &sqlx::PgPool) {
        let previous = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |state| {
                Some(if state == IDLE {
                    SENDING
                } else {
                    SENDING_AGAIN
                })
            })
            .unwrap_or(IDLE);
        if previous != IDLE {
            return; // the task sends one more when it is done
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.state.store(IDLE, Ordering::SeqCst);
            return;
        };
        let (hints, pool) = (Arc::clone(self), pool.clone());
        let task = runtime.spawn(async move {
            loop {
                hints.notify(&pool).await;
                // Done, unless a change was made while sending: then once more.
                if hints
                    .state
                    .compare_exchange(SENDING, IDLE, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return;
                }
                hints.state.store(SENDING, Ordering::SeqCst);
            }
        });
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    /// One `NOTIFY`, given up after [`IO_TIMEOUT`]; a failure (a full queue, say) only
    /// leaves the other instances to read the log at their next [`POLL`].
    async fn notify(&self, pool: &sqlx::PgPool) {
        let sent = tokio::time::timeout(IO_TIMEOUT, async {
            let channel = self
                .channel
                .get_or_try_init(|| async {
                    sqlx::query_scalar::<_, String>("SELECT channel FROM tokenauth_feed")
                        .fetch_one(pool)
                        .await
                })
                .await?;
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(channel)
                .execute(pool)
                .await
        })
        .await;
        if let Ok(Err(error)) = sent {
            tracing::debug!(%error, "tokenauth: could not hint a change to the other instances");
        }
    }

    /// Waits (at most a few seconds) for the hints in flight to be sent: before a short-lived
    /// process (the CLI) exits.
    pub(crate) async fn flush(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(IO_TIMEOUT * 3, task).await;
        }
    }
}

/// Follows the log until the cache is dropped or the pool closed, reconnecting when the
/// connection fails or stops answering.
impl super::Transport for sqlx::PgPool {
    fn follow(self, cache: Weak<AuthCache>) -> impl Future<Output = ()> + Send + 'static {
        run(cache, self)
    }
}

async fn run(cache: Weak<AuthCache>, pool: sqlx::PgPool) {
    super::follow(
        &cache,
        || pool.is_closed(),
        |mut attempts: Attempts| {
            let (cache, pool) = (cache.clone(), pool.clone());
            async move {
                let problem = match Session::open(&pool).await {
                    Ok(session) => session.serve(&cache, &pool, &mut attempts).await,
                    Err(fault) => Some(String::from(fault)),
                };
                (attempts, problem)
            }
        },
    )
    .await;
}

/// Why a statement of the feed failed.
enum Fault {
    /// No answer within [`IO_TIMEOUT`]: the connection is given up.
    Silent(String),
    /// The database answered with an error.
    Failed(String),
}

impl From<Fault> for String {
    fn from(fault: Fault) -> String {
        match fault {
            Fault::Silent(problem) | Fault::Failed(problem) => problem,
        }
    }
}

/// A statement on the feed's connection, given up after [`IO_TIMEOUT`].
async fn timed<T>(
    what: &str,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, Fault> {
    match tokio::time::timeout(IO_TIMEOUT, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Fault::Failed(format!("{what}: {error}"))),
        Err(_) => Err(Fault::Silent(format!(
            "{what}: no answer within {} ms",
            IO_TIMEOUT.as_millis()
        ))),
    }
}

/// A heartbeat's record in the log: the table whose trigger wrote it, for which operation,
/// with which nonce, in which transaction.
struct Record {
    table: String,
    operation: String,
    nonce: String,
    xid: String,
}

/// One connection's following of the log.
struct Session {
    listener: PgListener,
    /// The pool of one connection the listener holds (kept so that it lives as long).
    own: sqlx::PgPool,
    /// The last read's snapshot: rows of transactions from `xmax` on, or in `xip`, may
    /// still appear.
    xmax: String,
    xip: Vec<String>,
    /// The catalog as the last heartbeat found it.
    catalog: Option<Vec<CatalogRow>>,
    /// The transactions of heartbeats whose records were read (deleted by the next ones).
    last_beat_xids: Vec<String>,
}

impl Session {
    async fn open(pool: &sqlx::PgPool) -> Result<Session, Fault> {
        let own = timed(
            "connecting",
            PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(IO_TIMEOUT)
                .connect_with(
                    (*pool.connect_options())
                        .clone()
                        .application_name(APPLICATION_NAME),
                ),
        )
        .await?;
        let mut listener = timed("connecting", PgListener::connect_with(&own)).await?;
        // A lost connection is reported at once, and re-established by `run`.
        listener.eager_reconnect(false);
        let channel: String = timed(
            "reading tokenauth_feed (are the migrations applied?)",
            sqlx::query_scalar("SELECT channel FROM tokenauth_feed").fetch_one(&mut listener),
        )
        .await?;
        timed("listening", listener.listen(&channel)).await?;
        let (xmax, xip): (String, Vec<String>) = timed(
            "reading a snapshot",
            sqlx::query_as(
                "SELECT pg_snapshot_xmax(s)::text, ARRAY(SELECT pg_snapshot_xip(s)::text) \
                 FROM (SELECT pg_current_snapshot() AS s) AS snapshot",
            )
            .fetch_one(&mut listener),
        )
        .await?;
        Ok(Session {
            listener,
            own,
            xmax,
            xip,
            catalog: None,
            last_beat_xids: Vec::new(),
        })
    }

    /// Reads the log and beats until the connection fails or stops answering (returns why),
    /// or the cache or the pool is gone (returns `None`).
    async fn serve(
        mut self,
        cache: &Weak<AuthCache>,
        pool: &sqlx::PgPool,
        attempts: &mut Attempts,
    ) -> Option<String> {
        let store_pool = Pool::Postgres(pool.clone());
        let now = Instant::now();
        let (mut next_beat, mut next_read, mut next_prune) = (now, now + POLL, now + PRUNE_EVERY);
        let mut last_read = now;
        let problem = loop {
            let Some(cache) = cache.upgrade() else {
                break None;
            };
            if pool.is_closed() {
                break None;
            }
            let now = Instant::now();
            let step = if now >= next_beat {
                next_beat = now + HEARTBEAT;
                Some(self.beat(&cache, &store_pool, &mut attempts.reporter).await)
            } else if now >= next_read {
                Some(self.read(&cache, &store_pool).await.map(drop))
            } else {
                None
            };
            match step {
                Some(Err(fault)) => break Some(String::from(fault)),
                Some(Ok(())) => {
                    last_read = Instant::now();
                    next_read = last_read + POLL;
                }
                None => {}
            }
            if cache
                .watches()
                .any(|group| cache.serves(group.tokens_table))
            {
                attempts.backoff = MIN_BACKOFF;
            }
            if now >= next_prune {
                next_prune = now + PRUNE_EVERY;
                if let Err(fault) = self.prune().await {
                    break Some(String::from(fault));
                }
            }
            drop(cache);
            match tokio::time::timeout_at(next_beat.min(next_read), self.listener.try_recv()).await
            {
                Ok(Ok(Some(_hint))) => {
                    // Whatever it says (it is not trusted): read soon, at most once per gap.
                    let mut drained = 0;
                    while drained < 10_000 && self.listener.next_buffered().is_some() {
                        drained += 1;
                    }
                    next_read = next_read.min((last_read + MIN_READ_GAP).max(Instant::now()));
                }
                Ok(Ok(None)) => break Some("the feed's connection dropped".into()),
                Ok(Err(error)) => break Some(error.to_string()),
                Err(_) => {} // time to read or beat
            }
        };
        // Not awaited: a connection that stopped answering would hold it up.
        drop(self.listener);
        let own = self.own;
        tokio::spawn(async move {
            let _ = tokio::time::timeout(IO_TIMEOUT, own.close()).await;
        });
        problem
    }

    /// Reads the log since the last read and applies it; returns the heartbeat records read.
    async fn read(&mut self, cache: &Arc<AuthCache>, pool: &Pool) -> Result<Vec<Record>, Fault> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        FeedWork::count(&cache.work().reads);
        let rows: Vec<Row> = timed(
            "reading the change log",
            sqlx::query_as(
                "WITH s AS MATERIALIZED (SELECT pg_current_snapshot() AS snap) \
                 SELECT 0::bigint, pg_snapshot_xmax(snap)::text, '=', NULL::text, NULL::text, \
                        array_to_string(ARRAY(SELECT pg_snapshot_xip(snap)::text), ' ') \
                 FROM s \
                 UNION ALL \
                 (SELECT seq, xid::text, left(kind, 1), left(tokens_table, 64), \
                         left(key_digest, 64), left(beat, 64) \
                  FROM tokenauth_changes \
                  WHERE xid >= $1::xid8 OR xid = ANY($2::text[]::xid8[]) \
                  ORDER BY seq LIMIT $3)",
            )
            .bind(&self.xmax)
            .bind(&self.xip)
            .bind(READ_BATCH)
            .fetch_all(&mut self.listener),
        )
        .await?;
        let mut records = Vec::new();
        let mut logged = Vec::with_capacity(rows.len());
        for (_, xid, kind, tokens_table, key_digest, beat) in rows {
            if kind == "=" {
                // The snapshot of this read: where the next one starts.
                self.xmax = xid;
                self.xip = beat
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
            } else {
                logged.push((xid, kind, tokens_table, key_digest, beat));
            }
        }
        if i64::try_from(logged.len()).is_ok_and(|n| n >= READ_BATCH) {
            // Too many to follow one by one (a mass change): forget everything instead.
            cache.forget();
            return Ok(records);
        }
        let mut changed = false;
        for (xid, kind, tokens_table, key_digest, beat) in logged {
            match (kind.as_str(), tokens_table, key_digest) {
                ("-", _, _) => changed = true,
                ("+", Some(table), Some(digest)) => {
                    super::added_elsewhere(cache, pool, &table, &digest);
                }
                ("*", Some(table), _) => {
                    if let Some(table) = cache.tokens_table(&table) {
                        cache.keys_added_in_bulk(table);
                    }
                }
                ("!", _, _) => cache.forget(),
                ("?", Some(table), _) => {
                    if let Some((operation, nonce)) =
                        beat.as_deref().and_then(|b| b.split_once(' '))
                    {
                        records.push(Record {
                            table,
                            operation: operation.to_owned(),
                            nonce: nonce.to_owned(),
                            xid,
                        });
                    }
                }
                _ => changed = true, // a row this version does not know: assume the worst
            }
        }
        if changed {
            cache.changed();
        }
        Ok(records)
    }

    /// The groups registered with the cache whose triggers are all in place, enabled and as
    /// tokenauth's migrations made them; lapses everything if a trigger or its function
    /// changed since the last look (a trigger made again with a `WHEN` that lets heartbeats
    /// through, say).
    async fn watched(
        &mut self,
        cache: &AuthCache,
        registered: &[&'static Watch],
    ) -> Result<Vec<&'static Watch>, Fault> {
        let catalog: Vec<CatalogRow> = timed(
            "reading the catalog",
            sqlx::query_as(CATALOG).fetch_all(&mut self.listener),
        )
        .await?;
        if self.catalog.as_ref().is_some_and(|last| *last != catalog) {
            // A trigger or its function changed, even if only for a while: changes made
            // meanwhile may not have been logged.
            tracing::info!(
                "tokenauth: the change feed's triggers changed; forgetting what was cached"
            );
            cache.lapse_all();
        }
        let in_place = |trigger: &Trigger| catalog.iter().any(|row| row.is(trigger));
        let log_ok = LOG_TRIGGERS.iter().all(in_place);
        let watched = registered
            .iter()
            .copied()
            .filter(|group| log_ok && group.triggers.iter().all(in_place))
            .collect();
        self.catalog = Some(catalog);
        Ok(watched)
    }

    /// Checks the catalog, sends a heartbeat through the triggers of each group registered
    /// with the cache and watched (a transaction each), reads the log and renews the lease of
    /// each group whose triggers all recorded its heartbeat. A group registered since the
    /// last heartbeat is beaten from this one on.
    async fn beat(
        &mut self,
        cache: &Arc<AuthCache>,
        pool: &Pool,
        reporter: &mut super::Reporter,
    ) -> Result<(), Fault> {
        let began = std::time::Instant::now();
        FeedWork::count(&cache.work().looks);
        let registered: Vec<_> = cache.watches().collect();
        let watched = self.watched(cache, &registered).await?;
        for group in &registered {
            if !watched.iter().any(|w| w.tokens_table == group.tokens_table) {
                cache.lapse(group.tokens_table); // not watched: never cached
            }
        }
        if watched.is_empty() {
            reporter.down(
                "no table is watched: the change feed's triggers are missing, disabled or \
                 altered (are the migrations applied?)",
            );
            self.read(cache, pool).await?;
            return Ok(());
        }
        let mut sent = Vec::with_capacity(watched.len());
        for group in watched {
            // A fresh random nonce each time (the triggers record only one of this form).
            let mut nonce = [0u8; 16];
            rand::rngs::SysRng
                .try_fill_bytes(&mut nonce)
                .map_err(|error| Fault::Failed(error.to_string()))?;
            let nonce = crate::key::hex_lower(&nonce);
            let mut sql = format!(
                "BEGIN; SET LOCAL lock_timeout = '500ms'; SET LOCAL statement_timeout = '1s'; \
                 SELECT set_config('tokenauth.beat', '{nonce}', true); {}",
                group.beat
            );
            if let Some(xid) = self.last_beat_xids.pop() {
                // An earlier heartbeat's records (read already; nobody else needs them).
                sql.push_str(&format!(
                    " DELETE FROM tokenauth_changes WHERE kind = '?' AND xid = '{xid}'::xid8;"
                ));
            }
            sql.push_str(" COMMIT;");
            match timed(
                "sending a heartbeat",
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut self.listener),
            )
            .await
            {
                Ok(_) => sent.push((group, nonce)),
                Err(Fault::Failed(problem)) => {
                    // A database error (a lock held by a migration, a right missing on
                    // Django's tables): no renewal for this table this time.
                    timed(
                        "rolling back a heartbeat",
                        sqlx::raw_sql("ROLLBACK").execute(&mut self.listener),
                    )
                    .await?;
                    reporter.down(&problem);
                }
                Err(silent) => return Err(silent),
            }
        }
        let records = self.read(cache, pool).await?;
        let mut all_proven = !sent.is_empty();
        for (group, nonce) in sent {
            let mut seen: HashSet<(&str, &str)> = HashSet::new();
            for record in records.iter().filter(|record| record.nonce == nonce) {
                seen.insert((&record.table, &record.operation));
                if !self.last_beat_xids.contains(&record.xid) {
                    self.last_beat_xids.push(record.xid.clone());
                }
            }
            let proven = group.triggers.iter().all(|Trigger(_, table, event, _)| {
                event
                    .beat()
                    .is_none_or(|operation| seen.contains(&(*table, operation)))
            });
            if proven {
                cache.renew(group.tokens_table, began);
            } else {
                cache.lapse(group.tokens_table);
                all_proven = false;
                reporter.down(&format!(
                    "a heartbeat did not go through every trigger of {} (triggers disabled, or \
                     session_replication_role = replica?)",
                    group.tokens_table
                ));
            }
        }
        if all_proven {
            reporter.up();
        }
        Ok(())
    }

    /// [`PRUNE`], best effort (only a connection that stopped answering is an error).
    async fn prune(&mut self) -> Result<(), Fault> {
        let sql = sqlx::AssertSqlSafe(format!(
            "BEGIN; SET LOCAL lock_timeout = '100ms'; SET LOCAL statement_timeout = '1s'; \
             {PRUNE} COMMIT;"
        ));
        match timed(
            "pruning the change log",
            sqlx::raw_sql(sql).execute(&mut self.listener),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(Fault::Failed(problem)) => {
                tracing::debug!(
                    problem,
                    "tokenauth: the change log was not pruned this time"
                );
                timed(
                    "rolling back",
                    sqlx::raw_sql("ROLLBACK").execute(&mut self.listener),
                )
                .await
                .map(drop)
            }
            Err(silent) => Err(silent),
        }
    }
}
