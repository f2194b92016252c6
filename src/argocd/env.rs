//! What Argo CD's CMP server hands `rewind generate`: the build variables,
//! the Application's plugin env (`ARGOCD_ENV_*`) and parameters
//! (`ARGOCD_APP_PARAMETERS`, `PARAM_*`), and the fingerprint of that plugin
//! section recorded with each release (recomputed by `plugin_env` from an
//! Application, byte for byte).

use crate::context::{SETTINGS, SOURCE_NAME_SETTING, env_form};
use crate::error::{Error, Result};
use crate::pipeline::Application;
use crate::release::{AppKey, SourceInfo};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The Argo CD Config Management Plugin environment of one `generate` call.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ArgoEnv {
    /// `ARGOCD_APP_NAME` (`<appNamespace>_<name>` outside the control-plane namespace).
    pub app_name: Option<String>,
    /// `ARGOCD_APP_NAMESPACE`: the destination namespace.
    pub app_namespace: Option<String>,
    /// `ARGOCD_APP_REVISION`: the resolved git revision.
    pub revision: Option<String>,
    /// `ARGOCD_APP_SOURCE_REPO_URL`.
    pub repo_url: Option<String>,
    /// `ARGOCD_APP_SOURCE_PATH`.
    pub source_path: Option<String>,
    /// `ARGOCD_APP_SOURCE_TARGET_REVISION`.
    pub target_revision: Option<String>,
    /// `KUBE_VERSION`.
    pub kube_version: Option<String>,
    /// `KUBE_API_VERSIONS`.
    pub kube_api_versions: Option<String>,
    /// `ARGOCD_ENV_<name>` entries (the Application's `plugin.env`), prefix removed.
    pub env: BTreeMap<String, String>,
    /// `PARAM_<NAME>` entries, prefix removed.
    pub params: BTreeMap<String, String>,
    /// `ARGOCD_APP_PARAMETERS`, string-valued parameters by name.
    pub parameters: BTreeMap<String, String>,
    /// The standard build variables (`ARGOCD_APP_*`, `KUBE_*`) by their own names.
    pub build_vars: BTreeMap<String, String>,
    /// Every variable Argo CD passes a plugin (`ARGOCD_APP_*`, `KUBE_*`,
    /// `ARGOCD_ENV_*`, `PARAM_*`), as received: what a renderer may see.
    pub plugin_vars: BTreeMap<String, String>,
}

impl ArgoEnv {
    /// Reads the CMP environment from `vars` (normally `std::env::vars()`).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<ArgoEnv> {
        let mut env = ArgoEnv::default();
        for (k, v) in vars {
            if ["ARGOCD_APP_", "ARGOCD_ENV_", "PARAM_"].iter().any(|p| k.starts_with(p))
                || k == "KUBE_VERSION"
                || k == "KUBE_API_VERSIONS"
            {
                env.plugin_vars.insert(k.clone(), v.clone());
            }
            if let Some(name) = k.strip_prefix("ARGOCD_ENV_") {
                check_plugin_env_name(name)?;
                env.env.insert(name.to_string(), v);
                continue;
            }
            if let Some(name) = k.strip_prefix("PARAM_") {
                env.params.insert(name.to_string(), v);
                continue;
            }
            let slot = match k.as_str() {
                "ARGOCD_APP_NAME" => &mut env.app_name,
                "ARGOCD_APP_NAMESPACE" => &mut env.app_namespace,
                "ARGOCD_APP_REVISION" => &mut env.revision,
                "ARGOCD_APP_SOURCE_REPO_URL" => &mut env.repo_url,
                "ARGOCD_APP_SOURCE_PATH" => &mut env.source_path,
                "ARGOCD_APP_SOURCE_TARGET_REVISION" => &mut env.target_revision,
                "KUBE_VERSION" => &mut env.kube_version,
                "KUBE_API_VERSIONS" => &mut env.kube_api_versions,
                "ARGOCD_APP_PARAMETERS" => {
                    env.parameters = parse_parameters(&v)?;
                    continue;
                }
                _ => {
                    if k.starts_with("ARGOCD_APP_") {
                        env.build_vars.insert(k, v);
                    }
                    continue;
                }
            };
            env.build_vars.insert(k, v.clone());
            *slot = Some(v).filter(|s| !s.is_empty());
        }
        Ok(env)
    }

    /// Reads rewind's own environment, leaving out variables that are not UTF-8.
    pub fn from_process() -> Result<ArgoEnv> {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    /// The app key `generate` records under: `ARGOCD_APP_NAME` (or
    /// `app_flag`), with the source name appended when the Application sets
    /// one — never anything from the repository.
    pub fn app_key(&self, app_flag: Option<&str>) -> Result<AppKey> {
        let name = app_flag.or(self.app_name.as_deref()).ok_or_else(|| {
            Error::Config(
                "ARGOCD_APP_NAME is not set: `rewind generate` runs under Argo CD's CMP server; \
                 use `rewind render` locally, or pass --app"
                    .into(),
            )
        })?;
        super::application::source_key(name, self.setting(SOURCE_NAME_SETTING))
    }

    /// Provenance of this call, recorded with the release.
    pub fn source_info(&self) -> SourceInfo {
        SourceInfo {
            repo_url: self.repo_url.clone(),
            path: self.source_path.clone(),
            revision: self.revision.clone(),
            target_revision: self.target_revision.clone(),
            params_fingerprint: Some(self.fingerprint()),
        }
    }

    /// What this Application contributes to a job.
    pub fn application(&self) -> Application {
        let settings =
            SETTINGS.iter().filter_map(|name| Some((name.to_string(), self.setting(name)?.to_string()))).collect();
        Application {
            settings,
            vars: self.vars(),
            has_user_vars: self.has_user_vars(),
            plugin_vars: self.plugin_vars.clone(),
            namespace: self.app_namespace.clone(),
        }
    }

    /// A setting from the Application: parameter `name` (kebab-case), else
    /// `PARAM_<NAME>`, else plugin env `REWIND_<NAME>`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        let upper = env_form(name);
        self.parameters
            .get(name)
            .or_else(|| self.params.get(&upper))
            .or_else(|| self.env.get(&format!("REWIND_{upper}")))
            .map(String::as_str)
            .filter(|s| !s.trim().is_empty())
    }

    /// Variables this environment contributes to `${VAR}` substitution,
    /// lowest precedence first: build variables, plugin env, parameters.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = self.build_vars.clone();
        vars.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars
    }

    /// Whether the Application passes variables of its own (plugin env or
    /// parameters other than rewind's settings), which turns substitution on.
    pub fn has_user_vars(&self) -> bool {
        self.env.keys().any(|k| !k.starts_with("REWIND_"))
            || self.params.keys().any(|k| !SETTINGS.iter().any(|s| env_form(s) == *k))
            || self.parameters.keys().any(|k| !SETTINGS.contains(&k.as_str()))
    }

    /// A stable fingerprint of what the Application's plugin section passes
    /// in (plugin env and parameters), recorded with each release so that
    /// `rewind serve` can tell which release a sync deployed.
    pub fn fingerprint(&self) -> String {
        plugin_fingerprint(&self.env, &self.parameters)
    }
}

/// `REWIND_*` names in an Application's plugin env are rewind's settings;
/// any other (`REWIND_STORE`, `REWIND_RENDERERS_FILE`…) names something only
/// the operator chooses, so it is refused rather than silently ignored.
fn check_plugin_env_name(name: &str) -> Result<()> {
    if !name.starts_with("REWIND_") || SETTINGS.iter().any(|s| format!("REWIND_{}", env_form(s)) == name) {
        return Ok(());
    }
    let allowed: Vec<String> = SETTINGS.iter().map(|s| format!("REWIND_{}", env_form(s))).collect();
    Err(Error::Config(format!(
        "plugin env {name} (ARGOCD_ENV_{name}): an Application may set only these REWIND_* entries: {}. \
         The release store, renderers and limits are chosen by the operator in the sidecar, not by Applications; \
         remove {name} from the plugin env",
        allowed.join(", ")
    )))
}

/// sha256 over plugin env entries (after Argo CD's `$VAR` expansion) and
/// parameters (as [`parse_parameters`] reads them). `PARAM_*` variables are
/// left out: Argo CD derives them from the parameters.
pub fn plugin_fingerprint(env: &BTreeMap<String, String>, parameters: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (section, map) in [("env", env), ("parameters", parameters)] {
        for (k, v) in map {
            h.update(format!("{section}\0{k}\0{v}\0").as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Parses `ARGOCD_APP_PARAMETERS`: a JSON array of `{name, string|array|map}`
/// or the literal `null`. Array and map values are kept as compact JSON, map
/// keys sorted (Go marshals maps sorted; the API may keep any order).
pub fn parse_parameters(raw: &str) -> Result<BTreeMap<String, String>> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "null" {
        return Ok(BTreeMap::new());
    }
    let bad = |why: String| {
        Error::Config(format!(
            "ARGOCD_APP_PARAMETERS: {why}; expected a JSON array of {{\"name\": ..., \"string\": ...}} or null"
        ))
    };
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
    let serde_json::Value::Array(items) = value else { return Err(bad("not an array".into())) };
    let mut out = BTreeMap::new();
    for item in items {
        let Some(name) = item.get("name").and_then(|n| n.as_str()) else {
            return Err(bad("a parameter has no name".into()));
        };
        let value = if let Some(s) = item.get("string").and_then(|s| s.as_str()) {
            s.to_string()
        } else if let Some(v) = item.get("array") {
            v.to_string()
        } else if let Some(serde_json::Value::Object(m)) = item.get("map") {
            let sorted: BTreeMap<&String, &serde_json::Value> = m.iter().collect();
            serde_json::to_string(&sorted).expect("serializes")
        } else {
            String::new()
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ArgoEnv {
        ArgoEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn reads_cmp_environment() {
        let e = env(&[
            ("ARGOCD_APP_NAME", "team-a_guestbook"),
            ("ARGOCD_APP_NAMESPACE", "guestbook"),
            ("ARGOCD_ENV_REWIND_ROLLBACK_TO", "3"),
            ("ARGOCD_ENV_IMAGE_TAG", "v2"),
            ("PARAM_HISTORY_MAX", "5"),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"rollback-to","string":"previous"},{"name":"tags","array":["a","b"]}]"#,
            ),
            ("HOME", "/home/x"),
        ]);
        assert_eq!(e.app_name.as_deref(), Some("team-a_guestbook"));
        assert_eq!(e.setting("rollback-to"), Some("previous"), "parameters win over plugin env");
        assert_eq!(e.setting("history-max"), Some("5"));
        assert_eq!(e.parameters["tags"], r#"["a","b"]"#);
        let vars = e.vars();
        assert_eq!(vars["IMAGE_TAG"], "v2");
        assert_eq!(vars["ARGOCD_APP_NAMESPACE"], "guestbook");
        assert!(!vars.contains_key("HOME"), "the sidecar's own environment is not exposed");
    }

    #[test]
    fn operator_settings_cannot_come_from_the_application() {
        for name in ["ARGOCD_ENV_REWIND_STORE", "ARGOCD_ENV_REWIND_RENDERERS_FILE", "ARGOCD_ENV_REWIND_ON_STORE_ERROR"]
        {
            let err = ArgoEnv::from_vars([(name.to_string(), "file:///victim".to_string())]).unwrap_err().to_string();
            assert!(err.contains(name.trim_start_matches("ARGOCD_ENV_")) && err.contains("operator"), "{err}");
        }
        let e = env(&[("ARGOCD_ENV_REWIND_RENDERER", "kustomize"), ("ARGOCD_ENV_REWIND_ALLOW_EMPTY", "true")]);
        assert_eq!((e.setting("renderer"), e.setting("allow-empty")), (Some("kustomize"), Some("true")));
        assert!(!e.has_user_vars());
        assert_eq!(e.plugin_vars["ARGOCD_ENV_REWIND_RENDERER"], "kustomize");
    }

    #[test]
    fn parameters_null_and_bad_json() {
        assert!(env(&[("ARGOCD_APP_PARAMETERS", "null")]).parameters.is_empty());
        assert!(ArgoEnv::from_vars([("ARGOCD_APP_PARAMETERS".to_string(), "{".to_string())]).is_err());
    }

    #[test]
    fn fingerprint_follows_env_and_params() {
        let a = env(&[("ARGOCD_ENV_X", "1")]).fingerprint();
        assert_eq!(a, env(&[("ARGOCD_ENV_X", "1")]).fingerprint());
        assert_ne!(a, env(&[("ARGOCD_ENV_X", "2")]).fingerprint());
        let map = |json: &str| env(&[("ARGOCD_APP_PARAMETERS", json)]).fingerprint();
        assert_eq!(map(r#"[{"name":"m","map":{"b":"1","a":"2"}}]"#), map(r#"[{"name":"m","map":{"a":"2","b":"1"}}]"#));
        assert_ne!(map(r#"[{"name":"m","map":{"a":"1"}}]"#), map(r#"[{"name":"m","map":{"a":"2"}}]"#));
    }
}
