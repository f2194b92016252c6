//! What an Argo CD Application says about its last sync of the rewind
//! source: the operation's phase, the git revision and plugin section it
//! synced, and the health Argo CD computed afterwards.

use crate::argocd::application::{
    Application, ApplicationRef, OperationState, ROLLBACK_ENV, RewindSource, Source, app_key, source_key,
};
use crate::argocd::plugin_env::{build_env, source_fingerprint};
use crate::error::Result;
use crate::release::AppKey;
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

/// One rewind source of an Application, as the controller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Where it lives.
    pub app: ApplicationRef,
    /// Which of its sources this is.
    pub source: RewindSource,
    /// The app key `generate` records this source's releases under.
    pub key: AppKey,
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

fn time(v: Option<&String>) -> Option<SystemTime> {
    v.and_then(|s| humantime::parse_rfc3339_weak(s).ok())
}

fn text(v: Option<&String>) -> Option<String> {
    v.filter(|s| !s.is_empty()).cloned()
}

/// The synced source of `rewind` and its revision: `syncResult.source(s)`, else the spec's.
fn synced_source(
    application: &Application,
    op: &OperationState,
    rewind: &RewindSource,
) -> Option<(Source, Option<String>)> {
    if let Some(result) = &op.sync_result
        && let Some(source) = rewind.of(result.source.as_ref(), &result.sources)
    {
        let revision = match rewind.index {
            Some(i) => result.revisions.get(i),
            None => result.revision.as_ref(),
        };
        return Some((source.clone(), text(revision)));
    }
    // No result yet (still running, or failed before applying): the requested sync.
    let source = application.source(rewind)?.clone();
    let requested = op.operation.as_ref().and_then(|o| o.sync.as_ref());
    let revision = match rewind.index {
        Some(i) => requested.and_then(|s| s.revisions.get(i)),
        None => requested.and_then(|s| s.revision.as_ref()),
    };
    Some((source, text(revision)))
}

impl Observation {
    /// Reads each rewind source of an Application (none when it does not use
    /// the rewind plugin). Refused when two rewind sources would share an app key.
    pub fn all(application: &Application, argocd_namespace: &str) -> Result<Vec<Observation>> {
        let sources = application.rewind_sources();
        application.check_distinct_keys(&sources)?;
        if application.metadata.name.is_empty() || application.metadata.namespace.is_empty() {
            return Ok(Vec::new());
        }
        sources.into_iter().map(|source| Self::of_source(application, source, argocd_namespace)).collect()
    }

    /// The first rewind source of an Application, if it has one that can be observed.
    pub fn of(application: &Application, argocd_namespace: &str) -> Option<Observation> {
        Self::all(application, argocd_namespace).ok()?.into_iter().next()
    }

    fn of_source(application: &Application, source: RewindSource, argocd_namespace: &str) -> Result<Observation> {
        let app = application.reference();
        let app_name = app_key(&app, argocd_namespace);
        let key = source_key(&app_name, source.name.as_deref())?;
        let sync = application.status.operation_state.as_ref().and_then(|op| {
            let phase_name = op.phase.as_deref().unwrap_or("");
            let phase = match phase_name {
                "Succeeded" => Phase::Succeeded,
                "Failed" | "Error" => Phase::Failed,
                _ => Phase::Running,
            };
            let (synced, revision) = synced_source(application, op, &source)?;
            let fingerprint = revision
                .as_deref()
                .and_then(|r| source_fingerprint(&synced, &build_env(&app_name, application, &synced, r)));
            let pinned = synced.plugin_env(ROLLBACK_ENV).map(String::from);
            let message = match text(op.message.as_ref()) {
                Some(m) => format!("{phase_name}: {m}"),
                None => phase_name.to_string(),
            };
            Some(Sync { phase, message, revision, fingerprint, pinned, finished_at: time(op.finished_at.as_ref()) })
        });
        let status = &application.status;
        Ok(Observation {
            auto_rollback: application.annotation(AUTO_ROLLBACK_ANNOTATION).map(|v| v.trim() == "true"),
            parent: application.managing_parent(),
            rolled_back_from: application
                .annotation(&source.annotation_key(ROLLED_BACK_FROM_ANNOTATION))
                .and_then(|v| v.parse().ok()),
            last_good: application.annotation(&source.annotation_key(LAST_GOOD_ANNOTATION)).map(String::from),
            sync,
            health: text(status.health.status.as_ref()).unwrap_or_else(|| "Unknown".into()),
            health_since: time(status.health.last_transition_time.as_ref()),
            reconciled_at: time(status.reconciled_at.as_ref()),
            app,
            source,
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
        let o = Observation::of(&Application::from_value(single).unwrap(), "argocd").unwrap();
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
        let o = Observation::of(&Application::from_value(multi).unwrap(), "argocd").unwrap();
        assert_eq!(o.key, "shop");
        let sync = o.sync.unwrap();
        assert_eq!((sync.phase, sync.revision.as_deref()), (Phase::Running, Some("def")));
        assert_eq!(o.health, "Unknown");

        let other = json!({"metadata": {"name": "x", "namespace": "argocd"}, "spec": {"source": {"path": "p"}}});
        assert_eq!(Observation::of(&Application::from_value(other).unwrap(), "argocd"), None);
    }

    #[test]
    fn each_named_rewind_source_is_observed_with_its_own_key_and_annotations() {
        let plugin = |n: &str| json!({"name": "rewind-v1", "env": [{"name": "REWIND_SOURCE_NAME", "value": n}]});
        let app = json!({
            "metadata": {"name": "shop", "namespace": "team", "annotations": {
                "rewind.dev/last-good-revision.web": "3", "rewind.dev/auto-rollback-of.db": "7"}},
            "spec": {"sources": [{"repoURL": "r", "path": "web", "plugin": plugin("web")},
                                 {"repoURL": "r", "path": "db", "plugin": plugin("db")}]},
            "status": {"operationState": {"phase": "Succeeded", "finishedAt": "2026-11-23T10:00:00Z",
                "syncResult": {"revisions": ["aaa", "bbb"], "sources": [
                    {"repoURL": "r", "path": "web", "plugin": plugin("web")},
                    {"repoURL": "r", "path": "db", "plugin": plugin("db")}]}}}});
        let obs = Observation::all(&Application::from_value(app.clone()).unwrap(), "argocd").unwrap();
        let keys: Vec<&str> = obs.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["team_shop__web", "team_shop__db"]);
        assert_eq!((obs[0].last_good.as_deref(), obs[0].rolled_back_from), (Some("3"), None));
        assert_eq!((obs[1].last_good.as_deref(), obs[1].rolled_back_from), (None, Some(7)));
        let revisions: Vec<_> = obs.iter().map(|o| o.sync.as_ref().unwrap().revision.clone().unwrap()).collect();
        assert_eq!(revisions, ["aaa", "bbb"]);

        let mut shared = app.clone();
        shared["spec"]["sources"][1]["plugin"] = json!({"name": "rewind-v1"});
        shared["spec"]["sources"][0]["plugin"] = json!({});
        assert!(
            Observation::all(&Application::from_value(shared).unwrap(), "argocd")
                .unwrap_err()
                .to_string()
                .contains("REWIND_SOURCE_NAME")
        );
    }
}
