//! The name-suffix hash of kustomize's configMapGenerator/secretGenerator,
//! reproduced exactly (sigs.k8s.io/kustomize/api/hasher): sha256 of Go's
//! `json.Marshal` of `{data, kind, name}` (+`binaryData`) for a ConfigMap or
//! `{data, kind, name, type}` (+`stringData`) for a Secret, first ten hex
//! digits mapped `0→g 1→h 3→k a→m e→t`.
//!
//! Quirks kept on purpose: the name is looked up as the single field
//! `"metadata/name"`, so it always hashes as `""`; an absent field hashes as
//! `""`; `binaryData`/`stringData` count only when they are mappings.

use super::ConfigKind;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// kustomize's 10-character suffix for a ConfigMap or Secret body.
pub fn suffix_hash(kind: ConfigKind, body: &Map<String, Value>) -> String {
    let field = |k: &str| body.get(k).cloned().unwrap_or_else(|| Value::String(String::new()));
    let mut m = Map::new();
    m.insert("kind".into(), Value::String(kind.as_str().into()));
    m.insert("name".into(), Value::String(String::new()));
    m.insert("data".into(), field("data"));
    let optional = match kind {
        ConfigKind::ConfigMap => "binaryData",
        ConfigKind::Secret => {
            m.insert("type".into(), field("type"));
            "stringData"
        }
    };
    if let Some(v @ Value::Object(_)) = body.get(optional) {
        m.insert(optional.into(), v.clone());
    }
    let json = go_json(&Value::Object(m));
    encode(&hex::encode(Sha256::digest(json.as_bytes())))
}

/// Go's `json.Marshal`: map keys sorted, no spaces, HTML-safe escaping.
fn go_json(v: &Value) -> String {
    let mut out = Vec::new();
    super::canonical_json(v, &mut out);
    let s = String::from_utf8(out).expect("JSON is UTF-8");
    // These characters only occur inside JSON strings, where Go escapes them.
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn encode(hex: &str) -> String {
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(v: Value) -> String {
        suffix_hash(ConfigKind::ConfigMap, v.as_object().unwrap())
    }

    #[test]
    fn matches_kustomize_reference_values() {
        // Values produced by `kubectl kustomize` (kustomize v5.5.0).
        assert_eq!(cm(json!({"data": {"FOO": "bar", "LOG_LEVEL": "debug"}})), "fckf25bhgf");
        assert_eq!(cm(json!({})), "6ct58987ht", "absent data hashes as \"\"");
        assert_eq!(cm(json!({"data": {"A": "<tag> & \"q\" ü \u{2028} x", "B": "tab\there"}})), "g45md9h7md");
        let s = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "YWJj", "tls.key": "ZGVm"}});
        assert_eq!(suffix_hash(ConfigKind::Secret, s.as_object().unwrap()), "td2b65gdb7");
    }
}
