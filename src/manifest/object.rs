//! One Kubernetes object as read from a source, with where it came from.

use super::text::Text;
use serde_json::{Map, Value};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

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
    /// The whole object as JSON-compatible data; empty once [prepared](Object::prepare).
    pub body: Map<String, Value>,
    /// Where it was read from.
    pub origin: Origin,
    prepared: Option<Box<Prepared>>,
}

/// An object already emitted, its tree dropped: what later stages read of it.
#[derive(Clone)]
struct Prepared {
    /// apiVersion, kind, name and namespace (empty for none), one after
    /// another in one allocation: an app may have 100,000 objects.
    ids: Box<str>,
    /// Where apiVersion, kind and name end in `ids`.
    ends: [usize; 3],
    /// The string-valued annotations, in order.
    annotations: Vec<(String, String)>,
    config_bytes: Option<usize>,
    /// Its YAML document, until it is taken into the stream.
    yaml: Option<Text>,
    /// What the preparing stage kept of it for itself.
    kept: Option<Arc<dyn Any + Send + Sync>>,
}

impl Prepared {
    /// Part `i` of `ids`: apiVersion, kind, name, namespace.
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let end = self.ends.get(i).copied().unwrap_or(self.ids.len());
        &self.ids[start..end]
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared").field("kind", &self.id(1)).field("name", &self.id(2)).finish_non_exhaustive()
    }
}

impl PartialEq for Prepared {
    fn eq(&self, other: &Prepared) -> bool {
        match (&self.yaml, &other.yaml) {
            (Some(a), Some(b)) => a.with(|a| b.with(|b| a == b)),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

impl Object {
    /// An object read from `origin`.
    pub fn new(body: Map<String, Value>, origin: Origin) -> Object {
        Object { body, origin, prepared: None }
    }

    /// Drops the tree, keeping `yaml` (the object's YAML document, which
    /// [`to_yaml`](super::to_yaml) emits as it is), the metadata every later
    /// stage reads (kind, name, namespace, string annotations, config size)
    /// and `kept`, which only the caller reads back ([`Object::kept`]). What
    /// else the body held (Secret values included) is gone.
    pub fn prepare(self, yaml: String, kept: Option<Arc<dyn Any + Send + Sync>>) -> Object {
        let meta = self.body.get("metadata").and_then(Value::as_object);
        let annotations = meta
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        let parts = [self.api_version(), self.kind(), self.name(), self.metadata_str("namespace").unwrap_or("")];
        let mut ends = [0; 3];
        for i in 0..3 {
            ends[i] = if i == 0 { 0 } else { ends[i - 1] } + parts[i].len();
        }
        let prepared = Prepared {
            ids: parts.concat().into_boxed_str(),
            ends,
            annotations,
            config_bytes: self.config_bytes(),
            yaml: Some(Text::new(yaml)),
            kept,
        };
        Object { body: Map::new(), origin: self.origin, prepared: Some(Box::new(prepared)) }
    }

    /// Whether the object was [prepared](Object::prepare).
    pub fn is_prepared(&self) -> bool {
        self.prepared.is_some()
    }

    /// Calls `f` with a prepared object's YAML document (`None` if there is none, or it was taken).
    pub fn with_prepared_yaml<R>(&self, f: impl FnOnce(&str) -> R) -> Option<R> {
        Some(self.prepared.as_ref()?.yaml.as_ref()?.with(f))
    }

    /// The length of a prepared object's YAML document.
    pub fn prepared_yaml_len(&self) -> Option<usize> {
        Some(self.prepared.as_ref()?.yaml.as_ref()?.len())
    }

    /// Replaces `at` (a range of a prepared object's YAML) by `with`, which
    /// must be of the same length.
    pub fn patch_prepared_yaml(&mut self, at: std::ops::Range<usize>, with: &str) {
        if let Some(yaml) = self.prepared.as_mut().and_then(|p| p.yaml.as_mut()) {
            yaml.patch(at, with);
        }
    }

    /// Replaces a prepared object's YAML document.
    pub fn set_prepared_yaml(&mut self, yaml: String) {
        if let Some(p) = &mut self.prepared {
            p.yaml = Some(Text::Own(yaml));
        }
    }

    /// Takes a prepared object's YAML document out of it.
    pub(super) fn take_prepared_yaml(&mut self) -> Option<Text> {
        self.prepared.as_mut()?.yaml.take()
    }

    /// What [`Object::prepare`] was given to keep.
    pub fn kept(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.prepared.as_ref()?.kept.as_deref()
    }

    fn str_at(&self, key: &str) -> &str {
        if let Some(p) = &self.prepared {
            return p.id(if key == "kind" { 1 } else { 0 });
        }
        self.body.get(key).and_then(Value::as_str).unwrap_or("")
    }

    fn metadata_str(&self, key: &str) -> Option<&str> {
        if let Some(p) = &self.prepared {
            return Some(p.id(if key == "name" { 2 } else { 3 }));
        }
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
        if let Some(p) = &self.prepared {
            return p.annotations.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        }
        self.body.get("metadata")?.get("annotations")?.get(key)?.as_str()
    }

    /// The bytes of a core ConfigMap's or Secret's data as the API server
    /// counts them against its 1 MiB limit (keys, values, base64 decoded), or
    /// `None` for other objects.
    pub fn config_bytes(&self) -> Option<usize> {
        if let Some(p) = &self.prepared {
            return p.config_bytes;
        }
        let fields: &[(&str, bool)] = match (self.api_version(), self.kind()) {
            ("v1", "ConfigMap") => &[("data", false), ("binaryData", true)],
            // Secret `data` is base64: count decoded bytes (3 per 4 characters).
            ("v1", "Secret") => &[("data", true), ("stringData", false)],
            _ => return None,
        };
        let mut total = 0;
        for (field, base64) in fields {
            if let Some(map) = self.body.get(*field).and_then(Value::as_object) {
                for (k, v) in map {
                    let len = v.as_str().map_or_else(|| v.to_string().len(), str::len);
                    total += k.len() + if *base64 { len / 4 * 3 } else { len };
                }
            }
        }
        Some(total)
    }

    /// The values of a core Secret's `data` (base64 as written, and decoded when
    /// it is text) and `stringData`: what must never appear in logs. A
    /// prepared object has none left to give: keep trees where this is needed.
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
