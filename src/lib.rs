//! rewind: render Kubernetes manifests, hash ConfigMaps and Secrets into the
//! pod templates that use them, record every release, and roll back to any
//! of them byte for byte. See `docs/architecture.md` for the pipeline.
//!
//! `context → manifest → render → hash → release → store → rollback`, with
//! `argocd` as the integration, `serve` as the release lifecycle controller
//! built on it, and `cli` as a thin shell.

#![warn(missing_docs)]
#![warn(clippy::too_many_lines)]

pub mod argocd;
pub mod cli;
pub mod context;
pub mod diff;
pub mod error;
pub mod flux;
pub mod hash;
pub mod history;
pub mod kubeclient;
pub mod manifest;
pub mod pipeline;
pub mod release;
pub mod render;
pub mod rollback;
pub mod serve;
pub mod store;

pub use error::{Error, Result};
