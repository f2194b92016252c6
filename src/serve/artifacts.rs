//! The artifact server Flux fetches from: `GET
//! /rewindsource/<namespace>/<name>/<sha256 hex>.tar.gz`, 200 with the tar.gz
//! or 404 — no listing, nothing else. Artifacts come from memory (what the
//! Flux worker produced lately) or, after a restart, from the store: any
//! release a RewindSource recorded packs again to the same bytes.

use super::metrics::Metrics;
use crate::flux::artifact::{Artifact, pack};
use crate::flux::crd::SourceKind;
use crate::history::History;
use crate::release::AppKey;
use crate::store::Store;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Artifacts kept in memory per RewindSource (the served one and a few
/// before it, for a kustomize-controller still fetching an older revision).
const KEEP: usize = 4;

/// The URL path of an artifact, relative to the server's base URL.
pub fn artifact_path(namespace: &str, name: &str, artifact: &Artifact) -> String {
    format!("rewindsource/{namespace}/{name}/{}", artifact.file_name())
}

/// Recently produced artifacts, by RewindSource.
#[derive(Default)]
pub struct ArtifactCache {
    by_source: Mutex<HashMap<(String, String), VecDeque<Artifact>>>,
}

impl ArtifactCache {
    /// Keeps `artifact` as the newest of `namespace/name`.
    pub fn insert(&self, namespace: &str, name: &str, artifact: Artifact) {
        let mut map = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.entry((namespace.to_string(), name.to_string())).or_default();
        list.retain(|a| a.hex != artifact.hex);
        list.push_front(artifact);
        list.truncate(KEEP);
    }

    /// The artifact of `namespace/name` with this digest, if in memory.
    pub fn get(&self, namespace: &str, name: &str, hex: &str) -> Option<Vec<u8>> {
        let map = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.get(&(namespace.to_string(), name.to_string()))?;
        list.iter().find(|a| a.hex == hex).map(|a| a.bytes.clone())
    }

    /// Drops a deleted RewindSource's artifacts.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.by_source.lock().unwrap_or_else(|e| e.into_inner()).remove(&(namespace.to_string(), name.to_string()));
    }
}

/// What the artifact server reads.
pub struct ArtifactServer {
    /// Recently produced artifacts.
    pub cache: Arc<ArtifactCache>,
    /// The release store, for artifacts no longer in memory.
    pub store: Arc<dyn Store>,
    /// Response counts.
    pub metrics: Arc<Metrics>,
}

/// The artifact server's routes.
pub fn router(server: Arc<ArtifactServer>) -> Router {
    Router::new()
        .route("/rewindsource/{namespace}/{name}/{file}", get(artifact))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(server)
}

/// A Kubernetes object name or namespace (DNS-1123 subdomain): nothing
/// that could be a path trick gets this far.
fn object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// `<64 lowercase hex>.tar.gz` → the hex.
fn digest_hex(file: &str) -> Option<&str> {
    let hex = file.strip_suffix(".tar.gz")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then_some(hex)
}

async fn artifact(
    State(server): State<Arc<ArtifactServer>>,
    Path((namespace, name, file)): Path<(String, String, String)>,
) -> Response {
    let response = match digest_hex(&file) {
        Some(hex) if object_name(&namespace) && object_name(&name) => {
            let hex = hex.to_string();
            match server.cache.get(&namespace, &name, &hex) {
                Some(bytes) => Ok(bytes),
                None => {
                    let server = server.clone();
                    tokio::task::spawn_blocking(move || from_store(&server, &namespace, &name, &hex))
                        .await
                        .unwrap_or(Err(StatusCode::INTERNAL_SERVER_ERROR))
                }
            }
        }
        _ => Err(StatusCode::NOT_FOUND),
    };
    match response {
        Ok(bytes) => {
            server.metrics.artifact_request(200);
            ([(header::CONTENT_TYPE, "application/gzip")], bytes).into_response()
        }
        Err(code) => {
            server.metrics.artifact_request(code.as_u16());
            code.into_response()
        }
    }
}

/// Packs the releases of the RewindSource's app key, newest first, until one
/// has this digest. Only releases a Flux source produced are served: the
/// store may hold other integrations' apps under a similar key.
fn from_store(server: &ArtifactServer, namespace: &str, name: &str, hex: &str) -> Result<Vec<u8>, StatusCode> {
    let key = AppKey::new(&format!("{namespace}_{name}")).map_err(|_| StatusCode::NOT_FOUND)?;
    let history = History::new(server.store.as_ref());
    let failed = |e: crate::error::Error| {
        server.metrics.store_errors.inc();
        tracing::warn!("artifact server: reading app {key} from the store: {e}");
        StatusCode::SERVICE_UNAVAILABLE
    };
    let metas = history.list(&key).map_err(failed)?;
    let from_flux = |repo: &Option<String>| {
        let kinds =
            [SourceKind::GitRepository, SourceKind::OCIRepository, SourceKind::Bucket, SourceKind::ExternalArtifact];
        repo.as_deref().is_some_and(|r| kinds.iter().any(|k| r.starts_with(&format!("{}/", k.name()))))
    };
    for meta in metas.iter().rev().filter(|m| from_flux(&m.source.repo_url)) {
        let release = history.get(&key, meta.revision).map_err(failed)?;
        let artifact = pack(&release.manifest);
        if artifact.hex == hex {
            let bytes = artifact.bytes.clone();
            server.cache.insert(namespace, name, artifact);
            return Ok(bytes);
        }
    }
    Err(StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_and_digests_pass() {
        assert!(object_name("flux-system") && object_name("a.b-c"));
        for bad in ["", "..", ".", "-a", "a/b", "A", "a%2fb", "a\0"] {
            assert!(!object_name(bad), "{bad:?}");
        }
        let hex = "a".repeat(64);
        assert_eq!(digest_hex(&format!("{hex}.tar.gz")), Some(hex.as_str()));
        for bad in ["x.tar.gz".to_string(), format!("{}.tar.gz", "A".repeat(64)), hex.clone(), format!("{hex}.tgz")] {
            assert_eq!(digest_hex(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_cache_keeps_the_newest_few() {
        let cache = ArtifactCache::default();
        let artifacts: Vec<Artifact> = (0..6).map(|i| pack(format!("n: {i}\n").as_bytes())).collect();
        for a in &artifacts {
            cache.insert("ns", "app", a.clone());
        }
        assert!(cache.get("ns", "app", &artifacts[0].hex).is_none(), "the oldest fell out");
        assert_eq!(cache.get("ns", "app", &artifacts[5].hex), Some(artifacts[5].bytes.clone()));
        assert!(cache.get("ns", "other", &artifacts[5].hex).is_none());
        cache.forget("ns", "app");
        assert!(cache.get("ns", "app", &artifacts[5].hex).is_none());
    }
}
