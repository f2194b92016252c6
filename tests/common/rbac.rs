//! RBAC in tests: what the shipped manifests grant, and a check against the
//! test API server's audit trail that a flow used exactly that.
#![allow(dead_code)]

use super::apiserver::ApiServer;
use super::{docs, ok, root};
use serde_json::Value;
use std::path::Path;

/// `kubectl kustomize manifests/DIR`.
pub fn kustomize(dir: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", &root().join("manifests").join(dir).display().to_string()])
        .output()
        .unwrap();
    String::from_utf8(ok(&out)).unwrap()
}

/// `kubectl --kubeconfig KUBECONFIG ARGS`: as the identity in that kubeconfig.
pub fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl").arg("--kubeconfig").arg(kubeconfig).args(args).output().unwrap()
}

/// What the RBAC objects in `yaml` grant the service account `user`: (user, verb, resource, namespace or "*").
pub fn grants(yaml: &str, user: &str) -> std::collections::BTreeSet<(String, String, String, String)> {
    let docs = docs(yaml.as_bytes());
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let mut out = std::collections::BTreeSet::new();
    for binding in docs.iter().filter(|d| d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding") {
        let scope = binding["metadata"]["namespace"].as_str().unwrap_or("*").to_string();
        let bound = list(&binding["subjects"]).iter().any(|s| {
            s["kind"] == "ServiceAccount"
                && format!(
                    "system:serviceaccount:{}:{}",
                    s["namespace"].as_str().unwrap_or(""),
                    s["name"].as_str().unwrap_or("")
                ) == user
        });
        if !bound {
            continue;
        }
        let role = docs
            .iter()
            .find(|d| d["kind"] == binding["roleRef"]["kind"] && d["metadata"]["name"] == binding["roleRef"]["name"])
            .unwrap();
        for rule in list(&role["rules"]) {
            for resource in list(&rule["resources"]) {
                for verb in list(&rule["verbs"]) {
                    let (verb, resource) = (verb.as_str().unwrap().to_string(), resource.as_str().unwrap().to_string());
                    out.insert((user.to_string(), verb, resource, scope.clone()));
                }
            }
        }
    }
    out
}

/// The audit trail of the flow so far: for each of `users`, every request was
/// allowed, and the (verb, resource, scope) it used are exactly its grants.
pub fn assert_grants_exactly_used(server: &ApiServer, rbac: &str, users: &[&str]) {
    let granted: std::collections::BTreeSet<_> = users.iter().flat_map(|u| grants(rbac, u)).collect();
    let scope = |ns: &Value, user: &str, verb: &str, resource: &str| -> String {
        let exact = (user.to_string(), verb.to_string(), resource.to_string(), ns.as_str().unwrap_or("*").to_string());
        if granted.contains(&exact) { exact.3 } else { "*".into() }
    };
    let mut used = std::collections::BTreeSet::new();
    for entry in server.audit() {
        let user = entry["user"].as_str().unwrap();
        if !users.contains(&user) {
            continue;
        }
        let (verb, resource) = (entry["verb"].as_str().unwrap(), entry["resource"].as_str().unwrap());
        assert_eq!(entry["allowed"], true, "denied during the flow: {entry}");
        let scope = scope(&entry["namespace"], user, verb, resource);
        used.insert((user.to_string(), verb.to_string(), resource.to_string(), scope));
    }
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(unused.is_empty(), "granted but never used (remove it from manifests/): {unused:?}");
    assert_eq!(used, granted);
}
