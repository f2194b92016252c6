//! One Kubernetes object as read from a source, with where it came from.

use serde_json::{Map, Value};
use std::fmt;

/// Where an object came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File path relative to the source root, or `<stdin>`.
    pub source: String,
    /// 1-based index of the YAML document in that file.
    pub document: usize,
    /// 1-based line where the document starts (0 when unknown).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}: document {} (line {})", self.source, self.document, self.line)
        } else {
            write!(f, "{}: document {}", self.source, self.document)
        }
    }
}

/// A Kubernetes object: its body (key order preserved) and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The whole object as JSON-compatible data.
    pub body: Map<String, Value>,
    /// Where it was read from.
    pub origin: Origin,
}

impl Object {
    fn str_at(&self, key: &str) -> &str {
        self.body.get(key).and_then(Value::as_str).unwrap_or("")
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        self.body.get("metadata")?.get(key)?.as_str()
    }

    /// `apiVersion`, validated non-empty at parse time.
    pub fn api_version(&self) -> &str {
        self.str_at("apiVersion")
    }

    /// `kind`, validated non-empty at parse time.
    pub fn kind(&self) -> &str {
        self.str_at("kind")
    }

    /// `metadata.name`, validated non-empty at parse time.
    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or("")
    }

    /// `metadata.namespace`, if set and non-empty.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace").filter(|ns| !ns.is_empty())
    }

    /// The API group (`apps` for `apps/v1`, empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// An annotation value, if present and a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.body.get("metadata")?.get("annotations")?.get(key)?.as_str()
    }

    /// The values of a core Secret's `data` (base64 as written, and decoded when
    /// it is text) and `stringData`: what must never appear in logs.
    pub fn secret_values(&self) -> Vec<String> {
        use base64::Engine;
        if self.api_version() != "v1" || self.kind() != "Secret" {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (field, encoded) in [("data", true), ("stringData", false)] {
            for v in self.body.get(field).and_then(Value::as_object).into_iter().flat_map(|m| m.values()) {
                let Some(text) = v.as_str() else { continue };
                out.push(text.to_string());
                if encoded
                    && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text.trim())
                    && let Ok(plain) = String::from_utf8(bytes)
                {
                    out.push(plain);
                }
            }
        }
        out
    }

    /// `Kind/namespace/name` for messages.
    pub fn display_id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{}/{}", self.kind(), ns, self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }
}
