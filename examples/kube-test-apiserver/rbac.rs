//! Authentication and RBAC authorization, as the real server does them:
//! Roles and ClusterRoles granted to users, service accounts and groups
//! through RoleBindings (in their namespace) and ClusterRoleBindings
//! (everywhere), matched on API group, resource, verb and resource name;
//! `system:masters` may do anything.
//!
//! Who is asking: a bearer token (`--token TOKEN=USER`, or `--admin-token`
//! for `system:admin` in `system:masters`), else `system:anonymous` in
//! `system:unauthenticated`. A requester allowed to `impersonate` users (the
//! admin, in the tests) may act as another user (`Impersonate-User`,
//! `kubectl --as`). Without `--rbac` everything is allowed. An unknown token
//! gets 401; a missing grant 403 with the real message.

use crate::storage::ApiError;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    fn anonymous() -> Identity {
        Identity { user: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] }
    }

    /// An authenticated user, with the groups the real server gives it
    /// (service accounts: `system:serviceaccounts` and their namespace's).
    fn authenticated(user: &str, extra: &[String]) -> Identity {
        let mut groups: Vec<String> = extra.to_vec();
        if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
            groups.push("system:serviceaccounts".into());
            if let Some((ns, _)) = rest.split_once(':') {
                groups.push(format!("system:serviceaccounts:{ns}"));
            }
        }
        groups.push("system:authenticated".into());
        Identity { user: user.to_string(), groups }
    }

    pub fn is_anonymous(&self) -> bool {
        self.user == "system:anonymous"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    User(String),
    Group(String),
}

/// One rule granted to one subject, in one namespace or cluster-wide.
#[derive(Debug, Clone)]
struct Grant {
    subject: Subject,
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
    /// Whether RBAC is enforced at all (`--rbac`).
    pub enabled: bool,
    tokens: HashMap<String, Identity>,
    grants: Vec<Grant>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
}

fn matches(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

fn unauthorized() -> ApiError {
    ApiError { code: 401, reason: "Unauthorized", message: "Unauthorized".into(), details: Value::Null }
}

impl Rbac {
    /// Reads RBAC objects from a YAML stream (other kinds are ignored), when
    /// `enabled`; `TOKEN=USER` pairs; and the admin's token.
    pub fn load(yaml: &str, enabled: bool, tokens: &[String], admin_token: Option<&str>) -> Result<Rbac, String> {
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
                let name = subject["name"].as_str().unwrap_or("").to_string();
                let subject = match subject["kind"].as_str() {
                    Some("ServiceAccount") => Subject::User(format!(
                        "system:serviceaccount:{}:{name}",
                        subject["namespace"].as_str().or(namespace.as_deref()).unwrap_or("default"),
                    )),
                    Some("Group") => Subject::Group(name),
                    _ => Subject::User(name),
                };
                for rule in &rules {
                    grants.push(Grant {
                        subject: subject.clone(),
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
            map.insert(token.to_string(), Identity::authenticated(user, &[]));
        }
        if let Some(token) = admin_token {
            map.insert(token.to_string(), Identity::authenticated("system:admin", &["system:masters".into()]));
        }
        Ok(Rbac { enabled, tokens: map, grants })
    }

    /// Who is asking: the token's user (401 for an unknown token), else
    /// anonymous; then, with `Impersonate-User`, the user it acts as — if
    /// the requester may impersonate (else 403).
    pub fn identity(
        &self,
        authorization: Option<&str>,
        impersonate: Option<&str>,
        impersonate_groups: &[String],
    ) -> Result<Identity, ApiError> {
        let requester = match authorization {
            Some(header) => {
                let token = header.strip_prefix("Bearer ").unwrap_or("").trim();
                self.tokens.get(token).cloned().ok_or_else(unauthorized)?
            }
            None => Identity::anonymous(),
        };
        let Some(target) = impersonate else { return Ok(requester) };
        let req = Request { verb: "impersonate", group: "", resource: "users", namespace: None, name: Some(target) };
        if let Err(mut e) = self.authorize(&requester, &req) {
            e.message = format!(
                "users \"{target}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
                requester.user
            );
            return Err(e);
        }
        Ok(Identity::authenticated(target, impersonate_groups))
    }

    /// `Ok` when `who` may do `req` (always, without `--rbac`); else 403.
    pub fn authorize(&self, who: &Identity, req: &Request) -> Result<(), ApiError> {
        if !self.enabled || who.groups.iter().any(|g| g == "system:masters") {
            return Ok(());
        }
        let allowed = self.grants.iter().any(|g| {
            let subject = match &g.subject {
                Subject::User(u) => *u == who.user,
                Subject::Group(group) => who.groups.contains(group),
            };
            subject
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
                "{subject} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
                who.user, req.verb, req.resource, req.group
            ),
            details,
        })
    }

    /// Discovery is for authenticated clients (`system:discovery`), as on a real server.
    pub fn authorize_discovery(&self, who: &Identity, path: &str) -> Result<(), ApiError> {
        if self.enabled && who.is_anonymous() {
            return Err(ApiError {
                code: 403,
                reason: "Forbidden",
                message: format!("forbidden: User \"system:anonymous\" cannot get path \"{path}\""),
                details: Value::Null,
            });
        }
        Ok(())
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
subjects: [{kind: ServiceAccount, name: ctl, namespace: rewind}, {kind: Group, name: auditors}]
"#;

    fn req<'a>(verb: &'a str, group: &'a str, resource: &'a str, ns: Option<&'a str>) -> Request<'a> {
        Request { verb, group, resource, namespace: ns, name: None }
    }

    #[test]
    fn bindings_grant_what_they_say() {
        let rbac = Rbac::load(YAML, true, &["t=system:serviceaccount:rewind:ctl".into()], Some("root")).unwrap();
        let ctl = rbac.identity(Some("Bearer t"), None, &[]).unwrap();
        let admin = rbac.identity(Some("Bearer root"), None, &[]).unwrap();
        assert_eq!(rbac.identity(Some("Bearer root"), Some("system:serviceaccount:rewind:ctl"), &[]).unwrap(), ctl);
        assert!(rbac.authorize(&ctl, &req("list", "", "secrets", Some("rewind"))).is_ok());
        let e = rbac.authorize(&ctl, &req("list", "", "secrets", Some("argocd"))).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "secrets is forbidden: User \"system:serviceaccount:rewind:ctl\" cannot list resource \"secrets\" in API group \"\" in the namespace \"argocd\""
        );
        assert!(rbac.authorize(&ctl, &req("delete", "", "secrets", Some("rewind"))).is_err());
        assert!(rbac.authorize(&ctl, &req("watch", "argoproj.io", "applications", None)).is_ok());
        assert!(rbac.authorize(&ctl, &req("watch", "argoproj.io", "applications", Some("team-a"))).is_ok());
        assert!(rbac.authorize(&ctl, &req("patch", "argoproj.io", "applications", Some("argocd"))).is_err());
        assert_eq!(rbac.identity(Some("Bearer nope"), None, &[]).unwrap_err().code, 401);
        assert_eq!(
            rbac.identity(Some("Bearer t"), Some("admin"), &[]).unwrap_err().code,
            403,
            "no impersonation grant"
        );
        assert!(rbac.authorize(&admin, &req("delete", "", "secrets", Some("argocd"))).is_ok(), "the admin");
        let auditor = rbac.identity(Some("Bearer root"), Some("jane"), &["auditors".into()]).unwrap();
        assert!(rbac.authorize(&auditor, &req("list", "argoproj.io", "applications", None)).is_ok(), "a group's grant");
    }

    #[test]
    fn no_identity_is_anonymous_not_admin() {
        let rbac = Rbac::load(YAML, true, &[], Some("root")).unwrap();
        let anonymous = rbac.identity(None, None, &[]).unwrap();
        assert_eq!(anonymous.user, "system:anonymous");
        let e = rbac.authorize(&anonymous, &req("list", "", "secrets", Some("rewind"))).unwrap_err();
        assert!(e.code == 403 && e.message.contains("User \"system:anonymous\" cannot list"), "{}", e.message);
        let e = rbac.identity(None, Some("system:admin"), &[]).unwrap_err();
        assert!(e.code == 403 && e.message.contains("cannot impersonate"), "{}", e.message);
        assert_eq!(rbac.authorize_discovery(&anonymous, "/api").unwrap_err().code, 403);
        let open = Rbac::load("", false, &[], None).unwrap();
        assert!(open.authorize(&anonymous, &req("delete", "", "secrets", Some("x"))).is_ok(), "no --rbac: open");
    }
}
