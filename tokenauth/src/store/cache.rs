//! The authentication cache: what makes a repeated key cost no query, without ever making an
//! answer different from the database's.
//!
//! The cache maps a key digest to the token and user rows that the last query for it
//! returned, bounded in entries (quick_cache, whose hits take no lock for the cache's
//! bookkeeping) and in age (checked on every hit, from the read). Expiry, activity and scopes
//! are still evaluated on every request, from the cached rows exactly as from fresh ones.
//!
//! **Acceptances** are served from the cache only while the change feed ([`super::feed`])
//! holds a *lease* on the user type's tokens table: proof, renewed by the feed, that every
//! change committed before a recent moment has been applied here. A lease lasts
//! [`REVOCATION_BOUND`] from the moment it proves; a feed that stops proving — a hung
//! connection, disabled triggers, a lost or reset log — lets it run out, and from then on
//! every authentication reads the database, until a new proof (which first forgets
//! everything). So a revocation made anywhere is refused here at most
//! [`REVOCATION_BOUND`] after it commits, whatever fails.
//!
//! **Refusals** are never served stale: a refusal the cache would give — a digest the
//! live-key filter ([`super::filter`]) does not hold, a cached inactive user, a cached expiry
//! — is confirmed by a query before it is answered, within a budget per instance (a token
//! bucket, [`Policy::refusal_checks`](crate::Policy::refusal_checks)), so that a flood of
//! made-up keys still costs at most that many queries. Past the budget a refusal is served
//! unconfirmed, counted and logged. A digest the database confirmed absent is remembered
//! (until a key is added), so that a flood of one unknown key spends no budget.
//!
//! Every change that revokes or narrows what a key grants, made through this store (and its
//! clones), takes effect before the changing call returns: it bumps a generation, and an
//! entry is served only if it was filled in the current generation. An entry is inserted
//! only if the generation is still the one its query started in, checked and inserted under a
//! lock that a bump takes exclusively, so a lookup that raced with a change never leaves a
//! stale entry behind. Changes made elsewhere arrive through the feed, which bumps the same
//! generation.
//!
//! **The tables it serves** are those the feed watches: tokenauth's own, and each group
//! ([`Watch`]) that a cacheable user type names ([`AuthUser::WATCH`]), registered with the
//! cache ([`AuthCache::watch`]) when the store first authenticates such a type. A registered
//! group has a lease of its own, none until the feed first proves it; a user type is served
//! only if a registered group covers both its tables.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::filter::LiveKeys;
use super::user::AuthUser;
use super::watch::{TOKENAUTH, Watch};
use crate::key::RawDigest;
use crate::models::Token;

/// How many groups of tables a cache can watch: tokenauth's own, always, and as many others
/// registered by cacheable user types (tokenauth defines one: Django's). A group registered
/// past it is never served (its user types read the database on every request).
const WATCHES: usize = 4;

/// How long after it commits a change made anywhere may still go unseen by a cache that
/// serves: the length of the feed's lease.
pub(crate) const REVOCATION_BOUND: Duration = Duration::from_secs(2);

/// Digests confirmed absent that are remembered.
const KNOWN_ABSENT: usize = 4096;

/// How often refusals served without confirmation are reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// An entry: the rows of one key, the generation they were read in, and when they were read
/// from the database (kept when a recorded use updates the entry, so that the maximum age
/// counts from the read). Cloned out of the cache on a hit: its rows are shared, not copied.
#[derive(Clone)]
struct Entry {
    generation: u64,
    /// Microseconds from the cache's `epoch` (8 bytes where an `Instant` takes 16).
    read_at: u64,
    rows: Rows,
}

/// The rows `(U, Token)` of an entry: packed for user types with a compact form
/// ([`AuthUser::pack`], [`super::packed`]), shared as they are for others. Either form is
/// read back only as the type it was made from: another type's entry for the same key is a
/// miss.
#[derive(Clone)]
enum Rows {
    Packed(super::entry::Packed),
    Shared(Arc<dyn Any + Send + Sync>),
}

impl Rows {
    fn new<U: AuthUser>(user: &U, token: &Token) -> Rows {
        match super::entry::pack(user, token) {
            Some(packed) => Rows::Packed(packed),
            None => Rows::Shared(Arc::new((user.clone(), token.clone()))),
        }
    }

    fn get<U: AuthUser>(&self) -> Option<(U, Token)> {
        match self {
            Rows::Packed(packed) => super::entry::unpack(packed),
            Rows::Shared(rows) => rows.downcast_ref::<(U, Token)>().cloned(),
        }
    }
}

/// What an instance's cache has done: for an operator (see
/// [`Store::cache_stats`](crate::Store::cache_stats)) and for tests.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let stats = store.cache_stats().expect("the cache is on by default");
/// assert_eq!(stats.unconfirmed_refusals, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Whether the cache serves tokenauth's own tokens now: its change feed has proven,
    /// within the last 2 seconds, that it has applied every change. While it does not, every
    /// authentication reads the database.
    pub serving: bool,
    /// Authentication queries run.
    pub queries: u64,
    /// Refusals the cache or the live-key filter would have given that a query checked.
    pub confirmed_refusals: u64,
    /// Of those, how many the database overturned: a key made on another instance and not
    /// yet seen here, a user activated since.
    pub overturned_refusals: u64,
    /// Refusals given without a query because the budget of checks was spent (a flood of
    /// made-up keys): the degraded mode, in which a key made elsewhere a moment ago can be
    /// refused until the feed delivers it.
    pub unconfirmed_refusals: u64,
    /// Times the feed's proof ran out (or was withdrawn) and the cache was bypassed.
    pub lapses: u64,
}

/// What the change feed has done, counted for tests: how often it looked for changes (a
/// `PRAGMA data_version`, a heartbeat), read the log, and started a filter build.
#[derive(Debug, Default)]
pub(crate) struct FeedWork {
    pub(crate) looks: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) builds: AtomicU64,
}

impl FeedWork {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The refusal budget: a token bucket in the generic cell rate form (one atomic, no lock),
/// `per_second` checks a second with a burst of as many.
struct Budget {
    /// Microseconds between two checks; 0: no checks at all.
    interval: u64,
    /// How far ahead of now the bucket may be booked.
    burst: u64,
    /// The theoretical time at which the bucket is full again (µs from the cache's epoch).
    booked_until: AtomicU64,
}

impl Budget {
    fn new(per_second: u32) -> Budget {
        let interval = match per_second {
            0 => 0,
            n => (1_000_000 / u64::from(n)).max(1),
        };
        Budget {
            interval,
            burst: interval.saturating_mul(u64::from(per_second)),
            booked_until: AtomicU64::new(0),
        }
    }

    /// Takes one check at `now` (µs), if the budget allows it.
    fn take(&self, now: u64) -> bool {
        if self.interval == 0 {
            return false;
        }
        let mut booked = self.booked_until.load(Ordering::Relaxed);
        loop {
            let next = booked.max(now).saturating_add(self.interval);
            if next - now > self.burst {
                return false;
            }
            match self.booked_until.compare_exchange_weak(
                booked,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => booked = current,
            }
        }
    }
}

/// See the [module](self).
pub(crate) struct AuthCache {
    /// By key digest alone: a key is a token of one user type (see [`Rows`]).
    entries: quick_cache::sync::Cache<RawDigest, Entry>,
    max_age: Duration,
    /// What entries' read times and leases count from.
    epoch: Instant,
    generation: AtomicU64,
    /// Shared by inserts (check the generation, insert), exclusive for a bump.
    lock: RwLock<()>,
    /// The groups of tables the feed watches, registered in order from the first slot
    /// (tokenauth's own, from the start): a slot is taken once and for all, without a lock,
    /// and read with one atomic load.
    watches: [OnceLock<&'static Watch>; WATCHES],
    /// Per group (the index of its slot), until when (µs from the epoch) the feed's last
    /// proof lets the cache serve its tables; 0: it does not.
    leases: [AtomicU64; WATCHES],
    /// When each group was last proven current (micros from the epoch, plus one; 0: never).
    /// Unlike the lease, never withdrawn: the gauge of the time since the last proof keeps
    /// growing through an outage.
    proven: [AtomicU64; WATCHES],
    /// The live-key filters, by tokens table.
    keys: LiveKeys,
    /// Digests the database confirmed absent from a tokens table (the index of its group)
    /// since the last key was added to it.
    absent: quick_cache::sync::Cache<(usize, RawDigest), ()>,
    /// Bumped whenever keys are added: a digest confirmed absent by a query that started
    /// before is not remembered.
    keys_added: AtomicU64,
    budget: Budget,
    queries: AtomicU64,
    confirmed: AtomicU64,
    overturned: AtomicU64,
    unconfirmed: AtomicU64,
    lapses: AtomicU64,
    /// The feed's work: looks for changes, reads of the log, filter builds (for tests).
    pub(super) work: FeedWork,
    /// When unconfirmed refusals were last reported (µs from the epoch), and how many then.
    reported_at: AtomicU64,
    reported_count: AtomicU64,
    /// The change feed's task, started with the first authentication; stopped with the cache.
    pub(super) feed: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Whether that task runs: set when it is spawned, cleared when it ends, so that a request
    /// finding the cache not serving (the feed not yet proving, or a table it does not watch)
    /// takes no lock to learn that the feed is on its way.
    pub(super) feed_running: AtomicBool,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("entries", &self.entries.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for AuthCache {
    fn drop(&mut self) {
        if let Some(task) = self
            .feed
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// The generation before a lookup's query (an entry filled from that query is kept only if no
/// change happened meanwhile), and when its rows were read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    read_at: Instant,
    /// Keys added before the query: a refusal it confirms is remembered only if none was
    /// added meanwhile.
    keys_added: u64,
}

impl AuthCache {
    pub(crate) fn new(max_entries: u64, max_age: Duration, refusal_checks: u32) -> Self {
        let watches = [const { OnceLock::new() }; WATCHES];
        let _ = watches[0].set(&TOKENAUTH);
        AuthCache {
            entries: quick_cache::sync::Cache::new(
                usize::try_from(max_entries).unwrap_or(usize::MAX).max(1),
            ),
            max_age,
            epoch: Instant::now(),
            generation: AtomicU64::new(0),
            lock: RwLock::new(()),
            watches,
            leases: [const { AtomicU64::new(0) }; WATCHES],
            proven: [const { AtomicU64::new(0) }; WATCHES],
            keys: LiveKeys::default(),
            absent: quick_cache::sync::Cache::new(KNOWN_ABSENT),
            keys_added: AtomicU64::new(0),
            budget: Budget::new(refusal_checks),
            queries: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            overturned: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            lapses: AtomicU64::new(0),
            work: FeedWork::default(),
            reported_at: AtomicU64::new(0),
            reported_count: AtomicU64::new(0),
            feed: Mutex::new(None),
            feed_running: AtomicBool::new(false),
        }
    }

    /// Microseconds from the epoch to `at` (0 before it).
    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    fn now(&self) -> u64 {
        self.micros(Instant::now())
    }

    /// The registered groups (for the feed to watch), in the order of their slots.
    pub(crate) fn watches(&self) -> impl Iterator<Item = &'static Watch> + '_ {
        self.watches.iter().map_while(|slot| slot.get().copied())
    }

    /// The slot of the registered group whose tokens table is `table`.
    fn slot(&self, table: &str) -> Option<usize> {
        self.watches().position(|watch| watch.tokens_table == table)
    }

    /// Registers `watch` (the group of a cacheable user type): from the feed's next proof of
    /// it on, its tables are served. Returns whether it is registered (already, or now);
    /// `false` if the cache has no slot left for it ([`WATCHES`]). A group is known by its
    /// tokens table: the first registered for a table is the one watched.
    pub(crate) fn watch(&self, watch: &'static Watch) -> bool {
        for slot in &self.watches {
            // Taken at most once, and in order: a slot is set before anyone looks past it.
            let taken = *slot.get_or_init(|| watch);
            if taken.tokens_table == watch.tokens_table {
                return true;
            }
        }
        false
    }

    /// `table` as the tokens table of a registered group (a name from the database, never
    /// trusted as SQL).
    pub(crate) fn tokens_table(&self, table: &str) -> Option<&'static str> {
        self.watches()
            .find(|watch| watch.tokens_table == table)
            .map(|watch| watch.tokens_table)
    }

    /// Whether the cache serves `table` now: its group is registered and the feed's last
    /// proof of it is recent enough.
    pub(crate) fn serves(&self, table: &str) -> bool {
        self.slot(table)
            .is_some_and(|slot| self.leases[slot].load(Ordering::SeqCst) > self.now())
    }

    /// Whether the cache serves a user type reading its users from `users_table` and its
    /// tokens from `tokens_table`: a registered group covers both, and the feed's last proof
    /// of it is recent enough.
    pub(crate) fn serves_user(&self, tokens_table: &str, users_table: &str) -> bool {
        self.watches()
            .position(|watch| watch.covers(tokens_table, users_table))
            .is_some_and(|slot| self.leases[slot].load(Ordering::SeqCst) > self.now())
    }

    /// The cached rows of `digest` for user type `U` of `table`, if read since the last
    /// change and the cache serves the table, with the ticket they were read with (to
    /// [`AuthCache::insert`] them again, updated).
    pub(crate) fn get<U: AuthUser>(
        &self,
        table: &str,
        digest: &RawDigest,
    ) -> Option<((U, Token), Ticket)> {
        if !self.serves(table) {
            return None;
        }
        let entry = self.entries.get(digest)?;
        if entry.generation != self.generation.load(Ordering::SeqCst)
            || self.age(entry.read_at) >= self.max_age
        {
            return None;
        }
        Some((
            entry.rows.get::<U>()?,
            Ticket {
                generation: entry.generation,
                read_at: self.epoch + Duration::from_micros(entry.read_at),
                keys_added: self.keys_added.load(Ordering::SeqCst),
            },
        ))
    }

    /// The time since `read_at` (microseconds from the epoch).
    fn age(&self, read_at: u64) -> Duration {
        self.epoch
            .elapsed()
            .saturating_sub(Duration::from_micros(read_at))
    }

    /// Taken before the query whose result [`AuthCache::insert`] may keep.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket {
            keys_added: self.keys_added.load(Ordering::SeqCst),
            generation: self.generation.load(Ordering::SeqCst),
            read_at: Instant::now(),
        }
    }

    /// Drops the entry of `digest` (its rows are about to change in the database).
    pub(crate) fn invalidate(&self, digest: &RawDigest) {
        self.entries.remove(digest);
    }

    /// Caches the rows a query returned (or cached rows updated by a recorded use), unless a
    /// change happened since `ticket` or the cache does not serve `table`.
    pub(crate) fn insert<U: AuthUser>(
        &self,
        ticket: Ticket,
        table: &str,
        digest: &RawDigest,
        (user, token): (&U, &Token),
    ) {
        let entry = Entry {
            generation: ticket.generation,
            // Saturating towards "read long ago": an entry may look older, never fresher.
            read_at: u64::try_from(ticket.read_at.duration_since(self.epoch).as_micros())
                .unwrap_or(0),
            rows: Rows::new(user, token),
        };
        let _shared = self.lock.read().unwrap_or_else(PoisonError::into_inner);
        if self.serves(table) && self.generation.load(Ordering::SeqCst) == ticket.generation {
            self.entries.insert(*digest, entry);
        }
    }

    /// A change to what some key grants: no entry read before it is served again.
    pub(crate) fn changed(&self) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Every change may have been missed (or was made with SQL in this process): forget
    /// every entry and every digest confirmed absent; the filters are stale (they serve on,
    /// as hints, until built again).
    pub(crate) fn forget(&self) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.forget_locked();
    }

    fn forget_locked(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.clear();
        self.keys_added.fetch_add(1, Ordering::SeqCst);
        self.absent.clear();
    }

    /// The feed proves that every change committed to `table` (and its users) before
    /// `proven_at` has been applied here: the cache serves the table until
    /// [`REVOCATION_BOUND`] after it. If the lease had run out (or was never granted),
    /// changes may have been missed meanwhile: everything is forgotten first.
    pub(crate) fn renew(&self, table: &str, proven_at: Instant) {
        let Some(slot) = self.slot(table) else {
            return;
        };
        // (From before the epoch, a lease counts as short as it is, never longer.)
        let until = proven_at
            .checked_add(REVOCATION_BOUND)
            .map_or(0, |until| self.micros(until));
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        let lease = &self.leases[slot];
        let current = lease.load(Ordering::SeqCst);
        if current <= self.now() {
            self.forget_locked();
            if current != 0 {
                self.lapses.fetch_add(1, Ordering::Relaxed);
            }
        }
        lease.store(until.max(current), Ordering::SeqCst);
        let proven = self.micros(proven_at).saturating_add(1);
        self.proven[slot].fetch_max(proven, Ordering::Relaxed);
    }

    /// Withdraws the lease of every table at once (the feed lost its connection, or the
    /// store is closing): nothing is served until the feed proves again.
    pub(crate) fn lapse_all(&self) {
        for slot in 0..WATCHES {
            self.withdraw(slot);
        }
    }

    /// Withdraws the lease of `table` (its triggers stopped reporting).
    pub(crate) fn lapse(&self, table: &str) {
        if let Some(slot) = self.slot(table) {
            self.withdraw(slot);
        }
    }

    fn withdraw(&self, slot: usize) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        // Counted here unless it had already run out and been counted by a renewal (which
        // finds it 0 afterwards and counts nothing).
        if self.leases[slot].swap(0, Ordering::SeqCst) != 0 {
            self.lapses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the database recently confirmed that no key of `table` has this digest (and
    /// none was added since).
    pub(crate) fn known_absent(&self, table: &str, digest: &RawDigest) -> bool {
        self.slot(table)
            .is_some_and(|slot| self.absent.get(&(slot, *digest)).is_some())
    }

    /// The database confirmed that no key of `table` has this digest: remembered, unless a
    /// key was added since `ticket` (checked and inserted under the lock that adding a key
    /// takes exclusively).
    pub(crate) fn confirmed_absent(&self, ticket: Ticket, table: &str, digest: &RawDigest) {
        let Some(slot) = self.slot(table) else {
            return;
        };
        let _shared = self.lock.read().unwrap_or_else(PoisonError::into_inner);
        if self.keys_added.load(Ordering::SeqCst) == ticket.keys_added {
            self.absent.insert((slot, *digest), ());
        }
    }

    /// A key was added to `table` (anywhere): into its filter, and no longer known absent.
    /// Returns whether the filter is full (to be built again, bigger).
    pub(crate) fn key_added(&self, table: &str, digest: &RawDigest) -> bool {
        {
            let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
            self.keys_added.fetch_add(1, Ordering::SeqCst);
            if let Some(slot) = self.slot(table) {
                self.absent.remove(&(slot, *digest));
            }
        }
        self.keys.add_raw(table, digest)
    }

    /// Many keys were added to `table` at once: its filter is stale (built again, serving
    /// meanwhile) and nothing is known absent.
    pub(crate) fn keys_added_in_bulk(&self, table: &str) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.keys_added.fetch_add(1, Ordering::SeqCst);
        self.absent.clear();
        self.keys.forget(table);
    }

    /// Takes one check of a refusal from the budget: `false` when it is spent (the refusal
    /// is then served unconfirmed, counted and reported at most every [`REPORT_EVERY`]).
    pub(crate) fn may_confirm(&self) -> bool {
        let now = self.now();
        if self.budget.take(now) {
            self.confirmed.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let unconfirmed = self.unconfirmed.fetch_add(1, Ordering::Relaxed) + 1;
        let every = u64::try_from(REPORT_EVERY.as_micros()).unwrap_or(u64::MAX);
        let last = self.reported_at.load(Ordering::Relaxed);
        // One report per period, claimed by whoever moves the time on (no lock per refusal).
        if (last == 0 || now.saturating_sub(last) >= every)
            && self
                .reported_at
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let before = self.reported_count.swap(unconfirmed, Ordering::Relaxed);
            tracing::warn!(
                refused = unconfirmed.saturating_sub(before),
                total = unconfirmed,
                "tokenauth: the budget of refusal checks is spent (a flood of unknown keys?): \
                 refusals are served without asking the database, so a key made on another \
                 instance may be refused until the change feed delivers it"
            );
        }
        false
    }

    /// A refusal the cache would have given was overturned by the database.
    pub(crate) fn overturned(&self) {
        self.overturned.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an authentication query.
    pub(crate) fn queried(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// What the cache has done.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            serving: self.serves(TOKENAUTH.tokens_table),
            queries: self.queries.load(Ordering::Relaxed),
            confirmed_refusals: self.confirmed.load(Ordering::Relaxed),
            overturned_refusals: self.overturned.load(Ordering::Relaxed),
            unconfirmed_refusals: self.unconfirmed.load(Ordering::Relaxed),
            lapses: self.lapses.load(Ordering::Relaxed),
        }
    }

    /// The cache's state for the gauges ([`Store::record_gauges`](super::Store::record_gauges)).
    pub(crate) fn gauges(&self) -> crate::telemetry::Gauges {
        let now = self.now();
        let slot = self.slot(TOKENAUTH.tokens_table);
        let lease = slot.map_or(0, |slot| self.leases[slot].load(Ordering::SeqCst));
        let proven = slot
            .map_or(0, |slot| self.proven[slot].load(Ordering::Relaxed))
            .checked_sub(1);
        let reported = self.reported_at.load(Ordering::Relaxed);
        let every = u64::try_from(REPORT_EVERY.as_micros()).unwrap_or(u64::MAX);
        crate::telemetry::Gauges {
            entries: self.entries.len() as u64,
            filter_bytes: self.keys.bytes() as u64,
            serving: lease > now,
            since_proof: proven.map(|at| Duration::from_micros(now.saturating_sub(at))),
            degraded: reported != 0 && now.saturating_sub(reported) < 2 * every,
        }
    }

    /// What the change feed has done.
    pub(crate) fn work(&self) -> &FeedWork {
        &self.work
    }

    /// The live-key filters.
    pub(crate) fn keys(&self) -> &LiveKeys {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "tokenauth_tokens";

    /// A group of tables other than tokenauth's own, as a cacheable user type names it.
    const SECOND: Watch = Watch {
        tokens_table: "second_tokens",
        users_table: "second_users",
        triggers: &[],
        beat: "",
    };

    /// More groups, to fill the cache's slots.
    const MORE: [Watch; 3] = [
        Watch {
            tokens_table: "third_tokens",
            ..SECOND
        },
        Watch {
            tokens_table: "fourth_tokens",
            ..SECOND
        },
        Watch {
            tokens_table: "fifth_tokens",
            ..SECOND
        },
    ];

    /// A user type without a compact form: kept as it is.
    type Other = (i32,);

    impl AuthUser for Other {
        const TABLE: &'static str = "others";
        const COLUMNS: &'static [&'static str] = &["n"];
        fn is_active(&self) -> bool {
            true
        }
    }

    fn user() -> crate::models::User {
        crate::models::User {
            id: 42,
            username: "alice".into(),
            is_active: true,
            date_joined: chrono::Utc::now(),
        }
    }

    fn token() -> Token {
        Token {
            id: 1,
            user_id: 1,
            name: String::new(),
            created: chrono::Utc::now(),
            expires_at: None,
            last_used_at: None,
            scopes: Vec::new(),
            allowed_ips: Vec::new(),
            read_only: false,
            previous_key_until: None,
        }
    }

    /// A cache whose feed has just proven it current.
    fn serving(max_age: Duration) -> AuthCache {
        let cache = AuthCache::new(10, max_age, 100);
        cache.renew(TABLE, Instant::now());
        cache
    }

    #[test]
    fn a_user_comes_back_as_it_was_cached_and_only_as_its_own_type() {
        let cache = serving(Duration::from_secs(60));
        let digest = RawDigest::of("key");
        let (user, token) = (user(), token());
        cache.insert(cache.ticket(), TABLE, &digest, (&user, &token));
        let (rows, _) = cache.get::<crate::models::User>(TABLE, &digest).unwrap();
        assert_eq!(rows, (user.clone(), token.clone()));
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "a packed entry, asked for as another type"
        );

        // Another type's entry for the same key replaces it, and is not read as a `User`.
        cache.insert(cache.ticket(), TABLE, &digest, (&(7,), &token));
        assert!(cache.get::<crate::models::User>(TABLE, &digest).is_none());
        assert_eq!(cache.get::<Other>(TABLE, &digest).unwrap().0.0.0, 7);

        cache.insert(cache.ticket(), TABLE, &digest, (&user, &token));
        cache.invalidate(&digest);
        assert!(
            cache.get::<crate::models::User>(TABLE, &digest).is_none(),
            "invalidated"
        );
    }

    #[test]
    fn a_cached_user_ages_from_its_read() {
        let cache = serving(Duration::from_millis(200));
        let digest = RawDigest::of("key");
        let ticket = cache.ticket();
        std::thread::sleep(Duration::from_millis(120));
        cache.insert(ticket, TABLE, &digest, (&user(), &token()));
        assert!(cache.get::<crate::models::User>(TABLE, &digest).is_some());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            cache.get::<crate::models::User>(TABLE, &digest).is_none(),
            "read 220 ms ago, though inserted 100 ms ago"
        );
    }

    #[test]
    fn the_maximum_age_counts_from_the_read_not_from_a_recorded_use() {
        let cache = serving(Duration::from_millis(200));
        let digest = RawDigest::of("key");
        let ticket = cache.ticket();
        cache.insert(ticket, TABLE, &digest, (&(1,), &token()));
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(80));
            // A recorded use puts the rows back, with the ticket of the hit.
            if let Some((rows, ticket)) = cache.get::<Other>(TABLE, &digest) {
                cache.insert(ticket, TABLE, &digest, (&rows.0, &rows.1));
            }
        }
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "read 240 ms ago"
        );
    }

    #[test]
    fn nothing_is_served_or_kept_without_a_lease() {
        let cache = AuthCache::new(10, Duration::from_secs(60), 100);
        let digest = RawDigest::of("key");
        cache.insert(cache.ticket(), TABLE, &digest, (&(1,), &token()));
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "not kept before the feed proves"
        );
        cache.renew(TABLE, Instant::now());
        cache.insert(cache.ticket(), TABLE, &digest, (&(1,), &token()));
        assert!(cache.get::<Other>(TABLE, &digest).is_some());
        assert!(cache.watch(&SECOND));
        assert!(
            cache.get::<Other>(SECOND.tokens_table, &digest).is_none(),
            "each table has its own lease"
        );
        let ticket = cache.ticket();
        cache.lapse_all();
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "not served once withdrawn"
        );
        cache.renew(TABLE, Instant::now());
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "forgotten when proven again"
        );
        cache.insert(ticket, TABLE, &digest, (&(1,), &token()));
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "a read from before the outage is not kept"
        );
        assert_eq!(cache.stats().lapses, 1);
    }

    #[test]
    fn a_lease_runs_out_by_itself_and_the_next_proof_forgets() {
        let cache = AuthCache::new(10, Duration::from_secs(60), 100);
        let digest = RawDigest::of("key");
        // Proven long enough ago that the lease has just run out.
        let long_ago = Instant::now()
            .checked_sub(REVOCATION_BOUND - Duration::from_millis(50))
            .unwrap();
        cache.renew(TABLE, long_ago);
        cache.insert(cache.ticket(), TABLE, &digest, (&(1,), &token()));
        assert!(cache.get::<Other>(TABLE, &digest).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!cache.serves(TABLE));
        assert!(cache.get::<Other>(TABLE, &digest).is_none(), "lapsed");
        cache.renew(TABLE, Instant::now());
        assert!(
            cache.get::<Other>(TABLE, &digest).is_none(),
            "changes may have been missed while it had lapsed"
        );
    }

    #[test]
    fn a_digest_confirmed_absent_is_remembered_until_a_key_is_added() {
        let cache = serving(Duration::from_secs(60));
        assert!(cache.watch(&SECOND));
        cache.renew(SECOND.tokens_table, Instant::now());
        let (digest, other) = (RawDigest::of("made up"), RawDigest::of("other"));
        let ticket = cache.ticket();
        cache.confirmed_absent(ticket, TABLE, &digest);
        assert!(cache.known_absent(TABLE, &digest));
        assert!(
            !cache.known_absent(SECOND.tokens_table, &digest),
            "absent from one tokens table, not from another"
        );
        cache.key_added(TABLE, &other);
        assert!(cache.known_absent(TABLE, &digest), "another key");
        cache.key_added(TABLE, &digest);
        assert!(!cache.known_absent(TABLE, &digest), "this key was added");

        // A query that raced with an added key confirms nothing.
        let ticket = cache.ticket();
        cache.key_added(TABLE, &other);
        cache.confirmed_absent(ticket, TABLE, &digest);
        assert!(!cache.known_absent(TABLE, &digest));

        cache.confirmed_absent(cache.ticket(), TABLE, &digest);
        cache.keys_added_in_bulk(TABLE);
        assert!(!cache.known_absent(TABLE, &digest), "a bulk insert");
    }

    #[test]
    fn only_the_tables_of_a_registered_group_are_served() {
        let cache = serving(Duration::from_secs(60));
        let digest = RawDigest::of("key");
        let second = SECOND.tokens_table;
        assert!(
            cache.serves(TABLE),
            "tokenauth's own tables, from the start"
        );
        assert!(cache.serves_user(TABLE, "tokenauth_users"));
        assert!(
            !cache.serves_user(TABLE, "others"),
            "a user type whose users table no group covers"
        );

        // Not registered: a proof of it is ignored, its name from the database is unknown,
        // and nothing of it is kept.
        cache.renew(second, Instant::now());
        assert!(!cache.serves(second));
        assert!(!cache.serves_user(second, SECOND.users_table));
        assert_eq!(cache.tokens_table(second), None);
        cache.insert(cache.ticket(), second, &digest, (&(1,), &token()));
        assert!(cache.get::<Other>(second, &digest).is_none());
        cache.confirmed_absent(cache.ticket(), second, &digest);
        assert!(!cache.known_absent(second, &digest));

        // Registered late: not served until the feed proves it.
        assert!(cache.watch(&SECOND));
        assert_eq!(cache.tokens_table(second), Some(second));
        assert!(!cache.serves(second));
        cache.insert(cache.ticket(), second, &digest, (&(1,), &token()));
        assert!(cache.get::<Other>(second, &digest).is_none());
        cache.renew(second, Instant::now());
        assert!(cache.serves_user(second, SECOND.users_table));
        assert!(!cache.serves_user(second, "tokenauth_users"));
        cache.insert(cache.ticket(), second, &digest, (&(1,), &token()));
        assert!(cache.get::<Other>(second, &digest).is_some());
        let watched: Vec<_> = cache.watches().map(|w| w.tokens_table).collect();
        assert_eq!(watched, [TABLE, second]);
    }

    #[test]
    fn registration_is_bounded_and_once_per_tokens_table() {
        let cache = AuthCache::new(10, Duration::from_secs(60), 100);
        assert!(cache.watch(&SECOND));
        assert!(cache.watch(&SECOND), "again: already registered");
        const SAME_TABLE: Watch = Watch {
            users_table: "other_users",
            ..SECOND
        };
        assert!(cache.watch(&SAME_TABLE), "a group of that tokens table is");
        assert!(cache.watch(&MORE[0]));
        assert!(cache.watch(&MORE[1]));
        assert!(!cache.watch(&MORE[2]), "no slot left");
        let watched: Vec<_> = cache.watches().map(|w| w.tokens_table).collect();
        assert_eq!(
            watched,
            [TABLE, "second_tokens", "third_tokens", "fourth_tokens"]
        );
        cache.renew("second_tokens", Instant::now());
        assert!(
            !cache.serves_user("second_tokens", "other_users"),
            "the first group of a tokens table is the one watched"
        );
        cache.renew("fifth_tokens", Instant::now());
        assert!(!cache.serves("fifth_tokens"));
    }

    #[test]
    fn the_budget_allows_its_rate_with_a_burst_of_as_many() {
        let budget = Budget::new(100);
        let start = 1_000_000;
        let taken = (0..1000).filter(|_| budget.take(start)).count();
        assert_eq!(taken, 100, "a burst of one second's checks");
        assert!(!budget.take(start + 5_000), "5 ms later: none yet");
        assert!(budget.take(start + 10_000), "10 ms later: one more");
        assert!(!budget.take(start + 10_000));
        // A second later the bucket is full again, not fuller.
        let taken = (0..1000).filter(|_| budget.take(start + 2_000_000)).count();
        assert_eq!(taken, 100);
        assert!(!Budget::new(0).take(start), "no checks at all");
        let huge = Budget::new(u32::MAX);
        assert!((0..10_000).all(|_| huge.take(start)));
    }

    #[test]
    fn a_spent_budget_counts_what_it_refused() {
        let cache = AuthCache::new(10, Duration::from_secs(60), 2);
        let allowed = (0..10).filter(|_| cache.may_confirm()).count();
        assert_eq!(allowed, 2);
        let stats = cache.stats();
        assert_eq!(
            (stats.confirmed_refusals, stats.unconfirmed_refusals),
            (2, 8)
        );
    }
}
