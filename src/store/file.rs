//! `file:///path`: one file per release under `<root>/<app>/v<N>.release`:
//! a magic line, the record's length and JSON, then the payload.
//!
//! Writes go to a temp file that is fsynced and then linked (create, which
//! fails if the revision exists) or renamed (status updates) into place, so a
//! crash leaves either the old state or the complete new release. Mutations of
//! one app are serialised by an advisory lock on `<root>/<app>/.lock`. Files
//! are 0600 and directories 0700: releases hold Secret data.

use super::frame::{HEADER_READ, header, unframe};
use super::{Damaged, Listing, MetaChange, Store, StoreOptions};
use crate::error::{Error, Result};
use crate::release::{AppKey, ReleaseMeta, StoredRelease};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A release store on the local file system.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    options: StoreOptions,
}

/// Test builds only: with `REWIND_TEST_PAUSE_DIR` set, a writer marks that it
/// is in the middle of a write (`<dir>/<pid>.<point>`) and pauses there, so
/// the crash test can kill it at exactly that moment.
fn fault_point(point: &str) {
    if cfg!(debug_assertions)
        && let Some(dir) = std::env::var_os("REWIND_TEST_PAUSE_DIR")
    {
        let marker = Path::new(&dir).join(format!("{}.{point}", std::process::id()));
        let _ = fs::write(&marker, b"");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = fs::remove_file(&marker);
    }
}

impl FileStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> FileStore {
        Self::with_options(root, &StoreOptions::default())
    }

    /// A store rooted at `root` with `options`.
    pub fn with_options(root: impl Into<PathBuf>, options: &StoreOptions) -> FileStore {
        FileStore { root: root.into(), options: options.clone() }
    }

    fn app_dir(&self, app: &AppKey) -> PathBuf {
        self.root.join(app.as_str())
    }

    fn release_path(&self, app: &AppKey, revision: u64) -> PathBuf {
        self.app_dir(app).join(format!("v{revision}.release"))
    }

    /// Takes the app's lock, creating its directory. Released on drop.
    fn lock(&self, app: &AppKey) -> Result<(PathBuf, File)> {
        let dir = self.app_dir(app);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::store_io("cannot create", &dir, e))?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::store_io("cannot open lock", &lock_path, e))?;
        lock.lock().map_err(|e| Error::store_io("cannot lock", &lock_path, e))?;
        Self::remove_stale_temps(&dir);
        Ok((dir, lock))
    }

    /// Temp files are written only under the lock, so any found while holding
    /// it were left by a writer that died mid-write.
    fn remove_stale_temps(dir: &Path) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.starts_with(".tmp.")) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes `bytes` to a fresh fsynced temp file in `dir`.
    /// A new temporary file in `dir` holding `parts`, one after another, synced.
    fn write_temp(dir: &Path, parts: &[&[u8]]) -> Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(".tmp.{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::store_io("cannot create", &tmp, e))?;
        let res = parts.iter().try_for_each(|part| f.write_all(part)).and_then(|()| f.sync_all());
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(Error::store_io("cannot write", &tmp, e));
        }
        Ok(tmp)
    }

    /// The most bytes a release file may take: the record, and a payload that
    /// zstd can make at most slightly larger than the manifest limit. Anything
    /// longer is damaged, and is not read whole into memory.
    fn max_file_bytes(&self) -> u64 {
        let max = self.options.max_release_bytes;
        max.saturating_add(max / 64).saturating_add(HEADER_READ + 4096)
    }

    fn sync_dir(dir: &Path) -> Result<()> {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::store_io("cannot sync", dir, e))
    }

    fn read(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::store_io("cannot read", path, e)),
        };
        let mut bytes = Vec::new();
        file.take(limit).read_to_end(&mut bytes).map_err(|e| Error::store_io("cannot read", path, e))?;
        Ok(Some(bytes))
    }

    /// The whole file of a release, refusing one that holds another app's or revision's record.
    fn read_release(&self, app: &AppKey, revision: u64) -> Result<(PathBuf, Vec<u8>, ReleaseMeta, usize)> {
        let path = self.release_path(app, revision);
        let bytes = Self::read(&path, self.max_file_bytes())?
            .ok_or_else(|| Error::NotFound { app: app.to_string(), revision })?;
        let (meta, offset) = unframe(&bytes, &path.display().to_string())?;
        if meta.app != *app || meta.revision != revision {
            return Err(Error::Corrupt(format!(
                "{}: holds {} revision {}, not {app} revision {revision}; the store was tampered with",
                path.display(),
                meta.app,
                meta.revision
            )));
        }
        Ok((path, bytes, meta, offset))
    }
}

impl Store for FileStore {
    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn scan(&self, app: &AppKey) -> Result<Listing> {
        let dir = self.app_dir(app);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(e) => return Err(Error::store_io("cannot list", &dir, e)),
        };
        let mut listing = Listing::default();
        for entry in entries {
            let entry = entry.map_err(|e| Error::store_io("cannot list", &dir, e))?;
            let name = entry.file_name();
            let Some(rev) =
                name.to_str().and_then(|n| n.strip_prefix('v')?.strip_suffix(".release")?.parse::<u64>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let shown = path.display().to_string();
            // Deleted between read_dir and open by a concurrent prune: skip.
            let Some(head) = Self::read(&path, HEADER_READ)? else { continue };
            match unframe(&head, &shown) {
                Ok((meta, _)) if meta.revision == rev && meta.app == *app => listing.releases.push(meta),
                Ok((meta, _)) => listing.damaged.push(Damaged {
                    name: shown,
                    revision: Some(rev),
                    why: format!("holds {} revision {}, not {app} revision {rev}", meta.app, meta.revision),
                }),
                Err(e) => listing.damaged.push(Damaged { name: shown, revision: Some(rev), why: e.to_string() }),
            }
        }
        listing.releases.sort_by_key(|m| m.revision);
        listing.damaged.sort_by_key(|d| d.revision);
        Ok(listing)
    }

    fn get(&self, app: &AppKey, revision: u64) -> Result<StoredRelease> {
        let (path, mut bytes, meta, offset) = self.read_release(app, revision)?;
        let payload = bytes.split_off(offset);
        Ok(StoredRelease { meta, payload, location: path.display().to_string() })
    }

    fn create(&self, release: &StoredRelease) -> Result<()> {
        self.options.check_size(release)?;
        let (app, revision) = (&release.meta.app, release.meta.revision);
        let path = self.release_path(app, revision);
        let (dir, _lock) = self.lock(app)?;
        // The payload is written as it is, not copied into one buffer with the record.
        let tmp = Self::write_temp(&dir, &[&header(&release.meta), &release.payload])?;
        fault_point("create");
        // hard_link never replaces: the revision is created at most once.
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Self::sync_dir(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists { app: app.to_string(), revision })
            }
            Err(e) => Err(Error::store_io("cannot create", &path, e)),
        }
    }

    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        let (dir, _lock) = self.lock(app)?;
        let (path, bytes, meta, offset) = self.read_release(app, revision)?;
        let Some(new) = change(&meta)? else {
            return Ok(());
        };
        super::check_same_release(&meta, &new)?;
        let tmp = Self::write_temp(&dir, &[&header(&new), &bytes[offset..]])?;
        fault_point("status");
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::store_io("cannot update", &path, e));
        }
        Self::sync_dir(&dir)
    }

    fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
        let path = self.release_path(app, revision);
        let (dir, _lock) = self.lock(app)?;
        match fs::remove_file(&path) {
            Ok(()) => Self::sync_dir(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound { app: app.to_string(), revision })
            }
            Err(e) => Err(Error::store_io("cannot delete", &path, e)),
        }
    }
}
