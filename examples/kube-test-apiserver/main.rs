//! A Kubernetes API server for rewind's tests, since no real kube-apiserver can
//! be installed where they run. It behaves like the real one for what a client
//! of Secrets, Events, ConfigMaps and Argo CD Applications sees: discovery
//! (so `kubectl --server http://127.0.0.1:PORT` works), create/get/list/update/
//! patch/delete, label and field selectors, `limit`/`continue` pagination,
//! resourceVersions with 409 `Conflict`, 409 `AlreadyExists`, 422 `Invalid`
//! (names, label values, the 1 MiB Secret/ConfigMap limit, immutable Secrets),
//! a `count/secrets` quota answered with 403, watch streams, `Status`
//! bodies on every error, and — with `--rbac` — authentication (bearer
//! tokens over TLS; no token is `system:anonymous`), impersonation by those
//! allowed to, and RBAC (Roles, ClusterRoles and their bindings to users,
//! service accounts and groups), answered with 401/403. State is in memory.
//!
//! ```sh
//! cargo run --example kube-test-apiserver -- --port 8001 [--secret-quota 10]
//! kubectl kustomize manifests/controller > rbac.yaml
//! cargo run --example kube-test-apiserver -- --rbac rbac.yaml --admin-token root --tls-ca-file ca.crt --port 8001
//! kubectl --server https://127.0.0.1:8001 --certificate-authority ca.crt --token root \
//!   --as system:serviceaccount:rewind:rewind-controller get secrets -n argocd
//! ```
//! The first line on stdout is `listening on http(s)://127.0.0.1:PORT`.

mod http;
mod managed;
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
    /// YAML stream of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings to enforce.
    /// A request without a token is then system:anonymous.
    #[arg(long)]
    rbac: Option<std::path::PathBuf>,
    /// TOKEN=USER, e.g. t1=system:serviceaccount:rewind:rewind-controller (repeatable).
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// A token for system:admin (group system:masters): may do anything, and impersonate.
    #[arg(long)]
    admin_token: Option<String>,
    /// Serve HTTPS with a fresh certificate authority, whose certificate (PEM) is written here.
    /// Clients send bearer tokens only over TLS.
    #[arg(long)]
    tls_ca_file: Option<std::path::PathBuf>,
    /// Append one JSON line per authorization decision (user, verb, resource, allowed) here.
    #[arg(long)]
    audit_log: Option<std::path::PathBuf>,
    /// Changes kept for watches to resume from; a watch from an older resourceVersion gets 410 Gone.
    #[arg(long, default_value_t = storage::DEFAULT_WATCH_HISTORY)]
    watch_history: usize,
    /// CustomResourceDefinitions to serve (YAML, repeatable): their storage version, validated
    /// against the schema, with a /status subresource where declared.
    #[arg(long = "crd")]
    crds: Vec<std::path::PathBuf>,
    /// Seconds between BOOKMARK events on watches that allow them.
    #[arg(long, default_value_t = 10)]
    bookmark_seconds: u64,
}

/// A CA and a serving certificate for 127.0.0.1 and localhost signed by it
/// (rustls does not accept a self-signed leaf as its own trust anchor).
fn tls_config(ca_file: &std::path::Path) -> Arc<rustls::ServerConfig> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "kube-test-apiserver CA");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("serving key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
    let cert = params.signed_by(&key, &Issuer::new(ca_params, &ca_key)).expect("serving certificate");
    std::fs::write(ca_file, ca_cert.pem()).unwrap_or_else(|e| panic!("--tls-ca-file {}: {e}", ca_file.display()));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), ca_cert.der().clone()], key)
        .expect("serving certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Serves `app` over TLS on `listener`, one task per connection.
async fn serve_tls(listener: tokio::net::TcpListener, app: axum::Router, config: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    resources::load(&args.crds).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await.expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address");
    let mut storage = storage::Storage::default();
    storage.secret_quota = args.secret_quota;
    storage.history = args.watch_history;
    let (changes, _) = tokio::sync::broadcast::channel(65_536);
    let yaml = match &args.rbac {
        Some(path) => std::fs::read_to_string(path).unwrap_or_else(|e| panic!("--rbac {}: {e}", path.display())),
        None => String::new(),
    };
    let rbac = rbac::Rbac::load(&yaml, args.rbac.is_some(), &args.tokens, args.admin_token.as_deref())
        .unwrap_or_else(|e| panic!("{e}"));
    let audit = args.audit_log.as_ref().map(|path| {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        Mutex::new(file.unwrap_or_else(|e| panic!("--audit-log {}: {e}", path.display())))
    });
    let scheme = if args.tls_ca_file.is_some() { "https" } else { "http" };
    let shared = Arc::new(http::Shared {
        storage: Mutex::new(storage),
        rbac,
        changes,
        address: address.to_string(),
        audit,
        bookmark_interval: std::time::Duration::from_secs(args.bookmark_seconds.max(1)),
        compactions: tokio::sync::watch::channel(0).0,
    });
    let app = axum::Router::new().fallback(http::handle).with_state(shared);
    println!("listening on {scheme}://{address}");
    std::io::stdout().flush().expect("stdout");
    match &args.tls_ca_file {
        Some(ca_file) => serve_tls(listener, app, tls_config(ca_file)).await,
        None => axum::serve(listener, app).await.expect("serve"),
    }
}
