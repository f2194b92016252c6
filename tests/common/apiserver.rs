//! Starts the project's Kubernetes test API server for a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A running `kube-test-apiserver`, killed on drop.
pub struct ApiServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

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

fn write_kubeconfig(dir: &Path, name: &str, url: &str, act_as: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    let user = act_as.map_or("{}".to_string(), |u| format!("{{as: \"{u}\"}}"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{url}\"}}\nusers:\n- name: test\n  user: {user}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\ncurrent-context: test\n"
        ),
    )
    .unwrap();
    path
}

impl ApiServer {
    /// Starts a server with extra `args` (e.g. `--secret-quota 3`).
    pub fn start(args: &[&str]) -> ApiServer {
        Self::spawn(tempfile::tempdir().unwrap(), args)
    }

    /// Starts a server that enforces the RBAC objects in `rbac_yaml` for
    /// impersonated users ([`ApiServer::kubeconfig_as`]); the plain kubeconfig stays admin.
    pub fn start_with_rbac(rbac_yaml: &str) -> ApiServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rbac.yaml");
        std::fs::write(&file, rbac_yaml).unwrap();
        let file = file.display().to_string();
        Self::spawn(dir, &["--rbac", &file])
    }

    fn spawn(dir: tempfile::TempDir, args: &[&str]) -> ApiServer {
        let mut child =
            Command::new(server_binary()).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("the server announces its address").to_string();
        let kubeconfig = write_kubeconfig(dir.path(), "kubeconfig", &url, None);
        ApiServer { child, url, dir, kubeconfig }
    }

    /// A kubeconfig that acts as `user` (e.g. `system:serviceaccount:NS:NAME`)
    /// by impersonation: clients send bearer tokens only over TLS.
    pub fn kubeconfig_as(&self, user: &str) -> PathBuf {
        write_kubeconfig(self.dir.path(), &format!("kubeconfig-{}", user.replace(':', "-")), &self.url, Some(user))
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

    /// Runs `kubectl --server URL ARGS` (kubectl as an independent client).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--server")
            .arg(&self.url)
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
