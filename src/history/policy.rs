//! The history policy, written once for every store: record with dedupe and
//! optimistic concurrency (create-if-absent, re-read and retry on a lost
//! race; a number that pruning freed is never given out again), prune beyond
//! the limit but never the newest deployed release, and status transitions.

use super::{History, codec};
use crate::error::{Error, Result};
use crate::release::{
    AppKey, ReleaseMeta, RollbackClass, RollbackEvidence, SourceInfo, Status, StoredRelease, digest_of,
};

/// Revisions kept per app unless configured otherwise (Helm's default too).
pub const DEFAULT_HISTORY_MAX: usize = 10;
const MAX_ATTEMPTS: usize = 64;

/// A release to record; the revision is assigned by [`record`].
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// App key.
    pub app: AppKey,
    /// Manifest bytes, exactly as printed.
    pub manifest: Vec<u8>,
    /// Where they came from.
    pub source: SourceInfo,
    /// The revision copied, for a rollback.
    pub rollback_of: Option<u64>,
    /// A human note.
    pub description: String,
    /// Its rollback class (a rollback copies its target's).
    pub class: Option<RollbackClass>,
    /// For a rollback: its evidence.
    pub evidence: Option<RollbackEvidence>,
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

impl History<'_> {
    /// Records `new` as the next revision unless the newest revision already has
    /// the same digest, then prunes beyond `history_max`. Revisions held by
    /// damaged entries are skipped, never overwritten.
    pub fn record(&self, new: &NewRelease, history_max: usize) -> Result<Recorded> {
        let digest = digest_of(&new.manifest);
        // Compressed once, whatever the attempts; the manifest is not copied.
        let mut compressed = None;
        for _ in 0..MAX_ATTEMPTS {
            let listing = self.store.scan(&new.app)?;
            let revision = listing.next_revision();
            let existing = listing.into_releases(&new.app);
            check_one_source(&new.app, &existing, &new.source)?;
            if let Some(latest) = existing.last()
                && latest.digest == digest
            {
                return Ok(Recorded::Unchanged(latest.clone()));
            }
            let mut meta = ReleaseMeta::pending(
                &new.app,
                revision,
                &new.manifest,
                new.source.clone(),
                new.rollback_of,
                &new.description,
            );
            meta.class = new.class.clone();
            meta.evidence = new.evidence.clone();
            let payload = compressed.take().unwrap_or_else(|| codec::compress(&new.manifest));
            let stored = StoredRelease { meta, payload, location: String::new() };
            match self.store.create(&stored) {
                Ok(()) => {
                    let listing = self.store.scan(&new.app)?;
                    // With `history_max` newer releases already there, ours would be pruned at
                    // once: its number was free only because pruning had deleted it while we
                    // worked (or we were outrun). Numbers are never given out twice, and the
                    // printed manifest must be recorded, so ours goes and the next free
                    // number is tried. A newer release or two is just a concurrent writer.
                    let newer = listing.releases.iter().filter(|m| m.revision > revision).count();
                    if newer >= history_max.max(1) {
                        match self.store.delete(&new.app, revision) {
                            Ok(()) | Err(Error::NotFound { .. }) => {}
                            Err(e) => return Err(e),
                        }
                        compressed = Some(stored.payload);
                        continue;
                    }
                    self.prune(&new.app, listing.into_releases(&new.app), history_max)?;
                    return Ok(Recorded::Created(stored.meta));
                }
                // Another writer took this revision: re-read, it may even be ours.
                Err(Error::AlreadyExists { .. }) => compressed = Some(stored.payload),
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
    fn prune(&self, app: &AppKey, metas: Vec<ReleaseMeta>, history_max: usize) -> Result<Vec<u64>> {
        let history_max = history_max.max(1);
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
            match self.store.delete(app, meta.revision) {
                Ok(()) | Err(Error::NotFound { .. }) => deleted.push(meta.revision),
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// Sets a release's status. Marking one `deployed` marks the previously
    /// deployed ones `superseded` (as Helm does).
    pub fn mark(&self, app: &AppKey, revision: u64, status: Status) -> Result<()> {
        let metas = self.store.list(app)?;
        if !metas.iter().any(|m| m.revision == revision) {
            return Err(Error::NotFound { app: app.to_string(), revision });
        }
        // The first time it is deployed starts the rollback window of the release before it.
        self.store.update_meta(app, revision, &|m| {
            let first_deploy = status == Status::Deployed && m.deployed_at.is_none();
            Ok((m.status != status || first_deploy).then(|| ReleaseMeta {
                status,
                deployed_at: if first_deploy { Some(crate::release::now_rfc3339()) } else { m.deployed_at.clone() },
                ..m.clone()
            }))
        })?;
        if status == Status::Deployed {
            for m in metas.iter().filter(|m| m.status == Status::Deployed && m.revision != revision) {
                self.store.set_status(app, m.revision, Status::Superseded)?;
            }
        }
        Ok(())
    }
}

/// The source a release was rendered from, where Argo CD said: repository and path.
pub fn source_identity(source: &SourceInfo) -> Option<(&str, &str)> {
    Some((source.repo_url.as_deref()?, source.path.as_deref().unwrap_or("")))
}

/// One app key holds one source's history. Two rewind sources of one
/// multi-source Application get the same `ARGOCD_APP_NAME`; their renders
/// would interleave, prune each other, and `previous` could print the other
/// source's manifest. So when another source recorded under this key after
/// this source's newest release, refuse, saying how to give each its own key.
pub fn check_one_source(app: &AppKey, metas: &[ReleaseMeta], source: &SourceInfo) -> Result<()> {
    let Some(ours) = source_identity(source) else { return Ok(()) };
    let Some(last_ours) = metas.iter().rposition(|m| source_identity(&m.source) == Some(ours)) else { return Ok(()) };
    let Some(other) =
        metas[last_ours + 1..].iter().find(|m| source_identity(&m.source).is_some_and(|theirs| theirs != ours))
    else {
        return Ok(());
    };
    let (repo, path) = source_identity(&other.source).expect("found by its identity");
    Err(Error::Config(format!(
        "app key {app:?}: revision {} was recorded from another source ({repo} path {path:?}) after revision {} of this one \
         ({} path {:?}), so two rewind sources share this key. In a multi-source Application give each rewind source its own \
         REWIND_SOURCE_NAME in its plugin env (or parameter source-name); if the app moved back to an earlier repository \
         or path, set REWIND_SOURCE_NAME to start a history of its own",
        other.revision, metas[last_ours].revision, ours.0, ours.1
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Damaged, Listing, MemoryStore, MetaChange, Store};

    fn new(app: &AppKey, manifest: &str) -> NewRelease {
        NewRelease {
            app: app.clone(),
            manifest: manifest.as_bytes().to_vec(),
            source: SourceInfo::default(),
            rollback_of: None,
            description: String::new(),
            class: None,
            evidence: None,
        }
    }

    fn revisions(h: &History, app: &AppKey) -> Vec<(u64, Status)> {
        h.list(app).unwrap().iter().map(|m| (m.revision, m.status)).collect()
    }

    #[test]
    fn records_dedupe_prune_and_supersede() {
        let store = MemoryStore::new();
        let (h, app) = (History::new(&store), key());
        assert!(matches!(h.record(&new(&app, "a"), 2).unwrap(), Recorded::Created(ref m) if m.revision == 1));
        assert!(matches!(h.record(&new(&app, "a"), 2).unwrap(), Recorded::Unchanged(ref m) if m.revision == 1));
        h.mark(&app, 1, Status::Deployed).unwrap();
        h.record(&new(&app, "b"), 2).unwrap();
        h.record(&new(&app, "c"), 2).unwrap();
        assert_eq!(
            revisions(&h, &app),
            [(1, Status::Deployed), (2, Status::Pending), (3, Status::Pending)],
            "the newest deployed survives pruning"
        );
        h.mark(&app, 3, Status::Deployed).unwrap();
        h.record(&new(&app, "d"), 2).unwrap();
        assert_eq!(revisions(&h, &app), [(3, Status::Deployed), (4, Status::Pending)], "1 was superseded, then pruned");
        assert!(matches!(h.mark(&app, 9, Status::Failed), Err(Error::NotFound { revision: 9, .. })));
    }

    /// A store holding one damaged entry at revision 2 beside what MemoryStore holds.
    struct WithDamaged(MemoryStore);

    impl Store for WithDamaged {
        fn url(&self) -> String {
            self.0.url()
        }
        fn scan(&self, app: &AppKey) -> Result<Listing> {
            let mut listing = self.0.scan(app)?;
            listing.damaged.push(Damaged { name: "v2".into(), revision: Some(2), why: "unreadable".into() });
            Ok(listing)
        }
        fn get(&self, app: &AppKey, revision: u64) -> Result<crate::release::StoredRelease> {
            self.0.get(app, revision)
        }
        fn create(&self, release: &crate::release::StoredRelease) -> Result<()> {
            self.0.create(release)
        }
        fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
            self.0.update_meta(app, revision, change)
        }
        fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
            self.0.delete(app, revision)
        }
    }

    /// A store that can play the other writers of a race: a scan from before
    /// 16 releases were recorded and the oldest pruned, as a slow writer's
    /// would be; or a writer that records the next revision right after a create.
    #[derive(Default)]
    struct Racing {
        store: MemoryStore,
        stale_scan: std::sync::atomic::AtomicBool,
        next_right_after: std::sync::atomic::AtomicBool,
    }

    impl Store for Racing {
        fn url(&self) -> String {
            self.store.url()
        }
        fn scan(&self, app: &AppKey) -> Result<Listing> {
            if self.stale_scan.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Ok(Listing::default());
            }
            self.store.scan(app)
        }
        fn get(&self, app: &AppKey, revision: u64) -> Result<crate::release::StoredRelease> {
            self.store.get(app, revision)
        }
        fn create(&self, release: &crate::release::StoredRelease) -> Result<()> {
            self.store.create(release)?;
            if self.next_right_after.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let (app, revision) = (&release.meta.app, release.meta.revision + 1);
                let meta = ReleaseMeta::pending(app, revision, b"other", SourceInfo::default(), None, "");
                let payload = codec::compress(b"other");
                self.store.create(&crate::release::StoredRelease { meta, payload, location: String::new() })?;
            }
            Ok(())
        }
        fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
            self.store.update_meta(app, revision, change)
        }
        fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
            self.store.delete(app, revision)
        }
    }

    #[test]
    fn a_pruned_revision_is_never_given_out_again() {
        let store = Racing::default();
        let (h, app) = (History::new(&store), key());
        for i in 0..16 {
            h.record(&new(&app, &format!("m{i}")), 10).unwrap();
        }
        assert_eq!(revisions(&h, &app).first(), Some(&(7, Status::Pending)), "1 to 6 were pruned");
        store.stale_scan.store(true, std::sync::atomic::Ordering::SeqCst);
        let late = h.record(&new(&app, "late"), 10).unwrap();
        assert_eq!(late.meta().revision, 17, "revision 1 was free again, but is not reused");
        let kept: Vec<u64> = revisions(&h, &app).iter().map(|r| r.0).collect();
        assert_eq!(kept, (8..=17).collect::<Vec<_>>());
        assert_eq!(h.get(&app, 17).unwrap().manifest, b"late");

        // A writer that records the next revision while ours is being checked is no reason to move ours.
        store.next_right_after.store(true, std::sync::atomic::Ordering::SeqCst);
        let ours = h.record(&new(&app, "ours"), 10).unwrap();
        assert_eq!(ours.meta().revision, 18);
        let kept: Vec<u64> = revisions(&h, &app).iter().map(|r| r.0).collect();
        assert_eq!(kept, (10..=19).collect::<Vec<_>>(), "18 kept, beside the other writer's 19");
        assert_eq!(h.get(&app, 18).unwrap().manifest, b"ours");
    }

    #[test]
    fn damaged_revisions_are_skipped_not_reused() {
        let store = WithDamaged(MemoryStore::new());
        let (h, app) = (History::new(&store), key());
        let first = h.record(&new(&app, "a"), 10).unwrap();
        assert_eq!(first.meta().revision, 3, "revision 2 is held by a damaged entry");
        assert_eq!(h.get(&app, 3).unwrap().manifest, b"a");
    }

    #[test]
    fn a_key_shared_by_two_sources_is_refused_when_they_take_turns() {
        let store = MemoryStore::new();
        let (h, app) = (History::new(&store), key());
        let at =
            |path: &str, manifest: &str| NewRelease { source: from("https://git/r.git", path), ..new(&app, manifest) };
        h.record(&at("web", "w1"), 10).unwrap();
        h.record(&at("db", "d1"), 10).unwrap();
        let err = h.record(&at("web", "w2"), 10).unwrap_err().to_string();
        assert!(err.contains("two rewind sources share this key"), "{err}");
        assert_eq!(h.list(&app).unwrap().len(), 2, "nothing recorded");
    }

    fn meta(revision: u64, repo: Option<&str>, path: &str) -> ReleaseMeta {
        let source = SourceInfo { repo_url: repo.map(String::from), path: Some(path.into()), ..SourceInfo::default() };
        ReleaseMeta::pending(&key(), revision, &[], source, None, "")
    }

    fn key() -> AppKey {
        AppKey::new("shop").unwrap()
    }

    fn from(repo: &str, path: &str) -> SourceInfo {
        SourceInfo { repo_url: Some(repo.into()), path: Some(path.into()), ..SourceInfo::default() }
    }

    #[test]
    fn one_key_one_source() {
        let (a, b) = (Some("https://git/a.git"), Some("https://git/b.git"));
        // A moved app: the new source's first render is fine, and so on after it.
        let moved = [meta(1, a, "x"), meta(2, a, "x")];
        assert!(check_one_source(&key(), &moved, &from("https://git/b.git", "x")).is_ok());
        let moved = [meta(1, a, "x"), meta(2, b, "x")];
        assert!(check_one_source(&key(), &moved, &from("https://git/b.git", "x")).is_ok());
        // Two sources taking turns: the one that comes back is refused.
        let err = check_one_source(&key(), &moved, &from("https://git/a.git", "x")).unwrap_err().to_string();
        assert!(
            err.contains("revision 2 was recorded from another source") && err.contains("REWIND_SOURCE_NAME"),
            "{err}"
        );
        // Renders without Argo CD's source (local `rewind render`) are neither checked nor counted.
        let local = [meta(1, a, "x"), meta(2, None, "/home/me/app")];
        assert!(check_one_source(&key(), &local, &from("https://git/a.git", "x")).is_ok());
        assert!(check_one_source(&key(), &moved, &SourceInfo::default()).is_ok());
    }
}
