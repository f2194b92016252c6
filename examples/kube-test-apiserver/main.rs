//! A Kubernetes API server for rewind's tests, since no real kube-apiserver can
//! be installed where they run. It behaves like the real one for what a client
//! of Secrets, Events, ConfigMaps and Argo CD Applications sees: discovery
//! (so `kubectl --server http://127.0.0.1:PORT` works), create/get/list/update/
//! patch/delete, label and field selectors, `limit`/`continue` pagination,
//! resourceVersions with 409 `Conflict`, 409 `AlreadyExists`, 422 `Invalid`
//! (names, label values, the 1 MiB Secret/ConfigMap limit, immutable Secrets),
//! a `count/secrets` quota answered with 403, watch streams, and `Status`
//! bodies on every error. State is in memory.
//!
//! ```sh
//! cargo run --example kube-test-apiserver -- --port 8001 [--secret-quota 10]
//! ```
//! The first line on stdout is `listening on http://127.0.0.1:PORT`.

mod http;
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
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await.expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address");
    let mut storage = storage::Storage::default();
    storage.secret_quota = args.secret_quota;
    let (changes, _) = tokio::sync::broadcast::channel(65_536);
    let shared = Arc::new(http::Shared { storage: Mutex::new(storage), changes, address: address.to_string() });
    let app = axum::Router::new().fallback(http::handle).with_state(shared);
    println!("listening on http://{address}");
    std::io::stdout().flush().expect("stdout");
    axum::serve(listener, app).await.expect("serve");
}
