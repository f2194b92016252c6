//! A Kubernetes API server for rewind's tests, since no real kube-apiserver can
//! be installed where they run. It behaves like the real one for what a client
//! of Secrets, Events, ConfigMaps and Argo CD Applications sees: discovery
//! (so `kubectl --server http://127.0.0.1:PORT` works), create/get/list/update/
//! patch/delete, label and field selectors, `limit`/`continue` pagination,
//! resourceVersions with 409 `Conflict`, 409 `AlreadyExists`, 422 `Invalid`
//! (names, label values, the 1 MiB Secret/ConfigMap limit, immutable Secrets),
//! a `count/secrets` quota answered with 403, watch streams, `Status`
//! bodies on every error, and — with `--rbac` — RBAC (Roles, ClusterRoles and
//! their bindings) for impersonated users (`kubectl --as`, kubeconfig `as:`)
//! and bearer tokens, answered with 401/403. State is in memory.
//!
//! ```sh
//! cargo run --example kube-test-apiserver -- --port 8001 [--secret-quota 10]
//! kubectl kustomize manifests/controller > rbac.yaml
//! cargo run --example kube-test-apiserver -- --rbac rbac.yaml --port 8001
//! kubectl --server http://127.0.0.1:8001 --as system:serviceaccount:rewind:rewind-controller get secrets -n argocd
//! ```
//! The first line on stdout is `listening on http://127.0.0.1:PORT`.

mod http;
mod rbac;
mod resources;
mod selector;
mod storage;

use clap::Parser;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(about = "An in-memory Kubernetes API server for tests")]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Forbid creating Secrets beyond this many per namespace, like a ResourceQuota.
    #[arg(long)]
    secret_quota: Option<usize>,
    /// YAML stream of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings to enforce for
    /// impersonated users and token holders (a request with neither acts as cluster admin).
    #[arg(long)]
    rbac: Option<std::path::PathBuf>,
    /// TOKEN=USER, e.g. t1=system:serviceaccount:rewind:rewind-controller (repeatable).
    #[arg(long = "token")]
    tokens: Vec<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await.expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address");
    let mut storage = storage::Storage::default();
    storage.secret_quota = args.secret_quota;
    let (changes, _) = tokio::sync::broadcast::channel(65_536);
    let yaml = match &args.rbac {
        Some(path) => std::fs::read_to_string(path).unwrap_or_else(|e| panic!("--rbac {}: {e}", path.display())),
        None => String::new(),
    };
    let rbac = rbac::Rbac::load(&yaml, &args.tokens).unwrap_or_else(|e| panic!("{e}"));
    let shared = Arc::new(http::Shared { storage: Mutex::new(storage), rbac, changes, address: address.to_string() });
    let app = axum::Router::new().fallback(http::handle).with_state(shared);
    println!("listening on http://{address}");
    std::io::stdout().flush().expect("stdout");
    axum::serve(listener, app).await.expect("serve");
}
