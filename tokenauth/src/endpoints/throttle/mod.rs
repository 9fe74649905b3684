//! Login throttling: at most `failures` failed logins per username and per client network
//! within a sliding window.
//!
//! An attempt is *reserved* before any password work, atomically with the check that the
//! limit allows it, so a burst of concurrent guesses verifies at most the limit. A successful
//! login clears the username's failures and releases the client's reservation; a failed one
//! keeps both as the record of the failure; an attempt that ends in a server error (no
//! verdict) releases both.
//!
//! Where the state lives follows the store: on PostgreSQL, a table that every application
//! instance shares ([`postgres`]); on SQLite, this process's memory ([`memory`]), bounded in
//! entries. Subjects are fixed-size digests, never the usernames themselves.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use poem::Request;
use sha2::{Digest as _, Sha256};

use crate::{Error, Store};

/// At most `failures` failed logins within `window`; more wait until the oldest ages out.
/// `failures: 0` turns the limit off.
///
/// ```
/// use std::time::Duration;
/// use tokenauth::Limit;
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

impl Subject {
    fn digest(kind: &[u8], value: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tokenauth login throttle\0")
            .chain_update(kind)
            .chain_update(b"\0")
            .chain_update(value)
            .finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Subject(key)
    }

    pub(super) fn username(username: &str) -> Self {
        Subject::digest(b"username", username.as_bytes())
    }

    /// A client's network: an IPv4 address, or an IPv6 address's /64 (one customer's
    /// allocation, which holds 2^64 addresses). IPv4-mapped IPv6 addresses count as IPv4.
    pub(super) fn client(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Subject::digest(b"ipv4", &v4.octets()),
            IpAddr::V6(v6) => Subject::digest(b"ipv6/64", &v6.octets()[..8]),
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// The answer to a reservation.
pub(super) enum Admission {
    /// Go ahead; report the outcome with [`Throttle::succeeded`] or [`Throttle::release`].
    Granted(Reservation),
    /// Over a limit: retry after this long.
    Denied(Duration),
}

/// A reserved attempt.
#[derive(Debug)]
pub(super) struct Reservation {
    username: Option<Subject>,
    client: Option<Subject>,
    ticket: Ticket,
}

#[derive(Debug)]
enum Ticket {
    Memory(u64),
    /// The rows inserted for the username and the client.
    #[cfg(feature = "postgres")]
    Postgres(Vec<i64>),
}

/// The login throttle of one [`AuthApi`](super::AuthApi).
#[derive(Debug)]
pub(super) struct Throttle {
    per_username: Limit,
    per_client: Limit,
    memory: Mutex<memory::Table>,
    #[cfg(feature = "postgres")]
    sweeps: postgres::Sweeps,
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
            memory: Mutex::new(memory::Table::new(capacity, Instant::now())),
            #[cfg(feature = "postgres")]
            sweeps: postgres::Sweeps::default(),
        }
    }

    pub(super) fn limits(&self) -> (Limit, Limit) {
        (self.per_username, self.per_client)
    }

    pub(super) fn capacity(&self) -> usize {
        self.table().capacity()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, memory::Table> {
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The subjects an attempt counts against, with their limits (limits of 0 are off).
    fn subjects(&self, username: &str, client: Option<IpAddr>) -> Reservation {
        Reservation {
            username: (self.per_username.failures > 0).then(|| Subject::username(username)),
            client: client
                .filter(|_| self.per_client.failures > 0)
                .map(Subject::client),
            ticket: Ticket::Memory(0),
        }
    }

    fn with_limits(&self, reservation: &Reservation) -> Vec<(Subject, Limit)> {
        let mut subjects: Vec<(Subject, Limit)> = Vec::with_capacity(2);
        subjects.extend(reservation.username.map(|s| (s, self.per_username)));
        subjects.extend(reservation.client.map(|s| (s, self.per_client)));
        subjects
    }

    /// Reserves an attempt for `username` from `client`, or says how long to wait.
    pub(super) async fn reserve(
        &self,
        store: &Store,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<Admission, Error> {
        let mut reservation = self.subjects(username, client);
        let subjects = self.with_limits(&reservation);
        if subjects.is_empty() {
            return Ok(Admission::Granted(reservation)); // both limits are off
        }
        #[cfg(feature = "postgres")]
        if let Some(pool) = store.postgres_pool() {
            let now = chrono::Utc::now();
            self.sweeps.maybe_sweep(pool, now).await;
            return Ok(match postgres::reserve(pool, &subjects, now).await? {
                Ok(rows) => {
                    reservation.ticket = Ticket::Postgres(rows);
                    Admission::Granted(reservation)
                }
                Err(wait) => Admission::Denied(wait),
            });
        }
        let _ = store;
        Ok(match self.table().reserve(&subjects, Instant::now()) {
            Ok(ticket) => {
                reservation.ticket = Ticket::Memory(ticket);
                Admission::Granted(reservation)
            }
            Err(wait) => Admission::Denied(wait),
        })
    }

    /// The password was right: forget the username's failures and release the client's
    /// reservation.
    pub(super) async fn succeeded(&self, store: &Store, reservation: Reservation) {
        self.finish(store, reservation, true).await;
    }

    /// No verdict was reached (a server error): release the reservation.
    pub(super) async fn release(&self, store: &Store, reservation: Reservation) {
        self.finish(store, reservation, false).await;
    }

    async fn finish(&self, store: &Store, reservation: Reservation, succeeded: bool) {
        match reservation.ticket {
            Ticket::Memory(ticket) => {
                let mut table = self.table();
                if let Some(username) = reservation.username {
                    if succeeded {
                        table.forget(&username);
                    } else {
                        table.release(&username, ticket);
                    }
                }
                if let Some(client) = reservation.client {
                    table.release(&client, ticket);
                }
            }
            #[cfg(feature = "postgres")]
            Ticket::Postgres(rows) => {
                let Some(pool) = store.postgres_pool() else {
                    return;
                };
                let forget = reservation.username.filter(|_| succeeded);
                if let Err(error) = postgres::finish(pool, &rows, forget).await {
                    // The login's outcome stands; at worst the attempt keeps counting.
                    tracing::warn!(%error, "tokenauth: could not update the login throttle");
                }
            }
        }
        let _ = store;
    }
}

/// The client's address: the peer's, or — only when the peer is a trusted proxy — the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub(super) fn client_address(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted_proxies.contains(ip))
        .or_else(|| forwarded.first())
        .copied()
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Subject::client(a), Subject::client(b));
        assert_ne!(Subject::client(a), Subject::client(other));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Subject::client(v4), Subject::client(mapped));
        assert_ne!(
            Subject::client(v4),
            Subject::client("192.0.2.2".parse().unwrap())
        );
    }

    #[test]
    fn subjects_are_fixed_size_and_separate_kinds() {
        let huge = "x".repeat(5 << 20);
        assert_eq!(Subject::username(&huge).as_bytes().len(), 16);
        assert_ne!(Subject::username("alice"), Subject::username("alicf"));
        assert_ne!(
            Subject::username("192.0.2.1"),
            Subject::client("192.0.2.1".parse().unwrap())
        );
    }
}
