//! The main job for one app, shared by `rewind render` and `rewind generate`:
//! render → hash → emit → record. Data flows one way; nothing here prints.

use crate::context::AppConfig;
use crate::error::{Error, Result};
use crate::hash::{HashMode, HashOptions, apply};
use crate::manifest::{Object, parse_stream, to_yaml};
use crate::release::{DEFAULT_HISTORY_MAX, NewRelease, Recorded, SourceInfo, record};
use crate::render::{RenderOptions, RendererJob, RendererRequest, Renderers, Source, render};
use crate::store::Store;
use std::collections::BTreeMap;

/// Everything one run needs to know, already resolved from flags, env and `rewind.yaml`.
#[derive(Debug, Clone)]
pub struct Job {
    /// App key in the store.
    pub app: String,
    /// What to render.
    pub source: Source,
    /// How to render.
    pub render: RenderOptions,
    /// How config changes reach the pods.
    pub hash: HashOptions,
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

/// Renders and hashes. `previous` holds earlier releases' objects, newest
/// first (see [`previous_objects`]); only suffix mode reads them.
pub fn build(job: &Job, previous: &[Object]) -> Result<Rendered> {
    let mut objects = render(&job.source, &job.render)?;
    apply(&mut objects, &job.hash, previous);
    let manifest = to_yaml(&objects)?.into_bytes();
    Ok(Rendered { objects, manifest })
}

/// The objects of an app's stored releases, newest release first, when the
/// job's hash mode needs them (suffix mode keeps previous config versions).
pub fn previous_objects(store: Option<&dyn Store>, job: &Job) -> Result<Vec<Object>> {
    let Some(store) = store else { return Ok(Vec::new()) };
    if job.hash.mode != HashMode::Suffix || job.hash.keep_versions == 0 {
        return Ok(Vec::new());
    }
    let unlimited = job.render.limits.any_size();
    let mut objects = Vec::new();
    for meta in store.list(&job.app)?.iter().rev() {
        let release = store.get(&job.app, meta.revision)?;
        let what = format!("{} revision {} (stored)", job.app, meta.revision);
        let text = std::str::from_utf8(&release.manifest)
            .map_err(|_| Error::Corrupt(format!("{what}: manifest is not UTF-8")))?;
        objects.extend(parse_stream(text, &what, &unlimited)?);
    }
    Ok(objects)
}

/// Hash options from flags and `rewind.yaml`.
pub fn hash_options(
    mode_flag: Option<HashMode>,
    keep_flag: Option<usize>,
    config: &AppConfig,
    default_namespace: String,
) -> HashOptions {
    HashOptions {
        mode: mode_flag.or(config.hash_mode).unwrap_or_default(),
        default_namespace,
        keep_versions: keep_flag.or(config.keep_config_versions).unwrap_or(crate::hash::DEFAULT_KEEP_VERSIONS),
    }
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

/// Where the choice of a renderer may come from, highest precedence first.
#[derive(Debug, Clone, Copy, Default)]
pub struct RendererChoice<'a> {
    /// A person's own command (`rewind render --renderer-command`), never a repository's.
    pub command_line: Option<&'a str>,
    /// `--renderer NAME`.
    pub flag: Option<&'a str>,
    /// The Application setting `renderer` (`REWIND_RENDERER`).
    pub setting: Option<&'a str>,
}

/// The renderer a job runs, if any: the first of `choice`, then `renderer` in
/// `rewind.yaml`. Names resolve only against the operator's `renderers`.
pub fn renderer_job(
    renderers: &Renderers,
    choice: RendererChoice,
    config: &AppConfig,
    app_env: BTreeMap<String, String>,
) -> Result<Option<RendererJob>> {
    let renderer = if let Some(line) = choice.command_line {
        Some(renderers.command_line(line)?)
    } else if let Some(name) = choice.flag {
        Some(renderers.pick(&RendererRequest::named(name, "--renderer"))?)
    } else if let Some(name) = choice.setting {
        Some(renderers.pick(&RendererRequest::named(name, "the Application setting renderer (REWIND_RENDERER)"))?)
    } else {
        config.renderer_request()?.map(|request| renderers.pick(&request)).transpose()?
    };
    Ok(renderer.map(|renderer| RendererJob { renderer, pass_env: renderers.pass_env.clone(), app_env }))
}

/// Whether rendering nothing is intended: `--allow-empty`, else the
/// Application setting `allow-empty`, else `allowEmpty` in `rewind.yaml`.
pub fn allow_empty(flag: bool, setting: Option<&str>, config: &AppConfig) -> Result<bool> {
    if flag {
        return Ok(true);
    }
    match setting.map(str::trim) {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(Error::Config(format!(
            "allow-empty {other:?} (parameter allow-empty or env REWIND_ALLOW_EMPTY): use true or false"
        ))),
        None => Ok(config.allow_empty.unwrap_or(false)),
    }
}
