//! The fast path of parsing: objects built straight from the YAML parser's
//! event stream, without serde's `deserialize_any` layer (which doubles the
//! cost of parsing).
//!
//! It covers the shape nearly every manifest has: mappings, sequences and
//! scalars, and anchors and aliases of values (an alias is a copy of its
//! anchored value, as serde-saphyr replays it), counted against the full
//! parser's budget in [`super::aliases`]; no tags, merge keys, directives,
//! anchored keys or aliases inside anchored nodes. Anything else — and every
//! error, limit or doubt — makes it give up on the whole stream (`None`), and
//! the caller parses with serde-saphyr, whose result or error is the
//! reference. So every guard of that path (alias and merge budgets, depth,
//! duplicate keys, tags) still decides whatever this path does not build
//! itself. Scalars resolve exactly as serde-saphyr resolves them into
//! `serde_json::Value` (YAML 1.1 booleans and octal, its integer and float spellings);
//! a differential test over the corpus, the fuzz corpus and generated edge
//! cases holds the two paths to the same objects.

use super::Limits;
use super::aliases::Aliases;
use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span, StrInput};
use std::collections::HashMap;

/// One non-null document: its value and the line its root node starts on.
pub(super) struct Document {
    pub value: Value,
    pub line: usize,
}

/// A fast path ([`each`] here, and the line and JSON readers): each
/// document of a text to a callback, and what the text anchored and aliased
/// (which only [`each`] reads); or `None` to give up.
pub(super) type Each = fn(&str, &Limits, &mut dyn FnMut(Document) -> bool) -> Option<Aliases>;

/// What the line and JSON readers give, in the order they read it.
pub(super) enum Piece {
    /// An item of a document's top-level `items` array (a `List`'s, as
    /// `kubectl get -o yaml` and `-o json` write one), and the line the
    /// document starts on: given before its document, as soon as it is read,
    /// so that a `List` of many megabytes holds one item's tree at a time.
    Item(Value, usize),
    /// A document. Where items were given before it, its `items` is an
    /// empty array; if it is no `List`, the taker says stop.
    Document(Document),
}

/// A fast path giving [`Piece`]s, or `None` to give up.
pub(super) type Listed = fn(&str, &Limits, &mut dyn FnMut(Piece) -> bool) -> Option<Aliases>;

/// [`each`], as a [`Listed`]: the parser's events give whole documents.
pub(super) fn each_listed(text: &str, limits: &Limits, take: &mut dyn FnMut(Piece) -> bool) -> Option<Aliases> {
    each(text, limits, &mut |doc| take(Piece::Document(doc)))
}

/// The documents of `text` (null and empty ones skipped, as serde-saphyr
/// skips them), or `None` when the stream needs the full parser; `None` too
/// for any anchor or alias (for rewind's own output, which has none).
pub(super) fn parse(text: &str, limits: &Limits) -> Option<Vec<Document>> {
    collect(|text, limits, take| read(text, limits, None, false, take).map(|()| Aliases::default()), text, limits)
}

/// All the documents a fast path gives for `text`, or `None` if it gives up.
pub(super) fn collect(each: Each, text: &str, limits: &Limits) -> Option<Vec<Document>> {
    let mut docs = Vec::new();
    each(text, limits, &mut |doc| {
        docs.push(doc);
        true
    })?;
    Some(docs)
}

/// Gives each document of `text` (null and empty ones skipped, as
/// serde-saphyr skips them) to `take` as soon as it is built, so only one
/// document's tree is held here at a time; then what `text` anchored and
/// aliased, for a caller that adds the texts of one stream up. `None` when
/// the stream needs the full parser, or `take` said stop by returning
/// `false`: the caller then discards what it took and parses again with the
/// full parser.
pub(super) fn each(text: &str, limits: &Limits, take: &mut dyn FnMut(Document) -> bool) -> Option<Aliases> {
    let mut anchors = Anchors::default();
    read(text, limits, Some(&mut anchors), false, take)?;
    anchors.counts.within(limits).then_some(anchors.counts)
}

/// The documents of `text`, a part of a document (a line reader's region),
/// with the anchored values of the document's earlier parts; `None` as
/// for [`parse`], and past the full parser's budget.
pub(super) fn parse_part(text: &str, limits: &Limits, anchors: &mut Anchors) -> Option<Vec<Document>> {
    let mut docs = Vec::new();
    read(text, limits, Some(anchors), true, &mut |doc| {
        docs.push(doc);
        true
    })?;
    anchors.counts.within(limits).then_some(docs)
}

/// [`each`], with the anchored values of the document being read and what
/// the text anchored and aliased so far, or `None` to refuse all anchors
/// and aliases. `part`: `text` is a part of a document, whose anchors go on
/// after it.
fn read(
    text: &str,
    limits: &Limits,
    anchors: Option<&mut Anchors>,
    part: bool,
    take: &mut dyn FnMut(Document) -> bool,
) -> Option<()> {
    // The full parser's budget counts these bytes; at its limit, it decides.
    if text.len() as u64 >= limits.max_file_bytes {
        return None;
    }
    let mut options = parser_options(limits);
    // Anchors by name, and aliases of anchors in the document's earlier regions.
    options.emit_anchor_events = true;
    options.emit_unresolved_aliases = true;
    let events = Parser::new_from_str_with_options(text, options);
    let mut builder = Builder {
        events,
        limits,
        scalar_bytes: 0,
        entries: Vec::new(),
        items: Vec::new(),
        anchors,
        names: HashMap::new(),
        open: 0,
        deepest: 0,
    };
    let mut started = 0usize;
    loop {
        match builder.next()?.0 {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Some(()),
            // A `%YAML` directive may change how scalars resolve.
            Event::DocumentStart(_, Some(_)) => return None,
            Event::DocumentStart(_, None) => {
                started += 1;
                if started + 1 >= limits.max_documents {
                    return None;
                }
                // An alias names an anchor of its own document.
                if let Some(anchors) = builder.anchors.as_mut().filter(|_| !part) {
                    anchors.new_document();
                }
                builder.names.clear();
                let (event, span) = builder.next()?;
                let value = builder.node(event, 1)?;
                if !value.is_null() && !take(Document { value, line: span.start.line() }) {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The anchored values of the document being read, by name, for its aliases
/// (where a document is read in parts, as the line reader's regions, those of
/// its earlier parts), and what the text anchored and aliased so far.
#[derive(Default)]
pub(super) struct Anchors {
    by_name: HashMap<String, Anchored>,
    pub counts: Aliases,
}

impl Anchors {
    /// A new document: no anchors of the last one reach into it.
    pub fn new_document(&mut self) {
        self.by_name.clear();
    }
}

/// The parser settings serde-saphyr uses under rewind's limits, so both paths
/// accept exactly the same syntax.
fn parser_options(limits: &Limits) -> serde_saphyr::granit_parser::Options {
    let budget = serde_saphyr::Budget::default();
    let mut options = serde_saphyr::granit_parser::Options::default();
    options.simple_key_max_lookahead = budget.simple_key_max_lookahead;
    options.flow_nesting_limit = budget.flow_nesting_limit;
    options.block_nesting_limit = options.block_nesting_limit.max(limits.max_depth.saturating_add(1));
    options.emit_comments = false;
    options
}

struct Builder<'a> {
    events: Parser<'a, StrInput<'a>>,
    limits: &'a Limits,
    /// Bytes of scalar text so far, which the full parser's budget also counts.
    scalar_bytes: u64,
    /// The entries and items of the open mappings and sequences, innermost
    /// last: each becomes a map or list of exactly its size when it closes,
    /// instead of growing one reallocation at a time.
    entries: Vec<(String, Value)>,
    items: Vec<Value>,
    /// Where anchored values go and aliases come from, when anchors are taken.
    anchors: Option<&'a mut Anchors>,
    /// The names of this parser's anchors, by the id its events give them.
    names: HashMap<usize, String>,
    /// Anchored nodes open around the current event.
    open: u64,
    /// The deepest level reached inside the open anchored node (kept only
    /// while one is open).
    deepest: usize,
}

/// An anchored node, and what an alias of it costs.
struct Anchored {
    value: Value,
    /// Its events, which an alias replays.
    events: u64,
    /// Its scalars' bytes, which an alias copies.
    scalar_bytes: u64,
    /// Its levels below its own.
    levels: usize,
}

impl<'a> Builder<'a> {
    /// The next event; `None` on a syntax error (the full parser reports it).
    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        let (event, span) = self.events.next()?.ok()?;
        if let Event::Scalar(text, ..) = &event {
            self.scalar_bytes += text.len() as u64;
            if self.scalar_bytes >= self.limits.max_file_bytes {
                return None;
            }
        }
        // Each event inside an anchored node is copied into its buffer.
        if self.open > 0
            && let Some(anchors) = &mut self.anchors
        {
            anchors.counts.recorded += self.open;
            if let Event::Scalar(text, ..) = &event {
                anchors.counts.recorded_bytes += self.open * text.len() as u64;
            }
        }
        Some((event, span))
    }

    /// The node that `event` starts, `depth` levels deep.
    fn node(&mut self, event: Event<'a>, depth: usize) -> Option<Value> {
        // Near the depth limit the full parser decides, with its own count.
        if depth + 2 >= self.limits.max_depth {
            return None;
        }
        if self.open > 0 {
            self.deepest = self.deepest.max(depth);
        }
        match event {
            Event::Alias(id) => {
                let name = self.names.get(&id)?.clone();
                self.alias(&name, depth)
            }
            Event::UnresolvedAlias(name) => self.alias(&name, depth),
            Event::Scalar(_, _, id, None) | Event::SequenceStart(_, id, None) | Event::MappingStart(_, id, None)
                if id != 0 =>
            {
                self.anchor(event, id, depth)
            }
            Event::Scalar(text, style, 0, None) => scalar(text.into_owned(), style),
            Event::SequenceStart(_, 0, None) => {
                let start = self.items.len();
                loop {
                    match self.next()?.0 {
                        Event::SequenceEnd => return Some(Value::Array(self.items.drain(start..).collect())),
                        item => {
                            let value = self.node(item, depth + 1)?;
                            self.items.push(value);
                        }
                    }
                }
            }
            Event::MappingStart(_, 0, None) => {
                let start = self.entries.len();
                loop {
                    let key = match self.next()?.0 {
                        Event::MappingEnd => break,
                        Event::Scalar(text, style, 0, None) => key(text.into_owned(), style)?,
                        _ => return None,
                    };
                    let (event, _) = self.next()?;
                    let value = self.node(event, depth + 1)?;
                    self.entries.push((key, value));
                }
                let mut map = Map::with_capacity(self.entries.len() - start);
                for (key, value) in self.entries.drain(start..) {
                    // Duplicate keys are refused by the full parser, with its message.
                    if map.insert(key, value).is_some() {
                        return None;
                    }
                }
                Some(Value::Object(map))
            }
            // Tags.
            _ => None,
        }
    }

    /// The node that `event` starts, anchored as `id`: built as any other,
    /// then kept for its aliases. Not inside another anchored node, which
    /// would record its events twice over.
    fn anchor(&mut self, event: Event<'a>, id: usize, depth: usize) -> Option<Value> {
        if self.open > 0 || self.anchors.is_none() {
            return None;
        }
        // The anchor's name comes right after its node's first event.
        let name = match self.events.next()?.ok()?.0 {
            Event::Anchor(named, name) if named == id => name.into_owned(),
            _ => return None,
        };
        // The first event's scalar bytes, which `next` counted before the node opened.
        let (event, first_bytes) = match event {
            Event::Scalar(text, style, _, tag) => {
                let bytes = text.len() as u64;
                (Event::Scalar(text, style, 0, tag), bytes)
            }
            Event::SequenceStart(style, _, tag) => (Event::SequenceStart(style, 0, tag), 0),
            Event::MappingStart(style, _, tag) => (Event::MappingStart(style, 0, tag), 0),
            _ => return None,
        };
        let recorded_before = self.anchors.as_ref()?.counts.recorded;
        let bytes_before = self.scalar_bytes - first_bytes;
        (self.open, self.deepest) = (1, depth);
        let value = self.node(event, depth);
        self.open = 0;
        let value = value?;
        let (levels, scalar_bytes) = (self.deepest - depth, self.scalar_bytes - bytes_before);
        let anchors = self.anchors.as_mut()?;
        // Its first event was read before it opened.
        let events = anchors.counts.recorded - recorded_before + 1;
        anchors.counts.anchors += 1;
        anchors.counts.recorded += 1;
        anchors.counts.recorded_bytes += first_bytes;
        let anchored = Anchored { value: value.clone(), events, scalar_bytes, levels };
        anchors.by_name.insert(name.clone(), anchored);
        self.names.insert(id, name);
        // Checked as it goes: a stream of millions of anchors stops early.
        anchors.counts.within(self.limits).then_some(value)
    }

    /// A copy of the value anchored as `name`, `depth` levels deep, as the
    /// full parser replays it.
    fn alias(&mut self, name: &str, depth: usize) -> Option<Value> {
        if self.open > 0 {
            return None;
        }
        let anchors = self.anchors.as_mut()?;
        let anchored = anchors.by_name.get(name)?;
        if depth + anchored.levels + 2 >= self.limits.max_depth {
            return None;
        }
        anchors.counts.aliases += 1;
        anchors.counts.replayed += anchored.events;
        anchors.counts.replayed_bytes += anchored.scalar_bytes;
        // What the copies cost is bounded before they are made.
        anchors.counts.within(self.limits).then(|| anchored.value.clone())
    }
}

/// A mapping key, as serde-saphyr makes it a `serde_json::Value` key: its
/// text. `<<` is a merge key. A plain key that resolves to something else
/// than a string keeps its text there too, but serde-saphyr finds duplicates
/// among integers by their value (`1`, `01` and `0x1` are one key): so of
/// those, only YAML 1.1 booleans (`on`, `y`), whose duplicates it finds by
/// their text as for strings, and integers written as decimals without a
/// `+` or a leading zero (`80`, `-1`), whose text is one per value, are taken
/// here; a null key, which it refuses, and the rest are left to it.
pub(super) fn key(text: String, style: ScalarStyle) -> Option<String> {
    if text == "<<" {
        return None;
    }
    if style == ScalarStyle::Plain {
        match plain(&text)? {
            Plain::String | Plain::Other(Value::Bool(_)) => {}
            Plain::Other(Value::Number(n)) if (n.is_i64() || n.is_u64()) && decimal(&text) => {}
            Plain::Other(_) => return None,
        }
    }
    Some(text)
}

/// Whether `text` is an integer's one decimal spelling: `0`, or digits not
/// starting with `0`, after an optional `-`.
fn decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let bytes = digits.as_bytes();
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) && (bytes[0] != b'0' || text == "0")
}

/// What serde-saphyr's `deserialize_any` makes of an untagged scalar: quoted
/// and block scalars are strings; plain ones may be null, a YAML 1.1 boolean,
/// an integer or a float. `None` for a non-finite float (which it refuses).
pub(super) fn scalar(text: String, style: ScalarStyle) -> Option<Value> {
    if style != ScalarStyle::Plain {
        return Some(Value::String(text));
    }
    Some(match plain(&text)? {
        Plain::String => Value::String(text),
        Plain::Other(value) => value,
    })
}

/// What a plain scalar is, without copying it when it is a string (most are).
enum Plain {
    String,
    Other(Value),
}

/// How serde-saphyr resolves a plain scalar; `None` for a non-finite float.
fn plain(text: &str) -> Option<Plain> {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    // Most scalars have no blanks around them to cut.
    let edged = text.as_bytes().first().is_some_and(blank) || text.as_bytes().last().is_some_and(blank);
    let t = if edged { text.trim_matches([' ', '\t', '\r', '\n']) } else { text };
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Some(Plain::Other(Value::Null));
    }
    if let Some(b) = yaml11_bool(t) {
        return Some(Plain::Other(Value::Bool(b)));
    }
    // Numbers start with a digit, a sign or a dot; most strings do not.
    if !t.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Some(Plain::String);
    }
    let int = if t.starts_with('-') {
        int_signed(t).and_then(|i| i64::try_from(i).ok()).map(Number::from)
    } else {
        int_unsigned(t).and_then(|u| u64::try_from(u).ok()).map(Number::from)
    };
    if let Some(n) = int {
        return Some(Plain::Other(Value::Number(n)));
    }
    match float(t) {
        Some(f) if f.is_finite() => Some(Plain::Other(Number::from_f64(f).map_or(Value::Null, Value::Number))),
        Some(_) => None,
        None => Some(Plain::String),
    }
}

fn yaml11_bool(t: &str) -> Option<bool> {
    if t.len() > 5 {
        return None;
    }
    if ["true", "yes", "y", "on"].iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if ["false", "no", "n", "off"].iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// Radix and digits after an optional sign: `0x`, `0o`, `0b` prefixes, a
/// leading `0` for YAML 1.1 octal (`0644`), else decimal; one `_` may follow
/// a prefix (serde-saphyr's `legacy_octal_numbers`).
fn radix_and_digits(rest: &str) -> (u32, &str) {
    for (prefixes, radix) in [(["0x", "0X"], 16), (["0o", "0O"], 8), (["0b", "0B"], 2)] {
        if let Some(digits) = prefixes.iter().find_map(|p| rest.strip_prefix(p)) {
            return (radix, digits.strip_prefix('_').unwrap_or(digits));
        }
    }
    match rest.strip_prefix('0') {
        Some("") => (8, "0"),
        Some(digits) => (8, digits.strip_prefix('_').unwrap_or(digits)),
        None => (10, rest),
    }
}

/// Digits in `radix` with single underscores between them, as serde-saphyr reads them.
fn digits_u128(digits: &str, radix: u32) -> Option<u128> {
    let bytes = digits.as_bytes();
    let mut value: u128 = 0;
    let mut saw = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            if i == 0 || bytes[i - 1] == b'_' || i + 1 >= bytes.len() || bytes[i + 1] == b'_' {
                return None;
            }
            continue;
        }
        let d = char::from(b).to_digit(16).filter(|d| *d < radix)?;
        value = value.checked_mul(u128::from(radix))?.checked_add(u128::from(d))?;
        saw = true;
    }
    saw.then_some(value)
}

fn int_unsigned(t: &str) -> Option<u128> {
    let (radix, digits) = radix_and_digits(t.strip_prefix('+').unwrap_or(t));
    digits_u128(digits, radix)
}

fn int_signed(t: &str) -> Option<i128> {
    let (radix, digits) = radix_and_digits(t.strip_prefix('-')?);
    let magnitude = digits_u128(digits, radix)?;
    if magnitude == i128::MAX as u128 + 1 {
        return Some(i128::MIN);
    }
    i128::try_from(magnitude).ok()?.checked_neg()
}

/// YAML 1.2 `.inf`/`.nan` spellings, then Rust's float syntax for numerals
/// (a literal that overflows to infinity counts as a float, as there).
fn float(t: &str) -> Option<f64> {
    let (negative, unsigned) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    match unsigned {
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        ".inf" | ".Inf" | ".INF" => return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY }),
        _ => {}
    }
    let parsed = t.parse::<f64>().ok()?;
    (parsed.is_finite() || unsigned.starts_with(|c: char| c.is_ascii_digit())).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    /// The fast path agrees with the full parser, or leaves the stream to it.
    fn agree(text: &str, limits: &Limits) -> bool {
        testdata::agree("the fast path", parse(text, limits), text, limits)
    }

    #[test]
    fn real_manifests_take_the_fast_path_and_agree() {
        let limits = Limits::default();
        for (file, text) in testdata::corpus() {
            assert!(agree(&text, &limits), "{file} left the fast path");
        }
        let mut fixtures = 0;
        for text in testdata::fixtures(&["examples/guestbook", "manifests"]) {
            fixtures += usize::from(agree(&text, &limits));
        }
        assert!(fixtures > 5, "only {fixtures} fixtures took the fast path");
    }

    /// Every input of the parser's fuzz corpus, under the fuzz target's limits.
    #[test]
    fn fuzz_corpus_agrees() {
        let limits = testdata::fuzz_limits();
        let inputs = testdata::fuzz_inputs();
        let fast = inputs.iter().filter(|text| agree(text, &limits)).count();
        let all = inputs.len();
        assert!(all > 1000 && fast > all / 4, "{fast} of {all} fuzz inputs took the fast path");
    }

    /// Plain scalars of every spelling serde-saphyr resolves (and near misses).
    const PLAINS: &[&str] = &[
        "",
        "~",
        "null",
        "Null",
        "NULL",
        "nULL",
        "true",
        "True",
        "TRUE",
        "tRuE",
        "yes",
        "Yes",
        "Y",
        "y",
        "n",
        "N",
        "no",
        "NO",
        "on",
        "On",
        "ON",
        "off",
        "OFF",
        "false",
        "yess",
        "0",
        "-0",
        "+0",
        "00",
        "07",
        "0755",
        "0_644",
        "0o_7",
        "-0755",
        "+0755",
        "08",
        "09",
        "1",
        "-1",
        "+1",
        "12",
        "1_000",
        "1__0",
        "_1",
        "1_",
        "0x1F",
        "0X1f",
        "-0x1F",
        "+0x1F",
        "0x",
        "0xg",
        "0o17",
        "0O17",
        "0o8",
        "0b101",
        "0B2",
        "-0b1",
        "0x_1",
        "0b1_0",
        "1.5",
        "-1.5",
        "+1.5",
        ".5",
        "-.5",
        "5.",
        "1e3",
        "1E3",
        "1e+3",
        "1e-3",
        "-1e3",
        "1e999",
        "-1e999",
        "1e",
        "e3",
        ".",
        "-",
        "+",
        "--",
        ".inf",
        ".Inf",
        ".INF",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
        ".NAN",
        "-.nan",
        "inf",
        "-inf",
        "+inf",
        "nan",
        "NaN",
        "infinity",
        "-Infinity",
        "1.2.3",
        "10Mi",
        "100m",
        "0.0.0.0",
        "0.0.0.0:8080",
        "--port=80",
        "-c",
        "v1",
        "apps/v1",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "0xFFFFFFFFFFFFFFFF",
        "0x10000000000000000",
        "-0x8000000000000000",
        "-0x8000000000000001",
        "1,5",
        "1 000",
        "12:30",
        "2024-01-01",
        "0.1e1_0",
        "1_0.5",
        "٣",
    ];

    /// Plain scalars of every spelling serde-saphyr resolves, as values, keys,
    /// flow items and quoted; and documents around the depth limit.
    #[test]
    fn generated_scalars_and_depths_agree() {
        let limits = Limits::default();
        let mut plains: Vec<String> = PLAINS.iter().map(|s| (*s).to_string()).collect();
        plains.push("1".repeat(45));
        plains.push(format!("-{}", "9".repeat(40)));
        let mut fast = 0;
        for p in &plains {
            let as_value = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: {p}\n");
            let in_flow = format!("{{a: [{p}], b: {{c: {p}}}}}\n");
            let as_key = format!("k:\n  {p}: v\n");
            let quoted = format!("k: '{p}'\nq: \"{p}\"\nb: |\n  {p}\nf: >-\n  {p}\n");
            let root = format!("---\n{p}\n---\na: 1\n");
            for text in [as_value, in_flow, as_key, quoted, root] {
                fast += usize::from(agree(&text, &limits));
            }
        }
        assert!(fast > plains.len() * 3, "only {fast} generated documents took the fast path");
        // The full parser recurses per level: give it the main thread's stack.
        std::thread::Builder::new().stack_size(64 << 20).spawn(depths_agree).unwrap().join().unwrap();
        // What the fast path leaves to the full parser.
        for text in [
            "a: !!str 1\n",
            "<<: {a: 1}\n",
            "a: 1\na: 2\n",
            "%YAML 1.1\n---\na: 1\n",
            "? [a]\n: 1\n",
            "01: a\n",
            "0x1: a\n",
            "1.0: a\n",
            "a: .inf\n",
            "a: [\n",
        ] {
            assert!(parse(text, &limits).is_none(), "{text}");
        }
    }

    /// Two keys of every spelling in one mapping, plain and quoted: serde-saphyr
    /// finds duplicates among integers by their value (`1`, `01`, `0x1`),
    /// among the rest by their text, and lets a quoted `"1"` replace a plain
    /// `1`; wherever the fast path answers, it is the same.
    #[test]
    fn keys_of_every_spelling_agree_on_duplicates() {
        let limits = Limits::default();
        let keys: Vec<String> =
            PLAINS.iter().filter(|p| !p.is_empty()).flat_map(|p| [(*p).to_string(), format!("'{p}'")]).collect();
        let mut fast = 0;
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i..] {
                let text = format!("k:\n  {a}: 1\n  {b}: 2\nf: {{{a}: 1, {b}: 2}}\n");
                fast += usize::from(agree(&text, &limits));
                let lines = collect(super::super::lines::each, &text, &limits);
                fast += usize::from(testdata::agree("the line reader", lines, &text, &limits));
            }
        }
        assert!(fast > keys.len() * keys.len() / 8, "only {fast} pairs of keys took the fast paths");
    }

    /// Anchors and aliases of values are built here, each alias a copy of
    /// its anchor's value, as serde-saphyr replays it; what could breach its
    /// budget, anchored keys, aliases inside anchored nodes and aliases of
    /// another document's anchors are left to it.
    #[test]
    fn anchors_and_aliases_agree() {
        let limits = Limits::default();
        let each = |text: &str, limits: &Limits| collect(each, text, limits);
        for text in [
            "a: &x 1\nb: *x\n",
            "a: &x {b: 1, c: [1, 0644, yes]}\nd: *x\ne: [*x, *x]\n",
            "a: &x\n  b: 1\nc: *x\n",
            "- &x 1\n- *x\n- &y [a, b]\n- *y\n",
            "a: &x 1\nb: &x 2\nc: *x\n",
            "a: &x 'q'\nb: *x\n---\nc: &x 2\nd: *x\n",
            "&r {a: 1}\n",
            "a: &x\nb: *x\n",
        ] {
            assert!(testdata::agree("the event path", each(text, &limits), text, &limits), "{text}");
            assert!(parse(text, &limits).is_none(), "parts refuse anchors: {text}");
        }
        let counted = |text: &str| {
            let mut anchors = Anchors::default();
            read(text, &limits, Some(&mut anchors), false, &mut |_| true).map(|()| anchors.counts)
        };
        // Two anchors; three aliases replaying 4 events (a mapping of one entry) and 1.
        let counts = counted("a: &x {b: 1}\nc: *x\nd: [*x, *x]\ne: &y f\ng: *y\n").unwrap();
        let expected =
            Aliases { anchors: 2, aliases: 4, replayed: 13, recorded: 5, recorded_bytes: 3, replayed_bytes: 7 };
        assert_eq!(counts, expected);
        let depth = limits.max_depth;
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for text in [
            "a: &x 1\n---\nb: *x\n".to_string(),
            "a: &x {b: &y 1}\nc: *y\n".into(),
            "a: &x {b: 1}\nc: &y {d: *x}\n".into(),
            "&x a: 1\nb: *x\n".into(),
            "a: &x 1\n*x : 2\n".into(),
            "a: *x\n".into(),
            "<<: &x {a: 1}\nb: *x\n".into(),
            "a: !t &x 1\nb: *x\n".into(),
            // serde-saphyr's ratio of aliases to anchors (refused), and half of it (not).
            format!("a: &x 1\n{}", (0..100).map(|i| format!("b{i}: *x\n")).collect::<String>()),
            format!(
                "{}b: [{}]\n",
                (0..19).map(|i| format!("a{i}: &x{i} 1\n")).collect::<String>(),
                ["*x0"; 100].join(", ")
            ),
            // Copies that would reach past the depth limit.
            format!("a: &x {}\nb: {}\n", nested(depth / 2), nested(depth / 2).replace('1', "*x")),
        ] {
            assert!(each(&text, &limits).is_none(), "{text}");
            let _ = testdata::agree("the event path", each(&text, &limits), &text, &limits);
        }
        // The copies' bytes are bounded: a 100 KB scalar, copied 11 times under a 1 MiB limit.
        let limits = testdata::fuzz_limits();
        let big = |n: usize| {
            format!("a: &x {}\n{}", "y".repeat(100_000), (0..n).map(|i| format!("b{i}: *x\n")).collect::<String>())
        };
        assert!(each(&big(5), &limits).is_some());
        assert!(each(&big(11), &limits).is_none());
    }

    /// Documents around the depth limit.
    fn depths_agree() {
        let limits = Limits::default();
        for depth in [limits.max_depth - 4, limits.max_depth - 2, limits.max_depth, limits.max_depth + 1] {
            agree(&format!("a: {}1{}\n", "[".repeat(depth), "]".repeat(depth)), &limits);
            let mut block = String::new();
            for i in 0..depth {
                block.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
            }
            block.push_str(&format!("{}v\n", "  ".repeat(depth)));
            agree(&block, &limits);
        }
    }
}
