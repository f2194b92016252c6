//! The Kubernetes layer shared by the Secret store, the Argo CD Application
//! client and `rewind serve`: one way to reach an API server (kube's client,
//! on a small tokio runtime of its own so synchronous code can `block_on`
//! each call, or on the caller's), one classification of failures
//! ([`error`]), one retry on conflicts ([`retry`]), one Event recorder ([`events`]).

pub mod discovery;
pub mod error;
pub mod events;
pub mod retry;

use crate::error::{Error, Result};
use std::time::Duration;

/// A connected client and the runtime that drives it.
pub struct Connection {
    /// Runs the client's futures; calls `block_on` it.
    pub runtime: tokio::runtime::Runtime,
    /// The kube client.
    pub client: kube::Client,
    /// The API server URL, for messages.
    pub server: String,
}

/// How long calls may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    /// Short calls: Argo CD gives a generate 60 s, so fail fast.
    Calls,
    /// Watches: a quiet watch stream stays open for minutes.
    Watches,
}

/// A kube client for the kubeconfig at `kubeconfig` (and `context`) if
/// given, else the in-cluster service account or `KUBECONFIG` /
/// `~/.kube/config`; with the API server URL. Must run inside a tokio runtime.
pub async fn client(
    kubeconfig: Option<String>,
    context: Option<String>,
    timeouts: Timeouts,
) -> Result<(kube::Client, String)> {
    let mut config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(&path)
                .map_err(|e| Error::Config(format!("kubeconfig {path}: {e}")))?;
            let options = kube::config::KubeConfigOptions { context, ..Default::default() };
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| Error::Config(format!("kubeconfig {path}: {e}")))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            Error::Config(format!(
                "no Kubernetes credentials ({e}); run in a pod with a service-account token, or set KUBECONFIG"
            ))
        })?,
    };
    config.connect_timeout = Some(Duration::from_secs(5));
    if timeouts == Timeouts::Calls {
        config.read_timeout = Some(Duration::from_secs(20));
        config.write_timeout = Some(Duration::from_secs(20));
    }
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(|e| Error::Kubernetes {
        doing: format!("connecting to {server}"),
        message: format!("cannot build a Kubernetes client: {e}"),
        source: Box::new(e),
    })?;
    Ok((client, server))
}

/// Installs rustls' ring provider for HTTPS (reqwest and the OCI client
/// are built without one, so no second crypto library is linked). Idempotent.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Connection {
    /// Connects as [`client`] does, on a runtime of its own.
    pub fn open(kubeconfig: Option<String>, context: Option<String>) -> Result<Connection> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the Kubernetes client runtime", e))?;
        let (client, server) = runtime.block_on(client(kubeconfig, context, Timeouts::Calls))?;
        Ok(Connection { runtime, client, server })
    }
}
