//! The output bytes of `rewind render` on the corpus, the example and a
//! generated app, pinned by digest: rendering may get faster (the speed
//! issue), never different. A change here is a change users see in every
//! diff Argo CD shows; if it is intended, say so in the commit and update the pin.

mod common;

use common::{command, corpus, ok, root};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Renders `dir` without recording; the sha256 of what it printed.
fn rendered(dir: &Path, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = command(home.path()).arg("render").arg(dir).args(["--no-record", "--app", "pinned"]).args(args).output();
    hex::encode(Sha256::digest(ok(&out.unwrap())))
}

/// A deterministic app of `units` × (ConfigMap, Secret, Deployment using both, Service), 20 objects a file.
fn synthetic(dir: &Path, units: usize) {
    let mut docs = Vec::new();
    for i in 0..units {
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-{i}\ndata:\n  LEVEL: \"{}\"\n  on: \"yes\"\n",
            i % 7
        ));
        docs.push(format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec-{i}\nstringData:\n  token: t{i}\n"));
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: {}\n  selector:\n    matchLabels: {{app: app-{i}}}\n  \
             template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: c\n        image: registry.example.com/app:{i}\n        \
             envFrom:\n        - configMapRef: {{name: cfg-{i}}}\n        - secretRef: {{name: sec-{i}}}\n",
            i % 3 + 1
        ));
        docs.push(format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports:\n  - port: 80\n    targetPort: 8080\n"
        ));
    }
    for (n, chunk) in docs.chunks(20).enumerate() {
        std::fs::write(dir.join(format!("part-{n:03}.yaml")), chunk.join("---\n")).unwrap();
    }
}

#[test]
fn render_output_is_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let generated = tmp.path().join("synthetic");
    std::fs::create_dir(&generated).unwrap();
    synthetic(&generated, 250);
    let argocd = corpus("argocd-install");
    let boutique = corpus("online-boutique");
    let guestbook = root().join("examples/guestbook");
    let got = [
        ("argocd-install", rendered(&argocd, &[])),
        ("argocd-install suffix", rendered(&argocd, &["--hash-mode", "suffix"])),
        ("argocd-install json", rendered(&argocd, &["-o", "json"])),
        ("online-boutique", rendered(&boutique, &[])),
        ("guestbook", rendered(&guestbook, &[])),
        ("guestbook suffix", rendered(&guestbook, &["--hash-mode", "suffix"])),
        ("synthetic 1000", rendered(&generated, &[])),
        ("synthetic 1000 suffix", rendered(&generated, &["--hash-mode", "suffix"])),
    ];
    let pinned = std::fs::read_to_string(root().join("tests/output_pins.txt")).unwrap();
    let pinned: Vec<(&str, &str)> =
        pinned.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).filter_map(|l| l.rsplit_once(' ')).collect();
    let now: Vec<String> = got.iter().map(|(name, digest)| format!("{name} {digest}")).collect();
    assert_eq!(
        got.iter().map(|(n, d)| (*n, d.as_str())).collect::<Vec<_>>(),
        pinned,
        "render output changed; if intended, tests/output_pins.txt becomes:\n{}",
        now.join("\n")
    );
}
