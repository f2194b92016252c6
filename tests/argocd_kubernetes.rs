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

/// `kubectl apply` of a JSON object.
fn kubectl_apply(server: &ApiServer, obj: &Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), obj.to_string()).unwrap();
    let out = server.kubectl(&["apply", "--validate=false", "-f", file.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A Secret that carries guestbook's release labels at `revision`, with `record` as its release.json.
fn planted(name: &str, revision: u64, record: &[u8]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(record);
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "type": "rewind.dev/release.v1",
        "metadata": {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "rewind",
            "rewind.dev/app": "guestbook", "rewind.dev/role": "release", "rewind.dev/revision": revision.to_string()}},
        "data": {"release.json": b64}})
}

/// A corrupt Secret and another app's record under guestbook's labels do not
/// block guestbook: generate goes on, history shows them as damaged, each gets
/// an Event, and a record claiming a huge size is refused before decompressing.
#[test]
fn damaged_and_foreign_secrets_do_not_block_an_app() {
    let server = ApiServer::start(&[]);
    let url = format!("kubernetes://{NS}");
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    let first = ok(&cmp_generate(&app, tmp.path(), &env(&server, &url, &[])));
    kubectl_apply(&server, &planted("rewind.guestbook.v2", 2, b"{not json"));
    let victim = serde_json::json!({"app": "victim", "revision": 9, "status": "deployed", "created": "2026-01-01T00:00:00Z",
        "digest": "sha256:00", "size": 1});
    kubectl_apply(&server, &planted("rewind.victim.v9", 9, victim.to_string().as_bytes()));

    set_log_level(&app, "debug");
    let out = cmp_generate(&app, tmp.path(), &env(&server, &url, &[]));
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rewind.guestbook.v2") && stderr.contains("rewind.victim.v9"), "{stderr}");
    let previous =
        cmp_generate(&app, tmp.path(), &env(&server, &url, &[("ARGOCD_ENV_REWIND_ROLLBACK_TO", "previous")]));
    assert_eq!(ok(&previous), first, "previous skips the damaged revision 2");

    let history = command(tmp.path())
        .env("KUBECONFIG", server.kubeconfig())
        .env("REWIND_STORE", &url)
        .args(["history", "guestbook"])
        .output()
        .unwrap();
    let table = String::from_utf8(ok(&history)).unwrap();
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{table}");
    assert!(
        rows[1].starts_with("2 ") && rows[1].contains("damaged") && rows[1].contains("unreadable release.json"),
        "{table}"
    );
    assert!(rows[3].starts_with("4 "), "the next render took revision 3, then the rollback 4: {table}");
    assert!(rows[4].starts_with("? ") && rows[4].contains("holds a release of app \"victim\""), "{table}");
    let events = kubectl_json(&server, &["get", "events", "-n", NS, "-o", "json"]);
    let damaged: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "ReleaseSecretDamaged")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(damaged.len(), 2, "one Event per damaged Secret, not one per list: {damaged:?}");

    // A record that claims 1 TB: refused by its claim, nothing allocated for it.
    let huge = serde_json::json!({"app": "guestbook", "revision": 20, "status": "pending", "created": "2026-01-01T00:00:00Z",
        "digest": "sha256:00", "size": 1_000_000_000_000u64});
    let mut secret = planted("rewind.guestbook.v20", 20, huge.to_string().as_bytes());
    secret["data"]["manifest.zst"] = Value::String(base64::engine::general_purpose::STANDARD.encode(b"tiny"));
    kubectl_apply(&server, &secret);
    let out = std::process::Command::new("prlimit")
        .args(["--as=2147483648", "--"])
        .arg(bin())
        .env_clear()
        .env("HOME", tmp.path())
        .env("KUBECONFIG", server.kubeconfig())
        .env("REWIND_STORE", &url)
        .args(["show", "guestbook", "20"])
        .output()
        .unwrap();
    fails(&out, &["rewind.guestbook.v20", "1000000000000 bytes", "over the 67108864-byte limit"]);
}

/// Under the old naming, `a_b` was stored as `a-b-<8 hex>`, the very name a
/// DNS-valid app could have. Now two different apps never share Secrets.
#[test]
fn apps_with_colliding_names_stay_apart() {
    use sha2::Digest;
    let server = ApiServer::start(&[]);
    let url = server.store_url(NS);
    let tmp = tempfile::tempdir().unwrap();
    let collider = format!("a-b-{}", &hex::encode(sha2::Sha256::digest(b"a_b"))[..8]);
    let mut printed = Vec::new();
    for (i, app) in ["a_b", collider.as_str()].iter().enumerate() {
        let dir = tmp.path().join(format!("app{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cm.yaml"), format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n"))
            .unwrap();
        let out = command(tmp.path())
            .env("REWIND_STORE", &url)
            .args(["render", dir.to_str().unwrap(), "--app", app])
            .output();
        printed.push(ok(&out.unwrap()));
    }
    for (i, app) in ["a_b", collider.as_str()].iter().enumerate() {
        let out = command(tmp.path()).env("REWIND_STORE", &url).args(["history", app, "-o", "json"]).output().unwrap();
        let list: Vec<Value> = serde_json::from_slice(&ok(&out)).unwrap();
        assert_eq!(list.len(), 1, "{app}: {list:?}");
        let shown = command(tmp.path()).env("REWIND_STORE", &url).args(["show", app, "1"]).output().unwrap();
        assert_eq!(ok(&shown), printed[i], "{app} reads its own release");
    }
    let names = kubectl_json(&server, &["get", "secrets", "-n", NS, "-o", "json"]);
    let mut names: Vec<&str> =
        names["items"].as_array().unwrap().iter().map(|s| s["metadata"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, [format!("rewind.{collider}.v1").as_str(), "rewind.x--a-1b.v1"]);
}
