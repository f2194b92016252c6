//! Where objects reference ConfigMaps and Secrets by name: pod templates
//! (kustomize's nameReference paths, the ones kapp follows too), Ingress TLS
//! and ServiceAccounts. One traversal serves hashing (read the names and
//! keys) and suffix mode (rewrite the names).

use crate::manifest::Object;
use serde_json::{Map, Value};

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

/// Which keys of the referenced object a reference can see.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Keys {
    /// The whole object (envFrom, a volume without `items`, imagePullSecrets).
    All,
    /// Only these keys (`configMapKeyRef.key`, volume `items[].key`).
    Only(Vec<String>),
}

/// One place a name is referenced.
pub struct RefSite<'a> {
    /// ConfigMap or Secret.
    pub kind: ConfigKind,
    /// The name value (a string), writable for suffix mode.
    pub name: &'a mut Value,
    /// What of the object is seen.
    pub keys: Keys,
}

/// How a workload's pod template may be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// A template change rolls the pods (Deployment, StatefulSet, …).
    Rolling,
    /// The template is immutable once created (Job, bare Pod).
    Immutable,
}

/// The map holding a workload's pod `metadata` and `spec`: `spec.template`
/// of the workload kinds, `spec.jobTemplate.spec.template` of a CronJob,
/// `template` of a PodTemplate, the object itself for a Pod.
pub fn pod_template_mut<'a>(
    group: &str,
    kind: &str,
    body: &'a mut Map<String, Value>,
) -> Option<(&'a mut Map<String, Value>, Mutability)> {
    let (template, mutability) = match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("", "ReplicationController")
        | ("argoproj.io", "Rollout") => (body.get_mut("spec")?.get_mut("template")?, Mutability::Rolling),
        ("batch", "CronJob") => {
            (body.get_mut("spec")?.get_mut("jobTemplate")?.get_mut("spec")?.get_mut("template")?, Mutability::Rolling)
        }
        ("", "PodTemplate") => (body.get_mut("template")?, Mutability::Rolling),
        ("batch", "Job") => (body.get_mut("spec")?.get_mut("template")?, Mutability::Immutable),
        ("", "Pod") => return Some((body, Mutability::Immutable)),
        _ => return None,
    };
    Some((template.as_object_mut()?, mutability))
}

/// [`pod_template_mut`] of an object, by its own group and kind.
pub fn pod_template_of(obj: &mut Object) -> Option<(&mut Map<String, Value>, Mutability)> {
    let (group, kind) = (obj.group().to_string(), obj.kind().to_string());
    pod_template_mut(&group, &kind, &mut obj.body)
}

/// Calls `f` for every config reference in a pod template (`{metadata, spec}`).
pub fn visit_pod_refs(template: &mut Map<String, Value>, f: &mut dyn FnMut(RefSite)) {
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else { return };
    for volume in items_mut(spec, "volumes") {
        let Some(volume) = volume.as_object_mut() else { continue };
        if let Some(cm) = volume.get_mut("configMap").and_then(Value::as_object_mut) {
            site(cm, "name", ConfigKind::ConfigMap, f);
        }
        if let Some(secret) = volume.get_mut("secret").and_then(Value::as_object_mut) {
            site(secret, "secretName", ConfigKind::Secret, f);
        }
        if let Some(projected) = volume.get_mut("projected").and_then(Value::as_object_mut) {
            for source in items_mut(projected, "sources") {
                let Some(source) = source.as_object_mut() else { continue };
                for (field, kind) in [("configMap", ConfigKind::ConfigMap), ("secret", ConfigKind::Secret)] {
                    if let Some(r) = source.get_mut(field).and_then(Value::as_object_mut) {
                        site(r, "name", kind, f);
                    }
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for container in items_mut(spec, list) {
            let Some(container) = container.as_object_mut() else { continue };
            for env in items_mut(container, "env") {
                let Some(from) = env.get_mut("valueFrom").and_then(Value::as_object_mut) else { continue };
                for (field, kind) in [("configMapKeyRef", ConfigKind::ConfigMap), ("secretKeyRef", ConfigKind::Secret)]
                {
                    if let Some(r) = from.get_mut(field).and_then(Value::as_object_mut) {
                        let key = r.get("key").and_then(Value::as_str).unwrap_or("").to_string();
                        if let Some(name) = r.get_mut("name").filter(|n| is_name(n)) {
                            f(RefSite { kind, name, keys: Keys::Only(vec![key]) });
                        }
                    }
                }
            }
            for from in items_mut(container, "envFrom") {
                let Some(from) = from.as_object_mut() else { continue };
                for (field, kind) in [("configMapRef", ConfigKind::ConfigMap), ("secretRef", ConfigKind::Secret)] {
                    if let Some(r) = from.get_mut(field).and_then(Value::as_object_mut) {
                        site(r, "name", kind, f);
                    }
                }
            }
        }
    }
    for secret in items_mut(spec, "imagePullSecrets") {
        if let Some(secret) = secret.as_object_mut() {
            site(secret, "name", ConfigKind::Secret, f);
        }
    }
}

/// Calls `f` for references that are not in pod templates: Ingress
/// `spec.tls[].secretName` and ServiceAccount `imagePullSecrets`/`secrets`.
pub fn visit_other_refs(group: &str, kind: &str, body: &mut Map<String, Value>, f: &mut dyn FnMut(RefSite)) {
    match (group, kind) {
        ("networking.k8s.io" | "extensions", "Ingress") => {
            let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) else { return };
            for tls in items_mut(spec, "tls") {
                if let Some(tls) = tls.as_object_mut() {
                    site(tls, "secretName", ConfigKind::Secret, f);
                }
            }
        }
        ("", "ServiceAccount") => {
            for list in ["imagePullSecrets", "secrets"] {
                for secret in items_mut(body, list) {
                    if let Some(secret) = secret.as_object_mut() {
                        site(secret, "name", ConfigKind::Secret, f);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A reference through `field`, seeing the keys listed in `items` (or all).
fn site(r: &mut Map<String, Value>, field: &str, kind: ConfigKind, f: &mut dyn FnMut(RefSite)) {
    let keys = match r.get("items").and_then(Value::as_array) {
        Some(items) => Keys::Only(items.iter().filter_map(|i| i.get("key")?.as_str().map(String::from)).collect()),
        None => Keys::All,
    };
    if let Some(name) = r.get_mut(field).filter(|n| is_name(n)) {
        f(RefSite { kind, name, keys });
    }
}

fn is_name(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.is_empty())
}

fn items_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> impl Iterator<Item = &'a mut Value> {
    m.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten()
}
