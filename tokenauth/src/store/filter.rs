//! The live-key filter: a Bloom filter of the key digests in a tokens table, built in the
//! background from the table and kept current by the change feed ([`super::feed`]). A
//! digest it does not hold is not in the table as far as this instance knows — a refusal
//! that the authentication path still confirms with the database, within a budget (see
//! [`super::cache`]).
//!
//! Builds are bounded whatever the feed reports: at most one per table at a time, and at
//! most one per [`BUILD_INTERVAL`] per table (a request for another sooner waits for the
//! interval to pass). A filter that may have missed keys (many added at once, or changes the
//! feed could not follow) is *stale*: it keeps serving — it is only ever a hint, each refusal
//! it suggests being checked within the budget — until a new one is built, so that a flood of
//! made-up keys never finds the instance without a filter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::key::{RawDigest, hex_words};

/// False positives a filter allows at its capacity: about 1 in 1,000.
const BITS_PER_KEY: u64 = 15;
const HASHES: u64 = 10;
/// The smallest capacity a filter is built with.
const MIN_CAPACITY: u64 = 4096;

/// The shortest time between the starts of two builds of one table's filter.
pub(crate) const BUILD_INTERVAL: Duration = Duration::from_secs(5);

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

    /// Adds a digest's two first words; returns whether the filter is now over its capacity.
    fn add_words(&self, words: (u64, u64)) -> bool {
        for (word, mask) in self.positions(words) {
            self.bits[word].fetch_or(mask, Ordering::Relaxed);
        }
        self.added.fetch_add(1, Ordering::Relaxed) + 1 > self.capacity
    }

    /// Adds a stored (hex) digest; returns whether the filter is now over its capacity. A
    /// string that is not a digest adds nothing (no key digests to it).
    pub(crate) fn add(&self, digest: &str) -> bool {
        match hex_words(digest) {
            Some(words) => self.add_words(words),
            None => false,
        }
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

/// A tokens table's filter, whether it is stale, and the build replacing it: claimed (its
/// table being counted), then filling; and when the last build started.
#[derive(Default)]
struct Slot {
    ready: Option<Arc<Filter>>,
    stale: bool,
    claimed: Option<u64>,
    building: Option<Arc<Filter>>,
    last_start: Option<Instant>,
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
    /// No filter is ready.
    Unknown,
    /// The digest may be live: query.
    Maybe,
    /// The digest is not live, as far as the filter knows.
    Absent,
}

impl LiveKeys {
    /// The bytes of the ready filters, of every table.
    pub(crate) fn bytes(&self) -> usize {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots
            .values()
            .filter_map(|slot| slot.ready.as_ref())
            .map(|filter| filter.bytes())
            .sum()
    }

    /// What the filter of `table` says about `digest`, and whether a filter should be built
    /// (there is none, or it is stale).
    pub(crate) fn check(&self, table: &str, digest: &RawDigest) -> (Verdict, bool) {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(table) else {
            return (Verdict::Unknown, true);
        };
        let verdict = match &slot.ready {
            None => Verdict::Unknown,
            Some(filter) if filter.may_contain(digest) => Verdict::Maybe,
            Some(_) => Verdict::Absent,
        };
        (verdict, slot.ready.is_none() || slot.stale)
    }

    /// Adds a live digest to the table's filters (ready and building). Returns whether the
    /// ready one is full and should be rebuilt.
    pub(crate) fn add_raw(&self, table: &str, digest: &RawDigest) -> bool {
        let words = digest.words();
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(table) else {
            return false;
        };
        if let Some(building) = &slot.building {
            building.add_words(words);
        }
        slot.ready
            .as_ref()
            .is_some_and(|ready| ready.add_words(words))
            && slot.building.is_none()
            && slot.claimed.is_none()
    }

    /// Claims the build of `table`'s filter, unless one is claimed or under way, or the last
    /// one started less than [`BUILD_INTERVAL`] ago: at most one build per table at a time
    /// and per interval, whatever asks for it.
    pub(crate) fn claim(&self, table: &str) -> Option<u64> {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(table.to_owned()).or_default();
        if slot.claimed.is_some()
            || slot.building.is_some()
            || slot
                .last_start
                .is_some_and(|at| at.elapsed() < BUILD_INTERVAL)
        {
            return None;
        }
        let claim = self.claims.fetch_add(1, Ordering::SeqCst);
        slot.claimed = Some(claim);
        slot.last_start = Some(Instant::now());
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
                slot.stale = false;
            }
        }
    }

    /// The table's filter may have missed keys (many added at once, or changes the feed
    /// could not follow): it keeps serving, stale, and is built again once the interval since
    /// the last build has passed; a build under way is dropped (it may have missed them too).
    pub(crate) fn forget(&self, table: &str) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(table) {
            Slot::outdate(slot);
        }
    }

    /// [`LiveKeys::forget`] for every table.
    pub(crate) fn clear(&self) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        slots.values_mut().for_each(Slot::outdate);
    }
}

impl Slot {
    /// Stale, and no build (when the last build started is kept).
    fn outdate(slot: &mut Slot) {
        slot.stale = true;
        slot.claimed = None;
        slot.building = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyDigest;

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

    /// A claimed build, begun and finished with `digests` in it.
    fn build(keys: &LiveKeys, table: &str, digests: &[&str]) {
        let claim = keys.claim(table).expect("a build may start");
        let filter = keys.begin(table, claim, 1).unwrap();
        for digest in digests {
            filter.add(KeyDigest::of(digest).as_str());
        }
        keys.finish(table, &filter);
    }

    /// Lets the build interval pass for `table`, as if its last build were long ago.
    fn age(keys: &LiveKeys, table: &str) {
        let mut slots = keys.slots.write().unwrap();
        if let Some(slot) = slots.get_mut(table) {
            slot.last_start = Instant::now().checked_sub(BUILD_INTERVAL);
        }
    }

    #[test]
    fn keys_added_during_a_build_are_kept_and_a_clear_discards_the_build() {
        let keys = LiveKeys::default();
        let (a, b) = (RawDigest::of("a"), RawDigest::of("b"));
        assert_eq!(keys.check("t", &a), (Verdict::Unknown, true));
        let claim = keys.claim("t").unwrap();
        assert!(keys.claim("t").is_none(), "one build at a time");
        let filter = keys.begin("t", claim, 1).unwrap();
        assert!(keys.claim("t").is_none(), "one build at a time");
        keys.add_raw("t", &a); // added while the table is read
        keys.finish("t", &filter);
        assert_eq!(keys.check("t", &a), (Verdict::Maybe, false));
        assert_eq!(keys.check("t", &b), (Verdict::Absent, false));

        age(&keys, "t");
        let claim = keys.claim("t").unwrap();
        let filter = keys.begin("t", claim, 1).unwrap();
        keys.clear();
        assert!(!keys.is_building("t", &filter));
        keys.finish("t", &filter);
        // The old filter serves on, stale, until a new one is built.
        assert_eq!(keys.check("t", &b), (Verdict::Absent, true));

        // A claim outlived by a clear starts nothing.
        age(&keys, "t");
        let claim = keys.claim("t").unwrap();
        keys.clear();
        assert!(keys.begin("t", claim, 1).is_none());
    }

    #[test]
    fn at_most_one_build_per_table_per_interval_whatever_asks() {
        let keys = LiveKeys::default();
        build(&keys, "t", &["a"]);
        // Forgotten (a bulk insert, a change the feed could not follow): not built again
        // before the interval has passed, however often it is asked for.
        for _ in 0..1000 {
            keys.forget("t");
            assert!(
                keys.claim("t").is_none(),
                "a second build within the interval"
            );
        }
        assert_eq!(
            keys.check("t", &RawDigest::of("a")),
            (Verdict::Maybe, true),
            "stale, serving"
        );
        // Another table has its own interval.
        build(&keys, "u", &["a"]);
        age(&keys, "t");
        build(&keys, "t", &["b"]);
        assert_eq!(
            keys.check("t", &RawDigest::of("b")),
            (Verdict::Maybe, false)
        );
    }
}
