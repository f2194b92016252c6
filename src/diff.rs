//! Unified diffs of manifests for people, with Secret values redacted:
//! a changed Secret value shows as a changed digest, never as the value.

use crate::manifest::{Limits, parse_stream, to_yaml};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Redacts Secret `data`/`stringData` values in a YAML stream. Falls back to
/// a notice when the bytes do not parse (they were printed by rewind, so they do).
pub fn redact_secrets(manifest: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(manifest) else { return "<manifest is not UTF-8>\n".into() };
    let limits = Limits::default().any_size();
    let Ok(mut objects) = parse_stream(text, "manifest", &limits) else { return "<manifest does not parse>\n".into() };
    for obj in &mut objects {
        if obj.api_version() != "v1" || obj.kind() != "Secret" {
            continue;
        }
        for key in ["data", "stringData"] {
            if let Some(Value::Object(map)) = obj.body.get_mut(key) {
                for v in map.values_mut() {
                    let raw = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    let digest = hex::encode(Sha256::digest(raw.as_bytes()));
                    *v = Value::String(format!("<redacted sha256:{}>", &digest[..12]));
                }
            }
        }
    }
    to_yaml(&objects).unwrap_or_else(|_| "<manifest cannot be re-emitted>\n".into())
}

/// A unified diff between two manifests, Secret values redacted.
pub fn unified(old_name: &str, old: &[u8], new_name: &str, new: &[u8]) -> String {
    let (a, b) = (redact_secrets(old), redact_secrets(new));
    similar::TextDiff::from_lines(&a, &b).unified_diff().context_radius(3).header(old_name, new_name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_appear() {
        let a = b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n";
        let b = b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter3}\n";
        let d = unified("v1", a, "v2", b);
        assert!(!d.contains("hunter"), "{d}");
        assert!(d.contains("-  password: <redacted sha256:") && d.contains("+  password: <redacted sha256:"), "{d}");
    }
}
