//! The controller's Prometheus metrics (OpenMetrics text on `/metrics`).

use crate::release::Status;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

type Labels = Vec<(String, String)>;

/// Everything `/metrics` reports.
pub struct Metrics {
    registry: Registry,
    releases: Family<Labels, Gauge>,
    /// Automatic rollbacks by result: pinned, unavailable, skipped.
    pub rollbacks: Family<Labels, Counter>,
    /// Release store operations that failed.
    pub store_errors: Counter,
    /// Application reads or writes that failed.
    pub api_errors: Counter,
    /// Watch stream errors (the watcher retries with backoff).
    pub watch_errors: Counter,
    /// Seconds one reconcile of one Application took.
    pub reconcile_seconds: Histogram,
    /// RewindSource productions by result: served, FetchFailed, VerificationFailed, BuildFailed, …
    pub productions: Family<Labels, Counter>,
    /// Artifact server responses by HTTP status code.
    pub artifact_requests: Family<Labels, Counter>,
    /// Release counts by status per app key, summed into `releases`.
    per_app: Mutex<HashMap<String, BTreeMap<&'static str, i64>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rewind");
        let releases = Family::<Labels, Gauge>::default();
        registry.register("releases", "Recorded releases of watched Applications by status", releases.clone());
        let rollbacks = Family::<Labels, Counter>::default();
        registry.register(
            "rollbacks",
            "Automatic rollbacks by result (pinned, unavailable, skipped)",
            rollbacks.clone(),
        );
        let store_errors = Counter::default();
        registry.register("store_errors", "Release store operations that failed", store_errors.clone());
        let api_errors = Counter::default();
        registry.register("api_errors", "Kubernetes API reads, patches or Events that failed", api_errors.clone());
        let watch_errors = Counter::default();
        registry.register("watch_errors", "Watch errors (retried with backoff)", watch_errors.clone());
        let reconcile_seconds = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        registry.register(
            "reconcile_duration_seconds",
            "Time to reconcile one Application or RewindSource",
            reconcile_seconds.clone(),
        );
        let productions = Family::<Labels, Counter>::default();
        registry.register(
            "flux_productions",
            "RewindSource productions by result (served, or the Ready=False reason)",
            productions.clone(),
        );
        let artifact_requests = Family::<Labels, Counter>::default();
        registry.register("artifact_requests", "Artifact server responses by HTTP status", artifact_requests.clone());
        let metrics = Metrics {
            registry,
            productions,
            artifact_requests,
            releases,
            rollbacks,
            store_errors,
            api_errors,
            watch_errors,
            reconcile_seconds,
            per_app: Mutex::new(HashMap::new()),
        };
        // Every status shows from the start, at 0, so dashboards need no absent().
        metrics.set_releases("", None);
        metrics
    }

    /// Records an app's release counts (`None`: the app is gone).
    pub fn set_releases(&self, app: &str, statuses: Option<&[Status]>) {
        let mut per_app = self.per_app.lock().unwrap_or_else(|e| e.into_inner());
        match statuses {
            Some(list) => {
                let mut counts = BTreeMap::new();
                for s in list {
                    *counts.entry(s.as_str()).or_insert(0) += 1;
                }
                per_app.insert(app.to_string(), counts);
            }
            None => {
                per_app.remove(app);
            }
        }
        for status in [Status::Pending, Status::Deployed, Status::Failed, Status::Superseded] {
            let total: i64 = per_app.values().filter_map(|c| c.get(status.as_str())).sum();
            self.releases.get_or_create(&vec![("status".into(), status.as_str().into())]).set(total);
        }
    }

    /// Counts one automatic-rollback outcome.
    pub fn rollback(&self, result: &str) {
        self.rollbacks.get_or_create(&vec![("result".into(), result.into())]).inc();
    }

    /// Counts one RewindSource production outcome.
    pub fn production(&self, result: &str) {
        self.productions.get_or_create(&vec![("result".into(), result.into())]).inc();
    }

    /// Counts one artifact server response.
    pub fn artifact_request(&self, code: u16) {
        self.artifact_requests.get_or_create(&vec![("code".into(), code.to_string())]).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_sum_over_apps() {
        let m = Metrics::new();
        m.set_releases("a", Some(&[Status::Deployed, Status::Failed]));
        m.set_releases("b", Some(&[Status::Deployed]));
        m.rollback("pinned");
        let text = m.render();
        assert!(text.contains("rewind_releases{status=\"deployed\"} 2"), "{text}");
        assert!(text.contains("rewind_rollbacks_total{result=\"pinned\"} 1"), "{text}");
        m.set_releases("b", None);
        assert!(m.render().contains("rewind_releases{status=\"deployed\"} 1"));
    }
}
