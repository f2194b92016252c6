//! Starts the project's Kubernetes test API server for a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A running `kube-test-apiserver`, killed on drop.
pub struct ApiServer {
    child: Child,
    /// `http(s)://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    /// With RBAC: the TLS CA file and the admin's token.
    tls: Option<(PathBuf, String)>,
}

/// The admin's token on servers started with RBAC.
const ADMIN_TOKEN: &str = "admin-token-for-tests";

fn server_binary() -> PathBuf {
    // target/debug/deps/<test> → target/debug/examples/kube-test-apiserver
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("examples/kube-test-apiserver");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "kube-test-apiserver"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the test API server");
    }
    bin
}

/// A kubeconfig for `url`: with `tls`, the CA and the admin's token;
/// `act_as` impersonates a user.
fn write_kubeconfig(
    dir: &Path,
    name: &str,
    url: &str,
    tls: Option<&(PathBuf, String)>,
    act_as: Option<&str>,
) -> PathBuf {
    let path = dir.join(name);
    let mut user = Vec::new();
    let mut cluster = format!("server: \"{url}\"");
    if let Some((ca, token)) = tls {
        cluster.push_str(&format!(", certificate-authority: \"{}\"", ca.display()));
        user.push(format!("token: \"{token}\""));
    }
    if let Some(u) = act_as {
        user.push(format!("as: \"{u}\""));
    }
    let user = format!("{{{}}}", user.join(", "));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{{cluster}}}\nusers:\n- name: test\n  user: {user}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\ncurrent-context: test\n"
        ),
    )
    .unwrap();
    path
}

impl ApiServer {
    /// Starts a server with extra `args` (e.g. `--secret-quota 3`).
    pub fn start(args: &[&str]) -> ApiServer {
        Self::spawn(tempfile::tempdir().unwrap(), args, None)
    }

    /// Starts a server that enforces the RBAC objects in `rbac_yaml`, over
    /// TLS: the plain kubeconfig carries the admin's token; a request without
    /// one is anonymous; [`ApiServer::kubeconfig_as`] impersonates a user.
    pub fn start_with_rbac(rbac_yaml: &str, extra: &[&str]) -> ApiServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rbac.yaml");
        std::fs::write(&file, rbac_yaml).unwrap();
        let ca = dir.path().join("ca.crt");
        let (file, ca_text) = (file.display().to_string(), ca.display().to_string());
        let mut args = vec!["--rbac", &file, "--admin-token", ADMIN_TOKEN, "--tls-ca-file", &ca_text];
        args.extend_from_slice(extra);
        Self::spawn(dir, &args, Some((ca, ADMIN_TOKEN.to_string())))
    }

    /// Every server keeps an audit trail ([`ApiServer::audit`]).
    fn spawn(dir: tempfile::TempDir, args: &[&str], tls: Option<(PathBuf, String)>) -> ApiServer {
        let audit = dir.path().join("audit.jsonl");
        let mut child = Command::new(server_binary())
            .args(args)
            .arg("--audit-log")
            .arg(&audit)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("the server announces its address").to_string();
        let kubeconfig = write_kubeconfig(dir.path(), "kubeconfig", &url, tls.as_ref(), None);
        ApiServer { child, url, dir, kubeconfig, tls }
    }

    /// A kubeconfig that acts as `user` (e.g. `system:serviceaccount:NS:NAME`):
    /// the admin impersonating it.
    pub fn kubeconfig_as(&self, user: &str) -> PathBuf {
        let name = format!("kubeconfig-{}", user.replace(':', "-"));
        write_kubeconfig(self.dir.path(), &name, &self.url, self.tls.as_ref(), Some(user))
    }

    /// The authorization decisions so far: `{user, verb, group, resource, namespace, name, allowed}`.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("audit.jsonl")).unwrap_or_default();
        // The server may be writing the last line as this reads: only whole lines count.
        text.split_inclusive('\n').filter(|l| l.ends_with('\n')).map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// `GET path` with curl (an independent client), with `token` if given: (HTTP status, body).
    pub fn curl(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-w", "\n%{http_code}"]);
        if let Some((ca, _)) = &self.tls {
            cmd.arg("--cacert").arg(ca);
        }
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.arg(format!("{}{path}", self.url)).output().expect("curl");
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
    }

    /// A kubeconfig pointing at this server.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The store URL for `namespace` on this server.
    pub fn store_url(&self, namespace: &str) -> String {
        format!("kubernetes://{namespace}?kubeconfig={}", self.kubeconfig.display())
    }

    /// Stops the server, keeping a copy of its kubeconfig in `dir`: a client
    /// configured with it finds nothing listening.
    pub fn stop_keeping_kubeconfig(self, dir: &Path) -> PathBuf {
        let copy = dir.join("kubeconfig-of-stopped-server");
        std::fs::copy(&self.kubeconfig, &copy).unwrap();
        copy
    }

    /// Runs `kubectl ARGS` as the admin (kubectl as an independent client).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl is installed by .ci/run")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
