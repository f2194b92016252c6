//! Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`)
//! and the field selectors the real server supports for every resource
//! (`metadata.name`, `metadata.namespace`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

impl Selector {
    pub fn parse(s: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for part in split_top(s).into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("unable to parse requirement: {part:?}");
            let req = if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ").or_else(|| part.split_once(" in ")) {
                let values = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(bad)?;
                let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
                if part.contains(" notin ") {
                    Requirement::NotIn(k.trim().into(), values)
                } else {
                    Requirement::In(k.trim().into(), values)
                }
            } else {
                Requirement::Exists(part.to_string())
            };
            let key = match &req {
                Requirement::Eq(k, _) | Requirement::NotEq(k, _) | Requirement::In(k, _) | Requirement::NotIn(k, _) => {
                    k
                }
                Requirement::Exists(k) | Requirement::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(bad());
            }
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Matches against a `key → value` lookup.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }

    pub fn matches_labels(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        self.matches(&|k| labels?.get(k)?.as_str().map(String::from))
    }

    pub fn matches_fields(&self, obj: &Value) -> bool {
        self.matches(&|k| match k {
            "metadata.name" => obj.pointer("/metadata/name")?.as_str().map(String::from),
            "metadata.namespace" => obj.pointer("/metadata/namespace")?.as_str().map(String::from),
            _ => None,
        })
    }

    /// Field selectors may only use fields the server indexes.
    pub fn check_fields(&self) -> Result<(), String> {
        for r in &self.0 {
            let key = match r {
                Requirement::Eq(k, _) | Requirement::NotEq(k, _) => k,
                _ => return Err("field selectors support only =, == and !=".into()),
            };
            if key != "metadata.name" && key != "metadata.namespace" {
                return Err(format!("field label not supported: {key}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (db, web)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing,app", true),
        ] {
            assert_eq!(Selector::parse(sel).unwrap().matches_labels(&obj), want, "{sel}");
        }
        assert!(Selector::parse("app in web").is_err());
    }
}
