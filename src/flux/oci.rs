//! `rewind push`: a release as a Flux OCI artifact, for pipelines that
//! render in CI and deliver through an OCIRepository. The layout is Flux's
//! (`flux push artifact`): an OCI image manifest, config media type
//! `application/vnd.cncf.flux.config.v1+json`, one layer
//! `application/vnd.cncf.flux.content.v1.tar+gzip` holding the same
//! deterministic tar.gz the artifact server serves, and the
//! `org.opencontainers.image.{created,source,revision}` annotations.
//! `created` is the release's own creation time, so pushing a release again
//! pushes the same manifest. Credentials come from the Docker config, as
//! `flux push artifact` and `docker push` take them.

use super::artifact::Artifact;
use crate::error::{Error, Result};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::collections::BTreeMap;

/// Flux's artifact config media type.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
/// Flux's artifact content (layer) media type.
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// What to push where.
#[derive(Debug, Clone)]
pub struct Push<'a> {
    /// `oci://HOST/REPO:TAG`.
    pub url: &'a str,
    /// The release's tar.gz.
    pub artifact: &'a Artifact,
    /// `org.opencontainers.image.source` (the Git URL).
    pub source: &'a str,
    /// `org.opencontainers.image.revision` (`main@sha1:<hex>`).
    pub revision: &'a str,
    /// `org.opencontainers.image.created` (RFC 3339).
    pub created: &'a str,
    /// Plain HTTP (Flux: `spec.insecure: true` on the OCIRepository).
    pub insecure: bool,
}

/// What a push published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `sha256:…` of the manifest, as the registry reports it.
    pub manifest_digest: String,
    /// `sha256:…` of the layer (the tar.gz).
    pub layer_digest: String,
}

/// `oci://HOST/REPO:TAG` → a reference with an explicit tag.
pub fn parse_url(url: &str) -> Result<Reference> {
    let bad = |why: &str| {
        Error::Config(format!("{url:?}: {why}; write oci://HOST/REPOSITORY:TAG, e.g. oci://ghcr.io/org/app:v1"))
    };
    let rest = url.strip_prefix("oci://").ok_or_else(|| bad("not an oci:// URL"))?;
    let last = rest.rsplit('/').next().unwrap_or(rest);
    if !rest.contains('/') || !last.contains(':') || rest.contains('@') {
        return Err(bad("needs a host, a repository and a tag (no digest)"));
    }
    rest.parse::<Reference>().map_err(|e| bad(&e.to_string()))
}

/// The Docker config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The registry's credentials from the Docker config (its `auths`, or the
/// credential helper it names), or none when there is no config or no entry.
fn auth(registry: &str) -> Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let Some(path) = docker_config().filter(|p| p.exists()) else { return Ok(RegistryAuth::Anonymous) };
    let unreadable = |why: String| {
        Error::Config(format!(
            "{}: cannot read the credentials of registry {registry}: {why}; fix the file, or `docker login {registry}`",
            path.display()
        ))
    };
    let file = std::fs::File::open(&path).map_err(|e| unreadable(e.to_string()))?;
    // Docker Hub's credentials live under its v1 URL.
    let server = match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    };
    match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), server) {
        Ok(DockerCredential::UsernamePassword(user, password)) => Ok(RegistryAuth::Basic(user, password)),
        Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
        Err(E::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Pushes `p.artifact` to `p.url`.
pub fn push(p: &Push) -> Result<Pushed> {
    let reference = parse_url(p.url)?;
    let registry = reference.resolve_registry().to_string();
    let auth = auth(&registry)?;
    super::fetch::ensure_crypto_provider();
    let protocol = if p.insecure { ClientProtocol::Http } else { ClientProtocol::Https };
    let client = Client::new(ClientConfig { protocol, ..ClientConfig::default() });
    let layer = ImageLayer::new(p.artifact.bytes.clone(), CONTENT_MEDIA_TYPE.to_string(), None);
    let config = Config::new(b"{}".to_vec(), CONFIG_MEDIA_TYPE.to_string(), None);
    let annotations = BTreeMap::from([
        ("org.opencontainers.image.created".to_string(), p.created.to_string()),
        ("org.opencontainers.image.revision".to_string(), p.revision.to_string()),
        ("org.opencontainers.image.source".to_string(), p.source.to_string()),
    ]);
    let layers = [layer];
    let mut manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
    let layer_digest = manifest.layers[0].digest.clone();
    let failed = |doing: &str, e: oci_client::errors::OciDistributionError| {
        Error::Store(format!(
            "OCI registry {registry}: {doing} {}: {e}{}",
            p.url,
            if p.insecure { "" } else { " (a registry on plain HTTP needs --insecure)" }
        ))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start a runtime for the OCI client", e))?;
    runtime.block_on(async {
        client
            .push(&reference, &layers, config, &auth, Some(manifest.clone()))
            .await
            .map_err(|e| failed("pushing", e))?;
        let manifest_digest = client
            .fetch_manifest_digest(&reference, &auth)
            .await
            .map_err(|e| failed("reading back the manifest digest of", e))?;
        Ok(Pushed { manifest_digest, layer_digest })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_host_a_repository_and_a_tag() {
        let r = parse_url("oci://localhost:5000/apps/guestbook:v1").unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "apps/guestbook", Some("v1")));
        for bad in ["localhost:5000/app:v1", "oci://app:v1", "oci://localhost:5000/app", "oci://h/app@sha256:ab"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
