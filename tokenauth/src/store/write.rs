//! The one way store code writes tokenauth's tables: a [`Write`] transaction, which cannot be
//! committed without saying what it changed ([`Change`]), and [`Store::changed`], the one verb
//! that tells the authentication cache, its live-key filters and the other instances. Store
//! code writes only through a `Write`, so a new write path cannot commit without naming its
//! change. (The one exception, the background record of token use in `usage`, changes nothing
//! that authentication refuses on: it commits its own transaction.)
//!
//! (A change made elsewhere — another instance, the CLI, plain SQL, Django — reaches the cache
//! through the change feed instead: see `feed`.)

use super::Store;
use super::backend::{Pool, Tx};
use crate::error::Error;
use crate::key::KeyDigest;

/// What a committed write changed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// What some key grants may have narrowed: a key revoked, a user's password or activity
    /// changed, a user deleted. No authentication cached before the change is served again,
    /// and the other instances are hinted to read the change log now.
    Narrowed,
    /// A key was added to the tokens table `.0`: into the live-key filter at once (it is not
    /// refused as unknown), and hinted to the other instances.
    KeyAdded(&'static str, &'a KeyDigest),
    /// A key was added to the tokens table `.0` in place of its user's others (a reset): both
    /// [`Narrowed`](Change::Narrowed) and [`KeyAdded`](Change::KeyAdded).
    KeyReplaced(&'static str, &'a KeyDigest),
    /// Users and keys were imported into the tokens table `.0`: its filter is built again,
    /// and whether Django's password hashes are present is read again.
    Imported(&'static str),
    /// Nothing that authentication reads (a password hash upgraded to the same password, a
    /// user added without tokens).
    Nothing,
}

/// A transaction that writes tokenauth's tables, begun by [`Store::begin_write`]. Dropped
/// without [`commit`](Write::commit), it rolls back.
pub(crate) struct Write {
    tx: Tx,
    store: Store,
}

impl Store {
    /// Begins a transaction that writes (see [`Pool::begin_write`]).
    pub(crate) async fn begin_write(&self) -> Result<Write, Error> {
        Ok(Write {
            tx: self.pool.begin_write().await?,
            store: self.clone(),
        })
    }

    /// Tells the cache, the live-key filters and the other instances what a committed write
    /// of this store changed: the one place that does.
    pub(crate) fn changed(&self, change: Change<'_>) {
        if let Change::Narrowed | Change::KeyReplaced(..) = change
            && let Some(cache) = self.auth_cache()
        {
            cache.changed();
        }
        match change {
            Change::Nothing => return,
            Change::Narrowed => {}
            Change::KeyAdded(table, digest) | Change::KeyReplaced(table, digest) => {
                self.key_added(table, digest);
            }
            Change::Imported(table) => {
                // Imported Django hashes change what a failed login must cost, at once.
                self.recheck_django_hashes();
                self.keys_added(table);
            }
        }
        self.hint_others();
    }
}

impl Write {
    /// The transaction, to run statements on with
    /// [`on_backend!`](super::backend::on_backend).
    pub(crate) fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// The store's pool (for its [`dialect`](Pool::dialect)).
    pub(crate) fn pool(&self) -> &Pool {
        &self.store.pool
    }

    /// Commits, then reports `change` ([`Store::changed`]) before returning.
    pub(crate) async fn commit(self, change: Change<'_>) -> Result<(), Error> {
        self.tx.commit().await?;
        self.store.changed(change);
        Ok(())
    }

    /// Writes nothing.
    pub(crate) async fn rollback(self) -> Result<(), Error> {
        Ok(self.tx.rollback().await?)
    }
}
