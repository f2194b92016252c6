//! The history policy, written once for every store: record with dedupe and
//! optimistic concurrency (create-if-absent, re-read and retry on a lost
//! race), prune beyond the limit but never the newest deployed release, and
//! status transitions.

use super::{Release, ReleaseMeta, SourceInfo, Status, digest_of};
use crate::error::{Error, Result};
use crate::store::Store;

/// Revisions kept per app unless configured otherwise (Helm's default too).
pub const DEFAULT_HISTORY_MAX: usize = 10;
const MAX_ATTEMPTS: usize = 64;

/// A release to record; the revision is assigned by [`record`].
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// App key.
    pub app: String,
    /// Manifest bytes, exactly as printed.
    pub manifest: Vec<u8>,
    /// Where they came from.
    pub source: SourceInfo,
    /// The revision copied, for a rollback.
    pub rollback_of: Option<u64>,
    /// A human note.
    pub description: String,
}

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new revision was written.
    Created(ReleaseMeta),
    /// The newest revision already holds this manifest; nothing was written.
    Unchanged(ReleaseMeta),
}

impl Recorded {
    /// The record of the revision that now holds the manifest.
    pub fn meta(&self) -> &ReleaseMeta {
        match self {
            Recorded::Created(m) | Recorded::Unchanged(m) => m,
        }
    }
}

/// Records `new` as the next revision unless the newest revision already has
/// the same digest, then prunes beyond `history_max`.
pub fn record(store: &dyn Store, new: NewRelease, history_max: usize) -> Result<Recorded> {
    let digest = digest_of(&new.manifest);
    for _ in 0..MAX_ATTEMPTS {
        let existing = store.list(&new.app)?;
        if let Some(latest) = existing.last()
            && latest.digest == digest
        {
            return Ok(Recorded::Unchanged(latest.clone()));
        }
        let revision = existing.last().map_or(1, |m| m.revision + 1);
        let release = Release::pending(
            &new.app,
            revision,
            new.manifest.clone(),
            new.source.clone(),
            new.rollback_of,
            &new.description,
        );
        match store.create(&release) {
            Ok(()) => {
                prune(store, &new.app, history_max)?;
                return Ok(Recorded::Created(release.meta));
            }
            // Another writer took this revision: re-read, it may even be ours.
            Err(Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Store(format!(
        "could not record a revision of app {:?} after {MAX_ATTEMPTS} attempts: too many concurrent writers",
        new.app
    )))
}

/// Deletes the oldest revisions beyond `history_max`, never the newest
/// `deployed` one. Returns the deleted revisions.
pub fn prune(store: &dyn Store, app: &str, history_max: usize) -> Result<Vec<u64>> {
    let history_max = history_max.max(1);
    let metas = store.list(app)?;
    if metas.len() <= history_max {
        return Ok(Vec::new());
    }
    let newest_deployed = metas.iter().rev().find(|m| m.status == Status::Deployed).map(|m| m.revision);
    let cut = metas.len() - history_max;
    let mut deleted = Vec::new();
    for meta in &metas[..cut] {
        if Some(meta.revision) == newest_deployed {
            continue;
        }
        match store.delete(app, meta.revision) {
            Ok(()) | Err(Error::NotFound { .. }) => deleted.push(meta.revision),
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// Sets a release's status. Marking one `deployed` marks the previously
/// deployed ones `superseded` (as Helm does).
pub fn mark(store: &dyn Store, app: &str, revision: u64, status: Status) -> Result<()> {
    let metas = store.list(app)?;
    if !metas.iter().any(|m| m.revision == revision) {
        return Err(Error::NotFound { app: app.to_string(), revision });
    }
    store.set_status(app, revision, status)?;
    if status == Status::Deployed {
        for m in metas.iter().filter(|m| m.status == Status::Deployed && m.revision != revision) {
            store.set_status(app, m.revision, Status::Superseded)?;
        }
    }
    Ok(())
}
