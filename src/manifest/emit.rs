//! Objects → a YAML stream or a JSON `List`. Output depends only on the objects
//! (key order as read), so rendering twice gives the same bytes.

use super::text::Text;
use super::{Object, give_back, threads as worker_threads};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Emits objects as a YAML stream, documents separated by `---`.
///
/// Strings that YAML 1.1 readers (Kubernetes' own) would take for booleans,
/// numbers or null are quoted: `"on"`, `"yes"`, `"y"`, `"1_000"`, `"0755"`.
/// Many objects are emitted on every core (`REWIND_THREADS`); the bytes are the same.
/// A prepared object brings its YAML (an error once it was taken).
pub fn to_yaml(objects: &[Object]) -> Result<String> {
    stream(objects.iter().map(|o| (o, None)).collect())
}

/// [`to_yaml`], taking each prepared object's YAML out of it and letting go
/// of it once it is in the stream, the freed memory given back to the system
/// as it goes ([`give_back`]), so the documents and the stream are not both
/// held in full.
pub fn take_yaml(objects: &mut [Object]) -> Result<String> {
    let taken: Vec<Option<Text>> = objects.iter_mut().map(Object::take_prepared_yaml).collect();
    if let Some((obj, _)) = objects.iter().zip(&taken).find(|(o, doc)| o.is_prepared() && doc.is_none()) {
        return Err(taken_error(obj));
    }
    stream(objects.iter().zip(taken).collect())
}

fn taken_error(obj: &Object) -> Error {
    Error::Config(format!(
        "{}: the YAML of {} was already taken; this is a bug in rewind",
        obj.origin,
        obj.display_id()
    ))
}

/// Bytes of documents let go of between two [`give_back`]s.
const GIVE_BACK_BYTES: usize = 8 << 20;

/// The stream of `objects`, each with its YAML if it was taken out already.
fn stream(objects: Vec<(&Object, Option<Text>)>) -> Result<String> {
    // Prepared objects bring their YAML; the others are emitted here.
    let unprepared: Vec<&Object> = objects.iter().filter(|(o, _)| !o.is_prepared()).map(|(o, _)| *o).collect();
    let threads = if unprepared.len() < PARALLEL_OBJECTS { 1 } else { worker_threads() };
    // Never more threads than objects, whatever REWIND_THREADS says.
    let mut emitted = if threads < 2 { Vec::new() } else { emit_each(&unprepared, threads.min(unprepared.len()))? };
    emitted.reverse();
    let mut out = String::new();
    out.reserve(
        objects
            .iter()
            .map(|(o, doc)| doc.as_ref().map(Text::len).or(o.prepared_yaml_len()).map_or(0, |d| d + 5))
            .sum::<usize>()
            + emitted.iter().map(|d| d.len() + 5).sum::<usize>(),
    );
    let mut let_go = 0;
    for (i, (obj, doc)) in objects.into_iter().enumerate() {
        match doc {
            // Dropped here: a block goes back to the system with its last document.
            Some(doc) => {
                doc.with(|d| append(&mut out, i, d));
                let_go += doc.len();
            }
            None if obj.is_prepared() => {
                obj.with_prepared_yaml(|d| append(&mut out, i, d)).ok_or_else(|| taken_error(obj))?;
            }
            None => match emitted.pop() {
                Some(doc) => append(&mut out, i, &doc),
                // One at a time, so the stream is the only copy of the output held.
                None => append(&mut out, i, &emit_document(obj)?),
            },
        }
        if let_go >= GIVE_BACK_BYTES {
            give_back();
            let_go = 0;
        }
    }
    Ok(out)
}

/// Adds document `i` to the stream.
fn append(out: &mut String, i: usize, doc: &str) {
    if i > 0 {
        out.push_str("---\n");
    }
    out.push_str(doc);
    if !doc.ends_with('\n') {
        out.push('\n');
    }
}

/// Below this many objects, one thread emits them all: threads would cost more than they save.
const PARALLEL_OBJECTS: usize = 48;

/// One object's YAML document (a prepared object's as it was prepared).
pub fn emit_document(obj: &Object) -> Result<String> {
    if obj.is_prepared() {
        return obj.with_prepared_yaml(str::to_string).ok_or_else(|| taken_error(obj));
    }
    if let Some(yaml) = super::writer::document(&obj.body) {
        return Ok(yaml);
    }
    tracing::debug!("{}: {} is written by serde-saphyr's emitter, not the writer", obj.origin, obj.display_id());
    serde_saphyr::to_string(&obj.body)
        .map_err(|e| Error::Config(format!("{}: cannot emit {} as YAML: {e}", obj.origin, obj.display_id())))
}

/// Each object's YAML, in order. With `threads` > 1, threads take the next
/// object as they finish one, since objects vary from a few lines to a
/// megabyte-sized CRD; the first error in object order is the one returned.
fn emit_each(objects: &[&Object], threads: usize) -> Result<Vec<String>> {
    if threads < 2 {
        return objects.iter().map(|o| emit_document(o)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(obj) = objects.get(i) else { return done };
            done.push((i, emit_document(obj)));
        }
    };
    let mut slots: Vec<Option<Result<String>>> = (0..objects.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        // Under tight address-space limits a thread may not start: the others (and this one) do its share.
        let helpers: Vec<_> =
            (1..threads).filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok()).collect();
        for (i, doc) in work() {
            slots[i] = Some(doc);
        }
        for helper in helpers {
            // A panicking emitter leaves its objects unset; they are emitted again below.
            for (i, doc) in helper.join().unwrap_or_default() {
                slots[i] = Some(doc);
            }
        }
    });
    slots.into_iter().zip(objects).map(|(slot, obj)| slot.unwrap_or_else(|| emit_document(obj))).collect()
}

/// Emits objects as one JSON `List` object (what `kubectl get -o json` prints).
/// Prepared objects have no body left to emit: their YAML is all there is.
pub fn to_json_list(objects: &[Object]) -> Result<String> {
    if let Some(obj) = objects.iter().find(|o| o.is_prepared()) {
        return Err(Error::Config(format!(
            "{}: cannot emit {} as JSON: only its YAML was kept (render with the objects kept for JSON output)",
            obj.origin,
            obj.display_id()
        )));
    }
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

    /// Emitting on threads gives the bytes of one thread.
    #[test]
    fn parallel_emit_matches_one_thread() {
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/argocd-install/install.yaml");
        let objects = parse_stream(&std::fs::read_to_string(corpus).unwrap(), "t", &Limits::default()).unwrap();
        assert!(objects.len() >= PARALLEL_OBJECTS);
        let objects: Vec<&Object> = objects.iter().collect();
        let one = emit_each(&objects, 1).unwrap();
        for threads in [2, 3, 8] {
            assert_eq!(emit_each(&objects, threads).unwrap(), one, "{threads} threads");
        }
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
