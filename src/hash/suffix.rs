//! Suffix mode: referenced ConfigMaps and Secrets are renamed
//! `<name>-<kustomize hash>` and every reference is rewritten, so a config
//! change is a new object and the pod template change rolls the pods, exactly
//! as with kustomize's generators. The previous versions of each renamed
//! object (from the release store) are emitted alongside, so pods of the old
//! ReplicaSet keep their config while a rollout is in flight.

use super::kustomize::suffix_hash;
use super::refs::{ConfigKind, RefSite, pod_template_mut, visit_other_refs, visit_pod_refs};
use super::{HashReport, is_opted_out, set_annotation};
use crate::manifest::{MAX_NAME_LEN, Object};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Annotation on a renamed object: its name before the suffix. It makes a
/// re-render of rewind's own output idempotent and finds previous versions.
pub const BASE_NAME_ANNOTATION: &str = "rewind.dev/config-base-name";
/// Annotation on a previous version kept for rollouts in flight.
pub const KEPT_VERSION_ANNOTATION: &str = "rewind.dev/kept-version";

type Key = (String, ConfigKind, String);

fn is_kept(obj: &Object) -> bool {
    obj.annotation(KEPT_VERSION_ANNOTATION) == Some("true")
}

fn base_name(obj: &Object) -> String {
    obj.annotation(BASE_NAME_ANNOTATION).unwrap_or(obj.name()).to_string()
}

/// `<base>-<hash>`, shortening the base (never the hash) to stay a valid name.
pub fn suffixed_name(base: &str, hash: &str) -> String {
    let max_base = MAX_NAME_LEN - hash.len() - 1;
    let mut base = &base[..base.floor_char_boundary(max_base.min(base.len()))];
    base = base.trim_end_matches(['-', '.']);
    format!("{base}-{hash}")
}

fn visit_all_refs(obj: &mut Object, f: &mut dyn FnMut(RefSite)) {
    let (group, kind) = (obj.group().to_string(), obj.kind().to_string());
    if let Some((template, _)) = pod_template_mut(&group, &kind, &mut obj.body) {
        visit_pod_refs(template, f);
    }
    visit_other_refs(&group, &kind, &mut obj.body, f);
}

/// Renames referenced configs, rewrites references, adds kept versions.
pub(super) fn suffix(
    objects: &mut Vec<Object>,
    default_namespace: &str,
    previous: &[Object],
    keep: usize,
) -> HashReport {
    let ns_of = |o: &Object| o.namespace().unwrap_or(default_namespace).to_string();
    // Current config objects, found by their current name and by their base name.
    let mut by_name: HashMap<Key, usize> = HashMap::new();
    for (i, obj) in objects.iter().enumerate() {
        let Some(kind) = ConfigKind::of(obj.api_version(), obj.kind()) else { continue };
        if is_opted_out(obj)
            || is_kept(obj)
            || obj.body.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
        {
            continue;
        }
        by_name.insert((ns_of(obj), kind, obj.name().to_string()), i);
        by_name.insert((ns_of(obj), kind, base_name(obj)), i);
    }

    // Which of them anything references.
    let mut referenced: HashSet<usize> = HashSet::new();
    for obj in objects.iter_mut() {
        let ns = ns_of(obj);
        visit_all_refs(obj, &mut |site| {
            if let Some(&i) = by_name.get(&(ns.clone(), site.kind, site.name.as_str().unwrap_or_default().to_string()))
            {
                referenced.insert(i);
            }
        });
    }

    // Rename them.
    let mut report = HashReport::default();
    let mut new_names: HashMap<usize, String> = HashMap::new();
    let mut renamed: BTreeMap<Key, usize> = BTreeMap::new();
    let mut sorted: Vec<usize> = referenced.into_iter().collect();
    sorted.sort_unstable();
    for i in sorted {
        let obj = &mut objects[i];
        let kind = ConfigKind::of(obj.api_version(), obj.kind()).expect("a config kind");
        let base = base_name(obj);
        let name = suffixed_name(&base, &suffix_hash(kind, &obj.body));
        if obj.name() != name {
            report.renamed.push((obj.display_id(), name.clone()));
        }
        if let Some(meta) = obj.body.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::String(name.clone()));
        }
        set_annotation(&mut obj.body, BASE_NAME_ANNOTATION, base.clone());
        renamed.insert((ns_of(&objects[i]), kind, base), i);
        new_names.insert(i, name);
    }

    // Rewrite every reference to a renamed object.
    for obj in objects.iter_mut() {
        let ns = ns_of(obj);
        visit_all_refs(obj, &mut |site| {
            let key = (ns.clone(), site.kind, site.name.as_str().unwrap_or_default().to_string());
            if let Some(name) = by_name.get(&key).and_then(|i| new_names.get(i)) {
                *site.name = Value::String(name.clone());
            }
        });
    }

    if keep > 0 {
        add_kept_versions(objects, &renamed, previous, keep, default_namespace, &mut report);
    }
    report
}

/// Emits up to `keep` previous versions of each renamed object, newest first,
/// right after the current one. `previous` is newest release first.
fn add_kept_versions(
    objects: &mut Vec<Object>,
    renamed: &BTreeMap<Key, usize>,
    previous: &[Object],
    keep: usize,
    default_namespace: &str,
    report: &mut HashReport,
) {
    let present: HashSet<(String, String, String)> = objects
        .iter()
        .map(|o| (o.namespace().unwrap_or(default_namespace).to_string(), o.kind().to_string(), o.name().to_string()))
        .collect();
    let mut kept: BTreeMap<usize, Vec<Object>> = BTreeMap::new();
    let mut taken: HashSet<(String, String, String)> = HashSet::new();
    for old in previous {
        let Some(kind) = ConfigKind::of(old.api_version(), old.kind()) else { continue };
        let Some(base) = old.annotation(BASE_NAME_ANNOTATION) else { continue };
        let ns = old.namespace().unwrap_or(default_namespace).to_string();
        let Some(&current) = renamed.get(&(ns.clone(), kind, base.to_string())) else { continue };
        let id = (ns, old.kind().to_string(), old.name().to_string());
        if present.contains(&id) || taken.contains(&id) {
            continue;
        }
        let versions = kept.entry(current).or_default();
        if versions.len() >= keep {
            continue;
        }
        let mut old = old.clone();
        set_annotation(&mut old.body, KEPT_VERSION_ANNOTATION, "true".into());
        report.kept.push(old.display_id());
        taken.insert(id);
        versions.push(old);
    }
    // Insert from the back so earlier indices stay valid.
    for (current, versions) in kept.into_iter().rev() {
        for (j, v) in versions.into_iter().enumerate() {
            objects.insert(current + 1 + j, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_shorten_the_base_never_the_hash() {
        let n = suffixed_name(&"a".repeat(300), "fckf25bhgf");
        assert_eq!(n.len(), MAX_NAME_LEN);
        assert!(n.ends_with("-fckf25bhgf"));
        let n = suffixed_name(&format!("{}-{}", "a".repeat(241), "b".repeat(20)), "fckf25bhgf");
        assert!(!n.contains("--") && n.len() <= MAX_NAME_LEN, "{n}");
        assert_eq!(suffixed_name("app-config", "fckf25bhgf"), "app-config-fckf25bhgf");
    }
}
