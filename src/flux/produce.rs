//! What a RewindSource serves, decided and recorded: the source rendered
//! with the same pipeline as `generate`, or — while `spec.rollbackTo` or an
//! automatic rollback in `status` says so — a stored release, recorded again
//! as a rollback copy (so it gets a new revision Flux applies, with the same
//! bytes and digest as the first time it was served).

use super::artifact::{Artifact, pack};
use super::crd::{HashModeName, RewindSource};
use crate::context::{AppConfig, HASH_MODE_SETTING, HISTORY_MAX_SETTING};
use crate::error::{Error, Result};
use crate::history::{History, Recorded};
use crate::manifest::Limits;
use crate::pipeline::{Application, Flags, build, history_max, previous_objects, record_rendered, resolve};
use crate::release::{AppKey, ReleaseMeta, SourceInfo, Trigger};
use crate::render::{Renderers, Source};
use crate::rollback::{ApiVersions, Preflight, Request, Target, printed_manifest, rollback};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The app key of a RewindSource: `<namespace>_<name>`.
pub fn app_key(source: &RewindSource) -> Result<AppKey> {
    let namespace = source.metadata.namespace.as_deref().unwrap_or("default");
    let name = source.metadata.name.as_deref().unwrap_or_default();
    AppKey::new(&format!("{namespace}_{name}"))
}

/// What a render records as its source: the Flux source and the path (for
/// the one-source-per-key guard), and the upstream revision (`main@sha1:…`).
pub fn source_info(source: &RewindSource, upstream_revision: &str) -> SourceInfo {
    let spec = &source.spec;
    let namespace = spec.source_ref.namespace.clone().or(source.metadata.namespace.clone()).unwrap_or_default();
    SourceInfo {
        repo_url: Some(format!("{}/{namespace}/{}", spec.source_ref.kind.name(), spec.source_ref.name)),
        path: Some(spec.path.clone()),
        revision: Some(upstream_revision.to_string()),
        target_revision: None,
        params_fingerprint: None,
    }
}

/// Where the served manifest comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// Render the source.
    Render,
    /// `spec.rollbackTo`.
    Rollback(Target),
    /// An automatic rollback in `status`, for the upstream revision it was made at.
    Pinned(u64),
}

/// Decides what to serve: the spec's rollback wins, then an automatic
/// rollback made at this upstream revision, else the source's head.
pub fn serving(source: &RewindSource, upstream_revision: &str) -> Result<Serving> {
    if let Some(target) = source.spec.rollback_target() {
        let target = target
            .parse()
            .map_err(|e: Error| Error::Config(format!("RewindSource {}: spec.rollbackTo: {e}", name(source))))?;
        return Ok(Serving::Rollback(target));
    }
    let pin = source.status.as_ref().and_then(|s| s.auto_rollback.as_ref());
    Ok(match pin {
        Some(pin) if pin.source_revision == upstream_revision => Serving::Pinned(pin.release),
        _ => Serving::Render,
    })
}

/// A served release and its artifact.
#[derive(Debug, Clone)]
pub struct Served {
    /// The release served (a rollback is the copy it recorded).
    pub release: ReleaseMeta,
    /// Its tar.gz.
    pub artifact: Artifact,
    /// Whether this call recorded it.
    pub recorded: bool,
}

fn name(source: &RewindSource) -> String {
    format!(
        "{}/{}",
        source.metadata.namespace.as_deref().unwrap_or("default"),
        source.metadata.name.as_deref().unwrap_or("")
    )
}

/// The app's directory in the unpacked artifact, refusing a path out of it.
fn app_dir(source: &RewindSource, root: &Path) -> Result<PathBuf> {
    let path = Path::new(&source.spec.path);
    if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::Config(format!(
            "RewindSource {}: spec.path {:?} must stay within the source (no leading '/', no '..')",
            name(source),
            source.spec.path
        )));
    }
    Ok(root.join(path))
}

/// The inputs of one production besides the RewindSource.
pub struct Production<'a> {
    /// The releases.
    pub history: &'a History<'a>,
    /// The unpacked source artifact.
    pub root: &'a Path,
    /// The source's revision (`main@sha1:<hex>`).
    pub upstream_revision: &'a str,
    /// The operator's renderers.
    pub renderers: &'a Renderers,
    /// Input limits.
    pub limits: Limits,
    /// The API versions the cluster serves, and whence, for a rollback's checks.
    pub api_versions: Option<(ApiVersions, String)>,
}

/// Produces what `source` serves now: renders and records, or records the rollback copy.
pub fn produce(source: &RewindSource, p: &Production) -> Result<Served> {
    let key = app_key(source)?;
    let dir = app_dir(source, p.root)?;
    let config = AppConfig::load(&dir, &p.limits)?;
    let settings = settings(source);
    let max = history_max(None, settings.get(HISTORY_MAX_SETTING).map(String::as_str), &config)?;
    let info = source_info(source, p.upstream_revision);
    let (recorded, manifest) = match serving(source, p.upstream_revision)? {
        Serving::Rollback(target) => {
            let request = Request {
                force: source.spec.force,
                requested_by: rollback_to_manager(source).map(|m| format!("{m} (field manager of spec.rollbackTo)")),
                ..rollback_request(target, info, max, Trigger::RewindSource, p)
            };
            rollback_to(p.history, &key, &request)?
        }
        Serving::Pinned(release) => {
            let request = Request {
                requested_by: Some("rewind serve (automatic rollback)".into()),
                ..rollback_request(Target::Revision(release), info, max, Trigger::Auto, p)
            };
            rollback_to(p.history, &key, &request)?
        }
        Serving::Render => {
            let application = Application {
                has_user_vars: !source.spec.vars.is_empty(),
                vars: source.spec.vars.clone(),
                settings,
                ..Application::default()
            };
            let flags = Flags { limits: p.limits, ..Flags::default() };
            let job = resolve(key, Source::Dir(dir), info, &config, &flags, &application, p.renderers)?;
            let mut rendered = build(&job, &previous_objects(Some(p.history), &job)?)?;
            (record_rendered(p.history, &job, &mut rendered, "flux")?, rendered.manifest)
        }
    };
    let created = matches!(recorded, Recorded::Created(_));
    Ok(Served { release: recorded.meta().clone(), artifact: pack(&manifest), recorded: created })
}

/// The field manager that last wrote `spec.rollbackTo`, from managedFields.
fn rollback_to_manager(source: &RewindSource) -> Option<String> {
    let entries = source.metadata.managed_fields.as_ref()?;
    entries
        .iter()
        .filter(|e| e.subresource.is_none())
        .find(|e| e.fields_v1.as_ref().and_then(|f| f.0.pointer("/f:spec/f:rollbackTo")).is_some())
        .and_then(|e| e.manager.clone())
}

/// A rollback the RewindSource asks for, checked against what the cluster
/// serves (discovery, when the worker gave it).
fn rollback_request(target: Target, info: SourceInfo, max: usize, trigger: Trigger, p: &Production) -> Request {
    let preflight = Preflight { limits: p.limits, api_versions: p.api_versions.clone(), ..Preflight::default() };
    Request { preflight, ..Request::new(target, info, max, trigger) }
}

fn rollback_to(history: &History, key: &AppKey, request: &Request) -> Result<(Recorded, Vec<u8>)> {
    let outcome = rollback(history, key, request)?;
    for warning in &outcome.plan_warnings {
        tracing::warn!("app {key}: {warning}");
    }
    Ok((outcome.recorded, outcome.printed))
}

/// rewind's settings as the spec gives them.
fn settings(source: &RewindSource) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    if let Some(mode) = source.spec.hash_mode {
        let mode = match mode {
            HashModeName::Annotation => "annotation",
            HashModeName::Suffix => "suffix",
        };
        settings.insert(HASH_MODE_SETTING.to_string(), mode.to_string());
    }
    if let Some(n) = source.spec.history_max {
        settings.insert(HISTORY_MAX_SETTING.to_string(), n.to_string());
    }
    settings
}

/// The release `revision` serves, packed: for the artifact server, which
/// serves any release again from the store alone.
pub fn artifact_of(history: &History, key: &AppKey, revision: u64) -> Result<Artifact> {
    Ok(pack(&printed_manifest(&history.get(key, revision)?, &Limits::default().any_size())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flux::crd::{AutoRollback, RewindSourceSpec, RewindSourceStatus, SourceRef};
    use crate::store::MemoryStore;

    fn source(spec: RewindSourceSpec) -> RewindSource {
        let mut s = RewindSource::new("guestbook", spec);
        s.metadata.namespace = Some("flux-system".into());
        s
    }

    fn spec() -> RewindSourceSpec {
        RewindSourceSpec {
            source_ref: SourceRef { name: "apps".into(), ..SourceRef::default() },
            path: "./app".into(),
            ..RewindSourceSpec::default()
        }
    }

    #[test]
    fn renders_records_and_serves_rollbacks_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let app = tmp.path().join("app");
        std::fs::create_dir(&app).unwrap();
        let write = |v: &str| {
            let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{v: \"{v}\"}}\n");
            std::fs::write(app.join("cm.yaml"), cm).unwrap();
        };
        let store = MemoryStore::new();
        let history = History::new(&store);
        let renderers = Renderers::default();
        let p = |rev: &'static str| Production {
            history: &history,
            root: tmp.path(),
            upstream_revision: rev,
            renderers: &renderers,
            limits: Limits::default(),
            api_versions: None,
        };
        write("1");
        let first = produce(&source(spec()), &p("main@sha1:a")).unwrap();
        assert_eq!((first.release.revision, first.recorded), (1, true));
        assert_eq!(first.release.app.as_str(), "flux-system_guestbook");
        assert_eq!(first.release.source.revision.as_deref(), Some("main@sha1:a"));
        write("2");
        let second = produce(&source(spec()), &p("main@sha1:b")).unwrap();
        assert_eq!(second.release.revision, 2);
        assert_ne!(second.artifact.hex, first.artifact.hex);

        let back = source(RewindSourceSpec { rollback_to: "1".into(), ..spec() });
        let rolled = produce(&back, &p("main@sha1:b")).unwrap();
        assert_eq!((rolled.release.revision, rolled.release.rollback_of), (3, Some(1)));
        assert_eq!(rolled.artifact, first.artifact, "the same bytes and digest as when first served");
        assert_ne!(rolled.artifact.revision(3), first.artifact.revision(1), "a new revision Flux applies");
        assert!(!produce(&back, &p("main@sha1:b")).unwrap().recorded, "asking again records nothing");

        let mut pinned = source(spec());
        pinned.status = Some(RewindSourceStatus {
            auto_rollback: Some(AutoRollback { release: 1, failed: 2, source_revision: "main@sha1:b".into() }),
            ..RewindSourceStatus::default()
        });
        assert_eq!(serving(&pinned, "main@sha1:b").unwrap(), Serving::Pinned(1));
        assert_eq!(serving(&pinned, "main@sha1:c").unwrap(), Serving::Render, "a new source revision ends the pin");
        let bad = source(RewindSourceSpec { path: "../etc".into(), ..spec() });
        assert!(produce(&bad, &p("main@sha1:b")).unwrap_err().to_string().contains("must stay within the source"));
    }
}
