//! Failed-login throttling, per username and per client address, in the memory of one
//! application instance.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use poem::Request;

/// At most `failures` failed logins within `window`; more wait until the oldest ages out.
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

#[derive(Hash, PartialEq, Eq, Clone)]
enum Subject {
    Username(String),
    Client(IpAddr),
}

#[derive(Debug)]
pub(super) struct Throttle {
    pub(super) per_username: Limit,
    pub(super) per_client: Limit,
    failures: Mutex<HashMap<Subject, VecDeque<Instant>>>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subject(..)")
    }
}

/// Beyond this many tracked subjects, stale ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

impl Throttle {
    pub(super) fn new(per_username: Limit, per_client: Limit) -> Self {
        Throttle {
            per_username,
            per_client,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn subjects(&self, username: &str, client: Option<IpAddr>) -> Vec<(Subject, Limit)> {
        let mut subjects = vec![(Subject::Username(username.to_owned()), self.per_username)];
        subjects.extend(client.map(|ip| (Subject::Client(ip), self.per_client)));
        subjects
    }

    /// How long the caller must wait, if either subject is over its limit.
    pub(super) fn retry_after(
        &self,
        username: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Option<Duration> {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.subjects(username, client)
            .into_iter()
            .filter_map(|(subject, limit)| {
                let times = failures.get_mut(&subject)?;
                expire(times, limit, now);
                (limit.failures > 0 && times.len() >= limit.failures).then(|| {
                    let oldest = times[times.len() - limit.failures];
                    (oldest + limit.window).saturating_duration_since(now)
                })
            })
            .max()
    }

    pub(super) fn failed(&self, username: &str, client: Option<IpAddr>, now: Instant) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() > SWEEP_ABOVE {
            let longest = self.per_username.window.max(self.per_client.window);
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < longest)
            });
        }
        for (subject, limit) in self.subjects(username, client) {
            let times = failures.entry(subject).or_default();
            expire(times, limit, now);
            times.push_back(now);
        }
    }

    pub(super) fn succeeded(&self, username: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(&Subject::Username(username.to_owned()));
    }
}

fn expire(times: &mut VecDeque<Instant>, limit: Limit, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= limit.window)
    {
        times.pop_front();
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
    fn blocks_after_the_limit_until_the_window_passes() {
        let throttle = Throttle::new(
            Limit::new(2, Duration::from_secs(60)),
            Limit::new(3, Duration::from_secs(60)),
        );
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(throttle.retry_after("alice", Some(ip), t0), None);
        throttle.failed("alice", Some(ip), t0);
        assert_eq!(throttle.retry_after("alice", Some(ip), t0), None);
        throttle.failed("alice", Some(ip), t0 + Duration::from_secs(10));
        assert_eq!(
            throttle.retry_after("alice", Some(ip), t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(40))
        );
        // Another username from the same address is not blocked yet; the address is at 3.
        assert_eq!(
            throttle.retry_after("bob", Some(ip), t0 + Duration::from_secs(20)),
            None
        );
        throttle.failed("bob", Some(ip), t0 + Duration::from_secs(20));
        assert!(
            throttle
                .retry_after("carol", Some(ip), t0 + Duration::from_secs(21))
                .is_some()
        );
        assert_eq!(
            throttle.retry_after("alice", Some(ip), t0 + Duration::from_secs(80)),
            None
        );
        throttle.succeeded("alice");
    }
}
