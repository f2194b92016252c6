//! The Kubernetes store passes the shared conformance suite against the
//! project's test API server, and keeps the Secret layout kubectl users see.

mod common;
#[macro_use]
mod store_conformance;

use common::apiserver::ApiServer;
use rewind::history::{History, NewRelease};
use rewind::release::AppKey;
use rewind::store::{KubernetesStore, Store};
use std::sync::Arc;

store_conformance!(|| {
    let server = ApiServer::start(&[]);
    let store = KubernetesStore::open(&format!("conformance?kubeconfig={}", server.kubeconfig().display())).unwrap();
    (Arc::new(store) as Arc<dyn Store>, server)
});

#[test]
fn store_url_parameters_are_checked() {
    for bad in ["kubernetes://", "kubernetes://a/b", "kubernetes://ns?colour=blue"] {
        let err = rewind::store::open(bad, &Default::default()).err().expect(bad).to_string();
        assert!(err.contains("kubernetes://"), "{err}");
    }
    let err = KubernetesStore::open("ns?kubeconfig=/nonexistent").err().unwrap().to_string();
    assert!(err.contains("/nonexistent"), "{err}");
}

#[test]
fn unreachable_api_server_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = ApiServer::start(&[]).stop_keeping_kubeconfig(dir.path());
    let store = KubernetesStore::open(&format!("gone?kubeconfig={}", kubeconfig.display())).unwrap();
    let err = store.list(&AppKey::new("app").unwrap()).unwrap_err().to_string();
    assert!(err.contains("cannot reach the Kubernetes API"), "{err}");
}

#[test]
fn large_releases_are_chunked_and_a_missing_chunk_is_named() {
    let server = ApiServer::start(&[]);
    let url = server.store_url("chunks");
    let store = rewind::store::open(&url, &Default::default()).unwrap();
    let big = store_conformance::large_manifest();
    let big_app = AppKey::new("big").unwrap();
    let history = History::new(store.as_ref());
    let new = NewRelease {
        app: big_app.clone(),
        manifest: big.clone().into_bytes(),
        source: Default::default(),
        rollback_of: None,
        description: "6 MB".into(),
        class: None,
        evidence: None,
    };
    history.record(&new, 10).unwrap();
    assert_eq!(history.get(&big_app, 1).unwrap().manifest, big.as_bytes());

    let out = server.kubectl(&[
        "get",
        "secrets",
        "-n",
        "chunks",
        "-l",
        "rewind.dev/app=big,rewind.dev/role=chunk",
        "-o",
        "json",
    ]);
    let chunks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chunks = chunks["items"].as_array().unwrap();
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    for c in chunks {
        assert_eq!(c["immutable"], true);
        assert_eq!(c["metadata"]["ownerReferences"][0]["name"], "rewind.big.v1", "owned by the index Secret");
    }
    // A truncated chunk: the payload no longer matches its digest.
    let mut cut = chunks[2].clone();
    let data = cut["data"]["chunk"].as_str().unwrap().to_string();
    cut["data"]["chunk"] = serde_json::json!(&data[..data.len() / 2 / 4 * 4]);
    let name = cut["metadata"]["name"].as_str().unwrap().to_string();
    for key in ["resourceVersion", "uid", "creationTimestamp", "ownerReferences"] {
        cut["metadata"].as_object_mut().unwrap().remove(key);
    }
    assert!(server.kubectl(&["delete", "secret", &name, "-n", "chunks"]).status.success());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), cut.to_string()).unwrap();
    let out = server.kubectl(&["apply", "--validate=false", "-n", "chunks", "-f", file.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = history.get(&big_app, 1).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");

    let victim = chunks[1]["metadata"]["name"].as_str().unwrap().to_string();
    assert!(server.kubectl(&["delete", "secret", &victim, "-n", "chunks"]).status.success());
    let err = history.get(&big_app, 1).unwrap_err().to_string();
    assert!(err.contains("chunk 1") && err.contains(&victim) && err.contains("missing"), "{err}");

    // Deleting the release removes its chunks too.
    store.delete(&big_app, 1).unwrap();
    let out = server.kubectl(&["get", "secrets", "-n", "chunks", "-o", "json"]);
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(left["items"].as_array().unwrap().len(), 0);
}
