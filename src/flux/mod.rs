//! Flux: rewind as the build step between a Flux source and a Kustomization.
//! Flux runs no plugins after building, so rewind is a producer beside it:
//! `rewind serve --integrations flux` reads a source's artifact ([`fetch`]),
//! renders the `RewindSource`'s path with the same pipeline as `generate`,
//! records the release, and serves it as a deterministic tar.gz
//! ([`artifact`]) through an `ExternalArtifact` (Flux ≥ 2.7) that a
//! Kustomization consumes. `rewind push` publishes the same tar.gz as an OCI
//! artifact for pipelines that render in CI.

pub mod artifact;
pub mod client;
pub mod crd;
pub mod fetch;
pub mod oci;
pub mod produce;

pub use crd::{RewindSource, RewindSourceSpec, RewindSourceStatus};

/// The RewindSource CRD as YAML (what `manifests/flux/crd.yaml` holds).
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(RewindSource::crd()).expect("the CRD serializes");
    let header = "# Generated from src/flux/crd.rs: cargo run --example crdgen > manifests/flux/crd.yaml\n";
    format!("{header}{}", serde_saphyr::to_string(&crd).expect("the CRD serializes as YAML"))
}
