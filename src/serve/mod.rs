//! `rewind serve`: the release lifecycle controller for Argo CD. It watches
//! Applications that use the rewind plugin, marks the release a sync
//! deployed `deployed` (Healthy) or `failed` (sync failed, or Degraded past a
//! grace), records the last-good release on the Application, emits Events,
//! and — where enabled — rolls a failed release back by pinning the newest
//! deployed one before it. HTTP: `/healthz`, `/readyz`, `/metrics`.
//!
//! Shape: kube-runtime watchers and the HTTP server run on tokio; they hand
//! Applications to one worker thread ([`controller`]) that owns the store.

pub mod controller;
pub mod lifecycle;
pub mod metrics;
pub mod observe;

use crate::argocd::application::ApplicationRef;
use crate::argocd::client::{Applications, application_resource};
use crate::error::{Error, Result};
use crate::kubeclient::{Timeouts, client};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use controller::{Controller, Message};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use lifecycle::Policy;
use metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, SystemTime};

/// `rewind serve` settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Release store URL (the one the CMP sidecar records into).
    pub store: String,
    /// How the store is opened.
    pub store_options: crate::store::StoreOptions,
    /// Address for `/healthz`, `/readyz`, `/metrics` (port 0 picks one; the log says which).
    pub listen: String,
    /// Namespaces to watch Applications in; empty means all.
    pub namespaces: Vec<String>,
    /// Argo CD's control-plane namespace (app keys there are the bare name).
    pub argocd_namespace: String,
    /// Lifecycle policy.
    pub policy: Policy,
}

/// How stale the worker's heartbeat may be before `/healthz` fails.
const HEARTBEAT_LIMIT: Duration = Duration::from_secs(120);
/// How long a watch error keeps `/readyz` failing (the watcher retries with
/// backoff, so a lasting failure repeats well within this).
const WATCH_ERROR_WINDOW: Duration = Duration::from_secs(60);

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs()
}

struct Health {
    metrics: Arc<Metrics>,
    /// Watchers that have not finished their initial list.
    unsynced: AtomicUsize,
    heartbeat: Arc<AtomicU64>,
    /// Unix time of the last watch error (0: none).
    last_watch_error: AtomicU64,
}

impl Health {
    fn alive(&self) -> bool {
        unix_now().saturating_sub(self.heartbeat.load(Ordering::Relaxed)) < HEARTBEAT_LIMIT.as_secs()
    }

    fn watch_failing(&self) -> bool {
        let last = self.last_watch_error.load(Ordering::Relaxed);
        last != 0 && unix_now().saturating_sub(last) < WATCH_ERROR_WINDOW.as_secs()
    }
}

async fn healthz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    if h.alive() { (StatusCode::OK, "ok\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "reconcile worker stalled\n") }
}

async fn readyz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    let unavailable = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why);
    match h.unsynced.load(Ordering::Relaxed) {
        0 if !h.alive() => unavailable("reconcile worker stalled\n".into()),
        0 if h.watch_failing() => unavailable("an Application watch is failing (see the log)\n".into()),
        0 => (StatusCode::OK, "ok\n".to_string()),
        n => unavailable(format!("{n} Application watch(es) not synced yet\n")),
    }
}

async fn metrics_text(State(h): State<Arc<Health>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], h.metrics.render())
}

/// Forwards one watch stream to the worker; counts down `unsynced` once.
async fn watch(api: Api<DynamicObject>, what: String, tx: Sender<Message>, health: Arc<Health>) {
    let mut synced = false;
    let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
    while let Some(event) = events.next().await {
        let message = match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                match serde_json::to_value(obj)
                    .map_err(|e| e.to_string())
                    .and_then(|v| crate::argocd::application::Application::from_value(v).map_err(|e| e.to_string()))
                {
                    Ok(application) => Message::Applied(Box::new(application)),
                    Err(e) => {
                        tracing::warn!("{what}: unreadable Application: {e}");
                        continue;
                    }
                }
            }
            Ok(watcher::Event::Delete(obj)) => Message::Deleted(ApplicationRef {
                namespace: obj.metadata.namespace.unwrap_or_default(),
                name: obj.metadata.name.unwrap_or_default(),
            }),
            Ok(watcher::Event::InitDone) => {
                if !synced {
                    synced = true;
                    health.unsynced.fetch_sub(1, Ordering::Relaxed);
                    tracing::info!("{what}: watch synced");
                }
                continue;
            }
            Ok(watcher::Event::Init) => continue,
            // The history behind our resourceVersion was compacted: the watcher
            // lists again by itself. Routine, not a failing watch.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                tracing::info!("{what}: watch history expired ({}); listing again", status.message);
                continue;
            }
            Err(e) => {
                health.metrics.watch_errors.inc();
                health.last_watch_error.store(unix_now(), Ordering::Relaxed);
                tracing::warn!("{what}: watch error, retrying: {e}");
                continue;
            }
        };
        if tx.send(message).is_err() {
            return;
        }
    }
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

/// Runs the controller until SIGTERM or Ctrl-C.
pub fn run(opts: ServeOptions) -> Result<()> {
    let store = crate::store::open(&opts.store, &opts.store_options)?;
    let applications = Applications::connect()?;
    let metrics = Arc::new(Metrics::new());
    let heartbeat = Arc::new(AtomicU64::new(unix_now()));
    let watches = if opts.namespaces.is_empty() { 1 } else { opts.namespaces.len() };
    let health = Arc::new(Health {
        metrics: metrics.clone(),
        unsynced: AtomicUsize::new(watches),
        heartbeat: heartbeat.clone(),
        last_watch_error: AtomicU64::new(0),
    });

    let (tx, rx) = std::sync::mpsc::channel();
    let worker = Controller::new(store, applications, opts.policy, opts.argocd_namespace.clone(), metrics);
    let worker = std::thread::Builder::new()
        .name("rewind-reconcile".into())
        .spawn(move || worker.run(rx, heartbeat))
        .map_err(|e| Error::io("cannot start the reconcile worker", e))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the runtime", e))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&opts.listen)
            .await
            .map_err(|e| Error::io(format!("--listen {}: cannot bind", opts.listen), e))?;
        let address = listener.local_addr().map_err(|e| Error::io(format!("--listen {}", opts.listen), e))?;
        let (kube_client, server) = client(None, None, Timeouts::Watches).await?;
        let resource = application_resource();
        let apis: Vec<(Api<DynamicObject>, String)> = if opts.namespaces.is_empty() {
            vec![(Api::all_with(kube_client.clone(), &resource), "Applications in all namespaces".into())]
        } else {
            opts.namespaces
                .iter()
                .map(|ns| (Api::namespaced_with(kube_client.clone(), ns, &resource), format!("Applications in {ns}")))
                .collect()
        };
        for (api, what) in apis {
            tokio::spawn(watch(api, what, tx.clone(), health.clone()));
        }
        drop(tx);
        tracing::info!(
            "rewind serve: watching Argo CD Applications at {server}; store {}; auto-rollback {}; listening on {address}",
            opts.store,
            if opts.policy.auto_rollback { "on for all" } else { "by annotation" },
        );
        let app = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_text))
            .with_state(health);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Error::io(format!("HTTP server on {address}"), e))
    })?;
    tracing::info!("rewind serve: shutting down");
    // The watchers (and their senders) die with the runtime; the worker then returns.
    drop(runtime);
    let _ = worker.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_heartbeat_and_watch_errors() {
        let h = Health {
            metrics: Arc::new(Metrics::new()),
            unsynced: AtomicUsize::new(0),
            heartbeat: Arc::new(AtomicU64::new(0)),
            last_watch_error: AtomicU64::new(0),
        };
        assert!(!h.alive());
        h.heartbeat.store(unix_now(), Ordering::Relaxed);
        assert!(h.alive() && !h.watch_failing());
        h.last_watch_error.store(unix_now() - 5, Ordering::Relaxed);
        assert!(h.watch_failing());
        h.last_watch_error.store(unix_now() - WATCH_ERROR_WINDOW.as_secs() - 1, Ordering::Relaxed);
        assert!(!h.watch_failing());
    }
}
