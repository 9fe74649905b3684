//! Login throttling: at most `failures` failed logins per username and per client network
//! within a sliding window. Only failures are counted: a login with the right password never
//! uses up anyone's budget.
//!
//! An attempt is *reserved* before any password work, atomically with the check that the
//! limit allows it, so a burst of concurrent guesses verifies at most the limit. A reservation
//! is *pending* (undecided) until its login reports the verdict:
//!
//! - **failed** (wrong username or password): the reservation becomes a recorded failure of the
//!   username and of the client, for the window;
//! - **succeeded** (right password): it is removed, and so are the username's recorded failures;
//!   the client's failures stay (one good account must not launder an address's guesses);
//! - **released** (a server error: no verdict reached the client): it is removed;
//! - dropped unreported (the request was cancelled mid-login): it counts as a failure.
//!
//! A subject whose recorded failures reach its limit is refused (`429` with `Retry-After`:
//! when enough failures leave the window). A subject whose failures alone are under the limit
//! but whose failures and pending attempts together reach it *waits* — at most
//! [`WAIT_BOUND`] — for pending attempts to be decided, then proceeds or is refused; a login
//! still waiting at the bound is answered `503` with `Retry-After` (the server is busy, which
//! is not a throttle). So 100 users behind one NAT who log in at once all get in, while 100
//! concurrent guesses still verify at most the limit.
//!
//! Where the state lives follows the store: on PostgreSQL, a table that every application
//! instance shares ([`postgres`]), whose times are all the database's (`now()`), and nothing
//! about it is remembered in the instance; on SQLite, this process's memory ([`memory`]),
//! bounded in entries. Subjects are fixed-size keyed digests (HMAC-SHA-256, with a secret kept
//! in the database on PostgreSQL), never the usernames or addresses themselves.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use tokio::sync::{Notify, Semaphore};

use crate::error::Error;

use crate::store::Store;

/// At most `failures` failed logins within `window`; more wait until the oldest ages out.
/// Logins with the right password are not counted. `failures: 0` turns the limit off.
///
/// ```
/// use std::time::Duration;
/// use tokenauth::openapi::Limit;
///
/// let limit = Limit::new(5, Duration::from_secs(15 * 60));
/// assert_eq!(limit.failures, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failed attempts allowed within the window.
    pub failures: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Limit {
    /// `failures` failed logins per `window`.
    pub const fn new(failures: usize, window: Duration) -> Self {
        Limit { failures, window }
    }
}

/// Whom an attempt counts against: a 16-byte digest of a username or of a client network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Subject([u8; 16]);

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subject(..)")
    }
}

/// The key of subjects kept in this process's memory only: nothing leaves the process, so a
/// fixed key serves (the map itself hashes with a random SipHash key).
pub(super) const MEMORY_KEY: &[u8; 32] = b"tokenauth login throttle, memory";

impl Subject {
    fn digest(key: &[u8; 32], kind: &[u8], value: &[u8]) -> Self {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(kind);
        mac.update(b"\0");
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut subject = [0u8; 16];
        subject.copy_from_slice(&digest[..16]);
        Subject(subject)
    }

    pub(super) fn username(key: &[u8; 32], username: &str) -> Self {
        Subject::digest(key, b"username", username.as_bytes())
    }

    /// A client's network: an IPv4 address, or an IPv6 address's /64 (one customer's
    /// allocation, which holds 2^64 addresses). IPv4-mapped IPv6 addresses count as IPv4.
    pub(super) fn client(key: &[u8; 32], ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Subject::digest(key, b"ipv4", &v4.octets()),
            IpAddr::V6(v6) => Subject::digest(key, b"ipv6/64", &v6.octets()[..8]),
        }
    }

    #[cfg(any(test, feature = "postgres"))]
    pub(super) fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// The longest a login waits for other logins' pending attempts to be decided before it is
/// answered `503`. Pending attempts are decided within one password check (a few hundred
/// milliseconds for the default Argon2 parameters), so a waiter normally proceeds much
/// sooner.
pub(super) const WAIT_BOUND: Duration = Duration::from_secs(10);

/// How many logins of one [`AuthApi`](super::AuthApi) may wait at once; more are answered
/// `503` at once.
const MAX_WAITERS: usize = 1024;

/// How often a waiting login looks again without being woken (on PostgreSQL, for attempts
/// decided by other instances): every 50 to 150 ms, jittered so that waiters spread out.
const RECHECK: (Duration, Duration) = (Duration::from_millis(50), Duration::from_millis(100));

/// How soon a reservation that found another holding a subject's lock tries again: 5 to
/// 20 ms, jittered.
const CONTENDED: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(15));

/// The `Retry-After` of a login that waited [`WAIT_BOUND`] in vain.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// The answer to a reservation.
pub(super) enum Admission {
    /// Go ahead; report the verdict with [`Reservation::succeeded`],
    /// [`Reservation::failed`] or [`Reservation::release`].
    Granted(Reservation),
    /// Recorded failures reach a limit: `429`.
    Denied(Throttled),
    /// Pending attempts held the limit for [`WAIT_BOUND`], or too many logins wait: `503`,
    /// retry after this long.
    Busy(Duration),
}

/// A login refused by the throttle: when to retry, and whose limit was reached — the
/// username's (too many failed logins for one account) or the client's (too many from one
/// network), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Throttled {
    /// When enough failures leave the window.
    pub(super) retry: Duration,
    /// The username's failures reach its limit.
    pub(super) username: bool,
    /// The client network's failures reach its limit.
    pub(super) client: bool,
}

/// Recorded failures reach a limit: how long until they fall below every limit reached, and
/// which subjects reached theirs (by their place in the subjects looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Denial {
    pub(super) retry: Duration,
    pub(super) reached: Vec<usize>,
}

/// What one look at a subject's attempts decided.
pub(super) enum Step<T> {
    /// Reserved: the backend's record of the reservation.
    Granted(T),
    /// Recorded failures reach a limit.
    Denied(Denial),
    /// Failures and pending attempts together reach a limit: wait for a verdict.
    Busy,
    /// Another reservation holds a subject's lock: try again shortly (PostgreSQL).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Contended,
}

/// A subject's attempts within its window, as a reservation sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count {
    /// Recorded failures.
    pub(super) failed: usize,
    /// Undecided attempts.
    pub(super) pending: usize,
    /// When the failures, if they reach the limit, fall below it again.
    pub(super) retry: Duration,
}

/// The verdict on one more attempt against subjects with these counts and limits, each with
/// its place in the subjects looked at: `None` when every subject has room. A refusal for
/// failures wins over a wait.
pub(super) fn judge<T>(counts: impl IntoIterator<Item = (usize, Count, Limit)>) -> Option<Step<T>> {
    let mut denied: Option<Denial> = None;
    let mut busy = false;
    for (place, count, limit) in counts {
        if count.failed >= limit.failures {
            let denial = denied.get_or_insert_with(|| Denial {
                retry: Duration::ZERO,
                reached: Vec::new(),
            });
            denial.retry = denial.retry.max(count.retry);
            denial.reached.push(place);
        } else if count.failed.saturating_add(count.pending) >= limit.failures {
            busy = true;
        }
    }
    match (denied, busy) {
        (Some(denial), _) => Some(Step::Denied(denial)),
        (None, true) => Some(Step::Busy),
        (None, false) => None,
    }
}

/// A reserved attempt. Report its verdict with [`succeeded`](Reservation::succeeded),
/// [`failed`](Reservation::failed) or [`release`](Reservation::release); dropped unreported
/// (the request was cancelled), it counts as a failure.
#[derive(Debug)]
pub(super) struct Reservation {
    ticket: Option<Ticket>,
    settled: Arc<Notify>,
}

#[derive(Debug)]
enum Ticket {
    Memory {
        table: Arc<Mutex<memory::Table>>,
        subjects: Vec<(Subject, Role)>,
        id: u64,
    },
    /// The rows inserted for the username and the client.
    #[cfg(feature = "postgres")]
    Postgres {
        pool: sqlx::PgPool,
        rows: Vec<i64>,
        username: Option<Subject>,
    },
}

/// Whom a subject stands for: a success clears a username's failures, not a client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Username,
    Client,
}

/// A login's verdict, as the throttle records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The password was right.
    Succeeded,
    /// The username or password was wrong.
    Failed,
    /// No verdict reached the client (a server error).
    Released,
}

impl Reservation {
    /// The password was right: forget the username's failures and remove this attempt.
    pub(super) async fn succeeded(mut self) {
        self.settle(Verdict::Succeeded).await;
    }

    /// The username or password was wrong: the attempt becomes a recorded failure.
    pub(super) async fn failed(mut self) {
        self.settle(Verdict::Failed).await;
    }

    /// No verdict was reached (a server error): remove the attempt.
    pub(super) async fn release(mut self) {
        self.settle(Verdict::Released).await;
    }

    async fn settle(&mut self, verdict: Verdict) {
        match self.ticket.take() {
            None => return,
            Some(Ticket::Memory {
                table,
                subjects,
                id,
            }) => lock(&table).settle(&subjects, id, verdict),
            #[cfg(feature = "postgres")]
            Some(Ticket::Postgres {
                pool,
                rows,
                username,
            }) => {
                if let Err(error) = postgres::settle(&pool, &rows, username, verdict).await {
                    // The login's outcome stands; at worst the attempt counts as a failure
                    // once its pending bound has passed.
                    tracing::warn!(%error, "tokenauth: could not update the login throttle");
                }
            }
        }
        self.settled.notify_waiters();
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // Unreported: the request was cancelled before its verdict. Count it as a failure,
        // as a login that crashed does once its pending bound has passed.
        match self.ticket.take() {
            None => {}
            Some(Ticket::Memory {
                table,
                subjects,
                id,
            }) => {
                lock(&table).settle(&subjects, id, Verdict::Failed);
                self.settled.notify_waiters();
            }
            #[cfg(feature = "postgres")]
            Some(Ticket::Postgres { pool, rows, .. }) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let settled = Arc::clone(&self.settled);
                    runtime.spawn(async move {
                        let _ = postgres::settle(&pool, &rows, None, Verdict::Failed).await;
                        settled.notify_waiters();
                    });
                }
            }
        }
    }
}

fn lock(table: &Mutex<memory::Table>) -> std::sync::MutexGuard<'_, memory::Table> {
    table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A duration between `base` and `base + spread`, drawn anew on each call.
fn jittered((base, spread): (Duration, Duration)) -> Duration {
    use std::hash::BuildHasher as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    // Each `RandomState` has keys of its own: a fresh hash is as good as a random number here.
    let draw = std::hash::RandomState::new().hash_one(DRAWS.fetch_add(1, Ordering::Relaxed));
    base + spread.mul_f64(draw as f64 / u64::MAX as f64)
}

/// The login throttle of one [`AuthApi`](super::AuthApi).
#[derive(Debug)]
pub(super) struct Throttle {
    per_username: Limit,
    per_client: Limit,
    memory: Arc<Mutex<memory::Table>>,
    /// Woken whenever one of this throttle's reservations is decided.
    settled: Arc<Notify>,
    /// Places for logins waiting for a verdict.
    waiters: Semaphore,
    #[cfg(feature = "postgres")]
    shared: postgres::Shared,
}

/// Subjects tracked in memory at most (SQLite stores): ~80 bytes each plus 24 per attempt the
/// limit allows — with the default limits ~200 bytes per username and ~560 per client
/// network, so 20 to 56 MB when full.
pub(super) const DEFAULT_CAPACITY: usize = 100_000;

impl Throttle {
    pub(super) fn new(per_username: Limit, per_client: Limit, capacity: usize) -> Self {
        Throttle {
            per_username,
            per_client,
            memory: Arc::new(Mutex::new(memory::Table::new(
                capacity.max(1),
                Instant::now(),
            ))),
            settled: Arc::new(Notify::new()),
            waiters: Semaphore::new(MAX_WAITERS),
            #[cfg(feature = "postgres")]
            shared: postgres::Shared::default(),
        }
    }

    pub(super) fn limits(&self) -> (Limit, Limit) {
        (self.per_username, self.per_client)
    }

    pub(super) fn capacity(&self) -> usize {
        lock(&self.memory).capacity()
    }

    /// The subjects an attempt counts against (limits of 0 are off), digested with `key`.
    fn subjects(
        &self,
        key: &[u8; 32],
        username: &str,
        client: Option<IpAddr>,
    ) -> Vec<(Subject, Limit, Role)> {
        let mut subjects = Vec::with_capacity(2);
        if self.per_username.failures > 0 {
            let subject = Subject::username(key, username);
            subjects.push((subject, self.per_username, Role::Username));
        }
        if let Some(ip) = client.filter(|_| self.per_client.failures > 0) {
            subjects.push((Subject::client(key, ip), self.per_client, Role::Client));
        }
        subjects
    }

    fn reservation(&self, ticket: Option<Ticket>) -> Reservation {
        Reservation {
            ticket,
            settled: Arc::clone(&self.settled),
        }
    }

    /// Reserves an attempt for `username` from `client`, waiting (at most [`WAIT_BOUND`]) while
    /// other logins' pending attempts hold a limit; or says how long to wait.
    pub(super) async fn reserve(
        &self,
        store: &Store,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<Admission, Error> {
        let backend = Backend::of(store).await?;
        let subjects = self.subjects(backend.key(), username, client);
        if subjects.is_empty() {
            return Ok(Admission::Granted(self.reservation(None))); // both limits are off
        }
        let started = tokio::time::Instant::now();
        let mut waiting = None;
        loop {
            // Registered before looking, so that a verdict reached meanwhile is not missed.
            let settled = self.settled.notified();
            let mut settled = std::pin::pin!(settled);
            settled.as_mut().enable();
            let pause = match backend.try_reserve(self, &subjects).await? {
                Step::Granted(ticket) => {
                    return Ok(Admission::Granted(self.reservation(Some(ticket))));
                }
                Step::Denied(denial) => {
                    let reached = |role| {
                        denial
                            .reached
                            .iter()
                            .any(|&place| subjects.get(place).is_some_and(|s| s.2 == role))
                    };
                    return Ok(Admission::Denied(Throttled {
                        retry: denial.retry,
                        username: reached(Role::Username),
                        client: reached(Role::Client),
                    }));
                }
                Step::Busy => jittered(RECHECK),
                Step::Contended => jittered(CONTENDED),
            };
            let Some(left) = WAIT_BOUND.checked_sub(started.elapsed()) else {
                return Ok(Admission::Busy(BUSY_RETRY));
            };
            if waiting.is_none() {
                match self.waiters.try_acquire() {
                    Ok(place) => waiting = Some(place),
                    Err(_) => return Ok(Admission::Busy(BUSY_RETRY)),
                }
            }
            tokio::select! {
                () = settled => {}
                () = tokio::time::sleep(pause.min(left)) => {}
            }
        }
    }
}

/// Where a store keeps the throttle's state.
enum Backend {
    Memory,
    #[cfg(feature = "postgres")]
    Postgres {
        pool: sqlx::PgPool,
        key: [u8; 32],
        /// How long a pending attempt may stay undecided before it counts as a failure.
        pending_for: Duration,
    },
}

impl Backend {
    async fn of(store: &Store) -> Result<Backend, Error> {
        #[cfg(feature = "postgres")]
        if let Some(pool) = store.postgres_pool() {
            return Ok(Backend::Postgres {
                pool: pool.clone(),
                key: store.throttle_key().await?,
                pending_for: postgres::pending_bound(store.policy()),
            });
        }
        #[cfg(not(feature = "postgres"))]
        let _ = store;
        Ok(Backend::Memory)
    }

    fn key(&self) -> &[u8; 32] {
        match self {
            Backend::Memory => MEMORY_KEY,
            #[cfg(feature = "postgres")]
            Backend::Postgres { key, .. } => key,
        }
    }

    /// One look: reserve, refuse, or say why not yet.
    async fn try_reserve(
        &self,
        throttle: &Throttle,
        subjects: &[(Subject, Limit, Role)],
    ) -> Result<Step<Ticket>, Error> {
        let limited: Vec<(Subject, Limit)> = subjects.iter().map(|(s, l, _)| (*s, *l)).collect();
        let step = match self {
            Backend::Memory => lock(&throttle.memory)
                .reserve(&limited, Instant::now())
                .map(|id| Ticket::Memory {
                    table: Arc::clone(&throttle.memory),
                    subjects: subjects.iter().map(|(s, _, role)| (*s, *role)).collect(),
                    id,
                }),
            #[cfg(feature = "postgres")]
            Backend::Postgres {
                pool, pending_for, ..
            } => {
                let username = subjects
                    .iter()
                    .find(|(_, _, role)| *role == Role::Username)
                    .map(|(s, _, _)| *s);
                throttle
                    .shared
                    .try_reserve(pool, &limited, *pending_for)
                    .await?
                    .map(|rows| Ticket::Postgres {
                        pool: pool.clone(),
                        rows,
                        username,
                    })
            }
        };
        Ok(step)
    }
}

impl<T> Step<T> {
    fn map<U>(self, granted: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Granted(ticket) => Step::Granted(granted(ticket)),
            Step::Denied(denial) => Step::Denied(denial),
            Step::Busy => Step::Busy,
            Step::Contended => Step::Contended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str) -> Subject {
        Subject::client(MEMORY_KEY, ip.parse().unwrap())
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            client("2001:db8:1:2::1"),
            client("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client("192.0.2.1"), client("::ffff:192.0.2.1"));
        assert_ne!(client("192.0.2.1"), client("192.0.2.2"));
    }

    #[test]
    fn subjects_are_fixed_size_keyed_and_separate_kinds() {
        let huge = "x".repeat(5 << 20);
        assert_eq!(Subject::username(MEMORY_KEY, &huge).as_bytes().len(), 16);
        assert_ne!(
            Subject::username(MEMORY_KEY, "alice"),
            Subject::username(MEMORY_KEY, "alicf")
        );
        assert_ne!(
            Subject::username(MEMORY_KEY, "alice"),
            Subject::username(&[7; 32], "alice"),
            "another key, another subject"
        );
        assert_ne!(
            Subject::username(MEMORY_KEY, "192.0.2.1"),
            client("192.0.2.1")
        );
    }

    /// A login of `username` through `throttle`, as the login view reserves it.
    async fn admit(throttle: &Throttle, store: &Store, username: &str) -> Admission {
        let client = Some("192.0.2.1".parse().unwrap());
        throttle.reserve(store, username, client).await.unwrap()
    }

    fn granted(admission: Admission) -> Reservation {
        match admission {
            Admission::Granted(reservation) => reservation,
            Admission::Denied(throttled) => panic!("denied: {throttled:?}"),
            Admission::Busy(wait) => panic!("busy for {wait:?}"),
        }
    }

    /// A refusal says whose limit was reached: the client's alone (other usernames from one
    /// network), the username's alone (another network), or both.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_refusal_names_the_limits_reached() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let window = Duration::from_secs(60);
        let throttle = Throttle::new(Limit::new(2, window), Limit::new(3, window), 100);
        let from = |ip: &str| Some(ip.parse().unwrap());
        let reserve = |username: &'static str, client| {
            let (throttle, store) = (&throttle, &store);
            async move { throttle.reserve(store, username, client).await.unwrap() }
        };
        for username in ["alice", "alice", "bob"] {
            granted(reserve(username, from("192.0.2.1")).await)
                .failed()
                .await;
        }
        let refusal = |admission| match admission {
            Admission::Denied(refusal) => (refusal.username, refusal.client),
            Admission::Granted(_) => panic!("granted"),
            Admission::Busy(wait) => panic!("busy for {wait:?}"),
        };
        assert_eq!(
            refusal(reserve("carol", from("192.0.2.1")).await),
            (false, true)
        );
        assert_eq!(
            refusal(reserve("alice", from("192.0.2.9")).await),
            (true, false)
        );
        assert_eq!(
            refusal(reserve("alice", from("192.0.2.1")).await),
            (true, true)
        );
    }

    /// A login that waits for alice's pending attempt, started now.
    fn waiter(
        throttle: &Arc<Throttle>,
        store: &Store,
    ) -> tokio::task::JoinHandle<(Admission, Duration)> {
        let (throttle, store) = (Arc::clone(throttle), store.clone());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            (admit(&throttle, &store, "alice").await, started.elapsed())
        })
    }

    /// Pending attempts make other logins wait for their verdict, not fail: a success lets the
    /// waiter in at once, a failure refuses it (`429`), and a verdict that never comes is
    /// `503` at the bound. An attempt whose request is cancelled counts as a failure. On
    /// SQLite's in-memory throttle, with tokio's clock paused (it advances only while every
    /// task waits).
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn pending_attempts_make_logins_wait_for_their_verdict() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        tokio::time::pause();
        let window = Duration::from_secs(60);
        let throttle = Arc::new(Throttle::new(
            Limit::new(1, window),
            Limit::new(100, window),
            100,
        ));
        let let_in = |admission: &Admission| matches!(admission, Admission::Granted(_));

        // A success: the waiter proceeds at once.
        let first = granted(admit(&throttle, &store, "alice").await);
        let second = waiter(&throttle, &store);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!second.is_finished(), "the second login waits");
        first.succeeded().await;
        let (admission, waited) = second.await.unwrap();
        assert!(let_in(&admission), "let in after the success");
        assert!(waited < WAIT_BOUND, "{waited:?}");

        // A failure: the waiter is refused for the failure's window.
        let Admission::Granted(second) = admission else {
            unreachable!()
        };
        let third = waiter(&throttle, &store);
        tokio::time::sleep(Duration::from_secs(1)).await;
        second.failed().await;
        match third.await.unwrap() {
            (Admission::Denied(throttled), _) => {
                let wait = throttled.retry;
                assert!(wait <= window && wait > window / 2);
                assert!(throttled.username && !throttled.client, "{throttled:?}");
            }
            (other, _) => panic!("not refused: granted {}", let_in(&other)),
        }

        // No verdict within the bound: busy, not throttled.
        let bob = granted(admit(&throttle, &store, "bob").await);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (t, s) = (Arc::clone(&throttle), store.clone());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let admission = admit(&t, &s, "bob").await;
            let _ = tx.send((admission, started.elapsed()));
        });
        match rx.await.unwrap() {
            (Admission::Busy(retry), waited) => {
                assert_eq!(retry, BUSY_RETRY);
                assert!(
                    waited >= WAIT_BOUND && waited < WAIT_BOUND * 2,
                    "{waited:?}"
                );
            }
            (other, _) => panic!("not busy: granted {}", let_in(&other)),
        }

        // Cancelled before its verdict: a failure.
        drop(bob);
        assert!(matches!(
            admit(&throttle, &store, "bob").await,
            Admission::Denied(_)
        ));
    }
}
