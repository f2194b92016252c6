//! The one error type of the library. Every message names the file, object or
//! setting at fault and says what to do, because it is shown verbatim in the
//! Argo CD UI (the CMP server forwards stderr) and on people's terminals.

use std::path::Path;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, grouped by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest or source file is unreadable, malformed or over a limit.
    #[error("{path}: {message}")]
    Input { path: String, message: String },

    /// A flag, environment variable or `rewind.yaml` setting is wrong.
    #[error("{0}")]
    Config(String),

    /// The release store cannot be used.
    #[error("release store: {0}")]
    Store(String),

    /// A store write lost a race: the revision already exists. The history
    /// logic retries on this; users normally never see it.
    #[error("release store: revision {revision} of app {app:?} already exists")]
    AlreadyExists { app: String, revision: u64 },

    /// A release that was asked for does not exist.
    #[error("release store: app {app:?} has no revision {revision}; run `rewind history {app}` to list them")]
    NotFound { app: String, revision: u64 },

    /// A rollback target cannot be resolved (Argo CD shows this reason in the UI).
    #[error("PreviousRevisionUnavailable: {0}")]
    PreviousRevisionUnavailable(String),

    /// A stored release does not match its recorded digest.
    #[error("release store: {0}")]
    Corrupt(String),

    /// The external renderer command failed.
    #[error("renderer: {0}")]
    Renderer(String),
}

impl Error {
    /// An input error for `path` with `message`.
    pub fn input(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Input { path: path.as_ref().display().to_string(), message: message.into() }
    }

    /// A store error with the I/O cause and the path it concerns.
    pub fn store_io(what: &str, path: &Path, err: std::io::Error) -> Self {
        Error::Store(format!("{what} {}: {err}", path.display()))
    }
}
