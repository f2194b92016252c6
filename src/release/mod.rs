//! Releases: what one render produced and what became of it. The data types
//! every layer above shares, and nothing else: stores keep them, `history`
//! encodes them and applies the history policy, rollbacks read them.
//!
//! A release is the manifest bytes exactly as printed, plus a record of where
//! they came from. Rollback prints these bytes again, so they are stored
//! verbatim (compressed) and checked against their sha256 digest on read.

mod app_key;
mod class;
mod evidence;

pub use app_key::AppKey;
pub use class::{ClassKind, RollbackClass};
pub use evidence::{CheckResult, RollbackEvidence, Trigger, Verdict};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Rendered and printed, not yet confirmed applied.
    Pending,
    /// Confirmed applied and healthy: a last-good candidate.
    Deployed,
    /// Applied and found broken.
    Failed,
    /// Was deployed; a later release has been deployed since.
    Superseded,
}

impl Status {
    /// The label value / display name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Deployed => "deployed",
            Status::Failed => "failed",
            Status::Superseded => "superseded",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(Status::Pending),
            "deployed" => Ok(Status::Deployed),
            "failed" => Ok(Status::Failed),
            "superseded" => Ok(Status::Superseded),
            _ => Err(format!("unknown status {s:?}; use pending, deployed, failed or superseded")),
        }
    }
}

/// Where a release's manifest came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct SourceInfo {
    /// Git repository URL (`ARGOCD_APP_SOURCE_REPO_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    /// Path in the repository, or the local directory rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The resolved git revision (`ARGOCD_APP_REVISION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The requested revision (`ARGOCD_APP_SOURCE_TARGET_REVISION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// sha256 of the plugin env and parameters that produced the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_fingerprint: Option<String>,
}

/// Everything about a release except the manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct ReleaseMeta {
    /// The app this release belongs to.
    pub app: AppKey,
    /// 1, 2, 3, … per app.
    pub revision: u64,
    /// Where it stands.
    pub status: Status,
    /// When it was recorded (RFC 3339, UTC).
    pub created: String,
    /// Where the manifest came from.
    #[serde(default)]
    pub source: SourceInfo,
    /// `sha256:<hex>` of the manifest bytes.
    pub digest: String,
    /// Manifest size in bytes (uncompressed).
    pub size: u64,
    /// The revision this one copies, when it is a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// A human note: "render", "rollback to 3 (previous)".
    #[serde(default)]
    pub description: String,
    /// How the payload is encrypted; absent for a plain (compressed only) payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// What the release says about rolling back past it; absent: reversible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<RollbackClass>,
    /// When it was first marked deployed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_at: Option<String>,
    /// For a rollback: who asked, why, and the checks it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<RollbackEvidence>,
}

/// Envelope encryption of one release's payload: a data key of its own,
/// wrapped by one of the operator's key-encryption keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Encryption {
    /// The cipher of payload and wrapping (`AES-256-GCM`).
    pub algorithm: String,
    /// The id, in the key file, of the key that wraps the data key.
    pub key_id: String,
    /// The data key wrapped by that key (base64 of nonce, ciphertext and tag);
    /// left out of what rewind shows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wrapped_key: String,
}

impl ReleaseMeta {
    /// The record of a `pending` release of `manifest` as `revision`, created now.
    pub fn pending(
        app: &AppKey,
        revision: u64,
        manifest: &[u8],
        source: SourceInfo,
        rollback_of: Option<u64>,
        description: &str,
    ) -> ReleaseMeta {
        ReleaseMeta {
            app: app.clone(),
            revision,
            status: Status::Pending,
            created: now_rfc3339(),
            source,
            digest: digest_of(manifest),
            size: manifest.len() as u64,
            rollback_of,
            description: description.to_string(),
            encryption: None,
            class: None,
            deployed_at: None,
            evidence: None,
        }
    }

    /// The record as rewind shows it: the wrapped data key left out.
    pub fn shown(&self) -> ReleaseMeta {
        let mut meta = self.clone();
        if let Some(e) = &mut meta.encryption {
            e.wrapped_key.clear();
        }
        meta
    }

    /// What a release's encryption is bound to, so a payload or wrapped key
    /// cannot be moved to another release.
    pub fn binding(&self) -> Vec<u8> {
        format!("rewind.dev/v1\0{}\0{}\0{}\0{}", self.app, self.revision, self.digest, self.size).into_bytes()
    }
}

/// A release: its record and its manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The record.
    pub meta: ReleaseMeta,
    /// The manifest, exactly as printed.
    pub manifest: Vec<u8>,
}

/// A release as a store keeps it: the record, and the payload (the encoded
/// manifest), which a store neither reads nor changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRelease {
    /// The record.
    pub meta: ReleaseMeta,
    /// The encoded manifest (see `history::codec`).
    pub payload: Vec<u8>,
    /// Where it was read from (a file, a Secret), for messages; empty before it is stored.
    pub location: String,
}

impl Release {
    /// A `pending` release of `manifest` as `revision`, created now.
    pub fn pending(
        app: &AppKey,
        revision: u64,
        manifest: Vec<u8>,
        source: SourceInfo,
        rollback_of: Option<u64>,
        description: &str,
    ) -> Release {
        Release { meta: ReleaseMeta::pending(app, revision, &manifest, source, rollback_of, description), manifest }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
