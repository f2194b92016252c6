//! The resources this server serves and its discovery documents: built-in
//! kinds, Argo CD's Application, and every CRD given with `--crd` (served at
//! its storage version, validated against its `openAPIV3Schema`, with a
//! `/status` subresource where the CRD declares one).

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// One served resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub short_names: &'static [&'static str],
    /// Custom resources reject strategic merge patches, as the real server does.
    pub custom: bool,
    /// Status is written only through the `/status` subresource.
    pub status: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

pub const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        short_names: &[],
        custom: false,
        status: false,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        short_names: &["cm"],
        custom: false,
        status: false,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        short_names: &["ev"],
        custom: false,
        status: false,
    },
    Resource {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "applications",
        singular: "application",
        kind: "Application",
        short_names: &["app", "apps"],
        custom: true,
        status: false,
    },
];

struct Registry {
    resources: Vec<Resource>,
    schemas: HashMap<Resource, jsonschema::Validator>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// One CRD's storage version as a served resource, and its schema.
fn from_crd(crd: &Value) -> Result<(Resource, Option<jsonschema::Validator>), String> {
    let spec = &crd["spec"];
    let name = crd["metadata"]["name"].as_str().unwrap_or("?");
    if spec["scope"] != "Namespaced" {
        return Err(format!("CRD {name}: only namespaced resources are served"));
    }
    let versions = spec["versions"].as_array().ok_or_else(|| format!("CRD {name}: no versions"))?;
    let version =
        versions.iter().find(|v| v["storage"] == true).ok_or_else(|| format!("CRD {name}: no storage version"))?;
    let names = &spec["names"];
    let text = |v: &Value| v.as_str().map(leak).ok_or_else(|| format!("CRD {name}: missing names"));
    let short: Vec<&'static str> =
        names["shortNames"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(leak)).collect();
    let resource = Resource {
        group: text(&spec["group"])?,
        version: text(&version["name"])?,
        plural: text(&names["plural"])?,
        singular: text(&names["singular"])?,
        kind: text(&names["kind"])?,
        short_names: Box::leak(short.into_boxed_slice()),
        custom: true,
        status: version.pointer("/subresources/status").is_some(),
    };
    let schema = match version.pointer("/schema/openAPIV3Schema") {
        Some(s) => Some(
            jsonschema::options()
                .should_validate_formats(true)
                .build(s)
                .map_err(|e| format!("CRD {name}: schema: {e}"))?,
        ),
        None => None,
    };
    Ok((resource, schema))
}

/// Loads the CRDs in `files` (YAML streams) next to the built-in resources. Once, at startup.
pub fn load(files: &[std::path::PathBuf]) -> Result<(), String> {
    let mut registry = Registry { resources: RESOURCES.to_vec(), schemas: HashMap::new() };
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("--crd {}: {e}", file.display()))?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| format!("--crd {}: {e}", file.display()))?;
        for crd in docs.iter().filter(|d| d["kind"] == "CustomResourceDefinition") {
            let (resource, schema) = from_crd(crd)?;
            registry.resources.retain(|r| !(r.group == resource.group && r.plural == resource.plural));
            registry.resources.push(resource);
            if let Some(schema) = schema {
                registry.schemas.insert(resource, schema);
            }
        }
    }
    REGISTRY.set(registry).map_err(|_| "resources loaded twice".to_string())
}

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry { resources: RESOURCES.to_vec(), schemas: HashMap::new() })
}

/// The schema of a custom resource, if its CRD has one.
pub fn validator(res: &Resource) -> Option<&'static jsonschema::Validator> {
    registry().schemas.get(res)
}

pub fn find(group: &str, version: &str, plural: &str) -> Option<Resource> {
    registry().resources.iter().copied().find(|r| r.group == group && r.version == version && r.plural == plural)
}

const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];

/// Built-in kinds of Kubernetes 1.33 that discovery lists although this
/// server stores none of them (their endpoints answer 404): clients that
/// decide from discovery what a cluster serves (rewind's rollback API check,
/// `kubectl api-resources`) see the API surface of a real cluster.
/// (group, version, plural, kind, namespaced)
const LISTED_ONLY: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "pods", "Pod", true),
    ("", "v1", "services", "Service", true),
    ("", "v1", "serviceaccounts", "ServiceAccount", true),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true),
    ("apps", "v1", "deployments", "Deployment", true),
    ("apps", "v1", "statefulsets", "StatefulSet", true),
    ("apps", "v1", "daemonsets", "DaemonSet", true),
    ("apps", "v1", "replicasets", "ReplicaSet", true),
    ("batch", "v1", "jobs", "Job", true),
    ("batch", "v1", "cronjobs", "CronJob", true),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", true),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
];

fn resource_list(group: &str, version: &str) -> Value {
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut resources: Vec<Value> = Vec::new();
    for r in registry().resources.iter().filter(|r| r.group == group && r.version == version) {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": true, "kind": r.kind,
            "verbs": VERBS, "shortNames": r.short_names,
        }));
        if r.status {
            resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": true,
                "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    if group.is_empty() {
        resources.push(json!({"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]}));
    }
    for (_, _, plural, kind, namespaced) in LISTED_ONLY.iter().filter(|(g, v, ..)| *g == group && *v == version) {
        let singular = kind.to_ascii_lowercase();
        resources.push(
            json!({"name": plural, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": VERBS}),
        );
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// Each API group served, with its one version.
fn group_versions() -> BTreeSet<(&'static str, &'static str)> {
    let stored = registry().resources.iter().map(|r| (r.group, r.version));
    let listed = LISTED_ONLY.iter().map(|(g, v, ..)| (*g, *v));
    stored.chain(listed).filter(|(g, _)| !g.is_empty()).collect()
}

fn api_group(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// The discovery document at `path`, if it is one.
pub fn discovery(path: &str, server_address: &str) -> Option<Value> {
    let doc = match path {
        "/version" => json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-rewind-test", "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
        }),
        "/api" => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }),
        "/api/v1" => resource_list("", "v1"),
        "/apis" => {
            let groups: Vec<Value> = group_versions().into_iter().map(|(g, v)| api_group(g, v)).collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        other => {
            let rest = other.strip_prefix("/apis/")?;
            let (group, version) = match rest.split_once('/') {
                Some((g, v)) if !v.contains('/') => (g, Some(v)),
                None => (rest, None),
                _ => return None,
            };
            let (g, v) = group_versions().into_iter().find(|(g, _)| *g == group)?;
            match version {
                None => {
                    let mut doc = api_group(g, v);
                    doc["kind"] = json!("APIGroup");
                    doc["apiVersion"] = json!("v1");
                    doc
                }
                Some(asked) if asked == v => resource_list(g, v),
                Some(_) => return None,
            }
        }
    };
    Some(doc)
}
