//! Starts the project's Kubernetes test API server for a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A running `kube-test-apiserver`, killed on drop.
pub struct ApiServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
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

impl ApiServer {
    /// Starts a server with extra `args` (e.g. `--secret-quota 3`).
    pub fn start(args: &[&str]) -> ApiServer {
        let mut child =
            Command::new(server_binary()).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("the server announces its address").to_string();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{url}\"}}\nusers:\n- name: test\n  user: {{}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\ncurrent-context: test\n"
            ),
        )
        .unwrap();
        ApiServer { child, url, _dir: dir, kubeconfig }
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
