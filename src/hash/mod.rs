//! Config hashing: make a config change (or a config rollback) roll the pods
//! that can see it. Two modes:
//!
//! * **annotation** (default): a sha256 of what each pod template can see of
//!   its ConfigMaps and Secrets goes to the template annotation
//!   `rewind.dev/config-hash`;
//! * **suffix**: referenced ConfigMaps and Secrets are renamed
//!   `<name>-<hash>` with kustomize's generator hash and references rewritten,
//!   previous versions kept from the release store.

mod annotate;
mod kustomize;
mod prepare;
mod refs;
mod suffix;

pub use kustomize::suffix_hash;
pub use prepare::prepare;
pub use refs::{ConfigKind, Keys, Mutability, RefSite, pod_template_mut, visit_other_refs, visit_pod_refs};
pub use suffix::{BASE_NAME_ANNOTATION, KEPT_VERSION_ANNOTATION, suffixed_name};

use crate::error::Error;
use crate::manifest::Object;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::str::FromStr;

/// Pod-template annotation carrying the hash.
pub const CONFIG_HASH_ANNOTATION: &str = "rewind.dev/config-hash";
/// `"false"` on a workload or config object leaves it out; `"true"` on a Job
/// or bare Pod (immutable templates) opts it in.
pub const HASH_ANNOTATION: &str = "rewind.dev/hash";
/// Previous versions kept per renamed object in suffix mode, by default.
pub const DEFAULT_KEEP_VERSIONS: usize = 3;

/// How config changes reach the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashMode {
    /// `rewind.dev/config-hash` on pod templates.
    #[default]
    Annotation,
    /// kustomize-style `<name>-<hash>` names.
    Suffix,
}

impl FromStr for HashMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<HashMode, Error> {
        match s {
            "annotation" => Ok(HashMode::Annotation),
            "suffix" => Ok(HashMode::Suffix),
            _ => Err(Error::Config(format!("hash mode {s:?} is not known; use annotation or suffix"))),
        }
    }
}

/// What hashing should do.
#[derive(Debug, Clone, Default)]
pub struct HashOptions {
    /// Annotation or suffix.
    pub mode: HashMode,
    /// Namespace objects without one will land in (references match by namespace).
    pub default_namespace: String,
    /// Suffix mode: previous versions to keep per renamed object.
    pub keep_versions: usize,
}

/// What hashing did, for the caller to report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HashReport {
    /// Workloads that got a hash annotation, as `Kind/ns/name`.
    pub annotated: Vec<String>,
    /// Suffix mode: `(config, new name)` for every object renamed.
    pub renamed: Vec<(String, String)>,
    /// Suffix mode: previous versions emitted alongside.
    pub kept: Vec<String>,
    /// References to configs not in the rendered set: `(workload, Kind/ns/name)`.
    pub missing: Vec<(String, String)>,
}

/// Applies the configured mode. `previous` holds the objects of earlier
/// releases, newest first (suffix mode takes kept versions from them).
/// Objects may have been [prepared](prepare) in annotation mode; suffix mode
/// rewrites names across objects and needs every tree.
pub fn apply(objects: &mut Vec<Object>, opts: &HashOptions, previous: &[Object]) -> crate::error::Result<HashReport> {
    match opts.mode {
        HashMode::Annotation => annotate::annotate(objects, &opts.default_namespace),
        HashMode::Suffix => {
            if let Some(obj) = objects.iter().find(|o| o.is_prepared()) {
                return Err(Error::Config(format!(
                    "{}: suffix mode needs the tree of {}, which was dropped; this is a bug in rewind",
                    obj.origin,
                    obj.display_id()
                )));
            }
            Ok(suffix::suffix(objects, &opts.default_namespace, previous, opts.keep_versions))
        }
    }
}

fn is_opted_out(obj: &Object) -> bool {
    obj.annotation(HASH_ANNOTATION) == Some("false")
}

fn is_opted_in(obj: &Object) -> bool {
    obj.annotation(HASH_ANNOTATION) == Some("true")
}

/// A digest of what a pod can see of a config object: its data, binaryData,
/// stringData and (for Secrets) type. Key order does not matter.
pub fn content_digest(kind: ConfigKind, body: &Map<String, Value>) -> String {
    // The canonical JSON of the object {binaryData, data, stringData, type}
    // holding what is present, written in place (keys in sorted order).
    let opaque = Value::String("Opaque".into());
    let ty = (kind == ConfigKind::Secret).then(|| body.get("type").unwrap_or(&opaque));
    let fields = ["binaryData", "data", "stringData"].map(|key| (key, body.get(key)));
    let mut buf = vec![b'{'];
    for (i, (key, value)) in fields.into_iter().chain([("type", ty)]).filter_map(|(k, v)| Some((k, v?))).enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(format!("\"{key}\":").as_bytes());
        canonical_json(value, &mut buf);
    }
    buf.push(b'}');
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
                serde_json::to_writer(&mut *out, k).expect("a string key serializes");
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
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a scalar serializes"),
    }
}

/// Sets `metadata.annotations[key]` in a map holding `metadata`.
fn set_annotation(t: &mut Map<String, Value>, key: &str, value: String) {
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
    use crate::manifest::{Limits, parse_stream, to_yaml};

    fn opts(mode: HashMode) -> HashOptions {
        HashOptions { mode, default_namespace: "default".into(), keep_versions: 3 }
    }

    const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {LOG_LEVEL: info, COLOR: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2, user: admin}
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
      volumes: [{name: s, projected: {sources: [{secret: {name: db, items: [{key: user, path: u}]}}]}}]
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
          containers:
          - name: r
            env: [{name: C, valueFrom: {configMapKeyRef: {name: web-config, key: COLOR}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  template:
    spec:
      containers: [{name: x, image: nginx}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      containers: [{name: m, envFrom: [{secretRef: {name: db}}]}]
"#;

    /// The config hash of every workload with a template, by name.
    fn hashes(src: &str) -> std::collections::BTreeMap<String, Option<String>> {
        let mut objs = parse_stream(src, "t", &Limits::default()).unwrap();
        apply(&mut objs, &opts(HashMode::Annotation), &[]).unwrap();
        let mut out = std::collections::BTreeMap::new();
        for mut o in objs {
            let (g, k, n) = (o.group().to_string(), o.kind().to_string(), o.name().to_string());
            if let Some((t, _)) = pod_template_mut(&g, &k, &mut o.body) {
                let h = t.get("metadata").and_then(|m| m.pointer("/annotations/rewind.dev~1config-hash"));
                out.insert(n, h.and_then(Value::as_str).map(String::from));
            }
        }
        out
    }

    #[test]
    fn change_rolls_exactly_the_workloads_that_see_it() {
        let before = hashes(APP);
        assert!(before["web"].is_some() && before["db"].is_some() && before["report"].is_some());
        assert_eq!(before["plain"], None, "a workload that references nothing gets no annotation");
        assert_eq!(before["migrate"], None, "a Job's template is immutable: left alone unless asked");
        assert_eq!(hashes(APP), before, "deterministic");

        let after = hashes(&APP.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"));
        assert_ne!(before["web"], after["web"], "web sees all of web-config");
        assert_eq!(before["report"], after["report"], "report reads only COLOR");
        assert_eq!(before["db"], after["db"]);

        let after = hashes(&APP.replace("COLOR: blue", "COLOR: red"));
        assert_ne!(before["report"], after["report"]);

        let after = hashes(&APP.replace("hunter2", "hunter3"));
        assert_ne!(before["db"], after["db"], "db reads the password key");
        assert_eq!(before["web"], after["web"]);
        let after = hashes(&APP.replace("user: admin", "user: root"));
        assert_ne!(before["db"], after["db"], "db mounts the user key");
        let after = hashes(&APP.replace("user: admin}", "user: admin, other: x}"));
        assert_eq!(before["db"], after["db"], "a key db does not reference changes nothing");
    }

    #[test]
    fn key_order_opt_out_and_opt_in() {
        let a = hashes(&APP.replace("{LOG_LEVEL: info, COLOR: blue}", "{A: '1', B: '2'}"));
        let b = hashes(&APP.replace("{LOG_LEVEL: info, COLOR: blue}", "{B: '2', A: '1'}"));
        assert_eq!(a, b);
        let out = hashes(
            &APP.replace("metadata: {name: web}", "metadata: {name: web, annotations: {rewind.dev/hash: \"false\"}}"),
        );
        assert_eq!(out["web"], None);
        let out = hashes(&APP.replace(
            "metadata: {name: migrate}",
            "metadata: {name: migrate, annotations: {rewind.dev/hash: \"true\"}}",
        ));
        assert!(out["migrate"].is_some(), "a Job can opt in");
        let out = hashes(&APP.replace(
            "metadata: {name: db}\nstringData",
            "metadata: {name: db, annotations: {rewind.dev/hash: \"false\"}}\nstringData",
        ));
        assert_eq!(out["db"], None, "an opted-out Secret is not hashed");
    }

    #[test]
    fn namespaces_must_match_and_missing_refs_are_reported() {
        let src = APP.replace("metadata: {name: web-config}", "metadata: {name: web-config, namespace: other}");
        let mut objs = parse_stream(&src, "t", &Limits::default()).unwrap();
        let report = apply(&mut objs, &opts(HashMode::Annotation), &[]).unwrap();
        assert!(report.missing.iter().any(|(w, t)| w == "Deployment/web" && t == "ConfigMap/default/web-config"));
    }

    #[test]
    fn rollout_workload_ref_deployment_carries_the_hash() {
        let src = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 0
  template:
    spec:
      containers: [{name: x, volumeMounts: [{name: v, mountPath: /c}]}]
      volumes: [{name: v, configMap: {name: c}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: d}
"#;
        let h = hashes(src);
        assert!(h["d"].is_some());
        assert_ne!(h["d"], hashes(&src.replace("a: \"1\"", "a: \"2\""))["d"]);
    }

    fn suffixed(src: &str, previous: &[Object]) -> Vec<Object> {
        let mut objs = parse_stream(src, "t", &Limits::default()).unwrap();
        apply(&mut objs, &opts(HashMode::Suffix), previous).unwrap();
        objs
    }

    fn names(objs: &[Object]) -> Vec<String> {
        objs.iter().map(|o| format!("{}/{}", o.kind(), o.name())).collect()
    }

    /// `Kind/name` of every reference site, in pod templates and elsewhere.
    pub(crate) fn referenced_names(objs: &mut [Object]) -> Vec<String> {
        let mut out = Vec::new();
        for o in objs.iter_mut() {
            let (g, k) = (o.group().to_string(), o.kind().to_string());
            let mut f = |site: RefSite| out.push(format!("{}/{}", site.kind.as_str(), site.name.as_str().unwrap()));
            if let Some((t, _)) = pod_template_mut(&g, &k, &mut o.body) {
                visit_pod_refs(t, &mut f);
            }
            visit_other_refs(&g, &k, &mut o.body, &mut f);
        }
        out
    }

    #[test]
    fn suffix_mode_renames_and_rewrites_references() {
        let src = format!(
            "{APP}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: i}}\nspec: {{tls: [{{secretName: db}}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: unreferenced}}\ndata: {{x: y}}\n"
        );
        let objs = suffixed(&src, &[]);
        let out = to_yaml(&objs).unwrap();
        let web_config = objs.iter().find(|o| o.annotation(BASE_NAME_ANNOTATION) == Some("web-config")).unwrap();
        let name = web_config.name().to_string();
        assert!(name.starts_with("web-config-") && name.len() == "web-config-".len() + 10, "{name}");
        assert!(out.contains(&format!("name: {name}")));
        let refs = referenced_names(&mut objs.clone());
        assert_eq!(refs.len(), 6, "web, db (2), report, migrate, the Ingress: {refs:?}");
        for r in &refs {
            assert!(names(&objs).contains(r), "dangling reference {r}:\n{out}");
            assert!(r.starts_with("ConfigMap/web-config-") || r.starts_with("Secret/db-"), "{r} not renamed");
        }
        assert!(names(&objs).contains(&"ConfigMap/unreferenced".to_string()), "unreferenced configs keep their names");
        assert!(!out.contains("rewind.dev/config-hash"), "suffix mode needs no annotation");
        // Rendering rewind's own output again does not suffix twice.
        let again = suffixed(&out, &[]);
        assert_eq!(to_yaml(&again).unwrap(), out);
    }

    #[test]
    fn suffix_mode_keeps_previous_versions() {
        let v1 = suffixed(APP, &[]);
        let v2 = suffixed(&APP.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"), &v1);
        let v1_name = v1.iter().find(|o| o.annotation(BASE_NAME_ANNOTATION) == Some("web-config")).unwrap().name();
        let kept: Vec<&Object> = v2.iter().filter(|o| o.annotation(KEPT_VERSION_ANNOTATION) == Some("true")).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].name(), v1_name);
        // Newest first, at most `keep`, never the current one, no duplicates.
        let mut history = v2.clone();
        history.extend(v1.clone());
        let mut current = v2.clone();
        for level in ["a", "b", "c", "d"] {
            let next = suffixed(&APP.replace("LOG_LEVEL: info", &format!("LOG_LEVEL: {level}")), &history);
            let mut h = next.clone();
            h.extend(history);
            history = h;
            current = next;
        }
        let kept: Vec<&Object> =
            current.iter().filter(|o| o.annotation(KEPT_VERSION_ANNOTATION) == Some("true")).collect();
        assert_eq!(kept.len(), 3, "{:?}", names(&current));
        let mut all = names(&current);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), current.len());
    }
}
