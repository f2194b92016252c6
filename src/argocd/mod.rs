//! The Argo CD Config Management Plugin contract: `rewind generate` runs in
//! the app path of a fresh repo copy with the CMP environment set, and prints
//! the manifest on stdout. With a rollback requested (plugin env
//! `REWIND_ROLLBACK_TO` or parameter `rollback-to`) it prints the stored
//! manifest of the target release instead, byte for byte.

use crate::context::{
    ALLOW_EMPTY_SETTING, AppConfig, ArgoEnv, RENDERER_SETTING, SOURCE_NAME_SETTING, validate_app_name,
};
use crate::error::{Error, Result};
use crate::hash::HashMode;
use crate::manifest::Limits;
use crate::pipeline::{
    Job, RendererChoice, allow_empty, build, hash_options, history_max, previous_objects, record_rendered, renderer_job,
};
use crate::release::SourceInfo;
use crate::render::{RenderOptions, Renderers, Source, substitution_active};
use crate::rollback::{Target, rollback};
use crate::store::Store;

pub mod application;
pub mod client;
pub mod plugin_env;
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::context::{HASH_MODE_SETTING, HISTORY_MAX_SETTING, ROLLBACK_SETTING};

/// What `generate` does when the release store fails (not for rollbacks,
/// which cannot print anything without the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreErrorPolicy {
    /// Exit non-zero with nothing on stdout: Argo CD shows the error.
    #[default]
    Fail,
    /// Print the manifest anyway, log a warning and emit a
    /// `RollbackStoreFailed` Event (best effort): deploys go on, unrecorded.
    Warn,
}

impl std::str::FromStr for StoreErrorPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fail" => Ok(StoreErrorPolicy::Fail),
            "warn" => Ok(StoreErrorPolicy::Warn),
            _ => Err(Error::Config(format!("--on-store-error / REWIND_ON_STORE_ERROR {s:?}: use fail or warn"))),
        }
    }
}

/// Event reason when a release could not be recorded.
pub const STORE_FAILED_REASON: &str = "RollbackStoreFailed";

/// Inputs of one `generate` call besides the environment.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// `--app`: overrides `ARGOCD_APP_NAME` (for running by hand).
    pub app: Option<String>,
    /// `--history-max`.
    pub history_max: Option<usize>,
    /// `--set K=V`.
    pub sets: BTreeMap<String, String>,
    /// Input limits.
    pub limits: Limits,
    /// `--hash-mode`.
    pub hash_mode: Option<HashMode>,
    /// `--keep-config-versions`.
    pub keep_config_versions: Option<usize>,
    /// `--on-store-error`.
    pub on_store_error: StoreErrorPolicy,
    /// The operator's renderers (the only ones an app can name).
    pub renderers: Renderers,
}

/// Provenance of this call.
pub fn source_info(env: &ArgoEnv) -> SourceInfo {
    SourceInfo {
        repo_url: env.repo_url.clone(),
        path: env.source_path.clone(),
        revision: env.revision.clone(),
        target_revision: env.target_revision.clone(),
        params_fingerprint: Some(env.fingerprint()),
    }
}

/// Runs the CMP `generate` step in `dir`; returns the bytes to print.
/// `store` is the opened store, or why it could not be opened.
pub fn generate(env: &ArgoEnv, dir: &Path, store: Result<&dyn Store>, opts: &GenerateOptions) -> Result<Vec<u8>> {
    let config = AppConfig::load(dir, &opts.limits)?;
    let app = opts.app.clone().or_else(|| env.app_name.clone()).ok_or_else(|| {
        Error::Config(
            "ARGOCD_APP_NAME is not set: `rewind generate` runs under Argo CD's CMP server; \
             use `rewind render` locally, or pass --app"
                .into(),
        )
    })?;
    let app = application::source_key(&app, env.setting(SOURCE_NAME_SETTING))?;
    validate_app_name(&app)?;
    let history_max = history_max(opts.history_max, env.setting(HISTORY_MAX_SETTING), &config)?;

    if let Some(raw) = env.setting(ROLLBACK_SETTING) {
        let target: Target =
            raw.parse().map_err(|e: Error| Error::Config(format!("{ROLLBACK_SETTING} / REWIND_ROLLBACK_TO: {e}")))?;
        let outcome = rollback(store?, &app, target, source_info(env), history_max)?;
        tracing::info!(
            "app {app}: rollback to revision {} -> revision {}",
            outcome.target.meta.revision,
            outcome.recorded.meta().revision
        );
        return Ok(outcome.target.manifest);
    }

    let has_vars = !config.vars.is_empty() || !opts.sets.is_empty() || env.has_user_vars();
    let mut vars = config.vars.clone();
    vars.extend(env.vars());
    vars.extend(opts.sets.clone());
    let job = Job {
        app,
        source: Source::Dir(dir.to_path_buf()),
        render: RenderOptions {
            vars,
            substitute: substitution_active(config.substitute, has_vars),
            limits: opts.limits,
            renderer: renderer_job(
                &opts.renderers,
                RendererChoice { setting: env.setting(RENDERER_SETTING), ..RendererChoice::default() },
                &config,
                env.plugin_vars.clone(),
            )?,
            allow_empty: allow_empty(false, env.setting(ALLOW_EMPTY_SETTING), &config)?,
        },
        hash: hash_options(
            match (opts.hash_mode, env.setting(HASH_MODE_SETTING)) {
                (Some(m), _) => Some(m),
                (None, Some(s)) => Some(
                    s.parse()
                        .map_err(|e: Error| Error::Config(format!("{HASH_MODE_SETTING} / REWIND_HASH_MODE: {e}")))?,
                ),
                (None, None) => None,
            },
            opts.keep_config_versions,
            &config,
            env.app_namespace.clone().or(config.namespace.clone()).unwrap_or_default(),
        ),
        history_max,
        source_info: source_info(env),
    };
    let (store, store_error) = match store {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    let previous = match store.map(|s| previous_objects(Some(s), &job)) {
        Some(Ok(objects)) => objects,
        Some(Err(e)) => return store_failed(&job.app, store, e, opts, None),
        None => Vec::new(),
    };
    let rendered = build(&job, &previous)?;
    let result = match (store, store_error) {
        (Some(s), _) => record_rendered(s, &job, &rendered, "generate"),
        (None, Some(e)) => Err(e),
        (None, None) => unreachable!("a store or its error"),
    };
    match result {
        Ok(recorded) => {
            tracing::info!("app {}: revision {}", job.app, recorded.meta().revision);
            Ok(rendered.manifest)
        }
        Err(e) => store_failed(&job.app, store, e, opts, Some(rendered.manifest)),
    }
}

/// Applies the store failure policy: fail, or warn and print the manifest.
fn store_failed(
    app: &str,
    store: Option<&dyn Store>,
    e: Error,
    opts: &GenerateOptions,
    manifest: Option<Vec<u8>>,
) -> Result<Vec<u8>> {
    let Some(manifest) = manifest.filter(|_| opts.on_store_error == StoreErrorPolicy::Warn) else {
        return Err(e);
    };
    let message = format!("release of app {app} not recorded: {e}");
    tracing::warn!("{message} (--on-store-error=warn: printing the manifest anyway)");
    if let Some(store) = store
        && let Err(event_error) = store.report_failure(app, STORE_FAILED_REASON, &message)
    {
        tracing::warn!("could not emit a {STORE_FAILED_REASON} Event: {event_error}");
    }
    Ok(manifest)
}
