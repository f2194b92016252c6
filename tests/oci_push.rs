//! `rewind push` against a real registry (Debian's `docker-registry`,
//! installed by .ci/run), read back by independent clients: `skopeo inspect
//! --raw` for the manifest, curl for the blobs, the system's tar for the layer.

mod common;
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry` on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one; with `htpasswd`, Basic auth against that file.
    fn start(htpasswd: Option<&Path>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = format!("127.0.0.1:{port}");
        let auth = htpasswd.map_or(String::new(), |f| {
            format!("auth:\n  htpasswd:\n    realm: rewind-test\n    path: {}\n", f.display())
        });
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n{auth}",
            dir.path().join("data").display()
        );
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry is installed by .ci/run");
        let mut registry = Registry { child, address, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while curl_code(&format!("http://{}/v2/", registry.address)) == 0 {
            if Instant::now() > deadline || registry.child.try_wait().unwrap().is_some() {
                let mut err = String::new();
                registry.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                panic!("docker-registry did not start: {err}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl_code(url: &str) -> u16 {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

/// `GET url` with curl → body (asserting 200).
fn curl_get(url: &str, creds: Option<&str>) -> Vec<u8> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sf"]);
    if let Some(c) = creds {
        cmd.args(["-u", c]);
    }
    ok(&cmd.arg(url).output().unwrap())
}

/// `skopeo inspect --raw` of `reference` → (raw manifest bytes, parsed).
fn inspect(reference: &str, creds: Option<&str>) -> (Vec<u8>, Value) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let raw = ok(&cmd.arg(format!("docker://{reference}")).output().expect("skopeo is installed by .ci/run"));
    let parsed = serde_json::from_slice(&raw).unwrap();
    (raw, parsed)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Two releases of guestbook in a file store at `tmp`: IMAGE_TAG v5, then v6.
fn two_releases(tmp: &Path) {
    let app = tmp.join("guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    ok(&rewind(tmp, &["render", app.to_str().unwrap()]));
    ok(&rewind(tmp, &["render", app.to_str().unwrap(), "--set", "IMAGE_TAG=v6"]));
}

fn push(tmp: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["push", url, "--app", "guestbook", "--source", "https://github.com/org/apps", "--revision"];
    args.push("main@sha1:0123456789abcdef0123456789abcdef01234567");
    args.extend_from_slice(extra);
    rewind(tmp, &args)
}

/// The pushed manifest is Flux's layout with the release's tar.gz as its
/// one layer; pushing an older release again publishes the same bytes.
#[test]
fn push_publishes_a_flux_artifact_an_independent_client_reads() {
    let registry = Registry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    two_releases(tmp.path());
    let at = |tag: &str| format!("{}/apps/guestbook:{tag}", registry.address);

    let out = push(tmp.path(), &format!("oci://{}", at("v2")), &["--insecure"]);
    let printed = String::from_utf8(ok(&out)).unwrap();
    let (raw, manifest) = inspect(&at("v2"), None);
    assert_eq!(printed, format!("{}\n", sha256(&raw)), "prints the manifest's digest");
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.cncf.flux.config.v1+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/vnd.cncf.flux.content.v1.tar+gzip");
    let history: Vec<Value> =
        serde_json::from_slice(&ok(&rewind(tmp.path(), &["history", "guestbook", "-o", "json"]))).unwrap();
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.source"], "https://github.com/org/apps");
    assert_eq!(annotations["org.opencontainers.image.revision"], "main@sha1:0123456789abcdef0123456789abcdef01234567");
    assert_eq!(annotations["org.opencontainers.image.created"], history[1]["created"], "the release's own time");

    // The layer is the release's tar.gz: one file, manifest.yaml, the release byte for byte.
    let blob = |digest: &Value| {
        curl_get(&format!("http://{}/v2/apps/guestbook/blobs/{}", registry.address, digest.as_str().unwrap()), None)
    };
    assert_eq!(blob(&manifest["config"]["digest"]), b"{}");
    let layer = blob(&layers[0]["digest"]);
    assert_eq!(sha256(&layer), layers[0]["digest"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("layer.tar.gz"), &layer).unwrap();
    let listing = ok(&Command::new("tar").arg("-tzf").arg(dir.path().join("layer.tar.gz")).output().unwrap());
    assert_eq!(listing, b"manifest.yaml\n");
    ok(&Command::new("tar")
        .arg("-xzf")
        .arg(dir.path().join("layer.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .output()
        .unwrap());
    assert_eq!(
        std::fs::read(dir.path().join("manifest.yaml")).unwrap(),
        ok(&rewind(tmp.path(), &["show", "guestbook", "2"]))
    );

    // An older release, pushed twice: the same layer and manifest each time, not release 2's.
    let first =
        String::from_utf8(ok(&push(tmp.path(), &format!("oci://{}", at("v1")), &["--insecure", "--release", "1"])))
            .unwrap();
    let again = String::from_utf8(ok(&push(
        tmp.path(),
        &format!("oci://{}", at("rollback")),
        &["--insecure", "--release", "previous"],
    )))
    .unwrap();
    assert_eq!(first, again, "byte-identical content, same manifest digest");
    let (_, v1) = inspect(&at("rollback"), None);
    assert_ne!(v1["layers"][0]["digest"], layers[0]["digest"]);
    assert_eq!(inspect(&at("v1"), None).1["layers"][0]["digest"], v1["layers"][0]["digest"]);

    // Refusals print nothing on stdout and say what to do.
    fails(&push(tmp.path(), &format!("oci://{}", at("plain")), &[]), &["--insecure"]);
    fails(&push(tmp.path(), &at("x"), &["--insecure"]), &["oci://HOST/REPOSITORY:TAG"]);
    fails(&push(tmp.path(), &format!("oci://{}/apps/guestbook", registry.address), &["--insecure"]), &["a tag"]);
    fails(
        &push(tmp.path(), &format!("oci://{}", at("v9")), &["--insecure", "--release", "9"]),
        &["revision 9 does not exist"],
    );
}

/// Credentials come from the Docker config in $DOCKER_CONFIG (or ~/.docker).
#[test]
fn push_authenticates_with_the_docker_config() {
    let tmp = tempfile::tempdir().unwrap();
    let hash = Command::new("python3")
        .args(["-c", "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))"])
        .output()
        .unwrap();
    let htpasswd = tmp.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("flux:{}", String::from_utf8(ok(&hash)).unwrap())).unwrap();
    let registry = Registry::start(Some(&htpasswd));
    two_releases(tmp.path());
    let url = format!("oci://{}/apps/guestbook:v2", registry.address);

    fails(&push(tmp.path(), &url, &["--insecure"]), &["OCI registry", "pushing"]);
    let docker = tmp.path().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("flux:s3cret");
    let config = format!("{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}", registry.address);
    std::fs::write(docker.join("config.json"), config).unwrap();
    let printed = String::from_utf8(ok(&push(tmp.path(), &url, &["--insecure"]))).unwrap();
    let (raw, _) = inspect(&format!("{}/apps/guestbook:v2", registry.address), Some("flux:s3cret"));
    assert_eq!(printed.trim(), sha256(&raw));
}
