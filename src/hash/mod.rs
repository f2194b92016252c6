//! Config hashing: every ConfigMap and Secret a workload's pod template
//! references contributes to a sha256 written to the template annotation
//! `rewind.dev/config-hash`, so a config change (or rollback) rolls the pods.

mod refs;

pub use refs::{ConfigKind, ConfigRef, config_refs, pod_template_mut};

use crate::manifest::Object;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Pod-template annotation carrying the hash.
pub const CONFIG_HASH_ANNOTATION: &str = "rewind.dev/config-hash";
/// Set to `"false"` on a workload or a config object to leave it out.
pub const HASH_OPT_OUT_ANNOTATION: &str = "rewind.dev/hash";

/// What hashing did, for the caller to report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HashReport {
    /// Workloads that got (or kept) a hash annotation, as `Kind/ns/name`.
    pub annotated: Vec<String>,
    /// References to configs not in the rendered set: `(workload, Kind/ns/name)`.
    pub missing: Vec<(String, String)>,
}

fn opted_out(obj: &Object) -> bool {
    obj.annotation(HASH_OPT_OUT_ANNOTATION) == Some("false")
}

/// Annotates every workload that references configs of the set.
/// `default_namespace` is where objects without a namespace will land.
pub fn annotate(objects: &mut [Object], default_namespace: &str) -> HashReport {
    let mut configs: HashMap<(String, ConfigKind, String), String> = HashMap::new();
    for obj in objects.iter() {
        if let Some(kind) = ConfigKind::of(obj.api_version(), obj.kind())
            && !opted_out(obj)
        {
            let ns = obj.namespace().unwrap_or(default_namespace).to_string();
            configs.insert((ns, kind, obj.name().to_string()), content_digest(kind, &obj.body));
        }
    }

    let mut report = HashReport::default();
    let mut warned = BTreeSet::new();
    for obj in objects.iter_mut() {
        if opted_out(obj) {
            continue;
        }
        let ns = obj.namespace().unwrap_or(default_namespace).to_string();
        let id = obj.display_id();
        let group = obj.group().to_string();
        let kind = obj.kind().to_string();
        let Some(template) = pod_template_mut(&group, &kind, &mut obj.body) else { continue };
        let mut hasher = Sha256::new();
        let mut seen = 0;
        for r in config_refs(template) {
            match configs.get(&(ns.clone(), r.kind, r.name.clone())) {
                Some(digest) => {
                    hasher.update(format!("{}\0{}\0{digest}\n", r.kind.as_str(), r.name).as_bytes());
                    seen += 1;
                }
                None => {
                    let target = format!("{}/{}/{}", r.kind.as_str(), ns, r.name);
                    if warned.insert(target.clone()) {
                        tracing::warn!(
                            "{id} references {target}, which is not in the rendered set (created elsewhere?); it is not hashed"
                        );
                    }
                    report.missing.push((id.clone(), target));
                }
            }
        }
        if seen == 0 {
            continue;
        }
        set_annotation(template, CONFIG_HASH_ANNOTATION, hex::encode(hasher.finalize()));
        report.annotated.push(id);
    }
    report
}

/// A digest of what a pod can see of a config object: its data, binaryData,
/// stringData and (for Secrets) type. Key order does not matter.
pub fn content_digest(kind: ConfigKind, body: &Map<String, Value>) -> String {
    let mut seen = Map::new();
    for key in ["data", "binaryData", "stringData"] {
        if let Some(v) = body.get(key) {
            seen.insert(key.to_string(), v.clone());
        }
    }
    if kind == ConfigKind::Secret {
        let ty = body.get("type").cloned().unwrap_or_else(|| Value::String("Opaque".into()));
        seen.insert("type".into(), ty);
    }
    let mut buf = Vec::new();
    canonical_json(&Value::Object(seen), &mut buf);
    hex::encode(Sha256::digest(&buf))
}

/// JSON with object keys sorted, so equal content gives equal bytes.
pub fn canonical_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).expect("string").as_bytes());
                out.push(b':');
                canonical_json(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

fn set_annotation(template: &mut Value, key: &str, value: String) {
    let Some(t) = template.as_object_mut() else { return };
    if !t.contains_key("metadata") {
        // Put a new metadata first, where people expect it.
        t.shift_insert(0, "metadata".into(), Value::Object(Map::new()));
    }
    let meta = t.get_mut("metadata").expect("inserted above");
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let annotations =
        meta.as_object_mut().expect("object").entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    annotations.as_object_mut().expect("object").insert(key.to_string(), Value::String(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Limits, parse_stream};

    const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        envFrom: [{configMapRef: {name: web-config}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      volumes: [{name: s, projected: {sources: [{secret: {name: db}}]}}]
      initContainers:
      - name: init
        env: [{name: P, valueFrom: {secretKeyRef: {name: db, key: password}}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          volumes: [{name: c, configMap: {name: web-config}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  template:
    spec:
      containers: [{name: x, image: nginx}]
"#;

    fn hashes(src: &str) -> Vec<Option<String>> {
        let mut objs = parse_stream(src, "t", &Limits::default()).unwrap();
        annotate(&mut objs, "default");
        let mut out = Vec::new();
        for mut o in objs {
            let (g, k) = (o.group().to_string(), o.kind().to_string());
            if let Some(t) = pod_template_mut(&g, &k, &mut o.body) {
                out.push(
                    t.pointer("/metadata/annotations/rewind.dev~1config-hash")
                        .and_then(Value::as_str)
                        .map(String::from),
                );
            }
        }
        out
    }

    #[test]
    fn change_rolls_exactly_the_workloads_that_see_it() {
        let before = hashes(APP);
        assert!(before[0].is_some() && before[1].is_some() && before[2].is_some());
        assert_eq!(before[3], None, "a workload that references nothing gets no annotation");
        let after = hashes(&APP.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"));
        assert_ne!(before[0], after[0], "web reads web-config");
        assert_eq!(before[1], after[1], "db does not");
        assert_ne!(before[2], after[2], "report mounts web-config");
        assert_eq!(hashes(APP), before, "deterministic");
        let secret_changed = hashes(&APP.replace("hunter2", "hunter3"));
        assert_eq!(secret_changed[0], before[0]);
        assert_ne!(secret_changed[1], before[1]);
    }

    #[test]
    fn key_order_does_not_matter_and_opt_out_works() {
        let a = hashes(&APP.replace("{LOG_LEVEL: info}", "{A: '1', B: '2'}"));
        let b = hashes(&APP.replace("{LOG_LEVEL: info}", "{B: '2', A: '1'}"));
        assert_eq!(a, b);
        let out = hashes(
            &APP.replace("metadata: {name: web}", "metadata: {name: web, annotations: {rewind.dev/hash: \"false\"}}"),
        );
        assert_eq!(out[0], None);
    }

    #[test]
    fn namespaces_must_match() {
        let src = APP.replace("metadata: {name: web-config}", "metadata: {name: web-config, namespace: other}");
        let mut objs = parse_stream(&src, "t", &Limits::default()).unwrap();
        let report = annotate(&mut objs, "default");
        assert!(report.missing.iter().any(|(w, t)| w == "Deployment/web" && t == "ConfigMap/default/web-config"));
    }
}
