//! The renderers an operator allows, and how an app picks one.
//!
//! Only the operator writes the renderers file (a ConfigMap mounted into the
//! sidecar, `REWIND_RENDERERS_FILE`; on a laptop `~/.config/rewind/renderers.yaml`):
//! each renderer is a name and a fixed argv. Repository content (`rewind.yaml`)
//! and Application settings can only *name* one, so no argv, path or flag
//! from a repository ever reaches `exec` — Argo CD's own rule for plugins.
//!
//! ```yaml
//! renderers:
//!   kustomize:
//!     command: [kustomize, build, .]
//!     timeoutSeconds: 45
//! env: [HTTPS_PROXY, NO_PROXY]     # passed through from rewind's own environment
//! maxTimeoutSeconds: 55            # ceiling for any renderer's timeout
//! ```

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the operator's renderers file.
pub const RENDERERS_FILE_ENV: &str = "REWIND_RENDERERS_FILE";
/// Timeout of a renderer that sets none, under Argo CD's 60 s repo-server timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 45;
/// Ceiling of any renderer's timeout unless the operator sets `maxTimeoutSeconds`.
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 55;
/// Largest renderers file read (it is a handful of lines).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A renderer ready to run: its name (for messages), fixed argv and time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renderer {
    /// The configured name, or `--renderer-command` for a person's own command.
    pub name: String,
    /// Program and arguments; the program is a bare name (looked up in PATH) or absolute.
    pub command: Vec<String>,
    /// When the renderer's process group is killed.
    pub timeout: Duration,
}

impl Renderer {
    /// `name (argv…)` for messages.
    pub fn describe(&self) -> String {
        format!("renderer {} ({})", self.name, self.command.join(" "))
    }
}

/// What an app asks for: a renderer by name and optionally a shorter timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RendererRequest {
    /// The configured renderer's name.
    pub name: String,
    /// Seconds, at most the operator's ceiling.
    pub timeout_seconds: Option<u64>,
    /// Who asked, for messages: `rewind.yaml`, `the Application setting renderer`, `--renderer`.
    pub asked_by: String,
}

impl RendererRequest {
    /// Reads `renderer:` from `rewind.yaml`: a name, or `{name, timeoutSeconds}`.
    /// A `command` is refused by name: commands are the operator's.
    pub fn from_app_config(value: &Value, file: &str) -> Result<RendererRequest> {
        let asked_by = file.to_string();
        let bad = |why: String| Error::input(file, format!("renderer: {why}"));
        match value {
            Value::String(name) => Ok(RendererRequest { name: name.clone(), timeout_seconds: None, asked_by }),
            Value::Object(map) => {
                if map.contains_key("command") {
                    return Err(bad(
                        "`command` is not accepted from a repository: the commands rewind may run are chosen by the operator. \
                         Name a configured renderer instead, e.g. `renderer: kustomize`"
                            .into(),
                    ));
                }
                if let Some(key) = map.keys().find(|k| !["name", "timeoutSeconds"].contains(&k.as_str())) {
                    return Err(bad(format!("unknown key {key:?}; use `name` and `timeoutSeconds`")));
                }
                let name = map
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("give the renderer's `name` (a string)".into()))?;
                let timeout_seconds =
                    match map.get("timeoutSeconds") {
                        None => None,
                        Some(v) => Some(v.as_u64().filter(|s| *s > 0).ok_or_else(|| {
                            bad("timeoutSeconds must be a whole number of seconds, at least 1".into())
                        })?),
                    };
                Ok(RendererRequest { name: name.to_string(), timeout_seconds, asked_by })
            }
            _ => Err(bad("write a renderer's name, e.g. `renderer: kustomize`".into())),
        }
    }

    /// A request by name only (an Application setting or a flag).
    pub fn named(name: &str, asked_by: &str) -> RendererRequest {
        RendererRequest { name: name.trim().to_string(), timeout_seconds: None, asked_by: asked_by.to_string() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RenderersFile {
    #[serde(default)]
    renderers: BTreeMap<String, RendererSpec>,
    #[serde(default)]
    env: Vec<String>,
    max_timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RendererSpec {
    command: Vec<String>,
    timeout_seconds: Option<u64>,
}

/// The operator's renderers, the environment they may see, and the timeout ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renderers {
    renderers: BTreeMap<String, Renderer>,
    /// Variables of rewind's own environment passed to renderers (besides
    /// PATH and Argo CD's build variables), e.g. proxies.
    pub pass_env: Vec<String>,
    /// No renderer runs longer than this.
    pub max_timeout: Duration,
    /// Where they were read from (`None`: nothing configured).
    pub file: Option<PathBuf>,
}

impl Default for Renderers {
    fn default() -> Self {
        Renderers {
            renderers: BTreeMap::new(),
            pass_env: Vec::new(),
            max_timeout: Duration::from_secs(DEFAULT_MAX_TIMEOUT_SECONDS),
            file: None,
        }
    }
}

/// `$XDG_CONFIG_HOME/rewind/renderers.yaml`, else `~/.config/rewind/renderers.yaml`.
pub fn default_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("rewind").join("renderers.yaml"))
}

fn is_renderer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A program named by a relative path would be found in the app directory
/// (the renderer runs there): only bare names and absolute paths are allowed.
fn check_program(program: &str) -> std::result::Result<(), String> {
    if program.is_empty() {
        return Err("the command is empty; give a program and its arguments".into());
    }
    if program.contains('/') && !program.starts_with('/') {
        return Err(format!(
            "program {program:?} is a relative path, which would be looked up in the app's directory; \
             use a program name found in PATH or an absolute path"
        ));
    }
    Ok(())
}

/// Names a renderer must never see: rewind's own settings (store URL, keys)
/// and credentials to the cluster.
fn is_forbidden_env(name: &str) -> bool {
    name.starts_with("REWIND_") || name == "KUBECONFIG" || name.starts_with("KUBERNETES_")
}

impl Renderers {
    /// Reads the renderers file at `explicit` (which must exist), else the
    /// default file if there is one; else nothing is configured.
    pub fn load(explicit: Option<&Path>) -> Result<Renderers> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_file() {
                Some(p) => (p, false),
                None => return Ok(Renderers::default()),
            },
        };
        let shown = path.display().to_string();
        let text = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE_BYTES => std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("renderers file {shown}: cannot read: {e}")))?,
            Ok(meta) if meta.is_file() => {
                return Err(Error::Config(format!("renderers file {shown}: over {MAX_FILE_BYTES} bytes")));
            }
            Ok(_) => return Err(Error::Config(format!("renderers file {shown}: not a regular file"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Renderers::default()),
            Err(e) => {
                return Err(Error::Config(format!(
                    "renderers file {shown} ({RENDERERS_FILE_ENV} / --renderers): cannot read: {e}"
                )));
            }
        };
        Self::parse(&text, &path)
    }

    /// Parses and checks a renderers file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Renderers> {
        let shown = path.display();
        let bad = |why: String| Error::Config(format!("renderers file {shown}: {why}"));
        let file: RenderersFile = if text.trim().is_empty() {
            RenderersFile { renderers: BTreeMap::new(), env: Vec::new(), max_timeout_seconds: None }
        } else {
            let mut options = serde_saphyr::Options::default();
            options.with_snippet = false;
            serde_saphyr::from_str_with_options(text, options).map_err(|e| {
                bad(format!(
                    "{}; known keys: renderers (name → {{command, timeoutSeconds}}), env, maxTimeoutSeconds",
                    e.to_string().lines().next().unwrap_or("")
                ))
            })?
        };
        let max = file.max_timeout_seconds.unwrap_or(DEFAULT_MAX_TIMEOUT_SECONDS);
        if max == 0 {
            return Err(bad("maxTimeoutSeconds must be at least 1".into()));
        }
        for name in &file.env {
            if is_forbidden_env(name) {
                return Err(bad(format!(
                    "env: {name} must not reach a renderer (REWIND_*, KUBECONFIG and KUBERNETES_* carry the store and cluster credentials)"
                )));
            }
        }
        let mut renderers = BTreeMap::new();
        for (name, spec) in file.renderers {
            if !is_renderer_name(&name) {
                return Err(bad(format!(
                    "renderer name {name:?}: use lowercase letters, digits and '-' (at most 63), e.g. kustomize"
                )));
            }
            check_program(spec.command.first().map_or("", String::as_str))
                .map_err(|why| bad(format!("renderers.{name}.command: {why}")))?;
            let seconds = spec.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS.min(max));
            if seconds == 0 || seconds > max {
                return Err(bad(format!(
                    "renderers.{name}.timeoutSeconds {seconds}: use 1 to {max} (maxTimeoutSeconds)"
                )));
            }
            let renderer =
                Renderer { name: name.clone(), command: spec.command, timeout: Duration::from_secs(seconds) };
            renderers.insert(name, renderer);
        }
        Ok(Renderers {
            renderers,
            pass_env: file.env,
            max_timeout: Duration::from_secs(max),
            file: Some(path.to_path_buf()),
        })
    }

    /// The configured names, for messages.
    pub fn names(&self) -> Vec<&str> {
        self.renderers.keys().map(String::as_str).collect()
    }

    /// The renderer `request` names, with its timeout (capped by the ceiling).
    pub fn pick(&self, request: &RendererRequest) -> Result<Renderer> {
        let asked = &request.asked_by;
        let name = &request.name;
        let Some(renderer) = self.renderers.get(name) else {
            let file = self.file.as_ref().map_or_else(
                || format!("{RENDERERS_FILE_ENV}, default ~/.config/rewind/renderers.yaml"),
                |f| f.display().to_string(),
            );
            if self.renderers.is_empty() {
                return Err(Error::Config(format!(
                    "{asked} asks for renderer {name:?}, but no renderers are configured. \
                     The operator defines them in the renderers file ({file}), e.g.:\n  renderers:\n    {}",
                    suggested_line(name)
                )));
            }
            return Err(Error::Config(format!(
                "{asked} asks for renderer {name:?}, which is not configured; the configured renderers are: {} (in {file})",
                self.names().join(", ")
            )));
        };
        let mut picked = renderer.clone();
        if let Some(seconds) = request.timeout_seconds {
            if Duration::from_secs(seconds) > self.max_timeout {
                return Err(Error::Config(format!(
                    "{asked}: renderer.timeoutSeconds {seconds} is over the operator's ceiling of {}s (maxTimeoutSeconds)",
                    self.max_timeout.as_secs()
                )));
            }
            picked.timeout = Duration::from_secs(seconds);
        }
        Ok(picked)
    }

    /// A person's own command from `--renderer-command` (split on whitespace,
    /// no shell), with the default timeout. Never taken from a repository.
    pub fn command_line(&self, line: &str) -> Result<Renderer> {
        let command: Vec<String> = line.split_whitespace().map(String::from).collect();
        check_program(command.first().map_or("", String::as_str))
            .map_err(|why| Error::Config(format!("--renderer-command {line:?}: {why}")))?;
        let timeout = Duration::from_secs(DEFAULT_TIMEOUT_SECONDS).min(self.max_timeout);
        Ok(Renderer { name: "--renderer-command".into(), command, timeout })
    }
}

/// The renderers-file line that would define `name`.
fn suggested_line(name: &str) -> String {
    match name {
        "kustomize" => "kustomize: {command: [kustomize, build, .]}".into(),
        "helm" => "helm: {command: [helm, template, .]}".into(),
        _ if is_renderer_name(name) => format!("{name}: {{command: [/path/to/{name}, ARGS]}}"),
        _ => "NAME: {command: [/path/to/program, ARGS]}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Renderers> {
        Renderers::parse(text, Path::new("/etc/rewind/renderers.yaml"))
    }

    #[test]
    fn reads_names_commands_and_the_ceiling() {
        let r = parse(
            "renderers:\n  kustomize: {command: [kustomize, build, .], timeoutSeconds: 30}\n  helm: {command: [/usr/bin/helm, template, .]}\nenv: [HTTPS_PROXY]\nmaxTimeoutSeconds: 40\n",
        )
        .unwrap();
        assert_eq!(r.names(), ["helm", "kustomize"]);
        let k = r.pick(&RendererRequest::named("kustomize", "rewind.yaml")).unwrap();
        assert_eq!((k.command.join(" "), k.timeout.as_secs()), ("kustomize build .".into(), 30));
        assert_eq!(r.pick(&RendererRequest::named("helm", "x")).unwrap().timeout.as_secs(), 40, "default, capped");
        let long = RendererRequest { timeout_seconds: Some(41), ..RendererRequest::named("helm", "rewind.yaml") };
        assert!(r.pick(&long).unwrap_err().to_string().contains("ceiling of 40s"));
        let err = r.pick(&RendererRequest::named("sh", "rewind.yaml")).unwrap_err().to_string();
        assert!(err.contains("\"sh\"") && err.contains("helm, kustomize"), "{err}");
    }

    #[test]
    fn none_configured_names_the_line_to_add() {
        let err = Renderers::default().pick(&RendererRequest::named("kustomize", "rewind.yaml")).unwrap_err();
        assert!(err.to_string().contains("kustomize: {command: [kustomize, build, .]}"), "{err}");
    }

    #[test]
    fn operator_mistakes_are_refused() {
        for (text, needle) in [
            ("renderers: {k: {command: [bin/render]}}", "relative path"),
            ("renderers: {k: {command: []}}", "empty"),
            ("renderers: {K_1: {command: [x]}}", "renderer name"),
            ("renderers: {k: {command: [x], timeoutSeconds: 99}}", "1 to 55"),
            ("env: [REWIND_STORE]", "must not reach a renderer"),
            ("env: [KUBECONFIG]", "must not reach a renderer"),
            ("renderer: {}", "known keys"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("/etc/rewind/renderers.yaml"), "{text}: {err}");
        }
    }

    #[test]
    fn repositories_only_name_renderers() {
        let req = |v: Value| RendererRequest::from_app_config(&v, "rewind.yaml");
        assert_eq!(req(json!("kustomize")).unwrap().name, "kustomize");
        assert_eq!(req(json!({"name": "kustomize", "timeoutSeconds": 5})).unwrap().timeout_seconds, Some(5));
        let err = req(json!({"command": ["sh", "-c", "id"]})).unwrap_err().to_string();
        assert!(err.contains("rewind.yaml") && err.contains("chosen by the operator"), "{err}");
        assert!(req(json!({"name": "k", "args": ["--enable-exec"]})).unwrap_err().to_string().contains("\"args\""));
        assert!(req(json!(["kustomize"])).is_err());
        assert!(req(json!({"name": "k", "timeoutSeconds": 0})).is_err());
    }

    #[test]
    fn command_line_is_split_without_a_shell() {
        let r = Renderers::default().command_line("kustomize build overlays/prod").unwrap();
        assert_eq!(r.command, ["kustomize", "build", "overlays/prod"]);
        assert!(Renderers::default().command_line("./render.sh").is_err());
        assert!(Renderers::default().command_line("  ").is_err());
    }
}
