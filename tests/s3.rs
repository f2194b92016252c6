//! The S3 store through the binary, against moto_server behind the test
//! front: sixteen concurrent `generate`s, SSE-S3 and SSE-KMS on every write,
//! a write refused for its SSE settings under both store-error policies,
//! throttling retried, and an outage bounded by `--store-timeout`.

mod common;

use common::apiserver::ApiServer;
use common::s3::{BUCKET, S3Server};
use common::{cmp_generate, copy_tree, fails, ok, root};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The Argo CD CMP environment for app `guestbook`, on the S3 store at `url`, plus `extra`.
fn generate(server: &S3Server, app: &Path, url: &str, extra: &[(&str, String)]) -> Output {
    let mut env: Vec<(&str, String)> = server.env();
    env.extend([
        ("ARGOCD_APP_NAME", "guestbook".to_string()),
        ("ARGOCD_APP_NAMESPACE", "argocd".to_string()),
        ("REWIND_STORE", url.to_string()),
    ]);
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    cmp_generate(app, &app.join("../home"), &env)
}

/// `rewind ARGS` on the S3 store at `url`.
fn rewind(server: &S3Server, home: &Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = common::command(home);
    cmd.envs(server.env()).env("REWIND_STORE", url).args(args);
    cmd.output().unwrap()
}

fn guestbook(dir: &Path) -> PathBuf {
    let app = dir.join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    app
}

/// The objects under `url`'s prefix with their SSE headers, as moto keeps them.
fn objects(server: &S3Server, url: &str) -> Vec<serde_json::Value> {
    let prefix = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
    let all = server.control(&format!("objects?bucket={BUCKET}"));
    all.as_array().unwrap().iter().filter(|o| o["key"].as_str().unwrap().starts_with(prefix)).cloned().collect()
}

fn revisions(server: &S3Server, home: &Path, url: &str) -> Vec<u64> {
    let out = rewind(server, home, url, &["history", "guestbook", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&ok(&out)).unwrap();
    list.as_array().unwrap().iter().map(|m| m["revision"].as_u64().unwrap()).collect()
}

#[test]
fn sixteen_concurrent_generates_leave_contiguous_revisions() {
    let server = S3Server::shared();
    let tmp = tempfile::tempdir().unwrap();
    let app = guestbook(tmp.path());
    let url = server.fresh_url();
    let children: Vec<_> = (0..16)
        .map(|i| {
            let (app, url) = (app.clone(), url.clone());
            std::thread::spawn(move || {
                let tag = ("ARGOCD_ENV_IMAGE_TAG", format!("t{i}"));
                generate(S3Server::shared(), &app, &url, &[tag])
            })
        })
        .collect();
    for child in children {
        ok(&child.join().unwrap());
    }
    let home = tmp.path().join("home");
    assert_eq!(revisions(server, &home, &url), (7..=16).collect::<Vec<_>>(), "16 revisions, pruned to the newest 10");
    let keys: Vec<String> = objects(server, &url).iter().map(|o| o["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert!(keys.iter().all(|k| k.contains("/guestbook/v") && k.ends_with(".release")), "{keys:?}");
}

#[test]
fn every_write_carries_the_sse_headers() {
    let server = S3Server::shared();
    let tmp = tempfile::tempdir().unwrap();
    let app = guestbook(tmp.path());
    let home = tmp.path().join("home");

    // The default, SSE-S3; a status change is a write too.
    let url = server.fresh_url();
    ok(&generate(server, &app, &url, &[]));
    ok(&rewind(server, &home, &url, &["mark", "guestbook", "1", "--status", "deployed"]));
    let found = objects(server, &url);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["sse"], "AES256", "{found:?}");
    let shown = rewind(server, &home, &url, &["history", "guestbook", "-o", "json"]);
    assert!(String::from_utf8_lossy(&ok(&shown)).contains("deployed"));

    // SSE-KMS with a key created in moto's KMS.
    let url = server.fresh_url();
    let kms = [("REWIND_S3_SSE", "kms".to_string()), ("REWIND_S3_SSE_KMS_KEY_ID", server.kms_key_id.clone())];
    ok(&generate(server, &app, &url, &kms));
    let found = objects(server, &url);
    assert_eq!(found[0]["sse"], "aws:kms", "{found:?}");
    assert!(found[0]["kms_key_id"].as_str().unwrap().contains(&server.kms_key_id), "{found:?}");

    // none: no header at all.
    let url = server.fresh_url();
    ok(&generate(server, &app, &url, &[("REWIND_S3_SSE", "none".into())]));
    assert!(objects(server, &url)[0]["sse"].is_null());
}

#[test]
fn a_write_refused_for_its_sse_settings_fails_or_warns() {
    let server = S3Server::shared();
    let api = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let app = guestbook(tmp.path());
    let url = format!("{}?events-namespace=argocd", server.fresh_url());
    let missing_key = [
        ("REWIND_S3_SSE", "kms".to_string()),
        ("REWIND_S3_SSE_KMS_KEY_ID", "arn:aws:kms:us-east-1:123456789012:key/no-such-key".to_string()),
        ("KUBECONFIG", api.kubeconfig().display().to_string()),
    ];
    fails(
        &generate(server, &app, &url, &missing_key),
        &["KMS.NotFoundException", "refused the write's server-side encryption settings", "--s3-sse-kms-key-id"],
    );
    let mut warn = missing_key.to_vec();
    warn.push(("REWIND_ON_STORE_ERROR", "warn".into()));
    let out = generate(server, &app, &url, &warn);
    let printed = String::from_utf8(ok(&out)).unwrap();
    assert!(printed.contains("kind: Deployment"), "warn prints the manifest");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not recorded"));
    assert!(objects(server, url.split('?').next().unwrap()).is_empty(), "nothing was written");
    let events = api.kubectl(&["get", "events", "-n", "argocd", "-o", "json"]);
    let events: serde_json::Value = serde_json::from_slice(&ok(&events)).unwrap();
    let failed: Vec<&serde_json::Value> =
        events["items"].as_array().unwrap().iter().filter(|e| e["reason"] == "RollbackStoreFailed").collect();
    assert_eq!(failed.len(), 1, "{events}");
    assert!(failed[0]["message"].as_str().unwrap().contains("server-side encryption"));
}

#[test]
fn throttling_is_retried_and_an_outage_is_bounded() {
    let server = S3Server::shared();
    let tmp = tempfile::tempdir().unwrap();
    let app = guestbook(tmp.path());
    let home = tmp.path().join("home");
    let url = server.fresh_url();

    // Three 503 SlowDown answers, then the service recovers: retried, recorded once.
    let prefix = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap().to_string();
    server.control(&format!("fail?status=503&count=3&match={prefix}/"));
    ok(&generate(server, &app, &url, &[]));
    assert_eq!(revisions(server, &home, &url), [1]);

    // The service hangs: the operation gives up after --store-timeout, fail or warn.
    let changed = [("ARGOCD_ENV_IMAGE_TAG", "v2".to_string()), ("REWIND_STORE_TIMEOUT", "2s".to_string())];
    server.control(&format!("stall?seconds=8&match={prefix}/"));
    let failed = generate(server, &app, &url, &changed);
    let mut warn = changed.to_vec();
    warn.push(("REWIND_ON_STORE_ERROR", "warn".into()));
    let warned = generate(server, &app, &url, &warn);
    server.control(&format!("stall?seconds=0&match={prefix}/"));
    fails(&failed, &["got no answer within 2s", "--store-timeout"]);
    assert!(String::from_utf8(ok(&warned)).unwrap().contains("kind: Deployment"));
    // Never half a release: what is there is release 1, whole, and nothing else.
    std::thread::sleep(std::time::Duration::from_secs(8));
    let revs = revisions(server, &home, &url);
    assert!(revs == [1] || revs == [1, 2], "{revs:?}");
    for rev in revs {
        ok(&rewind(server, &home, &url, &["show", "guestbook", &rev.to_string()]));
    }
}

#[test]
fn credentials_come_from_the_profile_when_the_environment_has_none() {
    let server = S3Server::shared();
    let tmp = tempfile::tempdir().unwrap();
    let app = guestbook(tmp.path());
    let url = server.fresh_url();
    let credentials = tmp.path().join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIADEFAULTPROFILE\naws_secret_access_key = x\n\n\
         [ci]\naws_access_key_id = AKIACIPROFILE0001\naws_secret_access_key = y\n",
    )
    .unwrap();
    let mut cmd = common::command(&tmp.path().join("home"));
    cmd.envs(server.env().into_iter().filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET")))
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_PROFILE", "ci")
        .env("REWIND_STORE", &url)
        .args(["render", app.to_str().unwrap()]);
    ok(&cmd.output().unwrap());
    let keys = server.control("access-keys");
    assert!(keys.as_array().unwrap().iter().any(|k| k == "AKIACIPROFILE0001"), "{keys}");
    assert!(!keys.as_array().unwrap().iter().any(|k| k == "AKIADEFAULTPROFILE"), "{keys}");
}
