//! Annotation mode on the parser's threads: each object is looked at
//! ([`facts`]) and emitted as soon as it is parsed, and only its YAML, its
//! metadata and those facts are kept (for a config, the digest of the whole
//! object; a digest of some of its keys reads its YAML back), so a render
//! holds one document's tree per thread at a time instead of the whole app's.
//! A workload that may get a hash is emitted with a placeholder in the
//! annotation's place; [`fill`] writes the hash there once every config is
//! known, and [`clear`] takes it out again when the workload sees none of the set.

use super::annotate::{Facts, facts};
use super::refs::pod_template_of;
use super::{CONFIG_HASH_ANNOTATION, set_annotation};
use crate::error::{Error, Result};
use crate::manifest::{Limits, Object, emit_document, parse_stream, read_own};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What holding the annotation's place changed in a workload's template.
#[derive(Debug, Clone)]
pub(super) struct Placeholder {
    created_metadata: bool,
    created_annotations: bool,
    /// The annotation's value the placeholder took the place of: rewind's
    /// own output, rendered again, carries one.
    replaced: Option<Value>,
}

/// Stands for the hash until it is known: as long as a hash, and a plain
/// YAML scalar, so the emitter writes it as it would write the hash.
const PLACEHOLDER: &str = "rewind-config-hash-placeholder-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// Looks at `obj` for annotation mode and emits it, dropping its tree (see
/// [`Object::prepare`]). An object this cannot prepare is returned whole,
/// and annotation mode treats it as before: a workload whose template holds
/// `metadata` or `annotations` that are not mappings, or an object the
/// emitter refuses (its error comes later).
pub fn prepare(mut obj: Object, default_namespace: &str) -> Object {
    let mut facts = facts(&mut obj, default_namespace);
    if let Facts::Workload { placeholder, .. } = &mut facts {
        match hold_place(&mut obj) {
            Some(held) => *placeholder = Some(held),
            None => return obj,
        }
    }
    match emit_document(&obj) {
        Ok(yaml) => {
            let kept: Option<Arc<dyn std::any::Any + Send + Sync>> = match facts {
                Facts::Other => None,
                facts => Some(Arc::new(facts)),
            };
            obj.prepare(yaml, kept)
        }
        Err(_) => {
            if let Facts::Workload { placeholder: Some(held), .. } = facts
                && let Some(template) = template(&mut obj)
            {
                undo(template, held);
            }
            obj
        }
    }
}

/// The facts a prepared object carries.
pub(super) fn facts_of(obj: &Object) -> Option<&Facts> {
    obj.kept()?.downcast_ref::<Facts>()
}

fn template(obj: &mut Object) -> Option<&mut Map<String, Value>> {
    pod_template_of(obj).map(|(t, _)| t)
}

/// Puts the placeholder where the hash will go, if the template's metadata
/// allows undoing that exactly.
fn hold_place(obj: &mut Object) -> Option<Placeholder> {
    let template = template(obj)?;
    let held = match template.get("metadata") {
        None => Placeholder { created_metadata: true, created_annotations: true, replaced: None },
        Some(Value::Object(meta)) => match meta.get("annotations") {
            None => Placeholder { created_metadata: false, created_annotations: true, replaced: None },
            // In an annotation's place (as a hash would be), kept to be put back.
            Some(Value::Object(a)) => Placeholder {
                created_metadata: false,
                created_annotations: false,
                replaced: a.get(CONFIG_HASH_ANNOTATION).cloned(),
            },
            Some(_) => return None,
        },
        Some(_) => return None,
    };
    set_annotation(template, CONFIG_HASH_ANNOTATION, PLACEHOLDER.to_string());
    Some(held)
}

/// Takes the placeholder out of a template, and what holding its place created.
fn undo(template: &mut Map<String, Value>, held: Placeholder) {
    if held.created_metadata {
        template.shift_remove("metadata");
        return;
    }
    let Some(meta) = template.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if held.created_annotations {
        meta.shift_remove("annotations");
    } else if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        match held.replaced {
            // In its place, as it was.
            Some(value) => {
                annotations.insert(CONFIG_HASH_ANNOTATION.to_string(), value);
            }
            None => {
                annotations.shift_remove(CONFIG_HASH_ANNOTATION);
            }
        }
    }
}

/// Writes `hash` where a prepared workload's placeholder is.
pub(super) fn fill(obj: &mut Object, hash: &str) -> Result<()> {
    let line = format!("{CONFIG_HASH_ANNOTATION}: {PLACEHOLDER}\n");
    // In place when the hash is written as plainly as the placeholder and the
    // placeholder's line is the only one of its kind; else through a tree.
    let only = obj.with_prepared_yaml(|yaml| {
        let mut at = yaml.match_indices(&line).map(|(at, _)| at);
        match (at.next(), at.next()) {
            (Some(at), None) => Some(at),
            _ => None,
        }
    });
    match only.flatten() {
        Some(at) if emits_plain(hash) => {
            let at = at + CONFIG_HASH_ANNOTATION.len() + 2;
            obj.patch_prepared_yaml(at..at + PLACEHOLDER.len(), hash);
            Ok(())
        }
        _ => rebuild(obj, Some(hash)),
    }
}

/// Takes the placeholder out of a prepared workload that gets no hash.
pub(super) fn clear(obj: &mut Object) -> Result<()> {
    match facts_of(obj) {
        Some(Facts::Workload { placeholder: Some(_), .. }) => rebuild(obj, None),
        _ => Ok(()),
    }
}

/// Whether the emitter writes a hash as a plain scalar, as it writes the
/// placeholder: lowercase hex with a letter other than `e` after its first two
/// characters (past a `0b` or `0x` prefix) cannot be read as a number in YAML
/// 1.1 or 1.2, and no YAML boolean or null is hex. Hashes this does not vouch
/// for (about one in 10¹⁰) go through a tree.
fn emits_plain(hash: &str) -> bool {
    hash.len() == PLACEHOLDER.len()
        && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && hash.bytes().skip(2).any(|b| matches!(b, b'a'..=b'd' | b'f'))
}

/// The tree of a prepared object, read back from its YAML: rewind's own
/// output, which reads back as the tree it was emitted from.
pub(super) fn read_back(obj: &Object) -> Result<Object> {
    let internal = || {
        Error::Config(format!("{}: {} could not be read back; this is a bug in rewind", obj.origin, obj.display_id()))
    };
    let read = obj.with_prepared_yaml(|yaml| match read_own(yaml) {
        Some(body) => Ok(vec![Object::new(body, obj.origin.clone())]),
        None => parse_stream(yaml, &obj.origin.source, &Limits::default().any_size()),
    });
    let mut objects = read.ok_or_else(internal)?.map_err(|_| internal())?;
    match (objects.pop(), objects.is_empty()) {
        (Some(tree), true) => Ok(tree),
        _ => Err(internal()),
    }
}

/// Reads a prepared workload's YAML back (rewind's own output: it reads back
/// as the tree it was emitted from), sets or takes out the annotation, and
/// emits it again.
fn rebuild(obj: &mut Object, hash: Option<&str>) -> Result<()> {
    let Some(Facts::Workload { placeholder: Some(held), .. }) = facts_of(obj) else { return Ok(()) };
    let held = held.clone();
    let mut tree = read_back(obj)?;
    let template = template(&mut tree).ok_or_else(|| {
        Error::Config(format!("{}: {} has no pod template; this is a bug in rewind", obj.origin, obj.display_id()))
    })?;
    match hash {
        Some(hash) => set_annotation(template, CONFIG_HASH_ANNOTATION, hash.to_string()),
        None => undo(template, held),
    }
    let yaml = emit_document(&tree)?;
    obj.set_prepared_yaml(yaml);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn emitted(value: &str) -> String {
        let map = Map::from_iter([(CONFIG_HASH_ANNOTATION.to_string(), Value::String(value.to_string()))]);
        serde_saphyr::to_string(&map).unwrap()
    }

    /// The in-place fill relies on the emitter writing these values plainly.
    #[test]
    fn hashes_said_plain_are_emitted_plain() {
        assert_eq!(emitted(PLACEHOLDER), format!("{CONFIG_HASH_ANNOTATION}: {PLACEHOLDER}\n"));
        let mut plain = 0;
        for i in 0..20_000u32 {
            let hash = hex::encode(Sha256::digest(i.to_le_bytes()));
            if emits_plain(&hash) {
                plain += 1;
                assert_eq!(emitted(&hash), format!("{CONFIG_HASH_ANNOTATION}: {hash}\n"));
            }
        }
        assert!(plain > 19_990, "{plain}");
        for odd in ["1".repeat(64), format!("1e{}", "2".repeat(62)), format!("0b{}", "1".repeat(62))] {
            assert_ne!(emitted(&odd), format!("{CONFIG_HASH_ANNOTATION}: {odd}\n"), "the emitter quotes {odd}");
            assert!(!emits_plain(&odd), "{odd}");
        }
    }
}
