//! The authentication cache: key digest → the token and user rows that the last query for it
//! returned, bounded in entries and age (moka). Expiry, activity and scopes are still
//! evaluated on every request, from the cached rows exactly as from fresh ones.
//!
//! Every change that revokes or narrows what a key grants, made through this store (and its
//! clones), takes effect before the changing call returns: it bumps a generation, and an
//! entry is served only if it was filled in the current generation. An entry is inserted
//! only if the generation is still the one its query started in, checked and inserted under a
//! lock that a bump takes exclusively, so a lookup that raced with a change never leaves a
//! stale entry behind, not even for an instant. (A change makes every entry be read again
//! once: revocations are rare next to authentications.)

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::{KeyDigest, Token};

/// An entry: the rows of one key for one user type, and the generation they were read in.
#[derive(Clone)]
struct Entry {
    generation: u64,
    /// `(U, Token)`.
    rows: Arc<dyn Any + Send + Sync>,
}

/// See the [module](self).
pub(crate) struct AuthCache {
    entries: moka::sync::Cache<(TypeId, KeyDigest), Entry>,
    generation: AtomicU64,
    /// Shared by inserts (check the generation, insert), exclusive for a bump.
    lock: RwLock<()>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

/// The generation before a lookup's query: an entry filled from that query is kept only if
/// no change happened meanwhile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl AuthCache {
    pub(crate) fn new(max_entries: u64, max_age: Duration) -> Self {
        AuthCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(max_age)
                .build(),
            generation: AtomicU64::new(0),
            lock: RwLock::new(()),
        }
    }

    /// The cached rows of `digest` for user type `U`, if read since the last change, with
    /// the generation they were read in (to [`AuthCache::insert`] them again, updated).
    pub(crate) fn get<U: Clone + Send + Sync + 'static>(
        &self,
        digest: &KeyDigest,
    ) -> Option<((U, Token), Ticket)> {
        let entry = self.entries.get(&(TypeId::of::<U>(), digest.clone()))?;
        if entry.generation != self.generation.load(Ordering::SeqCst) {
            return None;
        }
        let rows = entry.rows.downcast_ref::<(U, Token)>().cloned()?;
        Some((rows, Ticket(entry.generation)))
    }

    /// Taken before the query whose result [`AuthCache::insert`] may keep.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::SeqCst))
    }

    /// Caches the rows a query returned (or cached rows updated by a recorded use), unless a
    /// change happened since `ticket`.
    pub(crate) fn insert<U: Clone + Send + Sync + 'static>(
        &self,
        ticket: Ticket,
        digest: &KeyDigest,
        rows: (U, Token),
    ) {
        let entry = Entry {
            generation: ticket.0,
            rows: Arc::new(rows),
        };
        let _shared = self.lock.read().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) == ticket.0 {
            self.entries
                .insert((TypeId::of::<U>(), digest.clone()), entry);
        }
    }

    /// A change to what some key grants: no entry read before it is served again.
    pub(crate) fn changed(&self) {
        let _exclusive = self.lock.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
