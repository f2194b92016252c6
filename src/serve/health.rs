//! `/healthz` (every worker is alive), `/readyz` (every watch synced and not
//! failing) and `/metrics`.

use super::metrics::Metrics;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// How stale a worker's heartbeat may be before `/healthz` fails.
const HEARTBEAT_LIMIT: Duration = Duration::from_secs(120);
/// How long a watch error keeps `/readyz` failing (the watcher retries with
/// backoff, so a lasting failure repeats well within this).
const WATCH_ERROR_WINDOW: Duration = Duration::from_secs(60);

/// Records that a worker is alive now, for `/healthz`.
pub fn beat(heartbeat: &AtomicU64) {
    heartbeat.store(unix_now(), Ordering::Relaxed);
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// What the probes report on.
pub struct Health {
    /// The controller's metrics.
    pub metrics: Arc<Metrics>,
    /// Watchers that have not finished their initial list.
    pub unsynced: AtomicUsize,
    /// One heartbeat per worker (Unix seconds of its last loop).
    pub heartbeats: Vec<Arc<AtomicU64>>,
    /// Unix time of the last watch error (0: none).
    pub last_watch_error: AtomicU64,
}

impl Health {
    /// Every worker has looped recently.
    pub fn alive(&self) -> bool {
        let now = unix_now();
        self.heartbeats.iter().all(|h| now.saturating_sub(h.load(Ordering::Relaxed)) < HEARTBEAT_LIMIT.as_secs())
    }

    /// A watch failed lately.
    pub fn watch_failing(&self) -> bool {
        let last = self.last_watch_error.load(Ordering::Relaxed);
        last != 0 && unix_now().saturating_sub(last) < WATCH_ERROR_WINDOW.as_secs()
    }
}

/// `GET /healthz`.
pub async fn healthz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    if h.alive() { (StatusCode::OK, "ok\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "reconcile worker stalled\n") }
}

/// `GET /readyz`.
pub async fn readyz(State(h): State<Arc<Health>>) -> impl IntoResponse {
    let unavailable = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why);
    match h.unsynced.load(Ordering::Relaxed) {
        0 if !h.alive() => unavailable("reconcile worker stalled\n".into()),
        0 if h.watch_failing() => unavailable("a watch is failing (see the log)\n".into()),
        0 => (StatusCode::OK, "ok\n".to_string()),
        n => unavailable(format!("{n} watch(es) not synced yet\n")),
    }
}

/// `GET /metrics`.
pub async fn metrics_text(State(h): State<Arc<Health>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], h.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_heartbeats_and_watch_errors() {
        let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(unix_now())));
        let h = Health {
            metrics: Arc::new(Metrics::new()),
            unsynced: AtomicUsize::new(0),
            heartbeats: vec![a.clone(), b],
            last_watch_error: AtomicU64::new(0),
        };
        assert!(!h.alive(), "one stalled worker is enough");
        a.store(unix_now(), Ordering::Relaxed);
        assert!(h.alive() && !h.watch_failing());
        h.last_watch_error.store(unix_now() - 5, Ordering::Relaxed);
        assert!(h.watch_failing());
        h.last_watch_error.store(unix_now() - WATCH_ERROR_WINDOW.as_secs() - 1, Ordering::Relaxed);
        assert!(!h.watch_failing());
    }
}
