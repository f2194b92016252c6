//! Argo CD Applications, as people pin and unpin them: a rollback is the plugin
//! env entry `REWIND_ROLLBACK_TO=<N>` on the source that uses rewind; Argo CD
//! regenerates because the source changed, and `generate` prints release N.
//! Patches are JSON patches with field manager `rewind` that touch only that
//! entry, guarded by a `resourceVersion` test (retried when someone else wrote).

use crate::error::{Error, Result};
use crate::kubeclient::Connection;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use std::str::FromStr;

/// The plugin env entry that pins a release.
pub const ROLLBACK_ENV: &str = "REWIND_ROLLBACK_TO";
/// Argo CD's control-plane namespace unless told otherwise.
pub const DEFAULT_ARGOCD_NAMESPACE: &str = "argocd";
const MAX_ATTEMPTS: usize = 5;

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

fn uses_rewind(source: &Value) -> bool {
    match source.get("plugin") {
        Some(Value::Object(plugin)) => {
            plugin.get("name").and_then(Value::as_str).is_none_or(|n| n.is_empty() || n.starts_with("rewind"))
        }
        _ => false,
    }
}

/// JSON pointer to the plugin of the source that uses rewind.
pub fn rewind_plugin_path(app: &Value) -> Option<String> {
    if app.pointer("/spec/source").is_some_and(uses_rewind) {
        return Some("/spec/source/plugin".into());
    }
    let sources = app.pointer("/spec/sources")?.as_array()?;
    sources.iter().position(uses_rewind).map(|i| format!("/spec/sources/{i}/plugin"))
}

fn env_entries<'a>(app: &'a Value, plugin: &str) -> &'a [Value] {
    app.pointer(&format!("{plugin}/env")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The pinned revision, if any.
pub fn pinned(app: &Value) -> Option<String> {
    let plugin = rewind_plugin_path(app)?;
    env_entries(app, &plugin)
        .iter()
        .find(|e| e["name"] == ROLLBACK_ENV)
        .and_then(|e| e["value"].as_str())
        .filter(|v| !v.is_empty())
        .map(String::from)
}

fn guard(app: &Value) -> Value {
    json!({"op": "test", "path": "/metadata/resourceVersion", "value": app.pointer("/metadata/resourceVersion")})
}

/// The JSON patch that sets `REWIND_ROLLBACK_TO=value`, touching nothing else.
pub fn pin_patch(app: &Value, value: &str) -> Result<Vec<Value>> {
    let plugin = rewind_plugin_path(app).ok_or_else(|| no_rewind_source(app))?;
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

/// The JSON patch that removes the pin, or `None` when there is none.
pub fn clear_patch(app: &Value) -> Result<Option<Vec<Value>>> {
    let plugin = rewind_plugin_path(app).ok_or_else(|| no_rewind_source(app))?;
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

/// Reads and patches Argo CD Applications.
pub struct Applications {
    conn: Connection,
    resource: ApiResource,
}

impl Applications {
    /// Connects with the in-cluster service account or `KUBECONFIG`.
    pub fn connect() -> Result<Applications> {
        let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
        Ok(Applications {
            conn: Connection::open(None, None)?,
            resource: ApiResource::from_gvk_with_plural(&gvk, "applications"),
        })
    }

    fn api(&self, app: &ApplicationRef) -> Api<DynamicObject> {
        Api::namespaced_with(self.conn.client.clone(), &app.namespace, &self.resource)
    }

    fn error(&self, app: &ApplicationRef, e: kube::Error) -> Error {
        match e {
            kube::Error::Api(s) if s.code == 404 => {
                Error::Config(format!("Application {app} not found: {}", s.message))
            }
            kube::Error::Api(s) if s.code == 403 => Error::Config(format!(
                "Application {app}: forbidden: {}; grant get and patch on applications.argoproj.io",
                s.message
            )),
            kube::Error::Api(s) => Error::Config(format!("Application {app}: {} ({} {})", s.message, s.code, s.reason)),
            other => Error::Config(format!(
                "Application {app}: cannot reach the Kubernetes API at {} ({other})",
                self.conn.server
            )),
        }
    }

    /// The Application as JSON.
    pub fn get(&self, app: &ApplicationRef) -> Result<Value> {
        let obj = self.conn.runtime.block_on(self.api(app).get(&app.name)).map_err(|e| self.error(app, e))?;
        serde_json::to_value(obj).map_err(|e| Error::Config(format!("Application {app}: {e}")))
    }

    /// Applies the patch `make` builds from the current object, retrying
    /// when the object changed in between (the `test` op fails).
    fn patch_with(&self, app: &ApplicationRef, make: impl Fn(&Value) -> Result<Option<Vec<Value>>>) -> Result<bool> {
        for _ in 0..MAX_ATTEMPTS {
            let current = self.get(app)?;
            let Some(ops) = make(&current)? else { return Ok(false) };
            let params = PatchParams { field_manager: Some("rewind".into()), ..PatchParams::default() };
            let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                .map_err(|e| Error::Config(format!("internal: bad JSON patch: {e}")))?;
            let body = Patch::<Value>::Json(ops);
            match self.conn.runtime.block_on(self.api(app).patch(&app.name, &params, &body)) {
                Ok(_) => return Ok(true),
                // A failed `test` (someone else wrote) or a conflict: read again.
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 422 => continue,
                Err(e) => return Err(self.error(app, e)),
            }
        }
        Err(Error::Config(format!("Application {app} kept changing while being patched; try again")))
    }

    /// Pins `revision`: sets `REWIND_ROLLBACK_TO` on the rewind source.
    pub fn pin(&self, app: &ApplicationRef, revision: u64) -> Result<()> {
        self.patch_with(app, |current| pin_patch(current, &revision.to_string()).map(Some)).map(|_| ())
    }

    /// Removes the pin; `false` when there was none.
    pub fn clear(&self, app: &ApplicationRef) -> Result<bool> {
        self.patch_with(app, clear_patch)
    }
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
    fn app_keys_follow_argocd() {
        let r: ApplicationRef = "argocd/guestbook".parse().unwrap();
        assert_eq!(app_key(&r, "argocd"), "guestbook");
        let r: ApplicationRef = "team-a/guestbook".parse().unwrap();
        assert_eq!(app_key(&r, "argocd"), "team-a_guestbook");
        assert!("guestbook".parse::<ApplicationRef>().is_err());
    }
}
