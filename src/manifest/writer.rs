//! The quickest path of emitting: an object written as YAML straight from
//! its tree, byte for byte as serde-saphyr writes it, for the documents
//! nearly every manifest is made of. Through serde, serde-saphyr weighs
//! every key and string on its own (about 1,500 instructions a key): that
//! was half of a render's instructions on the Argo CD install.
//!
//! It writes block mappings and sequences as serde-saphyr lays them out
//! (a sequence at its key's column, a mapping in a sequence entry after its
//! `- `, `{}` and `[]` for empty ones), integers, floats (with serde-saphyr's
//! formatter), booleans and null, and strings: plain where serde-saphyr
//! writes them plain, double-quoted where it quotes them, literal (`|`) when
//! they hold a line break and folded (`>-`, wrapped at 80 characters as
//! serde-saphyr wraps, trailing spaces kept) when they are long; a string a
//! reader could take for a number, a timestamp or a marker (`0x1F`, `1:20`,
//! a date, `--- x`) is quoted where serde-saphyr quotes it
//! ([`super::quoting`]), and a blank past ASCII (a no-break space) weighs as
//! serde-saphyr weighs it. A string value holding a character serde-saphyr
//! escapes (a control character but a tab or line break, a line or
//! paragraph separator, a byte order mark) is double-quoted with its escapes
//! (`\a`, `\x85`... as serde-saphyr writes them, `\N`, `\L`, `\uFEFF`).
//! Anything else — such a key — gives up on the document (`None`) and
//! serde-saphyr writes it. Differential tests (the
//! corpus, the fixtures, the fuzz corpus, mutated corpus documents, generated
//! trees, random floats, number-like strings) hold this writer to
//! serde-saphyr's bytes wherever it answers; output bytes never depend on
//! which of the two wrote a document.

use super::lines::{comment_at, special_past_ascii};
use super::quoting;
use serde_json::{Map, Value};
use std::fmt::Write;

/// serde-saphyr's width for folding long strings (`folded_wrap_chars`).
const FOLD_COLUMNS: usize = 80;

/// serde-saphyr writes longer keys as explicit (`? key`) ones.
const MAX_SIMPLE_KEY: usize = 1024;

/// The YAML document of `body`, as `serde_saphyr::to_string` writes it;
/// `None` when it holds what is left to serde-saphyr.
pub(super) fn document(body: &Map<String, Value>) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(1024);
    mapping(&mut out, body, 0, false)?;
    Some(out)
}

/// `column` spaces.
fn indent(out: &mut String, column: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = column;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.push_str(&SPACES[..n]);
        left -= n;
    }
}

/// A block mapping's entries with their keys at `column`; the first one
/// right where the output is when `inline` (after a sequence entry's `- `).
fn mapping(out: &mut String, map: &Map<String, Value>, column: usize, inline: bool) -> Option<()> {
    for (i, (name, value)) in map.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, column);
        }
        key(out, name)?;
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, column + 2, false)?;
            }
            // A sequence sits at its key's column.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, column, false)?;
            }
            _ => {
                out.push(' ');
                scalar(out, value, column)?;
            }
        }
    }
    Some(())
}

/// A block sequence's entries with their dashes at `column`; the first one
/// right where the output is when `inline` (after an outer entry's `- `).
fn sequence(out: &mut String, items: &[Value], column: usize, inline: bool) -> Option<()> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, column);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(out, inner, column + 2, true)?,
            Value::Array(inner) if !inner.is_empty() => sequence(out, inner, column + 2, true)?,
            _ => scalar(out, item, column)?,
        }
    }
    Some(())
}

/// A scalar or empty collection and its line break; a block scalar's
/// content goes two columns past `column`, its key's or dash's.
fn scalar(out: &mut String, value: &Value, column: usize) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            let _ = write!(out, "{n}");
        }
        Value::Number(n) => float(out, n.as_f64()?)?,
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        Value::String(s) => return string(out, s, column + 2),
    }
    out.push('\n');
    Some(())
}

/// A float as serde-saphyr writes one: the shortest text that reads back
/// as the same number (zmij, serde-saphyr's formatter), with a decimal point
/// and a signed exponent, as YAML 1.1 readers want (`1.0`, `4.0e-6`, `1.0e+21`).
/// A tree from JSON or YAML holds no NaN or infinity.
fn float(out: &mut String, f: f64) -> Option<()> {
    if !f.is_finite() {
        return None;
    }
    let mut buf = zmij::Buffer::new();
    let s = buf.format_finite(f);
    // zmij signs its exponents (`e+21`, `e-6`), as YAML 1.1 wants.
    let (mantissa, exponent) = s.split_at(s.find(['e', 'E']).unwrap_or(s.len()));
    out.push_str(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    out.push_str(exponent);
    Some(())
}

/// Classes of bytes [`Look`] tells apart, one bit each.
const OTHER: u8 = 1;
const WIDE: u8 = 2;
const BREAK: u8 = 4;
const TAB: u8 = 8;
const FLOW: u8 = 16;
const COLON: u8 = 32;
const HASH: u8 = 64;
const ESCAPE: u8 = 128;

/// Each byte's classes.
const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = match byte {
            b'\n' => BREAK,
            b'\t' => TAB | ESCAPE,
            0..=0x1F | 0x7F => OTHER,
            0x80..=0xFF => WIDE,
            b':' => FLOW | COLON,
            b',' | b'[' | b']' | b'{' | b'}' => FLOW,
            b'#' => HASH,
            b'"' | b'\\' => ESCAPE,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// What one look at a string's bytes finds.
struct Look {
    /// A control character other than a line break or a tab.
    other: bool,
    /// A byte past ASCII.
    wide: bool,
    breaks: bool,
    tabs: bool,
    /// A blank past ASCII (a no-break space, an em space, ...), which
    /// serde-saphyr weighs as a space before a `#` and at the end.
    wide_blanks: bool,
    /// A character past ASCII that YAML writers escape or read differently
    /// ([`special_past_ascii`]).
    wide_escaped: bool,
    /// ` #`, which starts a comment after a plain scalar (serde-saphyr
    /// counts any blank before the `#`).
    comment: bool,
    /// `: `, which makes a plain scalar a mapping.
    mapping: bool,
    /// What a flow mapping reads as structure: `:`, `,`, `[]{}`.
    flow: bool,
    /// `"`, `\\` or a tab, escaped in a double-quoted scalar.
    escapes: bool,
}

impl Look {
    fn at(s: &str) -> Look {
        let bytes = s.as_bytes();
        // One table lookup a byte; ` #` and `: ` are looked for only where their byte is.
        let classes = bytes.iter().fold(0u8, |all, &b| all | CLASSES[usize::from(b)]);
        let has = |class: u8| classes & class != 0;
        // Characters past ASCII are looked at once, and only where there are any.
        let (mut wide_blanks, mut wide_escaped) = (false, false);
        if has(WIDE) {
            for c in s.chars().filter(|c| !c.is_ascii()) {
                wide_escaped |= special_past_ascii(c);
                wide_blanks |= c.is_whitespace();
            }
        }
        Look {
            other: has(OTHER),
            wide: has(WIDE),
            wide_blanks,
            wide_escaped,
            breaks: has(BREAK),
            tabs: has(TAB),
            comment: has(HASH) && (comment_at(s).is_some() || (wide_blanks && hash_after_blank(s))),
            mapping: has(COLON) && bytes.windows(2).any(|w| w == b": "),
            flow: has(FLOW),
            escapes: has(ESCAPE),
        }
    }

    /// Whether the string (whose bytes were looked at) is one this module
    /// writes: no control character but a line break or a tab, and none
    /// past ASCII that YAML writers escape or read differently.
    fn written_here(&self) -> bool {
        !self.other && !self.wide_escaped
    }
}

/// A `#` right after any blank, ASCII or not, as serde-saphyr looks for a comment.
fn hash_after_blank(s: &str) -> bool {
    s.match_indices('#').any(|(i, _)| s[..i].chars().next_back().is_some_and(char::is_whitespace))
}

/// A string in value position, `body` the column of a block scalar's content.
fn string(out: &mut String, s: &str, body: usize) -> Option<()> {
    let look = Look::at(s);
    if !look.written_here() {
        // Whatever else it holds: no block scalar or plain scalar carries these.
        double_quoted(out, s, &look);
        out.push('\n');
        return Some(());
    }
    if look.breaks {
        literal(out, s, body);
        return Some(());
    }
    // Folded when longer than the width in characters (bytes bound them from above).
    let long = s.len() > FOLD_COLUMNS && (!look.wide || s.chars().count() > FOLD_COLUMNS);
    // A long string is folded where it could be written plain but for its
    // trailing spaces, which a folded scalar keeps (as serde-saphyr decides).
    if long && !look.tabs {
        let unspaced = s.trim_end_matches(' ');
        let foldable = if unspaced.len() == s.len() {
            plain(s, &look)
        } else {
            !unspaced.is_empty() && plain(unspaced, &Look::at(unspaced))
        };
        if foldable {
            folded(out, s, body);
            return Some(());
        }
    }
    if matches!(s, "." | "#" | "-") {
        out.push('\'');
        out.push_str(s);
        out.push('\'');
    } else if !look.tabs && !long && plain(s, &look) {
        out.push_str(s);
    } else {
        double_quoted(out, s, &look);
    }
    out.push('\n');
    Some(())
}

/// Whether serde-saphyr writes `s` (one line without tabs, `look` at it) plain
/// in value position.
fn plain(s: &str, look: &Look) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else { return false };
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if first == b' '
        || last == b' '
        || (s.len() <= 5 && (ambiguous_word(s) || unsigned.eq_ignore_ascii_case("inf")))
        || matches!(s, "~" | "=" | "<<")
    {
        return false;
    }
    match first {
        b',' | b':' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%'
        | b'@' | b'`' => return false,
        // An indicator alone or before a blank; `?x` and `-x` are plain.
        b'-' | b'?' if bytes.get(1).is_none_or(|&b| b == b' ') => return false,
        b'0'..=b'9' | b'+' | b'-' | b'.' | b'_'
            if quoting::number(s, false) || quoting::timestamp(s) || quoting::document_marker(s) =>
        {
            return false;
        }
        _ => {}
    }
    !(look.comment || look.mapping || last == b':' || (look.wide_blanks && s.trim_end().ends_with(':')))
}

/// Words YAML 1.1 or 1.2 readers take for a boolean, null or float, in any case.
fn ambiguous_word(s: &str) -> bool {
    s.len() <= 5
        && ["true", "false", "null", "nan", "inf", "yes", "y", "on", "no", "n", "off"]
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
}

/// A key: plain where serde-saphyr writes it plain, else double-quoted.
fn key(out: &mut String, name: &str) -> Option<()> {
    let look = Look::at(name);
    if name.len() > MAX_SIMPLE_KEY || look.breaks || !look.written_here() {
        return None;
    }
    // Keys are weighed as values, and for flow mappings too. serde-saphyr
    // also weighs them as YAML 1.2 numbers, but those are all YAML 1.1 ones:
    // 1.2 allows fewer underscores and no sexagesimal, and has no other form.
    if !look.flow && !look.tabs && plain(name, &look) {
        out.push_str(name);
    } else {
        double_quoted(out, name, &look);
    }
    Some(())
}

/// `s` (`look` at it) double-quoted, each character serde-saphyr escapes
/// escaped as it escapes it (`escape_double_quoted`): YAML's short escapes
/// where there is one, `\xXX` for other controls up to U+00FF, `\uXXXX`
/// past it.
fn double_quoted(out: &mut String, s: &str, look: &Look) {
    out.push('"');
    if !look.escapes && look.written_here() {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\0' => out.push_str("\\0"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{b}' => out.push_str("\\v"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                '\u{1b}' => out.push_str("\\e"),
                '\u{FEFF}' => out.push_str("\\uFEFF"),
                '\u{85}' => out.push_str("\\N"),
                '\u{2028}' => out.push_str("\\L"),
                '\u{2029}' => out.push_str("\\P"),
                c if c.is_control() && u32::from(c) <= 0xFF => {
                    let _ = write!(out, "\\x{:02X}", u32::from(c));
                }
                '\u{FFFE}' | '\u{FFFF}' => {
                    let _ = write!(out, "\\u{:04X}", u32::from(c));
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// A literal block scalar (`s` holds a line break), its content at column `body`.
fn literal(out: &mut String, s: &str, body: usize) {
    let content = s.trim_end_matches('\n');
    let breaks = s.len() - content.len();
    out.push('|');
    // Content starting with spaces needs its indentation told (serde-saphyr's step, 2).
    let first = content.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    if first.starts_with(' ') {
        out.push('2');
    }
    match breaks {
        0 => out.push('-'),
        1 if !content.is_empty() => {}
        _ => out.push('+'),
    }
    out.push('\n');
    if content.is_empty() {
        for _ in 0..breaks {
            out.push('\n');
        }
        return;
    }
    for line in content.split('\n') {
        if !line.is_empty() {
            indent(out, body);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..breaks {
        out.push('\n');
    }
}

/// A long plain string as a folded block scalar, its lines at column `body`,
/// wrapped as serde-saphyr wraps them: at the last run of spaces before a
/// line passes 80 characters, that run's spaces but one kept at the line's
/// end; a line with no such run is left whole, to its end.
fn folded(out: &mut String, s: &str, body: usize) {
    out.push_str(">-\n");
    let (mut start, mut column) = (0, 0);
    // The last closed run of spaces (start, end), and the open one's start.
    let mut last_run: Option<(usize, usize)> = None;
    let mut open_run: Option<usize> = None;
    for (i, c) in s.char_indices() {
        if c == ' ' {
            open_run.get_or_insert(i);
        } else if let Some(run) = open_run.take() {
            last_run = Some((run, i));
        }
        column += 1;
        if column > FOLD_COLUMNS {
            let Some((run, end)) = last_run else { break };
            indent(out, body);
            out.push_str(&s[start..run]);
            indent(out, end - run - 1);
            out.push('\n');
            (start, column, last_run) = (end, 0, None);
        }
    }
    indent(out, body);
    out.push_str(&s[start..]);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    /// serde-saphyr's document, and this writer's where it answers.
    fn both(body: &Map<String, Value>) -> (String, Option<String>) {
        (serde_saphyr::to_string(body).expect("serializes"), document(body))
    }

    /// Whether this writer answers for `body` (from `from`); where it does,
    /// its bytes must be serde-saphyr's.
    fn agrees(body: &Map<String, Value>, from: &dyn std::fmt::Debug) -> bool {
        let (reference, written) = both(body);
        written.inspect(|written| assert_eq!(*written, reference, "{from:?}")).is_some()
    }

    fn objects(text: &str) -> Vec<Map<String, Value>> {
        let limits = super::super::Limits::default();
        super::super::parse::full_parse_for_test(text, &limits)
            .map(|docs| {
                docs.into_iter()
                    .filter_map(|d| match d.value {
                        Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn real_manifests_are_written_here_as_serde_saphyr_writes_them() {
        let (mut here, mut all) = (0, 0);
        for (file, text) in testdata::corpus() {
            for body in objects(&text) {
                assert!(agrees(&body, &file), "a document of {file} was left to serde-saphyr");
                all += 1;
            }
        }
        assert!(all > 50, "{all} corpus documents");
        for text in testdata::fixtures(&["examples", "manifests", "tests"]) {
            for body in objects(&text) {
                here += usize::from(agrees(&body, &text));
            }
        }
        assert!(here > 20, "only {here} fixture documents were written here");
    }

    #[test]
    fn fuzz_inputs_agree() {
        let mut here = 0;
        for text in testdata::fuzz_inputs() {
            for body in objects(&text) {
                here += usize::from(agrees(&body, &text));
            }
        }
        assert!(here > 100, "only {here} fuzz documents were written here");
    }

    /// Documents of the corpus with characters that matter to the choice of
    /// style put in at random places, read by the full parser.
    #[test]
    fn mutated_documents_agree() {
        let docs = testdata::small_documents();
        let pieces =
            [" ", "  ", "#", " #", ":", ": ", "-", "'", "\"", "\\", "0", "1.5", "0x", "_", "é", "\u{a0}", "yes", "~"];
        let mut rng = testdata::Rng::new(0x94D0_49BB_1331_11EB);
        let (mut here, mut all) = (0, 0);
        for _ in 0..3_000 {
            let mut text = docs[rng.below(docs.len())].clone();
            for _ in 0..1 + rng.below(4) {
                rng.put_in(&mut text, &pieces);
            }
            for body in objects(&text) {
                all += 1;
                here += usize::from(agrees(&body, &text));
            }
        }
        assert!(here * 2 > all, "only {here} of {all} mutated documents were written here");
    }

    /// Random trees of the strings that matter to the choice of style.
    #[test]
    fn generated_trees_agree() {
        let pieces = [
            "a",
            "Z",
            "x y",
            "  ",
            " ",
            "-",
            "--",
            "-x",
            "--x",
            "?",
            ":",
            ": ",
            "#",
            " #",
            "'",
            "\"",
            "\\",
            "\n",
            "\n\n",
            "\t",
            "0",
            "1",
            "08",
            ".",
            "_",
            "+",
            "~",
            "=",
            "<<",
            "y",
            "no",
            "On",
            "NULL",
            "true",
            "nan",
            "inf",
            "é",
            "/",
            "$",
            "^",
            "(",
            ",",
            "[",
            "]",
            "ü",
            "’",
            "\u{a0}",
            "\u{85}",
            "\u{2003}",
            "\u{1F600}",
            "\r",
            "{",
            "}",
            "&",
            "*",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
            "---",
            "...",
            "e",
            "0x",
            "1:2",
            "2024-01-01",
            "5e6b1f",
            "0b1",
            "_0b1",
            "0o7",
            "0x1F",
            "1e3",
            "d",
            "c0ffee",
            "word ",
            "longer words here ",
            "Averyveryverylongwordwithoutanyspaces",
        ];
        let mut rng = testdata::Rng::new(0xA076_1D64_78BD_642F);
        let mut text = |rng: &mut testdata::Rng| {
            let mut s = String::new();
            let n = [1, 2, 5, 30][rng.below(4)];
            for _ in 0..rng.below(n) + 1 {
                s.push_str(pieces[rng.below(pieces.len())]);
            }
            s
        };
        let (mut here, mut all) = (0, 0);
        for _ in 0..20_000 {
            let body = tree(&mut rng, &mut text, 0);
            all += 1;
            here += usize::from(agrees(&body, &body));
        }
        assert!(here * 4 > all, "only {here} of {all} generated trees were written here");
    }

    fn tree(
        rng: &mut testdata::Rng,
        text: &mut impl FnMut(&mut testdata::Rng) -> String,
        depth: usize,
    ) -> Map<String, Value> {
        let mut map = Map::new();
        for _ in 0..1 + rng.below(4) {
            let name =
                if rng.below(3) == 0 { text(rng) } else { ["name", "k", "data", "x.y/z"][rng.below(4)].to_string() };
            map.insert(name, node(rng, text, depth + 1));
        }
        map
    }

    fn node(rng: &mut testdata::Rng, text: &mut impl FnMut(&mut testdata::Rng) -> String, depth: usize) -> Value {
        match rng.below(if depth > 4 { 6 } else { 9 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => Value::from(rng.below(100_000) as i64 - 50_000),
            3 => Value::from(random_float(rng)),
            4 | 5 => Value::String(text(rng)),
            6 => Value::Object(if rng.below(4) == 0 { Map::new() } else { tree(rng, text, depth) }),
            _ => Value::Array((0..rng.below(4)).map(|_| node(rng, text, depth + 1)).collect()),
        }
    }

    /// Floats of every kind: round, fractional, huge, tiny, subnormal, negative zero, any bits.
    fn random_float(rng: &mut testdata::Rng) -> f64 {
        let fixed = [
            0.5,
            1.0,
            -0.0,
            0.1,
            100.0,
            1e15,
            1e16,
            1e21,
            1e22,
            1e-5,
            1e-7,
            123_456.789,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        match rng.below(3) {
            0 => fixed[rng.below(fixed.len())],
            1 => (rng.below(2_000_001) as f64 - 1_000_000.0) / [1.0, 10.0, 1000.0, 3.0][rng.below(4)],
            _ => {
                let bits = (rng.below(1 << 31) as u64) << 33 | (rng.below(1 << 31) as u64) << 2;
                Some(f64::from_bits(bits)).filter(|f| f.is_finite()).unwrap_or(2.5)
            }
        }
    }

    /// Floats are written as serde-saphyr writes them: 100,000 random ones, each three ways.
    #[test]
    fn floats_agree() {
        let mut rng = testdata::Rng::new(0x5851_F42D_4C95_7F2D);
        for i in 0..100_000 {
            let f = random_float(&mut rng);
            let mut body = Map::new();
            body.insert("f".into(), Value::from(f));
            body.insert("s".into(), Value::Array(vec![Value::from(-f), Value::from(f * 1e-3)]));
            let (reference, written) = both(&body);
            assert_eq!(written.as_deref(), Some(reference.as_str()), "float {i}: {f:e}");
        }
    }

    /// Strings that start like a number, a timestamp or a document marker,
    /// as keys and values: every one is written here, as serde-saphyr writes it.
    #[test]
    fn number_like_strings_agree() {
        let pieces = [
            "0",
            "1",
            "7",
            "9",
            "00",
            "19",
            "60",
            "2024",
            "+",
            "-",
            ".",
            "_",
            "__",
            ":",
            "e",
            "E",
            "x",
            "X",
            "b",
            "o",
            "B",
            "O",
            "0x",
            "0b",
            "0o",
            "a",
            "f",
            "inf",
            "nan",
            "NaN",
            "T",
            "t",
            "Z",
            " ",
            "\t",
            ",",
            "-0",
            "2024-01-02",
            "2024-1-2",
            "2024-01-02T03:04:05",
            "12:30:45",
            "3:4:5",
            ".5",
            ",5",
            "+01:00",
            "---",
            "...",
            "Gi",
            "m",
            "/8",
        ];
        let mut rng = testdata::Rng::new(0x2545_F491_4F6C_DD1D);
        for i in 0..200_000 {
            let mut s = String::new();
            for _ in 0..1 + rng.below(6) {
                s.push_str(pieces[rng.below(pieces.len())]);
            }
            let mut body = Map::new();
            body.insert(s.clone(), Value::String(s.clone()));
            body.insert("v".into(), Value::Array(vec![Value::String(s.clone())]));
            let (reference, written) = both(&body);
            assert_eq!(written.as_deref(), Some(reference.as_str()), "string {i}: {s:?}");
        }
    }

    #[test]
    fn shapes_agree() {
        let long = "word ".repeat(30);
        let cases = [
            serde_json::json!({"k": {"c": 1, "d": {"e": "x"}}, "s": ["a", {"b": [1, [2, {"c": "d\ne"}]]}]}),
            serde_json::json!({"k": {}, "l": [], "m": [{}, [], null, true, -5, 18_446_744_073_709_551_615_u64]}),
            serde_json::json!({"a": "line1\nline2", "b": "a\n", "c": "a\n\n", "d": "  lead\nx", "e": "\n\nx\n", "f": "\n"}),
            serde_json::json!({"f": long.trim_end(), "g": format!("{}  {}", "x".repeat(79), "y".repeat(90)), "h": "z".repeat(200)}),
            // Long and ending in spaces: folded, the spaces kept, or quoted.
            serde_json::json!({"f": long, "g": format!("{}  ", "x".repeat(90)), "h": format!("{long}: b "), "i": format!("{long}\t "), "j": " ".repeat(90), "k": format!(" {long}"), "l": format!("{}{long}  ", "y".repeat(78))}),
            serde_json::json!({"a": ".", "b": "#", "c": "-", "d": "-Inf", "i": "8080", "j": "1.2.3", "k": "64Mi", "l": ".spec.x", "n": "5e6b1f1e79", "o": "1d", "p": "0x1F", "q": "0b1d", "r": "2024-01-01T00:00:00Z", "s": "0b6f1c2e-3c1d", "t": "-1", "e": "a: b", "f": "x #y", "g": "yes", "h": "--x"}),
            serde_json::json!({"é": "x\ty", "’s": "it’s ü", "k\tk": "\u{1F600}", "d": "“".repeat(90), "e": format!("{} {}", "é".repeat(50), "ü".repeat(40))}),
            serde_json::json!({"\"q\\": 1, "Yes": 2, "x y": 3, "a:b": 4, "a,b": 5, "/p": "/v", "-x": "-c"}),
        ];
        // Blanks past ASCII: a `#` or the end after one, as keys and values.
        let blanks =
            ["x\u{a0}#y", "x\u{2003}#", "a:\u{a0}", "a:\u{3000}\u{a0}", "\u{a0}x", "x\u{a0}", "a\u{202f}b # c"];
        let cases = cases
            .into_iter()
            .chain(blanks.iter().map(|b| serde_json::json!({*b: *b, "k": [*b, format!("{b}{}", " word".repeat(20))]})));
        for case in cases {
            let Value::Object(body) = case else { unreachable!() };
            let (reference, written) = both(&body);
            assert_eq!(written.as_deref(), Some(reference.as_str()), "{body:?}");
        }
        // Escaped: every character serde-saphyr escapes, alone, in a long string,
        // with line breaks, and with characters that would choose another style.
        let specials: String = (0u32..0x20).chain(0x7F..0xA0).filter_map(char::from_u32).collect();
        let specials = format!("{specials}\u{2028}\u{2029}\u{FEFF}\u{FFFE}\u{FFFF}\\\"");
        let mut body = Map::new();
        for (i, c) in specials.chars().enumerate() {
            body.insert(format!("a{i}"), Value::String(c.to_string()));
            body.insert(format!("b{i}"), Value::String(format!("{}{c} {}", "word ".repeat(20), "x".repeat(90))));
            body.insert(format!("c{i}"), Value::String(format!("line\n{c}\n  # x: y\n")));
            body.insert(format!("d{i}"), Value::Array(vec![Value::String(format!(" -{c}: "))]));
        }
        let (reference, written) = both(&body);
        assert_eq!(written.as_deref(), Some(reference.as_str()));
        // Left to serde-saphyr.
        for case in [serde_json::json!({"a\u{2028}": "x"}), serde_json::json!({"a\u{85}": 1})] {
            let Value::Object(body) = case else { unreachable!() };
            assert_eq!(document(&body), None, "{body:?}");
        }
    }
}
