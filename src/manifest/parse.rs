//! YAML/JSON stream → objects, with the hostile-input limits enforced by the
//! parser itself (serde-saphyr's budget), so nothing unbounded is ever built.
//! Block-style documents take the line reader in [`super::lines`], plain
//! streams the event path in [`super::events`]; both build the same values
//! and leave everything else, and every error, to serde-saphyr. A stream goes
//! to them a document at a time where it may be cut, so a document they
//! cannot take costs itself alone.

use super::aliases::Aliases;
use super::events::Piece;
use super::scan::Scan;
use super::{Limits, Object, Origin, events, json, lines};
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use serde_saphyr::{Budget, Options, Spanned};

/// Longest object name Kubernetes accepts (a DNS subdomain).
pub const MAX_NAME_LEN: usize = 253;

fn parser_options(limits: &Limits) -> Options {
    let mut budget = Budget::default();
    budget.max_depth = limits.max_depth;
    budget.max_documents = limits.max_documents;
    // Nodes and events are already bounded by the byte limits; the library's
    // defaults are sized for config files and would refuse real app manifests.
    budget.max_nodes = usize::MAX;
    budget.max_events = usize::MAX;
    budget.max_reader_input_bytes = Some(limits.max_file_bytes as usize);
    budget.max_total_scalar_bytes = limits.max_file_bytes as usize;
    budget.max_recorded_anchor_events = limits.max_alias_events;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = limits.max_alias_events;
    // Snippets would quote the input, which may be Secret data.
    options.with_snippet = false;
    // Comments are dropped anyway; collecting them costs a third of parse time.
    options.emit_comments = false;
    // A custom tag would be dropped silently, changing what the manifest means.
    options.reject_unsupported_tags = true;
    // `defaultMode: 0644` is octal to Kubernetes' YAML 1.1 reader (420), as
    // its docs say; read as a decimal float it becomes 644, which the API refuses.
    options.legacy_octal_numbers = true;
    options
}

/// Decodes bytes as UTF-8, naming the offset of the first bad byte.
pub fn decode_utf8<'a>(bytes: &'a [u8], source: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        Error::input(
            source,
            format!(
                "not valid UTF-8 (first bad byte at offset {}); Kubernetes manifests must be UTF-8 text",
                e.valid_up_to()
            ),
        )
    })
}

/// Parses a multi-document YAML (or JSON) stream into objects.
///
/// Empty and `null` documents are skipped and `kind: List` is flattened.
/// Every object must have `apiVersion`, `kind` and `metadata.name`.
pub fn parse_stream(text: &str, source: &str, limits: &Limits) -> Result<Vec<Object>> {
    parse_stream_with(text, source, limits, &|obj| obj)
}

/// The body of the one object in `text`, YAML that rewind emitted itself
/// (no anchors, tags or directives: the fast path reads it alone, without
/// the checks a source gets). `None` if it is not that.
pub fn read_own(text: &str) -> Option<Map<String, Value>> {
    let mut docs = events::parse(text, &Limits::default().any_size())?;
    match (docs.pop(), docs.is_empty()) {
        (Some(events::Document { value: Value::Object(body), .. }), true) => Some(body),
        _ => None,
    }
}

/// What to do with each object as soon as it is parsed and checked, on the
/// parser's thread, while its tree is fresh: [`Object::prepare`] it, say.
pub type Finish<'a> = dyn Fn(Object) -> Object + Sync + 'a;

/// [`parse_stream`], passing each object through `finish` as soon as it is
/// parsed (objects of a stream the fast path gives up on may go through it
/// twice; the first results are dropped).
pub fn parse_stream_with(text: &str, source: &str, limits: &Limits, finish: &Finish) -> Result<Vec<Object>> {
    let scan = Scan::of(text);
    if let Some(pos) = scan.nul() {
        return Err(Error::input(source, format!("contains a NUL byte at offset {pos}; this is not a YAML text file")));
    }
    let markers = scan.documents();
    if markers > limits.max_documents {
        return Err(Error::input(
            source,
            format!(
                "has {markers} documents, over the {}-document limit; raise it with --max-documents",
                limits.max_documents
            ),
        ));
    }
    // A stream is parsed a document at a time where it may be cut, large
    // ones a group of documents per core; one pass over the whole decides
    // whatever that cannot, and finds its errors, the reference.
    if let Some(split) = Split::of(&scan, markers, limits) {
        let parts = parallel::parts(text, &split.cuts).unwrap_or_else(|| vec![(text, 0, split.cuts.clone())]);
        if let Some(objects) = parallel::parse(&parts, source, &split, finish) {
            return Ok(objects);
        }
    }
    Ok(one_pass(text, source, limits, (0, 0), finish)?.0)
}

/// Where a stream may be cut into documents parsed apart.
struct Split {
    /// Offsets after the first byte where a document starts.
    cuts: Vec<usize>,
    limits: Limits,
    /// How many documents hold an `&` that could start an anchor, or a `<<`
    /// that could be a merge key, counting no further than 2.
    budgeted: usize,
}

impl Split {
    /// How `scan`'s stream of `markers` documents may be cut, or `None` when
    /// a cut could change what it means: directives (`%YAML`, `%TAG`) bind
    /// across a marker. Nor when `markers` is near its limit, which the
    /// one-pass parser rules on, or when there is nothing to cut.
    fn of(scan: &Scan, markers: usize, limits: &Limits) -> Option<Split> {
        if markers + 2 >= limits.max_documents || scan.directive() {
            return None;
        }
        let cuts: Vec<usize> = scan.cuts().collect();
        if cuts.is_empty() {
            return None;
        }
        // Two are enough to know: a hostile stream may hold millions of `&`s.
        let mut first = None;
        let mut budgeted = 0;
        for at in scan.anchors().chain(scan.merges()) {
            let document = cuts.partition_point(|&cut| cut <= at);
            match first {
                None => (first, budgeted) = (Some(document), 1),
                Some(seen) if seen != document => {
                    budgeted = 2;
                    break;
                }
                Some(_) => {}
            }
        }
        Some(Split { cuts, limits: *limits, budgeted })
    }

    /// Whether `document`, parsed alone by the full parser, might not show
    /// what the parser's budget counts over the whole stream: anchors,
    /// aliases (how many, and how many per anchor) and merge keys. Only when
    /// another document could hold some too. The fast paths take none of
    /// them, so wherever they answer, the stream's counts are the same.
    fn shares_budget(&self, document: &str) -> bool {
        if self.budgeted < 2 {
            return false;
        }
        let scan = Scan::of(document);
        scan.anchor() || scan.merges().next().is_some()
    }

    /// Whether the documents that hold anchors or merge keys together stay
    /// within the parser's budget, as one pass over the stream would count
    /// it. `budgeted`: those documents in stream order, and for each the
    /// event path's counts, or `None` for a document the full parser read
    /// (those [`Split::shares_budget`]). When the event path read them all
    /// and their counts add up to surely within, that is known; else they are
    /// parsed again as one stream of their own (they are few: the documents
    /// that hold anchors or merge keys). The other documents add nothing to
    /// those counts.
    fn within_budget(&self, budgeted: &[(&str, Option<Aliases>)]) -> bool {
        let counted = budgeted.iter().try_fold(Aliases::default(), |sum, (_, counts)| Some(sum.add((*counts)?)));
        if counted.is_some_and(|sum| sum.within(&self.limits)) || budgeted.len() < 2 {
            return true;
        }
        let texts: Vec<&str> = budgeted.iter().map(|(text, _)| *text).collect();
        full_parse(&texts.concat(), "", &self.limits).is_ok()
    }
}

/// The objects of a group of documents, how many documents it held, and its
/// documents that hold anchors or merge keys (see [`Split::within_budget`]).
type Group<'a> = (Vec<Object>, usize, Vec<(&'a str, Option<Aliases>)>);

/// Parses `text` (a whole stream, or a group of its documents starting at a
/// `---` line) a document at a time between the `cuts` (offsets in `text`):
/// a document the line reader cannot read (a tag, a merge key) costs the
/// slower paths that document alone, not the whole stream. Origins count
/// `before` lines ahead of `text`. `None` on an error: one pass over the
/// whole stream then finds it, the reference.
fn by_document<'a>(
    text: &'a str,
    cuts: &[usize],
    source: &str,
    split: &Split,
    before: usize,
    finish: &Finish,
) -> Option<Group<'a>> {
    let (mut out, mut count, mut lines, mut shared) = (Vec::new(), 0, before, Vec::new());
    let mut counted = Aliases::default();
    let starts = std::iter::once(0).chain(cuts.iter().copied());
    let ends = cuts.iter().copied().chain(std::iter::once(text.len()));
    for (start, end) in starts.zip(ends) {
        let document = &text[start..end];
        let at = (count, lines);
        let (mut objects, n) = match fast_pass(document, source, &split.limits, at, finish) {
            Some((objects, n, aliases)) => {
                if !aliases.is_empty() {
                    shared.push((document, Some(aliases)));
                    // Past the budget's halves, the documents' copies are not
                    // built on: one pass decides, with the stream's budget.
                    counted = counted.add(aliases);
                    if !counted.within(&split.limits) {
                        return None;
                    }
                }
                (objects, n)
            }
            None => {
                if split.shares_budget(document) {
                    shared.push((document, None));
                }
                full_pass(document, source, &split.limits, at, finish).ok()?
            }
        };
        out.append(&mut objects);
        count += n;
        lines += newlines(document);
    }
    Some((out, count, shared))
}

/// Line breaks (`\n`) in `text`, counted in byte-sized sums of 255 bytes,
/// which the compiler turns into vector compares (a plain count took 9
/// million instructions on the Argo CD install, 2 % of a render).
fn newlines(text: &str) -> usize {
    let sums = text.as_bytes().chunks(255).map(|c| c.iter().map(|&b| u8::from(b == b'\n')).sum::<u8>());
    sums.map(usize::from).sum()
}

/// Parses `text` in one pass: the fast paths of [`fast_pass`], else the
/// full parser. Origins count `before.0` documents and `before.1` lines
/// ahead of `text`; also returns how many documents it held.
fn one_pass(
    text: &str,
    source: &str,
    limits: &Limits,
    before: (usize, usize),
    finish: &Finish,
) -> Result<(Vec<Object>, usize)> {
    // The event path checked the whole text's anchors and aliases.
    match fast_pass(text, source, limits, before, finish) {
        Some((objects, n, _)) => Ok((objects, n)),
        None => full_pass(text, source, limits, before, finish),
    }
}

/// [`one_pass`] on the JSON reader (which looks no further than the first
/// character of a YAML text), else the line reader, else the event stream;
/// also what the text anchored and aliased. `None` when all give up or a
/// check fails (the full parser's pass finds the error again).
fn fast_pass(
    text: &str,
    source: &str,
    limits: &Limits,
    before: (usize, usize),
    finish: &Finish,
) -> Option<(Vec<Object>, usize, Aliases)> {
    // Which text the debug messages below are about: a file, from a line.
    let _text = tracing::debug_span!("text", source, from_line = before.1 + 1).entered();
    // Each starts over from nothing. The JSON and line readers give a
    // `List`'s items one at a time, each checked and finished as it comes,
    // as if the `List` were already known; a document that then turns out to
    // be no `List` starts it all over on the next path.
    let fast = |each: events::Listed| {
        let (mut out, mut count, mut given) = (Vec::new(), 0, 0);
        let aliases = each(text, limits, &mut |piece| match piece {
            Piece::Item(item, line) => {
                let origin =
                    Origin { source: source.to_string(), document: before.0 + count + 1, line: line + before.1 };
                given += 1;
                push_item(item, &origin, given - 1, &mut out, finish).is_ok()
            }
            Piece::Document(doc) => {
                count += 1;
                let origin = Origin { source: source.to_string(), document: before.0 + count, line: 0 };
                let listed = std::mem::take(&mut given) > 0;
                take_document(doc, origin, before.1, listed, finish, &mut out).is_ok()
            }
        })?;
        Some((out, count, aliases))
    };
    fast(json::each_listed).or_else(|| fast(lines::each_listed)).or_else(|| {
        // Which documents take the slower paths, for whoever wonders why a render is slow.
        tracing::debug!("not read by the line reader: reading the parser's events");
        fast(events::each_listed).or_else(|| {
            tracing::debug!("left to serde-saphyr");
            None
        })
    })
}

/// [`one_pass`] on the full parser (serde-saphyr), the reference for errors.
fn full_pass(
    text: &str,
    source: &str,
    limits: &Limits,
    before: (usize, usize),
    finish: &Finish,
) -> Result<(Vec<Object>, usize)> {
    // The fast paths refuse every tag, so only a stream they gave up on can hold one.
    refuse_binary_tags(text, source)?;
    let (mut out, mut count) = (Vec::new(), 0);
    for doc in full_parse(text, source, limits)? {
        count += 1;
        let origin = Origin { source: source.to_string(), document: before.0 + count, line: 0 };
        take_document(doc, origin, before.1, false, finish, &mut out)?;
    }
    Ok((out, count))
}

/// Checks one document and adds its objects to `out`; `origin` gets the
/// document's line, `lines_before` ahead of `text`'s first. `listed`: its
/// items were given before it ([`Piece`]), so it must be a `List`.
fn take_document(
    doc: events::Document,
    mut origin: Origin,
    lines_before: usize,
    listed: bool,
    finish: &Finish,
    out: &mut Vec<Object>,
) -> Result<()> {
    origin.line = match doc.line {
        0 => 0,
        n => n + lines_before,
    };
    match doc.value {
        Value::Null => Ok(()),
        Value::Object(mut body) if listed => match list_items(&mut body) {
            Some(items) if items.is_empty() => Ok(()),
            // Its items were taken for objects: the caller reads it again, as a whole.
            _ => Err(Error::input(
                &origin.source,
                format!("document {} (line {}): its items are no List's", origin.document, origin.line),
            )),
        },
        Value::Object(body) => push_object(body, origin, out, finish),
        other => Err(Error::input(
            &origin.source,
            format!(
                "document {} (line {}): expected a Kubernetes object (a mapping with apiVersion, kind, metadata), found {}",
                origin.document,
                origin.line,
                type_name(&other)
            ),
        )),
    }
}

/// The full parser (serde-saphyr, with its budget): every stream the fast
/// path in [`events`] gives up on, and the reference for its errors.
fn full_parse(text: &str, source: &str, limits: &Limits) -> Result<Vec<events::Document>> {
    let docs: Vec<Spanned<Value>> =
        serde_saphyr::from_multiple_with_options(text, parser_options(limits)).map_err(|e| {
            Error::input(source, format!("invalid YAML: {}{}", one_line(&e.to_string()), advice(&e.to_string())))
        })?;
    Ok(docs.into_iter().map(|d| events::Document { line: d.referenced.line() as usize, value: d.value }).collect())
}

#[cfg(test)]
pub(super) fn full_parse_for_test(text: &str, limits: &Limits) -> Result<Vec<events::Document>> {
    full_parse(text, "t.yaml", limits)
}

/// Parsing a large stream on every core: split at document markers, parse
/// the groups at once, number documents and lines as one pass would.
mod parallel {
    use super::super::workers::{run_parts, threads};
    use super::{Finish, Object, Split, by_document, newlines};

    /// Below this a stream is parsed in one pass: threads would cost more than they save.
    const MIN_BYTES: usize = 256 * 1024;

    /// The groups (text, lines before it, the `cuts` inside it) to parse at
    /// once, or `None` when the stream is small or may not be cut.
    pub fn parts<'a>(text: &'a str, cuts: &[usize]) -> Option<Vec<Part<'a>>> {
        if text.len() < MIN_BYTES {
            return None;
        }
        split(text, cuts, threads(), MIN_BYTES)
    }

    /// A group of documents: its text, the lines ahead of it and the cuts
    /// inside it (offsets in its text).
    pub type Part<'a> = (&'a str, usize, Vec<usize>);

    /// [`parts`] for `threads` threads and streams of `min_bytes` or more.
    pub fn split<'a>(text: &'a str, cuts: &[usize], threads: usize, min_bytes: usize) -> Option<Vec<Part<'a>>> {
        if text.len() < min_bytes || threads < 2 {
            return None;
        }
        // For each even share of the bytes, the document start nearest to it:
        // documents vary from a few lines to a megabyte-sized CRD.
        let mut splits: Vec<usize> = Vec::new();
        for k in 1..threads {
            let ideal = text.len() * k / threads;
            let after = splits.last().copied().unwrap_or(0);
            let nearest = cuts.iter().filter(|&&m| m > after).min_by_key(|m| m.abs_diff(ideal));
            if let Some(&cut) = nearest {
                splits.push(cut);
            }
        }
        let mut parts = Vec::with_capacity(splits.len() + 1);
        let (mut start, mut lines_before) = (0, 0);
        for end in splits.into_iter().chain(std::iter::once(text.len())) {
            let inside = cuts.iter().filter(|&&c| c > start && c < end).map(|&c| c - start).collect();
            parts.push((&text[start..end], lines_before, inside));
            lines_before += newlines(&text[start..end]);
            start = end;
        }
        (parts.len() > 1).then_some(parts)
    }

    /// Parses the groups on threads of their own; objects in stream order.
    /// `None` where one pass over the whole stream must decide.
    pub fn parse(parts: &[Part], source: &str, split: &Split, finish: &Finish) -> Option<Vec<Object>> {
        let results = run_parts(
            parts,
            |(text, _, _)| text.len(),
            |(text, lines, cuts)| by_document(text, cuts, source, split, *lines, finish),
        );
        let (mut objects, mut documents_before, mut shared) = (Vec::new(), 0, Vec::new());
        for result in results {
            // A thread that panicked is `None` too.
            let (mut group, count, mut documents) = result.flatten()?;
            for obj in &mut group {
                obj.origin.document += documents_before;
            }
            documents_before += count;
            objects.append(&mut group);
            shared.append(&mut documents);
        }
        split.within_budget(&shared).then_some(objects)
    }
}

/// `!!binary` would be decoded silently into a string (invalid UTF-8 and all);
/// Kubernetes manifests carry binary data as base64 text instead. Scanned
/// with the parser's event stream, so the word in a string is no match; only
/// on the full parser's path, as that scan costs a parse of its own.
fn refuse_binary_tags(text: &str, source: &str) -> Result<()> {
    if !text.contains("binary") {
        return Ok(());
    }
    for item in serde_saphyr::granit_parser::Parser::new_from_str(text) {
        // Syntax errors are reported by the real parse, with its limits.
        let Ok((event, span)) = item else { return Ok(()) };
        if event.tag().is_some_and(|t| t.suffix() == "binary") {
            return Err(Error::input(
                source,
                format!(
                    "line {}: the !!binary tag is not supported in Kubernetes manifests; write the base64 text without the tag (Secret data, ConfigMap binaryData)",
                    span.start.line()
                ),
            ));
        }
    }
    Ok(())
}

/// What to do about a limit the parser enforced.
fn advice(message: &str) -> &'static str {
    if !["budget breached", "nesting", "recursion", "alias"].iter().any(|w| message.contains(w)) {
        return "";
    }
    if message.contains("Documents") {
        "; the file has more documents than --max-documents allows"
    } else if ["Depth", "nesting", "recursion"].iter().any(|w| message.contains(w)) {
        "; the file nests deeper than --max-depth allows"
    } else {
        "; YAML aliases expand to more than --max-alias-events allows (an alias bomb?)"
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The items of a `kind: List` (or `…List` without a spec), taken out of it.
fn list_items(body: &mut Map<String, Value>) -> Option<Vec<Value>> {
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
    if !(kind == "List" || (kind.ends_with("List") && !body.contains_key("spec"))) {
        return None;
    }
    match body.remove("items") {
        Some(Value::Array(items)) => Some(items),
        Some(other) => {
            body.insert("items".into(), other);
            None
        }
        None => None,
    }
}

fn push_object(mut body: Map<String, Value>, origin: Origin, out: &mut Vec<Object>, finish: &Finish) -> Result<()> {
    if let Some(items) = list_items(&mut body) {
        for (j, item) in items.into_iter().enumerate() {
            push_item(item, &origin, j, out, finish)?;
        }
        return Ok(());
    }
    validate(body, origin, None, out, finish)
}

/// Checks item `j` of the `List` at `origin` and adds its object to `out`.
fn push_item(item: Value, origin: &Origin, j: usize, out: &mut Vec<Object>, finish: &Finish) -> Result<()> {
    match item {
        Value::Object(b) => validate(b, origin.clone(), Some(j), out, finish),
        other => Err(Error::input(
            &origin.source,
            format!(
                "document {} (line {}): List item {j} is {}, expected an object",
                origin.document,
                origin.line,
                type_name(&other)
            ),
        )),
    }
}

fn validate(
    body: Map<String, Value>,
    origin: Origin,
    item: Option<usize>,
    out: &mut Vec<Object>,
    finish: &Finish,
) -> Result<()> {
    let at = match item {
        Some(j) => format!("document {} (line {}), List item {j}", origin.document, origin.line),
        None => format!("document {} (line {})", origin.document, origin.line),
    };
    let fail = |msg: String| Err(Error::input(&origin.source, format!("{at}: {msg}")));
    for key in ["apiVersion", "kind"] {
        match body.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return fail(format!("object has no {key}; every object needs apiVersion, kind and metadata.name"));
            }
            Some(other) => return fail(format!("{key} must be a string, found {}", type_name(other))),
        }
    }
    let name = match body.get("metadata") {
        Some(Value::Object(m)) => m.get("name"),
        Some(Value::Null) | None => None,
        Some(other) => return fail(format!("metadata must be a mapping, found {}", type_name(other))),
    };
    match name {
        Some(Value::String(s)) if !s.is_empty() => {
            if s.len() > MAX_NAME_LEN {
                return fail(format!(
                    "metadata.name is {} characters long; Kubernetes allows at most {MAX_NAME_LEN}",
                    s.len()
                ));
            }
            if s.contains(['/', '%']) || s == "." || s == ".." {
                return fail(format!("metadata.name {s:?} is not a valid Kubernetes name (no '/', '%', '.' or '..')"));
            }
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            let kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
            return fail(format!("{kind} has no metadata.name; every object needs apiVersion, kind and metadata.name"));
        }
        Some(other) => return fail(format!("metadata.name must be a string, found {}", type_name(other))),
    }
    if let Some(ns) = body.get("metadata").and_then(|m| m.get("namespace"))
        && !(ns.is_string() || ns.is_null())
    {
        return fail(format!("metadata.namespace must be a string, found {}", type_name(ns)));
    }
    out.push(finish(Object::new(body, origin)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Object>> {
        parse_stream(s, "t.yaml", &Limits::default())
    }

    /// How `text` may be cut, as a render finds it.
    fn split_of(text: &str, limits: &Limits) -> Option<Split> {
        let scan = Scan::of(text);
        Split::of(&scan, scan.documents(), limits)
    }

    fn cuts_of(text: &str) -> Vec<usize> {
        split_of(text, &Limits::default()).map(|split| split.cuts).unwrap_or_default()
    }

    /// A document with `aliases` aliases of one 28-item sequence (30 events each).
    fn aliased(name: &str, aliases: usize) -> String {
        format!(
            "---\napiVersion: v1\nkind: X\nmetadata: {{name: {name}}}\nitems: &i [{}]\nmore: [{}]\n",
            vec!["1"; 28].join(", "),
            vec!["*i"; aliases].join(", ")
        )
    }

    /// Streams with documents the line reader leaves to the slower paths,
    /// and around them documents it reads; edges of the split too.
    fn mixed_streams() -> Vec<String> {
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/argocd-install/install.yaml");
        let install = std::fs::read_to_string(corpus).unwrap();
        let mut edgy = String::from("# head comment\n---\n---\nnull\n");
        for i in 0..300 {
            edgy.push_str(&format!(
                "---\n# c\napiVersion: v1\nkind: List\nitems:\n- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: a{i}}}, data: {{x: \"---\"}}}}\n\
                 ---   \r\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\nstringData:\n  v: |\n    ---\n    body\n...\n"
            ));
            // Left to the slower paths: a tab between a key and its value, a tag, a bare
            // document after `...`; once, an anchor. Read here: a tab in a script.
            let odd = [
                "  run.sh: |\n    if x; then\n    \techo x\n    fi\n  x:\ty\n",
                "  run.sh: |\n    if x; then\n    \techo x\n    fi\n",
                "  tagged: !!str 5\n",
                "  x: y\n...\n",
            ];
            let odd = if i == 150 { "  a: &a x\n  b: *a\n" } else { odd[i % odd.len()] };
            edgy.push_str(&format!(
                "--- # odd\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: o{i}\ndata:\n{odd}"
            ));
        }
        let mut tabbed = install.clone();
        tabbed.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tabs\ndata:\n  a: \"\tb\"\n---\n");
        tabbed.push_str(
            &install
                .replacen("\nkind: CustomResourceDefinition\n", "\nkind:\tCustomResourceDefinition\n", 1)
                .replace("name: argocd", "name: again-argocd"),
        );
        vec![install, edgy, tabbed]
    }

    /// Documents with anchors and aliases (values, not keys) take the fast
    /// paths, the line reader's among them, a document at a time and in
    /// parallel groups, and give the full parser's objects. Where the event
    /// path counted every anchored document, adding up its counts decides
    /// the stream's budget without parsing them again; a document the full
    /// parser read leaves it to one more parse.
    #[test]
    fn anchored_documents_take_the_fast_paths() {
        let limits = Limits::default();
        let boutique = &super::super::testdata::corpus()[1].1;
        let text = boutique
            .replace("\napiVersion: ", "\nx-common: &c {team: shop, tier: [web, 1]}\nx-again: *c\napiVersion: ");
        let split = split_of(&text, &limits).expect("splits");
        assert_eq!(split.budgeted, 2);
        let starts = std::iter::once(0).chain(split.cuts.iter().copied());
        let ends = split.cuts.iter().copied().chain(std::iter::once(text.len()));
        let mut anchored = 0;
        for (a, b) in starts.zip(ends) {
            let document = &text[a..b];
            let read = lines::each(document, &limits, &mut |_| true).expect("read by the line reader");
            anchored += usize::from(!read.is_empty());
            assert!(fast_pass(document, "f.yaml", &limits, (0, 0), &|o| o).is_some());
        }
        assert!(anchored > 10, "{anchored} anchored documents");
        let full = full_pass(&text, "f.yaml", &limits, (0, 0), &|o| o).unwrap().0;
        assert_eq!(parse_stream(&text, "f.yaml", &limits).unwrap(), full);
        for threads in [2, 3] {
            let parts = parallel::split(&text, &split.cuts, threads, 0).expect("splits");
            assert_eq!(parallel::parse(&parts, "f.yaml", &split, &|o| o).unwrap(), full, "{threads} threads");
        }
        // Counted documents are not parsed again: these texts would not parse.
        let counts = Aliases { anchors: 1, aliases: 2, replayed: 2, recorded: 1, ..Aliases::default() };
        let counted = [("[", Some(counts)), ("[", Some(counts))];
        assert!(split.within_budget(&counted));
        assert!(!split.within_budget(&[("[", Some(counts)), ("a: &x 1\n", None)]));
        let many = Aliases { aliases: 30_000, anchors: 10_000, ..counts };
        assert!(!split.within_budget(&[("[", Some(many)), ("[", Some(many))]));
    }

    /// A `List` as `kubectl get -o yaml` writes one is read an item at a time
    /// (the line reader gives each item as it comes, before the `List`) and
    /// gives the full parser's objects, origins included. A document whose
    /// top-level `items` turn out to be no `List`'s is read again as a whole,
    /// and broken `List`s fail with the full parser's errors.
    #[test]
    fn lists_are_read_an_item_at_a_time() {
        let limits = Limits::default();
        let docs: Vec<String> = super::super::testdata::small_documents()
            .into_iter()
            .filter(|d| d.starts_with("apiVersion:") && !d.contains('\t') && !d.contains("\n---"))
            .take(40)
            .collect();
        assert!(docs.len() >= 20, "{} documents", docs.len());
        let item = |doc: &str, indent: &str| {
            let lines = doc.lines().enumerate();
            let line = |(i, l): (usize, &str)| match (i, l.is_empty()) {
                (_, true) => "\n".to_string(),
                (0, _) => format!("{indent}- {l}\n"),
                _ => format!("{indent}  {l}\n"),
            };
            lines.map(line).collect::<String>()
        };
        let items = |indent: &str| docs.iter().map(|d| item(d, indent)).collect::<String>();
        let values: Vec<Value> =
            docs.iter().map(|d| full_parse(d, "t.yaml", &limits).unwrap().remove(0).value).collect();
        let full = |text: &str| full_pass(text, "t.yaml", &limits, (0, 0), &|o| o).map(|(objects, _)| objects);
        let texts = [
            format!("apiVersion: v1\nitems:\n{}kind: List\nmetadata:\n  resourceVersion: \"\"\n", items("")),
            format!(
                "---\napiVersion: v1\nkind: List\nitems:\n{}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: after}}\n",
                items("  ")
            ),
            format!("apiVersion: v1\nkind: ConfigMapList\nitems:\n{}", items("")),
            // No Lists: the items stay their document's.
            format!("apiVersion: v1\nkind: Thing\nmetadata: {{name: t}}\nitems:\n{}", items("")),
            format!("apiVersion: v1\nkind: ThingList\nmetadata: {{name: t}}\nspec: {{}}\nitems:\n{}", items("")),
            // As `kubectl get -o json` writes a List.
            serde_json::to_string_pretty(&serde_json::json!({"apiVersion": "v1", "items": values, "kind": "List"}))
                .unwrap(),
            serde_json::to_string(
                &serde_json::json!({"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "t"}, "items": values}),
            )
            .unwrap(),
        ];
        for text in &texts {
            let given = |each: events::Listed| {
                let mut given = 0;
                each(text, &limits, &mut |piece| {
                    given += usize::from(matches!(piece, Piece::Item(..)));
                    true
                })
                .map(|_| given)
            };
            let given = given(json::each_listed).or_else(|| given(lines::each_listed));
            assert_eq!(given, Some(docs.len()), "items given one at a time:\n{text}");
            let objects = parse(text).unwrap();
            assert!(objects.len() == 1 || objects.len() >= docs.len());
            assert_eq!(objects, full(text).unwrap(), "{text}");
        }
        for text in [
            format!("apiVersion: v1\nkind: List\nitems:\n{}- just a string\n", items("")),
            format!("apiVersion: v1\nkind: List\nitems:\n{}- kind: ConfigMap\n  metadata: {{name: x}}\n", items("")),
            format!("apiVersion: v1\nitems:\n{}kind: List\nitems:\n{}", items(""), items("")),
        ] {
            assert_eq!(parse(&text).unwrap_err().to_string(), full(&text).unwrap_err().to_string(), "{text}");
        }
    }

    /// A document at a time, and in parallel groups, gives exactly the objects
    /// (origins included) of one pass.
    #[test]
    fn split_parsing_matches_one_pass() {
        let limits = Limits::default();
        for (i, text) in mixed_streams().iter().enumerate() {
            let split = split_of(text, &limits).expect("splits");
            let cuts = &split.cuts;
            assert!(cuts.len() > 10, "splits");
            // The line reader takes all documents of the install and of the copies (their
            // lines with tabs as regions of the parser's events), and some of the edgy ones.
            let starts = std::iter::once(0).chain(cuts.iter().copied());
            let ends = cuts.iter().copied().chain(std::iter::once(text.len()));
            let left = starts.zip(ends).filter(|&(a, b)| lines::each(&text[a..b], &limits, &mut |_| true).is_none());
            let left = left.count();
            let expected = [left == 0, left > 0 && left < cuts.len(), left == 0][i];
            assert!(expected, "{left} documents left to the slower paths in stream {i}");
            let one = one_pass(text, "f.yaml", &limits, (0, 0), &|o| o).unwrap().0;
            assert!(!one.is_empty());
            let parts = [(text.as_str(), 0, cuts.clone())];
            assert_eq!(parallel::parse(&parts, "f.yaml", &split, &|o| o).unwrap(), one, "a document at a time");
            assert_eq!(parse_stream(text, "f.yaml", &limits).unwrap(), one);
            for threads in [2, 3, 7] {
                let parts = parallel::split(text, cuts, threads, 0).expect("splits");
                assert!(parts.len() > 1);
                assert_eq!(parts.iter().map(|(t, _, _)| *t).collect::<String>(), *text, "the parts are the stream");
                assert_eq!(parallel::parse(&parts, "f.yaml", &split, &|o| o).unwrap(), one, "{threads} threads");
            }
        }
        // Directives keep one pass.
        assert!(cuts_of("%YAML 1.1\n---\na: 1\n---\nb: 2\n").is_empty());
        // So does a document count near the limit.
        let near = "---\na: 1\n".repeat(limits.max_documents - 2);
        assert!(cuts_of(&near).is_empty());
        assert!(!cuts_of(&near[9..]).is_empty());
    }

    /// Documents that could hold an anchor or a merge key are parsed alone, and
    /// where two or more of them need the full parser, parsed again together:
    /// its budget counts the whole stream's anchors, aliases and merge keys. An
    /// `&` where a node may start counts, one inside a word does not.
    #[test]
    fn anchored_documents_share_the_budget_as_in_one_pass() {
        let limits = Limits::default();
        let anchored = |text: &str| split_of(text, &limits).expect("splits").budgeted;
        assert_eq!(anchored("a: http://x/?a=1&b=2\n---\nb: 2\n"), 0);
        assert_eq!(anchored("a: 'x && y'\n---\nb: 2\n"), 0);
        assert_eq!(anchored("a: &x 1\n---\nb: *x\n"), 1);
        assert_eq!(anchored("a: &x 1\nb: &y 2\n---\nb: 1\n---\nc: &z 3\n"), 2);
        for text in [
            "a: [1,&x 2]\n---\nb: 2\n",
            "\u{feff}&x a: 1\n---\nb: 2\n",
            "{\"a\":&x 1}\n---\nb: 2\n",
            "&x a: 1\n---\nb: 2\n",
            "a: 1\n---\nb: 'R &D'\n",
            "a: 1\n---\n<<: {b: 2}\n",
            "a: 1\n---\n<<: &x {b: 2}\nc: *x\n",
        ] {
            assert_eq!(anchored(text), 1, "{text}");
        }
        assert_eq!(anchored("<<: {a: 1}\n---\n<<: {b: 2}\n"), 2);
        assert_eq!(anchored("a: &x 1\n---\nb: &y 2\n---\nc: &z 3\n"), 2, "counts no further");
        assert_eq!(anchored("a: &x 1\nb: &y 2\n---\nc: 2\n"), 1);
        let parse_split = |text: &str, limits: &Limits| {
            let split = split_of(text, limits).expect("splits");
            parallel::parse(&[(text, 0, split.cuts.clone())], "f.yaml", &split, &|o| o)
        };
        let plain = "---\napiVersion: v1\nkind: X\nmetadata: {name: plain}\ndescription: sort_by(@, &name)\n";
        // One document with 60 aliases of one anchor passes the budget; three do not (the
        // ratio of aliases to anchors counts the whole stream), nor two.
        let one = format!("{plain}{}{plain}", aliased("d", 60)).replacen("plain", "plain2", 2);
        let whole = one_pass(&one, "f.yaml", &limits, (0, 0), &|o| o).unwrap().0;
        assert_eq!(parse_split(&one, &limits).expect("the others have no anchor"), whole);
        let two = format!("{}{plain}{}", aliased("d1", 60), aliased("d2", 60));
        let err = one_pass(&two, "f.yaml", &limits, (0, 0), &|o| o).unwrap_err().to_string();
        assert!(err.contains("AliasAnchorRatio"), "{err}");
        assert_eq!(parse_split(&two, &limits), None);
        let two = format!("{}{plain}{}", aliased("d1", 30), aliased("d2", 30));
        let whole = one_pass(&two, "f.yaml", &limits, (0, 0), &|o| o).unwrap().0;
        assert_eq!(parse_split(&two, &limits).expect("together within the budget"), whole);
        let three: String = (0..3).map(|i| aliased(&format!("d{i}"), 60)).collect();
        let err = one_pass(&three, "f.yaml", &limits, (0, 0), &|o| o).unwrap_err().to_string();
        assert!(err.contains("AliasAnchorRatio"), "{err}");
        assert_eq!(parse_split(&three, &limits), None);
        assert_eq!(parse_stream(&three, "f.yaml", &limits).unwrap_err().to_string(), err);
        // Merge keys count over the whole stream too: 6,000 in a document pass, 12,000 in two do not.
        let merged = |name: &str| {
            format!(
                "---\napiVersion: v1\nkind: X\nmetadata: {{name: {name}}}\nitems:\n{}",
                "- <<: {a: 1}\n".repeat(6000)
            )
        };
        assert!(one_pass(&merged("m"), "f.yaml", &limits, (0, 0), &|o| o).is_ok());
        let two = format!("{}{}", merged("m1"), merged("m2"));
        let err = one_pass(&two, "f.yaml", &limits, (0, 0), &|o| o).unwrap_err().to_string();
        assert!(err.contains("erge"), "{err}");
        assert_eq!(parse_split(&two, &limits), None);
        assert_eq!(parse_stream(&two, "f.yaml", &limits).unwrap_err().to_string(), err);
        // Documents the line reader takes, `&`s in their text and all, are parsed alone.
        let described: String = (0..3).map(|i| plain.replace("plain", &format!("p{i}"))).collect();
        let whole = one_pass(&described, "f.yaml", &limits, (0, 0), &|o| o).unwrap().0;
        assert_eq!(whole.len(), 3);
        assert_eq!(parse_split(&described, &limits).expect("parsed alone"), whole);
    }

    #[test]
    fn newlines_are_counted() {
        for text in ["", "a", "\n", "a\nb\r\n\n", &"x\n".repeat(1000), &format!("{}\n", "y".repeat(600))] {
            assert_eq!(newlines(text), text.matches('\n').count(), "{text:?}");
        }
    }

    /// What `parse_stream` (cut where it may) and one pass make of `text`:
    /// the same objects and origins, or the same error.
    fn same_as_one_pass(text: &str, limits: &Limits) -> bool {
        let one = one_pass(text, "f.yaml", limits, (0, 0), &|o| o).map_err(|e| e.to_string());
        let cut = parse_stream(text, "f.yaml", limits).map_err(|e| e.to_string());
        match (cut, one) {
            (Ok(cut), Ok((one, _))) => assert_eq!(cut, one, "objects differ on:\n{text}"),
            // The checks before parsing (document count, NUL bytes) have their own messages.
            (Err(cut), Err(one)) => {
                let checked = cut.contains("-document limit") || cut.contains("NUL byte");
                assert!(cut == one || checked, "{cut}\n{one}\n{text}");
            }
            (cut, one) => panic!("cut {cut:?}, one pass {one:?}, on:\n{text}"),
        }
        split_of(text, limits).is_some()
    }

    /// Every fuzz input, and streams of random documents (odd ones, anchored
    /// ones, merge keys, tags, errors) behind random markers: cut or not, the
    /// same objects and origins, or the same error, as one pass.
    #[test]
    fn cut_streams_agree_with_one_pass() {
        let limits = super::super::testdata::fuzz_limits();
        let inputs = super::super::testdata::fuzz_inputs();
        let cut = inputs.iter().filter(|text| same_as_one_pass(text, &limits)).count();
        assert!(cut > 100, "only {cut} fuzz inputs were cut");
        let documents = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME}\ndata:\n  k: v\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  run.sh: |\n    \techo\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\na: &a [1, 2, 3]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\nm:\n  <<: {a: 1}\n  b: 2\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\nt: !!str 5\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\nd: 'R &D'\n",
            "apiVersion: v1\nkind:\tX\nmetadata: {name: NAME}\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\n...\n",
            "apiVersion: v1\nkind: X\nmetadata: {}\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\na: [\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\nb: *nowhere\n",
            "apiVersion: v1\nkind: X\nmetadata: {name: NAME}\nb: !!binary aGk=\n",
            "# only a comment\n",
            "",
            "- a\n",
        ];
        let markers = ["---\n", "--- # c\n", "---   \r\n", "---\n\n", ""];
        let mut rng = super::super::testdata::Rng::new(0x5851_F42D_4C95_7F2D);
        let (mut cut, mut ok) = (0, 0);
        for _ in 0..3000 {
            let mut text = String::new();
            for i in 0..1 + rng.below(6) {
                if i > 0 || rng.below(2) == 0 {
                    text.push_str(markers[rng.below(markers.len())]);
                }
                // Mostly documents that parse, so that errors do not hide everything else.
                let document =
                    if rng.below(3) == 0 { documents[rng.below(documents.len())] } else { documents[rng.below(6)] };
                text.push_str(&document.replace("NAME", &format!("n{i}")));
            }
            cut += usize::from(same_as_one_pass(&text, &limits));
            ok += usize::from(parse_stream(&text, "f.yaml", &limits).is_ok());
        }
        assert!(cut > 1500 && ok > 500, "{cut} of 3000 streams were cut, {ok} parsed");
    }

    /// An error in any document is the one a single pass reports, line and all.
    #[test]
    fn split_parsing_reports_one_pass_errors() {
        let limits = Limits::default();
        let good = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: |\n    v\n";
        for bad in [
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
            "---\napiVersion: v1\nkind: X\nmetadata: {name: x}\nb: !!binary aGk=\n",
            "---\n- a\n",
            "---\na: [\n",
            "---\na: 1\na: 2\n",
        ] {
            let text = format!("{}{bad}{}", good.repeat(3), good.repeat(2));
            assert_eq!(cuts_of(&text).len(), 5, "{bad}");
            let one = one_pass(&text, "f.yaml", &limits, (0, 0), &|o| o).unwrap_err().to_string();
            assert_eq!(parse_stream(&text, "f.yaml", &limits).unwrap_err().to_string(), one);
            assert!((22..=26).any(|l| one.contains(&format!("line {l}"))), "names the line: {one}");
        }
    }

    /// `!!binary` is refused at its line in the stream, however the stream is
    /// parsed (one pass or in parallel groups); the word alone is no tag.
    #[test]
    fn binary_tags_are_refused_at_their_line() {
        let mut text = String::from("# binary data is base64 text\n");
        for i in 0..4000 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{k: binary}}\n"
            ));
        }
        assert!(text.len() >= 256 * 1024, "large enough to be split");
        assert_eq!(parse(&text).unwrap().len(), 4000);
        let line = text.lines().count();
        text = text.replacen("data: {k: binary}\n", "data: {k: !!binary aGk=}\n", 4000).replacen(
            "data: {k: !!binary aGk=}\n",
            "data: {k: binary}\n",
            3999,
        );
        assert!(text.lines().nth(line - 1).unwrap().contains("!!binary"), "the tag is on the last line");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(&format!("line {line}: the !!binary tag")), "{err}");
    }

    /// Kubernetes reads YAML 1.1 octal (`defaultMode: 0644` is 420); so does
    /// rewind, on both parsing paths (the anchor forces the full parser).
    #[test]
    fn yaml_11_octal_is_read_as_kubernetes_reads_it() {
        for anchor in ["", "&m "] {
            let text = format!(
                "apiVersion: v1\nkind: X\nmetadata: {{name: x}}\nm: {anchor}[0644, -0644, 0o644, 0x1A4, 00, 0, 08, 0_644, 1_000, \"0644\"]\n"
            );
            let objs = parse(&text).unwrap();
            assert_eq!(
                objs[0].body["m"],
                serde_json::json!([420, -420, 420, 420, 0, 0, 8.0, 420, 1000, "0644"]),
                "anchor {anchor:?}"
            );
        }
    }

    #[test]
    fn skips_empty_and_null_documents_and_flattens_lists() {
        let objs = parse(
            "---\n---\nnull\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n---\n{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"c\"}}\n",
        )
        .unwrap();
        let names: Vec<_> = objs.iter().map(|o| format!("{}/{}", o.kind(), o.name())).collect();
        assert_eq!(names, ["ConfigMap/a", "Secret/b", "Service/c"]);
    }

    #[test]
    fn missing_name_names_document_and_line() {
        let err = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.yaml: document 2 (line 5)"), "{err}");
        assert!(err.contains("metadata.name"), "{err}");
    }

    #[test]
    fn non_string_name_and_scalar_documents_are_refused() {
        assert!(
            parse("apiVersion: v1\nkind: X\nmetadata: {name: 5}\n")
                .unwrap_err()
                .to_string()
                .contains("must be a string")
        );
        assert!(parse("just a string\n").unwrap_err().to_string().contains("found a string"));
        assert!(parse("- a\n- b\n").unwrap_err().to_string().contains("found a list"));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let mut prev = 'a';
        for c in 'b'..='i' {
            s.push_str(&format!(
                "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = c;
        }
        let err = parse(&s).unwrap_err().to_string();
        assert!(err.starts_with("t.yaml: invalid YAML"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = format!(
            "apiVersion: v1\nkind: X\nmetadata: {{name: x}}\ndata: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse(&s).unwrap_err().to_string().contains("t.yaml: invalid YAML"));
    }

    #[test]
    fn duplicate_keys_and_nul_bytes_are_refused() {
        assert!(parse("apiVersion: v1\napiVersion: v2\nkind: X\nmetadata: {name: x}\n").is_err());
        assert!(parse("apiVersion: v1\0\n").unwrap_err().to_string().contains("NUL"));
    }
}
