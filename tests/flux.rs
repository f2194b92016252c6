//! `rewind serve --integrations flux` against the test API server serving
//! Flux's CRDs and rewind's RewindSource, with stand-ins for
//! source-controller and kustomize-controller (tests/common/flux.rs, written
//! from ../shared/flux/README.md, not from rewind's code): the real binary
//! fetches the source's artifact, renders, records, publishes an
//! ExternalArtifact and serves its tar.gz; the stand-in kustomize-controller
//! fetches it by Flux's rules, checks it against `rewind render`, and writes
//! the Kustomization status rewind follows.

mod common;
use common::apiserver::ApiServer;
use common::flux::{
    GitRepo, KustomizeController, KustomizeSetup, SourceController, api_server, crd_args, get, gzip, kubectl,
    raw_entry, sha256,
};
use common::rbac::{assert_grants_exactly_used, kubectl_as, kustomize};
use common::serve::Serve;
use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS: &str = "flux-system";
const KEY: &str = "flux-system_guestbook";
const USER: &str = "system:serviceaccount:flux-system:rewind-flux";

/// The stand-in kustomize-controller for the guestbook Kustomization, checked by [`health`].
fn guestbook_setup(admin: &Path, repo: &Arc<Mutex<GitRepo>>) -> KustomizeSetup {
    KustomizeSetup {
        kubeconfig: admin.to_path_buf(),
        namespace: NS.into(),
        name: "guestbook".into(),
        repo: repo.clone(),
        path: "guestbook".into(),
        vars: Vec::new(),
        health,
    }
}

/// Starting the Flux integration the way these tests do.
trait FluxServe {
    /// Starts with `kubeconfig`'s identity and the store at `store`; waits until ready.
    fn start(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve;
}

impl FluxServe for Serve {
    fn start(kubeconfig: &Path, store: &str, home: &Path, args: &[&str]) -> Serve {
        let mut all = vec!["--integrations", "flux", "--listen", "127.0.0.1:0", "--artifact-listen", "127.0.0.1:0"];
        if !args.contains(&"--flux-interval") {
            all.extend(["--flux-interval", "1s"]);
        }
        all.extend(["--degraded-grace", "1s"]);
        all.extend(args);
        Serve::spawn(kubeconfig, store, home, &all).ready()
    }
}

/// One HTTP/1.1 request to `address` (host:port) → (status, body).
fn http(address: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: rewind\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status_line = String::from_utf8_lossy(&response[..split]).to_string();
    let code = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap();
    (code, response[split + 4..].to_vec())
}

/// `curl URL` → (status, body): an independent HTTP client of the artifact server.
fn curl(url: &str) -> (u16, Vec<u8>) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "--path-as-is", "-o"])
        .arg(body.path())
        .args(["-w", "%{http_code}", url])
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0), std::fs::read(body.path()).unwrap())
}

/// A git repository holding examples/guestbook at ./guestbook, first commit made.
fn guestbook_repo() -> (GitRepo, String) {
    let repo = GitRepo::init();
    copy_tree(&root().join("examples/guestbook"), &repo.path().join("guestbook"));
    let commit = repo.commit("guestbook");
    (repo, commit)
}

/// Sets IMAGE_TAG in the repository's rewind.yaml.
fn set_image_tag(repo: &GitRepo, tag: &str) {
    let file = repo.path().join("guestbook/rewind.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let (head, rest) = text.split_once("IMAGE_TAG: ").unwrap();
    let end = rest.find('\n').unwrap_or(rest.len());
    std::fs::write(&file, format!("{head}IMAGE_TAG: \"{tag}\"{}", &rest[end..])).unwrap();
}

/// The stand-in kustomize-controller's health check: the frontend image tag `broken` never gets Ready.
fn health(manifest: &[u8]) -> Result<(), String> {
    if String::from_utf8_lossy(manifest).contains("gb-frontend:broken") {
        Err("Deployment/guestbook/frontend status: 'InProgress'".into())
    } else {
        Ok(())
    }
}

fn apply_rewind_source(kubeconfig: &Path, spec: Value) {
    let mut full = json!({"sourceRef": {"kind": "GitRepository", "name": "apps"}, "path": "./guestbook"});
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    common::flux::apply(
        kubeconfig,
        &json!({"apiVersion": "rewind.dev/v1alpha1", "kind": "RewindSource",
            "metadata": {"name": "guestbook", "namespace": NS}, "spec": full}),
    );
}

fn rewind_source(kubeconfig: &Path) -> Value {
    get(kubeconfig, "rewindsources", NS, "guestbook").expect("the RewindSource exists")
}

fn external_artifact(kubeconfig: &Path) -> Option<Value> {
    get(kubeconfig, "externalartifacts", NS, "guestbook")
}

fn served_revision(kubeconfig: &Path) -> Option<String> {
    external_artifact(kubeconfig)?["status"]["artifact"]["revision"].as_str().map(String::from)
}

/// `rewind history` of the RewindSource's app key: (revision, status, rollback_of, git revision).
fn releases(store: &str, home: &Path) -> Vec<(u64, String, Option<u64>, String)> {
    let out = command(home).env("REWIND_STORE", store).args(["history", KEY, "-o", "json"]).output().unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.iter()
        .map(|m| {
            (
                m["revision"].as_u64().unwrap(),
                m["status"].as_str().unwrap().to_string(),
                m["rollback_of"].as_u64(),
                m["source"]["revision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Events on the RewindSource: (reason, message).
fn events(kubeconfig: &Path) -> Vec<(String, String)> {
    let list: Value = serde_json::from_slice(&kubectl(kubeconfig, &["get", "events", "-n", NS, "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "RewindSource" && e["involvedObject"]["name"] == "guestbook")
        .map(|e| (e["reason"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

fn has_event(kubeconfig: &Path, reason: &str, needle: &str) -> bool {
    events(kubeconfig).iter().any(|(r, m)| r == reason && m.contains(needle))
}

/// The hex of a `v<N>@sha256:<hex>` revision.
fn hex_of(revision: &str) -> &str {
    revision.split_once("@sha256:").unwrap().1
}

/// Checks the ExternalArtifact against the contract in ../shared/flux/README.md
/// and the bytes at its URL; returns them.
fn check_artifact(serve: &Serve, ea: &Value, release: u64, origin: &str) -> Vec<u8> {
    let artifact = &ea["status"]["artifact"];
    let revision = artifact["revision"].as_str().unwrap();
    let (id, hex) = revision.split_once("@sha256:").unwrap();
    assert_eq!(id, format!("v{release}"), "{artifact}");
    assert_eq!(artifact["digest"], format!("sha256:{hex}"));
    let path = format!("rewindsource/{NS}/guestbook/{hex}.tar.gz");
    assert_eq!(artifact["path"], path);
    assert_eq!(artifact["url"], format!("{}/{path}", serve.artifacts));
    assert_eq!(artifact["metadata"]["org.opencontainers.image.revision"], origin);
    assert!(artifact["lastUpdateTime"].as_str().is_some());
    let (code, bytes) = curl(artifact["url"].as_str().unwrap());
    assert_eq!(code, 200);
    assert_eq!(sha256(&bytes), format!("sha256:{hex}"), "the digest is of the tar.gz");
    assert_eq!(artifact["size"].as_u64(), Some(bytes.len() as u64));
    let ready = &ea["status"]["conditions"][0];
    assert_eq!(
        (ready["type"].as_str(), ready["status"].as_str(), ready["reason"].as_str()),
        (Some("Ready"), Some("True"), Some("Succeeded"))
    );
    // Owned by the RewindSource, pointing at it.
    assert_eq!(
        ea["spec"]["sourceRef"],
        json!({"apiVersion": "rewind.dev/v1alpha1", "kind": "RewindSource", "name": "guestbook", "namespace": NS})
    );
    let owner = &ea["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str(), owner["controller"].as_bool()),
        (Some("RewindSource"), Some("guestbook"), Some(true))
    );
    bytes
}

/// The one file in a tar.gz, read with the system's tar (an independent reader).
fn untar_manifest(bytes: &[u8]) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.tar.gz");
    std::fs::write(&file, bytes).unwrap();
    let listing = std::process::Command::new("tar").args(["-tvzf"]).arg(&file).output().unwrap();
    let listing = String::from_utf8(ok(&listing)).unwrap();
    let out = std::process::Command::new("tar").args(["-xzf"]).arg(&file).arg("-C").arg(dir.path()).output().unwrap();
    ok(&out);
    (listing, std::fs::read(dir.path().join("manifest.yaml")).unwrap())
}

/// The shipped Flux manifests: RBAC (and the CRD) as one YAML stream.
fn flux_manifests() -> String {
    kustomize("flux")
}

/// The flow's world: the API server under the shipped RBAC, the stand-ins,
/// the repository, and `rewind serve` as rewind-flux.
struct Flow {
    server: ApiServer,
    rbac: String,
    admin: std::path::PathBuf,
    sa: std::path::PathBuf,
    tmp: tempfile::TempDir,
    store: String,
    admin_store: String,
    source: SourceController,
    repo: Arc<Mutex<GitRepo>>,
    kc: KustomizeController,
    serve: Serve,
}

impl Flow {
    fn start() -> (Flow, String) {
        let rbac = flux_manifests();
        let crds = crd_args();
        let crds: Vec<&str> = crds.iter().map(String::as_str).collect();
        let server = ApiServer::start_with_rbac(&rbac, &crds);
        let admin = server.kubeconfig().to_path_buf();
        let sa = server.kubeconfig_as(USER);
        let tmp = tempfile::tempdir().unwrap();
        let store = format!("kubernetes://{NS}?kubeconfig={}", sa.display());
        let admin_store = format!("kubernetes://{NS}?kubeconfig={}", admin.display());
        let source = SourceController::start(NS, "apps");
        source.create(&admin);
        let (repo, a) = guestbook_repo();
        source.publish_commit(&admin, &repo, &a);
        apply_rewind_source(&admin, json!({"autoRollback": true, "historyMax": 4}));
        let repo = Arc::new(Mutex::new(repo));
        let kc = KustomizeController::start(guestbook_setup(&admin, &repo));
        let serve = Serve::start(&sa, &store, tmp.path(), &[]);
        (Flow { server, rbac, admin, sa, tmp, store, admin_store, source, repo, kc, serve }, a)
    }

    /// Commits with IMAGE_TAG `tag` and publishes the commit.
    fn commit(&self, tag: &str) -> String {
        let repo = self.repo.lock().unwrap();
        set_image_tag(&repo, tag);
        let commit = repo.commit(tag);
        self.source.publish_commit(&self.admin, &repo, &commit);
        commit
    }

    fn last_good(&self, release: u64, what: &str) {
        self.serve.wait(what, || (rewind_source(&self.admin)["status"]["lastGoodRevision"] == release).then_some(()));
    }

    /// `rewind ARGS` as the admin, on the admin's view of the store.
    fn cli(&self, args: &[&str]) -> std::process::Output {
        command(self.tmp.path())
            .env("KUBECONFIG", &self.admin)
            .env("REWIND_STORE", &self.admin_store)
            .args(args)
            .output()
            .unwrap()
    }

    /// A: release 1, served, applied, deployed. The revision served.
    fn deploy_a(&self, a: &str) -> String {
        let admin = &self.admin;
        self.last_good(1, "release 1 deployed");
        assert_eq!(releases(&self.store, self.tmp.path()), [(1, "deployed".into(), None, format!("main@sha1:{a}"))]);
        let ea = external_artifact(admin).unwrap();
        let bytes_a = check_artifact(&self.serve, &ea, 1, &format!("main@sha1:{a}"));
        let (listing, manifest) = untar_manifest(&bytes_a);
        let deterministic = listing.starts_with("-rw------- 0/0") && listing.contains("1970-01-01");
        assert!(deterministic && listing.trim_end().ends_with(" manifest.yaml"), "{listing}");
        assert_eq!(manifest, ok(&self.cli(&["show", KEY, "1"])));
        let rs = rewind_source(admin);
        assert_eq!(rs["status"]["servedRelease"], 1);
        assert_eq!(rs["status"]["servedRevision"], ea["status"]["artifact"]["revision"]);
        assert_eq!(rs["status"]["sourceRevision"], format!("main@sha1:{a}"));
        assert_eq!(rs["status"]["conditions"][0]["reason"], "Succeeded");
        assert!(has_event(admin, "ReleaseDeployed", "release 1 of app flux-system_guestbook deployed"));
        ea["status"]["artifact"]["revision"].as_str().unwrap().to_string()
    }

    /// B fails its health check; release 2 fails and A comes back as release 3, byte for byte.
    fn fail_b(&self, a: &str, rev_a: &str) {
        let admin = &self.admin;
        let b = self.commit("broken");
        self.serve.wait("the rollback release 3 deployed", || {
            let expected = [
                (1, "superseded".into(), None, format!("main@sha1:{a}")),
                (2, "failed".into(), None, format!("main@sha1:{b}")),
                (3, "deployed".into(), Some(1), format!("main@sha1:{b}")),
            ];
            (releases(&self.store, self.tmp.path()) == expected).then_some(())
        });
        let status = rewind_source(admin)["status"].clone();
        let pin = json!({"release": 1, "failed": 2, "sourceRevision": format!("main@sha1:{b}")});
        assert_eq!(status["autoRollback"], pin);
        assert_eq!((status["rolledBackFrom"].as_u64(), status["lastGoodRevision"].as_u64()), (Some(2), Some(3)));
        let ea = external_artifact(admin).unwrap();
        let bytes_3 = check_artifact(&self.serve, &ea, 3, &format!("main@sha1:{b}"));
        let (code, bytes_a) =
            curl(&format!("{}/rewindsource/{NS}/guestbook/{}.tar.gz", self.serve.artifacts, hex_of(rev_a)));
        assert_eq!((code, bytes_3), (200, bytes_a), "the rollback serves A's tar.gz byte for byte");
        assert_eq!(hex_of(ea["status"]["artifact"]["revision"].as_str().unwrap()), hex_of(rev_a), "with A's digest");
        for (reason, needle) in [
            (
                "ReleaseFailed",
                "release 2 of app flux-system_guestbook failed: Kustomization flux-system/guestbook: Ready=False HealthCheckFailed",
            ),
            ("RolledBack", "release 2 failed; serving release 1 again"),
            ("ReleaseDeployed", "release 3 (a rollback to release 1)"),
        ] {
            assert!(has_event(admin, reason, needle), "{reason} {needle:?} in {:?}", events(admin));
        }
    }

    /// spec.rollbackTo through the CLI: a dry run changes nothing; then
    /// release 1's bytes as release 5; `--clear` serves C's bytes again.
    fn pin_and_clear(&self, rev_a: &str, rev_c: &str) {
        let admin = &self.admin;
        let dry = ["rollback", "--to", "1", "--rewind-source", "flux-system/guestbook", "--dry-run"];
        let diff = String::from_utf8(ok(&self.cli(&dry))).unwrap();
        assert!(
            diff.contains("+        image: us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5"),
            "{diff}"
        );
        assert_eq!(rewind_source(admin)["spec"]["rollbackTo"].as_str().unwrap_or(""), "", "a dry run patches nothing");
        let out = self.cli(&["rollback", "--to", "1", "--rewind-source", "flux-system/guestbook"]);
        assert!(ok(&out).is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("set spec.rollbackTo: \"1\""));
        self.last_good(5, "release 5 (a copy of 1) deployed");
        let rev_5 = served_revision(admin).unwrap();
        assert_eq!(rev_5, format!("v5@sha256:{}", hex_of(rev_a)), "a new revision with A's digest");
        assert!(has_event(admin, "RolledBack", "spec.rollbackTo 1: serving release 1's manifest again as release 5"));
        assert!(has_event(admin, "RolledBack", "to-revision 1, trigger rewind-source"));
        let out = command(self.tmp.path()).env("REWIND_STORE", &self.store).args(["show", KEY, "5", "--meta"]).output();
        let evidence = serde_json::from_slice::<Value>(&ok(&out.unwrap())).unwrap()["evidence"].clone();
        assert_eq!(
            (evidence["trigger"].as_str(), evidence["requested_by"].as_str()),
            (Some("rewind-source"), Some("rewind (field manager of spec.rollbackTo)")),
            "{evidence}"
        );
        let status = String::from_utf8(ok(&self.cli(&["status", "--rewind-source", "flux-system/guestbook"]))).unwrap();
        for needle in [
            "RewindSource: flux-system/guestbook (app flux-system_guestbook)",
            "pinned:       1 (spec.rollbackTo)",
            "serving:      5 (deployed, rollback of 1) as v5@sha256:",
            "last-good:    5 (deployed, rollback of 1)",
        ] {
            assert!(status.contains(needle), "{needle:?} in\n{status}");
        }
        ok(&self.cli(&["rollback", "--clear", "--rewind-source", "flux-system/guestbook"]));
        self.serve.wait("C served again", || {
            served_revision(admin).filter(|r| r.starts_with("v6@") && hex_of(r) == hex_of(rev_c))
        });
        self.last_good(6, "release 6 deployed");
        assert_eq!(releases(&self.store, self.tmp.path()).len(), 4, "historyMax 4 pruned the oldest");
    }
}

/// What rewind-flux (`sa`) must not do, as kubectl finds out.
fn assert_refused_beyond_its_grants(sa: &Path) {
    let rollback_to_2 = "{\"spec\":{\"rollbackTo\":\"2\"}}";
    let no_prune = "{\"spec\":{\"prune\":false}}";
    for (args, needle) in [
        (&["get", "secrets", "-n", "kube-system"][..], "cannot list resource \"secrets\""),
        (
            &["patch", "rewindsource", "guestbook", "-n", NS, "--type=merge", "-p", rollback_to_2][..],
            "cannot patch resource \"rewindsources\"",
        ),
        (&["delete", "externalartifact", "guestbook", "-n", NS][..], "cannot delete resource \"externalartifacts\""),
        (
            &["patch", "kustomization", "guestbook", "-n", NS, "--type=merge", "-p", no_prune][..],
            "cannot get resource \"kustomizations\"",
        ),
    ] {
        let out = kubectl_as(sa, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle), "kubectl {args:?}: {stderr}");
    }
}

/// The whole flow under exactly the RBAC in manifests/flux: A is served and
/// deployed; B fails its health check and, with autoRollback, A's exact
/// bytes are served again as a rollback release; C ends the automatic pin;
/// `rewind rollback --to 1 --rewind-source` and `--clear` move spec.rollbackTo.
#[test]
fn the_flux_flow_under_the_shipped_rbac() {
    let (flow, a) = Flow::start();
    let admin = &flow.admin;
    let rev_a = flow.deploy_a(&a);
    flow.fail_b(&a, &rev_a);

    // C: a new source revision ends the automatic rollback.
    flow.commit("v6");
    flow.last_good(4, "release 4 deployed");
    assert!(rewind_source(admin)["status"]["autoRollback"].is_null());
    let rev_c = served_revision(admin).unwrap();
    assert!(rev_c.starts_with("v4@sha256:"));
    flow.pin_and_clear(&rev_a, &rev_c);

    assert!(flow.kc.mismatches.lock().unwrap().is_empty(), "{:?}", flow.kc.mismatches.lock().unwrap());
    let metrics = flow.serve.get("/metrics").1;
    assert!(metrics.contains("rewind_api_errors_total 0"), "every call was allowed:\n{metrics}");
    assert!(metrics.contains("rewind_flux_productions_total{result=\"served\"}"), "{metrics}");
    // A recreated RewindSource (new uid) adopts the ExternalArtifact its predecessor left.
    kubectl(admin, &["delete", "rewindsource", "guestbook", "-n", NS]);
    apply_rewind_source(admin, json!({"autoRollback": true, "historyMax": 4}));
    let uid = rewind_source(admin)["metadata"]["uid"].clone();
    flow.serve.wait("the ExternalArtifact adopted", || {
        (external_artifact(admin)?["metadata"]["ownerReferences"][0]["uid"] == uid).then_some(())
    });
    every_source_kind_is_read(&flow.serve, admin);

    // Every grant used, nothing denied; and no more than that.
    let Flow { server, rbac, kc, serve, sa, .. } = flow;
    drop(kc);
    serve.stdout_is_empty();
    assert_grants_exactly_used(&server, &rbac, &[USER]);
    assert_refused_beyond_its_grants(&sa);
}

/// An OCIRepository and a Bucket are read like a GitRepository: their
/// `status.artifact`, fetched and verified by the same rules.
fn every_source_kind_is_read(serve: &Serve, admin: &Path) {
    let (repo, commit) = guestbook_repo();
    let bytes = SourceController::tarball(&repo, &commit);
    for (plural, kind, revision) in [
        ("ocirepositories", "OCIRepository", format!("v1.0.0@{}", sha256(b"oci manifest"))),
        ("buckets", "Bucket", sha256(b"bucket index")),
    ] {
        let name = format!("from-{}", kind.to_lowercase());
        let source = SourceController::of_kind(plural, NS, &name);
        source.create(admin);
        source.publish(admin, bytes.clone(), &sha256(&bytes), &revision);
        common::flux::apply(
            admin,
            &json!({"apiVersion": "rewind.dev/v1alpha1", "kind": "RewindSource", "metadata": {"name": name, "namespace": NS},
                "spec": {"sourceRef": {"kind": kind, "name": name}, "path": "guestbook"}}),
        );
        let ea = serve.wait(&format!("the ExternalArtifact of {kind} {name}"), || {
            let ea = get(admin, "externalartifacts", NS, &name)?;
            ea["status"]["artifact"]["revision"].as_str().is_some_and(|r| r.starts_with("v1@")).then_some(ea)
        });
        assert_eq!(ea["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"], revision.as_str());
    }
}

/// A tar.gz of `entries` (name, type, body, link), headers written by hand.
fn archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, body, link) in entries {
        raw_entry(&mut b, name, *kind, body, *link);
    }
    gzip(&b.into_inner().unwrap())
}

fn ready_of(obj: &Value) -> (String, String, String) {
    let c = obj["status"]["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (text("status"), text("reason"), text("message"))
}

/// One hostile archive: (label, bytes, the digest claimed if not theirs, reason, message needle).
type Hostile<'a> = (&'a str, Vec<u8>, Option<String>, &'a str, &'a str);

/// Publishes each hostile archive in turn: each is refused with Flux's
/// reason on both objects, records nothing, and leaves release 1's artifact
/// published and served.
fn refuse_hostile_archives(
    serve: &Serve,
    source: &SourceController,
    admin: &Path,
    store: &str,
    home: &Path,
    good: Vec<u8>,
) {
    let first = served_revision(admin).unwrap();
    let first_url = external_artifact(admin).unwrap()["status"]["artifact"]["url"].as_str().unwrap().to_string();

    let zeros = vec![0u8; 8 << 20];
    let other = sha256(b"something else");
    let cases: Vec<Hostile> = vec![
        (
            "dotdot",
            archive(&[("guestbook/../../evil.yaml", tar::EntryType::Regular, b"kind: x\n", None)]),
            None,
            "VerificationFailed",
            "absolute paths and '..' are refused",
        ),
        (
            "absolute",
            archive(&[("/etc/evil.yaml", tar::EntryType::Regular, b"kind: x\n", None)]),
            None,
            "VerificationFailed",
            "\"/etc/evil.yaml\"",
        ),
        (
            "device",
            archive(&[("guestbook/tty", tar::EntryType::Char, b"", None)]),
            None,
            "VerificationFailed",
            "only files and directories",
        ),
        (
            "bomb",
            archive(&[("guestbook/zeros.yaml", tar::EntryType::Regular, &zeros, None)]),
            None,
            "VerificationFailed",
            "unpacks to more than 1000000 bytes",
        ),
        ("mismatch", good.clone(), Some(other.clone()), "VerificationFailed", &other[7..]),
        ("not-gzip", b"plain text, not an archive".to_vec(), None, "FetchFailed", "gzip"),
        ("missing", Vec::new(), None, "FetchFailed", "HTTP 404"),
    ];
    for (label, bytes, claimed, reason, needle) in &cases {
        let revision = format!("main@sha1:{label}");
        let digest = claimed.clone().unwrap_or_else(|| sha256(bytes));
        if *label == "missing" {
            source.announce(
                admin,
                &format!("{}/gitrepository/{NS}/apps/gone.tar.gz", source.files.base),
                &digest,
                &revision,
                0,
            );
        } else {
            source.publish(admin, bytes.clone(), &digest, &revision);
        }
        let (status, why, message) = serve.wait(&format!("{label} refused"), || {
            let ready = ready_of(&rewind_source(admin));
            ready.2.contains(needle).then_some(ready)
        });
        assert_eq!((status.as_str(), why.as_str()), ("False", *reason), "{label}: {message}");
        let ea = external_artifact(admin).unwrap();
        assert_eq!(ready_of(&ea).0, "False", "{label}: the ExternalArtifact says so too");
        assert_eq!(ready_of(&ea).1, *reason);
        assert_eq!(
            ea["status"]["artifact"]["revision"].as_str(),
            Some(first.as_str()),
            "{label}: the previous artifact stays published"
        );
        assert_eq!(curl(&first_url).0, 200, "{label}: and served");
        assert_eq!(releases(store, home).len(), 1, "{label}: nothing recorded");
        assert!(has_event(admin, reason, needle), "{label}: a Warning Event");
    }
}

/// Hostile source archives are refused with Flux's reasons on the
/// RewindSource and the ExternalArtifact; nothing is recorded and the
/// previous artifact stays published and served. A symlink is skipped, never
/// followed. Bad specs and, locked down, cross-namespace sources are refused.
#[test]
fn hostile_sources_are_refused_and_the_previous_artifact_stays() {
    let server = api_server(&[]);
    let admin = server.kubeconfig().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("file://{}", tmp.path().join("store").display());
    let source = SourceController::start(NS, "apps");
    source.create(&admin);
    let (repo, a) = guestbook_repo();
    source.publish_commit(&admin, &repo, &a);
    apply_rewind_source(&admin, json!({}));
    let serve =
        Serve::start(&admin, &store, tmp.path(), &["--max-total-bytes", "1000000", "--no-cross-namespace-refs"]);
    serve.wait("release 1 served", || served_revision(&admin).filter(|r| r.starts_with("v1@")));
    refuse_hostile_archives(&serve, &source, &admin, &store, tmp.path(), SourceController::tarball(&repo, &a));
    assert!(!tmp.path().join("evil.yaml").exists() && !Path::new("/etc/evil.yaml").exists());

    // A symlink to /etc/passwd is skipped: the render succeeds without it.
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("guestbook/passwd.yaml")).unwrap();
    set_image_tag(&repo, "v7");
    let linked = repo.commit("a symlink out of the repository");
    assert!(repo.files(&linked).iter().any(|(p, mode, _)| p == "guestbook/passwd.yaml" && *mode == 0o120000));
    source.publish_commit(&admin, &repo, &linked);
    serve.wait("the symlinked commit served", || served_revision(&admin).filter(|r| r.starts_with("v2@")));
    assert_eq!(ready_of(&rewind_source(&admin)).0, "True");
    let manifest = ok(&command(tmp.path()).env("REWIND_STORE", &store).args(["show", KEY, "2"]).output().unwrap());
    assert!(!String::from_utf8_lossy(&manifest).contains("root:"), "/etc/passwd was never read");
    assert!(serve.log.lock().unwrap().iter().any(|l| l.contains("skipped symlink \"guestbook/passwd.yaml\"")));

    // The CRD's schema refuses a bad spec; a path out of the source fails the build.
    let bad = json!({"apiVersion": "rewind.dev/v1alpha1", "kind": "RewindSource", "metadata": {"name": "bad", "namespace": NS},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "apps"}, "hashMode": "bogus"}});
    let file = tmp.path().join("bad.json");
    std::fs::write(&file, bad.to_string()).unwrap();
    let out = server.kubectl(&["apply", "--validate=false", "-f", file.to_str().unwrap()]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("hashMode"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::flux::apply(
        &admin,
        &json!({"apiVersion": "rewind.dev/v1alpha1", "kind": "RewindSource", "metadata": {"name": "escape", "namespace": NS},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "apps"}, "path": "../etc"}}),
    );
    let (_, reason, message) = serve.wait("the escape refused", || {
        let ready = ready_of(&get(&admin, "rewindsources", NS, "escape")?);
        (!ready.1.is_empty()).then_some(ready)
    });
    assert_eq!(reason, "BuildFailed", "{message}");
    assert!(message.contains("must stay within the source"), "{message}");
    assert!(get(&admin, "externalartifacts", NS, "escape").is_none(), "nothing published");

    // Locked down: a tenant's RewindSource may not read flux-system's source.
    common::flux::apply(
        &admin,
        &json!({"apiVersion": "rewind.dev/v1alpha1", "kind": "RewindSource", "metadata": {"name": "tenant", "namespace": "team-a"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "apps", "namespace": NS}, "path": "guestbook"}}),
    );
    let (_, reason, message) = serve.wait("the cross-namespace source refused", || {
        let ready = ready_of(&get(&admin, "rewindsources", "team-a", "tenant")?);
        (!ready.1.is_empty()).then_some(ready)
    });
    assert_eq!(reason, "AccessDenied", "{message}");
    assert!(get(&admin, "externalartifacts", "team-a", "tenant").is_none());
    assert!(releases(&store, tmp.path()).len() == 2);
    serve.stdout_is_empty();
}

fn sign(token: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// With a long interval nothing looks at the source again until
/// notification-controller's signed event says so; a bad signature changes
/// nothing. The artifact server serves artifacts and nothing else, and after
/// a restart serves earlier releases from the store.
#[test]
fn webhook_hints_and_the_artifact_server() {
    let server = api_server(&[]);
    let admin = server.kubeconfig().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("file://{}", tmp.path().join("store").display());
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let source = SourceController::start(NS, "apps");
    source.create(&admin);
    let (repo, a) = guestbook_repo();
    source.publish_commit(&admin, &repo, &a);
    apply_rewind_source(&admin, json!({}));
    let args = ["--flux-interval", "1h", "--flux-webhook-token-file", token_file.to_str().unwrap()];
    let serve = Serve::start(&admin, &store, tmp.path(), &args);
    let first = serve.wait("release 1 served", || served_revision(&admin).filter(|r| r.starts_with("v1@")));

    set_image_tag(&repo, "v6");
    let b = repo.commit("v6");
    source.publish_commit(&admin, &repo, &b);
    let event = |metadata: Value| {
        json!({"involvedObject": {"kind": "GitRepository", "namespace": NS, "name": "apps", "apiVersion": "source.toolkit.fluxcd.io/v1"},
            "severity": "info", "timestamp": "2026-11-23T10:00:00Z", "message": "stored artifact", "reason": "NewArtifact",
            "metadata": metadata, "reportingController": "source-controller", "reportingInstance": "source-controller-0"})
        .to_string()
    };
    let body = event(json!({"source.toolkit.fluxcd.io/revision": format!("main@sha1:{b}")}));
    let post = |body: &str, signature: &str| {
        http(
            &serve.address,
            "POST",
            "/flux/events",
            &[
                ("Content-Type", "application/json"),
                ("Gotk-Component", "source-controller"),
                ("X-Signature", signature),
            ],
            body.as_bytes(),
        )
        .0
    };
    assert_eq!(post(&body, &sign(b"wrong", body.as_bytes())), 401);
    assert_eq!(post(&body, "sha256="), 401);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(served_revision(&admin).as_deref(), Some(first.as_str()), "nothing looked again");
    assert_eq!(post(&body, &sign(b"s3cret-token", body.as_bytes())), 202);
    let second =
        serve.wait("release 2 served after the hint", || served_revision(&admin).filter(|r| r.starts_with("v2@")));
    let bare = event(json!({"revision": format!("main@sha1:{b}")}));
    assert_eq!(post(&bare, &sign(b"s3cret-token", bare.as_bytes())), 202, "the bare metadata key form");
    assert!(
        serve.log.lock().unwrap().iter().any(|l| l.contains(&format!("(revision main@sha1:{b}): looking again now")))
    );

    // Artifacts, and nothing else.
    let base = format!("{}/rewindsource/{NS}/guestbook", serve.artifacts);
    let (code, bytes_1) = curl(&format!("{base}/{}.tar.gz", hex_of(&first)));
    assert_eq!(code, 200);
    for path in [
        format!("{base}/{}.tar.gz", "0".repeat(64)),
        format!("{base}/"),
        base.clone(),
        format!("{}/", serve.artifacts),
        format!("{}/rewindsource/{NS}/guestbook/../../../etc/passwd", serve.artifacts),
        format!("{}/rewindsource/{NS}/guestbook/..%2f..%2f..%2fetc%2fpasswd", serve.artifacts),
        format!("{}/rewindsource/{NS}/other/{}.tar.gz", serve.artifacts, hex_of(&first)),
        format!("{}/rewindsource/..%2f{NS}/guestbook/{}.tar.gz", serve.artifacts, hex_of(&first)),
    ] {
        assert_eq!(curl(&path).0, 404, "{path}");
    }
    let artifact_address = serve.artifacts.trim_start_matches("http://").to_string();
    assert_eq!(
        http(&artifact_address, "DELETE", &format!("/rewindsource/{NS}/guestbook/{}.tar.gz", hex_of(&first)), &[], b"")
            .0,
        405
    );
    assert!(serve.get("/metrics").1.contains("rewind_artifact_requests_total{code=\"404\"}"));
    serve.stdout_is_empty();

    // A restarted server serves release 1's artifact from the store, byte for byte.
    let serve = Serve::start(&admin, &store, tmp.path(), &["--flux-interval", "1h"]);
    serve.wait("release 2 published again", || served_revision(&admin).filter(|r| *r == second));
    let (code, again) = curl(&format!("{}/rewindsource/{NS}/guestbook/{}.tar.gz", serve.artifacts, hex_of(&first)));
    assert_eq!((code, again), (200, bytes_1));
    assert_eq!(releases(&store, tmp.path()).len(), 2, "a restart records nothing new");
}

/// The guards under Flux: a first release that fails has nothing to roll
/// back to (PreviousRevisionUnavailable); a rollback that fails is not
/// rolled back again.
#[test]
fn guards_first_failures_and_failing_rollbacks() {
    let server = api_server(&[]);
    let admin = server.kubeconfig().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let store = format!("file://{}", tmp.path().join("store").display());
    let source = SourceController::start(NS, "apps");
    source.create(&admin);
    let (repo, _) = guestbook_repo();
    set_image_tag(&repo, "broken");
    let broken = repo.commit("broken from the start");
    source.publish_commit(&admin, &repo, &broken);
    apply_rewind_source(&admin, json!({"autoRollback": true}));
    let repo = Arc::new(Mutex::new(repo));
    let _kc = KustomizeController::start(guestbook_setup(&admin, &repo));
    let serve = Serve::start(&admin, &store, tmp.path(), &[]);
    serve.wait("PreviousRevisionUnavailable", || {
        has_event(
            &admin,
            "PreviousRevisionUnavailable",
            "release 1 of app flux-system_guestbook failed and no release before it is marked deployed",
        )
        .then_some(())
    });
    assert_eq!(releases(&store, tmp.path()).iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["failed"]);
    assert!(rewind_source(&admin)["status"]["autoRollback"].is_null());

    let good = {
        let repo = repo.lock().unwrap();
        set_image_tag(&repo, "v5");
        repo.commit("fixed")
    };
    source.publish_commit(&admin, &repo.lock().unwrap(), &good);
    serve.wait("release 2 deployed", || (rewind_source(&admin)["status"]["lastGoodRevision"] == 2).then_some(()));

    // Pinning the broken release by spec: its rollback release fails, and stays failed.
    kubectl(
        &admin,
        &["patch", "rewindsource", "guestbook", "-n", NS, "--type=merge", "-p", "{\"spec\":{\"rollbackTo\":\"1\"}}"],
    );
    serve.wait("the failed rollback", || {
        has_event(&admin, "ReleaseFailed", "release 3 of app flux-system_guestbook failed").then_some(())
    });
    let failed = events(&admin).into_iter().find(|(r, m)| r == "ReleaseFailed" && m.contains("release 3")).unwrap().1;
    assert!(failed.contains("it is itself a rollback to release 1: not rolling back again"), "{failed}");
    std::thread::sleep(Duration::from_secs(2));
    let status = rewind_source(&admin)["status"].clone();
    assert!(status["autoRollback"].is_null(), "{status}");
    assert_eq!(status["servedRelease"], 3, "still serving what spec.rollbackTo asks for");
    let list: Vec<(u64, String, Option<u64>)> =
        releases(&store, tmp.path()).into_iter().map(|r| (r.0, r.1, r.2)).collect();
    assert_eq!(list, [(1, "failed".into(), None), (2, "deployed".into(), None), (3, "failed".into(), Some(1))]);
}
