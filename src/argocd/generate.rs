//! The Argo CD Config Management Plugin contract: `rewind generate` runs in
//! the app path of a fresh repo copy with the CMP environment set, and prints
//! the manifest on stdout. With a rollback requested (plugin env
//! `REWIND_ROLLBACK_TO` or parameter `rollback-to`) it prints the stored
//! manifest of the target release instead, byte for byte.

use super::env::ArgoEnv;
use crate::context::{
    AppConfig, HISTORY_MAX_SETTING, IMAGE_POLICY_SETTING, ROLLBACK_FORCE_SETTING, ROLLBACK_REASON_SETTING,
    ROLLBACK_SETTING, bool_setting,
};
use crate::error::{Error, Result};
use crate::history::History;
use crate::pipeline::{Flags, build, history_max, previous_objects, record_rendered, resolve};
use crate::release::{AppKey, Trigger};
use crate::render::{Renderers, Source};
use crate::rollback::{ApiVersions, ImagePolicy, Preflight, Request, Target, rollback};
use crate::store::Store;
use std::path::Path;

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
    /// The flags shared with `render`.
    pub flags: Flags,
    /// `--on-store-error`.
    pub on_store_error: StoreErrorPolicy,
    /// The operator's renderers (the only ones an app can name).
    pub renderers: Renderers,
}

/// Runs the CMP `generate` step in `dir`; returns the bytes to print.
/// `store` is the opened store, or why it could not be opened.
pub fn generate(env: &ArgoEnv, dir: &Path, store: Result<&dyn Store>, opts: &GenerateOptions) -> Result<Vec<u8>> {
    let config = AppConfig::load(dir, &opts.flags.limits)?;
    let app = env.app_key(opts.app.as_deref())?;
    let limit = opts.flags.limits.max_total_bytes;
    if let Some(raw) = env.setting(ROLLBACK_SETTING) {
        let target: Target =
            raw.parse().map_err(|e: Error| Error::Config(format!("{ROLLBACK_SETTING} / REWIND_ROLLBACK_TO: {e}")))?;
        let history_max = history_max(opts.flags.history_max, env.setting(HISTORY_MAX_SETTING), &config)?;
        let history = History::new(store?).with_limit(limit);
        let request = pin_request(env, &config, target, history_max, opts)?;
        let outcome = rollback(&history, &app, &request)?;
        for warning in &outcome.plan_warnings {
            tracing::warn!("app {app}: {warning}");
        }
        tracing::info!(
            "app {app}: rollback to revision {} -> revision {}",
            outcome.target.meta.revision,
            outcome.recorded.meta().revision
        );
        return Ok(outcome.printed);
    }
    let source = Source::Dir(dir.to_path_buf());
    let job = resolve(app, source, env.source_info(), &config, &opts.flags, &env.application(), &opts.renderers)?;
    let history = store.map(|s| History::new(s).with_limit(limit));
    let previous = match &history {
        Ok(h) => previous_objects(Some(h), &job)?,
        Err(_) => Vec::new(),
    };
    let mut rendered = build(&job, &previous)?;
    let history = match history {
        Ok(h) => h,
        Err(e) => return store_failed(&job.app, None, e, opts, rendered.manifest),
    };
    match record_rendered(&history, &job, &mut rendered, "generate") {
        Ok(recorded) => {
            tracing::info!("app {}: revision {}", job.app, recorded.meta().revision);
            Ok(rendered.manifest)
        }
        Err(e) => store_failed(&job.app, Some(history.store()), e, opts, rendered.manifest),
    }
}

/// The rollback an Application's pin asks for, with what the CMP tells of the
/// cluster (`KUBE_API_VERSIONS`) and the app's settings.
fn pin_request(
    env: &ArgoEnv,
    config: &AppConfig,
    target: Target,
    history_max: usize,
    opts: &GenerateOptions,
) -> Result<Request> {
    let force = bool_setting(ROLLBACK_FORCE_SETTING, env.setting(ROLLBACK_FORCE_SETTING))?.unwrap_or(false);
    let image_policy = match env.setting(IMAGE_POLICY_SETTING).or(config.image_policy.as_deref()) {
        Some(p) => p.parse()?,
        None => ImagePolicy::default(),
    };
    let api_versions = env
        .kube_api_versions
        .as_deref()
        .map(ApiVersions::parse)
        .filter(|v| !v.is_empty())
        .map(|v| (v, "KUBE_API_VERSIONS".to_string()));
    if api_versions.is_none() {
        tracing::warn!(
            "KUBE_API_VERSIONS is empty (Argo CD fills it only with runtime state): the rollback's API version check is skipped"
        );
    }
    Ok(Request {
        force,
        reason: env.setting(ROLLBACK_REASON_SETTING).map(String::from),
        preflight: Preflight { api_versions, image_policy, limits: opts.flags.limits },
        ..Request::new(target, env.source_info(), history_max, Trigger::ApplicationPin)
    })
}

/// Applies the store failure policy: fail, or warn and print the manifest.
fn store_failed(
    app: &AppKey,
    store: Option<&dyn Store>,
    e: Error,
    opts: &GenerateOptions,
    manifest: Vec<u8>,
) -> Result<Vec<u8>> {
    if opts.on_store_error == StoreErrorPolicy::Fail {
        return Err(e);
    }
    let message = format!("release of app {app} not recorded: {e}");
    tracing::warn!("{message} (--on-store-error=warn: printing the manifest anyway)");
    if let Some(store) = store
        && let Err(event_error) = store.report_failure(app, STORE_FAILED_REASON, &message)
    {
        tracing::warn!("could not emit a {STORE_FAILED_REASON} Event: {event_error}");
    }
    Ok(manifest)
}
