//! Objects → a YAML stream or a JSON `List`. Output depends only on the objects
//! (key order as read), so rendering twice gives the same bytes.

use super::Object;
use crate::error::{Error, Result};

/// Emits objects as a YAML stream, documents separated by `---`.
///
/// Strings that YAML 1.1 readers (Kubernetes' own) would take for booleans,
/// numbers or null are quoted: `"on"`, `"yes"`, `"y"`, `"1_000"`, `"0755"`.
pub fn to_yaml(objects: &[Object]) -> Result<String> {
    let mut out = String::new();
    for (i, obj) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let doc = serde_saphyr::to_string(&obj.body)
            .map_err(|e| Error::Config(format!("{}: cannot emit {} as YAML: {e}", obj.origin, obj.display_id())))?;
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Emits objects as one JSON `List` object (what `kubectl get -o json` prints).
pub fn to_json_list(objects: &[Object]) -> Result<String> {
    let items: Vec<&serde_json::Map<String, serde_json::Value>> = objects.iter().map(|o| &o.body).collect();
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    let mut s = serde_json::to_string_pretty(&list).map_err(|e| Error::Config(format!("cannot emit JSON: {e}")))?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, parse_stream};
    use super::*;

    #[test]
    fn yaml_11_ambiguous_strings_are_quoted_and_round_trip() {
        let input = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: \"on\"\n  b: \"yes\"\n  c: \"y\"\n  d: \"1_000\"\n  e: \"0755\"\n  f: \"null\"\n  g: \"~\"\n  \"on\": \"off\"\n";
        let objs = parse_stream(input, "t", &Limits::default()).unwrap();
        let out = to_yaml(&objs).unwrap();
        for needle in ["\"on\"", "\"yes\"", "\"y\"", "\"1_000\"", "\"0755\"", "\"null\"", "\"~\"", "\"off\""] {
            assert!(out.contains(needle), "{needle} not quoted in:\n{out}");
        }
        let again = parse_stream(&out, "t", &Limits::default()).unwrap();
        assert_eq!(objs[0].body, again[0].body);
        assert_eq!(to_yaml(&again).unwrap(), out);
    }

    #[test]
    fn documents_are_separated() {
        let objs = parse_stream(
            "{apiVersion: v1, kind: A, metadata: {name: a}}\n---\n{apiVersion: v1, kind: B, metadata: {name: b}}\n",
            "t",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            to_yaml(&objs).unwrap(),
            "apiVersion: v1\nkind: A\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: B\nmetadata:\n  name: b\n"
        );
    }
}
