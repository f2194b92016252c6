//! Argo CD Applications, as people pin and unpin them: a rollback is the plugin
//! env entry `REWIND_ROLLBACK_TO=<N>` on the source that uses rewind; Argo CD
//! regenerates because the source changed, and `generate` prints release N.
//! Patches are JSON patches with field manager `rewind` that touch only that
//! entry, guarded by a `resourceVersion` test (retried when someone else wrote).

use crate::error::{Error, Result};
use crate::release::AppKey;
use serde_json::{Value, json};
use std::str::FromStr;

/// The plugin env entry that pins a release.
pub const ROLLBACK_ENV: &str = "REWIND_ROLLBACK_TO";
/// Argo CD's control-plane namespace unless told otherwise.
pub const DEFAULT_ARGOCD_NAMESPACE: &str = "argocd";

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

/// The plugin env entry (and, as `source-name`, the parameter) that gives a
/// rewind source an app key of its own.
pub const SOURCE_NAME_ENV: &str = "REWIND_SOURCE_NAME";

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
    /// JSON pointer to the source: `/spec/source` or `/spec/sources/<i>`.
    pub pointer: String,
    /// Its index in `spec.sources`, for a multi-source Application.
    pub index: Option<usize>,
    /// Its `source-name` setting, if it has one.
    pub name: Option<String>,
}

impl RewindSource {
    /// JSON pointer to its plugin section.
    pub fn plugin_path(&self) -> String {
        format!("{}/plugin", self.pointer)
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
}

/// A source's `source-name` setting: parameter `source-name`, else plugin env `REWIND_SOURCE_NAME`.
pub fn source_name(source: &Value) -> Option<String> {
    let plugin = source.get("plugin")?;
    let param = plugin
        .get("parameters")
        .and_then(Value::as_array)
        .and_then(|params| params.iter().find(|p| p["name"] == "source-name").and_then(|p| p["string"].as_str()));
    let env = || {
        plugin
            .get("env")
            .and_then(Value::as_array)
            .and_then(|env| env.iter().find(|e| e["name"] == SOURCE_NAME_ENV).and_then(|e| e["value"].as_str()))
    };
    param.or_else(env).map(str::trim).filter(|n| !n.is_empty()).map(String::from)
}

/// Every source of `app` that uses rewind, in spec order.
pub fn rewind_sources(app: &Value) -> Vec<RewindSource> {
    if let Some(source) = app.pointer("/spec/source").filter(|s| uses_rewind(s)) {
        return vec![RewindSource { pointer: "/spec/source".into(), index: None, name: source_name(source) }];
    }
    let sources = app.pointer("/spec/sources").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    sources
        .iter()
        .enumerate()
        .filter(|(_, s)| uses_rewind(s))
        .map(|(i, s)| RewindSource { pointer: format!("/spec/sources/{i}"), index: Some(i), name: source_name(s) })
        .collect()
}

/// Refuses an Application whose rewind sources would share an app key (their
/// histories would mix): each needs its own `source-name`.
pub fn check_distinct_keys(app: &Value, sources: &[RewindSource]) -> Result<()> {
    for (i, a) in sources.iter().enumerate() {
        if let Some(b) = sources[i + 1..].iter().find(|b| b.name == a.name) {
            let name = app.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
            return Err(Error::Config(format!(
                "Application {name}: {} and {} both use rewind {}, so their releases would share one app key; \
                 give each rewind source its own {SOURCE_NAME_ENV} in its plugin env (or parameter source-name)",
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
pub fn select_source(app: &Value, name: Option<&str>) -> Result<RewindSource> {
    let sources = rewind_sources(app);
    check_distinct_keys(app, &sources)?;
    if let Some(found) = sources.iter().find(|s| s.name.as_deref() == name) {
        return Ok(found.clone());
    }
    if sources.is_empty() {
        return Err(no_rewind_source(app));
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

/// Whether an Application source uses the rewind plugin (a plugin named
/// `rewind…`, or an unnamed plugin that Argo CD discovers).
pub fn uses_rewind(source: &Value) -> bool {
    match source.get("plugin") {
        Some(Value::Object(plugin)) => {
            plugin.get("name").and_then(Value::as_str).is_none_or(|n| n.is_empty() || n.starts_with("rewind"))
        }
        _ => false,
    }
}

/// JSON pointer to the plugin of the (first) source that uses rewind.
pub fn rewind_plugin_path(app: &Value) -> Option<String> {
    rewind_sources(app).first().map(RewindSource::plugin_path)
}

fn env_entries<'a>(app: &'a Value, plugin: &str) -> &'a [Value] {
    app.pointer(&format!("{plugin}/env")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The pinned revision of the (first) rewind source, if any.
pub fn pinned(app: &Value) -> Option<String> {
    pinned_at(app, &rewind_plugin_path(app)?)
}

/// The revision the plugin section at `plugin` is pinned to, if any.
pub fn pinned_at(app: &Value, plugin: &str) -> Option<String> {
    env_entries(app, plugin)
        .iter()
        .find(|e| e["name"] == ROLLBACK_ENV)
        .and_then(|e| e["value"].as_str())
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// The JSON patch op that makes a patch fail if the object changed since it was read.
pub fn guard(app: &Value) -> Value {
    json!({"op": "test", "path": "/metadata/resourceVersion", "value": app.pointer("/metadata/resourceVersion")})
}

/// The JSON patch that sets `REWIND_ROLLBACK_TO=value` on the (first)
/// rewind source, touching nothing else.
pub fn pin_patch(app: &Value, value: &str) -> Result<Vec<Value>> {
    pin_patch_at(app, &rewind_plugin_path(app).ok_or_else(|| no_rewind_source(app))?, value)
}

/// The JSON patch that sets `REWIND_ROLLBACK_TO=value` in the plugin section at `plugin`.
pub fn pin_patch_at(app: &Value, plugin: &str, value: &str) -> Result<Vec<Value>> {
    let plugin = plugin.to_string();
    let entry = json!({"name": ROLLBACK_ENV, "value": value});
    let env = env_entries(app, &plugin);
    let op = match env.iter().position(|e| e["name"] == ROLLBACK_ENV) {
        Some(i) => json!({"op": "replace", "path": format!("{plugin}/env/{i}/value"), "value": value}),
        None if app.pointer(&format!("{plugin}/env")).is_some_and(Value::is_array) => {
            json!({"op": "add", "path": format!("{plugin}/env/-"), "value": entry})
        }
        None => json!({"op": "add", "path": format!("{plugin}/env"), "value": [entry]}),
    };
    Ok(vec![guard(app), op])
}

/// The JSON patch that removes the pin of the (first) rewind source, or `None` when there is none.
pub fn clear_patch(app: &Value) -> Result<Option<Vec<Value>>> {
    clear_patch_at(app, &rewind_plugin_path(app).ok_or_else(|| no_rewind_source(app))?)
}

/// The JSON patch that removes the pin in the plugin section at `plugin`, or `None`.
pub fn clear_patch_at(app: &Value, plugin: &str) -> Result<Option<Vec<Value>>> {
    let env = env_entries(app, &plugin);
    Ok(env.iter().position(|e| e["name"] == ROLLBACK_ENV).map(|i| {
        let path = format!("{plugin}/env/{i}");
        vec![
            guard(app),
            json!({"op": "test", "path": format!("{path}/name"), "value": ROLLBACK_ENV}),
            json!({"op": "remove", "path": path}),
        ]
    }))
}

fn no_rewind_source(app: &Value) -> Error {
    let name = app.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    Error::Config(format!(
        "Application {name} has no source that uses the rewind plugin (spec.source.plugin or spec.sources[].plugin with name rewind-…)"
    ))
}

/// An annotation's value.
pub fn annotation<'a>(app: &'a Value, key: &str) -> Option<&'a str> {
    app.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// The JSON patch op that sets annotation `key` to `value`.
pub fn annotation_op(app: &Value, key: &str, value: &str) -> Value {
    if app.pointer("/metadata/annotations").is_some_and(Value::is_object) {
        json!({"op": "add", "path": format!("/metadata/annotations/{}", key.replace('~', "~0").replace('/', "~1")), "value": value})
    } else {
        json!({"op": "add", "path": "/metadata/annotations", "value": {key: value}})
    }
}

/// The parent Application that manages this one, when it carries Argo CD's
/// tracking label (`app.kubernetes.io/instance`) or annotation
/// (`argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>`).
pub fn managing_parent(app: &Value) -> Option<String> {
    if let Some(id) = annotation(app, "argocd.argoproj.io/tracking-id") {
        return id.split(':').next().filter(|p| !p.is_empty()).map(String::from);
    }
    app.pointer("/metadata/labels/app.kubernetes.io~1instance").and_then(Value::as_str).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(spec: Value) -> Value {
        json!({"metadata": {"name": "guestbook", "resourceVersion": "7"}, "spec": spec})
    }

    #[test]
    fn finds_the_rewind_source() {
        assert_eq!(rewind_plugin_path(&app(json!({"source": {"plugin": {}}}))).as_deref(), Some("/spec/source/plugin"));
        let multi = app(json!({"sources": [{"helm": {}}, {"plugin": {"name": "rewind-v1"}}]}));
        assert_eq!(rewind_plugin_path(&multi).as_deref(), Some("/spec/sources/1/plugin"));
        assert_eq!(rewind_plugin_path(&app(json!({"source": {"plugin": {"name": "other"}}}))), None);
        assert_eq!(rewind_plugin_path(&app(json!({"source": {"path": "x"}}))), None);
    }

    #[test]
    fn pin_touches_only_its_entry() {
        let a = app(json!({"source": {"plugin": {"env": [{"name": "A", "value": "1"}]}}}));
        let ops = pin_patch(&a, "3").unwrap();
        assert_eq!(ops[0], json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}));
        assert_eq!(
            ops[1],
            json!({"op": "add", "path": "/spec/source/plugin/env/-", "value": {"name": ROLLBACK_ENV, "value": "3"}})
        );
        let pinned_app = app(
            json!({"source": {"plugin": {"env": [{"name": ROLLBACK_ENV, "value": "3"}, {"name": "A", "value": "1"}]}}}),
        );
        assert_eq!(pinned(&pinned_app).as_deref(), Some("3"));
        assert_eq!(
            pin_patch(&pinned_app, "2").unwrap()[1],
            json!({"op": "replace", "path": "/spec/source/plugin/env/0/value", "value": "2"})
        );
        let clear = clear_patch(&pinned_app).unwrap().unwrap();
        assert_eq!(clear[2], json!({"op": "remove", "path": "/spec/source/plugin/env/0"}));
        assert_eq!(clear_patch(&a).unwrap(), None);
        let bare = app(json!({"source": {"plugin": {}}}));
        assert_eq!(pin_patch(&bare, "1").unwrap()[1]["path"], "/spec/source/plugin/env");
    }

    #[test]
    fn annotations_and_parents() {
        let bare = app(json!({}));
        assert_eq!(
            annotation_op(&bare, "rewind.dev/x", "1"),
            json!({"op": "add", "path": "/metadata/annotations", "value": {"rewind.dev/x": "1"}})
        );
        let annotated = json!({"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "root:argoproj.io/Application:argocd/guestbook"}}});
        assert_eq!(annotation_op(&annotated, "rewind.dev/x", "1")["path"], "/metadata/annotations/rewind.dev~1x");
        assert_eq!(managing_parent(&annotated).as_deref(), Some("root"));
        let labelled = json!({"metadata": {"labels": {"app.kubernetes.io/instance": "apps"}}});
        assert_eq!(managing_parent(&labelled).as_deref(), Some("apps"));
        assert_eq!(managing_parent(&bare), None);
    }

    #[test]
    fn multi_source_applications_need_a_name_per_rewind_source() {
        let two = |a: Value, b: Value| app(json!({"sources": [{"plugin": a}, {"chart": "redis"}, {"plugin": b}]}));
        let named = |n: &str| json!({"name": "rewind-v1", "env": [{"name": SOURCE_NAME_ENV, "value": n}]});
        let shared = two(json!({}), json!({"name": "rewind-v1"}));
        let err = select_source(&shared, None).unwrap_err().to_string();
        assert!(err.contains("spec.sources[0] and spec.sources[2]") && err.contains(SOURCE_NAME_ENV), "{err}");
        let same = two(named("web"), named("web"));
        assert!(select_source(&same, Some("web")).unwrap_err().to_string().contains("\"web\""));

        let ok = two(named("web"), json!({"parameters": [{"name": "source-name", "string": "db"}]}));
        let db = select_source(&ok, Some("db")).unwrap();
        assert_eq!(
            (db.plugin_path(), db.annotation_key("rewind.dev/x")),
            ("/spec/sources/2/plugin".into(), "rewind.dev/x.db".into())
        );
        let err = select_source(&ok, None).unwrap_err().to_string();
        assert!(err.contains("--source-name") && err.contains("spec.sources[0] (web)"), "{err}");
        assert_eq!(pin_patch_at(&ok, &db.plugin_path(), "4").unwrap()[1]["path"], "/spec/sources/2/plugin/env");
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
