//! Argo CD Applications, typed as far as rewind reads them (every other field
//! is kept as it was): which sources use rewind and under which app keys,
//! their pins, annotations, the managing parent, and the last sync.

use crate::error::{Error, Result};
use crate::release::AppKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The plugin env entry that pins a release.
pub const ROLLBACK_ENV: &str = "REWIND_ROLLBACK_TO";
/// The plugin env entry that lets a pinned rollback through its refusing checks.
pub const FORCE_ENV: &str = "REWIND_ROLLBACK_FORCE";
/// The plugin env entry that says why a pinned rollback is asked for.
pub const REASON_ENV: &str = "REWIND_ROLLBACK_REASON";
/// Argo CD's control-plane namespace unless told otherwise.
pub const DEFAULT_ARGOCD_NAMESPACE: &str = "argocd";
/// The plugin env entry (and, as `source-name`, the parameter) that gives a
/// rewind source an app key of its own.
pub const SOURCE_NAME_ENV: &str = "REWIND_SOURCE_NAME";

/// An Argo CD Application (`argoproj.io/v1alpha1`), partially typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Name, namespace, annotations, labels, resourceVersion.
    #[serde(default)]
    pub metadata: Metadata,
    /// What to deploy.
    #[serde(default)]
    pub spec: Spec,
    /// What Argo CD last did.
    #[serde(default)]
    pub status: AppStatus,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The object metadata rewind reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The Application's name.
    #[serde(default)]
    pub name: String,
    /// Where it lives.
    #[serde(default)]
    pub namespace: String,
    /// Its UID.
    pub uid: Option<String>,
    /// For guarded writes.
    pub resource_version: Option<String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The project.
    pub project: Option<String>,
    /// Where the manifests go.
    #[serde(default)]
    pub destination: Destination,
    /// A single-source Application's source.
    pub source: Option<Source>,
    /// A multi-source Application's sources.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `spec.destination`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// The destination namespace (`ARGOCD_APP_NAMESPACE`).
    pub namespace: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One source (in the spec or a sync result).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `repoURL`.
    #[serde(rename = "repoURL")]
    pub repo_url: Option<String>,
    /// The path in the repository.
    pub path: Option<String>,
    /// The requested revision.
    pub target_revision: Option<String>,
    /// The plugin section, when the source uses a plugin.
    pub plugin: Option<Plugin>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A source's `plugin` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    /// `<name>-<version>` of the plugin, or none (discovery).
    pub name: Option<String>,
    /// Plugin env entries (`ARGOCD_ENV_<name>` in the plugin).
    #[serde(default)]
    pub env: Vec<EnvEntry>,
    /// Parameters, as written (`{name, string|array|map}`).
    #[serde(default)]
    pub parameters: Vec<Value>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One plugin env entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvEntry {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// Argo CD's health assessment.
    #[serde(default)]
    pub health: Health,
    /// When Argo CD last compared the live state.
    pub reconciled_at: Option<String>,
    /// The last (or current) operation.
    pub operation_state: Option<OperationState>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `status.health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `Healthy`, `Degraded`, …
    pub status: Option<String>,
    /// When it changed.
    pub last_transition_time: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `status.operationState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Succeeded`, `Failed`, `Error`, `Terminating`.
    pub phase: Option<String>,
    /// Argo CD's message.
    pub message: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// What the sync applied.
    pub sync_result: Option<SyncResult>,
    /// What was requested.
    pub operation: Option<Operation>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `status.operationState.syncResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncResult {
    /// The resolved revision of a single source.
    pub revision: Option<String>,
    /// The resolved revisions of multiple sources.
    #[serde(default)]
    pub revisions: Vec<String>,
    /// The source synced.
    pub source: Option<Source>,
    /// The sources synced.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `status.operationState.operation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// The sync requested.
    pub sync: Option<SyncOperation>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `status.operationState.operation.sync`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncOperation {
    /// The revision requested (single source).
    pub revision: Option<String>,
    /// The revisions requested (multiple sources).
    #[serde(default)]
    pub revisions: Vec<String>,
    /// Everything else.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `NAMESPACE/NAME` of an Application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRef {
    /// Namespace the Application lives in.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl FromStr for ApplicationRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<ApplicationRef> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(ApplicationRef { namespace: ns.into(), name: name.into() })
            }
            _ => Err(Error::Config(format!("--application {s:?}: write NAMESPACE/NAME, e.g. argocd/guestbook"))),
        }
    }
}

impl std::fmt::Display for ApplicationRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The app key `generate` sees for this Application: Argo CD passes
/// `<namespace>_<name>` as `ARGOCD_APP_NAME` outside the control-plane namespace.
pub fn app_key(app: &ApplicationRef, argocd_namespace: &str) -> String {
    if app.namespace == argocd_namespace { app.name.clone() } else { format!("{}_{}", app.namespace, app.name) }
}

/// The app key of one rewind source: `ARGOCD_APP_NAME`, or
/// `<ARGOCD_APP_NAME>__<source name>` for a named source. Argo CD names cannot
/// contain `_` and at most one joins namespace and name, so `__` never occurs
/// in an unnamed source's key: named and unnamed keys never meet.
pub fn source_key(app_name: &str, source_name: Option<&str>) -> Result<AppKey> {
    let Some(name) = source_name else { return AppKey::new(app_name) };
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(Error::Config(format!(
            "source-name / {SOURCE_NAME_ENV} {name:?}: use up to 63 lowercase letters, digits and '-', e.g. frontend"
        )));
    }
    AppKey::new(&format!("{app_name}__{name}"))
}

/// One source of an Application that uses the rewind plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewindSource {
    /// Its index in `spec.sources`, for a multi-source Application (`None`: `spec.source`).
    pub index: Option<usize>,
    /// Its `source-name` setting, if it has one.
    pub name: Option<String>,
}

impl RewindSource {
    /// JSON pointer to the source: `/spec/source` or `/spec/sources/<i>`.
    pub fn pointer(&self) -> String {
        match self.index {
            Some(i) => format!("/spec/sources/{i}"),
            None => "/spec/source".into(),
        }
    }

    /// JSON pointer to its plugin section.
    pub fn plugin_path(&self) -> String {
        format!("{}/plugin", self.pointer())
    }

    /// `spec.sources[1] (frontend)` for messages.
    pub fn describe(&self) -> String {
        let at = match self.index {
            Some(i) => format!("spec.sources[{i}]"),
            None => "spec.source".into(),
        };
        match &self.name {
            Some(n) => format!("{at} ({n})"),
            None => at,
        }
    }

    /// An annotation key of the controller's for this source: `key`, or
    /// `key.<source name>` for a named source.
    pub fn annotation_key(&self, key: &str) -> String {
        match &self.name {
            Some(n) => format!("{key}.{n}"),
            None => key.to_string(),
        }
    }

    /// The source it stands for, in `sources` of a multi-source spec or sync
    /// result, else the single `source`.
    pub fn of<'a>(&self, source: Option<&'a Source>, sources: &'a [Source]) -> Option<&'a Source> {
        match self.index {
            Some(i) => sources.get(i),
            None => source,
        }
    }
}

impl Source {
    /// Whether it uses the rewind plugin: a plugin named `rewind…`, or an
    /// unnamed plugin that Argo CD discovers.
    pub fn uses_rewind(&self) -> bool {
        self.plugin.as_ref().is_some_and(|p| p.name.as_deref().is_none_or(|n| n.is_empty() || n.starts_with("rewind")))
    }

    /// Its `source-name` setting: parameter `source-name`, else plugin env `REWIND_SOURCE_NAME`.
    pub fn source_name(&self) -> Option<String> {
        let plugin = self.plugin.as_ref()?;
        let param = plugin.parameters.iter().find(|p| p["name"] == "source-name").and_then(|p| p["string"].as_str());
        let env = || plugin.env.iter().find(|e| e.name == SOURCE_NAME_ENV).map(|e| e.value.as_str());
        param.or_else(env).map(str::trim).filter(|n| !n.is_empty()).map(String::from)
    }

    /// The value of plugin env entry `name`, if set and not empty.
    pub fn plugin_env(&self, name: &str) -> Option<&str> {
        let env = &self.plugin.as_ref()?.env;
        env.iter().find(|e| e.name == name).map(|e| e.value.as_str()).filter(|v| !v.is_empty())
    }
}

impl Application {
    /// Reads an Application from its JSON.
    pub fn from_value(value: Value) -> Result<Application> {
        serde_json::from_value(value).map_err(|e| Error::Config(format!("not an Argo CD Application: {e}")))
    }

    /// `NAMESPACE/NAME`.
    pub fn reference(&self) -> ApplicationRef {
        ApplicationRef { namespace: self.metadata.namespace.clone(), name: self.metadata.name.clone() }
    }

    /// Every source of this Application that uses rewind, in spec order.
    pub fn rewind_sources(&self) -> Vec<RewindSource> {
        if let Some(source) = self.spec.source.as_ref().filter(|s| s.uses_rewind()) {
            return vec![RewindSource { index: None, name: source.source_name() }];
        }
        let sources = self.spec.sources.iter().enumerate();
        sources
            .filter(|(_, s)| s.uses_rewind())
            .map(|(i, s)| RewindSource { index: Some(i), name: s.source_name() })
            .collect()
    }

    /// The spec's source `rewind` stands for.
    pub fn source(&self, rewind: &RewindSource) -> Option<&Source> {
        rewind.of(self.spec.source.as_ref(), &self.spec.sources)
    }

    /// Refuses an Application whose rewind sources would share an app key
    /// (their histories would mix): each needs its own `source-name`.
    pub fn check_distinct_keys(&self, sources: &[RewindSource]) -> Result<()> {
        for (i, a) in sources.iter().enumerate() {
            if let Some(b) = sources[i + 1..].iter().find(|b| b.name == a.name) {
                return Err(Error::Config(format!(
                    "Application {}: {} and {} both use rewind {}, so their releases would share one app key; \
                     give each rewind source its own {SOURCE_NAME_ENV} in its plugin env (or parameter source-name)",
                    self.metadata.name,
                    a.describe(),
                    b.describe(),
                    match &a.name {
                        Some(n) => format!("with source name {n:?}"),
                        None => "without a source name".into(),
                    }
                )));
            }
        }
        Ok(())
    }

    /// The rewind source `name` picks (`None`: the only one, or the unnamed one).
    pub fn select_source(&self, name: Option<&str>) -> Result<RewindSource> {
        let sources = self.rewind_sources();
        self.check_distinct_keys(&sources)?;
        if let Some(found) = sources.iter().find(|s| s.name.as_deref() == name) {
            return Ok(found.clone());
        }
        if sources.is_empty() {
            return Err(Error::Config(format!(
                "Application {} has no source that uses the rewind plugin (spec.source.plugin or spec.sources[].plugin with name rewind-…)",
                self.metadata.name
            )));
        }
        let names: Vec<String> = sources.iter().map(RewindSource::describe).collect();
        Err(Error::Config(format!(
            "{}: this Application's rewind sources are {}; pick one with --source-name",
            match name {
                Some(n) => format!("no rewind source is named {n:?}"),
                None => "it has more than one rewind source".into(),
            },
            names.join(", ")
        )))
    }

    /// JSON pointer to the plugin of the (first) source that uses rewind.
    pub fn rewind_plugin_path(&self) -> Option<String> {
        self.rewind_sources().first().map(RewindSource::plugin_path)
    }

    /// The revision `rewind` is pinned to, if any.
    pub fn pinned(&self, rewind: &RewindSource) -> Option<String> {
        self.source(rewind)?.plugin_env(ROLLBACK_ENV).map(String::from)
    }

    /// The field manager that last wrote `rewind`'s plugin env (its pin), from
    /// `metadata.managedFields`. Lists in the Application CRD are atomic, so
    /// under `spec.sources` the owner of the whole list is the answer.
    pub fn env_manager(&self, rewind: &RewindSource) -> Option<String> {
        let path = format!("{}/env", rewind.plugin_path());
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let entries = self.metadata.other.get("managedFields")?.as_array()?;
        entries
            .iter()
            .filter(|e| e.get("subresource").is_none())
            .find(|e| {
                let mut at = &e["fieldsV1"];
                for segment in &segments {
                    if segment.parse::<usize>().is_ok() {
                        return true; // an atomic list: its owner owns every item
                    }
                    match at.get(format!("f:{segment}")) {
                        Some(next) => at = next,
                        None => return false,
                    }
                }
                true
            })
            .and_then(|e| e["manager"].as_str())
            .map(String::from)
    }

    /// The pin of the (first) rewind source, if any.
    pub fn first_pinned(&self) -> Option<String> {
        self.pinned(self.rewind_sources().first()?)
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.get(key).map(String::as_str)
    }

    /// The parent Application that manages this one, when it carries Argo CD's
    /// tracking annotation (`argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>`)
    /// or label (`app.kubernetes.io/instance`).
    pub fn managing_parent(&self) -> Option<String> {
        if let Some(id) = self.annotation("argocd.argoproj.io/tracking-id") {
            return id.split(':').next().filter(|p| !p.is_empty()).map(String::from);
        }
        self.metadata.labels.get("app.kubernetes.io/instance").cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn app(spec: Value) -> Application {
        Application::from_value(json!({"metadata": {"name": "guestbook", "resourceVersion": "7"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn finds_the_rewind_source() {
        assert_eq!(app(json!({"source": {"plugin": {}}})).rewind_plugin_path().as_deref(), Some("/spec/source/plugin"));
        let multi = app(json!({"sources": [{"helm": {}}, {"plugin": {"name": "rewind-v1"}}]}));
        assert_eq!(multi.rewind_plugin_path().as_deref(), Some("/spec/sources/1/plugin"));
        assert_eq!(app(json!({"source": {"plugin": {"name": "other"}}})).rewind_plugin_path(), None);
        assert_eq!(app(json!({"source": {"path": "x"}})).rewind_plugin_path(), None);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let v = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "a", "namespace": "argocd", "finalizers": ["x"]},
            "spec": {"source": {"repoURL": "r", "helm": {"valueFiles": ["v.yaml"]}, "plugin": {"name": "rewind", "x": 1}},
                     "syncPolicy": {"automated": {}}},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy", "message": "ok"}}});
        let read = Application::from_value(v.clone()).unwrap();
        assert_eq!(read.spec.source.as_ref().unwrap().repo_url.as_deref(), Some("r"));
        let mut back = serde_json::to_value(&read).unwrap();
        // Defaults written out for absent typed fields are the only difference.
        back["spec"]["sources"].take();
        assert_eq!(back["spec"]["syncPolicy"], v["spec"]["syncPolicy"]);
        assert_eq!(back["spec"]["source"]["helm"], v["spec"]["source"]["helm"]);
        assert_eq!(back["metadata"]["finalizers"], v["metadata"]["finalizers"]);
        assert_eq!(back["status"]["sync"], v["status"]["sync"]);
    }

    #[test]
    fn parents_and_pins() {
        let annotated = Application::from_value(json!({"metadata": {"annotations":
            {"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/guestbook"}}}))
        .unwrap();
        assert_eq!(annotated.managing_parent().as_deref(), Some("root"));
        let labelled =
            Application::from_value(json!({"metadata": {"labels": {"app.kubernetes.io/instance": "apps"}}})).unwrap();
        assert_eq!(labelled.managing_parent().as_deref(), Some("apps"));
        assert_eq!(app(json!({})).managing_parent(), None);
        let pinned = app(
            json!({"source": {"plugin": {"env": [{"name": ROLLBACK_ENV, "value": "3"}, {"name": "A", "value": "1"}]}}}),
        );
        assert_eq!(pinned.first_pinned().as_deref(), Some("3"));
    }

    #[test]
    fn multi_source_applications_need_a_name_per_rewind_source() {
        let two = |a: Value, b: Value| app(json!({"sources": [{"plugin": a}, {"chart": "redis"}, {"plugin": b}]}));
        let named = |n: &str| json!({"name": "rewind-v1", "env": [{"name": SOURCE_NAME_ENV, "value": n}]});
        let shared = two(json!({}), json!({"name": "rewind-v1"}));
        let err = shared.select_source(None).unwrap_err().to_string();
        assert!(err.contains("spec.sources[0] and spec.sources[2]") && err.contains(SOURCE_NAME_ENV), "{err}");
        let same = two(named("web"), named("web"));
        assert!(same.select_source(Some("web")).unwrap_err().to_string().contains("\"web\""));
        let ok = two(named("web"), json!({"parameters": [{"name": "source-name", "string": "db"}]}));
        let db = ok.select_source(Some("db")).unwrap();
        assert_eq!(
            (db.plugin_path(), db.annotation_key("rewind.dev/x")),
            ("/spec/sources/2/plugin".into(), "rewind.dev/x.db".into())
        );
        let err = ok.select_source(None).unwrap_err().to_string();
        assert!(err.contains("--source-name") && err.contains("spec.sources[0] (web)"), "{err}");
        assert_eq!(source_key("team_shop", Some("db")).unwrap().as_str(), "team_shop__db");
        assert_eq!(source_key("shop", None).unwrap().as_str(), "shop");
        assert!(source_key("shop", Some("DB_1")).is_err());
    }

    #[test]
    fn app_keys_follow_argocd() {
        let r: ApplicationRef = "argocd/guestbook".parse().unwrap();
        assert_eq!(app_key(&r, "argocd"), "guestbook");
        let r: ApplicationRef = "team-a/guestbook".parse().unwrap();
        assert_eq!(app_key(&r, "argocd"), "team-a_guestbook");
        assert!("guestbook".parse::<ApplicationRef>().is_err());
    }
}
