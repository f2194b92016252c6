//! The Argo CD install overlay and the controller manifests build with
//! `kubectl kustomize`, validate against the Kubernetes schemas, and carry
//! what the sidecar and `rewind serve` need, with least-privilege RBAC.

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

/// `kubectl kustomize manifests/<dir>`: the text and its documents.
fn build(dir: &str) -> (String, Vec<Value>) {
    let out = Command::new("kubectl")
        .args(["kustomize", &root().join("manifests").join(dir).display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl kustomize manifests/{dir}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = docs(text.as_bytes());
    (text, docs)
}

/// Validates a manifest stream against the Kubernetes 1.33 schemas.
fn validate(text: String) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("manifests.yaml");
    std::fs::write(&file, text).unwrap();
    // The PyPI package, installed by .ci/run; run as a module so no PATH shim is needed.
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--quiet", "--strict", "-k", "1.33.0"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("No module named"),
        "pip install kubernetes-validate (.ci/run does)"
    );
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A container's env as (name, value) pairs.
fn env_of(container: &Value) -> Vec<(&str, &str)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing"))
}

#[test]
fn overlay_builds_and_validates_against_the_schemas() {
    validate(build("argocd").0);
}

#[test]
fn sidecar_rbac_and_plugin_config() {
    let (_, docs) = build("argocd");
    let deploy = find(&docs, "Deployment", "argocd-repo-server");
    let spec = &deploy["spec"]["template"]["spec"];
    assert_eq!(spec["automountServiceAccountToken"], false, "the repo-server itself keeps no token");
    let containers = spec["containers"].as_array().unwrap();
    let sidecar = containers.iter().find(|c| c["name"] == "rewind").expect("rewind sidecar");
    assert_eq!(sidecar["command"][0], "/var/run/argocd/argocd-cmp-server");
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"], true);
    assert_eq!(sidecar["securityContext"]["runAsUser"], 999);
    let mounts: Vec<&str> =
        sidecar["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    for path in [
        "/var/run/argocd",
        "/home/argocd/cmp-server/plugins",
        "/home/argocd/cmp-server/config/plugin.yaml",
        "/tmp",
        "/etc/rewind",
        "/var/run/secrets/kubernetes.io/serviceaccount",
    ] {
        assert!(mounts.contains(&path), "sidecar lacks a mount at {path}");
    }
    let repo_server = containers.iter().find(|c| c["name"] == "argocd-repo-server").unwrap();
    assert!(
        !repo_server["volumeMounts"].as_array().unwrap().iter().any(|m| m["name"] == "rewind-token"),
        "only the sidecar gets the token"
    );
    let volumes: Vec<&str> = spec["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    for v in ["var-files", "plugins", "cmp-tmp", "rewind-cmp-plugin", "rewind-renderers", "rewind-token"] {
        assert!(volumes.contains(&v), "volume {v} missing");
    }
    let env = env_of(sidecar);
    assert!(env.contains(&("REWIND_STORE", "kubernetes://rewind")));
    assert!(env.contains(&("REWIND_RENDERERS_FILE", "/etc/rewind/renderers.yaml")));
    // The shipped image has no renderer, so the shipped config offers none; it must parse.
    let renderers = find(&docs, "ConfigMap", "rewind-renderers")["data"]["renderers.yaml"].as_str().unwrap();
    let parsed =
        rewind::render::Renderers::parse(renderers, std::path::Path::new("/etc/rewind/renderers.yaml")).unwrap();
    assert!(parsed.names().is_empty(), "offer a renderer only with a pinned binary in the image");

    let cm = find(&docs, "ConfigMap", "rewind-cmp-plugin");
    assert_eq!(
        cm["data"]["plugin.yaml"].as_str().unwrap(),
        std::fs::read_to_string(root().join("plugin.yaml")).unwrap()
    );

    let role = find(&docs, "Role", "rewind-release-store");
    assert_eq!(role["metadata"]["namespace"], "rewind", "releases live outside Argo CD's namespace");
    let resources: Vec<&str> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["secrets", "events"], "least privilege: Secrets and Events only");
    let binding = find(&docs, "RoleBinding", "rewind-release-store");
    assert_eq!(binding["subjects"][0]["name"], "argocd-repo-server");
    assert_eq!(binding["subjects"][0]["namespace"], "argocd");
    assert!(
        !docs.iter().any(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"].as_str().unwrap().contains("rewind"))
    );
}

fn rules(role: &Value) -> Vec<(String, Vec<String>)> {
    let strings = |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect::<Vec<_>>();
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| strings(&r["resources"]).into_iter().map(move |res| (res, strings(&r["verbs"]))))
        .collect()
}

#[test]
fn controller_manifests_validate_and_grant_least_privilege() {
    let (text, docs) = build("controller");
    validate(text);

    let deploy = find(&docs, "Deployment", "rewind-controller");
    assert_eq!(deploy["metadata"]["namespace"], "rewind");
    let spec = &deploy["spec"]["template"]["spec"];
    assert_eq!(spec["serviceAccountName"], "rewind-controller");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    let c = &spec["containers"][0];
    assert_eq!(c["args"][0], "serve");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let env = env_of(c);
    assert!(env.contains(&("REWIND_STORE", "kubernetes://rewind")), "the store the sidecar records into");

    let cluster = find(&docs, "ClusterRole", "rewind-controller");
    assert_eq!(
        rules(cluster),
        [
            ("applications".to_string(), ["get", "list", "watch", "patch"].map(String::from).to_vec()),
            ("events".to_string(), vec!["create".to_string()]),
        ],
        "cluster-wide: Applications and Events only, never Secrets"
    );
    let role = find(&docs, "Role", "rewind-controller-releases");
    assert_eq!(role["metadata"]["namespace"], "rewind", "Secrets only in the release namespace");
    assert_eq!(rules(role), [("secrets".to_string(), ["get", "list", "update"].map(String::from).to_vec())]);
    for binding in [
        find(&docs, "ClusterRoleBinding", "rewind-controller"),
        find(&docs, "RoleBinding", "rewind-controller-releases"),
    ] {
        assert_eq!(binding["subjects"][0]["name"], "rewind-controller");
        assert_eq!(binding["subjects"][0]["namespace"], "rewind");
    }
    let service = find(&docs, "Service", "rewind-controller");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn namespaced_controller_has_no_cluster_wide_rights() {
    let (text, docs) = build("controller-namespaced");
    validate(text);
    assert!(!docs.iter().any(|d| d["kind"] == "ClusterRole" || d["kind"] == "ClusterRoleBinding"));
    let role = find(&docs, "Role", "rewind-controller");
    assert_eq!(role["metadata"]["namespace"], "argocd");
    assert_eq!(
        rules(role),
        [
            ("applications".to_string(), ["get", "list", "watch", "patch"].map(String::from).to_vec()),
            ("events".to_string(), vec!["create".to_string()]),
        ]
    );
    let c = &find(&docs, "Deployment", "rewind-controller")["spec"]["template"]["spec"]["containers"][0];
    let env = env_of(c);
    assert!(env.contains(&("REWIND_NAMESPACES", "argocd")), "watches exactly the namespaces it may patch in");
}

/// manifests/flux: the CRD generated from the Rust types (and current), a
/// Deployment that serves Flux, the artifact Service its URLs name, and a
/// NetworkPolicy that lets kustomize-controller fetch.
#[test]
fn flux_manifests_validate_and_match_the_code() {
    let (text, docs) = build("flux");
    validate(text);
    let crd_file = std::fs::read_to_string(root().join("manifests/flux/crd.yaml")).unwrap();
    assert_eq!(crd_file, rewind::flux::crd_yaml(), "regenerate: cargo run --example crdgen > manifests/flux/crd.yaml");
    let crd = find(&docs, "CustomResourceDefinition", "rewindsources.rewind.dev");
    let version = &crd["spec"]["versions"][0];
    assert_eq!((version["name"].as_str(), crd["spec"]["scope"].as_str()), (Some("v1alpha1"), Some("Namespaced")));
    assert!(version["subresources"]["status"].is_object(), "status is written through /status");
    let columns: Vec<&str> =
        version["additionalPrinterColumns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["Ready", "Served", "Last-Good", "Source", "Age"]);

    let deploy = find(&docs, "Deployment", "rewind-flux");
    assert_eq!(deploy["metadata"]["namespace"], "flux-system", "beside Flux, inside its network policies");
    let spec = &deploy["spec"]["template"]["spec"];
    assert_eq!(
        (spec["serviceAccountName"].as_str(), spec["securityContext"]["runAsNonRoot"].as_bool()),
        (Some("rewind-flux"), Some(true))
    );
    let c = &spec["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(
        c["volumeMounts"].as_array().unwrap().iter().any(|m| m["mountPath"] == "/tmp"),
        "source artifacts unpack in /tmp"
    );
    let env = env_of(c);
    for pair in [
        ("REWIND_INTEGRATIONS", "flux"),
        ("REWIND_STORE", "kubernetes://flux-system"),
        ("REWIND_ARTIFACT_LISTEN", "0.0.0.0:9090"),
        ("REWIND_NO_CROSS_NAMESPACE_REFS", "true"),
    ] {
        assert!(env.contains(&pair), "{pair:?} in {env:?}");
    }
    let service = find(&docs, "Service", "rewind-artifacts");
    let base = env.iter().find(|(k, _)| *k == "REWIND_ARTIFACT_BASE_URL").unwrap().1;
    let port = service["spec"]["ports"].as_array().unwrap().iter().find(|p| p["name"] == "artifacts").unwrap();
    assert_eq!(base, format!("http://rewind-artifacts.flux-system.svc.cluster.local.:{}", port["port"]));
    assert_eq!(port["targetPort"], "artifacts");

    let policy = find(&docs, "NetworkPolicy", "rewind-flux");
    let fetchers = &policy["spec"]["ingress"][0];
    assert_eq!(fetchers["from"][0]["podSelector"]["matchLabels"]["app"], "kustomize-controller");
    assert_eq!(fetchers["ports"][0]["port"], 9090);
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"], deploy["spec"]["selector"]["matchLabels"]);

    let role = find(&docs, "Role", "rewind-flux-releases");
    assert_eq!(role["metadata"]["namespace"], "flux-system", "Secrets only in the store namespace");
    assert_eq!(rules(role).iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), ["secrets"]);
    let cluster = rules(find(&docs, "ClusterRole", "rewind-flux"));
    assert!(!cluster.iter().any(|(r, _)| r == "secrets"), "never Secrets cluster-wide");
}
