//! `metadata.managedFields`, as the real server keeps them for Update
//! operations: each write's field manager (the `fieldManager` parameter,
//! else the client's User-Agent up to its first `/`) takes ownership of the
//! fields it changed, which leave every other manager's set; fields it
//! removed leave every set. Lists are atomic (one field), as in a CRD without
//! `x-kubernetes-list-type`; `fieldsV1` is the nested `f:<name>` form.

use serde_json::{Map, Value, json};

/// Metadata rewind's clients do not own: the server's bookkeeping.
const SERVER_METADATA: &[&str] =
    &["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "namespace", "name"];

/// The fields that differ between `old` and `new`, and whether each is now removed.
fn changed(old: &Value, new: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    let empty = Map::new();
    // A map that appears or goes away changes field by field.
    let as_map = |v: &Value, other: &Value| match v {
        Value::Object(m) => Some(m.clone()),
        Value::Null if other.is_object() => Some(empty.clone()),
        _ => None,
    };
    match (as_map(old, new), as_map(new, old)) {
        (Some(a), Some(b)) => {
            let mut keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let top = path.is_empty();
                if (top && (k == "kind" || k == "apiVersion"))
                    || (path.len() == 1 && path[0] == "metadata" && SERVER_METADATA.contains(&k.as_str()))
                {
                    continue;
                }
                let (x, y) = (a.get(k.as_str()).unwrap_or(&Value::Null), b.get(k.as_str()).unwrap_or(&Value::Null));
                if x != y {
                    path.push(k.clone());
                    changed(x, y, path, out);
                    path.pop();
                }
            }
        }
        _ if new.is_null() => out.push((path.clone(), true)),
        _ => out.push((path.clone(), false)),
    }
}

fn insert(set: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else { return };
    let entry = set.entry(format!("f:{first}")).or_insert_with(|| json!({}));
    if let Some(child) = entry.as_object_mut() {
        insert(child, rest);
    }
}

/// Removes `path` and what is under it; empty parents go too.
fn remove(set: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else { return };
    let key = format!("f:{first}");
    if rest.is_empty() {
        set.remove(&key);
        return;
    }
    if let Some(child) = set.get_mut(&key).and_then(Value::as_object_mut) {
        let had = !child.is_empty();
        remove(child, rest);
        if had && child.is_empty() {
            set.remove(&key);
        }
    }
}

/// Sets `new`'s managedFields after a write by `manager` (`subresource`: `status` or none).
pub fn track(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    time: &str,
) {
    let mut entries: Vec<Value> =
        old.and_then(|o| o.pointer("/metadata/managedFields")).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut fields = Vec::new();
    changed(old.unwrap_or(&json!({})), new, &mut Vec::new(), &mut fields);
    let mine = |e: &Value| e["manager"] == manager && e.get("subresource").and_then(Value::as_str) == subresource;
    if !entries.iter().any(mine) && fields.iter().any(|(_, removed)| !removed) {
        let mut entry = json!({"manager": manager, "operation": "Update", "apiVersion": api_version,
            "time": time, "fieldsType": "FieldsV1", "fieldsV1": {}});
        if let Some(sub) = subresource {
            entry["subresource"] = json!(sub);
        }
        entries.push(entry);
    }
    for entry in &mut entries {
        let own = mine(entry);
        let set = entry["fieldsV1"].as_object_mut().expect("fieldsV1 is an object");
        for (path, removed) in &fields {
            if own && !removed {
                remove(set, path);
                insert(set, path);
            } else {
                remove(set, path);
            }
        }
        if own {
            entry["time"] = json!(time);
        }
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|f| !f.is_empty()));
    new["metadata"]["managedFields"] = Value::Array(entries);
}

/// The manager of a request: `fieldManager`, else the User-Agent's program name.
pub fn manager_of(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    field_manager
        .filter(|m| !m.is_empty())
        .map(String::from)
        .or_else(|| user_agent.and_then(|ua| ua.split('/').next()).filter(|p| !p.is_empty()).map(String::from))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_follows_the_writes() {
        let v1 = json!({"metadata": {"name": "a"}, "spec": {"source": {"plugin": {"env": [{"name": "A"}]}}, "project": "p"}});
        let mut created = v1.clone();
        track(None, &mut created, "kubectl-create", None, "argoproj.io/v1alpha1", "t0");
        assert_eq!(
            created["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:source": {"f:plugin": {"f:env": {}}}, "f:project": {}}})
        );
        let mut pinned = created.clone();
        pinned["spec"]["source"]["plugin"]["env"] =
            json!([{"name": "A"}, {"name": "REWIND_ROLLBACK_TO", "value": "1"}]);
        track(Some(&created), &mut pinned, "rewind", None, "argoproj.io/v1alpha1", "t1");
        let entries = pinned["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries[0]["fieldsV1"], json!({"f:spec": {"f:project": {}}}));
        assert_eq!(
            (entries[1]["manager"].as_str(), &entries[1]["fieldsV1"]),
            (Some("rewind"), &json!({"f:spec": {"f:source": {"f:plugin": {"f:env": {}}}}}))
        );
        assert_eq!(manager_of(None, Some("kubectl/v1.33.0 (linux/amd64)")), "kubectl");
        assert_eq!(manager_of(Some("rewind"), Some("kubectl/v1")), "rewind");
    }
}
