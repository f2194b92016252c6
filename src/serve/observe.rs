//! What an Argo CD Application says about its last sync of the rewind
//! source: the operation's phase, the git revision and plugin section it
//! synced, and the health Argo CD computed afterwards.

use crate::argocd::application::{
    ApplicationRef, ROLLBACK_ENV, annotation, app_key, managing_parent, rewind_plugin_path, uses_rewind,
};
use crate::argocd::plugin_env::{build_env, source_fingerprint};
use serde_json::Value;
use std::time::SystemTime;

/// Opt-in annotation for automatic rollback (`"true"`; `"false"` opts out of `--auto-rollback`).
pub const AUTO_ROLLBACK_ANNOTATION: &str = "rewind.dev/auto-rollback";
/// The newest release marked deployed, written by the controller.
pub const LAST_GOOD_ANNOTATION: &str = "rewind.dev/last-good-revision";
/// The failed release the controller last rolled back from: one automatic rollback per failure.
pub const ROLLED_BACK_FROM_ANNOTATION: &str = "rewind.dev/auto-rollback-of";

/// Argo CD's `operationState.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Still syncing (or terminating): no outcome yet.
    Running,
    /// Applied.
    Succeeded,
    /// Sync failed (`Failed`) or could not run (`Error`).
    Failed,
}

/// The last sync operation, as far as the rewind source is concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct Sync {
    /// Its phase.
    pub phase: Phase,
    /// Argo CD's phase name and message, for Events.
    pub message: String,
    /// The resolved git revision of the rewind source.
    pub revision: Option<String>,
    /// The fingerprint `generate` recorded for this source and revision, when computable.
    pub fingerprint: Option<String>,
    /// `REWIND_ROLLBACK_TO` in the synced plugin env: the sync deployed a pin.
    pub pinned: Option<String>,
    /// When the operation finished.
    pub finished_at: Option<SystemTime>,
}

/// One Application that uses rewind, as the controller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Where it lives.
    pub app: ApplicationRef,
    /// The app key `generate` records releases under.
    pub key: String,
    /// The auto-rollback annotation: `Some(true)`/`Some(false)` when set.
    pub auto_rollback: Option<bool>,
    /// The parent Application that manages this one, if any.
    pub parent: Option<String>,
    /// The failed release already rolled back from.
    pub rolled_back_from: Option<u64>,
    /// The last-good annotation as it stands.
    pub last_good: Option<String>,
    /// The last sync operation, if any.
    pub sync: Option<Sync>,
    /// `status.health.status`.
    pub health: String,
    /// `status.health.lastTransitionTime`, where Argo CD sets it.
    pub health_since: Option<SystemTime>,
    /// `status.reconciledAt`: health is only news when it is after the sync.
    pub reconciled_at: Option<SystemTime>,
}

fn time(v: Option<&Value>) -> Option<SystemTime> {
    v.and_then(Value::as_str).and_then(|s| humantime::parse_rfc3339_weak(s).ok())
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from)
}

/// The synced source and revision: `syncResult.source(s)`, else the spec's.
fn synced_source(application: &Value, op: &Value) -> Option<(Value, Option<String>)> {
    let result = op.get("syncResult");
    if let Some(source) = result.and_then(|r| r.get("source")).filter(|s| uses_rewind(s)) {
        return Some((source.clone(), text(result.and_then(|r| r.get("revision")))));
    }
    if let Some(sources) = result.and_then(|r| r.get("sources")).and_then(Value::as_array)
        && let Some(i) = sources.iter().position(uses_rewind)
    {
        let revision = result.and_then(|r| r.pointer(&format!("/revisions/{i}")));
        return Some((sources[i].clone(), text(revision)));
    }
    // No result yet (still running, or failed before applying): the requested sync.
    let path = rewind_plugin_path(application)?;
    let source = application.pointer(path.strip_suffix("/plugin")?)?.clone();
    let requested = op.pointer("/operation/sync");
    let revision = match path.strip_prefix("/spec/sources/").and_then(|r| r.split('/').next()) {
        Some(i) => requested.and_then(|s| s.pointer(&format!("/revisions/{i}"))),
        None => requested.and_then(|s| s.get("revision")),
    };
    Some((source, text(revision)))
}

impl Observation {
    /// Reads an Application; `None` when it does not use the rewind plugin.
    pub fn of(application: &Value, argocd_namespace: &str) -> Option<Observation> {
        rewind_plugin_path(application)?;
        let app = ApplicationRef {
            namespace: text(application.pointer("/metadata/namespace"))?,
            name: text(application.pointer("/metadata/name"))?,
        };
        let key = app_key(&app, argocd_namespace);
        let sync = application.pointer("/status/operationState").and_then(|op| {
            let phase_name = op.get("phase").and_then(Value::as_str).unwrap_or("");
            let phase = match phase_name {
                "Succeeded" => Phase::Succeeded,
                "Failed" | "Error" => Phase::Failed,
                _ => Phase::Running,
            };
            let (source, revision) = synced_source(application, op)?;
            let fingerprint = revision
                .as_deref()
                .and_then(|r| source_fingerprint(&source, &build_env(&key, application, &source, r)));
            let pinned = source
                .pointer("/plugin/env")
                .and_then(Value::as_array)
                .and_then(|env| env.iter().find(|e| e["name"] == ROLLBACK_ENV))
                .and_then(|e| text(e.get("value")));
            let message = match text(op.get("message")) {
                Some(m) => format!("{phase_name}: {m}"),
                None => phase_name.to_string(),
            };
            Some(Sync { phase, message, revision, fingerprint, pinned, finished_at: time(op.get("finishedAt")) })
        });
        Some(Observation {
            auto_rollback: annotation(application, AUTO_ROLLBACK_ANNOTATION).map(|v| v.trim() == "true"),
            parent: managing_parent(application),
            rolled_back_from: annotation(application, ROLLED_BACK_FROM_ANNOTATION).and_then(|v| v.parse().ok()),
            last_good: annotation(application, LAST_GOOD_ANNOTATION).map(String::from),
            sync,
            health: text(application.pointer("/status/health/status")).unwrap_or_else(|| "Unknown".into()),
            health_since: time(application.pointer("/status/health/lastTransitionTime")),
            reconciled_at: time(application.pointer("/status/reconciledAt")),
            app,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_single_and_multi_source_syncs() {
        let single = json!({
            "metadata": {"name": "guestbook", "namespace": "team", "annotations": {AUTO_ROLLBACK_ANNOTATION: "true"}},
            "spec": {"source": {"repoURL": "r", "plugin": {"name": "rewind"}}},
            "status": {"health": {"status": "Degraded"}, "reconciledAt": "2026-11-23T10:00:05Z",
                "operationState": {"phase": "Error", "message": "boom", "finishedAt": "2026-11-23T10:00:00Z",
                    "syncResult": {"revision": "abc", "source": {"repoURL": "r", "plugin": {"name": "rewind",
                        "env": [{"name": ROLLBACK_ENV, "value": "2"}]}}}}}});
        let o = Observation::of(&single, "argocd").unwrap();
        assert_eq!(o.key, "team_guestbook");
        assert_eq!(o.auto_rollback, Some(true));
        let sync = o.sync.unwrap();
        assert_eq!(
            (sync.phase, sync.message.as_str(), sync.revision.as_deref()),
            (Phase::Failed, "Error: boom", Some("abc"))
        );
        assert_eq!(sync.pinned.as_deref(), Some("2"));
        assert!(sync.fingerprint.is_some() && o.reconciled_at > sync.finished_at);

        let multi = json!({
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {"sources": [{"repoURL": "h", "chart": "x"}, {"repoURL": "r", "plugin": {}}]},
            "status": {"operationState": {"phase": "Running", "operation": {"sync": {"revisions": ["1.0", "def"]}}}}});
        let o = Observation::of(&multi, "argocd").unwrap();
        assert_eq!(o.key, "shop");
        let sync = o.sync.unwrap();
        assert_eq!((sync.phase, sync.revision.as_deref()), (Phase::Running, Some("def")));
        assert_eq!(o.health, "Unknown");

        let other = json!({"metadata": {"name": "x", "namespace": "argocd"}, "spec": {"source": {"path": "p"}}});
        assert_eq!(Observation::of(&other, "argocd"), None);
    }
}
