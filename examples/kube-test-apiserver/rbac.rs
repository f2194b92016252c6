//! Authentication and RBAC authorization, as the real server does them for
//! service accounts: Roles and ClusterRoles granted through RoleBindings (in
//! their namespace) and ClusterRoleBindings (everywhere), matched on API
//! group, resource, verb and resource name.
//!
//! Who is asking: a bearer token given with `--token TOKEN=USER`, or — since
//! clients send tokens only over TLS and this server speaks plain HTTP — a
//! cluster admin impersonating a user (`Impersonate-User`, kubeconfig `as:`,
//! `kubectl --as`). A request with neither is the cluster admin (the tests'
//! kubectl). An unknown token gets 401, a missing grant 403 with the real message.

use crate::storage::ApiError;
use serde_json::{Value, json};
use std::collections::HashMap;

/// One rule granted to one user, in one namespace or cluster-wide.
#[derive(Debug, Clone)]
struct Grant {
    user: String,
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
}

/// What a request asks to do.
pub struct Request<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

#[derive(Debug, Default)]
pub struct Rbac {
    tokens: HashMap<String, String>,
    grants: Vec<Grant>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
}

fn matches(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

impl Rbac {
    /// Reads RBAC objects from a YAML stream (other kinds are ignored) and
    /// `TOKEN=USER` pairs (`system:serviceaccount:NS:NAME` for a service account).
    pub fn load(yaml: &str, tokens: &[String]) -> Result<Rbac, String> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| format!("RBAC file: {e}"))?;
        let docs: Vec<&Value> = docs.iter().filter(|d| d.is_object()).collect();
        let role_rules = |kind: &str, namespace: Option<&str>, name: &str| -> Vec<Value> {
            docs.iter()
                .find(|d| {
                    d["kind"] == kind
                        && d["metadata"]["name"] == name
                        && (kind == "ClusterRole" || d["metadata"]["namespace"].as_str() == namespace)
                })
                .map(|d| d["rules"].as_array().cloned().unwrap_or_default())
                .unwrap_or_default()
        };
        let mut grants = Vec::new();
        for binding in docs.iter().filter(|d| d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding") {
            let namespace = (binding["kind"] == "RoleBinding")
                .then(|| binding["metadata"]["namespace"].as_str().unwrap_or("default").to_string());
            let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or("");
            let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
            let rules = role_rules(role_kind, namespace.as_deref(), role_name);
            for subject in binding["subjects"].as_array().into_iter().flatten() {
                let user = match subject["kind"].as_str() {
                    Some("ServiceAccount") => format!(
                        "system:serviceaccount:{}:{}",
                        subject["namespace"].as_str().or(namespace.as_deref()).unwrap_or("default"),
                        subject["name"].as_str().unwrap_or("")
                    ),
                    _ => subject["name"].as_str().unwrap_or("").to_string(),
                };
                for rule in &rules {
                    grants.push(Grant {
                        user: user.clone(),
                        namespace: namespace.clone(),
                        groups: strings(&rule["apiGroups"]),
                        resources: strings(&rule["resources"]),
                        verbs: strings(&rule["verbs"]),
                        names: strings(&rule["resourceNames"]),
                    });
                }
            }
        }
        let mut map = HashMap::new();
        for t in tokens {
            let (token, user) = t.split_once('=').ok_or_else(|| format!("--token {t:?}: write TOKEN=USER"))?;
            map.insert(token.to_string(), user.to_string());
        }
        Ok(Rbac { tokens: map, grants })
    }

    /// Who is asking: `None` for the cluster admin; 401 for an unknown
    /// token, 403 when a token's user tries to impersonate.
    pub fn user(&self, authorization: Option<&str>, impersonate: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(header) = authorization else { return Ok(impersonate.map(String::from)) };
        let token = header.strip_prefix("Bearer ").unwrap_or("").trim();
        let user = self.tokens.get(token).ok_or_else(|| ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: Value::Null,
        })?;
        match impersonate {
            None => Ok(Some(user.clone())),
            Some(target) => Err(ApiError {
                code: 403,
                reason: "Forbidden",
                message: format!(
                    "users \"{target}\" is forbidden: User \"{user}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
                ),
                details: json!({"name": target, "kind": "users"}),
            }),
        }
    }

    /// `Ok` when `user` (`None`: the cluster admin) may do `req`; else 403.
    pub fn authorize(&self, user: Option<&str>, req: &Request) -> Result<(), ApiError> {
        let Some(user) = user else { return Ok(()) };
        let allowed = self.grants.iter().any(|g| {
            g.user == user
                && (g.namespace.is_none() || g.namespace.as_deref() == req.namespace)
                && matches(&g.groups, req.group)
                && matches(&g.resources, req.resource)
                && matches(&g.verbs, req.verb)
                && (g.names.is_empty() || req.name.is_some_and(|n| g.names.iter().any(|x| x == n)))
        });
        if allowed {
            return Ok(());
        }
        let subject = match req.name {
            Some(n) => format!("{} \"{n}\"", resource_group(req)),
            None => resource_group(req),
        };
        let scope = match req.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        let mut details = json!({"kind": req.resource});
        if let Some(n) = req.name {
            details["name"] = json!(n);
        }
        if !req.group.is_empty() {
            details["group"] = json!(req.group);
        }
        Err(ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{subject} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
                req.verb, req.resource, req.group
            ),
            details,
        })
    }
}

fn resource_group(req: &Request) -> String {
    if req.group.is_empty() { req.resource.to_string() } else { format!("{}.{}", req.resource, req.group) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: store, namespace: rewind}
rules:
  - {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: store, namespace: rewind}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: store}
subjects: [{kind: ServiceAccount, name: ctl, namespace: rewind}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: apps}
rules:
  - {apiGroups: [argoproj.io], resources: [applications], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: apps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: apps}
subjects: [{kind: ServiceAccount, name: ctl, namespace: rewind}]
"#;

    fn req<'a>(verb: &'a str, group: &'a str, resource: &'a str, ns: Option<&'a str>) -> Request<'a> {
        Request { verb, group, resource, namespace: ns, name: None }
    }

    #[test]
    fn bindings_grant_what_they_say() {
        let rbac = Rbac::load(YAML, &["t=system:serviceaccount:rewind:ctl".into()]).unwrap();
        let user = rbac.user(Some("Bearer t"), None).unwrap();
        assert_eq!(rbac.user(None, Some("system:serviceaccount:rewind:ctl")).unwrap(), user, "an admin impersonating");
        let bearer = user.as_deref();
        assert!(rbac.authorize(bearer, &req("list", "", "secrets", Some("rewind"))).is_ok());
        let e = rbac.authorize(bearer, &req("list", "", "secrets", Some("argocd"))).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "secrets is forbidden: User \"system:serviceaccount:rewind:ctl\" cannot list resource \"secrets\" in API group \"\" in the namespace \"argocd\""
        );
        assert!(rbac.authorize(bearer, &req("delete", "", "secrets", Some("rewind"))).is_err());
        assert!(rbac.authorize(bearer, &req("watch", "argoproj.io", "applications", None)).is_ok());
        assert!(rbac.authorize(bearer, &req("watch", "argoproj.io", "applications", Some("team-a"))).is_ok());
        assert!(rbac.authorize(bearer, &req("patch", "argoproj.io", "applications", Some("argocd"))).is_err());
        assert_eq!(rbac.user(Some("Bearer nope"), None).unwrap_err().code, 401);
        assert_eq!(rbac.user(Some("Bearer t"), Some("admin")).unwrap_err().code, 403, "no impersonation grant");
        assert!(rbac.authorize(None, &req("delete", "", "secrets", Some("argocd"))).is_ok(), "the admin");
    }
}
