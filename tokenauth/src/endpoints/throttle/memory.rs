//! The throttle's state in this process's memory (SQLite stores): a map from fixed-size
//! subjects to their recent attempts, swept by window and capped in entries.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{Limit, Subject};

/// How often stale subjects are swept when the table is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

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

    /// When the entry's last attempt ages out.
    fn expires_at(&self) -> Option<Instant> {
        self.attempts.back().map(|(at, _)| *at + self.window)
    }
}

#[derive(Debug)]
pub(super) struct Table {
    entries: HashMap<Subject, Entry>,
    capacity: usize,
    next_ticket: u64,
    last_sweep: Instant,
    /// While full of live entries: when to look again (a sweep is O(entries)).
    full_until: Option<Instant>,
}

impl Table {
    pub(super) fn new(capacity: usize, now: Instant) -> Self {
        Table {
            entries: HashMap::new(),
            capacity,
            next_ticket: 1,
            last_sweep: now,
            full_until: None,
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
    /// is at its limit, or when the table is full of live entries and a subject is new.
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
                let retry = (oldest + limit.window).saturating_duration_since(now);
                wait = wait.max(Some(retry));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if self.entries.len() + new > self.capacity {
            if self.full_until.is_none_or(|until| now >= until) {
                self.sweep(now);
            }
            if self.entries.len() + new > self.capacity {
                // Full of live entries: a new subject waits until the first one ages out,
                // rather than evicting (and so forgetting) someone's failures.
                let until = match self.full_until {
                    Some(until) if until > now => until,
                    _ => {
                        let first = self.entries.values().filter_map(Entry::expires_at).min();
                        let until = first.unwrap_or(now).max(now + Duration::from_secs(1));
                        tracing::warn!(
                            capacity = self.capacity,
                            "tokenauth: the login throttle is full; logins of new usernames and \
                             clients wait until entries expire"
                        );
                        self.full_until = Some(until);
                        until
                    }
                };
                return Err(until - now);
            }
            self.full_until = None;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        for (subject, limit) in subjects {
            let entry = self.entries.entry(*subject).or_insert_with(|| Entry {
                window: limit.window,
                // Never more than the limit: allocate that once.
                attempts: VecDeque::with_capacity(limit.failures.min(1024)),
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
        let ip = Subject::client("192.0.2.1".parse().unwrap());
        let at = |name: &str| [(Subject::username(name), per_user), (ip, per_client)];
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
        let ip = Subject::client("192.0.2.1".parse().unwrap());
        let alice = Subject::username("alice");
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
        let (per_user, _) = limits(5, 20);
        let t0 = Instant::now();
        let capacity = 10_000;
        let mut table = Table::new(capacity, t0);
        let long = "x".repeat(1000);
        let mut refused = 0;
        for i in 0..100_000 {
            let name = format!("{long}{i}");
            let now = t0 + Duration::from_millis(i);
            if table
                .reserve(&[(Subject::username(&name), per_user)], now)
                .is_err()
            {
                refused += 1;
            }
            assert!(table.len() <= capacity);
        }
        // 60 s windows over 100 s: the table filled, new names waited, expired ones made room.
        assert!(refused > 0, "the cap was reached");
        assert!(
            refused < 100_000 - capacity,
            "expired entries were swept: {refused}"
        );
        // Keys are fixed-size whatever the username: the table holds no username bytes.
        assert_eq!(std::mem::size_of::<Subject>(), 16);
        let later = t0 + Duration::from_secs(1000);
        table
            .reserve(&[(Subject::username("late"), per_user)], later)
            .unwrap();
        table.sweep(later);
        assert_eq!(table.len(), 1, "expired entries are swept by window");
    }
}
