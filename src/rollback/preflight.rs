//! Preflight checks on a rollback's target manifest: the API versions it
//! uses must be served, images not pinned by digest are named (or refused),
//! and objects marked `rewind.dev/skip-on-rollback` are left out of what is
//! printed — every other document stays byte-identical.

use crate::error::{Error, Result};
use crate::manifest::{Limits, Object, parse_stream};
use crate::release::{CheckResult, Verdict};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The annotation that keeps an object (a migration Job, a hook) out of a rollback.
pub const SKIP_ANNOTATION: &str = "rewind.dev/skip-on-rollback";

/// The API versions a cluster serves, in Argo CD's `KUBE_API_VERSIONS` form:
/// `group/version` and `group/version/Kind` entries, core as `v1` and `v1/ConfigMap`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    versions: BTreeSet<String>,
    kinds: BTreeSet<String>,
}

impl ApiVersions {
    /// Parses a comma- or newline-separated list.
    pub fn parse(list: &str) -> ApiVersions {
        let mut out = ApiVersions::default();
        for entry in list.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty() && !e.starts_with('#')) {
            let parts: Vec<&str> = entry.split('/').collect();
            let is_kind = match parts.as_slice() {
                [_, _, _] => true,
                [_, second] => second.starts_with(|c: char| c.is_ascii_uppercase()),
                _ => false,
            };
            if is_kind {
                out.kinds.insert(entry.to_string())
            } else {
                out.versions.insert(entry.to_string())
            };
        }
        out
    }

    /// `LIST` or `@FILE` (one entry a line), as `--kube-api-versions` takes it.
    pub fn from_arg(arg: &str) -> Result<ApiVersions> {
        match arg.strip_prefix('@') {
            Some(file) => {
                let text = std::fs::read_to_string(Path::new(file))
                    .map_err(|e| Error::io(format!("--kube-api-versions @{file}"), e))?;
                Ok(ApiVersions::parse(&text))
            }
            None => Ok(ApiVersions::parse(arg)),
        }
    }

    /// What the API server's discovery listed (`kubeclient::discovery`), labelled as such.
    pub fn discovered(entries: &[String]) -> (ApiVersions, String) {
        (ApiVersions::parse(&entries.join(",")), FROM_DISCOVERY.to_string())
    }

    /// Whether nothing is listed (Argo CD leaves the list empty without runtime state).
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty() && self.kinds.is_empty()
    }

    /// Whether `api_version` `kind` is served: listed as a kind, or its
    /// version listed without a list of its kinds.
    pub fn serves(&self, api_version: &str, kind: &str) -> bool {
        if self.kinds.contains(&format!("{api_version}/{kind}")) {
            return true;
        }
        let prefix = format!("{api_version}/");
        let kinds_listed = self.kinds.iter().any(|k| k.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/')));
        !kinds_listed && self.versions.contains(api_version)
    }
}

/// Where the served API versions come from when the API server's discovery says.
pub const FROM_DISCOVERY: &str = "the API server's discovery";

/// What to do with images not pinned by digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImagePolicy {
    /// Name each one in a warning (the default).
    #[default]
    Warn,
    /// Refuse the rollback.
    RequireDigest,
}

impl std::str::FromStr for ImagePolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<ImagePolicy> {
        match s.trim() {
            "warn" => Ok(ImagePolicy::Warn),
            "require-digest" => Ok(ImagePolicy::RequireDigest),
            other => Err(Error::Config(format!("image policy {other:?}: use warn or require-digest"))),
        }
    }
}

/// What the checks know of the cluster and the app's policy.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// The served API versions, and where they came from; `None`: unknown.
    pub api_versions: Option<(ApiVersions, String)>,
    /// The image policy.
    pub image_policy: ImagePolicy,
    /// Limits for reading the target manifest.
    pub limits: Limits,
}

/// The checks' findings on one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Each check and its verdict.
    pub checks: Vec<CheckResult>,
    /// What to print: the manifest without the skipped documents.
    pub printed: Vec<u8>,
    /// The objects left out.
    pub skipped: Vec<String>,
}

/// The YAML documents of a manifest rewind emitted, as byte slices that join
/// back into it (documents are separated by `---` lines).
fn documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            if pos > start {
                docs.push(&text[start..pos]);
            }
            start = pos + line.len();
        }
        pos += line.len();
    }
    if text.len() > start {
        docs.push(&text[start..]);
    }
    docs
}

fn images(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if matches!(key.as_str(), "containers" | "initContainers" | "ephemeralContainers")
                    && let Value::Array(items) = v
                {
                    out.extend(items.iter().filter_map(|c| c.get("image")?.as_str().map(String::from)));
                }
                images(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| images(v, out)),
        _ => {}
    }
}

fn check(name: &str, verdict: Verdict, detail: String) -> CheckResult {
    CheckResult { check: name.into(), verdict, detail }
}

impl Preflight {
    /// Runs the checks on `manifest`, the target's stored bytes.
    pub fn run(&self, manifest: &[u8]) -> Result<Findings> {
        let text = crate::manifest::decode_utf8(manifest, "the rollback target")?;
        let mut kept = Vec::new();
        let mut skipped = Vec::new();
        let mut objects: Vec<Object> = Vec::new();
        for doc in documents(text) {
            let parsed = parse_stream(doc, "the rollback target", &self.limits)?;
            if parsed.iter().any(|o| o.annotation(SKIP_ANNOTATION).is_some_and(|v| v.trim() == "true")) {
                skipped.extend(parsed.iter().map(Object::display_id));
            } else {
                kept.push(doc);
                objects.extend(parsed);
            }
        }
        let mut checks = vec![self.api_check(&objects), self.image_check(&objects)];
        checks.push(if skipped.is_empty() {
            check("hooks", Verdict::Pass, "no object is marked skip-on-rollback".into())
        } else {
            check("hooks", Verdict::Warn, format!("left out ({SKIP_ANNOTATION}): {}", skipped.join(", ")))
        });
        // Nothing skipped: the stored bytes exactly. Else the kept documents, as they were, between `---` lines.
        let printed = if skipped.is_empty() { manifest.to_vec() } else { kept.join("---\n").into_bytes() };
        Ok(Findings { checks, printed, skipped })
    }

    fn api_check(&self, objects: &[Object]) -> CheckResult {
        let Some((served, from)) = self.api_versions.as_ref().filter(|(v, _)| !v.is_empty()) else {
            return check(
                "api-versions",
                Verdict::Skipped,
                "no list of the cluster's API versions (Argo CD's KUBE_API_VERSIONS is empty without runtime \
                 state; locally give --kube-api-versions); the check did not run"
                    .into(),
            );
        };
        let missing: Vec<String> = objects
            .iter()
            .filter(|o| !served.serves(o.api_version(), o.kind()))
            .map(|o| format!("{} uses {} {}", o.display_id(), o.api_version(), o.kind()))
            .collect();
        if missing.is_empty() {
            check("api-versions", Verdict::Pass, format!("every object's API is served ({from})"))
        } else {
            check(
                "api-versions",
                Verdict::Refuse,
                format!(
                    "the cluster no longer serves what the target uses ({from}): {}; roll forward, or migrate those \
                     objects to a served API version",
                    missing.join("; ")
                ),
            )
        }
    }

    fn image_check(&self, objects: &[Object]) -> CheckResult {
        let mut loose = Vec::new();
        for obj in objects {
            let mut found = Vec::new();
            images(&Value::Object(obj.body.clone()), &mut found);
            loose.extend(
                found
                    .into_iter()
                    .filter(|i| !i.contains("@sha256:"))
                    .map(|i| format!("{} image {i}", obj.display_id())),
            );
        }
        loose.dedup();
        match (loose.is_empty(), self.image_policy) {
            (true, _) => check("images", Verdict::Pass, "every image is pinned by digest".into()),
            (false, ImagePolicy::Warn) => check(
                "images",
                Verdict::Warn,
                format!("not pinned by digest, a tag may now point at other bits: {}", loose.join("; ")),
            ),
            (false, ImagePolicy::RequireDigest) => check(
                "images",
                Verdict::Refuse,
                format!(
                    "imagePolicy require-digest, and these are not pinned by digest: {}; pin them (image@sha256:…) \
                     or roll forward",
                    loose.join("; ")
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: pdb\n---\n\
        apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    rewind.dev/skip-on-rollback: \"true\"\n\
        spec:\n  template:\n    spec:\n      containers:\n      - name: m\n        image: migrate:v2\n---\n\
        apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      \
        containers:\n      - name: web\n        image: nginx:1.25\n      - name: side\n        image: envoy@sha256:abc\n";

    #[test]
    fn api_versions_in_argo_cd_form() {
        let v = ApiVersions::parse("v1,v1/ConfigMap,apps/v1,apps/v1/Deployment,batch/v1");
        assert!(v.serves("apps/v1", "Deployment") && v.serves("batch/v1", "Job") && v.serves("v1", "ConfigMap"));
        assert!(!v.serves("apps/v1", "StatefulSet"), "kinds are listed for apps/v1");
        assert!(!v.serves("v1", "Secret") && !v.serves("policy/v1beta1", "PodDisruptionBudget"));
    }

    #[test]
    fn checks_name_what_they_find_and_skip_hooks_byte_for_byte() {
        let pre = Preflight {
            api_versions: Some((ApiVersions::parse("apps/v1,batch/v1,policy/v1"), "KUBE_API_VERSIONS".into())),
            ..Preflight::default()
        };
        let found = pre.run(MANIFEST.as_bytes()).unwrap();
        let [api, images, hooks] = &found.checks[..] else { panic!() };
        assert_eq!(api.verdict, Verdict::Refuse);
        assert!(
            api.detail.contains("PodDisruptionBudget/pdb uses policy/v1beta1 PodDisruptionBudget"),
            "{}",
            api.detail
        );
        assert_eq!(images.verdict, Verdict::Warn);
        assert!(images.detail.contains("image nginx:1.25") && !images.detail.contains("envoy"), "{}", images.detail);
        assert_eq!((hooks.verdict, &found.skipped[..]), (Verdict::Warn, &["Job/migrate".to_string()][..]));
        let docs = documents(MANIFEST);
        assert_eq!(String::from_utf8(found.printed.clone()).unwrap(), format!("{}---\n{}", docs[0], docs[2]));
        let strict = Preflight { image_policy: ImagePolicy::RequireDigest, ..Preflight::default() };
        let found = strict.run(MANIFEST.as_bytes()).unwrap();
        assert_eq!((found.checks[0].verdict, found.checks[1].verdict), (Verdict::Skipped, Verdict::Refuse));
    }
}
