//! Where a pod template can see a ConfigMap or Secret (kustomize's
//! nameReference paths, the same ones kapp follows).

use serde_json::Value;

/// The two kinds of config object a pod can reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigKind {
    /// A core/v1 ConfigMap.
    ConfigMap,
    /// A core/v1 Secret.
    Secret,
}

impl ConfigKind {
    /// The kind of a core/v1 object, if it is a config kind.
    pub fn of(api_version: &str, kind: &str) -> Option<ConfigKind> {
        match (api_version, kind) {
            ("v1", "ConfigMap") => Some(ConfigKind::ConfigMap),
            ("v1", "Secret") => Some(ConfigKind::Secret),
            _ => None,
        }
    }

    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        }
    }
}

/// A reference from a pod spec to a config object by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigRef {
    /// ConfigMap or Secret.
    pub kind: ConfigKind,
    /// The referenced object's name.
    pub name: String,
}

/// The pod template of a workload whose template may change (a change rolls
/// the pods). Job and bare Pod are left out: their templates are immutable.
pub fn pod_template_mut<'a>(
    group: &str,
    kind: &str,
    body: &'a mut serde_json::Map<String, Value>,
) -> Option<&'a mut Value> {
    let template = match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("", "ReplicationController")
        | ("argoproj.io", "Rollout") => body.get_mut("spec")?.get_mut("template")?,
        ("batch", "CronJob") => body.get_mut("spec")?.get_mut("jobTemplate")?.get_mut("spec")?.get_mut("template")?,
        ("", "PodTemplate") => body.get_mut("template")?,
        _ => return None,
    };
    template.is_object().then_some(template)
}

/// Every config reference in a pod template (`{metadata, spec}`).
pub fn config_refs(template: &Value) -> Vec<ConfigRef> {
    let mut refs = Vec::new();
    let Some(spec) = template.get("spec") else { return refs };
    let mut add = |kind: ConfigKind, name: Option<&Value>| {
        if let Some(name) = name.and_then(Value::as_str).filter(|n| !n.is_empty()) {
            refs.push(ConfigRef { kind, name: name.to_string() });
        }
    };
    for volume in items(spec, "volumes") {
        add(ConfigKind::ConfigMap, volume.get("configMap").and_then(|c| c.get("name")));
        add(ConfigKind::Secret, volume.get("secret").and_then(|s| s.get("secretName")));
        if let Some(projected) = volume.get("projected") {
            for source in items(projected, "sources") {
                add(ConfigKind::ConfigMap, source.get("configMap").and_then(|c| c.get("name")));
                add(ConfigKind::Secret, source.get("secret").and_then(|s| s.get("name")));
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for container in items(spec, list) {
            for env in items(container, "env") {
                if let Some(from) = env.get("valueFrom") {
                    add(ConfigKind::ConfigMap, from.get("configMapKeyRef").and_then(|r| r.get("name")));
                    add(ConfigKind::Secret, from.get("secretKeyRef").and_then(|r| r.get("name")));
                }
            }
            for from in items(container, "envFrom") {
                add(ConfigKind::ConfigMap, from.get("configMapRef").and_then(|r| r.get("name")));
                add(ConfigKind::Secret, from.get("secretRef").and_then(|r| r.get("name")));
            }
        }
    }
    for secret in items(spec, "imagePullSecrets") {
        add(ConfigKind::Secret, secret.get("name"));
    }
    refs.sort();
    refs.dedup();
    refs
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}
