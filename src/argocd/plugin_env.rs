//! What a plugin source hands to `generate`, recomputed from an Application:
//! Argo CD's repo-server expands `$VAR` / `${VAR}` in each plugin env value
//! against its build environment (Go's `os.Expand`, `$$` → `$`, unknown names
//! → empty), passes the result as `ARGOCD_ENV_<name>`, and the parameters as
//! `ARGOCD_APP_PARAMETERS` JSON. `rewind serve` uses this to find the release
//! a sync deployed: the same fingerprint `generate` recorded.

use super::application::{Application, Source};
use super::env::{parse_parameters, plugin_fingerprint};
use serde_json::Value;
use std::collections::BTreeMap;

/// Build variables Argo CD sets but a controller cannot know (they depend on
/// the destination cluster): a value that uses them has no computable fingerprint.
const UNKNOWABLE: [&str; 2] = ["KUBE_VERSION", "KUBE_API_VERSIONS"];

/// Argo CD's build environment for one source at one resolved revision.
pub fn build_env(
    app_name: &str,
    application: &Application,
    source: &Source,
    revision: &str,
) -> BTreeMap<&'static str, String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let short = |n: usize| revision.chars().take(n).collect::<String>();
    BTreeMap::from([
        ("ARGOCD_APP_NAME", app_name.to_string()),
        ("ARGOCD_APP_NAMESPACE", text(&application.spec.destination.namespace)),
        ("ARGOCD_APP_PROJECT_NAME", text(&application.spec.project)),
        ("ARGOCD_APP_REVISION", revision.to_string()),
        ("ARGOCD_APP_REVISION_SHORT", short(7)),
        ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
        ("ARGOCD_APP_SOURCE_REPO_URL", text(&source.repo_url)),
        ("ARGOCD_APP_SOURCE_PATH", text(&source.path)),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", text(&source.target_revision)),
    ])
}

/// The fingerprint `generate` records for a sync of `source` (an Application
/// source with a `plugin` section), or `None` when a plugin env value uses a
/// variable only the repo-server knows.
pub fn source_fingerprint(source: &Source, build: &BTreeMap<&'static str, String>) -> Option<String> {
    let plugin = source.plugin.clone().unwrap_or_default();
    let mut env = BTreeMap::new();
    for entry in &plugin.env {
        let (name, value) = (entry.name.as_str(), entry.value.as_str());
        let mut unknowable = false;
        let expanded = expand(value, |var| {
            unknowable |= UNKNOWABLE.contains(&var);
            build.get(var).cloned().unwrap_or_default()
        });
        if unknowable {
            return None;
        }
        env.insert(name.to_string(), expanded);
    }
    let parameters = match plugin.parameters.is_empty() {
        true => BTreeMap::new(),
        false => parse_parameters(&Value::Array(plugin.parameters).to_string()).ok()?,
    };
    Some(plugin_fingerprint(&env, &parameters))
}

fn is_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9')
}

/// The name after a `$` and how many bytes it spans; `("", n > 0)` is bad
/// syntax (eaten), `("", 0)` a lone `$` (kept). Go's `getShellName`.
fn shell_name(s: &[u8]) -> (&[u8], usize) {
    if s[0] == b'{' {
        if s.len() > 2 && is_special(s[1]) && s[2] == b'}' {
            return (&s[1..2], 3);
        }
        return match s.iter().skip(1).position(|&c| c == b'}') {
            Some(0) => (&[], 2),
            Some(i) => (&s[1..=i], i + 2),
            None => (&[], 1),
        };
    }
    if is_special(s[0]) {
        return (&s[..1], 1);
    }
    let n = s.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    (&s[..n], n)
}

/// Go's `os.Expand` with Argo CD's mapping: `$$` stays `$`.
pub fn expand(s: &str, mut lookup: impl FnMut(&str) -> String) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut i, mut j) = (0, 0);
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.extend_from_slice(&bytes[i..j]);
            let (name, width) = shell_name(&bytes[j + 1..]);
            if name.is_empty() && width == 0 {
                out.push(b'$');
            } else if !name.is_empty() {
                let name = String::from_utf8_lossy(name);
                out.extend_from_slice(if name == "$" { "$".to_string() } else { lookup(&name) }.as_bytes());
            }
            j += width;
            i = j + 1;
        }
        j += 1;
    }
    out.extend_from_slice(&bytes[i.min(bytes.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::argocd::ArgoEnv;
    use serde_json::json;

    fn vars(k: &str) -> String {
        match k {
            "A" => "1".into(),
            "LONG_NAME" => "x".into(),
            _ => String::new(),
        }
    }

    #[test]
    fn expands_like_go() {
        assert_eq!(expand("plain", vars), "plain");
        assert_eq!(expand("$A-${A}-$LONG_NAME.y", vars), "1-1-x.y");
        assert_eq!(expand("$$A", vars), "$A");
        assert_eq!(expand("cost $", vars), "cost $");
        assert_eq!(expand("$UNKNOWN|", vars), "|");
        assert_eq!(expand("a${}b", vars), "ab");
        assert_eq!(expand("a${A", vars), "aA");
        assert_eq!(expand("$ x", vars), "$ x");
        assert_eq!(expand("é$A€", vars), "é1€");
    }

    /// The controller's fingerprint equals the one `generate` records from
    /// the environment Argo CD builds out of the same Application.
    #[test]
    fn matches_what_generate_records() {
        let application =
            Application::from_value(json!({"spec": {"project": "default", "destination": {"namespace": "web"}}}))
                .unwrap();
        let source: Source = serde_json::from_value(
            json!({"repoURL": "https://git.example/r.git", "path": "apps/guestbook", "targetRevision": "main",
            "plugin": {"name": "rewind", "env": [
                {"name": "TAG", "value": "v-$ARGOCD_APP_REVISION_SHORT"},
                {"name": "NS", "value": "${ARGOCD_APP_NAMESPACE}"}],
            "parameters": [{"name": "replicas", "string": "3"}, {"name": "m", "map": {"b": "2", "a": "1"}}]}}),
        )
        .unwrap();
        let revision = "0123456789abcdef";
        let build = build_env("team_guestbook", &application, &source, revision);
        let from_application = source_fingerprint(&source, &build).unwrap();
        let generate_env = ArgoEnv::from_vars(
            [
                ("ARGOCD_APP_NAME", "team_guestbook"),
                ("ARGOCD_APP_REVISION", revision),
                ("ARGOCD_ENV_TAG", "v-0123456"),
                ("ARGOCD_ENV_NS", "web"),
                ("PARAM_REPLICAS", "3"),
                ("ARGOCD_APP_PARAMETERS", r#"[{"name":"replicas","string":"3"},{"map":{"a":"1","b":"2"},"name":"m"}]"#),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(from_application, generate_env.fingerprint());
        let other = build_env("team_guestbook", &application, &source, "fedcba9876543210");
        assert_ne!(source_fingerprint(&source, &other).unwrap(), from_application, "TAG depends on the revision");
        let kube: Source =
            serde_json::from_value(json!({"plugin": {"env": [{"name": "K", "value": "$KUBE_VERSION"}]}})).unwrap();
        assert_eq!(source_fingerprint(&kube, &build), None);
    }
}
