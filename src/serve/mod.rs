//! `rewind serve`: the release lifecycle controller.
//!
//! - **Argo CD** ([`controller`]): watches Applications that use the rewind
//!   plugin, marks the release a sync deployed `deployed` (Healthy) or
//!   `failed` (sync failed, or Degraded past a grace), records the last-good
//!   release on the Application, emits Events, and — where enabled — rolls a
//!   failed release back by pinning the newest deployed one before it.
//! - **Flux** ([`flux`]): produces each RewindSource's ExternalArtifact from
//!   its source, serves it ([`artifacts`]), and follows the Kustomizations
//!   that apply it through the same lifecycle, with the automatic rollback
//!   pinned in the RewindSource's status.
//!
//! HTTP: `/healthz`, `/readyz`, `/metrics` ([`health`]) and, for Flux,
//! `/flux/events` ([`webhook`]) on `--listen`; the artifact server on
//! `--artifact-listen`. Shape: kube-runtime watchers and the HTTP servers run
//! on tokio; they hand objects to one worker thread per integration, which
//! owns the synchronous store.

pub mod artifacts;
pub mod controller;
pub mod flux;
pub mod health;
pub mod lifecycle;
pub mod metrics;
pub mod observe;
pub mod watch;
pub mod webhook;

use crate::argocd::application::{Application, ApplicationRef};
use crate::argocd::client::{Applications, application_resource};
use crate::error::{Error, Result};
use crate::flux::client::{Kustomization, kustomization_resource};
use crate::flux::crd::RewindSource;
use crate::kubeclient::{Connection, Timeouts, client};
use crate::manifest::Limits;
use crate::render::Renderers;
use crate::store::Store;
use artifacts::{ArtifactCache, ArtifactServer};
use axum::Router;
use axum::routing::{get, post};
use controller::{Controller, Message};
use flux::{FluxMessage, FluxSettings, FluxWorker};
use health::{Health, unix_now};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::Lookup;
use lifecycle::Policy;
use metrics::Metrics;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use watch::{Seen, forward};
use webhook::Webhook;

/// `rewind serve` settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Release store URL (the one the CMP sidecar records into).
    pub store: String,
    /// How the store is opened.
    pub store_options: crate::store::StoreOptions,
    /// Address for `/healthz`, `/readyz`, `/metrics` (port 0 picks one; the log says which).
    pub listen: String,
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// Lifecycle policy.
    pub policy: Policy,
    /// The Argo CD integration, if on.
    pub argocd: Option<ArgoOptions>,
    /// The Flux integration, if on.
    pub flux: Option<FluxOptions>,
}

/// Settings of the Argo CD integration.
#[derive(Debug, Clone)]
pub struct ArgoOptions {
    /// Argo CD's control-plane namespace (app keys there are the bare name).
    pub argocd_namespace: String,
}

/// Settings of the Flux integration.
#[derive(Debug, Clone)]
pub struct FluxOptions {
    /// Address of the artifact server.
    pub artifact_listen: String,
    /// URL kustomize-controller reaches the artifact server at (default:
    /// `http://` and the bound address, which must then not be a wildcard).
    pub artifact_base_url: Option<String>,
    /// How often each RewindSource's source is looked at without news.
    pub interval: Duration,
    /// The HMAC key of `/flux/events` (`None`: the endpoint is off).
    pub webhook_token: Option<Vec<u8>>,
    /// The operator's renderers.
    pub renderers: Renderers,
    /// Input limits.
    pub limits: Limits,
    /// Refuse a RewindSource's `spec.sourceRef` in another namespace.
    pub no_cross_namespace_refs: bool,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

/// The artifact server's base URL: as given, else from the bound address.
fn base_url(given: Option<&str>, bound: std::net::SocketAddr) -> Result<String> {
    match given {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(url.trim_end_matches('/').to_string())
        }
        Some(url) => Err(Error::Config(format!(
            "--artifact-base-url {url:?} must be an http:// or https:// URL, e.g. http://rewind-artifacts.flux-system.svc.cluster.local.:9090"
        ))),
        None if bound.ip().is_unspecified() => Err(Error::Config(format!(
            "--artifact-listen {bound} listens on every address: give --artifact-base-url, the address kustomize-controller reaches it at (the Service in manifests/flux: http://rewind-artifacts.flux-system.svc.cluster.local.:9090)"
        ))),
        None => Ok(format!("http://{bound}")),
    }
}

/// The watches one integration needs, as (what, task) pairs.
type Watches = Vec<(String, futures::future::BoxFuture<'static, ()>)>;

fn scopes(namespaces: &[String]) -> Vec<Option<String>> {
    if namespaces.is_empty() { vec![None] } else { namespaces.iter().cloned().map(Some).collect() }
}

fn argo_watches(
    client: &kube::Client,
    namespaces: &[String],
    tx: &std::sync::mpsc::Sender<Message>,
    health: &Arc<Health>,
) -> Watches {
    let resource = application_resource();
    scopes(namespaces)
        .into_iter()
        .map(|scope| {
            let (api, what) = match &scope {
                None => (
                    Api::<DynamicObject>::all_with(client.clone(), &resource),
                    "Applications in all namespaces".to_string(),
                ),
                Some(ns) => (Api::namespaced_with(client.clone(), ns, &resource), format!("Applications in {ns}")),
            };
            let message = |seen: Seen<DynamicObject>| match seen {
                Seen::Applied(obj) => {
                    let value = serde_json::to_value(obj).ok()?;
                    match Application::from_value(value) {
                        Ok(application) => Some(Message::Applied(Box::new(application))),
                        Err(e) => {
                            tracing::warn!("unreadable Application: {e}");
                            None
                        }
                    }
                }
                Seen::Deleted(obj) => Some(Message::Deleted(ApplicationRef {
                    namespace: obj.metadata.namespace.unwrap_or_default(),
                    name: obj.metadata.name.unwrap_or_default(),
                })),
            };
            let task = forward(api, what.clone(), tx.clone(), health.clone(), message);
            (what, Box::pin(task) as futures::future::BoxFuture<'static, ()>)
        })
        .collect()
}

fn flux_watches(
    client: &kube::Client,
    namespaces: &[String],
    tx: &std::sync::mpsc::Sender<FluxMessage>,
    health: &Arc<Health>,
) -> Watches {
    let mut watches: Watches = Vec::new();
    let resource = kustomization_resource();
    for scope in scopes(namespaces) {
        let place = scope.as_deref().map_or("all namespaces".to_string(), String::from);
        let sources: Api<RewindSource> = match &scope {
            None => Api::all(client.clone()),
            Some(ns) => Api::namespaced(client.clone(), ns),
        };
        let what = format!("RewindSources in {place}");
        let message = |seen: Seen<RewindSource>| {
            Some(match seen {
                Seen::Applied(source) => FluxMessage::Source(Box::new(source)),
                Seen::Deleted(source) => FluxMessage::SourceDeleted(
                    source.metadata.namespace.unwrap_or_default(),
                    source.metadata.name.unwrap_or_default(),
                ),
            })
        };
        watches.push((what.clone(), Box::pin(forward(sources, what, tx.clone(), health.clone(), message))));
        let kustomizations: Api<DynamicObject> = match &scope {
            None => Api::all_with(client.clone(), &resource),
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        };
        let what = format!("Kustomizations in {place}");
        let message = |seen: Seen<DynamicObject>| match seen {
            Seen::Applied(obj) => {
                let k: Kustomization = serde_json::to_value(obj).ok().and_then(|v| serde_json::from_value(v).ok())?;
                Some(FluxMessage::Kustomization(Box::new(k)))
            }
            Seen::Deleted(obj) => Some(FluxMessage::KustomizationDeleted(
                obj.namespace().unwrap_or_default().to_string(),
                obj.name().unwrap_or_default().to_string(),
            )),
        };
        watches.push((what.clone(), Box::pin(forward(kustomizations, what, tx.clone(), health.clone(), message))));
    }
    watches
}

/// One worker thread per integration, and what feeds them.
struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    heartbeats: Vec<Arc<AtomicU64>>,
    argo: Option<std::sync::mpsc::Sender<Message>>,
    flux: Option<std::sync::mpsc::Sender<FluxMessage>>,
}

impl Workers {
    fn spawn<M: Send + 'static>(
        &mut self,
        name: &str,
        run: impl FnOnce(std::sync::mpsc::Receiver<M>, Arc<AtomicU64>) + Send + 'static,
    ) -> Result<std::sync::mpsc::Sender<M>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let heartbeat = Arc::new(AtomicU64::new(unix_now()));
        self.heartbeats.push(heartbeat.clone());
        let thread = std::thread::Builder::new()
            .name(format!("rewind-{name}"))
            .spawn(move || run(rx, heartbeat))
            .map_err(|e| Error::io(format!("cannot start the {name} worker"), e))?;
        self.threads.push(thread);
        Ok(tx)
    }
}

/// The artifact server's socket and the URL it is reached at.
type ArtifactListener = (tokio::net::TcpListener, String);

async fn bind_artifacts(flux: &FluxOptions) -> Result<ArtifactListener> {
    let listener = tokio::net::TcpListener::bind(&flux.artifact_listen)
        .await
        .map_err(|e| Error::io(format!("--artifact-listen {}: cannot bind", flux.artifact_listen), e))?;
    let bound =
        listener.local_addr().map_err(|e| Error::io(format!("--artifact-listen {}", flux.artifact_listen), e))?;
    let url = base_url(flux.artifact_base_url.as_deref(), bound)?;
    Ok((listener, url))
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub fn run(opts: ServeOptions) -> Result<()> {
    if opts.argocd.is_none() && opts.flux.is_none() {
        return Err(Error::Config("--integrations: name at least one of argocd, flux".into()));
    }
    let store: Arc<dyn Store> = Arc::from(crate::store::open(&opts.store, &opts.store_options)?);
    if let Some(reminder) = crate::store::at_rest_reminder(&opts.store, &opts.store_options) {
        tracing::warn!("{reminder}");
    }
    let metrics = Arc::new(Metrics::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the runtime", e))?;
    let artifact_listener = match &opts.flux {
        Some(flux) => Some(runtime.block_on(bind_artifacts(flux))?),
        None => None,
    };
    let cache = Arc::new(ArtifactCache::default());
    let mut workers = Workers { threads: Vec::new(), heartbeats: Vec::new(), argo: None, flux: None };
    if let Some(argo) = &opts.argocd {
        let worker = Controller::new(
            store.clone(),
            Applications::connect_as(crate::argocd::client::CONTROLLER_FIELD_MANAGER)?,
            opts.policy,
            argo.argocd_namespace.clone(),
            metrics.clone(),
        );
        workers.argo = Some(workers.spawn("argocd", move |rx, beat| worker.run(rx, beat))?);
    }
    if let (Some(flux), Some((_, base_url))) = (&opts.flux, &artifact_listener) {
        let settings = FluxSettings {
            base_url: base_url.clone(),
            interval: flux.interval,
            renderers: flux.renderers.clone(),
            limits: flux.limits,
            policy: opts.policy,
            no_cross_namespace_refs: flux.no_cross_namespace_refs,
        };
        let conn = Connection::open(None, None)?;
        let worker = FluxWorker::new(store.clone(), conn, cache.clone(), settings, metrics.clone());
        workers.flux = Some(workers.spawn("flux", move |rx, beat| worker.run(rx, beat))?);
    }
    let scopes = scopes(&opts.namespaces).len();
    let watch_count = scopes * (usize::from(workers.argo.is_some()) + 2 * usize::from(workers.flux.is_some()));
    let health = Arc::new(Health {
        metrics: metrics.clone(),
        unsynced: AtomicUsize::new(watch_count),
        heartbeats: std::mem::take(&mut workers.heartbeats),
        last_watch_error: AtomicU64::new(0),
    });
    let artifacts = artifact_listener.map(|(listener, url)| {
        (listener, url, Arc::new(ArtifactServer { cache, store: store.clone(), metrics: metrics.clone() }))
    });
    let senders = (workers.argo.take(), workers.flux.take());
    runtime.block_on(serve_http(&opts, senders, health, artifacts))?;
    tracing::info!("rewind serve: shutting down");
    // The watchers (and their senders) die with the runtime; the workers then return.
    drop(runtime);
    for thread in workers.threads {
        let _ = thread.join();
    }
    Ok(())
}

/// Starts the watches and serves HTTP until a shutdown signal.
async fn serve_http(
    opts: &ServeOptions,
    (argo_tx, flux_tx): (Option<std::sync::mpsc::Sender<Message>>, Option<std::sync::mpsc::Sender<FluxMessage>>),
    health: Arc<Health>,
    artifacts: Option<(tokio::net::TcpListener, String, Arc<ArtifactServer>)>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .map_err(|e| Error::io(format!("--listen {}: cannot bind", opts.listen), e))?;
    let address = listener.local_addr().map_err(|e| Error::io(format!("--listen {}", opts.listen), e))?;
    let (kube_client, server) = client(None, None, Timeouts::Watches).await?;
    let mut watches = Vec::new();
    if let Some(tx) = &argo_tx {
        watches.extend(argo_watches(&kube_client, &opts.namespaces, tx, &health));
    }
    if let Some(tx) = &flux_tx {
        watches.extend(flux_watches(&kube_client, &opts.namespaces, tx, &health));
    }
    for (_, task) in watches {
        tokio::spawn(task);
    }
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics_text))
        .with_state(health);
    let mut serving = Vec::new();
    if let (Some(token), Some(tx)) = (opts.flux.as_ref().and_then(|f| f.webhook_token.clone()), &flux_tx) {
        let hook = Arc::new(Webhook { token, tx: Mutex::new(tx.clone()) });
        app = app.route("/flux/events", post(webhook::flux_events).with_state(hook));
        serving.push("/flux/events".to_string());
    }
    drop((argo_tx, flux_tx));
    let artifact_server = artifacts.map(|(listener, url, state)| {
        let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        serving.push(format!("artifacts at {url} (bound to {bound})"));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, artifacts::router(state)).await {
                tracing::error!("artifact server on {bound}: {e}");
            }
        })
    });
    let watching = match (opts.argocd.is_some(), opts.flux.is_some()) {
        (true, true) => "Argo CD Applications and Flux RewindSources",
        (true, false) => "Argo CD Applications",
        _ => "Flux RewindSources",
    };
    let rollback = if opts.policy.auto_rollback { "on for all Applications" } else { "by annotation or spec" };
    // The address comes last: tools (and the tests) read it from the end of the line.
    serving.push(format!("listening on {address}"));
    tracing::info!(
        "rewind serve: {watching} at {server}; store {}; auto-rollback {rollback}; {}",
        opts.store,
        serving.join("; ")
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::io(format!("HTTP server on {address}"), e));
    if let Some(task) = artifact_server {
        task.abort();
    }
    served
}
