//! The throttle's state in this process's memory (SQLite stores): a map from fixed-size
//! subjects to their recent attempts — pending ones and recorded failures — swept by window
//! and capped in entries. When it is full of live entries, those with the fewest attempts (the
//! oldest first) are forgotten to make room: refusing new subjects instead would let an
//! attacker who fills the table shut every legitimate login out.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[cfg(test)]
use super::MEMORY_KEY;
use super::{Count, Limit, Role, Step, Subject, Verdict, judge};

/// How often stale subjects are swept when the table is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How often a full table is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// A reserved attempt: 24 bytes, as the capacity's figures assume.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    at: Instant,
    /// The reservation's ticket, shifted left by one, and in the low bit whether the attempt
    /// is pending (undecided: its login has not reported a verdict yet). A pending attempt
    /// does not expire with the window; its verdict removes it or records it as a failure.
    tag: u64,
}

impl Attempt {
    fn pending(at: Instant, ticket: u64) -> Self {
        Attempt {
            at,
            tag: ticket << 1 | 1,
        }
    }

    fn ticket(&self) -> u64 {
        self.tag >> 1
    }

    fn is_pending(&self) -> bool {
        self.tag & 1 == 1
    }

    fn record_failure(&mut self) {
        self.tag &= !1;
    }
}

#[derive(Debug)]
struct Entry {
    window: Duration,
    /// Reserved attempts, oldest first. Never longer than the limit.
    attempts: VecDeque<Attempt>,
}

impl Entry {
    fn expire(&mut self, now: Instant) {
        let window = self.window;
        self.attempts
            .retain(|a| a.is_pending() || now.saturating_duration_since(a.at) < window);
    }

    /// The attempts as a reservation sees them, against `limit`.
    fn count(&self, limit: Limit, now: Instant) -> Count {
        let pending = self.attempts.iter().filter(|a| a.is_pending()).count();
        let failed = self.attempts.len() - pending;
        // The failures fall below the limit when the newest `limit` of them begins to expire.
        let retry = failed
            .checked_sub(limit.failures)
            .and_then(|older| self.attempts.iter().filter(|a| !a.is_pending()).nth(older))
            .map_or(Duration::ZERO, |oldest| {
                oldest
                    .at
                    .checked_add(self.window)
                    .map_or(self.window, |at| at.saturating_duration_since(now))
            });
        Count {
            failed,
            pending,
            retry,
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

    /// Reserves one pending attempt against every subject, or none: `Denied` with the wait
    /// when a subject's failures reach its limit, `Busy` when its failures and pending
    /// attempts do.
    pub(super) fn reserve(&mut self, subjects: &[(Subject, Limit)], now: Instant) -> Step<u64> {
        if now.saturating_duration_since(self.last_sweep) >= SWEEP_EVERY {
            self.sweep(now);
        }
        let mut new = 0;
        let mut counts = Vec::with_capacity(subjects.len());
        for (place, (subject, limit)) in subjects.iter().enumerate() {
            let Some(entry) = self.entries.get_mut(subject) else {
                new += 1;
                continue;
            };
            entry.window = limit.window;
            entry.expire(now);
            counts.push((place, entry.count(*limit, now), *limit));
        }
        if let Some(refusal) = judge(counts) {
            return refusal;
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
            entry.attempts.push_back(Attempt::pending(now, ticket));
            // A lowered limit: keep only what the limit can count.
            while entry.attempts.len() > limit.failures {
                entry.attempts.pop_front();
            }
        }
        Step::Granted(ticket)
    }

    /// Records the verdict of `ticket`'s attempt on each of its subjects: a failure stays as
    /// a recorded failure; a success removes it and, for a username, every recorded failure
    /// (other logins' pending attempts stay); a release removes it.
    pub(super) fn settle(&mut self, subjects: &[(Subject, Role)], ticket: u64, verdict: Verdict) {
        for (subject, role) in subjects {
            let Some(entry) = self.entries.get_mut(subject) else {
                continue; // forgotten (evicted) meanwhile
            };
            match verdict {
                Verdict::Failed => {
                    for attempt in entry.attempts.iter_mut() {
                        if attempt.ticket() == ticket {
                            attempt.record_failure();
                        }
                    }
                }
                Verdict::Succeeded if *role == Role::Username => {
                    entry
                        .attempts
                        .retain(|a| a.is_pending() && a.ticket() != ticket);
                }
                Verdict::Succeeded | Verdict::Released => {
                    entry.attempts.retain(|a| a.ticket() != ticket);
                }
            }
            if entry.attempts.is_empty() {
                self.entries.remove(subject);
            }
        }
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
                let last = entry.attempts.back().map_or(now, |a| a.at);
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

    /// How one reservation came out, without its ticket.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Granted,
        Denied(Duration),
        Busy,
    }

    fn seen(step: &Step<u64>) -> Seen {
        match step {
            Step::Granted(_) => Seen::Granted,
            Step::Denied(denial) => Seen::Denied(denial.retry),
            Step::Busy => Seen::Busy,
            Step::Contended => unreachable!("the memory table has no locks to contend for"),
        }
    }

    fn ticket(step: Step<u64>) -> u64 {
        match step {
            Step::Granted(ticket) => ticket,
            other => panic!("not granted: {:?}", seen(&other)),
        }
    }

    /// Reserves and records a failure at once, as a wrong password does.
    fn fail(table: &mut Table, subjects: &[(Subject, Limit)], now: Instant) -> Seen {
        let step = table.reserve(subjects, now);
        let result = seen(&step);
        if let Step::Granted(ticket) = step {
            let roles: Vec<(Subject, Role)> =
                subjects.iter().map(|(s, _)| (*s, Role::Client)).collect();
            table.settle(&roles, ticket, Verdict::Failed);
        }
        result
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
        let secs = Duration::from_secs;
        assert_eq!(fail(&mut table, &at("alice"), t0), Seen::Granted);
        assert_eq!(fail(&mut table, &at("alice"), t0 + secs(10)), Seen::Granted);
        assert_eq!(
            fail(&mut table, &at("alice"), t0 + secs(20)),
            Seen::Denied(secs(40))
        );
        // Another username from the same address: the address has one failure left.
        assert_eq!(fail(&mut table, &at("bob"), t0 + secs(20)), Seen::Granted);
        assert!(matches!(
            fail(&mut table, &at("carol"), t0 + secs(21)),
            Seen::Denied(_)
        ));
        assert_eq!(fail(&mut table, &at("alice"), t0 + secs(80)), Seen::Granted);
    }

    #[test]
    fn successes_use_up_no_budget() {
        let (per_user, per_client) = limits(2, 3);
        let t0 = Instant::now();
        let mut table = Table::new(100, t0);
        let ip = Subject::client(MEMORY_KEY, "192.0.2.1".parse().unwrap());
        let roles = |name: &str| {
            [
                (Subject::username(MEMORY_KEY, name), Role::Username),
                (ip, Role::Client),
            ]
        };
        let at = |name: &str| {
            [
                (Subject::username(MEMORY_KEY, name), per_user),
                (ip, per_client),
            ]
        };
        // A hundred successes, one after the other: never refused.
        for i in 0..100 {
            let name = format!("user{i}");
            let t = ticket(table.reserve(&at(&name), t0));
            table.settle(&roles(&name), t, Verdict::Succeeded);
        }
        assert_eq!(table.len(), 0, "successes leave nothing behind");
        // Three logins in flight fill the address's limit: a fourth waits, it is not refused.
        let tickets: Vec<u64> = ["a", "b", "c"]
            .iter()
            .map(|name| ticket(table.reserve(&at(name), t0)))
            .collect();
        assert_eq!(seen(&table.reserve(&at("d"), t0)), Seen::Busy);
        // A success frees its place; the waiter gets in.
        table.settle(&roles("a"), tickets[0], Verdict::Succeeded);
        let d = ticket(table.reserve(&at("d"), t0));
        // Failures are recorded: with b, c and d failed, the address is refused, not busy.
        for (name, t) in [("b", tickets[1]), ("c", tickets[2]), ("d", d)] {
            table.settle(&roles(name), t, Verdict::Failed);
        }
        assert_eq!(
            seen(&table.reserve(&at("e"), t0 + Duration::from_secs(1))),
            Seen::Denied(Duration::from_secs(59))
        );
    }

    #[test]
    fn a_success_clears_the_usernames_failures_but_not_others_pending_attempts() {
        let (per_user, per_client) = limits(3, 100);
        let t0 = Instant::now();
        let mut table = Table::new(100, t0);
        let alice = Subject::username(MEMORY_KEY, "alice");
        let ip = |last: u8| Subject::client(MEMORY_KEY, [192, 0, 2, last].into());
        let at = |last: u8| [(alice, per_user), (ip(last), per_client)];
        let roles = |last: u8| [(alice, Role::Username), (ip(last), Role::Client)];
        let failed = ticket(table.reserve(&at(1), t0));
        table.settle(&roles(1), failed, Verdict::Failed);
        let guess = ticket(table.reserve(&at(2), t0));
        let right = ticket(table.reserve(&at(3), t0));
        table.settle(&roles(3), right, Verdict::Succeeded);
        // The recorded failure is gone; the guess still in flight is not, and its failure
        // counts when it comes.
        table.settle(&roles(2), guess, Verdict::Failed);
        let one = ticket(table.reserve(&at(4), t0));
        table.settle(&roles(4), one, Verdict::Failed);
        assert_eq!(fail(&mut table, &at(5), t0), Seen::Granted);
        assert!(matches!(fail(&mut table, &at(6), t0), Seen::Denied(_)));
        // The client of the failed guess keeps its failure: a success of alice's from
        // elsewhere does not clear it.
        assert_eq!(table.entries[&ip(1)].count(per_client, t0).failed, 1);
    }

    #[test]
    fn pending_attempts_outlive_the_window_until_decided() {
        let limit = Limit::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        let mut table = Table::new(100, t0);
        let alice = Subject::username(MEMORY_KEY, "alice");
        let slow = ticket(table.reserve(&[(alice, limit)], t0));
        let later = t0 + Duration::from_secs(30);
        table.sweep(later);
        assert_eq!(seen(&table.reserve(&[(alice, limit)], later)), Seen::Busy);
        table.settle(&[(alice, Role::Username)], slow, Verdict::Released);
        assert_eq!(table.len(), 0);
        assert_eq!(
            seen(&table.reserve(&[(alice, limit)], later)),
            Seen::Granted
        );
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
            let now = t0 + Duration::from_millis(i);
            assert_eq!(fail(&mut table, &[(victim, per_user)], now), Seen::Granted);
        }
        let long = "x".repeat(1000);
        for i in 0..100_000 {
            let name = format!("{long}{i}");
            let now = t0 + Duration::from_millis(10 + i);
            let subject = Subject::username(MEMORY_KEY, &name);
            assert_eq!(
                fail(&mut table, &[(subject, per_user)], now),
                Seen::Granted,
                "a new username is never refused for want of room"
            );
            assert!(table.len() <= capacity);
        }
        // The entries with the most failures were kept: the victim has one attempt left.
        let now = t0 + Duration::from_secs(101);
        assert_eq!(fail(&mut table, &[(victim, per_user)], now), Seen::Granted);
        assert!(matches!(
            fail(&mut table, &[(victim, per_user)], now),
            Seen::Denied(_)
        ));
        // Keys are fixed-size whatever the username: the table holds no username bytes.
        assert_eq!(std::mem::size_of::<Subject>(), 16);
        assert_eq!(std::mem::size_of::<Attempt>(), 24);
        let later = t0 + Duration::from_secs(7200);
        let client = Subject::client(MEMORY_KEY, "192.0.2.1".parse().unwrap());
        ticket(table.reserve(&[(client, per_client)], later));
        table.sweep(later);
        assert_eq!(table.len(), 1, "expired entries are swept by window");
    }

    #[test]
    fn a_huge_window_does_not_overflow() {
        let t0 = Instant::now();
        let mut table = Table::new(10, t0);
        let limit = Limit::new(1, Duration::MAX);
        let alice = Subject::username(MEMORY_KEY, "alice");
        assert_eq!(fail(&mut table, &[(alice, limit)], t0), Seen::Granted);
        assert_eq!(
            fail(&mut table, &[(alice, limit)], t0),
            Seen::Denied(Duration::MAX)
        );
    }
}
