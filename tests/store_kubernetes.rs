//! The Kubernetes store passes the shared conformance suite against the
//! project's test API server, and keeps the Secret layout kubectl users see.

mod common;
mod store_conformance;

use common::apiserver::ApiServer;
use rewind::store::{KubernetesStore, Store};
use std::sync::Arc;

#[test]
fn kubernetes_store_conformance() {
    let server = ApiServer::start(&[]);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    store_conformance::run_all(&|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::new(
            KubernetesStore::open(&format!("conformance-{n}?kubeconfig={}", server.kubeconfig().display())).unwrap(),
        ) as Arc<dyn Store>
    });
}

#[test]
fn store_url_parameters_are_checked() {
    for bad in ["kubernetes://", "kubernetes://a/b", "kubernetes://ns?colour=blue"] {
        let err = rewind::store::open(bad).err().expect(bad).to_string();
        assert!(err.contains("kubernetes://"), "{err}");
    }
    let err = KubernetesStore::open("ns?kubeconfig=/nonexistent").err().unwrap().to_string();
    assert!(err.contains("/nonexistent"), "{err}");
}

#[test]
fn unreachable_api_server_is_a_clear_error() {
    let server = ApiServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::copy(server.kubeconfig(), &kubeconfig).unwrap();
    drop(server); // nothing listens on its port any more
    let store = KubernetesStore::open(&format!("gone?kubeconfig={}", kubeconfig.display())).unwrap();
    let err = store.list("app").unwrap_err().to_string();
    assert!(err.contains("cannot reach the Kubernetes API"), "{err}");
}
