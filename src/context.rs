//! What an app says about itself: `rewind.yaml`, `--set` variables, and the
//! names of rewind's Application settings. (What Argo CD passes is read in
//! `argocd::env`; how it all combines into a job, in `pipeline`.)

use crate::error::{Error, Result};
use crate::manifest::Limits;
use crate::render::RendererRequest;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::render::{APP_CONFIG_FILE, is_var_name};

/// `rewind.yaml`: per-app settings kept next to the manifests.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppConfig {
    /// App name (default: the source directory's name, or `ARGOCD_APP_NAME`).
    pub app: Option<String>,
    /// Namespace assumed for objects that set none (default: `ARGOCD_APP_NAMESPACE`).
    pub namespace: Option<String>,
    /// Default values for `${VAR}` substitution.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Whether `${VAR}` substitution runs at all (default true).
    pub substitute: Option<bool>,
    /// How many revisions to keep (default 10).
    pub history_max: Option<usize>,
    /// The name of an operator-defined renderer whose stdout is the manifest
    /// stream (`kustomize`, or `{name, timeoutSeconds}`); kept raw so that a
    /// `command` gets a message of its own (see [`AppConfig::renderer_request`]).
    pub renderer: Option<serde_json::Value>,
    /// `annotation` (default) or `suffix`.
    pub hash_mode: Option<crate::hash::HashMode>,
    /// Suffix mode: previous versions kept per renamed ConfigMap/Secret (default 3).
    pub keep_config_versions: Option<usize>,
    /// Rendering no objects is intended (else refused: Argo CD would prune the app).
    pub allow_empty: Option<bool>,
    /// `reversible` (default), `reversible-with-window` or `forward-only`: rolling back past
    /// this app's releases (objects may declare it too, `rewind.dev/rollback-class`).
    pub rollback_class: Option<String>,
    /// For `reversible-with-window`: how long (`48h`).
    pub rollback_window: Option<String>,
    /// Shown to whoever attempts a rollback the class refuses.
    pub rollback_note: Option<String>,
    /// `warn` (default) or `require-digest`: images not pinned by digest in a rollback target.
    pub image_policy: Option<String>,
}

impl AppConfig {
    /// Reads `rewind.yaml` from `dir` if present, by the rules manifests are
    /// read with: a symlink only within `dir`, a regular file, the file limit.
    pub fn load(dir: &Path, limits: &Limits) -> Result<AppConfig> {
        let path = dir.join(APP_CONFIG_FILE);
        let Some(bytes) = crate::render::read_root_file(dir, APP_CONFIG_FILE, limits)? else {
            return Ok(AppConfig::default());
        };
        let text = crate::manifest::decode_utf8(&bytes, &path.display().to_string())?;
        if text.trim().is_empty() {
            return Ok(AppConfig::default());
        }
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        let config: AppConfig = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            Error::input(
                &path,
                format!(
                    "invalid app config: {}; known keys: app, namespace, vars, substitute, historyMax, renderer, hashMode, keepConfigVersions, allowEmpty, rollbackClass, rollbackWindow, rollbackNote, imagePolicy",
                    e.to_string().lines().next().unwrap_or("")
                ),
            )
        })?;
        config.renderer_request_at(&path)?;
        Ok(config)
    }

    /// The renderer `rewind.yaml` names, if any.
    pub fn renderer_request(&self) -> Result<Option<RendererRequest>> {
        self.renderer_request_at(Path::new(APP_CONFIG_FILE))
    }

    fn renderer_request_at(&self, path: &Path) -> Result<Option<RendererRequest>> {
        self.renderer.as_ref().map(|v| RendererRequest::from_app_config(v, &path.display().to_string())).transpose()
    }
}

/// Parses `--set K=V` flags into variables.
pub fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            return Err(Error::Config(format!("--set {s:?}: expected KEY=VALUE")));
        };
        if !is_var_name(k) {
            return Err(Error::Config(format!(
                "--set {s:?}: {k:?} is not a variable name; use letters, digits and '_', not starting with a digit"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The Application setting that requests a rollback.
pub const ROLLBACK_SETTING: &str = "rollback-to";
/// The Application setting that overrides the history limit.
pub const HISTORY_MAX_SETTING: &str = "history-max";
/// The Application setting that chooses the hash mode.
pub const HASH_MODE_SETTING: &str = "hash-mode";
/// The Application setting that picks an operator-defined renderer by name.
pub const RENDERER_SETTING: &str = "renderer";
/// The Application setting that permits rendering no objects.
pub const ALLOW_EMPTY_SETTING: &str = "allow-empty";
/// The Application setting that gives a rewind source its own app key (for
/// Applications with more than one rewind source).
pub const SOURCE_NAME_SETTING: &str = "source-name";
/// The Application setting that lets a rollback through its refusing checks (recorded).
pub const ROLLBACK_FORCE_SETTING: &str = "rollback-force";
/// The Application setting that says why a rollback is asked for (recorded).
pub const ROLLBACK_REASON_SETTING: &str = "rollback-reason";
/// The Application setting for images not pinned by digest in a rollback: `warn` or `require-digest`.
pub const IMAGE_POLICY_SETTING: &str = "image-policy";
/// rewind's own settings: not variables for substitution, and the only
/// `REWIND_*` names an Application's plugin env may carry.
pub const SETTINGS: [&str; 9] = [
    ROLLBACK_SETTING,
    HISTORY_MAX_SETTING,
    HASH_MODE_SETTING,
    RENDERER_SETTING,
    ALLOW_EMPTY_SETTING,
    SOURCE_NAME_SETTING,
    ROLLBACK_FORCE_SETTING,
    ROLLBACK_REASON_SETTING,
    IMAGE_POLICY_SETTING,
];

/// A true/false Application setting `name` as given (`None`: not given).
pub fn bool_setting(name: &str, value: Option<&str>) -> Result<Option<bool>> {
    match value.map(str::trim) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Error::Config(format!(
            "{name} {other:?} (parameter {name} or env REWIND_{}): use true or false",
            env_form(name)
        ))),
    }
}

/// `rollback-to` → `ROLLBACK_TO`, as Argo CD names `PARAM_*` and as `REWIND_*` env is named.
pub fn env_form(setting: &str) -> String {
    setting.to_ascii_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_flags_are_checked() {
        assert_eq!(parse_sets(&["A_1=x=y".into()]).unwrap()["A_1"], "x=y");
        assert!(parse_sets(&["../etc=x".into()]).is_err());
        assert!(parse_sets(&["novalue".into()]).is_err());
        assert_eq!(env_form("rollback-to"), "ROLLBACK_TO");
    }
}
