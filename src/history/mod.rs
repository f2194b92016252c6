//! An app's history of releases in a store, and the policy over it — as
//! Helm's storage sits over its drivers: encode and check releases
//! ([`codec`]), record with dedupe and optimistic concurrency, prune, mark,
//! and keep one source per app key. Backends below know none of this.

pub mod codec;
mod policy;

pub use policy::{DEFAULT_HISTORY_MAX, NewRelease, Recorded, check_one_source, source_identity};

use crate::error::Result;
use crate::release::{AppKey, Release, ReleaseMeta};
use crate::store::{Store, StoreOptions};

/// The releases in one store, read and written by the history policy.
#[derive(Clone, Copy)]
pub struct History<'s> {
    store: &'s dyn Store,
    max_release_bytes: u64,
}

impl<'s> History<'s> {
    /// The history kept in `store`, reading releases up to the default size limit.
    pub fn new(store: &'s dyn Store) -> History<'s> {
        History { store, max_release_bytes: StoreOptions::default().max_release_bytes }
    }

    /// Reads releases of at most `max_release_bytes` (the input limit); larger claims are refused.
    pub fn with_limit(self, max_release_bytes: u64) -> History<'s> {
        History { max_release_bytes, ..self }
    }

    /// The store underneath.
    pub fn store(&self) -> &'s dyn Store {
        self.store
    }

    /// The readable records of `app`, oldest first.
    pub fn list(&self, app: &AppKey) -> Result<Vec<ReleaseMeta>> {
        self.store.list(app)
    }

    /// One release, its manifest decoded and checked against its digest.
    pub fn get(&self, app: &AppKey, revision: u64) -> Result<Release> {
        codec::unseal(self.store.get(app, revision)?, self.max_release_bytes)
    }
}
