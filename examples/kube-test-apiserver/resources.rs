//! The resources this server serves and its discovery documents.

use serde_json::{Value, json};

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
    },
    Resource {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        short_names: &["cm"],
        custom: false,
    },
    Resource {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        short_names: &["ev"],
        custom: false,
    },
    Resource {
        group: "argoproj.io",
        version: "v1alpha1",
        plural: "applications",
        singular: "application",
        kind: "Application",
        short_names: &["app", "apps"],
        custom: true,
    },
];

pub fn find(group: &str, version: &str, plural: &str) -> Option<Resource> {
    RESOURCES.iter().copied().find(|r| r.group == group && r.version == version && r.plural == plural)
}

const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];

fn resource_list(group: &str, version: &str) -> Value {
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            json!({
                "name": r.plural, "singularName": r.singular, "namespaced": true, "kind": r.kind,
                "verbs": VERBS, "shortNames": r.short_names,
            })
        })
        .collect();
    if group.is_empty() {
        resources.push(json!({"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]}));
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
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
            let groups: Vec<Value> = ["argoproj.io"]
                .iter()
                .map(|g| {
                    let gv = json!({"groupVersion": format!("{g}/v1alpha1"), "version": "v1alpha1"});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        "/apis/argoproj.io" => {
            let gv = json!({"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"});
            json!({"kind": "APIGroup", "apiVersion": "v1", "name": "argoproj.io", "versions": [gv.clone()], "preferredVersion": gv})
        }
        "/apis/argoproj.io/v1alpha1" => resource_list("argoproj.io", "v1alpha1"),
        _ => return None,
    };
    Some(doc)
}
