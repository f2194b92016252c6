//! Releases in this process's memory: for tests of the history policy and
//! for programs that use rewind as a library. Not reachable by `--store`
//! (each rewind process would start empty).

use super::{Listing, MetaChange, Store, StoreOptions};
use crate::error::{Error, Result};
use crate::release::{AppKey, StoredRelease};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A release store in memory, safe to share between threads.
#[derive(Debug, Default)]
pub struct MemoryStore {
    releases: Mutex<BTreeMap<(AppKey, u64), StoredRelease>>,
    options: StoreOptions,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store with `options`.
    pub fn with_options(options: &StoreOptions) -> MemoryStore {
        MemoryStore { releases: Mutex::default(), options: options.clone() }
    }

    fn releases(&self) -> std::sync::MutexGuard<'_, BTreeMap<(AppKey, u64), StoredRelease>> {
        // A panic while holding the lock leaves the map whole: each write is one insert or remove.
        self.releases.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn url(&self) -> String {
        "memory://".into()
    }

    fn scan(&self, app: &AppKey) -> Result<Listing> {
        let releases = self.releases();
        let metas = releases.range((app.clone(), 0)..=(app.clone(), u64::MAX)).map(|(_, r)| r.meta.clone());
        Ok(Listing { releases: metas.collect(), damaged: Vec::new() })
    }

    fn get(&self, app: &AppKey, revision: u64) -> Result<StoredRelease> {
        let mut release = self
            .releases()
            .get(&(app.clone(), revision))
            .cloned()
            .ok_or_else(|| Error::NotFound { app: app.to_string(), revision })?;
        release.location = format!("memory://{app}/v{revision}");
        Ok(release)
    }

    fn create(&self, release: &StoredRelease) -> Result<()> {
        self.options.check_size(release)?;
        let key = (release.meta.app.clone(), release.meta.revision);
        let mut releases = self.releases();
        if releases.contains_key(&key) {
            return Err(Error::AlreadyExists { app: key.0.to_string(), revision: key.1 });
        }
        releases.insert(key, release.clone());
        Ok(())
    }

    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        match self.releases().get_mut(&(app.clone(), revision)) {
            Some(r) => {
                if let Some(new) = change(&r.meta)? {
                    super::check_same_release(&r.meta, &new)?;
                    r.meta = new;
                }
                Ok(())
            }
            None => Err(Error::NotFound { app: app.to_string(), revision }),
        }
    }

    fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
        match self.releases().remove(&(app.clone(), revision)) {
            Some(_) => Ok(()),
            None => Err(Error::NotFound { app: app.to_string(), revision }),
        }
    }
}
