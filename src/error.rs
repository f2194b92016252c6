//! The one error type of the library. Every message names the file, object or
//! setting at fault and says what to do, because it is shown verbatim in the
//! Argo CD UI (the CMP server forwards stderr) and on people's terminals.
//! Underlying errors are kept as sources, not formatted away.

use std::path::Path;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, grouped by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest or source file is unreadable, malformed or over a limit.
    #[error("{path}: {message}")]
    Input {
        /// The file (relative to the source root), `<stdin>` or the renderer.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },

    /// A flag, environment variable, `rewind.yaml` or Application setting is wrong.
    #[error("{0}")]
    Config(String),

    /// A file, socket or process could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path or address.
        what: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// A call to the Kubernetes API failed.
    #[error("{doing}: {message}")]
    Kubernetes {
        /// What was being done (`release store: writing Secret …`, `Application ns/name`).
        doing: String,
        /// The reason, with what to do (see `kubeclient::error`).
        message: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },

    /// An object kept changing while being written (optimistic concurrency gave up).
    #[error("{0}")]
    Conflict(String),

    /// The release store cannot be used.
    #[error("release store: {0}")]
    Store(String),

    /// A store write lost a race: the revision already exists. The history
    /// logic retries on this; users normally never see it.
    #[error("release store: revision {revision} of app {app:?} already exists")]
    AlreadyExists {
        /// The app.
        app: String,
        /// The revision taken.
        revision: u64,
    },

    /// A release that was asked for does not exist.
    #[error("release store: app {app:?} has no revision {revision}; run `rewind history {app}` to list them")]
    NotFound {
        /// The app.
        app: String,
        /// The revision asked for.
        revision: u64,
    },

    /// A rollback target cannot be resolved (Argo CD shows this reason in the UI).
    #[error("PreviousRevisionUnavailable: {0}")]
    PreviousRevisionUnavailable(String),

    /// A rollback's checks refused it (Argo CD shows this reason in the UI).
    #[error("RollbackRefused: {0}")]
    RollbackRefused(String),

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

    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }

    /// A store I/O error: `release store: <what> <path>: <cause>`.
    pub fn store_io(what: &str, path: &Path, source: std::io::Error) -> Self {
        Error::io(format!("release store: {what} {}", path.display()), source)
    }
}
