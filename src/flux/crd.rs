//! `RewindSource` (`rewind.dev/v1alpha1`): render a Flux source's path with
//! rewind and publish the result as an `ExternalArtifact` of the same name.
//! The CRD in `manifests/flux/` is generated from these types
//! (`cargo run --example crdgen`; a test checks it is current).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a RewindSource asks for.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "rewind.dev",
    version = "v1alpha1",
    kind = "RewindSource",
    namespaced,
    status = "RewindSourceStatus",
    shortname = "rws",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Served","type":"string","jsonPath":".status.servedRelease"}"#,
    printcolumn = r#"{"name":"Last-Good","type":"string","jsonPath":".status.lastGoodRevision"}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".status.sourceRevision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RewindSourceSpec {
    /// The Flux source whose artifact holds the app.
    pub source_ref: SourceRef,
    /// The app's directory in that artifact (default: its root).
    #[serde(default)]
    pub path: String,
    /// Values for `${VAR}`, as the plugin env under Argo CD.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// `annotation` (default) or `suffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_mode: Option<HashModeName>,
    /// Releases kept (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub history_max: Option<u32>,
    /// Serve this release instead of rendering the source: a number,
    /// `previous` or `last-good`. Empty follows the source.
    #[serde(default)]
    pub rollback_to: String,
    /// When a served release fails, serve the newest deployed release before it.
    #[serde(default)]
    pub auto_rollback: bool,
    /// Let `rollbackTo` through the checks that refuse it (a forward-only
    /// release in between, a closed window, the image policy); recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// A Flux source.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    /// `GitRepository`, `OCIRepository`, `Bucket` or `ExternalArtifact`.
    pub kind: SourceKind,
    /// Its name.
    pub name: String,
    /// Its namespace (default: the RewindSource's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The kinds of Flux source rewind reads.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    /// `source.toolkit.fluxcd.io/v1` GitRepository.
    #[default]
    GitRepository,
    /// `source.toolkit.fluxcd.io/v1` OCIRepository.
    OCIRepository,
    /// `source.toolkit.fluxcd.io/v1` Bucket.
    Bucket,
    /// `source.toolkit.fluxcd.io/v1` ExternalArtifact.
    ExternalArtifact,
}

impl SourceKind {
    /// Its plural, for the API path.
    pub fn plural(self) -> &'static str {
        match self {
            SourceKind::GitRepository => "gitrepositories",
            SourceKind::OCIRepository => "ocirepositories",
            SourceKind::Bucket => "buckets",
            SourceKind::ExternalArtifact => "externalartifacts",
        }
    }

    /// Its kind name.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::GitRepository => "GitRepository",
            SourceKind::OCIRepository => "OCIRepository",
            SourceKind::Bucket => "Bucket",
            SourceKind::ExternalArtifact => "ExternalArtifact",
        }
    }
}

/// The hash modes, by name.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HashModeName {
    /// `rewind.dev/config-hash` on pod templates.
    Annotation,
    /// kustomize-style `<name>-<hash>` names.
    Suffix,
}

/// What the controller observed and did.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewindSourceStatus {
    /// The generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (reasons `Succeeded`, `FetchFailed`, `VerificationFailed`, `BuildFailed`, …).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The upstream revision last rendered (`main@sha1:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<String>,
    /// The release whose manifest the ExternalArtifact serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_release: Option<u64>,
    /// The ExternalArtifact's revision: `v<N>@sha256:<tar.gz digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_revision: Option<String>,
    /// The newest release Flux applied and found healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good_revision: Option<u64>,
    /// An automatic rollback in force: status, so Flux reconciling the spec from Git keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<AutoRollback>,
    /// The failed release last rolled back from (one automatic rollback per failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<u64>,
}

/// An automatic rollback: serve `release` while the source stays at `source_revision`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoRollback {
    /// The release served instead.
    pub release: u64,
    /// The release that failed.
    pub failed: u64,
    /// The upstream revision it applies to: a new one ends the rollback.
    pub source_revision: String,
}

/// A Kubernetes condition (`metav1.Condition`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason.
    pub reason: String,
    /// For people.
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// The generation it describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A `Ready` condition.
    pub fn ready(ok: bool, reason: &str, message: &str, generation: Option<i64>) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: if ok { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.chars().take(32_768).collect(),
            last_transition_time: crate::release::now_rfc3339(),
            observed_generation: generation,
        }
    }
}

/// Puts `new` in place of the condition of its type, keeping the old
/// `lastTransitionTime` when the status stays the same (Kubernetes'
/// convention). `true` if anything besides that time changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            let changed = *old != new;
            *old = new;
            changed
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// `spec.rollbackTo` (and `status.autoRollback`) are only ever in force while
/// they say something: an empty string follows the source.
impl RewindSourceSpec {
    /// The requested rollback target, if any.
    pub fn rollback_target(&self) -> Option<&str> {
        Some(self.rollback_to.trim()).filter(|t| !t.is_empty())
    }
}
