//! Rollbacks are checked state transitions, through the binary on the file
//! store: rollback classes (forward-only, windows) and `--force`, the API
//! version check under Argo CD's KUBE_API_VERSIONS, the image policy,
//! skip-on-rollback objects, and the evidence in the record.

mod common;

use common::{cmp_generate, docs, fails, ok, rewind};
use sha2::{Digest, Sha256};
use std::path::Path;

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    \
    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      \
    - name: web\n        image: IMAGE\n";

/// Writes the app's files for one release: a Deployment with `image`, plus `extra` files.
fn write_app(dir: &Path, image: &str, extra: &[(&str, &str)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("web.yaml"), DEPLOYMENT.replace("IMAGE", image)).unwrap();
    for (name, text) in extra {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn render(store: &Path, dir: &Path) -> Vec<u8> {
    ok(&rewind(store, &["render", dir.to_str().unwrap(), "--app", "shop"]))
}

fn history(store: &Path) -> Vec<serde_json::Value> {
    let out = ok(&rewind(store, &["history", "shop", "-o", "json"]));
    serde_json::from_slice::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

#[test]
fn forward_only_releases_and_closed_windows_refuse_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, dir) = (tmp.path().join("store"), tmp.path().join("shop"));
    write_app(&dir, "web:v1", &[]);
    render(&store, &dir);
    let migration = "rollbackClass: forward-only\nrollbackNote: drops the orders.legacy column\n";
    write_app(&dir, "web:v2", &[("rewind.yaml", migration)]);
    render(&store, &dir);
    assert_eq!(history(&store)[1]["class"]["class"], "forward-only");

    for to in ["previous", "1"] {
        fails(
            &rewind(&store, &["rollback", "shop", "--to", to]),
            &["RollbackRefused", "revision 2 is forward-only", "drops the orders.legacy column", "--force"],
        );
    }
    fails(&rewind(&store, &["rollback", "shop", "--to", "1", "--dry-run"]), &["# check class: refuse"]);
    assert_eq!(history(&store).len(), 2, "a refusal records nothing");

    let out = rewind(&store, &["rollback", "shop", "--to", "1", "--force", "--reason", "orders outage INC-42"]);
    let printed = String::from_utf8(ok(&out)).unwrap();
    assert!(printed.contains("image: web:v1"));
    let records = history(&store);
    let evidence = &records[2]["evidence"];
    assert_eq!((evidence["trigger"].as_str(), evidence["forced"].as_bool()), (Some("manual"), Some(true)));
    assert_eq!(evidence["reason"], "orders outage INC-42");
    let class_check = evidence["checks"].as_array().unwrap().iter().find(|c| c["check"] == "class").unwrap();
    assert_eq!(class_check["verdict"], "overridden");
    let table = String::from_utf8(ok(&rewind(&store, &["history", "shop"]))).unwrap();
    assert!(table.contains("TRIGGER") && table.contains("manual (forced)") && table.contains("orders outage INC-42"));
    assert!(table.contains("forward-only"), "{table}");

    // A window: open while it lasts, closed after; counted from the next release.
    let tmp = tempfile::tempdir().unwrap();
    let (store, dir) = (tmp.path().join("store"), tmp.path().join("shop"));
    write_app(&dir, "web:v1", &[("rewind.yaml", "rollbackClass: reversible-with-window\nrollbackWindow: 48h\n")]);
    render(&store, &dir);
    write_app(&dir, "web:v2", &[("rewind.yaml", "rollbackClass: reversible-with-window\nrollbackWindow: 1ns\n")]);
    render(&store, &dir);
    write_app(&dir, "web:v3", &[]);
    render(&store, &dir);
    ok(&rewind(&store, &["rollback", "shop", "--to", "1", "--dry-run"]));
    fails(&rewind(&store, &["rollback", "shop", "--to", "2"]), &["RollbackRefused", "window of revision 2 closed"]);
}

#[test]
fn api_versions_images_and_hooks_under_generate() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, dir) = (tmp.path().join("store"), tmp.path().join("shop"));
    let pdb =
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  minAvailable: 1\n";
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    \
        rewind.dev/skip-on-rollback: \"true\"\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      \
        containers:\n      - name: m\n        image: migrate@sha256:0123\n";
    write_app(&dir, "registry.example.com/web:v1", &[("pdb.yaml", pdb), ("job.yaml", job)]);
    let env = [("ARGOCD_APP_NAME", "shop"), ("ARGOCD_APP_NAMESPACE", "argocd")];
    let first = ok(&cmp_generate(&dir, &store, &env));
    write_app(&dir, "registry.example.com/web:v2", &[]);
    ok(&cmp_generate(&dir, &store, &env));

    let pinned = |extra: &[(&'static str, &'static str)]| {
        let mut all = env.to_vec();
        all.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "1"));
        all.extend_from_slice(extra);
        cmp_generate(&dir, &store, &all)
    };
    // The cluster no longer serves policy/v1beta1: refused, naming the object.
    fails(
        &pinned(&[("KUBE_API_VERSIONS", "v1,apps/v1,batch/v1,policy/v1")]),
        &["RollbackRefused", "PodDisruptionBudget/web uses policy/v1beta1 PodDisruptionBudget"],
    );
    // require-digest refuses the tag-only image; the digest-pinned one is not named.
    let strict = pinned(&[
        ("KUBE_API_VERSIONS", "v1,apps/v1,batch/v1,policy/v1beta1"),
        ("ARGOCD_ENV_REWIND_IMAGE_POLICY", "require-digest"),
    ]);
    let stderr = fails(&strict, &["RollbackRefused", "registry.example.com/web:v1"]);
    assert!(!stderr.contains("migrate@sha256"), "{stderr}");
    assert_eq!(history(&store).len(), 2, "refusals record nothing");

    // Allowed: the tag is named in a warning; the migration Job is left out, all else byte-identical.
    let out = pinned(&[
        ("KUBE_API_VERSIONS", "v1,apps/v1,batch/v1,policy/v1beta1"),
        ("ARGOCD_ENV_REWIND_ROLLBACK_REASON", "v2 breaks checkout"),
    ]);
    let printed = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not pinned by digest") && stderr.contains("registry.example.com/web:v1"), "{stderr}");
    let kinds: Vec<String> = docs(&printed).iter().map(|d| d["kind"].as_str().unwrap().to_string()).collect();
    let before: Vec<String> = docs(&first).iter().map(|d| d["kind"].as_str().unwrap().to_string()).collect();
    assert!(before.contains(&"Job".to_string()) && !kinds.contains(&"Job".to_string()), "{kinds:?}");
    assert_eq!(kinds.len(), before.len() - 1);
    let text = String::from_utf8(printed.clone()).unwrap();
    for doc in String::from_utf8(first.clone()).unwrap().split("---\n").filter(|d| !d.contains("kind: Job")) {
        assert!(text.contains(doc), "not byte-identical: {doc}");
    }
    let records = history(&store);
    let evidence = &records[2]["evidence"];
    assert_eq!(evidence["trigger"], "application-pin");
    assert_eq!(evidence["reason"], "v2 breaks checkout");
    assert_eq!(evidence["skipped"], serde_json::json!(["Job/migrate"]));
    assert_eq!(evidence["printed_digest"], format!("sha256:{}", hex::encode(Sha256::digest(&printed))));
    assert_eq!(records[2]["digest"], records[0]["digest"], "the release keeps the target's bytes");

    // Without KUBE_API_VERSIONS (no runtime state) the API check is skipped, and says so.
    let out = pinned(&[("KUBE_API_VERSIONS", "")]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("KUBE_API_VERSIONS is empty"));
}
