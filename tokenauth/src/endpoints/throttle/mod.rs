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
//! entries. Subjects are fixed-size keyed digests (HMAC-SHA-256, with a secret kept in the
//! database on PostgreSQL), never the usernames or addresses themselves.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use poem::Request;

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
            memory: Mutex::new(memory::Table::new(capacity.max(1), Instant::now())),
            #[cfg(feature = "postgres")]
            shared: postgres::Shared::default(),
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

    /// The subjects an attempt counts against (limits of 0 are off), digested with `key`.
    fn subjects(&self, key: &[u8; 32], username: &str, client: Option<IpAddr>) -> Reservation {
        Reservation {
            username: (self.per_username.failures > 0).then(|| Subject::username(key, username)),
            client: client
                .filter(|_| self.per_client.failures > 0)
                .map(|ip| Subject::client(key, ip)),
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
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(super) async fn reserve(
        &self,
        store: &Store,
        username: &str,
        client: Option<IpAddr>,
    ) -> Result<Admission, Error> {
        #[cfg(feature = "postgres")]
        if let Some(pool) = store.postgres_pool() {
            let key = store.throttle_key().await?;
            let mut reservation = self.subjects(&key, username, client);
            let subjects = self.with_limits(&reservation);
            if subjects.is_empty() {
                return Ok(Admission::Granted(reservation)); // both limits are off
            }
            return Ok(match self.shared.reserve(pool, &subjects).await? {
                Ok(rows) => {
                    reservation.ticket = Ticket::Postgres(rows);
                    Admission::Granted(reservation)
                }
                Err(wait) => Admission::Denied(wait),
            });
        }
        let mut reservation = self.subjects(MEMORY_KEY, username, client);
        let subjects = self.with_limits(&reservation);
        if subjects.is_empty() {
            return Ok(Admission::Granted(reservation));
        }
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

    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
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
    }
}

/// The client's address: the peer's, or — only when the peer is a trusted proxy — the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy. Entries are
/// read from the right, as the proxies appended them: an entry that is not an address (or
/// `address:port`) stops the walk and the peer is used, so a client cannot hide its own
/// address behind a malformed one. Addresses are compared in canonical form (an
/// IPv4-mapped `::ffff:10.0.0.1` is `10.0.0.1`). `None` when the peer is not an IP socket
/// (e.g. a Unix socket): then only the per-username limit applies.
pub(super) fn client_address(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    let forwarded = req.headers().get_all("x-forwarded-for");
    Some(resolve(peer, forwarded.iter(), trusted_proxies))
}

/// [`client_address`] for a peer and its `X-Forwarded-For` header values.
fn resolve<'h>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'h poem::http::HeaderValue>,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    let peer = peer.to_canonical();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|p| p.to_canonical() == *ip);
    if !trusted(&peer) {
        return peer;
    }
    let mut entries: Vec<&str> = Vec::new();
    for value in forwarded {
        let Ok(value) = value.to_str() else {
            return peer; // not visible ASCII: believe nothing in it
        };
        entries.extend(value.split(',').map(str::trim));
    }
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_address(entry) else {
            return peer;
        };
        if !trusted(&ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest // every hop is a trusted proxy
}

/// An `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`, canonical.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(ip.to_canonical())
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

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> Option<IpAddr> {
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        let values: Vec<poem::http::HeaderValue> =
            forwarded.iter().map(|v| v.parse().unwrap()).collect();
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        Some(resolve(peer.ip(), values.iter(), &trusted))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let proxy = ["10.0.0.1"];
        // Untrusted peers: the header is ignored.
        assert_eq!(
            from("192.0.2.9:1", &["198.51.100.1"], &proxy),
            ip("192.0.2.9")
        );
        // The right-most untrusted entry, whatever the client wrote to its left.
        assert_eq!(
            from("10.0.0.1:1", &["6.6.6.6, 198.51.100.1"], &proxy),
            ip("198.51.100.1")
        );
        assert_eq!(
            from("10.0.0.1:1", &["198.51.100.1:4711", "10.0.0.1"], &proxy),
            ip("198.51.100.1")
        );
        assert_eq!(
            from("10.0.0.1:1", &["[2001:db8::1]:443"], &proxy),
            ip("2001:db8::1")
        );
        // A malformed entry where the proxy's should be: believe nothing.
        assert_eq!(
            from("10.0.0.1:1", &["6.6.6.6, unknown"], &proxy),
            ip("10.0.0.1")
        );
        // An IPv4 proxy seen through an IPv6 socket is still the trusted proxy.
        assert_eq!(
            from("[::ffff:10.0.0.1]:1", &["198.51.100.1"], &proxy),
            ip("198.51.100.1")
        );
        // No header: the proxy's own address.
        assert_eq!(from("10.0.0.1:1", &[], &proxy), ip("10.0.0.1"));
    }
}
