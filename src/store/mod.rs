//! Release stores: one trait, one file per backend (as Helm's storage drivers).
//! A backend keeps records and opaque payloads: it has to be a correct
//! key-value store with create-if-absent, and to recognise entries that are
//! not an app's releases. Encoding and the history policy (dedupe, retry,
//! prune) live above, in `history`, written once against this trait.

mod envelope;
mod file;
mod frame;
pub mod keyring;
mod kubernetes;
mod memory;
mod s3;

pub use envelope::{Envelope, Rekeyed};
pub use file::FileStore;
pub use keyring::Keyring;
pub use kubernetes::{CHUNK_BYTES, KubernetesStore, RELEASE_TYPE, app_key, app_label, release_name};
pub use memory::MemoryStore;
pub use s3::{S3Settings, S3Store, Sse};

use crate::error::{Error, Result};
use crate::release::{AppKey, ReleaseMeta, Status, StoredRelease};
use std::path::PathBuf;
use std::sync::Arc;

/// The default bound on a release's manifest: the default input limit (`--max-total-bytes`).
pub const DEFAULT_MAX_RELEASE_BYTES: u64 = 64 * 1024 * 1024;

/// Settings every backend honours.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest manifest a release may hold, written or read: a record claiming
    /// more is refused before anything is decompressed (the input limits).
    pub max_release_bytes: u64,
    /// The key file's keys, when releases are encrypted (`--encryption-key-file`).
    pub encryption: Option<Arc<Keyring>>,
    /// The S3 store's settings.
    pub s3: S3Settings,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { max_release_bytes: DEFAULT_MAX_RELEASE_BYTES, encryption: None, s3: S3Settings::default() }
    }
}

impl StoreOptions {
    /// Refuses writing a release that could not be read back under these options.
    pub fn check_size(&self, release: &StoredRelease) -> Result<()> {
        let size = release.meta.size;
        if size > self.max_release_bytes {
            return Err(Error::Store(format!(
                "release {} of app {:?} would be {size} bytes, over the {}-byte release limit; raise --max-total-bytes",
                release.meta.revision, release.meta.app, self.max_release_bytes
            )));
        }
        Ok(())
    }
}

/// An entry in a store that carries an app's name but is not one of its
/// readable releases: corrupt, unparsable, or someone else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// The file or Secret, as people find it.
    pub name: String,
    /// The revision it occupies, when its name or labels say.
    pub revision: Option<u64>,
    /// What is wrong with it.
    pub why: String,
}

/// What a store holds for one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Readable records, oldest revision first.
    pub releases: Vec<ReleaseMeta>,
    /// Entries that are skipped.
    pub damaged: Vec<Damaged>,
}

impl Listing {
    /// The revision a new release takes: past every revision in use, damaged ones included.
    pub fn next_revision(&self) -> u64 {
        let newest = self.releases.iter().map(|m| m.revision).chain(self.damaged.iter().filter_map(|d| d.revision));
        newest.max().map_or(1, |n| n + 1)
    }

    /// The readable records; each damaged entry is logged as a warning.
    pub fn into_releases(self, app: &AppKey) -> Vec<ReleaseMeta> {
        for d in &self.damaged {
            tracing::warn!("app {app}: skipping {}: {} (see `rewind history {app}`)", d.name, d.why);
        }
        self.releases
    }
}

/// Refuses a record change that would move a release or change its bytes:
/// `update_meta` rewrites the record only.
pub fn check_same_release(old: &ReleaseMeta, new: &ReleaseMeta) -> Result<()> {
    if (&old.app, old.revision, &old.digest, old.size) != (&new.app, new.revision, &new.digest, new.size) {
        return Err(Error::Store(format!(
            "release {} of app {:?}: a record update may not change the app, revision, digest or size",
            old.revision, old.app
        )));
    }
    Ok(())
}

/// A change to a release's record for [`Store::update_meta`]: the new record,
/// or `None` to leave it.
pub type MetaChange<'a> = dyn Fn(&ReleaseMeta) -> Result<Option<ReleaseMeta>> + 'a;

/// Where releases are kept.
pub trait Store: Send + Sync {
    /// The store's URL, for messages.
    fn url(&self) -> String;
    /// The records of `app` and the damaged entries that carry its name;
    /// an unknown app has neither.
    fn scan(&self, app: &AppKey) -> Result<Listing>;
    /// All readable records of `app`, oldest revision first; damaged entries
    /// are skipped with a warning.
    fn list(&self, app: &AppKey) -> Result<Vec<ReleaseMeta>> {
        Ok(self.scan(app)?.into_releases(app))
    }
    /// One release as stored; its `location` says where it was read from.
    /// [`Error::NotFound`] if it is not there; [`Error::Corrupt`] if the entry
    /// under its name holds another app's or revision's record.
    fn get(&self, app: &AppKey, revision: u64) -> Result<StoredRelease>;
    /// Writes a new release atomically; [`Error::AlreadyExists`] if that
    /// revision exists (the caller re-reads and retries).
    fn create(&self, release: &StoredRelease) -> Result<()>;
    /// Rewrites a release's record atomically, leaving its payload as it is:
    /// `change` gets the current record and returns the new one, or `None`
    /// to leave it. It may be called again if a concurrent writer got in
    /// first. App, revision, digest and size cannot change.
    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()>;
    /// Changes a release's status atomically.
    fn set_status(&self, app: &AppKey, revision: u64, status: Status) -> Result<()> {
        self.update_meta(app, revision, &|meta| {
            Ok((meta.status != status).then(|| ReleaseMeta { status, ..meta.clone() }))
        })
    }
    /// Deletes a release; [`Error::NotFound`] if it is not there.
    fn delete(&self, app: &AppKey, revision: u64) -> Result<()>;
    /// Tells people that a store operation failed, where the backend has a
    /// place for it (Kubernetes: a Warning Event). Best effort.
    fn report_failure(&self, _app: &AppKey, _reason: &str, _message: &str) -> Result<()> {
        Ok(())
    }
}

/// The embedded default: a file store under the user's state directory
/// (`$XDG_STATE_HOME/rewind`, else `~/.local/state/rewind`).
pub fn default_url() -> String {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| std::env::temp_dir().join("rewind-state"));
    format!("file://{}", base.join("rewind").display())
}

/// Opens the store a URL names (`file:///path`, `kubernetes://NAMESPACE` or `s3://BUCKET[/PREFIX]`),
/// encrypting when the options carry keys.
pub fn open(url: &str, options: &StoreOptions) -> Result<Box<dyn Store>> {
    Ok(Box::new(open_envelope(url, options)?))
}

/// The reminder `serve` and `generate` log when releases would sit in clear
/// in files: the file store cannot encrypt itself.
pub fn at_rest_reminder(url: &str, options: &StoreOptions) -> Option<String> {
    (url.starts_with("file://") && options.encryption.is_none()).then(|| {
        format!(
            "release store {url}: releases (Secrets included) are stored unencrypted; back the directory with an \
             encrypted volume, or turn on envelope encryption with --encryption-key-file / {}",
            keyring::KEY_FILE_ENV
        )
    })
}

/// [`open`], as the [`Envelope`] that `rewind rekey` works with.
pub fn open_envelope(url: &str, options: &StoreOptions) -> Result<Envelope> {
    Ok(Envelope::new(open_backend(url, options)?, options.encryption.clone()))
}

fn open_backend(url: &str, options: &StoreOptions) -> Result<Box<dyn Store>> {
    if let Some(namespace) = url.strip_prefix("kubernetes://") {
        return Ok(Box::new(KubernetesStore::open_with(namespace, options)?));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        return Ok(Box::new(S3Store::open(rest, options)?));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(Error::Config(format!("--store {url:?}: give a directory, e.g. file:///var/lib/rewind")));
        }
        return Ok(Box::new(FileStore::with_options(path, options)));
    }
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    Err(Error::Config(format!(
        "--store / REWIND_STORE {url:?}: the {scheme:?} store is not available in this build; use file:///path, kubernetes://NAMESPACE or s3://BUCKET[/PREFIX]"
    )))
}
