//! `file:///path`: one file per release under `<root>/<app>/v<N>.release`.
//!
//! Writes go to a temp file that is fsynced and then linked (create, which
//! fails if the revision exists) or renamed (status updates) into place, so a
//! crash leaves either the old state or the complete new release. Mutations of
//! one app are serialised by an advisory lock on `<root>/<app>/.lock`. Files
//! are 0600 and directories 0700: releases hold Secret data.

use super::{Damaged, Listing, Store, StoreOptions};
use crate::context::validate_app_name;
use crate::error::{Error, Result};
use crate::release::{Release, ReleaseMeta, Status, decode, decode_meta, encode, replace_meta};
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

const HEADER_READ: u64 = 1024 * 1024 + 64;

impl FileStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> FileStore {
        Self::with_options(root, &StoreOptions::default())
    }

    /// A store rooted at `root` with `options`.
    pub fn with_options(root: impl Into<PathBuf>, options: &StoreOptions) -> FileStore {
        FileStore { root: root.into(), options: *options }
    }

    fn app_dir(&self, app: &str) -> Result<PathBuf> {
        validate_app_name(app)?;
        Ok(self.root.join(app))
    }

    fn release_path(&self, app: &str, revision: u64) -> Result<PathBuf> {
        Ok(self.app_dir(app)?.join(format!("v{revision}.release")))
    }

    /// Takes the app's lock, creating its directory. Released on drop.
    fn lock(&self, app: &str) -> Result<(PathBuf, File)> {
        let dir = self.app_dir(app)?;
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
    fn write_temp(dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(".tmp.{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::store_io("cannot create", &tmp, e))?;
        let res = f.write_all(bytes).and_then(|()| f.sync_all());
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
        self.options
            .max_release_bytes
            .saturating_add(self.options.max_release_bytes / 64)
            .saturating_add(HEADER_READ + 4096)
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
        let res = file.take(limit).read_to_end(&mut bytes);
        res.map_err(|e| Error::store_io("cannot read", path, e))?;
        Ok(Some(bytes))
    }
}

impl Store for FileStore {
    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn list(&self, app: &str) -> Result<Vec<ReleaseMeta>> {
        Ok(self.scan(app)?.into_releases(app))
    }

    fn scan(&self, app: &str) -> Result<Listing> {
        let dir = self.app_dir(app)?;
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
            match decode_meta(&head, &shown) {
                Ok(meta) if meta.revision == rev && meta.app == app => listing.releases.push(meta),
                Ok(meta) => listing.damaged.push(Damaged {
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

    fn get(&self, app: &str, revision: u64) -> Result<Release> {
        let path = self.release_path(app, revision)?;
        let bytes = Self::read(&path, self.max_file_bytes())?
            .ok_or_else(|| Error::NotFound { app: app.to_string(), revision })?;
        let release = decode(&bytes, &path.display().to_string(), self.options.max_release_bytes)?;
        if release.meta.app != app || release.meta.revision != revision {
            return Err(Error::Corrupt(format!(
                "{}: holds {} revision {}, not {app} revision {revision}; the store was tampered with",
                path.display(),
                release.meta.app,
                release.meta.revision
            )));
        }
        Ok(release)
    }

    fn create(&self, release: &Release) -> Result<()> {
        self.options.check_size(release)?;
        let (app, revision) = (&release.meta.app, release.meta.revision);
        let path = self.release_path(app, revision)?;
        let (dir, _lock) = self.lock(app)?;
        let tmp = Self::write_temp(&dir, &encode(release))?;
        // hard_link never replaces: the revision is created at most once.
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Self::sync_dir(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists { app: app.clone(), revision })
            }
            Err(e) => Err(Error::store_io("cannot create", &path, e)),
        }
    }

    fn set_status(&self, app: &str, revision: u64, status: Status) -> Result<()> {
        let path = self.release_path(app, revision)?;
        let (dir, _lock) = self.lock(app)?;
        let bytes = Self::read(&path, self.max_file_bytes())?
            .ok_or_else(|| Error::NotFound { app: app.to_string(), revision })?;
        let what = path.display().to_string();
        let mut meta = decode_meta(&bytes, &what)?;
        if meta.status == status {
            return Ok(());
        }
        meta.status = status;
        let tmp = Self::write_temp(&dir, &replace_meta(&bytes, &meta, &what)?)?;
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::store_io("cannot update", &path, e));
        }
        Self::sync_dir(&dir)
    }

    fn delete(&self, app: &str, revision: u64) -> Result<()> {
        let path = self.release_path(app, revision)?;
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
