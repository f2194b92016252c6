//! Envelope encryption through the binary: `--encryption-key-file` /
//! `REWIND_ENCRYPTION_KEY_FILE` on the file and Kubernetes stores, rotation
//! with `rewind rekey`, clear failures, and key material shown nowhere.

mod common;

use base64::Engine as _;
use common::apiserver::ApiServer;
use common::{cmp_generate, command, fails, ok};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const PASSWORD: &str = "s3cr3t-password-in-the-app";

fn random_key() -> String {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A key file as the README shows it, mode 0600 like a mounted Secret.
fn key_file(dir: &Path, name: &str, keys: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let list: Vec<String> = keys.iter().map(|(id, key)| format!("  - {{id: {id}, key: {key}}}\n")).collect();
    std::fs::write(&path, format!("keys:\n{}", list.concat())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn app_dir(dir: &Path, version: u32) -> PathBuf {
    let app = dir.join("shop");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {PASSWORD}-{version}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  \
             template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        \
             image: nginx\n        envFrom:\n        - secretRef: {{name: db}}\n"
        ),
    )
    .unwrap();
    app
}

/// `rewind ARGS` on `store`, with the key file when given.
fn run(home: &Path, store: &str, keys: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = command(home);
    cmd.env("REWIND_STORE", store);
    if let Some(keys) = keys {
        cmd.env("REWIND_ENCRYPTION_KEY_FILE", keys);
    }
    cmd.args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn file_store_encrypts_rotates_and_never_shows_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("file://{}", tmp.path().join("store").display());
    let (k1, k2) = (random_key(), random_key());
    let only_k1 = key_file(tmp.path(), "k1.yaml", &[("k1", &k1)]);
    let rotated = key_file(tmp.path(), "rotated.yaml", &[("k2", &k2), ("k1", &k1)]);
    let only_k2 = key_file(tmp.path(), "k2.yaml", &[("k2", &k2)]);
    let mut seen = Vec::new();
    let mut rewind = |keys: Option<&Path>, args: &[&str]| {
        let out = run(tmp.path(), &store, keys, args);
        seen.push(text(&out));
        out
    };

    let app = app_dir(tmp.path(), 1);
    let app = app.to_str().unwrap();
    let printed = ok(&rewind(Some(&only_k1), &["render", app]));
    assert!(String::from_utf8_lossy(&printed).contains(PASSWORD), "the manifest itself is printed as rendered");
    for file in std::fs::read_dir(tmp.path().join("store/shop")).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(PASSWORD));
    }
    let history = String::from_utf8(ok(&rewind(None, &["history", "shop"]))).unwrap();
    assert!(history.contains("ENCRYPTED") && history.contains("key k1"), "{history}");
    let meta: serde_json::Value =
        serde_json::from_slice(&ok(&rewind(Some(&only_k1), &["show", "shop", "1", "--meta"]))).unwrap();
    assert_eq!(meta["encryption"], serde_json::json!({"algorithm": "AES-256-GCM", "key_id": "k1"}));
    assert_eq!(ok(&rewind(Some(&only_k1), &["show", "shop", "1"])), printed);

    // Without the key file, or with a file lacking the key: clear errors, empty stdout.
    fails(
        &rewind(None, &["show", "shop", "1"]),
        &["release 1 of app \"shop\" is encrypted (key \"k1\")", "REWIND_ENCRYPTION_KEY_FILE"],
    );
    fails(
        &rewind(Some(&only_k2), &["show", "shop", "latest"]),
        &["key \"k1\", which the key file", "k2.yaml does not list"],
    );
    let broken = tmp.path().join("broken.yaml");
    std::fs::write(&broken, format!("keys:\n  - {{id: k1, key: {}}}\n", &k1[..30])).unwrap();
    fails(&rewind(Some(&broken), &["history", "shop"]), &["broken.yaml", "not the base64 of 32 bytes"]);

    // Rotation: the new key first; old releases still read; rekey moves them to it.
    let app = app_dir(tmp.path(), 2);
    ok(&rewind(Some(&rotated), &["render", app.to_str().unwrap()]));
    let listed: serde_json::Value =
        serde_json::from_slice(&ok(&rewind(None, &["history", "shop", "-o", "json"]))).unwrap();
    let ids: Vec<&str> =
        listed.as_array().unwrap().iter().map(|m| m["encryption"]["key_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["k1", "k2"]);
    assert!(!listed.to_string().contains("wrapped_key"));
    let rekeyed = String::from_utf8(ok(&rewind(Some(&rotated), &["rekey", "shop"]))).unwrap();
    assert!(rekeyed.contains("1 release(s) re-wrapped") && rekeyed.contains("already under it (2)"), "{rekeyed}");
    for revision in ["1", "2"] {
        let shown = String::from_utf8(ok(&rewind(Some(&only_k2), &["show", "shop", revision]))).unwrap();
        assert!(shown.contains(&format!("{PASSWORD}-{revision}")));
    }
    fails(&rewind(None, &["rekey", "shop"]), &["rekey needs the key file"]);

    for output in &seen {
        assert!(
            !output.contains(&k1) && !output.contains(&k2) && !output.contains(&k1[..30]),
            "key material shown: {output}"
        );
    }
}

#[test]
fn kubernetes_store_holds_only_ciphertext() {
    let tmp = tempfile::tempdir().unwrap();
    let server = ApiServer::start(&[]);
    let store = server.store_url("rewind");
    let keys = key_file(tmp.path(), "keys.yaml", &[("k1", &random_key())]);
    let app = app_dir(tmp.path(), 1);
    ok(&run(tmp.path(), &store, Some(&keys), &["render", app.to_str().unwrap()]));
    ok(&run(tmp.path(), &store, None, &["render", app.to_str().unwrap(), "--app", "plain"]));

    // kubectl reads every release Secret: the app's password appears in the plain app's
    // payload once decompressed, and nowhere in the encrypted one's.
    let out = server.kubectl(&["get", "secrets", "-n", "rewind", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&ok(&out)).unwrap();
    let mut found = std::collections::BTreeMap::new();
    for secret in list["items"].as_array().unwrap() {
        let app = secret["metadata"]["annotations"]["rewind.dev/app-name"].as_str().unwrap().to_string();
        for value in secret["data"].as_object().unwrap().values() {
            let bytes = base64::engine::general_purpose::STANDARD.decode(value.as_str().unwrap()).unwrap();
            let opened = zstd::decode_all(&bytes[..]).unwrap_or_default();
            let clear = [bytes, opened].iter().any(|b| String::from_utf8_lossy(b).contains(PASSWORD));
            *found.entry(app.clone()).or_insert(false) |= clear;
        }
        if app == "shop" {
            assert_eq!(secret["metadata"]["annotations"]["rewind.dev/encryption"], "AES-256-GCM (key k1)");
        }
    }
    assert_eq!(found, [("plain".to_string(), true), ("shop".to_string(), false)].into());
    let shown = ok(&run(tmp.path(), &store, Some(&keys), &["show", "shop", "1"]));
    assert!(String::from_utf8_lossy(&shown).contains(PASSWORD));
}

#[test]
fn generate_reminds_that_the_file_store_is_unencrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app_dir(tmp.path(), 1);
    let store = tmp.path().join("store");
    let env = [("ARGOCD_APP_NAME", "shop"), ("ARGOCD_APP_NAMESPACE", "argocd")];
    let plain = cmp_generate(&app, &store, &env);
    ok(&plain);
    assert!(
        String::from_utf8_lossy(&plain.stderr)
            .contains("stored unencrypted; back the directory with an encrypted volume")
    );
    let keys = key_file(tmp.path(), "keys.yaml", &[("k1", &random_key())]);
    let keys = keys.to_str().unwrap();
    let encrypted = cmp_generate(&app, &store, &[env[0], env[1], ("REWIND_ENCRYPTION_KEY_FILE", keys)]);
    ok(&encrypted);
    assert!(!String::from_utf8_lossy(&encrypted.stderr).contains("unencrypted"));
}
