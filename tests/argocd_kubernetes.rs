//! `rewind generate` against the Kubernetes store on the project's test API
//! server, checked with kubectl as an independent client.

mod common;
use base64::Engine;
use common::apiserver::ApiServer;
use common::*;
use serde_json::Value;

const NS: &str = "rewind";

fn env<'a>(server: &'a ApiServer, url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut e = vec![
        ("ARGOCD_APP_NAME", "guestbook"),
        ("ARGOCD_APP_NAMESPACE", "guestbook"),
        ("REWIND_STORE", url),
        ("KUBECONFIG", server.kubeconfig().to_str().unwrap()),
    ];
    e.extend_from_slice(extra);
    e
}

fn kubectl_json(server: &ApiServer, args: &[&str]) -> Value {
    let out = server.kubectl(args);
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn payload(secret: &Value) -> Vec<u8> {
    let b64 = secret["data"]["manifest.zst"].as_str().expect("inline payload");
    let compressed = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    zstd::decode_all(compressed.as_slice()).unwrap()
}

#[test]
fn releases_are_secrets_that_kubectl_can_read() {
    let server = ApiServer::start(&[]);
    let url = format!("kubernetes://{NS}");
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    let mut printed = Vec::new();
    for level in ["info", "debug", "warn"] {
        set_log_level(&app, level);
        printed.push(ok(&cmp_generate(&app, tmp.path(), &env(&server, &url, &[("ARGOCD_APP_REVISION", level)]))));
    }
    let rolled = ok(&cmp_generate(&app, tmp.path(), &env(&server, &url, &[("ARGOCD_ENV_REWIND_ROLLBACK_TO", "1")])));
    assert_eq!(rolled, printed[0]);

    let list = kubectl_json(&server, &["get", "secrets", "-n", NS, "-l", "rewind.dev/app=guestbook", "-o", "json"]);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "three generates and a rollback");
    for rev in 1..=4 {
        let rev = rev.to_string();
        let name = format!("rewind.guestbook.v{rev}");
        let s =
            items.iter().find(|s| s["metadata"]["name"] == name.as_str()).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s["type"], "rewind.dev/release.v1");
        let labels = &s["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "rewind");
        assert_eq!(labels["rewind.dev/app"], "guestbook");
        assert_eq!(labels["rewind.dev/revision"], rev.as_str());
        assert_eq!(labels["rewind.dev/status"], "pending");
        assert!(s["metadata"]["annotations"]["rewind.dev/digest"].as_str().unwrap().starts_with("sha256:"));
    }
    let by_rev = |r: &str| items.iter().find(|s| s["metadata"]["labels"]["rewind.dev/revision"] == r).unwrap();
    for (i, manifest) in printed.iter().enumerate() {
        assert_eq!(&payload(by_rev(&(i + 1).to_string())), manifest, "stored payload decodes to the printed manifest");
    }
    assert_eq!(payload(by_rev("4")), printed[0]);
    assert_eq!(by_rev("4")["metadata"]["annotations"]["rewind.dev/rollback-of"], "1");
    assert_eq!(by_rev("2")["metadata"]["annotations"]["rewind.dev/git-revision"], "debug");

    // The people's commands work on the same store; kubectl sees the status change.
    let kube_env = |cmd: &mut std::process::Command| {
        cmd.env("KUBECONFIG", server.kubeconfig()).env("REWIND_STORE", &url);
    };
    let mut mark = command(tmp.path());
    kube_env(&mut mark);
    ok(&mark.args(["mark", "guestbook", "2", "--status", "deployed"]).output().unwrap());
    let s = kubectl_json(&server, &["get", "secret", "rewind.guestbook.v2", "-n", NS, "-o", "json"]);
    assert_eq!(s["metadata"]["labels"]["rewind.dev/status"], "deployed");
    let mut history = command(tmp.path());
    kube_env(&mut history);
    let table = String::from_utf8(ok(&history.args(["history", "guestbook"]).output().unwrap())).unwrap();
    assert_eq!(table.lines().count(), 5, "{table}");
}

#[test]
fn sixteen_concurrent_generates_on_the_kubernetes_store() {
    let server = ApiServer::start(&[]);
    let url = format!("kubernetes://{NS}");
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let (app, home, kubeconfig, url) =
                (app.clone(), tmp.path().to_path_buf(), server.kubeconfig().to_path_buf(), url.clone());
            std::thread::spawn(move || {
                let tag = format!("t{i}");
                let env = [
                    ("ARGOCD_APP_NAME", "guestbook"),
                    ("REWIND_STORE", url.as_str()),
                    ("KUBECONFIG", kubeconfig.to_str().unwrap()),
                    ("ARGOCD_ENV_IMAGE_TAG", tag.as_str()),
                ];
                cmp_generate(&app, &home, &env)
            })
        })
        .collect();
    for h in handles {
        ok(&h.join().unwrap());
    }
    let list = kubectl_json(
        &server,
        &["get", "secrets", "-n", NS, "-l", "rewind.dev/app=guestbook,rewind.dev/role=release", "-o", "json"],
    );
    let mut revs: Vec<u64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["labels"]["rewind.dev/revision"].as_str().unwrap().parse().unwrap())
        .collect();
    revs.sort();
    assert_eq!(revs, (7..=16).collect::<Vec<_>>(), "16 contiguous revisions, pruned to the newest 10");
}

#[test]
fn quota_forbidden_fail_and_warn() {
    let server = ApiServer::start(&["--secret-quota", "1"]);
    let url = format!("kubernetes://{NS}");
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    ok(&cmp_generate(&app, tmp.path(), &env(&server, &url, &[])));
    set_log_level(&app, "debug");
    fails(
        &cmp_generate(&app, tmp.path(), &env(&server, &url, &[])),
        &["forbidden", "exceeded quota", "secrets in namespace rewind"],
    );

    let out = cmp_generate(&app, tmp.path(), &env(&server, &url, &[("REWIND_ON_STORE_ERROR", "warn")]));
    let printed = String::from_utf8(ok(&out)).unwrap();
    assert!(printed.contains("LOG_LEVEL: debug"), "warn prints the manifest");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not recorded"));
    let events = kubectl_json(&server, &["get", "events", "-n", NS, "-o", "json"]);
    let reasons: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.contains(&"RollbackStoreFailed"), "{events}");
}

#[test]
fn unreachable_api_server_fail_and_warn() {
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = ApiServer::start(&[]).stop_keeping_kubeconfig(tmp.path());
    let app = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    let base = [
        ("ARGOCD_APP_NAME", "guestbook"),
        ("REWIND_STORE", "kubernetes://rewind"),
        ("KUBECONFIG", kubeconfig.to_str().unwrap()),
    ];
    fails(&cmp_generate(&app, tmp.path(), &base), &["cannot reach the Kubernetes API"]);
    let mut warn = base.to_vec();
    warn.push(("REWIND_ON_STORE_ERROR", "warn"));
    assert!(!ok(&cmp_generate(&app, tmp.path(), &warn)).is_empty());
    // A rollback needs the store whatever the policy.
    warn.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "1"));
    fails(&cmp_generate(&app, tmp.path(), &warn), &["cannot reach the Kubernetes API"]);
}

#[test]
fn stored_size_is_at_most_a_fifth_of_the_manifest() {
    let server = ApiServer::start(&[]);
    let url = format!("kubernetes://{NS}");
    for (file, name) in
        [("argocd-install/install.yaml", "argocd"), ("online-boutique/kubernetes-manifests.yaml", "boutique")]
    {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join(name);
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy(corpus(file), app.join("m.yaml")).unwrap();
        let e = [
            ("ARGOCD_APP_NAME", name),
            ("REWIND_STORE", url.as_str()),
            ("KUBECONFIG", server.kubeconfig().to_str().unwrap()),
        ];
        let manifest = ok(&cmp_generate(&app, tmp.path(), &e));
        let s = kubectl_json(&server, &["get", "secret", &format!("rewind.{name}.v1"), "-n", NS, "-o", "json"]);
        let stored: usize = s["data"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap().len())
            .sum();
        assert!(stored * 5 <= manifest.len(), "{file}: stored {stored} bytes for a {}-byte manifest", manifest.len());
    }
}
