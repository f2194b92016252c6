//! Stand-ins for Flux's controllers, written from `../shared/flux/README.md`
//! and independently of rewind's producer code (nothing here uses
//! `rewind::flux`), so a misunderstanding shared with it cannot pass:
//!
//! - [`SourceController`] serves a tar.gz of a real git repository (git2)
//!   over HTTP and publishes it in a GitRepository's `status.artifact`, the
//!   way source-controller does (`<branch>@sha1:<commit>`, sha256 digest).
//! - [`KustomizeController`] follows a Kustomization whose source is an
//!   ExternalArtifact: when `status.artifact.revision` changes it fetches the
//!   URL (200 only), checks the digest, untars with Flux's entry rules,
//!   compares the content with `rewind render` of the same path at the
//!   origin revision, "applies" it, runs a health check, and writes the
//!   Kustomization's status as kustomize-controller would.
#![allow(dead_code)]

use super::apiserver::ApiServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `kubectl ARGS` against `kubeconfig`, asserting success; stdout.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("kubectl").arg("--kubeconfig").arg(kubeconfig).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `kubectl get KIND NAME -n NS -o json`, or `None` if it does not exist.
pub fn get(kubeconfig: &Path, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", kind, name, "-n", ns, "-o", "json"])
        .output()
        .unwrap();
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// A merge patch of an object's `status`, through the `/status` subresource.
pub fn patch_status(kubeconfig: &Path, kind: &str, ns: &str, name: &str, status: &Value) {
    let patch = json!({ "status": status }).to_string();
    kubectl(kubeconfig, &["patch", kind, name, "-n", ns, "--subresource=status", "--type=merge", "-p", &patch]);
}

/// RFC 3339 now, seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A plain HTTP/1.1 file server: GET of a known path is 200, anything else 404.
#[derive(Clone)]
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl FileServer {
    pub fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let files = served.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request = String::new();
                    if reader.read_line(&mut request).is_err() {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                    let body = files.lock().unwrap().get(&path).cloned();
                    let mut stream = stream;
                    let _ = match body {
                        Some(b) => stream
                            .write_all(
                                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())
                                    .as_bytes(),
                            )
                            .and_then(|()| stream.write_all(&b)),
                        None => stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                    };
                });
            }
        });
        FileServer { base, files }
    }

    /// Serves `bytes` at `path` (starting with `/`); the URL.
    pub fn put(&self, path: &str, bytes: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(path.to_string(), bytes);
        format!("{}{path}", self.base)
    }
}

/// A git repository in a temp dir, committed with git2.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
    pub repo: git2::Repository,
}

impl GitRepo {
    pub fn init() -> GitRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        repo.set_head("refs/heads/main").unwrap();
        GitRepo { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Commits the work tree as it is (symlinks included); the commit id.
    pub fn commit(&self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        // Files removed from the work tree leave the index too.
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::new("Flux Test", "flux@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap().to_string()
    }

    /// The tree of `commit`: (path, mode, content) of every blob.
    pub fn files(&self, commit: &str) -> Vec<(String, i32, Vec<u8>)> {
        let commit = self.repo.find_commit(git2::Oid::from_str(commit).unwrap()).unwrap();
        let tree = commit.tree().unwrap();
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = self.repo.find_blob(entry.id()).unwrap();
                out.push((format!("{root}{}", entry.name().unwrap()), entry.filemode(), blob.content().to_vec()));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    /// A checkout of `commit` at `dir` as Flux's untar would leave it: symlinks skipped.
    pub fn checkout_without_symlinks(&self, commit: &str, dir: &Path) {
        for (path, mode, content) in self.files(commit) {
            if mode == 0o120000 {
                continue;
            }
            let target = dir.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, content).unwrap();
        }
    }
}

/// gzip of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One tar entry, header written by hand so hostile names and types get through.
pub fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    body: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(body.len() as u64);
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory { 0o750 } else { 0o600 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    h.set_cksum();
    builder.append(&h, body).unwrap();
}

/// The stand-in for source-controller: one GitRepository's artifacts.
pub struct SourceController {
    pub files: FileServer,
    pub namespace: String,
    pub name: String,
    /// `gitrepositories`, `ocirepositories` or `buckets`.
    pub plural: &'static str,
}

/// What a GitRepository's `status.artifact` says.
#[derive(Debug, Clone)]
pub struct Published {
    pub url: String,
    pub digest: String,
    pub revision: String,
}

impl SourceController {
    /// A GitRepository's.
    pub fn start(namespace: &str, name: &str) -> SourceController {
        Self::of_kind("gitrepositories", namespace, name)
    }

    /// A source of another kind (`ocirepositories`, `buckets`).
    pub fn of_kind(plural: &'static str, namespace: &str, name: &str) -> SourceController {
        SourceController { files: FileServer::start(), namespace: namespace.into(), name: name.into(), plural }
    }

    /// Creates the source object.
    pub fn create(&self, kubeconfig: &Path) {
        let (kind, spec) = match self.plural {
            "gitrepositories" => (
                "GitRepository",
                json!({"interval": "1m", "url": "https://git.example.com/org/apps.git", "ref": {"branch": "main"}}),
            ),
            "ocirepositories" => (
                "OCIRepository",
                json!({"interval": "1m", "url": "oci://registry.example.com/apps", "ref": {"tag": "v1"}}),
            ),
            _ => ("Bucket", json!({"interval": "1m", "bucketName": "apps", "endpoint": "minio.example.com"})),
        };
        let obj = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind,
            "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec});
        apply(kubeconfig, &obj);
    }

    /// The tar.gz of `commit`'s tree, as source-controller writes it: relative
    /// paths, uid/gid 0, mtime 0, dirs 0750, files 0600; symlinks as symlinks.
    pub fn tarball(repo: &GitRepo, commit: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        for (path, _, _) in repo.files(commit) {
            let mut parent = Path::new(&path).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                dirs.insert(format!("{}/", p.display()));
                parent = p.parent();
            }
        }
        for d in &dirs {
            raw_entry(&mut b, d, tar::EntryType::Directory, b"", None);
        }
        for (path, mode, content) in repo.files(commit) {
            if mode == 0o120000 {
                let target = String::from_utf8(content).unwrap();
                raw_entry(&mut b, &path, tar::EntryType::Symlink, b"", Some(&target));
            } else {
                raw_entry(&mut b, &path, tar::EntryType::Regular, &content, None);
            }
        }
        gzip(&b.into_inner().unwrap())
    }

    /// Publishes `commit` of `repo`; what the status now says.
    pub fn publish_commit(&self, kubeconfig: &Path, repo: &GitRepo, commit: &str) -> Published {
        let bytes = Self::tarball(repo, commit);
        let digest = sha256(&bytes);
        self.publish(kubeconfig, bytes, &digest, &format!("main@sha1:{commit}"))
    }

    /// Publishes `bytes` claiming `digest` at `revision` (hostile archives included).
    pub fn publish(&self, kubeconfig: &Path, bytes: Vec<u8>, digest: &str, revision: &str) -> Published {
        let file = format!("{}.tar.gz", &sha256(revision.as_bytes())[7..27]);
        let kind = match self.plural {
            "gitrepositories" => "gitrepository",
            "ocirepositories" => "ocirepository",
            _ => "bucket",
        };
        let path = format!("/{kind}/{}/{}/{file}", self.namespace, self.name);
        let size = bytes.len();
        let url = self.files.put(&path, bytes);
        self.announce(kubeconfig, &url, digest, revision, size)
    }

    /// Writes `status.artifact` for `url` (which need not exist).
    pub fn announce(&self, kubeconfig: &Path, url: &str, digest: &str, revision: &str, size: usize) -> Published {
        let path = url.strip_prefix(&self.files.base).unwrap_or(url).to_string();
        let status = json!({"artifact": {"digest": digest, "lastUpdateTime": now(), "path": path.trim_start_matches('/'),
                "revision": revision, "size": size, "url": url},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                "message": format!("stored artifact for revision '{revision}'"), "lastTransitionTime": now()}]});
        patch_status(kubeconfig, self.plural, &self.namespace, &self.name, &status);
        Published { url: url.to_string(), digest: digest.to_string(), revision: revision.to_string() }
    }
}

/// `kubectl apply` of one object.
pub fn apply(kubeconfig: &Path, obj: &Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), obj.to_string()).unwrap();
    kubectl(kubeconfig, &["apply", "--validate=false", "-f", file.path().to_str().unwrap()]);
}

/// Why an artifact was not applied.
#[derive(Debug)]
enum Refusal {
    /// Flux's ArtifactFailed: not fetched, not verified, not a clean tar.gz.
    Artifact(String),
    /// The content is not what `rewind render` gives.
    Content(String),
}

/// Fetches and checks an artifact by Flux's rules: 200 only, the whole file
/// against the digest, gzip, tar entries (no empty names, `\`, leading `/`,
/// `..`; symlinks skipped; only files and directories). The files by path.
fn fetch(url: &str, digest: &str) -> Result<HashMap<String, Vec<u8>>, String> {
    let body = tempfile::NamedTempFile::new().unwrap();
    let out =
        Command::new("curl").args(["-s", "-o"]).arg(body.path()).args(["-w", "%{http_code}", url]).output().unwrap();
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    if code != "200" {
        return Err(format!("GET {url}: HTTP {code}"));
    }
    let bytes = std::fs::read(body.path()).unwrap();
    let (algo, hex_digest) = digest.split_once(':').unwrap_or(("sha256", digest));
    if algo != "sha256" || hex::encode(Sha256::digest(&bytes)) != hex_digest {
        return Err(format!("digest mismatch for {url}"));
    }
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut files = HashMap::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        if name.is_empty() || name.contains('\\') || name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return Err(format!("illegal entry {name:?}"));
        }
        match entry.header().entry_type() {
            tar::EntryType::Symlink => continue,
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular => {
                let mut body = Vec::new();
                entry.read_to_end(&mut body).map_err(|e| e.to_string())?;
                files.insert(name, body);
            }
            other => return Err(format!("entry {name:?} of type {other:?}")),
        }
    }
    Ok(files)
}

/// The stand-in for kustomize-controller, on a thread; stops on drop.
pub struct KustomizeController {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What it did, for assertions and failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
    /// Content it refused because it differs from `rewind render` (must stay empty).
    pub mismatches: Arc<Mutex<Vec<String>>>,
    /// The manifest of every revision it applied.
    pub applied: Applied,
}

/// What the stand-in needs to know.
pub struct KustomizeSetup {
    pub kubeconfig: PathBuf,
    pub namespace: String,
    pub name: String,
    /// The repository the source serves, for the render comparison.
    pub repo: Arc<Mutex<GitRepo>>,
    /// The app's path in it.
    pub path: String,
    /// `--set` values (the RewindSource's `spec.vars`).
    pub vars: Vec<(String, String)>,
    /// The health check: `Err(why)` when the applied content is unhealthy.
    pub health: fn(&[u8]) -> Result<(), String>,
}

/// Every manifest the stand-in applied, by revision.
pub type Applied = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// What the stand-in's thread keeps between looks.
struct Follower {
    setup: KustomizeSetup,
    log: Arc<Mutex<Vec<String>>>,
    mismatches: Arc<Mutex<Vec<String>>>,
    applied: Applied,
    last_seen: String,
    ready_since: Option<(String, String)>,
}

impl Follower {
    /// One look at the ExternalArtifact; a reconcile when its revision changed.
    fn look(&mut self) {
        let setup = &self.setup;
        let Some(ea) = get(&setup.kubeconfig, "externalartifacts", &setup.namespace, &setup.name) else { return };
        let artifact = &ea["status"]["artifact"];
        let Some(revision) = artifact["revision"].as_str() else { return };
        // kustomize-controller reconciles when the revision changes, not the digest.
        if revision == self.last_seen {
            return;
        }
        self.last_seen = revision.to_string();
        let digest = artifact["digest"].as_str().unwrap_or("");
        let origin = artifact["metadata"]["org.opencontainers.image.revision"].as_str().unwrap_or("");
        let outcome = fetch(artifact["url"].as_str().unwrap_or(""), digest)
            .map_err(Refusal::Artifact)
            .and_then(|files| check_content(setup, &files, origin, &self.applied));
        let previous = get(&setup.kubeconfig, "kustomizations", &setup.namespace, &setup.name)
            .and_then(|k| k["status"]["lastAppliedRevision"].as_str().map(String::from));
        let (ready, reason, message, applied_revision) = match outcome {
            Ok(manifest) => match (setup.health)(&manifest) {
                Ok(()) => {
                    self.applied.lock().unwrap().push((revision.to_string(), manifest));
                    let message = format!("Applied revision: {revision}");
                    ("True", "ReconciliationSucceeded", message, Some(revision.to_string()))
                }
                Err(why) => ("False", "HealthCheckFailed", format!("health check failed after 1m0s: {why}"), previous),
            },
            Err(Refusal::Artifact(why)) => ("False", "ArtifactFailed", why, previous),
            Err(Refusal::Content(why)) => {
                self.mismatches.lock().unwrap().push(format!("{revision}: {why}"));
                ("False", "BuildFailed", why, previous)
            }
        };
        self.log.lock().unwrap().push(format!("{revision}: Ready={ready} {reason}: {message}"));
        // kstatus: lastTransitionTime moves only when the status does.
        let transition = match &self.ready_since {
            Some((status, at)) if status == ready => at.clone(),
            _ => now(),
        };
        self.ready_since = Some((ready.to_string(), transition.clone()));
        let mut status = json!({"lastAttemptedRevision": revision, "observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message,
                "lastTransitionTime": transition, "observedGeneration": 1}]});
        if let Some(r) = applied_revision {
            status["lastAppliedRevision"] = json!(r);
            status["lastAppliedOriginRevision"] = json!(origin);
        }
        patch_status(&setup.kubeconfig, "kustomizations", &setup.namespace, &setup.name, &status);
    }
}

impl KustomizeController {
    /// Creates the Kustomization and starts following it.
    pub fn start(setup: KustomizeSetup) -> KustomizeController {
        let obj = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": setup.name, "namespace": setup.namespace},
            "spec": {"interval": "10m", "path": "./", "prune": true, "timeout": "1m",
                "sourceRef": {"kind": "ExternalArtifact", "name": setup.name}}});
        apply(&setup.kubeconfig, &obj);
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let mismatches: Arc<Mutex<Vec<String>>> = Arc::default();
        let applied: Applied = Arc::default();
        let mut follower = Follower {
            setup,
            log: log.clone(),
            mismatches: mismatches.clone(),
            applied: applied.clone(),
            last_seen: String::new(),
            ready_since: None,
        };
        let running = stop.clone();
        let thread = std::thread::spawn(move || {
            while !running.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                follower.look();
            }
        });
        KustomizeController { stop, thread: Some(thread), log, mismatches, applied }
    }
}

/// The artifact holds one manifest, equal to `rewind render` of the app's
/// path at the origin revision, or — a rollback — to a manifest applied before.
fn check_content(
    setup: &KustomizeSetup,
    files: &HashMap<String, Vec<u8>>,
    origin: &str,
    applied: &Applied,
) -> Result<Vec<u8>, Refusal> {
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    let [name] = names[..] else { return Err(Refusal::Content(format!("expected one file, got {names:?}"))) };
    let manifest = files[name].clone();
    if applied.lock().unwrap().iter().any(|(_, m)| *m == manifest) {
        return Ok(manifest);
    }
    let commit =
        origin.strip_prefix("main@sha1:").ok_or_else(|| Refusal::Content(format!("origin revision {origin:?}")))?;
    let checkout = tempfile::tempdir().unwrap();
    setup.repo.lock().unwrap().checkout_without_symlinks(commit, checkout.path());
    let mut cmd = super::command(checkout.path());
    cmd.args(["render", "--no-record"]).arg(checkout.path().join(&setup.path));
    for (k, v) in &setup.vars {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Err(Refusal::Content(format!("rewind render failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    if out.stdout != manifest {
        return Err(Refusal::Content(format!("{name} differs from `rewind render` at {origin}")));
    }
    Ok(manifest)
}

impl Drop for KustomizeController {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The API server with every CRD the Flux flow needs: Flux's, and rewind's RewindSource.
pub fn crd_args() -> Vec<String> {
    let shared = super::root().join("../shared/flux/crds");
    let mut args = Vec::new();
    for file in [
        "source.toolkit.fluxcd.io_gitrepositories.yaml",
        "source.toolkit.fluxcd.io_ocirepositories.yaml",
        "source.toolkit.fluxcd.io_externalartifacts.yaml",
        "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    ] {
        args.push("--crd".to_string());
        args.push(shared.join(file).display().to_string());
    }
    args.push("--crd".to_string());
    args.push(bucket_crd().display().to_string());
    args.push("--crd".to_string());
    args.push(super::root().join("manifests/flux/crd.yaml").display().to_string());
    args
}

/// Flux's Bucket CRD is not among ../shared/flux/crds. Its `status.artifact`
/// is the same `meta.Artifact` as GitRepository's, which is all rewind
/// reads, so the test derives it from that CRD: Bucket's names, its required
/// spec fields, the rest of its spec left open.
fn bucket_crd() -> PathBuf {
    let git = std::fs::read_to_string(
        super::root().join("../shared/flux/crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
    )
    .unwrap();
    let mut crd: Value = serde_saphyr::from_str(&git).unwrap();
    crd["metadata"] = json!({"name": "buckets.source.toolkit.fluxcd.io"});
    crd["spec"]["names"] =
        json!({"kind": "Bucket", "listKind": "BucketList", "plural": "buckets", "singular": "bucket"});
    for version in crd["spec"]["versions"].as_array_mut().unwrap() {
        version["schema"]["openAPIV3Schema"]["properties"]["spec"] = json!({"type": "object",
            "required": ["bucketName", "endpoint", "interval"], "x-kubernetes-preserve-unknown-fields": true});
        version["additionalPrinterColumns"] = json!([]);
    }
    let file = tempfile::Builder::new().prefix("rewind-test-bucket-crd").suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), crd.to_string()).unwrap();
    // Kept for the server's start (a few hundred bytes in the temp dir).
    file.into_temp_path().keep().unwrap()
}

/// Starts an API server with [`crd_args`] and `extra`.
pub fn api_server(extra: &[&str]) -> ApiServer {
    let mut args = crd_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ApiServer::start(&refs)
}
