//! The authentication cache and the live-key filter.
//!
//! The cache maps a key digest to the token and user rows that the last query for it
//! returned, bounded in entries (quick_cache, whose hits take no lock for the cache's
//! bookkeeping) and in age (checked on every hit, from the read). Expiry, activity and scopes are still
//! evaluated on every request, from the cached rows exactly as from fresh ones.
//!
//! Every change that revokes or narrows what a key grants, made through this store (and its
//! clones), takes effect before the changing call returns: it bumps a generation, and an
//! entry is served only if it was filled in the current generation. An entry is inserted
//! only if the generation is still the one its query started in, checked and inserted under a
//! lock that a bump takes exclusively, so a lookup that raced with a change never leaves a
//! stale entry behind, not even for an instant. (A change makes every entry be read again
//! once: revocations are rare next to authentications.) Changes made elsewhere — another
//! instance, the CLI, plain SQL — arrive through the change feed ([`super::feed`]), which
//! bumps the same generation; while the feed is down, nothing is served from the cache or
//! kept in it.
//!
//! The live-key filter is a Bloom filter of the digests in a tokens table, built from the
//! table once the feed is up and kept current by it: a digest it does not hold is refused
//! without a query. Keys added through this store are added before the adding call returns.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

#[cfg(test)]
use crate::KeyDigest;
use crate::Token;
use crate::key::{RawDigest, hex_words};

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

/// The rows `(U, Token)` of an entry: packed for tokenauth's own user types (the compact
/// form, [`super::packed`]), shared as they are for others. Either form is read back only as
/// the type it was made from: another type's entry for the same key is a miss.
#[derive(Clone)]
enum Rows {
    Packed(super::packed::Packed),
    Shared(Arc<dyn Any + Send + Sync>),
}

impl Rows {
    fn new<U: Clone + Send + Sync + 'static>(user: &U, token: &Token) -> Rows {
        match super::packed::pack(user, token) {
            Some(packed) => Rows::Packed(packed),
            None => Rows::Shared(Arc::new((user.clone(), token.clone()))),
        }
    }

    fn get<U: Clone + Send + Sync + 'static>(&self) -> Option<(U, Token)> {
        match self {
            Rows::Packed(packed) => super::packed::unpack(packed),
            Rows::Shared(rows) => rows.downcast_ref::<(U, Token)>().cloned(),
        }
    }
}

/// See the [module](self).
pub(crate) struct AuthCache {
    /// By key digest alone: a key is a token of one user type (see [`Rows`]).
    entries: quick_cache::sync::Cache<RawDigest, Entry>,
    max_age: Duration,
    /// What entries' read times count from.
    epoch: Instant,
    generation: AtomicU64,
    /// Shared by inserts (check the generation, insert), exclusive for a bump.
    lock: RwLock<()>,
    /// Whether the change feed is up: while it is not, nothing is served or kept.
    feed_up: AtomicBool,
    /// The live-key filters, by tokens table.
    keys: LiveKeys,
    /// The tokens tables whose changes the feed reports (their triggers exist), read when
    /// the feed comes up and at each heartbeat: other tables are never cached.
    watched: RwLock<Vec<&'static str>>,
    /// The change feed's task, started with the first authentication; stopped with the cache.
    pub(super) feed: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Authentication queries run (for tests).
    queries: AtomicU64,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("entries", &self.entries.len())
            .field("feed_up", &self.feed_up.load(Ordering::SeqCst))
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
}

impl AuthCache {
    pub(crate) fn new(max_entries: u64, max_age: Duration) -> Self {
        AuthCache {
            entries: quick_cache::sync::Cache::new(
                usize::try_from(max_entries).unwrap_or(usize::MAX).max(1),
            ),
            max_age,
            epoch: Instant::now(),
            generation: AtomicU64::new(0),
            lock: RwLock::new(()),
            feed_up: AtomicBool::new(false),
            keys: LiveKeys::default(),
            watched: RwLock::new(Vec::new()),
            feed: Mutex::new(None),
            queries: AtomicU64::new(0),
        }
    }

    /// The cached rows of `digest` for user type `U`, if read since the last change, with
    /// the generation they were read in (to [`AuthCache::insert`] them again, updated).
    pub(crate) fn get<U: Clone + Send + Sync + 'static>(
        &self,
        digest: &RawDigest,
    ) -> Option<((U, Token), Ticket)> {
        if !self.feed_up.load(Ordering::SeqCst) {
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
            generation: self.generation.load(Ordering::SeqCst),
            read_at: Instant::now(),
        }
    }

    /// Drops the entry of `digest` (its rows are about to change in the database).
    pub(crate) fn invalidate(&self, digest: &RawDigest) {
        self.entries.remove(digest);
    }

    /// Whether the feed reports the changes of `table` (and its users'): only then are its
    /// authentications cached and its keys filtered.
    pub(crate) fn watches(&self, table: &str) -> bool {
        self.watched
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&table)
    }

    /// `table` as a watched table's name (from a notification's payload, never trusted as
    /// SQL).
    pub(crate) fn watched(&self, table: &str) -> Option<&'static str> {
        self.watched
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|watched| **watched == table)
            .copied()
    }

    /// The tokens tables whose triggers exist (see [`AuthCache::watches`]). A table that is
    /// no longer watched loses its entries and filter.
    pub(crate) fn set_watched(&self, tables: Vec<&'static str>) {
        let mut watched = self.watched.write().unwrap_or_else(PoisonError::into_inner);
        if *watched != tables {
            if watched.iter().any(|table| !tables.contains(table)) {
                self.changed();
                self.keys.clear();
            }
            *watched = tables;
        }
    }

    /// Caches the rows a query returned (or cached rows updated by a recorded use), unless a
    /// change happened since `ticket` or the feed is down.
    pub(crate) fn insert<U: Clone + Send + Sync + 'static>(
        &self,
        ticket: Ticket,
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
        if self.feed_up.load(Ordering::SeqCst)
            && self.generation.load(Ordering::SeqCst) == ticket.generation
        {
            self.entries.insert(*digest, entry);
        }
    }

    /// A change to what some key grants: no entry read before it is served again.
    pub(crate) fn changed(&self) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Every change may have been missed (or was made with SQL in this process): forget
    /// every entry and every filter.
    pub(crate) fn forget(&self) {
        self.changed();
        self.keys.clear();
    }

    /// Whether the change feed is up.
    pub(crate) fn feed_is_up(&self) -> bool {
        self.feed_up.load(Ordering::SeqCst)
    }

    /// The feed is up, listening before this call: what was read before is forgotten, and
    /// what is read from now on is kept (and filters may be built).
    pub(crate) fn feed_up(&self) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.clear();
        self.feed_up.store(true, Ordering::SeqCst);
    }

    /// The feed is down: changes made elsewhere may be missed, so nothing is served or kept
    /// until it is up again.
    pub(crate) fn feed_down(&self) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.feed_up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.keys.clear();
    }

    /// Counts an authentication query.
    pub(crate) fn queried(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// Authentication queries run.
    pub(crate) fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// The live-key filters.
    pub(crate) fn keys(&self) -> &LiveKeys {
        &self.keys
    }
}

/// False positives a filter allows at its capacity: about 1 in 1,000.
const BITS_PER_KEY: u64 = 15;
const HASHES: u64 = 10;
/// The smallest capacity a filter is built with.
const MIN_CAPACITY: u64 = 4096;

/// A Bloom filter of key digests. The digests are SHA-256, uniformly distributed, so their
/// own bits are the hashes (double hashing over two 64-bit words).
pub(crate) struct Filter {
    bits: Box<[AtomicU64]>,
    /// Keys it was sized for; past it, the filter is rebuilt bigger.
    capacity: u64,
    /// Keys added since it was sized.
    added: AtomicU64,
}

impl Filter {
    /// A filter for `live` keys, with room for as many again to be added.
    pub(crate) fn for_keys(live: u64) -> Filter {
        let capacity = live.saturating_mul(2).max(MIN_CAPACITY);
        let words = capacity.saturating_mul(BITS_PER_KEY).div_ceil(64);
        let words = usize::try_from(words).unwrap_or(usize::MAX / 8);
        Filter {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            capacity,
            added: AtomicU64::new(0),
        }
    }

    /// The bit positions of a digest's two first words.
    fn positions(&self, (h1, h2): (u64, u64)) -> impl Iterator<Item = (usize, u64)> + use<> {
        let h2 = h2 | 1;
        let m = self.bits.len() as u64 * 64;
        (0..HASHES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    /// Adds a stored (hex) digest; returns whether the filter is now over its capacity. A
    /// string that is not a digest adds nothing (no key digests to it).
    pub(crate) fn add(&self, digest: &str) -> bool {
        if let Some(words) = hex_words(digest) {
            for (word, mask) in self.positions(words) {
                self.bits[word].fetch_or(mask, Ordering::Relaxed);
            }
        }
        self.added.fetch_add(1, Ordering::Relaxed) + 1 > self.capacity
    }

    /// Whether the digest may be in the filter (`false`: it certainly is not).
    pub(crate) fn may_contain(&self, digest: &RawDigest) -> bool {
        self.positions(digest.words())
            .all(|(word, mask)| self.bits[word].load(Ordering::Relaxed) & mask != 0)
    }

    /// Its size in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

/// A tokens table's filter, and the build replacing it: claimed (its table being counted),
/// then filling.
#[derive(Default)]
struct Slot {
    ready: Option<Arc<Filter>>,
    claimed: Option<u64>,
    building: Option<Arc<Filter>>,
}

/// The filters of live key digests, by tokens table.
#[derive(Default)]
pub(crate) struct LiveKeys {
    slots: RwLock<HashMap<String, Slot>>,
    /// Numbers the claims, so that a build outlived by a `forget` or `clear` is dropped.
    claims: AtomicU64,
}

/// What the filter of a table says about a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No filter is ready (the table's should be built).
    Unknown,
    /// The digest may be live: query.
    Maybe,
    /// The digest is not live.
    Absent,
}

impl LiveKeys {
    pub(crate) fn check(&self, table: &str, digest: &RawDigest) -> Verdict {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        match slots.get(table).and_then(|slot| slot.ready.as_ref()) {
            None => Verdict::Unknown,
            Some(filter) if filter.may_contain(digest) => Verdict::Maybe,
            Some(_) => Verdict::Absent,
        }
    }

    /// Adds a live digest to the table's filters (ready and building). Returns whether the
    /// ready one is full and should be rebuilt.
    pub(crate) fn add(&self, table: &str, digest: &str) -> bool {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(table) else {
            return false;
        };
        if let Some(building) = &slot.building {
            building.add(digest);
        }
        slot.ready.as_ref().is_some_and(|ready| ready.add(digest))
            && slot.building.is_none()
            && slot.claimed.is_none()
    }

    /// Claims the build of `table`'s filter, unless one is claimed or under way: at most one
    /// build per table, whatever the number of requests that find no filter.
    pub(crate) fn claim(&self, table: &str) -> Option<u64> {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(table.to_owned()).or_default();
        if slot.claimed.is_some() || slot.building.is_some() {
            return None;
        }
        let claim = self.claims.fetch_add(1, Ordering::SeqCst);
        slot.claimed = Some(claim);
        Some(claim)
    }

    /// Starts the claimed build with a filter for `live` keys, unless the claim was dropped
    /// meanwhile: keys added from now on go into it too. The caller then adds every digest of
    /// the table (read after this call) and calls [`LiveKeys::finish`].
    pub(crate) fn begin(&self, table: &str, claim: u64, live: u64) -> Option<Arc<Filter>> {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.get_mut(table)?;
        if slot.claimed != Some(claim) {
            return None;
        }
        slot.claimed = None;
        let filter = Arc::new(Filter::for_keys(live));
        slot.building = Some(filter.clone());
        Some(filter)
    }

    /// Whether `filter` is still the build of `table` (not dropped by a `forget` or `clear`).
    pub(crate) fn is_building(&self, table: &str, filter: &Arc<Filter>) -> bool {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots
            .get(table)
            .and_then(|slot| slot.building.as_ref())
            .is_some_and(|building| Arc::ptr_eq(building, filter))
    }

    /// Drops a claim whose count failed.
    pub(crate) fn unclaim(&self, table: &str, claim: u64) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(table)
            && slot.claimed == Some(claim)
        {
            slot.claimed = None;
        }
    }

    /// Serves a built filter, unless the filters were cleared meanwhile.
    pub(crate) fn finish(&self, table: &str, filter: &Arc<Filter>) {
        self.end_build(table, filter, true);
    }

    /// Abandons a build that failed.
    pub(crate) fn abandon(&self, table: &str, filter: &Arc<Filter>) {
        self.end_build(table, filter, false);
    }

    /// Ends the build of `filter` (if it is still `table`'s), serving it if `built`.
    fn end_build(&self, table: &str, filter: &Arc<Filter>, built: bool) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(table)
            && slot
                .building
                .as_ref()
                .is_some_and(|building| Arc::ptr_eq(building, filter))
        {
            slot.building = None;
            if built {
                slot.ready = Some(filter.clone());
            }
        }
    }

    /// Forgets the table's filter (e.g. after a bulk import): it is built again.
    pub(crate) fn forget(&self, table: &str) {
        self.slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(table);
    }

    /// Forgets every filter.
    pub(crate) fn clear(&self) {
        self.slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_holds_what_was_added_and_refuses_most_of_the_rest() {
        let filter = Filter::for_keys(10_000);
        let live: Vec<String> = (0..10_000).map(|i| format!("live-{i}")).collect();
        for key in &live {
            filter.add(KeyDigest::of(key).as_str());
        }
        assert!(
            live.iter()
                .all(|key| filter.may_contain(&RawDigest::of(key)))
        );
        let false_positives = (0..100_000)
            .filter(|i| filter.may_contain(&RawDigest::of(&format!("made-up-{i}"))))
            .count();
        // Half full: well under 1 in 1,000.
        assert!(false_positives < 100, "{false_positives} false positives");
        // 20,000 keys of room at 15 bits each.
        assert_eq!(filter.bytes(), 20_000 * 15 / 64 * 8 + 8);
    }

    #[test]
    fn a_built_filter_has_room_for_as_many_keys_again() {
        // Regression: a filter built from 5,000 keys asked for a rebuild at the next key.
        let filter = Filter::for_keys(5000);
        for i in 0..5000 {
            assert!(!filter.add(KeyDigest::of(&format!("live-{i}")).as_str()));
        }
        for i in 0..5000 {
            assert!(
                !filter.add(KeyDigest::of(&format!("new-{i}")).as_str()),
                "{i}"
            );
        }
        assert!(filter.add(KeyDigest::of("one too many").as_str()));
    }

    fn user() -> crate::User {
        crate::User {
            id: 42,
            username: "alice".into(),
            is_active: true,
            date_joined: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_user_comes_back_as_it_was_cached_and_only_as_its_own_type() {
        let cache = AuthCache::new(10, Duration::from_secs(60));
        cache.feed_up();
        let digest = RawDigest::of("key");
        let (user, token) = (user(), token());
        cache.insert(cache.ticket(), &digest, (&user, &token));
        let (rows, _) = cache.get::<crate::User>(&digest).unwrap();
        assert_eq!(rows, (user.clone(), token.clone()));
        assert!(
            cache.get::<i32>(&digest).is_none(),
            "a packed entry, asked for as another type"
        );

        // Another type's entry for the same key replaces it, and is not read as a `User`.
        cache.insert(cache.ticket(), &digest, (&7_i32, &token));
        assert!(cache.get::<crate::User>(&digest).is_none());
        assert_eq!(cache.get::<i32>(&digest).unwrap().0.0, 7);

        cache.insert(cache.ticket(), &digest, (&user, &token));
        cache.invalidate(&digest);
        assert!(cache.get::<crate::User>(&digest).is_none(), "invalidated");
    }

    #[test]
    fn a_cached_user_ages_from_its_read() {
        let cache = AuthCache::new(10, Duration::from_millis(200));
        cache.feed_up();
        let digest = RawDigest::of("key");
        let ticket = cache.ticket();
        std::thread::sleep(Duration::from_millis(120));
        cache.insert(ticket, &digest, (&user(), &token()));
        assert!(cache.get::<crate::User>(&digest).is_some());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            cache.get::<crate::User>(&digest).is_none(),
            "read 220 ms ago, though inserted 100 ms ago"
        );
    }

    #[test]
    fn the_maximum_age_counts_from_the_read_not_from_a_recorded_use() {
        let cache = AuthCache::new(10, Duration::from_millis(200));
        cache.feed_up();
        let digest = RawDigest::of("key");
        let ticket = cache.ticket();
        cache.insert(ticket, &digest, (&1_i32, &token()));
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(80));
            // A recorded use puts the rows back, with the ticket of the hit.
            if let Some((rows, ticket)) = cache.get::<i32>(&digest) {
                cache.insert(ticket, &digest, (&rows.0, &rows.1));
            }
        }
        assert!(cache.get::<i32>(&digest).is_none(), "read 240 ms ago");
    }

    #[test]
    fn nothing_is_served_or_kept_while_the_feed_is_down() {
        let cache = AuthCache::new(10, Duration::from_secs(60));
        let digest = RawDigest::of("key");
        cache.insert(cache.ticket(), &digest, (&1_i32, &token()));
        assert!(
            cache.get::<i32>(&digest).is_none(),
            "not kept before the feed is up"
        );
        cache.feed_up();
        cache.insert(cache.ticket(), &digest, (&1_i32, &token()));
        assert!(cache.get::<i32>(&digest).is_some());
        let ticket = cache.ticket();
        cache.feed_down();
        assert!(cache.get::<i32>(&digest).is_none(), "not served while down");
        cache.feed_up();
        cache.insert(ticket, &digest, (&1_i32, &token()));
        assert!(
            cache.get::<i32>(&digest).is_none(),
            "a read from before the outage is not kept"
        );
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
        }
    }

    #[test]
    fn keys_added_during_a_build_are_kept_and_a_clear_discards_the_build() {
        let keys = LiveKeys::default();
        let (a, b) = (RawDigest::of("a"), RawDigest::of("b"));
        assert_eq!(keys.check("t", &a), Verdict::Unknown);
        let claim = keys.claim("t").unwrap();
        assert!(keys.claim("t").is_none(), "one build at a time");
        let filter = keys.begin("t", claim, 1).unwrap();
        assert!(keys.claim("t").is_none(), "one build at a time");
        keys.add("t", KeyDigest::of("a").as_str()); // added while the table is read
        keys.finish("t", &filter);
        assert_eq!(keys.check("t", &a), Verdict::Maybe);
        assert_eq!(keys.check("t", &b), Verdict::Absent);

        let claim = keys.claim("t").unwrap();
        let filter = keys.begin("t", claim, 1).unwrap();
        keys.clear();
        assert!(!keys.is_building("t", &filter));
        keys.finish("t", &filter);
        assert_eq!(keys.check("t", &a), Verdict::Unknown);

        // A claim outlived by a clear starts nothing.
        let claim = keys.claim("t").unwrap();
        keys.clear();
        assert!(keys.begin("t", claim, 1).is_none());
    }
}
