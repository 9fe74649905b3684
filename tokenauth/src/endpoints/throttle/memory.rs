//! The throttle's state in this process's memory (SQLite stores): a map from fixed-size
//! subjects to their recent attempts, swept by window and capped in entries. When it is full
//! of live entries, those with the fewest recorded attempts (the oldest first) are forgotten
//! to make room: refusing new subjects instead would let an attacker who fills the table shut
//! every legitimate login out.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[cfg(test)]
use super::MEMORY_KEY;
use super::{Limit, Subject};

/// How often stale subjects are swept when the table is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How often a full table is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Entry {
    window: Duration,
    /// Reserved attempts, oldest first, with their tickets. Never longer than the limit.
    attempts: VecDeque<(Instant, u64)>,
}

impl Entry {
    fn expire(&mut self, now: Instant) {
        while self
            .attempts
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= self.window)
        {
            self.attempts.pop_front();
        }
    }
}

#[derive(Debug)]
pub(super) struct Table {
    entries: HashMap<Subject, Entry>,
    capacity: usize,
    next_ticket: u64,
    last_sweep: Instant,
    /// When eviction was last reported.
    reported: Option<Instant>,
}

impl Table {
    pub(super) fn new(capacity: usize, now: Instant) -> Self {
        Table {
            entries: HashMap::new(),
            capacity,
            next_ticket: 1,
            last_sweep: now,
            reported: None,
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Reserves one attempt against every subject, or none: `Err` with the wait when a subject
    /// is at its limit.
    pub(super) fn reserve(
        &mut self,
        subjects: &[(Subject, Limit)],
        now: Instant,
    ) -> Result<u64, Duration> {
        if now.saturating_duration_since(self.last_sweep) >= SWEEP_EVERY {
            self.sweep(now);
        }
        let mut wait = None;
        let mut new = 0;
        for (subject, limit) in subjects {
            let Some(entry) = self.entries.get_mut(subject) else {
                new += 1;
                continue;
            };
            entry.window = limit.window;
            entry.expire(now);
            let len = entry.attempts.len();
            if len >= limit.failures {
                let (oldest, _) = entry.attempts[len - limit.failures];
                let retry = oldest
                    .checked_add(limit.window)
                    .map_or(limit.window, |at| at.saturating_duration_since(now));
                wait = wait.max(Some(retry));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if self.entries.len() + new > self.capacity {
            self.sweep(now);
            if self.entries.len() + new > self.capacity {
                self.evict(subjects, new, now);
            }
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        for (subject, limit) in subjects {
            let entry = self.entries.entry(*subject).or_insert_with(|| Entry {
                window: limit.window,
                attempts: VecDeque::new(),
            });
            entry.attempts.push_back((now, ticket));
            // A lowered limit: keep only what the limit can count.
            while entry.attempts.len() > limit.failures {
                entry.attempts.pop_front();
            }
        }
        Ok(ticket)
    }

    /// Removes `ticket`'s attempt from `subject`.
    pub(super) fn release(&mut self, subject: &Subject, ticket: u64) {
        if let Some(entry) = self.entries.get_mut(subject) {
            entry.attempts.retain(|(_, t)| *t != ticket);
            if entry.attempts.is_empty() {
                self.entries.remove(subject);
            }
        }
    }

    /// Forgets every attempt of `subject`.
    pub(super) fn forget(&mut self, subject: &Subject) {
        self.entries.remove(subject);
    }

    /// Makes room for `new` subjects (and a tenth of the capacity more, so that a full table
    /// is not scanned on every attempt) by forgetting the entries with the fewest attempts,
    /// the least recently used first — never those of the current reservation.
    fn evict(&mut self, current: &[(Subject, Limit)], new: usize, now: Instant) {
        let mut candidates: Vec<(usize, Instant, Subject)> = self
            .entries
            .iter()
            .filter(|(subject, _)| !current.iter().any(|(s, _)| s == *subject))
            .map(|(subject, entry)| {
                let last = entry.attempts.back().map_or(now, |(at, _)| *at);
                (entry.attempts.len(), last, *subject)
            })
            .collect();
        let needed = (self.entries.len() + new).saturating_sub(self.capacity);
        let count = (needed + self.capacity / 10).min(candidates.len());
        if count == 0 {
            return;
        }
        candidates.select_nth_unstable_by(count - 1, |a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, subject) in &candidates[..count] {
            self.entries.remove(subject);
        }
        if self
            .reported
            .is_none_or(|at| now.saturating_duration_since(at) >= REPORT_EVERY)
        {
            self.reported = Some(now);
            tracing::warn!(
                capacity = self.capacity,
                forgotten = count,
                "tokenauth: the login throttle is full of live entries; forgetting those with \
                 the fewest failures (see AuthApi::throttle_capacity)"
            );
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            entry.expire(now);
            !entry.attempts.is_empty()
        });
        self.entries
            .shrink_to(self.capacity.min(self.entries.len() * 2));
        self.last_sweep = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(user: usize, client: usize) -> (Limit, Limit) {
        let window = Duration::from_secs(60);
        (Limit::new(user, window), Limit::new(client, window))
    }

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let (per_user, per_client) = limits(2, 3);
        let t0 = Instant::now();
        let mut table = Table::new(100, t0);
        let ip = Subject::client(MEMORY_KEY, "192.0.2.1".parse().unwrap());
        let at = |name: &str| {
            [
                (Subject::username(MEMORY_KEY, name), per_user),
                (ip, per_client),
            ]
        };
        assert!(table.reserve(&at("alice"), t0).is_ok());
        assert!(
            table
                .reserve(&at("alice"), t0 + Duration::from_secs(10))
                .is_ok()
        );
        assert_eq!(
            table.reserve(&at("alice"), t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        // Another username from the same address: the address has one attempt left.
        assert!(
            table
                .reserve(&at("bob"), t0 + Duration::from_secs(20))
                .is_ok()
        );
        assert!(
            table
                .reserve(&at("carol"), t0 + Duration::from_secs(21))
                .is_err()
        );
        assert!(
            table
                .reserve(&at("alice"), t0 + Duration::from_secs(80))
                .is_ok()
        );
    }

    #[test]
    fn release_and_forget() {
        let (per_user, per_client) = limits(1, 5);
        let t0 = Instant::now();
        let mut table = Table::new(100, t0);
        let ip = Subject::client(MEMORY_KEY, "192.0.2.1".parse().unwrap());
        let alice = Subject::username(MEMORY_KEY, "alice");
        let ticket = table
            .reserve(&[(alice, per_user), (ip, per_client)], t0)
            .unwrap();
        assert!(table.reserve(&[(alice, per_user)], t0).is_err());
        table.release(&alice, ticket);
        table.release(&ip, ticket);
        assert_eq!(table.len(), 0);
        table.reserve(&[(alice, per_user)], t0).unwrap();
        table.forget(&alice);
        assert!(table.reserve(&[(alice, per_user)], t0).is_ok());
    }

    #[test]
    fn memory_stays_bounded_with_100k_distinct_usernames() {
        let per_user = Limit::new(5, Duration::from_secs(3600));
        let per_client = Limit::new(20, Duration::from_secs(60));
        let t0 = Instant::now();
        let capacity = 10_000;
        let mut table = Table::new(capacity, t0);
        // A victim with failures on record, and an attacker who fills the table.
        let victim = Subject::username(MEMORY_KEY, "victim");
        for i in 0..4 {
            table
                .reserve(&[(victim, per_user)], t0 + Duration::from_millis(i))
                .unwrap();
        }
        let long = "x".repeat(1000);
        for i in 0..100_000 {
            let name = format!("{long}{i}");
            let now = t0 + Duration::from_millis(10 + i);
            let subject = Subject::username(MEMORY_KEY, &name);
            assert!(
                table.reserve(&[(subject, per_user)], now).is_ok(),
                "a new username is never refused for want of room"
            );
            assert!(table.len() <= capacity);
        }
        // The entries with the most failures were kept: the victim has one attempt left.
        let now = t0 + Duration::from_secs(101);
        assert!(table.reserve(&[(victim, per_user)], now).is_ok());
        assert!(table.reserve(&[(victim, per_user)], now).is_err());
        // Keys are fixed-size whatever the username: the table holds no username bytes.
        assert_eq!(std::mem::size_of::<Subject>(), 16);
        let later = t0 + Duration::from_secs(7200);
        let client = Subject::client(MEMORY_KEY, "192.0.2.1".parse().unwrap());
        table.reserve(&[(client, per_client)], later).unwrap();
        table.sweep(later);
        assert_eq!(table.len(), 1, "expired entries are swept by window");
    }

    #[test]
    fn a_huge_window_does_not_overflow() {
        let t0 = Instant::now();
        let mut table = Table::new(10, t0);
        let limit = Limit::new(1, Duration::MAX);
        let alice = Subject::username(MEMORY_KEY, "alice");
        table.reserve(&[(alice, limit)], t0).unwrap();
        assert!(table.reserve(&[(alice, limit)], t0).is_err());
    }
}
