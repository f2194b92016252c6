//! People pin an Argo CD Application to a release and clear the pin again;
//! `generate`, run with the env Argo CD would pass from that Application,
//! prints the pinned release byte for byte.

mod common;
use common::apiserver::ApiServer;
use common::*;
use serde_json::{Value, json};
use std::path::Path;

fn apply(server: &ApiServer, obj: &Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), obj.to_string()).unwrap();
    let out = server.kubectl(&["apply", "--validate=false", "-f", file.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn application(server: &ApiServer, name: &str) -> Value {
    let out = server.kubectl(&["get", "applications", name, "-n", "argocd", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `rewind ARGS` against the test server: KUBECONFIG for Applications, the Secret store for releases.
fn rewind_k(server: &ApiServer, home: &Path, args: &[&str]) -> std::process::Output {
    command(home)
        .env("KUBECONFIG", server.kubeconfig())
        .env("REWIND_STORE", "kubernetes://rewind")
        .args(args)
        .output()
        .unwrap()
}

/// Runs generate with the environment Argo CD derives from the Application's rewind source.
fn generate_for(server: &ApiServer, app_dir: &Path, home: &Path, app: &Value, plugin: &str) -> Vec<u8> {
    let env = plugin_env_vars(app, plugin);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let kubeconfig = server.kubeconfig().to_str().unwrap().to_string();
    all.extend([
        ("ARGOCD_APP_NAME", "guestbook"),
        ("REWIND_STORE", "kubernetes://rewind"),
        ("KUBECONFIG", kubeconfig.as_str()),
    ]);
    ok(&cmp_generate(app_dir, home, &all))
}

fn guestbook_app(sources: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "guestbook", "namespace": "argocd"},
           "spec": sources})
}

#[test]
fn pin_generate_status_and_clear() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &dir);
    apply(
        &server,
        &guestbook_app(json!({"source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook",
        "plugin": {"name": "rewind-v1", "env": [{"name": "IMAGE_TAG", "value": "v7"}]}}})),
    );
    let plugin = "/spec/source/plugin";

    let v1 = generate_for(&server, &dir, tmp.path(), &application(&server, "guestbook"), plugin);
    assert!(String::from_utf8_lossy(&v1).contains("gb-frontend:v7"));
    set_log_level(&dir, "debug");
    let v2 = generate_for(&server, &dir, tmp.path(), &application(&server, "guestbook"), plugin);
    assert_ne!(v1, v2);

    // A dry run shows what would change and patches nothing.
    let before = application(&server, "guestbook");
    let dry = rewind_k(
        &server,
        tmp.path(),
        &["rollback", "guestbook", "--to", "previous", "--application", "argocd/guestbook", "--dry-run"],
    );
    assert!(String::from_utf8(ok(&dry)).unwrap().contains("+  LOG_LEVEL: info"));
    assert_eq!(application(&server, "guestbook")["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);

    // Pin: only REWIND_ROLLBACK_TO is added, the other env entry stays.
    let out = rewind_k(
        &server,
        tmp.path(),
        &["rollback", "guestbook", "--to", "previous", "--application", "argocd/guestbook"],
    );
    assert!(ok(&out).is_empty());
    let pinned = application(&server, "guestbook");
    assert_eq!(
        pinned.pointer("/spec/source/plugin/env").unwrap(),
        &json!([{"name": "IMAGE_TAG", "value": "v7"}, {"name": "REWIND_ROLLBACK_TO", "value": "1"}])
    );
    assert_eq!(generate_for(&server, &dir, tmp.path(), &pinned, plugin), v1, "the pinned release, byte for byte");

    let status =
        String::from_utf8(ok(&rewind_k(&server, tmp.path(), &["status", "--application", "argocd/guestbook"])))
            .unwrap();
    assert!(status.contains("pinned:       1 (REWIND_ROLLBACK_TO)"), "{status}");
    assert!(status.contains("latest:       3 (pending, rollback of 1)"), "{status}");

    // Clear: exactly the pin goes; Git's head deploys again.
    ok(&rewind_k(&server, tmp.path(), &["rollback", "--clear", "--application", "argocd/guestbook"]));
    let cleared = application(&server, "guestbook");
    assert_eq!(cleared.pointer("/spec/source/plugin/env").unwrap(), &json!([{"name": "IMAGE_TAG", "value": "v7"}]));
    assert_eq!(generate_for(&server, &dir, tmp.path(), &cleared, plugin), v2);
    let again = rewind_k(&server, tmp.path(), &["rollback", "--clear", "--application", "argocd/guestbook"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("was not pinned"));
}

#[test]
fn multi_source_applications_and_errors() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &dir);
    apply(
        &server,
        &guestbook_app(json!({"sources": [
        {"repoURL": "https://charts.example.com", "chart": "redis", "helm": {}},
        {"repoURL": "https://git.example.com/apps.git", "path": "guestbook", "plugin": {}}]})),
    );
    generate_for(&server, &dir, tmp.path(), &application(&server, "guestbook"), "/spec/sources/1/plugin");
    ok(&rewind_k(&server, tmp.path(), &["rollback", "guestbook", "--to", "1", "--application", "argocd/guestbook"]));
    let app = application(&server, "guestbook");
    assert_eq!(
        app.pointer("/spec/sources/1/plugin/env").unwrap(),
        &json!([{"name": "REWIND_ROLLBACK_TO", "value": "1"}])
    );
    assert!(app.pointer("/spec/sources/0/plugin").is_none(), "the other source is untouched");

    fails(
        &rewind_k(&server, tmp.path(), &["rollback", "guestbook", "--to", "9", "--application", "argocd/guestbook"]),
        &["PreviousRevisionUnavailable"],
    );
    fails(
        &rewind_k(&server, tmp.path(), &["rollback", "guestbook", "--to", "1", "--application", "argocd/missing"]),
        &["argocd/missing", "not found"],
    );
    fails(
        &rewind_k(&server, tmp.path(), &["rollback", "guestbook", "--to", "1", "--application", "guestbook"]),
        &["NAMESPACE/NAME"],
    );
    let mut plain = guestbook_app(json!({"source": {"repoURL": "https://git.example.com/apps.git", "path": "x"}}));
    plain["metadata"]["name"] = json!("plain");
    apply(&server, &plain);
    fails(
        &rewind_k(&server, tmp.path(), &["rollback", "guestbook", "--to", "1", "--application", "argocd/plain"]),
        &["no source that uses the rewind plugin"],
    );
}

/// `rollback --application` runs the rollback checks before it writes the pin,
/// with the cluster's API versions from its discovery (or `--kube-api-versions`).
#[test]
fn a_pin_is_checked_against_what_the_cluster_serves() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &dir);
    std::fs::write(
        dir.join("pdb.yaml"),
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: frontend\nspec:\n  minAvailable: 1\n",
    )
    .unwrap();
    apply(
        &server,
        &guestbook_app(json!({"source": {"repoURL": "https://git.example.com/apps.git", "path": "guestbook",
        "plugin": {"name": "rewind-v1"}}})),
    );
    let plugin = "/spec/source/plugin";
    generate_for(&server, &dir, tmp.path(), &application(&server, "guestbook"), plugin);
    std::fs::remove_file(dir.join("pdb.yaml")).unwrap();
    generate_for(&server, &dir, tmp.path(), &application(&server, "guestbook"), plugin);
    let before = application(&server, "guestbook");

    // Discovery lists policy/v1 only: release 1's PodDisruptionBudget cannot be applied again.
    let pin = ["rollback", "guestbook", "--to", "1", "--application", "argocd/guestbook"];
    fails(
        &rewind_k(&server, tmp.path(), &pin),
        &["RollbackRefused", "PodDisruptionBudget/frontend uses policy/v1beta1", "the API server's discovery"],
    );
    assert_eq!(application(&server, "guestbook")["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
    let dry = rewind_k(&server, tmp.path(), &[&pin[..], &["--dry-run"]].concat());
    fails(&dry, &["# check api-versions: refuse"]);

    // A list that serves it (as a person may know better) lets the pin through.
    let served = "v1,apps/v1,batch/v1,policy/v1beta1";
    ok(&rewind_k(&server, tmp.path(), &[&pin[..], &["--kube-api-versions", served]].concat()));
    assert_eq!(application(&server, "guestbook")["spec"]["source"]["plugin"]["env"][0]["value"], "1");
    ok(&rewind_k(&server, tmp.path(), &["rollback", "--clear", "--application", "argocd/guestbook"]));

    // --force and --reason go with the pin; generate (whose KUBE_API_VERSIONS lacks
    // policy/v1beta1) lets it through and records both; --clear takes all three away.
    ok(&rewind_k(&server, tmp.path(), &[&pin[..], &["--force", "--reason", "INC-7: v2 drops orders"]].concat()));
    let app = application(&server, "guestbook");
    let env: Vec<(String, String)> = plugin_env_vars(&app, plugin);
    for (name, value) in [
        ("REWIND_ROLLBACK_TO", "1"),
        ("REWIND_ROLLBACK_FORCE", "true"),
        ("REWIND_ROLLBACK_REASON", "INC-7: v2 drops orders"),
    ] {
        assert!(env.contains(&(format!("ARGOCD_ENV_{name}"), value.to_string())), "{env:?}");
    }
    let printed = generate_for(&server, &dir, tmp.path(), &app, plugin);
    assert!(String::from_utf8_lossy(&printed).contains("kind: PodDisruptionBudget"));
    let out = rewind_k(&server, tmp.path(), &["show", "guestbook", "latest", "--meta"]);
    let meta: Value = serde_json::from_slice(&ok(&out)).unwrap();
    assert_eq!(meta["evidence"]["trigger"], "application-pin");
    assert_eq!(
        (meta["evidence"]["forced"].as_bool(), meta["evidence"]["reason"].as_str()),
        (Some(true), Some("INC-7: v2 drops orders"))
    );
    ok(&rewind_k(&server, tmp.path(), &["rollback", "--clear", "--application", "argocd/guestbook"]));
    assert_eq!(application(&server, "guestbook")["spec"]["source"]["plugin"], json!({"name": "rewind-v1", "env": []}));
}
