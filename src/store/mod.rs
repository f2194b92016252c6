//! Release stores: one trait, one file per backend (as Helm's storage drivers).
//! The history policy (dedupe, retry, prune) lives in `release`, written once
//! against this trait; a backend only has to be a correct key-value store with
//! create-if-absent.

mod file;
mod kubernetes;

pub use file::FileStore;
pub use kubernetes::{CHUNK_BYTES, KubernetesStore, RELEASE_TYPE, app_key, app_label};

use crate::error::{Error, Result};
use crate::release::{Release, ReleaseMeta, Status};
use std::path::PathBuf;

/// Where releases are kept.
pub trait Store: Send + Sync {
    /// The store's URL, for messages.
    fn url(&self) -> String;
    /// All records of `app`, oldest revision first. An unknown app has none.
    fn list(&self, app: &str) -> Result<Vec<ReleaseMeta>>;
    /// One release with its manifest, digest verified.
    fn get(&self, app: &str, revision: u64) -> Result<Release>;
    /// Writes a new release atomically; [`Error::AlreadyExists`] if that
    /// revision exists (the caller re-reads and retries).
    fn create(&self, release: &Release) -> Result<()>;
    /// Changes a release's status atomically.
    fn set_status(&self, app: &str, revision: u64, status: Status) -> Result<()>;
    /// Deletes a release; [`Error::NotFound`] if it is not there.
    fn delete(&self, app: &str, revision: u64) -> Result<()>;
    /// Tells people that a store operation failed, where the backend has a
    /// place for it (Kubernetes: a Warning Event). Best effort.
    fn report_failure(&self, _app: &str, _reason: &str, _message: &str) -> Result<()> {
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

/// Opens the store a URL names: `file:///path` or `kubernetes://NAMESPACE`.
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    if let Some(namespace) = url.strip_prefix("kubernetes://") {
        return Ok(Box::new(KubernetesStore::open(namespace)?));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(Error::Config(format!("--store {url:?}: give a directory, e.g. file:///var/lib/rewind")));
        }
        return Ok(Box::new(FileStore::new(path)));
    }
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    Err(Error::Config(format!(
        "--store / REWIND_STORE {url:?}: the {scheme:?} store is not available in this build; use file:///path or kubernetes://NAMESPACE"
    )))
}
