//! The main job for one app, shared by `rewind render` and `rewind generate`:
//! render → hash → emit → record. Data flows one way; nothing here prints.

use crate::context::AppConfig;
use crate::error::{Error, Result};
use crate::hash::annotate;
use crate::manifest::{Object, to_yaml};
use crate::release::{DEFAULT_HISTORY_MAX, NewRelease, Recorded, SourceInfo, record};
use crate::render::{RenderOptions, Source, render};
use crate::store::Store;

/// Everything one run needs to know, already resolved from flags, env and `rewind.yaml`.
#[derive(Debug, Clone)]
pub struct Job {
    /// App key in the store.
    pub app: String,
    /// What to render.
    pub source: Source,
    /// How to render.
    pub render: RenderOptions,
    /// Namespace objects without one will land in (for reference matching).
    pub default_namespace: String,
    /// Revisions to keep.
    pub history_max: usize,
    /// Provenance recorded with the release.
    pub source_info: SourceInfo,
}

/// The result of rendering.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The objects, hashed.
    pub objects: Vec<Object>,
    /// The YAML stream: what is printed and stored.
    pub manifest: Vec<u8>,
}

/// Renders and hashes; no store involved.
pub fn build(job: &Job) -> Result<Rendered> {
    let mut objects = render(&job.source, &job.render)?;
    annotate(&mut objects, &job.default_namespace);
    let manifest = to_yaml(&objects)?.into_bytes();
    Ok(Rendered { objects, manifest })
}

/// Records a rendered manifest as a `pending` release (deduped by digest).
pub fn record_rendered(store: &dyn Store, job: &Job, rendered: &Rendered, description: &str) -> Result<Recorded> {
    let new = NewRelease {
        app: job.app.clone(),
        manifest: rendered.manifest.clone(),
        source: job.source_info.clone(),
        rollback_of: None,
        description: description.to_string(),
    };
    record(store, new, job.history_max)
}

/// History limit: the first of flag, Application setting, `rewind.yaml`, default.
pub fn history_max(flag: Option<usize>, setting: Option<&str>, config: &AppConfig) -> Result<usize> {
    let from_setting = match setting {
        Some(s) => Some(s.trim().parse::<usize>().map_err(|_| {
            Error::Config(format!(
                "history-max {s:?} (parameter history-max or env REWIND_HISTORY_MAX) is not a whole number"
            ))
        })?),
        None => None,
    };
    let n = flag.or(from_setting).or(config.history_max).unwrap_or(DEFAULT_HISTORY_MAX);
    if n == 0 {
        return Err(Error::Config("history-max must be at least 1".into()));
    }
    Ok(n)
}
