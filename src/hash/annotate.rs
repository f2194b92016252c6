//! Annotation mode: a sha256 of everything a pod template can see of its
//! ConfigMaps and Secrets, written to `rewind.dev/config-hash` on the template.

use super::refs::{ConfigKind, Keys, Mutability, pod_template_mut, visit_pod_refs};
use super::{CONFIG_HASH_ANNOTATION, HashReport, content_digest, is_opted_in, is_opted_out, set_annotation};
use crate::manifest::Object;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

type ConfigKey = (String, ConfigKind, String);

/// Annotates every workload whose template references configs of the set.
pub(super) fn annotate(objects: &mut [Object], default_namespace: &str) -> HashReport {
    let mut configs: HashMap<ConfigKey, usize> = HashMap::new();
    let mut opted_out_configs = BTreeSet::new();
    for (i, obj) in objects.iter().enumerate() {
        if let Some(kind) = ConfigKind::of(obj.api_version(), obj.kind()) {
            let key = (obj.namespace().unwrap_or(default_namespace).to_string(), kind, obj.name().to_string());
            if is_opted_out(obj) {
                opted_out_configs.insert(key);
            } else {
                configs.insert(key, i);
            }
        }
    }

    // Pass 1: what each workload sees, merged per config object.
    let mut seen_by: Vec<(usize, BTreeMap<ConfigKey, Keys>)> = Vec::new();
    let mut report = HashReport::default();
    let mut warned = BTreeSet::new();
    for (i, obj) in objects.iter_mut().enumerate() {
        if is_opted_out(obj) {
            continue;
        }
        let ns = obj.namespace().unwrap_or(default_namespace).to_string();
        let id = obj.display_id();
        let opted_in = is_opted_in(obj);
        let (group, kind) = (obj.group().to_string(), obj.kind().to_string());
        let Some((template, mutability)) = pod_template_mut(&group, &kind, &mut obj.body) else { continue };
        if mutability == Mutability::Immutable && !opted_in {
            continue;
        }
        let mut seen: BTreeMap<ConfigKey, Keys> = BTreeMap::new();
        visit_pod_refs(template, &mut |site| {
            let key = (ns.clone(), site.kind, site.name.as_str().unwrap_or_default().to_string());
            if !configs.contains_key(&key) {
                if !opted_out_configs.contains(&key) {
                    let target = format!("{}/{}/{}", key.1.as_str(), key.0, key.2);
                    if warned.insert(target.clone()) {
                        tracing::warn!(
                            "{id} references {target}, which is not in the rendered set (created elsewhere?); it is not hashed"
                        );
                    }
                    report.missing.push((id.clone(), target));
                }
                return;
            }
            let merged = match (seen.remove(&key), site.keys) {
                (Some(Keys::All), _) | (_, Keys::All) => Keys::All,
                (None, only) => only,
                (Some(Keys::Only(mut a)), Keys::Only(b)) => {
                    a.extend(b);
                    Keys::Only(a)
                }
            };
            seen.insert(key, merged);
        });
        if !seen.is_empty() {
            seen_by.push((i, seen));
        }
    }

    // Pass 2: digest what each workload sees and annotate its template. A
    // config seen whole by many workloads is digested once.
    let mut whole: HashMap<usize, String> = HashMap::new();
    for (i, seen) in seen_by {
        let mut hasher = Sha256::new();
        for (key, keys) in &seen {
            let config = configs[key];
            let digest = match keys {
                Keys::All => {
                    whole.entry(config).or_insert_with(|| content_digest(key.1, &objects[config].body)).clone()
                }
                Keys::Only(keys) => keys_digest(&objects[config].body, keys),
            };
            hasher.update(format!("{}\0{}\0{digest}\n", key.1.as_str(), key.2).as_bytes());
        }
        let obj = &mut objects[i];
        let id = obj.display_id();
        let (group, kind) = (obj.group().to_string(), obj.kind().to_string());
        if let Some((template, _)) = pod_template_mut(&group, &kind, &mut obj.body) {
            set_annotation(template, CONFIG_HASH_ANNOTATION, hex::encode(hasher.finalize()));
            report.annotated.push(id);
        }
    }
    report
}

/// A digest of only `keys` of a config object, wherever they live
/// (`data`, `binaryData`, `stringData`); a missing key counts as missing.
fn keys_digest(body: &Map<String, Value>, keys: &[String]) -> String {
    let mut keys: Vec<&String> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    let mut h = Sha256::new();
    for key in keys {
        let mut found = false;
        for field in ["data", "binaryData", "stringData"] {
            if let Some(v) = body.get(field).and_then(|m| m.get(key.as_str())) {
                let mut buf = Vec::new();
                super::canonical_json(v, &mut buf);
                h.update(format!("{field}\0{key}\0").as_bytes());
                h.update(&buf);
                h.update(b"\n");
                found = true;
            }
        }
        if !found {
            h.update(format!("missing\0{key}\n").as_bytes());
        }
    }
    hex::encode(h.finalize())
}
