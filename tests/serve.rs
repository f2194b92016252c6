//! `rewind serve` against the project's test API server: the real binary
//! watches Applications, marks releases from their sync outcome, annotates,
//! emits Events, and rolls back by pinning; `generate` (run as Argo CD's CMP
//! server would) then prints the pinned release byte for byte.

mod common;
use common::apiserver::ApiServer;
use common::rbac::{assert_grants_exactly_used, kubectl_as, kustomize};
use common::serve::Serve;
use common::*;
use rewind::argocd::application::Application;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const REPO: &str = "https://git.example.com/org/apps.git";
const GIT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const GIT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const GIT_C: &str = "cccccccccccccccccccccccccccccccccccccccc";

/// JSON pointer to the plugin section of an Application's (first) rewind source.
fn plugin_path(app: &Value) -> String {
    Application::from_value(app.clone()).unwrap().rewind_plugin_path().unwrap()
}

/// The pin of an Application's (first) rewind source.
fn pinned(app: &Value) -> Option<String> {
    Application::from_value(app.clone()).unwrap().first_pinned()
}

/// Starting the Argo CD controller the way these tests do.
trait ArgoServe {
    fn start(server: &ApiServer, home: &Path, args: &[&str]) -> Serve;
    fn start_as(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve;
    fn spawn_as(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve;
}

impl ArgoServe for Serve {
    fn start(server: &ApiServer, home: &Path, args: &[&str]) -> Serve {
        Self::start_as(server.kubeconfig(), &server.store_url("argocd"), home, args)
    }

    /// Starts with the credentials in `kubeconfig` and the store at `store`, and waits until ready.
    fn start_as(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve {
        Self::spawn_as(kubeconfig, store, home, args).ready()
    }

    /// Starts and waits only for the HTTP address.
    fn spawn_as(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve {
        let all: Vec<&str> =
            ["--listen", "127.0.0.1:0", "--degraded-grace", "2s"].into_iter().chain(args.iter().copied()).collect();
        Serve::spawn(kubeconfig, store, home, &all)
    }
}

fn kubectl_ok(server: &ApiServer, args: &[&str]) -> Vec<u8> {
    let out = server.kubectl(args);
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn apply(server: &ApiServer, obj: &Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), obj.to_string()).unwrap();
    kubectl_ok(server, &["apply", "--validate=false", "-f", file.path().to_str().unwrap()]);
}

/// Applies Application `ns/name` with one source, the guestbook path of
/// `REPO`, whose plugin section is `plugin`; `metadata` adds labels or annotations.
fn apply_application(server: &ApiServer, ns: &str, name: &str, metadata: Value, plugin: Value) {
    let mut meta = json!({"name": name, "namespace": ns});
    for (k, v) in metadata.as_object().into_iter().flatten() {
        meta[k] = v.clone();
    }
    apply(
        server,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
            "spec": {"project": "default", "destination": {"namespace": "guestbook"},
                "source": {"repoURL": REPO, "path": "guestbook", "targetRevision": "HEAD", "plugin": plugin}}}),
    );
}

fn application(server: &ApiServer, ns: &str, name: &str) -> Value {
    serde_json::from_slice(&kubectl_ok(server, &["get", "applications", name, "-n", ns, "-o", "json"])).unwrap()
}

/// Events on an Application, as kubectl lists them: (reason, message).
fn events(server: &ApiServer, ns: &str, name: &str) -> Vec<(String, String)> {
    let list: Value = serde_json::from_slice(&kubectl_ok(server, &["get", "events", "-n", ns, "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "Application" && e["involvedObject"]["name"] == name)
        .map(|e| (e["reason"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

fn reasons(server: &ApiServer, ns: &str, name: &str) -> Vec<String> {
    events(server, ns, name).into_iter().map(|(r, _)| r).collect()
}

fn statuses(server: &ApiServer, home: &Path, key: &str) -> Vec<String> {
    statuses_in(&server.store_url("argocd"), home, key)
}

fn statuses_in(store: &str, home: &Path, key: &str) -> Vec<String> {
    let out = command(home).env("REWIND_STORE", store).args(["history", key, "-o", "json"]).output().unwrap();
    let list: Vec<Value> = serde_json::from_slice(&ok(&out)).unwrap();
    list.iter().map(|m| m["status"].as_str().unwrap().to_string()).collect()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Runs generate with the CMP environment Argo CD derives from the
/// Application's rewind source at git revision `git`.
fn generate(server: &ApiServer, dir: &Path, home: &Path, app: &Value, key: &str, git: &str) -> Vec<u8> {
    generate_into(&server.store_url("argocd"), dir, home, app, key, git)
}

fn generate_into(store: &str, dir: &Path, home: &Path, app: &Value, key: &str, git: &str) -> Vec<u8> {
    ok(&generate_with(store, dir, home, app, key, git, &[]))
}

/// [`generate_into`] with `extra` sidecar environment, returning the whole output.
fn generate_with(
    store: &str,
    dir: &Path,
    home: &Path,
    app: &Value,
    key: &str,
    git: &str,
    extra: &[(&str, &str)],
) -> std::process::Output {
    let plugin = plugin_path(app);
    let mut env = plugin_env_vars(app, &plugin);
    env.extend([
        ("ARGOCD_APP_NAME".into(), key.into()),
        ("ARGOCD_APP_REVISION".into(), git.into()),
        ("ARGOCD_APP_NAMESPACE".into(), "guestbook".into()),
        ("REWIND_STORE".into(), store.to_string()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    cmp_generate(dir, home, &env)
}

/// Writes what Argo CD writes after a sync of the current spec at `git`.
fn sync(server: &ApiServer, app: &Value, git: &str, phase: &str, health: &str, finished: SystemTime) {
    let plugin = plugin_path(app);
    let source_path = plugin.strip_suffix("/plugin").unwrap();
    let result = match source_path.strip_prefix("/spec/sources/") {
        Some(i) => {
            let i: usize = i.parse().unwrap();
            let sources = app.pointer("/spec/sources").unwrap().clone();
            let mut revisions = vec![json!("1.0.0"); sources.as_array().unwrap().len()];
            revisions[i] = json!(git);
            json!({"revisions": revisions, "sources": sources})
        }
        None => json!({"revision": git, "source": app.pointer(source_path).unwrap()}),
    };
    let status = json!({"status": {
        "sync": {"status": "Synced", "revision": git},
        "health": {"status": health},
        "reconciledAt": rfc3339(finished + Duration::from_secs(1)),
        "operationState": {"phase": phase, "message": format!("sync {}", phase.to_lowercase()),
            "startedAt": rfc3339(finished), "finishedAt": rfc3339(finished), "syncResult": result}}});
    let ns = app["metadata"]["namespace"].as_str().unwrap();
    let name = app["metadata"]["name"].as_str().unwrap();
    kubectl_ok(server, &["patch", "applications", name, "-n", ns, "--type", "merge", "-p", &status.to_string()]);
}

fn guestbook_copy(tmp: &Path, name: &str) -> PathBuf {
    let dir = tmp.join(name);
    copy_tree(&root().join("examples/guestbook"), &dir);
    dir
}

#[test]
fn healthy_then_degraded_rolls_back_once() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = guestbook_copy(tmp.path(), "guestbook");
    apply_application(
        &server,
        "argocd",
        "guestbook",
        json!({"labels": {"app.kubernetes.io/instance": "root"}, "annotations": {"rewind.dev/auto-rollback": "true"}}),
        json!({"name": "rewind-v1", "env": [{"name": "IMAGE_TAG", "value": "v7"}]}),
    );
    let serve = Serve::start(&server, tmp.path(), &[]);

    // Revision A syncs and is Healthy: its release is deployed.
    let manifest_a =
        generate(&server, &dir, tmp.path(), &application(&server, "argocd", "guestbook"), "guestbook", GIT_A);
    sync(&server, &application(&server, "argocd", "guestbook"), GIT_A, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("release 1 deployed", || (statuses(&server, tmp.path(), "guestbook") == ["deployed"]).then_some(()));
    let app = serve.wait("the last-good annotation", || {
        let app = application(&server, "argocd", "guestbook");
        (app.pointer("/metadata/annotations/rewind.dev~1last-good-revision") == Some(&json!("1"))).then_some(app)
    });
    assert_eq!(app.pointer("/metadata/annotations/rewind.dev~1auto-rollback"), Some(&json!("true")), "others kept");
    assert_eq!(reasons(&server, "argocd", "guestbook"), ["ReleaseDeployed"]);

    // Revision B changes the config and stays Degraded past the grace.
    set_log_level(&dir, "debug");
    let manifest_b = generate(&server, &dir, tmp.path(), &app, "guestbook", GIT_B);
    assert_ne!(manifest_a, manifest_b);
    sync(&server, &app, GIT_B, "Succeeded", "Degraded", SystemTime::now());
    let pinned = serve.wait("the rollback pin", || {
        let app = application(&server, "argocd", "guestbook");
        app.pointer("/spec/source/plugin/env/1").is_some().then_some(app)
    });
    assert_eq!(
        pinned.pointer("/spec/source/plugin/env").unwrap(),
        &json!([{"name": "IMAGE_TAG", "value": "v7"}, {"name": "REWIND_ROLLBACK_TO", "value": "1"}]),
        "the pin is added, the other env entry untouched"
    );
    assert_eq!(pinned.pointer("/metadata/annotations/rewind.dev~1auto-rollback-of"), Some(&json!("2")));
    serve.wait("release 2 failed", || {
        (statuses(&server, tmp.path(), "guestbook") == ["deployed", "failed"]).then_some(())
    });
    let evs = serve.wait("the RolledBack Event", || {
        let evs = events(&server, "argocd", "guestbook");
        evs.iter().any(|(r, _)| r == "RolledBack").then_some(evs)
    });
    let failed = evs.iter().find(|(r, _)| r == "ReleaseFailed").expect("a ReleaseFailed Event");
    assert!(failed.1.contains("Degraded for more than 2s"), "{failed:?}");
    let rolled = evs.iter().find(|(r, _)| r == "RolledBack").unwrap();
    assert!(
        rolled.1.contains("pinned release 1") && rolled.1.contains("managed by Application \"root\""),
        "{rolled:?}"
    );

    // Argo CD regenerates with the pinned env: release 1's manifest, byte for byte.
    let rolled_back = generate(&server, &dir, tmp.path(), &pinned, "guestbook", GIT_B);
    assert_eq!(rolled_back, manifest_a);

    // The rollback release going Degraded fails, but is not rolled back again.
    sync(&server, &pinned, GIT_B, "Succeeded", "Degraded", SystemTime::now());
    serve.wait("release 3 failed", || {
        (statuses(&server, tmp.path(), "guestbook") == ["deployed", "failed", "failed"]).then_some(())
    });
    let evs = serve.wait("the second ReleaseFailed Event", || {
        let evs = events(&server, "argocd", "guestbook");
        (evs.iter().filter(|(r, _)| r == "ReleaseFailed").count() == 2).then_some(evs)
    });
    assert!(evs.iter().any(|(r, m)| r == "ReleaseFailed" && m.contains("itself a rollback to release 1")), "{evs:?}");
    assert_eq!(evs.iter().filter(|(r, _)| r == "RolledBack").count(), 1);
    // generate recorded the pin it served; the controller knows the pin was its own.
    attributed(&serve, &server, tmp.path(), 3, "auto", "rewind-controller (automatic rollback)");
    let still = application(&server, "argocd", "guestbook");
    assert_eq!(still.pointer("/spec/source/plugin/env"), pinned.pointer("/spec/source/plugin/env"));

    status_says(
        &server,
        tmp.path(),
        &[
            "pinned:       1 (REWIND_ROLLBACK_TO)",
            "last-good:    1 (deployed)",
            "latest:       3 (failed, rollback of 1)",
        ],
    );

    let (code, metrics) = serve.get("/metrics");
    assert_eq!(code, 200);
    for line in [
        "rewind_releases{status=\"failed\"} 2",
        "rewind_releases{status=\"deployed\"} 1",
        "rewind_rollbacks_total{result=\"pinned\"} 1",
        "rewind_rollbacks_total{result=\"skipped\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    assert!(metrics.contains("rewind_reconcile_duration_seconds_count"));
    assert_eq!(serve.get("/healthz").0, 200);

    // People clear the pin: exactly REWIND_ROLLBACK_TO goes.
    let out = command(tmp.path())
        .env("KUBECONFIG", server.kubeconfig())
        .env("REWIND_STORE", server.store_url("argocd"))
        .args(["rollback", "--clear", "--application", "argocd/guestbook"])
        .output()
        .unwrap();
    ok(&out);
    let cleared = application(&server, "argocd", "guestbook");
    assert_eq!(cleared.pointer("/spec/source/plugin/env").unwrap(), &json!([{"name": "IMAGE_TAG", "value": "v7"}]));
    assert_eq!(cleared["metadata"]["annotations"], pinned["metadata"]["annotations"]);
    serve.stdout_is_empty();
}

#[test]
fn without_opt_in_only_observes_and_stale_failures_are_left_alone() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    // Outside the control-plane namespace, multi-source, no annotation: observed only.
    apply(
        &server,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "team-a"},
            "spec": {"project": "default", "destination": {"namespace": "guestbook"}, "sources": [
                {"repoURL": "https://charts.example.com", "chart": "redis", "targetRevision": "1.0.0"},
                {"repoURL": REPO, "path": "guestbook", "targetRevision": "HEAD", "plugin": {"name": "rewind-v1"}}]}}),
    );
    // Opted in, but its failure is older than --max-failure-age.
    apply_application(
        &server,
        "argocd",
        "old",
        json!({"annotations": {"rewind.dev/auto-rollback": "true"}}),
        json!({}),
    );
    let serve = Serve::start(&server, tmp.path(), &["--namespaces", "argocd,team-a"]);
    let shop_dir = guestbook_copy(tmp.path(), "shop");
    let old_dir = guestbook_copy(tmp.path(), "old");
    let shop = application(&server, "team-a", "shop");
    let old = application(&server, "argocd", "old");

    generate(&server, &shop_dir, tmp.path(), &shop, "team-a_shop", GIT_A);
    generate(&server, &old_dir, tmp.path(), &old, "old", GIT_A);
    sync(&server, &shop, GIT_A, "Succeeded", "Healthy", SystemTime::now());
    sync(&server, &old, GIT_A, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("both deployed", || {
        (statuses(&server, tmp.path(), "team-a_shop") == ["deployed"]
            && statuses(&server, tmp.path(), "old") == ["deployed"])
        .then_some(())
    });

    set_log_level(&old_dir, "debug");
    set_log_level(&shop_dir, "debug");
    generate(&server, &old_dir, tmp.path(), &old, "old", GIT_B);
    generate(&server, &shop_dir, tmp.path(), &shop, "team-a_shop", GIT_B);
    sync(&server, &old, GIT_B, "Failed", "Degraded", SystemTime::now() - Duration::from_secs(3600));
    sync(&server, &shop, GIT_B, "Failed", "Degraded", SystemTime::now());
    serve.wait("shop's release 2 failed", || {
        (statuses(&server, tmp.path(), "team-a_shop") == ["deployed", "failed"]).then_some(())
    });
    let shop_events = serve.wait("shop's ReleaseFailed Event", || {
        let evs = events(&server, "team-a", "shop");
        evs.iter().any(|(r, _)| r == "ReleaseFailed").then_some(evs)
    });
    assert!(shop_events.iter().any(|(_, m)| m.contains("automatic rollback is off")), "{shop_events:?}");
    assert!(!shop_events.iter().any(|(r, _)| r == "RolledBack"));
    let shop_now = application(&server, "team-a", "shop");
    assert_eq!(shop_now["spec"], shop["spec"], "an Application without the annotation is only observed");
    assert_eq!(shop_now.pointer("/metadata/annotations/rewind.dev~1last-good-revision"), Some(&json!("1")));

    // Git moves on to C, which is Healthy: deployed, and the deployed release before it superseded.
    set_log_level(&shop_dir, "warn");
    generate(&server, &shop_dir, tmp.path(), &shop, "team-a_shop", GIT_C);
    sync(&server, &shop, GIT_C, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("shop's release 3 deployed", || {
        (statuses(&server, tmp.path(), "team-a_shop") == ["superseded", "failed", "deployed"]).then_some(())
    });
    // Events list in name order, not time order: find it by its release.
    let deployed = serve.wait("release 3's ReleaseDeployed Event", || {
        let evs = events(&server, "team-a", "shop");
        evs.into_iter().find(|(r, m)| r == "ReleaseDeployed" && m.contains("release 3 of app team-a_shop deployed"))
    });
    assert!(deployed.1.contains("release 1 superseded"), "{deployed:?}");

    // The two namespaces are two watch streams: wait until the stale failure was seen.
    serve.wait("the stale failure to be seen", || {
        serve
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("argocd/old: release 2 failed") && l.contains("left alone"))
            .then_some(())
    });
    assert_eq!(statuses(&server, tmp.path(), "old"), ["deployed", "pending"], "a stale failure does nothing");
    assert_eq!(application(&server, "argocd", "old")["spec"], old["spec"]);
    assert_eq!(reasons(&server, "argocd", "old"), ["ReleaseDeployed"]);
    serve.stdout_is_empty();
}

#[test]
fn no_deployed_release_before_means_previous_revision_unavailable() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    apply_application(&server, "argocd", "fresh", json!({}), json!({"name": "rewind"}));
    // --auto-rollback turns it on for every Application.
    let serve = Serve::start(&server, tmp.path(), &["--auto-rollback"]);
    let dir = guestbook_copy(tmp.path(), "fresh");
    let app = application(&server, "argocd", "fresh");
    generate(&server, &dir, tmp.path(), &app, "fresh", GIT_A);
    sync(&server, &app, GIT_A, "Error", "Missing", SystemTime::now());
    let evs = serve.wait("PreviousRevisionUnavailable", || {
        let evs = reasons(&server, "argocd", "fresh");
        evs.iter().any(|r| r == "PreviousRevisionUnavailable").then_some(evs)
    });
    assert!(evs.contains(&"ReleaseFailed".to_string()));
    assert_eq!(statuses(&server, tmp.path(), "fresh"), ["failed"]);
    assert_eq!(application(&server, "argocd", "fresh")["spec"], app["spec"], "nothing else");
    assert!(serve.get("/metrics").1.contains("rewind_rollbacks_total{result=\"unavailable\"} 1"));
}

#[test]
fn serve_refuses_bad_settings() {
    let tmp = tempfile::tempdir().unwrap();
    fails(&command(tmp.path()).args(["serve"]).output().unwrap(), &["--store", "REWIND_STORE"]);
    fails(
        &command(tmp.path()).args(["serve", "--store", "file:///tmp/x", "--degraded-grace", "soon"]).output().unwrap(),
        &["--degraded-grace", "3m"],
    );
    let server = ApiServer::start(&[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = command(tmp.path())
        .env("KUBECONFIG", server.kubeconfig())
        .args(["serve", "--store", &server.store_url("argocd"), "--listen", &address])
        .output()
        .unwrap();
    fails(&out, &["--listen", &address, "cannot bind"]);
}

/// `argocd/guestbook` with auto-rollback under a running controller, revision
/// A generated, synced Healthy and marked deployed: (controller, checkout, Application).
fn guestbook_deployed(server: &ApiServer, tmp: &Path) -> (Serve, PathBuf, Value) {
    let dir = guestbook_copy(tmp, "guestbook");
    apply_application(server, "argocd", "guestbook", json!({}), json!({}));
    let serve = Serve::start(server, tmp, &["--auto-rollback"]);
    let app = application(server, "argocd", "guestbook");
    generate(server, &dir, tmp, &app, "guestbook", GIT_A);
    sync(server, &app, GIT_A, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("release 1 deployed", || (statuses(server, tmp, "guestbook") == ["deployed"]).then_some(()));
    (serve, dir, app)
}

/// The pin and its once-only marker are one write: a controller that died
/// before marking the release failed does not roll back a second time.
#[test]
fn a_restarted_controller_does_not_roll_back_twice() {
    let (server, tmp) = (ApiServer::start(&[]), tempfile::tempdir().unwrap());
    let (serve, dir, app) = guestbook_deployed(&server, tmp.path());
    set_log_level(&dir, "debug");
    generate(&server, &dir, tmp.path(), &app, "guestbook", GIT_B);
    sync(&server, &app, GIT_B, "Succeeded", "Degraded", SystemTime::now());
    let pinned = serve.wait("the rollback pin", || {
        let app = application(&server, "argocd", "guestbook");
        pinned(&app).is_some().then_some(app)
    });
    serve.wait("release 2 failed", || {
        (statuses(&server, tmp.path(), "guestbook") == ["deployed", "failed"]).then_some(())
    });
    drop(serve);

    // As if the controller had died between the pin and marking the release.
    let out = command(tmp.path())
        .env("REWIND_STORE", server.store_url("argocd"))
        .args(["mark", "guestbook", "2", "--status", "pending"])
        .output()
        .unwrap();
    ok(&out);
    let serve = Serve::start(&server, tmp.path(), &["--auto-rollback"]);
    serve.wait("release 2 failed again", || {
        (statuses(&server, tmp.path(), "guestbook") == ["deployed", "failed"]).then_some(())
    });
    let evs = serve.wait("the second ReleaseFailed Event", || {
        let evs = events(&server, "argocd", "guestbook");
        (evs.iter().filter(|(r, _)| r == "ReleaseFailed").count() == 2).then_some(evs)
    });
    assert!(evs.iter().any(|(_, m)| m.contains("already rolled back once")), "{evs:?}");
    assert_eq!(evs.iter().filter(|(r, _)| r == "RolledBack").count(), 1);
    assert_eq!(
        application(&server, "argocd", "guestbook")["metadata"]["resourceVersion"],
        pinned["metadata"]["resourceVersion"]
    );
}

/// `rewind ARGS` with the test server's kubeconfig and store; stdout.
fn rewind_on(server: &ApiServer, home: &Path, args: &[&str]) -> Vec<u8> {
    let mut cmd = command(home);
    cmd.env("KUBECONFIG", server.kubeconfig()).env("REWIND_STORE", server.store_url("argocd"));
    ok(&cmd.args(args).output().unwrap())
}

/// Waits until guestbook's release `revision` names who asked for it, then checks trigger and requester.
fn attributed(serve: &Serve, server: &ApiServer, home: &Path, revision: u64, trigger: &str, by: &str) {
    let evidence = serve.wait("the rollback attributed", || {
        let meta = rewind_on(server, home, &["show", "guestbook", &revision.to_string(), "--meta"]);
        let meta: Value = serde_json::from_slice(&meta).unwrap();
        meta["evidence"]["requested_by"].is_string().then(|| meta["evidence"].clone())
    });
    assert_eq!(
        (evidence["trigger"].as_str(), evidence["requested_by"].as_str()),
        (Some(trigger), Some(by)),
        "{evidence}"
    );
}

/// `rewind status --application argocd/guestbook` says each of `lines`.
fn status_says(server: &ApiServer, home: &Path, lines: &[&str]) {
    let status = String::from_utf8(rewind_on(server, home, &["status", "--application", "argocd/guestbook"])).unwrap();
    for line in lines {
        assert!(status.contains(line), "{line} not in:\n{status}");
    }
}

/// A person's pin (here with kubectl) is recorded by generate as an
/// `application-pin`; the controller names who set it from managedFields.
#[test]
fn a_pin_set_by_hand_is_attributed_to_its_field_manager() {
    let (server, tmp) = (ApiServer::start(&[]), tempfile::tempdir().unwrap());
    let (serve, dir, app) = guestbook_deployed(&server, tmp.path());
    set_log_level(&dir, "debug");
    generate(&server, &dir, tmp.path(), &app, "guestbook", GIT_B);
    sync(&server, &app, GIT_B, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("release 2 deployed", || {
        (statuses(&server, tmp.path(), "guestbook") == ["superseded", "deployed"]).then_some(())
    });
    let pin = json!([{"op": "add", "path": "/spec/source/plugin/env", "value": [{"name": "REWIND_ROLLBACK_TO", "value": "1"}]}]);
    kubectl_ok(
        &server,
        &["patch", "applications", "guestbook", "-n", "argocd", "--type", "json", "-p", &pin.to_string()],
    );
    let pinned = application(&server, "argocd", "guestbook");
    generate(&server, &dir, tmp.path(), &pinned, "guestbook", GIT_B);
    sync(&server, &pinned, GIT_B, "Succeeded", "Healthy", SystemTime::now());
    attributed(&serve, &server, tmp.path(), 3, "application-pin", "kubectl-patch (field manager of the pin)");
}

/// An automatic rollback across a forward-only release is refused by the same
/// checks as any rollback: an Event says why, nothing is pinned.
#[test]
fn an_automatic_rollback_across_a_forward_only_release_is_refused() {
    let (server, tmp) = (ApiServer::start(&[]), tempfile::tempdir().unwrap());
    let (serve, dir, app) = guestbook_deployed(&server, tmp.path());
    let config = dir.join("rewind.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}rollbackClass: forward-only\nrollbackNote: migrates carts to v2\n"))
        .unwrap();
    set_log_level(&dir, "debug");
    generate(&server, &dir, tmp.path(), &app, "guestbook", GIT_B);
    sync(&server, &app, GIT_B, "Succeeded", "Degraded", SystemTime::now());
    let evs = serve.wait("RollbackRefused", || {
        let evs = events(&server, "argocd", "guestbook");
        evs.iter().any(|(r, _)| r == "RollbackRefused").then_some(evs)
    });
    let (_, message) = evs.iter().find(|(r, _)| r == "RollbackRefused").unwrap();
    for needle in
        ["from-revision 2", "to-revision 1", "trigger auto", "revision 2 is forward-only", "migrates carts to v2"]
    {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    assert!(!evs.iter().any(|(r, _)| r == "RolledBack"), "{evs:?}");
    serve.wait("release 2 failed", || {
        (statuses(&server, tmp.path(), "guestbook") == ["deployed", "failed"]).then_some(())
    });
    assert_eq!(pinned(&application(&server, "argocd", "guestbook")), None, "nothing pinned");
    assert!(serve.get("/metrics").1.contains("rewind_rollbacks_total{result=\"refused\"} 1"));
}

/// Incompressible ConfigMaps (deterministic), so the release needs chunk Secrets.
fn write_incompressible(dir: &Path) {
    use base64::Engine;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3 {
        let bytes: Vec<u8> = (0..450_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 33) as u8
            })
            .collect();
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        std::fs::write(
            dir.join(format!("blob{i}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: blob{i}}}\ndata: {{blob: {data}}}\n"),
        )
        .unwrap();
    }
}

/// What the controller (`ctl`) and the sidecar must not do, as kubectl finds out.
fn assert_refused_beyond_their_grants(server: &ApiServer, ctl: &Path, sidecar: &Path, tmp: &Path) {
    // And no more: Argo CD's own Secrets, deleting or updating releases, Applications for the sidecar.
    let release_file = tmp.join("release.json");
    std::fs::write(
        &release_file,
        kubectl_ok(server, &["get", "secret", "rewind.guestbook.v1", "-n", "rewind", "-o", "json"]),
    )
    .unwrap();
    for (who, args, needle) in [
        (
            ctl,
            &["get", "secrets", "-n", "argocd"][..],
            "cannot list resource \"secrets\" in API group \"\" in the namespace \"argocd\"",
        ),
        (ctl, &["delete", "secret", "rewind.guestbook.v1", "-n", "rewind"][..], "cannot delete resource \"secrets\""),
        (sidecar, &["get", "secrets", "-n", "argocd"][..], "argocd-repo-server\" cannot list resource \"secrets\""),
        (
            sidecar,
            &["replace", "--validate=false", "-f", release_file.to_str().unwrap()][..],
            "cannot update resource \"secrets\"",
        ),
        (
            sidecar,
            &["get", "applications", "-n", "argocd"][..],
            "cannot list resource \"applications\" in API group \"argoproj.io\"",
        ),
    ] {
        let out = kubectl_as(who, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "kubectl {args:?} was allowed");
        assert!(stderr.contains("Forbidden") || stderr.contains("forbidden"), "{stderr}");
        assert!(stderr.contains(needle), "{needle} not in {stderr}");
    }
}

/// The shipped RBAC, enforced by the test API server: the sidecar and the
/// controller, each with only its own service account's grants, run every
/// path — record, prune, a chunked release, a pinned generate, the Events
/// for a store failure and a damaged Secret, the controller's marks and pin.
/// The audit trail then shows that nothing was denied and that every granted
/// verb was used: removing any grant fails this test, and so does granting one
/// more than the code needs.
#[test]
fn the_shipped_rbac_is_enough_and_no_more() {
    let rbac = format!("{}\n---\n{}", kustomize("controller"), kustomize("argocd"));
    // Room for 6 Secrets in the release namespace: the flow fills it, then the last write is refused.
    let server = ApiServer::start_with_rbac(&rbac, &["--secret-quota", "6"]);
    let tmp = tempfile::tempdir().unwrap();
    let controller_user = "system:serviceaccount:rewind:rewind-controller";
    let sidecar_user = "system:serviceaccount:argocd:argocd-repo-server";
    let ctl = server.kubeconfig_as(controller_user);
    let sidecar = server.kubeconfig_as(sidecar_user);
    let ctl_store = format!("kubernetes://rewind?kubeconfig={}", ctl.display());
    let sidecar_store = format!("kubernetes://rewind?kubeconfig={}", sidecar.display());
    apply_application(
        &server,
        "argocd",
        "guestbook",
        json!({"annotations": {"rewind.dev/auto-rollback": "true"}}),
        json!({"name": "rewind-v1", "env": [{"name": "REWIND_HISTORY_MAX", "value": "2"}]}),
    );
    let serve = Serve::start_as(&ctl, &ctl_store, tmp.path(), &[]);
    let dir = guestbook_copy(tmp.path(), "guestbook");
    let app = application(&server, "argocd", "guestbook");

    // 1: recorded and deployed. 2: fails, the controller pins 1. 3: the pinned generate (a rollback).
    generate_into(&sidecar_store, &dir, tmp.path(), &app, "guestbook", GIT_A);
    sync(&server, &app, GIT_A, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("release 1 deployed", || {
        (statuses_in(&ctl_store, tmp.path(), "guestbook") == ["deployed"]).then_some(())
    });
    set_log_level(&dir, "debug");
    generate_into(&sidecar_store, &dir, tmp.path(), &app, "guestbook", GIT_B);
    sync(&server, &app, GIT_B, "Succeeded", "Degraded", SystemTime::now());
    let pinned = serve.wait("the rollback pin", || {
        let app = application(&server, "argocd", "guestbook");
        pinned(&app).is_some().then_some(app)
    });
    serve.wait("the RolledBack Event", || {
        reasons(&server, "argocd", "guestbook").contains(&"RolledBack".to_string()).then_some(())
    });
    generate_into(&sidecar_store, &dir, tmp.path(), &pinned, "guestbook", GIT_B);

    // 4: a release too big for one Secret; recording it prunes release 2 (history limit 2, keep the deployed one).
    write_incompressible(&dir);
    generate_into(&sidecar_store, &dir, tmp.path(), &app, "guestbook", GIT_C);
    let chunks = server.kubectl(&["get", "secrets", "-n", "rewind", "-l", "rewind.dev/role=chunk", "-o", "json"]);
    let chunks: Value = serde_json::from_slice(&chunks.stdout).unwrap();
    let chunks = chunks["items"].as_array().unwrap();
    assert!(chunks.len() >= 2, "a chunked release: {chunks:?}");
    assert!(
        chunks.iter().all(|c| c["metadata"]["ownerReferences"][0]["name"] == "rewind.guestbook.v4"),
        "owned by its index"
    );
    assert_eq!(statuses_in(&ctl_store, tmp.path(), "guestbook"), ["deployed", "pending", "pending"], "2 was pruned");

    // 5: a damaged Secret under guestbook's labels fills the quota; the next record is refused, and with
    // --on-store-error=warn the manifest is printed anyway with an Event.
    let damaged = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rewind.guestbook.v9", "namespace": "rewind",
        "labels": {"app.kubernetes.io/managed-by": "rewind", "rewind.dev/app": "guestbook", "rewind.dev/role": "release",
        "rewind.dev/revision": "9"}}, "data": {"release.json": "e25vdCBqc29u"}});
    apply(&server, &damaged);
    std::fs::remove_file(dir.join("blob0.yaml")).unwrap();
    let out =
        generate_with(&sidecar_store, &dir, tmp.path(), &app, "guestbook", GIT_C, &[("REWIND_ON_STORE_ERROR", "warn")]);
    assert!(!ok(&out).is_empty(), "warn prints the manifest");
    let rewind_events: Value =
        serde_json::from_slice(&kubectl_ok(&server, &["get", "events", "-n", "rewind", "-o", "json"])).unwrap();
    let rewind_reasons: Vec<&str> =
        rewind_events["items"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap()).collect();
    for reason in ["RollbackStoreFailed", "ReleaseSecretDamaged"] {
        assert!(rewind_reasons.contains(&reason), "{reason} missing: {rewind_reasons:?}");
    }
    assert!(serve.get("/metrics").1.contains("rewind_api_errors_total 0"), "every controller call was allowed");
    drop(serve);

    // Every grant used; nothing the flow did denied. Then: what they must not do.
    assert_grants_exactly_used(&server, &rbac, &[controller_user, sidecar_user]);

    // A controller without the grant to watch Applications never becomes ready, and says why.
    let unready = Serve::spawn_as(&sidecar, &ctl_store, tmp.path(), &[]);
    let body = unready.wait("/readyz to explain", || {
        let (code, body) = unready.get("/readyz");
        (code == 503 && unready.log.lock().unwrap().iter().any(|l| l.contains("cannot list resource \"applications\"")))
            .then_some(body)
    });
    assert!(body.contains("not synced") || body.contains("failing"), "{body}");
    assert_eq!(unready.get("/healthz").0, 200, "alive, only not ready");

    assert_refused_beyond_their_grants(&server, &ctl, &sidecar, tmp.path());
    // No identity is anonymous, not admin; an unknown token is unauthorized.
    let (code, status) = server.curl("/api/v1/namespaces/rewind/secrets", None);
    assert_eq!(code, 403, "{status}");
    assert!(status["message"].as_str().unwrap().contains("User \"system:anonymous\" cannot list"), "{status}");
    assert_eq!(server.curl("/api/v1/namespaces/rewind/secrets", Some("not-a-token")).0, 401);
}

/// With manifests/controller-namespaced the controller has no cluster-wide
/// rights: it runs the flow for Applications in argocd, and may not touch
/// Applications anywhere else.
#[test]
fn the_namespaced_controller_works_in_its_namespaces_only() {
    let rbac = format!("{}\n---\n{}", kustomize("controller-namespaced"), kustomize("argocd"));
    let server = ApiServer::start_with_rbac(&rbac, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let ctl = server.kubeconfig_as("system:serviceaccount:rewind:rewind-controller");
    let sidecar = server.kubeconfig_as("system:serviceaccount:argocd:argocd-repo-server");
    let ctl_store = format!("kubernetes://rewind?kubeconfig={}", ctl.display());
    let sidecar_store = format!("kubernetes://rewind?kubeconfig={}", sidecar.display());
    apply_application(&server, "argocd", "guestbook", json!({}), json!({"name": "rewind-v1"}));
    apply_application(&server, "team-a", "other", json!({}), json!({"name": "rewind-v1"}));
    let serve = Serve::start_as(&ctl, &ctl_store, tmp.path(), &["--namespaces", "argocd"]);
    let dir = guestbook_copy(tmp.path(), "guestbook");
    let app = application(&server, "argocd", "guestbook");
    generate_into(&sidecar_store, &dir, tmp.path(), &app, "guestbook", GIT_A);
    sync(&server, &app, GIT_A, "Succeeded", "Healthy", SystemTime::now());
    serve.wait("the last-good annotation", || {
        let app = application(&server, "argocd", "guestbook");
        (app.pointer("/metadata/annotations/rewind.dev~1last-good-revision") == Some(&json!("1"))).then_some(())
    });
    assert!(serve.get("/metrics").1.contains("rewind_api_errors_total 0"));
    for args in [
        &["get", "applications", "-A"][..],
        &["annotate", "applications", "other", "-n", "team-a", "x=y"][..],
        &["get", "applications", "-n", "team-a"][..],
    ] {
        let out = kubectl_as(&ctl, args);
        assert!(!out.status.success(), "kubectl {args:?} was allowed");
        assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        server.audit().iter().all(|e| e["user"] != "system:serviceaccount:rewind:rewind-controller"
            || e["allowed"] == true
            || e["namespace"] != "argocd"),
        "nothing in argocd was denied"
    );
}

/// An Application with two rewind sources: each named source has its own
/// history, its own last-good annotation and its own pin; two unnamed ones
/// would share a history, so the controller leaves that Application alone.
#[test]
fn each_rewind_source_of_a_multi_source_application_is_its_own_app() {
    let server = ApiServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let named = |n: &str| json!({"name": "rewind-v1", "env": [{"name": "REWIND_SOURCE_NAME", "value": n}]});
    let sources = json!([
        {"repoURL": REPO, "path": "web", "targetRevision": "HEAD", "plugin": named("web")},
        {"repoURL": "https://charts.example.com", "chart": "redis", "targetRevision": "1.0.0"},
        {"repoURL": REPO, "path": "db", "targetRevision": "HEAD", "plugin": named("db")}]);
    apply(
        &server,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {"project": "default", "destination": {"namespace": "guestbook"}, "sources": sources}}),
    );
    apply(
        &server,
        &json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "mixed", "namespace": "argocd"},
            "spec": {"project": "default", "destination": {"namespace": "guestbook"}, "sources": [
                {"repoURL": REPO, "path": "a", "plugin": {}}, {"repoURL": REPO, "path": "b", "plugin": {"name": "rewind-v1"}}]}}),
    );
    let serve = Serve::start(&server, tmp.path(), &[]);
    let (web, db) = (guestbook_copy(tmp.path(), "web"), guestbook_copy(tmp.path(), "db"));
    set_log_level(&db, "debug");
    let store = server.store_url("argocd");
    for (dir, name, path) in [(&web, "web", "web"), (&db, "db", "db")] {
        let env = [
            ("ARGOCD_APP_NAME", "shop"),
            ("ARGOCD_APP_REVISION", GIT_A),
            ("ARGOCD_APP_NAMESPACE", "guestbook"),
            ("ARGOCD_APP_SOURCE_PATH", path),
            ("ARGOCD_ENV_REWIND_SOURCE_NAME", name),
            ("REWIND_STORE", store.as_str()),
        ];
        ok(&cmp_generate(dir, tmp.path(), &env));
    }
    let now = SystemTime::now();
    let status = json!({"status": {"health": {"status": "Healthy"}, "reconciledAt": rfc3339(now + Duration::from_secs(1)),
        "operationState": {"phase": "Succeeded", "finishedAt": rfc3339(now),
            "syncResult": {"revisions": [GIT_A, "1.0.0", GIT_A], "sources": sources}}}});
    kubectl_ok(
        &server,
        &["patch", "applications", "shop", "-n", "argocd", "--type", "merge", "-p", &status.to_string()],
    );
    serve.wait("both sources deployed", || {
        (statuses(&server, tmp.path(), "shop__web") == ["deployed"]
            && statuses(&server, tmp.path(), "shop__db") == ["deployed"])
        .then_some(())
    });
    let app = serve.wait("per-source last-good annotations", || {
        let app = application(&server, "argocd", "shop");
        let annotations = &app["metadata"]["annotations"];
        (annotations["rewind.dev/last-good-revision.web"] == "1"
            && annotations["rewind.dev/last-good-revision.db"] == "1")
            .then_some(app)
    });
    assert!(app["metadata"]["annotations"].get("rewind.dev/last-good-revision").is_none());

    // Pinning needs the source's name, and touches only that source.
    let rewind_k = |args: &[&str]| {
        command(tmp.path())
            .env("KUBECONFIG", server.kubeconfig())
            .env("REWIND_STORE", &store)
            .args(args)
            .output()
            .unwrap()
    };
    fails(
        &rewind_k(&["rollback", "shop__db", "--to", "1", "--application", "argocd/shop"]),
        &["--source-name", "spec.sources[0] (web)"],
    );
    fails(
        &rewind_k(&["rollback", "shop__web", "--to", "1", "--application", "argocd/shop", "--source-name", "db"]),
        &["shop__web is not the app key", "shop__db"],
    );
    ok(&rewind_k(&["rollback", "shop__db", "--to", "1", "--application", "argocd/shop", "--source-name", "db"]));
    let pinned = application(&server, "argocd", "shop");
    assert_eq!(
        pinned.pointer("/spec/sources/2/plugin/env/1"),
        Some(&json!({"name": "REWIND_ROLLBACK_TO", "value": "1"}))
    );
    assert_eq!(pinned.pointer("/spec/sources/0/plugin/env"), app.pointer("/spec/sources/0/plugin/env"));
    let status =
        String::from_utf8(ok(&rewind_k(&["status", "--application", "argocd/shop", "--source-name", "db"]))).unwrap();
    assert!(status.contains("(app shop__db)") && status.contains("pinned:       1 (REWIND_ROLLBACK_TO)"), "{status}");

    let evs = serve.wait("the SharedAppKey Event", || {
        let evs = events(&server, "argocd", "mixed");
        evs.iter().any(|(r, _)| r == "SharedAppKey").then_some(evs)
    });
    assert!(
        evs.iter().any(|(_, m)| m.contains("REWIND_SOURCE_NAME") && m.contains("spec.sources[0] and spec.sources[1]")),
        "{evs:?}"
    );
    assert_eq!(evs.len(), 1, "said once: {evs:?}");
    serve.stdout_is_empty();
}

/// When the history behind the controller's watch is compacted (etcd
/// compaction and an API server restart), resuming gets 410 Gone: the
/// controller lists Applications again, stays ready, and goes on working.
#[test]
fn the_controller_lists_again_after_its_watch_history_is_compacted() {
    let (server, tmp) = (ApiServer::start(&[]), tempfile::tempdir().unwrap());
    let (serve, dir, app) = guestbook_deployed(&server, tmp.path());

    let lists = || server.audit().iter().filter(|e| e["verb"] == "list" && e["resource"] == "applications").count();
    let before = lists();
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", &format!("{}/debug/compact", server.url)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("compacted"), "{out:?}");
    serve.wait("the controller to list Applications again", || (lists() > before).then_some(()));
    assert!(serve.log.lock().unwrap().iter().any(|l| l.contains("watch history expired")));
    assert_eq!(serve.get("/readyz").0, 200, "a re-list is routine, not a failing watch");

    set_log_level(&dir, "debug");
    generate(&server, &dir, tmp.path(), &app, "guestbook", GIT_B);
    sync(&server, &app, GIT_B, "Succeeded", "Degraded", SystemTime::now());
    serve.wait("the rollback pin after the re-list", || pinned(&application(&server, "argocd", "guestbook")));
}
