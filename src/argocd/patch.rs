//! The writes rewind makes to an Application, as JSON patches that touch
//! only what they mean to: a pin is the plugin env entry
//! `REWIND_ROLLBACK_TO=<N>` on the rewind source (Argo CD regenerates because
//! the source changed, and `generate` prints release N); the controller's
//! annotations. Each starts with a `resourceVersion` test, so a patch built
//! from a stale read fails instead of clobbering a newer write.

use super::application::{Application, FORCE_ENV, REASON_ENV, ROLLBACK_ENV, RewindSource};
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// The op that makes a patch fail if the object changed since it was read.
pub fn guard(app: &Application) -> Value {
    json!({"op": "test", "path": "/metadata/resourceVersion", "value": app.metadata.resource_version})
}

fn missing(app: &Application, rewind: &RewindSource) -> Error {
    Error::Config(format!("Application {}: {} does not exist", app.metadata.name, rewind.describe()))
}

/// Sets `REWIND_ROLLBACK_TO=value` on `rewind`, touching nothing else.
pub fn pin(app: &Application, rewind: &RewindSource, value: &str) -> Result<Vec<Value>> {
    set_env(app, rewind, &[(ROLLBACK_ENV, value)])
}

/// [`pin`] with more of the rollback's settings beside it
/// (`REWIND_ROLLBACK_FORCE`, `REWIND_ROLLBACK_REASON`), for generate to see.
pub fn pin_with(app: &Application, rewind: &RewindSource, value: &str, extra: &[(&str, &str)]) -> Result<Vec<Value>> {
    let entries: Vec<(&str, &str)> = [(ROLLBACK_ENV, value)].into_iter().chain(extra.iter().copied()).collect();
    set_env(app, rewind, &entries)
}

/// Sets each `(name, value)` entry of `rewind`'s plugin env, touching nothing else.
fn set_env(app: &Application, rewind: &RewindSource, entries: &[(&str, &str)]) -> Result<Vec<Value>> {
    let source = app.source(rewind).ok_or_else(|| missing(app, rewind))?;
    let plugin = rewind.plugin_path();
    let env = source.plugin.as_ref().map_or(&[][..], |p| p.env.as_slice());
    let mut ops = vec![guard(app)];
    if env.is_empty() {
        let all: Vec<Value> = entries.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
        ops.push(json!({"op": "add", "path": format!("{plugin}/env"), "value": all}));
        return Ok(ops);
    }
    for (name, value) in entries {
        ops.push(match env.iter().position(|e| e.name == *name) {
            Some(i) => json!({"op": "replace", "path": format!("{plugin}/env/{i}/value"), "value": value}),
            None => json!({"op": "add", "path": format!("{plugin}/env/-"), "value": {"name": name, "value": value}}),
        });
    }
    Ok(ops)
}

/// Removes the pin (and its override and reason) from `rewind`, or `None` when there is none.
pub fn clear(app: &Application, rewind: &RewindSource) -> Result<Option<Vec<Value>>> {
    let source = app.source(rewind).ok_or_else(|| missing(app, rewind))?;
    let env = source.plugin.as_ref().map_or(&[][..], |p| p.env.as_slice());
    if !env.iter().any(|e| e.name == ROLLBACK_ENV) {
        return Ok(None);
    }
    let mut ops = vec![guard(app)];
    // From the last entry back, so each index is still right when its turn comes.
    let pin_entries = [ROLLBACK_ENV, FORCE_ENV, REASON_ENV];
    for (i, e) in env.iter().enumerate().rev().filter(|(_, e)| pin_entries.contains(&e.name.as_str())) {
        let path = format!("{}/env/{i}", rewind.plugin_path());
        ops.push(json!({"op": "test", "path": format!("{path}/name"), "value": e.name}));
        ops.push(json!({"op": "remove", "path": path}));
    }
    Ok(Some(ops))
}

/// The op that sets annotation `key` to `value`.
pub fn annotate(app: &Application, key: &str, value: &str) -> Value {
    if app.metadata.annotations.is_empty() {
        json!({"op": "add", "path": "/metadata/annotations", "value": {key: value}})
    } else {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        json!({"op": "add", "path": format!("/metadata/annotations/{escaped}"), "value": value})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(spec: Value) -> Application {
        Application::from_value(json!({"metadata": {"name": "guestbook", "resourceVersion": "7"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn pin_touches_only_its_entry() {
        let a = app(json!({"source": {"plugin": {"env": [{"name": "A", "value": "1"}]}}}));
        let only = a.select_source(None).unwrap();
        let ops = pin(&a, &only, "3").unwrap();
        assert_eq!(ops[0], json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}));
        assert_eq!(
            ops[1],
            json!({"op": "add", "path": "/spec/source/plugin/env/-", "value": {"name": ROLLBACK_ENV, "value": "3"}})
        );
        let pinned = app(
            json!({"source": {"plugin": {"env": [{"name": ROLLBACK_ENV, "value": "3"}, {"name": "A", "value": "1"}]}}}),
        );
        assert_eq!(pinned.first_pinned().as_deref(), Some("3"));
        assert_eq!(
            pin(&pinned, &only, "2").unwrap()[1],
            json!({"op": "replace", "path": "/spec/source/plugin/env/0/value", "value": "2"})
        );
        let cleared = clear(&pinned, &only).unwrap().unwrap();
        assert_eq!(cleared[2], json!({"op": "remove", "path": "/spec/source/plugin/env/0"}));
        let forced = pin_with(&a, &only, "3", &[(FORCE_ENV, "true")]).unwrap();
        assert_eq!(forced[2]["value"], json!({"name": FORCE_ENV, "value": "true"}));
        let both = app(json!({"source": {"plugin": {"env": [
            {"name": ROLLBACK_ENV, "value": "3"}, {"name": "A", "value": "1"}, {"name": FORCE_ENV, "value": "true"}]}}}));
        let cleared = clear(&both, &only).unwrap().unwrap();
        let removed: Vec<&Value> = cleared.iter().filter(|op| op["op"] == "remove").map(|op| &op["path"]).collect();
        assert_eq!(removed, [&json!("/spec/source/plugin/env/2"), &json!("/spec/source/plugin/env/0")]);
        assert_eq!(clear(&a, &only).unwrap(), None);
        let bare = app(json!({"source": {"plugin": {}}}));
        assert_eq!(pin(&bare, &only, "1").unwrap()[1]["path"], "/spec/source/plugin/env");
        let multi = app(json!({"sources": [{"chart": "c"}, {"plugin": {"name": "rewind"}}]}));
        let second = multi.select_source(None).unwrap();
        assert_eq!(pin(&multi, &second, "4").unwrap()[1]["path"], "/spec/sources/1/plugin/env");
    }

    #[test]
    fn annotations() {
        let bare = app(json!({}));
        assert_eq!(
            annotate(&bare, "rewind.dev/x", "1"),
            json!({"op": "add", "path": "/metadata/annotations", "value": {"rewind.dev/x": "1"}})
        );
        let annotated = Application::from_value(json!({"metadata": {"annotations": {"a": "b"}}})).unwrap();
        assert_eq!(annotate(&annotated, "rewind.dev/x", "1")["path"], "/metadata/annotations/rewind.dev~1x");
    }
}
