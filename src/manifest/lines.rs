//! The quickest path of parsing: the block-style YAML nearly every manifest
//! is written in, read line by line, without a tokenizer. On small inputs
//! the YAML parser's tokens and events were a third of a render's time.
//!
//! It reads block mappings and sequences (a sequence may sit at its key's
//! indentation), plain scalars (over several lines too, as CRD descriptions
//! are), quoted scalars (over several lines too, with all of YAML's
//! escapes, and go-yaml's `\`-wrapped long strings), literal and folded
//! block scalars (chomping and indentation indicators too; tabs in a literal
//! one's content, as scripts have; no content, as Helm writes an empty
//! file's `|-`), flow collections (`{app: web}`, `[{containerPort: 80}]`,
//! after a key or alone on the line below it, as Helm writes
//! `resources:\n  {}`; over several lines where they break between entries,
//! as Helm charts write long lists), a plain or quoted scalar alone on the
//! line below its key or dash (`name:\n  web`), and comments. An entry it
//! leaves — a folded scalar with more-indented lines, a tab in a quoted
//! scalar or after a `:`, a comment in a flow collection, `- - a`, a line
//! with a NEL, a line or paragraph separator or a C1 control, an anchor or
//! an alias, any doubt — goes alone to the event-stream path in
//! [`super::events`] (a region, [`Reader::region`]), so an odd line costs its
//! entry, not its document; a region's aliases name the anchors of the
//! document's earlier regions ([`Anchors`]), counted against the full
//! parser's budget. Anything else — tags, merge keys, directives, `...`, a `\r`
//! outside `\r\n`, C0 control characters, a byte order mark past the
//! start, an entry the events refuse, regions over half the text — gives up
//! on the whole text (`None`), and the event-stream path reads it, falling
//! back in turn on serde-saphyr, which stays the reference for every error.
//! [`super::parse`] gives it a stream a document at a time where it may, so
//! a doubt costs at most one document. The items of a document's top-level
//! `items` block sequence (a `List`'s) it gives one at a time
//! ([`each_listed`]), so a `List` of many megabytes is not one tree.
//! Scalars and keys resolve through the event path's functions, and
//! differential tests (the corpus, the fixtures, the fuzz corpus, mutated
//! corpus documents, generated line shapes, flow collections and odd
//! entries deep in a CRD, all with regions) hold this reader to the full
//! parser's documents and lines wherever it answers.

use super::Limits;
use super::aliases::Aliases;
use super::events::{Anchors, Document, Piece, key, scalar};
use serde_json::{Map, Value};
use serde_saphyr::granit_parser::ScalarStyle;
use std::cell::Cell;

/// Longest key read here; the parser's simple-key lookahead is 1,024.
const MAX_KEY_BYTES: usize = 512;

/// Most lines and bytes of a flow collection over several lines read here.
const MAX_FLOW_LINES: usize = 1024;
const MAX_FLOW_BYTES: usize = 64 * 1024;

/// Bytes of regions a text may have on top of half its own: a small
/// document is read here even where most of it is a region.
const REGION_SLACK: usize = 4096;

/// Gives each non-null document of `text` to `take` as soon as it is read;
/// `None` when the stream is not in the subset read here (or `take` said stop).
#[cfg(test)]
pub(super) fn each(text: &str, limits: &Limits, take: &mut dyn FnMut(Document) -> bool) -> Option<Aliases> {
    read(text, limits, true, false, &mut |piece| match piece {
        Piece::Document(doc) => take(doc),
        // Not asked for.
        Piece::Item(..) => false,
    })
}

/// [`each`], giving the items of each document's top-level `items` block
/// sequence one at a time ([`Piece::Item`]).
pub(super) fn each_listed(text: &str, limits: &Limits, take: &mut dyn FnMut(Piece) -> bool) -> Option<Aliases> {
    read(text, limits, true, true, take)
}

/// [`each_listed`], and whether an entry or item this reader leaves may go
/// to the parser's events alone ([`Reader::region`]) instead of the whole
/// text, and whether items are given one at a time (`lists`).
fn read(
    text: &str,
    limits: &Limits,
    regions: bool,
    lists: bool,
    take: &mut dyn FnMut(Piece) -> bool,
) -> Option<Aliases> {
    // A byte order mark, as Windows editors save a file, is no content at its start.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.len() as u64 >= limits.max_file_bytes {
        return None;
    }
    let specials = characters(text)?;
    let tabs = text.contains('\t');
    let mut reader = Reader {
        text,
        pos: 0,
        number: 1,
        limits,
        tabs,
        specials,
        peeked: Cell::new(None),
        entries: Vec::new(),
        items: Vec::new(),
        region_bytes: regions.then_some(0),
        anchors: Anchors::default(),
    };
    // As the event path counts document starts: never fewer here.
    let mut documents = 1usize;
    loop {
        let next = reader.peek()?;
        match next {
            Next::End => return Some(reader.anchors.counts),
            Next::Marker(line) => {
                reader.consume(&line);
                documents += 1;
                if documents + 1 >= limits.max_documents {
                    return None;
                }
            }
            Next::Content(line) | Next::Odd(line) => {
                if line.is_dash_like() {
                    return None;
                }
                let entry = if matches!(next, Next::Odd(_)) { None } else { split_key(line.body).flatten() };
                reader.anchors.new_document();
                let value = {
                    let mut item = |value| take(Piece::Item(value, line.number));
                    reader.mapping(line, entry, 1, lists.then_some(&mut item as &mut dyn FnMut(Value) -> bool))?
                };
                // A document ends at a marker or at the end, not at a smaller indentation.
                if let Next::Content(_) | Next::Odd(_) = reader.peek()? {
                    return None;
                }
                if !take(Piece::Document(Document { value, line: line.number })) {
                    return None;
                }
            }
        }
    }
}

/// No `\r` (but in `\r\n`), byte order mark, control or non-printable
/// character (tabs are checked line by line), and no line separator that
/// YAML 1.1 and 1.2 read differently.
pub(super) fn plain_characters(text: &str) -> bool {
    characters(text) == Some(false)
}

/// Whether `text` holds a character [`special_past_ascii`], whose lines the
/// line reader leaves to the parser's events; `None` for a control character
/// (tabs are checked line by line), a `\r` outside `\r\n` (it breaks a line
/// the parser's way, not this reader's) or a byte order mark, which a region
/// could not hold alone.
fn characters(text: &str) -> Option<bool> {
    let bytes = text.as_bytes();
    // One look at each byte, a block at a time without a branch per byte,
    // which the compiler turns into vector instructions.
    let (mut returns, mut wide) = (false, false);
    for block in bytes.chunks(256) {
        let (mut control, mut carriage, mut high) = (0u8, 0u8, 0u8);
        for &b in block {
            control |= u8::from((b < b' ' && b != b'\n' && b != b'\r' && b != b'\t') || b == 0x7F);
            carriage |= u8::from(b == b'\r');
            high |= u8::from(b >= 0x80);
        }
        if control != 0 {
            return None;
        }
        returns |= carriage != 0;
        wide |= high != 0;
    }
    // `\r` only as part of a `\r\n` line break.
    if returns && bytes.iter().enumerate().any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
        return None;
    }
    if !wide {
        return Some(false);
    }
    specials_in(bytes)
}

/// Whether `bytes` (UTF-8) hold a character [`special_past_ascii`]; `None`
/// for a byte order mark.
fn specials_in(bytes: &[u8]) -> Option<bool> {
    let mut special = false;
    // The lead bytes of those characters in UTF-8 (never a continuation byte).
    for i in memchr::memchr3_iter(0xC2, 0xE2, 0xEF, bytes) {
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            // Past the start, a byte order mark is an error, unless a region
            // began with it: there the parser would skip it.
            (0xEF, Some(0xBB), Some(0xBF)) => return None,
            // C1 controls; the line and paragraph separators; U+FFFE and U+FFFF.
            (0xC2, Some(0x80..=0x9F), _)
            | (0xE2, Some(0x80), Some(0xA8 | 0xA9))
            | (0xEF, Some(0xBF), Some(0xBE | 0xBF)) => {
                special = true;
            }
            _ => {}
        }
    }
    Some(special)
}

/// A character past ASCII that YAML writers escape or readers take
/// differently: a C1 control (NEL among them), a line or paragraph separator
/// (a break in YAML 1.1, not in 1.2), a byte order mark, a non-character.
pub(super) fn special_past_ascii(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

/// One line that holds more than blanks or a comment.
#[derive(Clone, Copy)]
struct Line<'a> {
    /// Column of `body`'s first byte.
    indent: usize,
    /// The line after its indentation, trailing blanks cut.
    body: &'a str,
    /// 1-based line number.
    number: usize,
    /// Offset just past the line's `\n` (or the end of the text).
    end: usize,
}

impl Line<'_> {
    /// Whether the line starts a sequence entry.
    fn is_dash(&self) -> bool {
        dash(self.body)
    }

    /// Whether the line may start a sequence entry, a tab after its dash too.
    fn is_dash_like(&self) -> bool {
        dash_like(self.body)
    }
}

/// Whether `body` (a line after its indentation) starts a sequence entry.
fn dash(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

/// [`dash`], or a dash before a tab, which the parser decides on.
fn dash_like(body: &str) -> bool {
    body.starts_with('-') && body.as_bytes().get(1).is_none_or(|&b| b == b' ' || b == b'\t')
}

#[derive(Clone, Copy)]
enum Next<'a> {
    Content(Line<'a>),
    /// A line with a tab where this reader does not read one, or with a
    /// character [`special_past_ascii`] anywhere: only the parser's events
    /// read it ([`Reader::region`]).
    Odd(Line<'a>),
    /// A `---` line.
    Marker(Line<'a>),
    End,
}

struct Reader<'a> {
    text: &'a str,
    /// Offset of the next line not read yet, and its number.
    pos: usize,
    number: usize,
    limits: &'a Limits,
    /// Whether the text has a tab: lines are read here only where they have none,
    /// or in a literal scalar's content.
    tabs: bool,
    /// Whether the text has a character [`special_past_ascii`]: lines with
    /// one are the parser's (as regions), wherever they are.
    specials: bool,
    /// The last [`Reader::peek`] and the offset it looked from: a line is
    /// looked at by the entry before it, then by its parent's loop.
    peeked: Cell<Option<(usize, Next<'a>)>>,
    /// Entries and items of the open mappings and sequences, innermost last.
    entries: Vec<(String, Value)>,
    items: Vec<Value>,
    /// Bytes of the regions read by the parser's events so far
    /// ([`Reader::region`]); `None` where no more may be: none were allowed,
    /// or one failed (the events refused it, or the regions passed half the
    /// text and [`REGION_SLACK`], which bounds the work a hostile text can
    /// cause here), so the whole text goes to the events and no enclosing
    /// entry tries again.
    region_bytes: Option<usize>,
    /// The anchored values of the document's regions so far, for the aliases
    /// of its later regions, and what the text anchored and aliased.
    anchors: Anchors,
}

impl<'a> Reader<'a> {
    /// The next raw line from `pos`: (text without `\n`, offset after it, whether it had a `\n`).
    fn raw(&self, pos: usize) -> Option<(&'a str, usize, bool)> {
        let rest = self.text.get(pos..).filter(|r| !r.is_empty())?;
        // Lines are short: a plain loop beats the standard library's search,
        // whose setup costs more than most lines.
        Some(match memchr::memchr(b'\n', rest.as_bytes()) {
            // A `\r\n` line break is one break, as for the parser.
            Some(i) => (rest[..i].strip_suffix('\r').unwrap_or(&rest[..i]), pos + i + 1, true),
            None => (rest, self.text.len(), false),
        })
    }

    /// Whether `raw` has a tab, which only a literal scalar's content may have here.
    fn tabbed(&self, raw: &str) -> bool {
        self.tabs && raw.contains('\t')
    }

    /// Whether `raw` has a character [`special_past_ascii`]. The parser
    /// reads NEL and the line and paragraph separators as content and
    /// refuses the others; its events decide, for the entry alone.
    fn special(&self, raw: &str) -> bool {
        // A text with a byte order mark past its start is not read here.
        self.specials && specials_in(raw.as_bytes()) != Some(false)
    }

    /// The next line with content, skipping blank and comment lines; `None`
    /// for what this reader does not read (`...`, a `---` with content).
    fn peek(&self) -> Option<Next<'a>> {
        if let Some((pos, next)) = self.peeked.get()
            && pos == self.pos
        {
            return Some(next);
        }
        let next = self.look()?;
        self.peeked.set(Some((self.pos, next)));
        Some(next)
    }

    /// [`Reader::peek`], looking.
    fn look(&self) -> Option<Next<'a>> {
        let (mut pos, mut number) = (self.pos, self.number);
        while let Some((mut raw, end, _)) = self.raw(pos) {
            // Even in a comment: the parser refuses what is not printable there too.
            let mut odd = self.special(raw);
            if self.tabbed(raw) {
                // Tabs in a comment line or after a line's content, as an
                // editor leaves them; any other tab, the parser decides.
                raw = raw.trim_end_matches([' ', '\t']);
                odd |= raw.contains('\t') && !raw.trim_start_matches(' ').starts_with('#');
            }
            let indent = leading_spaces(raw);
            let body = trim_end_spaces(&raw[indent..]);
            if odd {
                return Some(Next::Odd(Line { indent, body, number, end }));
            }
            if !body.is_empty() && !body.starts_with('#') {
                let line = Line { indent, body, number, end };
                if indent == 0 && (body.starts_with("---") || body.starts_with("...")) {
                    let rest = &body[3..];
                    // `...`, `--- value` and `---x` are left to the parser.
                    let marker = body.starts_with("---") && (rest.is_empty() || ends_line(rest));
                    return marker.then_some(Next::Marker(line));
                }
                return Some(Next::Content(line));
            }
            (pos, number) = (end, number + 1);
        }
        Some(Next::End)
    }

    /// Whether `part`, a piece of the text, runs to its line's break (or the
    /// text's end) with no blank cut after it.
    fn ends_its_line(&self, part: &str) -> bool {
        let end = part.as_ptr() as usize - self.text.as_ptr() as usize + part.len();
        debug_assert!(end <= self.text.len(), "a piece of another text");
        matches!(self.text.as_bytes().get(end), None | Some(b'\n' | b'\r'))
    }

    fn consume(&mut self, line: &Line) {
        (self.pos, self.number) = (line.end, line.number + 1);
    }

    /// The next line with content if it is more indented than `indent`.
    fn deeper(&self, indent: usize) -> Option<Option<Line<'a>>> {
        Some(match self.peek()? {
            Next::Content(line) if line.indent > indent => Some(line),
            Next::Odd(line) if line.indent > indent => return None,
            _ => None,
        })
    }

    fn too_deep(&self, depth: usize) -> bool {
        depth + 2 >= self.limits.max_depth
    }

    /// The block mapping whose first entry is `first`, already split into
    /// `entry` (for a mapping in a sequence entry, `first` is the rest of the
    /// `- ` line); `None` for an entry this reader does not split. A block
    /// sequence under its `items` key gives its items to `items`, if given
    /// ([`Reader::listed`]).
    fn mapping(
        &mut self,
        first: Line<'a>,
        entry: Option<(String, &'a str)>,
        depth: usize,
        mut items: Option<&mut dyn FnMut(Value) -> bool>,
    ) -> Option<Value> {
        if self.too_deep(depth) {
            return None;
        }
        let indent = first.indent;
        let start = self.entries.len();
        // An entry whose line this reader does not split goes to a region.
        let (mut line, mut entry) = (first, entry);
        loop {
            let open = (self.entries.len(), self.items.len());
            self.consume(&line);
            let listed = match (&mut items, &entry) {
                (Some(items), Some((name, rest))) if name == "items" => self.listed(rest, indent, depth + 1, *items)?,
                _ => None,
            };
            let (name, value) = match (entry, listed) {
                // Its items are given: none may be read again, in a region or otherwise.
                (Some((name, _)), Some(value)) => (name, value),
                (Some((name, rest)), None) => match self.value(rest, indent, depth + 1, false) {
                    Some(value) => (name, value),
                    None => match self.region(&line, depth, true, open)? {
                        (Some(key), value) if key == name => (name, value),
                        _ => return None,
                    },
                },
                (None, _) => match self.region(&line, depth, true, open)? {
                    (Some(key), value) => (key, value),
                    _ => return None,
                },
            };
            self.entries.push((name, value));
            match self.peek()? {
                Next::Content(next) if next.indent == indent && !next.is_dash() => {
                    entry = split_key(next.body).flatten();
                    line = next;
                }
                Next::Odd(next) if next.indent == indent && !next.is_dash_like() => {
                    entry = None;
                    line = next;
                }
                // A sequence entry or more indentation where the mapping goes on is an error.
                Next::Content(next) | Next::Odd(next) if next.indent >= indent => return None,
                _ => break,
            }
        }
        let mut map = Map::with_capacity(self.entries.len() - start);
        for (name, value) in self.entries.drain(start..) {
            // Duplicate keys are refused by the full parser, with its message.
            if map.insert(name, value).is_some() {
                return None;
            }
        }
        Some(Value::Object(map))
    }

    /// The value after the root mapping's `items:` (`rest`, blanks cut), if
    /// it is a block sequence: its items go to `items` one at a time, and it
    /// reads as an empty sequence. `Some(None)` for any other value, read as
    /// usual.
    fn listed(
        &mut self,
        rest: &str,
        indent: usize,
        depth: usize,
        items: &mut dyn FnMut(Value) -> bool,
    ) -> Option<Option<Value>> {
        if !(rest.is_empty() || rest.starts_with('#')) || self.too_deep(depth) {
            return Some(None);
        }
        match self.peek()? {
            // As `value` reads it: a sequence may sit at its key's indentation.
            Next::Content(next) if next.is_dash() && next.indent >= indent => {
                self.sequence(next, false, depth, Some(items)).map(Some)
            }
            _ => Some(None),
        }
    }

    /// The block sequence whose first entry line is `first` (`odd`: a line
    /// with a tab); its items go to `items` if given, and it is then empty.
    fn sequence(
        &mut self,
        first: Line<'a>,
        odd: bool,
        depth: usize,
        mut items: Option<&mut dyn FnMut(Value) -> bool>,
    ) -> Option<Value> {
        if self.too_deep(depth) {
            return None;
        }
        let indent = first.indent;
        let start = self.items.len();
        // An entry on a line with a tab goes to a region.
        let (mut line, mut odd) = (first, odd);
        loop {
            let open = (self.entries.len(), self.items.len());
            self.consume(&line);
            let item = match if odd { None } else { self.item(line, depth) } {
                Some(item) => item,
                None => self.region(&line, depth, false, open)?.1,
            };
            match &mut items {
                Some(give) => {
                    if !give(item) {
                        return None;
                    }
                }
                None => self.items.push(item),
            }
            (line, odd) = match self.peek()? {
                Next::Content(next) if next.indent == indent && next.is_dash() => (next, false),
                Next::Odd(next) if next.indent == indent && next.is_dash_like() => (next, true),
                Next::Content(next) | Next::Odd(next) if next.indent > indent => return None,
                _ => break,
            }
        }
        Some(Value::Array(self.items.drain(start..).collect()))
    }

    /// The sequence entry that starts `line` (consumed), in a sequence `depth` deep.
    fn item(&mut self, line: Line<'a>, depth: usize) -> Option<Value> {
        let rest = line.body[1..].trim_start_matches(' ');
        let column = line.indent + line.body.len() - rest.len();
        if rest.is_empty() || rest.starts_with('#') {
            self.value(rest, line.indent, depth + 1, true)
        } else if dash(rest) {
            None
        } else if let Some(entry) = split_key(rest)? {
            // A mapping that starts on the entry's line.
            self.mapping(Line { indent: column, body: rest, ..line }, Some(entry), depth + 1, None)
        } else {
            self.value(rest, line.indent, depth + 1, true)
        }
    }

    /// The entry of a block mapping (`mapping`: its key and value) or of a
    /// block sequence that starts at `line`, in a collection `depth` deep,
    /// read by the parser's events alone where this reader left it: a folded
    /// scalar with more-indented lines, a tab in a quoted scalar, a comment
    /// in a flow collection cost that entry, not the whole text. `open` are
    /// the lengths of the open collections' entries and items when the entry
    /// began; the caller checks the key.
    ///
    /// The entry is the text from its key or dash to the next line with
    /// content (not a comment) at a smaller indentation, or at the same one
    /// (for a mapping's entry, but a sequence there, which is its value):
    /// in block context that line ends the entry whatever it holds; where it
    /// would cut a flow collection or a quoted scalar, the parser finds the
    /// entry unfinished; a line the parser would read on with is not one
    /// this reader reads next. Given the entry's indentation, YAML reads it
    /// alone as in its place (the differential tests hold it to that).
    /// Its anchors are kept for the later regions' aliases, and its aliases
    /// are copies of the earlier regions' anchored values (what else may
    /// reach out of an entry, an alias of an anchor in it, is inside another
    /// region). Tags and merge keys the events refuse, as they refuse errors:
    /// the whole text then goes to them, the error is found there, and no
    /// enclosing entry tries again.
    fn region(
        &mut self,
        line: &Line<'a>,
        depth: usize,
        mapping: bool,
        open: (usize, usize),
    ) -> Option<(Option<String>, Value)> {
        self.entries.truncate(open.0);
        self.items.truncate(open.1);
        // Taken until the region is read: any way out before leaves none.
        let bytes = self.region_bytes.take()?;
        // At the first column, alone, these would start a document or a
        // directive; a tab in the indentation may go on with what is above.
        let marker = ["---", "...", "%"].iter().any(|m| line.body.starts_with(m));
        if (line.indent == 0 && marker) || line.body.starts_with('\t') {
            return None;
        }
        // A block mapping's entry starts with its key (a flow mapping alone
        // on the line would read as one); a sequence's, with its dash.
        let starts =
            if mapping { plain_start(line.body) || line.body.starts_with(['"', '\'']) } else { line.is_dash_like() };
        if !starts {
            return None;
        }
        let start = line.body.as_ptr() as usize - self.text.as_ptr() as usize;
        let (mut end, mut number) = (line.end, line.number + 1);
        while let Some((raw, next, _)) = self.raw(end) {
            let content = raw.trim_start_matches([' ', '\t']);
            // Blank lines and comments never end an entry; a tab before a `#` may make it content.
            if !content.is_empty() && !raw.trim_start_matches(' ').starts_with('#') {
                let spaces = leading_spaces(raw);
                if spaces < line.indent || (spaces == line.indent && (!mapping || !dash_like(content))) {
                    break;
                }
            }
            (end, number) = (next, number + 1);
        }
        let bytes = bytes + end - start;
        if bytes > self.text.len() / 2 + REGION_SLACK {
            return None;
        }
        let mut entry = " ".repeat(line.indent);
        entry.push_str(&self.text[start..end]);
        // The entry's collection is the events' first level.
        let limits = Limits { max_depth: self.limits.max_depth.checked_sub(depth - 1)?, ..*self.limits };
        let mut docs = super::events::parse_part(&entry, &limits, &mut self.anchors)?;
        let entry = match (docs.pop()?.value, mapping) {
            (Value::Object(map), true) if docs.is_empty() && map.len() == 1 => {
                let (key, value) = map.into_iter().next()?;
                (Some(key), value)
            }
            (Value::Array(mut items), false) if docs.is_empty() && items.len() == 1 => (None, items.pop()?),
            _ => return None,
        };
        (self.pos, self.number) = (end, number);
        self.region_bytes = Some(bytes);
        tracing::debug!("line {} of this text: its entry read by the parser's events alone", line.number);
        Some(entry)
    }

    /// The value after a key's `:` or an entry's `- ` (`rest`, blanks cut),
    /// whose parent is at column `indent`.
    fn value(&mut self, rest: &str, indent: usize, depth: usize, in_sequence: bool) -> Option<Value> {
        if self.too_deep(depth) {
            return None;
        }
        if rest.is_empty() || rest.starts_with('#') {
            return match self.peek()? {
                Next::Content(next) if next.indent > indent => self.node(next, indent, depth),
                // A sequence may sit at its key's indentation.
                Next::Content(next) if next.indent == indent && next.is_dash() && !in_sequence => {
                    self.sequence(next, false, depth, None)
                }
                // A line with a tab that starts this value: its entry goes to a region.
                Next::Odd(next)
                    if next.is_dash_like() && (next.indent > indent || !in_sequence && next.indent == indent) =>
                {
                    self.sequence(next, true, depth, None)
                }
                Next::Odd(next) if next.indent > indent => self.mapping(next, None, depth, None),
                _ => scalar(String::new(), ScalarStyle::Plain),
            };
        }
        let value = match rest.as_bytes()[0] {
            b'|' | b'>' => return self.block_scalar(rest, indent).map(Value::String),
            b'"' | b'\'' => match quoted(rest)? {
                Some((text, after)) if ends_line(after) => Value::String(text),
                Some(_) => return None,
                None => Value::String(self.quoted_lines(rest, if in_sequence { indent + 1 } else { indent })?),
            },
            b'[' | b'{' => self.flow_lines(rest, indent, depth)?,
            _ => {
                let (text, commented) = plain_value(rest)?;
                let more = if in_sequence { indent + 1 } else { indent };
                let text = if commented { text.to_string() } else { self.plain_lines(text, more)? };
                scalar(text, ScalarStyle::Plain)?
            }
        };
        // More indented lines after a one-line scalar continue it, or are an error.
        if self.deeper(indent)?.is_some() {
            return None;
        }
        Some(value)
    }

    /// A plain scalar that starts with `first` and goes on over the lines
    /// after it that are more indented than `indent`: lines joined by a
    /// space, blank lines kept as line breaks (as a CRD's long description).
    fn plain_lines(&mut self, first: &str, indent: usize) -> Option<String> {
        let mut text = first.to_string();
        let (mut pos, mut number, mut breaks) = (self.pos, self.number, 0);
        while let Some((raw, end, _)) = self.raw(pos) {
            let spaces = leading_spaces(raw);
            let body = trim_end_spaces(&raw[spaces..]);
            (pos, number) = (end, number + 1);
            if body.is_empty() {
                breaks += 1;
                continue;
            }
            // A line that does not go on with the scalar is read (or its tabs
            // refused) by the caller.
            if spaces <= indent || body.starts_with('#') {
                break;
            }
            if self.tabbed(raw) || self.special(raw) {
                return None;
            }
            // A key, a comment or an indicator on a continued line: the parser decides.
            let indicator =
                matches!(body.as_bytes()[0], b'-' | b'?' | b':') && body.as_bytes().get(1).is_none_or(|&b| b == b' ');
            if indicator || colon(body).is_some() || comment_at(body).is_some() {
                return None;
            }
            fold(&mut text, breaks);
            text.push_str(body);
            breaks = 0;
            (self.pos, self.number) = (pos, number);
        }
        Some(text)
    }

    /// A quoted scalar that does not close on its first line (`rest`) and
    /// goes on over lines more indented than `indent`: folded as plain lines
    /// are, blanks around line breaks cut; in a double-quoted one, a line may
    /// end in an escaped line break (`\`), which joins the lines with nothing
    /// between them.
    fn quoted_lines(&mut self, rest: &str, indent: usize) -> Option<String> {
        let quote = rest.as_bytes()[0];
        let (mut text, mut escaped) = open_quoted_line(quote, &rest[1..])?;
        // `rest` has lost its trailing blanks, so a backslash ending it escapes
        // the line break only where there were none (as go-yaml breaks a long
        // string: `"… more than\` over `\ eighty characters"`); else it may
        // have escaped a blank: the parser decides.
        if text.is_empty() || (escaped && !self.ends_its_line(rest)) {
            return None;
        }
        let mut breaks = 0;
        while let Some((raw, end, _)) = self.raw(self.pos) {
            if self.tabbed(raw) || self.special(raw) {
                return None;
            }
            let body = raw.trim_start_matches(' ');
            let spaces = raw.len() - body.len();
            (self.pos, self.number) = (end, self.number + 1);
            if body.trim_end_matches(' ').is_empty() {
                breaks += 1;
                continue;
            }
            if spaces <= indent {
                return None;
            }
            if escaped {
                text.extend(std::iter::repeat_n('\n', breaks));
            } else {
                fold(&mut text, breaks);
            }
            breaks = 0;
            match quoted_line(quote, body)? {
                (line, Some(after), _) => {
                    text.push_str(&line);
                    return ends_line(after).then_some(text);
                }
                _ => {
                    let (line, escapes) = open_quoted_line(quote, body)?;
                    text.push_str(&line);
                    escaped = escapes;
                }
            }
        }
        None
    }

    /// A flow collection that starts `first` (the rest of a line already
    /// read) and closes on it or on a line below, more indented than
    /// `indent` or, for the closing bracket, at it:
    /// ```yaml
    /// resources: ["volumes", "volumes/status",
    ///             "engines", "engines/status"]
    /// ```
    /// as Helm charts write long lists. A line may break only after `,`, `[`
    /// or `{` or before `]` or `}`, so no plain scalar or key goes over a
    /// break (a quoted one may: `"a,` over `b"`, folded to `"a, b"`); the
    /// lines are then read as one, joined by a space, as YAML folds them.
    /// Comments and blank lines inside are left to the parser.
    fn flow_lines(&mut self, first: &str, indent: usize, depth: usize) -> Option<Value> {
        if let Some((value, after)) = self.flow(first, depth) {
            return ends_line(after).then_some(value);
        }
        if comment_at(first).is_some() {
            return None;
        }
        let mut joined = first.to_string();
        let mut quote = None;
        let mut open = flow_depth(first, &mut quote);
        // Closed on its line, yet not read there: the parser decides.
        if open <= 0 {
            return None;
        }
        let (mut pos, mut number) = (self.pos, self.number);
        for _ in 0..MAX_FLOW_LINES {
            let (raw, end, _) = self.raw(pos)?;
            if self.tabbed(raw) || self.special(raw) {
                return None;
            }
            let spaces = leading_spaces(raw);
            let body = trim_end_spaces(&raw[spaces..]);
            let closes = body.starts_with([']', '}']);
            let inside = spaces > indent || (closes && spaces == indent);
            // Not after an escaping `\` of a double-quoted scalar either.
            let broken_well = (closes && !joined.ends_with('\\')) || joined.ends_with([',', '[', '{']);
            if !inside || !broken_well || body.is_empty() || body.starts_with('#') || comment_at(body).is_some() {
                return None;
            }
            joined.push(' ');
            joined.push_str(body);
            (pos, number) = (end, number + 1);
            if joined.len() > MAX_FLOW_BYTES {
                return None;
            }
            // Read once, where the brackets balance: each line is looked at
            // once, however long the collection.
            open += flow_depth(body, &mut quote);
            if open <= 0 {
                let (value, after) = self.flow(&joined, depth)?;
                (self.pos, self.number) = (pos, number);
                return after.is_empty().then_some(value);
            }
        }
        None
    }

    /// A flow node that starts `text` and ends on its line (`{app: web}`,
    /// `[{containerPort: 80}]`, `{"app":"web"}`): its value and the rest of
    /// the line. Implicit pairs in sequences and empty values are left to the
    /// parser.
    fn flow<'t>(&self, text: &'t str, depth: usize) -> Option<(Value, &'t str)> {
        if self.too_deep(depth) {
            return None;
        }
        let close = match text.as_bytes().first()? {
            b'{' => b'}',
            b'[' => b']',
            _ => {
                let (value, style, rest) = flow_scalar(text)?;
                let value = if style == ScalarStyle::Plain { scalar(value, style)? } else { Value::String(value) };
                return Some((value, rest));
            }
        };
        let (mut map, mut items) = (Map::new(), Vec::new());
        let mut rest = text[1..].trim_start_matches(' ');
        loop {
            if let Some(after) = rest.strip_prefix(char::from(close)) {
                let value = if close == b'}' { Value::Object(map) } else { Value::Array(items) };
                return Some((value, after));
            }
            let after = if close == b'}' {
                let (name, style, after) = flow_scalar(rest)?;
                let after = after.trim_start_matches(' ');
                // After a quoted key, as JSON writes it (`"key":value`), the
                // `:` needs no blank.
                let after =
                    if style == ScalarStyle::Plain { after.strip_prefix(": ")? } else { after.strip_prefix(':')? };
                let (value, after) = self.flow(after.trim_start_matches(' '), depth + 1)?;
                if map.insert(key(name, style)?, value).is_some() {
                    return None;
                }
                after
            } else {
                let (item, after) = self.flow(rest, depth + 1)?;
                items.push(item);
                after
            };
            let after = after.trim_start_matches(' ');
            rest = match after.as_bytes().first()? {
                b',' => after[1..].trim_start_matches(' '),
                &b if b == close => after,
                _ => return None,
            };
        }
    }

    /// A nested mapping, sequence, flow collection or scalar starting at
    /// `line`, whose parent is at column `indent`.
    fn node(&mut self, line: Line<'a>, indent: usize, depth: usize) -> Option<Value> {
        if line.is_dash() {
            return self.sequence(line, false, depth, None);
        }
        let value = match line.body.as_bytes()[0] {
            // A flow collection starting a line of its own, as Helm's `toYaml |
            // nindent` writes an empty one (`resources:\n  {}`); one used as a
            // key is left to the parser.
            b'{' | b'[' => {
                self.consume(&line);
                self.flow_lines(line.body, indent, depth)?
            }
            _ => match split_key(line.body)? {
                Some(entry) => return self.mapping(line, Some(entry), depth, None),
                // A scalar alone on the line below its key or dash (`name:\n  web`,
                // a template's `{{ .Values.x | quote }}` on a line of its own);
                // one going on over more lines is left to the parser.
                None => {
                    let value = scalar_line(line.body)?;
                    self.consume(&line);
                    value
                }
            },
        };
        if self.deeper(indent)?.is_some() {
            return None;
        }
        Some(value)
    }

    /// A literal (`|`) or folded (`>`) scalar: `header` is the rest of its
    /// line, the content the lines after it more indented than `indent`.
    fn block_scalar(&mut self, header: &str, indent: usize) -> Option<String> {
        let literal = header.starts_with('|');
        // A chomping and an indentation indicator, in either order.
        let (mut chomp, mut explicit, mut after) = (Chomp::Clip, None, &header[1..]);
        for _ in 0..2 {
            match after.as_bytes().first() {
                Some(b'-') if matches!(chomp, Chomp::Clip) => chomp = Chomp::Strip,
                Some(b'+') if matches!(chomp, Chomp::Clip) => chomp = Chomp::Keep,
                Some(&digit @ b'1'..=b'9') if explicit.is_none() => explicit = Some(usize::from(digit - b'0')),
                _ => break,
            }
            after = &after[1..];
        }
        if !ends_line(after) {
            return None;
        }
        let mut lines: Vec<&str> = Vec::new();
        // The indicator counts from the parent's indentation.
        let mut content_indent = explicit.map(|m| indent + m);
        let mut leading_blank = 0;
        while let Some((raw, end, broken)) = self.raw(self.pos) {
            let spaces = leading_spaces(raw);
            let blank = spaces == raw.len();
            // A tab is content past the indentation of a literal scalar's
            // line; anywhere else, the parser decides.
            if self.tabbed(raw) {
                let first = content_indent.is_none() && spaces > indent;
                if !literal || first || raw.trim_start_matches([' ', '\t']).is_empty() {
                    return None;
                }
            }
            let text = match content_indent {
                // A line of spaces past the content's indentation is content: its
                // spaces past it, in a literal scalar (in a folded one, a
                // more-indented line: the parser decides).
                Some(c) if blank && spaces > c => {
                    if !literal {
                        return None;
                    }
                    &raw[c..]
                }
                _ if blank => {
                    leading_blank = leading_blank.max(spaces);
                    ""
                }
                None if spaces <= indent => break,
                None => {
                    if leading_blank > spaces {
                        return None;
                    }
                    content_indent = Some(spaces);
                    &raw[spaces..]
                }
                Some(c) if spaces < c => {
                    // Before any content, the parser refuses a line less indented
                    // than the indicator says, but not than the parent (a comment too).
                    if explicit.is_some() && spaces > indent && lines.iter().all(|l| l.is_empty()) {
                        return None;
                    }
                    break;
                }
                Some(c) => &raw[c..],
            };
            // A content line: what the parser reads as content or refuses, it decides.
            if self.special(raw) {
                return None;
            }
            if !broken {
                // The last line without a line break: chomping differs.
                return None;
            }
            lines.push(text);
            (self.pos, self.number) = (end, self.number + 1);
        }
        // No content (as Helm writes an empty file's `|-`): an empty string,
        // but with `+`, which keeps the blank lines.
        let Some(last) = lines.iter().rposition(|l| !l.is_empty()) else {
            return (!matches!(chomp, Chomp::Keep)).then(String::new);
        };
        // Blank lines after the content belong to what follows.
        let mut out = String::new();
        if literal {
            for (i, line) in lines[..=last].iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(line);
            }
        } else {
            // Folding, for content with no more-indented lines and no leading blank line.
            if lines[0].is_empty() || lines[..=last].iter().any(|l| l.starts_with(' ')) {
                return None;
            }
            let mut breaks = 0;
            for line in &lines[..=last] {
                if line.is_empty() {
                    breaks += 1;
                    continue;
                }
                if !out.is_empty() {
                    fold(&mut out, breaks);
                }
                breaks = 0;
                out.push_str(line);
            }
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => out.push('\n'),
            // The final line break, and one for each blank line after the content.
            Chomp::Keep => out.extend(std::iter::repeat_n('\n', lines.len() - last)),
        }
        Some(out)
    }
}

/// What a block scalar keeps of the line breaks at its end.
enum Chomp {
    /// `-`: none.
    Strip,
    /// The default: one.
    Clip,
    /// `+`: all, blank lines included.
    Keep,
}

/// How many spaces `s` starts with, counted eight at a time: manifests are
/// indented deep, and every line is measured.
fn leading_spaces(s: &str) -> usize {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    let bytes = s.as_bytes();
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let differ = u64::from_le_bytes(word.try_into().expect("eight bytes")) ^ SPACES;
        if differ != 0 {
            return at + differ.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    at + bytes[at..].iter().take_while(|&&b| b == b' ').count()
}

/// `s` without its trailing spaces.
fn trim_end_spaces(s: &str) -> &str {
    let bytes = s.as_bytes();
    let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b' ').count();
    &s[..end]
}

/// Offset of the first ` #` in `s` (a comment's start after a value).
pub(super) fn comment_at(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    memchr::memchr_iter(b'#', bytes).find(|&at| at > 0 && bytes[at - 1] == b' ').map(|at| at - 1)
}

/// Whether `after` (what follows a value on its line) is nothing or a comment.
fn ends_line(after: &str) -> bool {
    after.is_empty() || (after.starts_with(' ') && after.trim_start().starts_with('#'))
}

/// Splits `body` into a key and the rest after its `:` (blanks cut):
/// `Some(None)` when `body` is no `key:` line, `None` when it is one this
/// reader leaves to the parser (or an error).
#[allow(clippy::option_option)]
fn split_key(body: &str) -> Option<Option<(String, &str)>> {
    let (name, style, after) = match body.as_bytes()[0] {
        b'"' | b'\'' => {
            let Some((name, after)) = quoted(body)? else { return Some(None) };
            let after = after.trim_start_matches(' ');
            match after.strip_prefix(':') {
                Some(rest) if rest.is_empty() || rest.starts_with(' ') => {}
                _ => return Some(None),
            }
            let style = if body.starts_with('"') { ScalarStyle::DoubleQuoted } else { ScalarStyle::SingleQuoted };
            (name, style, &after[1..])
        }
        _ => {
            // Not a plain key: a value, which the caller reads or leaves to the parser.
            if !plain_start(body) {
                return Some(None);
            }
            let Some(at) = colon(body) else { return Some(None) };
            let name = trim_end_spaces(&body[..at]);
            if comment_at(name).is_some() {
                return None;
            }
            (name.to_string(), ScalarStyle::Plain, &body[at + 1..])
        }
    };
    if name.len() > MAX_KEY_BYTES {
        return None;
    }
    Some(Some((key(name, style)?, after.trim_start_matches(' '))))
}

/// A plain or quoted scalar that is all of `body` (but a comment).
fn scalar_line(body: &str) -> Option<Value> {
    match body.as_bytes()[0] {
        b'"' | b'\'' => match quoted(body)?? {
            (text, after) if ends_line(after) => Some(Value::String(text)),
            _ => None,
        },
        _ => scalar(plain_value(body)?.0.to_string(), ScalarStyle::Plain),
    }
}

/// Offset of the first `:` followed by a blank or the end of the line.
fn colon(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b':', &bytes[from..]) {
        let at = from + i;
        if bytes.get(at + 1).is_none_or(|&b| b == b' ') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether a plain scalar may start `body` (in block context).
fn plain_start(body: &str) -> bool {
    let bytes = body.as_bytes();
    let Some(&first) = bytes.first() else { return false };
    match first {
        b'-' | b'?' | b':' => bytes.get(1).is_some_and(|&b| b != b' '),
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@'
        | b'`' => false,
        _ => true,
    }
}

/// A plain value's first line: up to a comment, blanks cut; `None` where it
/// could hold a mapping value (`: `, a final `:`) or cannot start plain.
/// Also whether a comment ended it.
fn plain_value(rest: &str) -> Option<(&str, bool)> {
    if !plain_start(rest) {
        return None;
    }
    let (text, commented) = match comment_at(rest) {
        Some(at) => (trim_end_spaces(&rest[..at]), true),
        None => (rest, false),
    };
    (colon(text).is_none()).then_some((text, commented))
}

/// A quoted or plain scalar in a flow collection: its text, style and the
/// rest of the line. A plain one ends before `,[]{}` or a `:` that is
/// followed by a blank or one of those; a comment is left to the parser.
fn flow_scalar(text: &str) -> Option<(String, ScalarStyle, &str)> {
    if text.starts_with(['"', '\'']) {
        let style = if text.starts_with('"') { ScalarStyle::DoubleQuoted } else { ScalarStyle::SingleQuoted };
        let (value, rest) = quoted(text)??;
        return Some((value, style, rest));
    }
    if !plain_start(text) {
        return None;
    }
    let bytes = text.as_bytes();
    let mut end = text.len();
    for (i, &b) in bytes.iter().enumerate() {
        let indicator = match b {
            b',' | b'[' | b']' | b'{' | b'}' => true,
            b':' => bytes.get(i + 1).is_none_or(|&n| matches!(n, b' ' | b',' | b'[' | b']' | b'{' | b'}')),
            b'#' if bytes[i - 1] == b' ' => return None,
            _ => false,
        };
        if indicator {
            end = i;
            break;
        }
    }
    let value = text[..end].trim_end_matches(' ');
    (!value.is_empty()).then(|| (value.to_string(), ScalarStyle::Plain, &text[end..]))
}

/// Offset of the `'` that closes a single-quoted scalar in `body` (`''` is a quote).
fn closing_quote(body: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = body[from..].find('\'') {
        let at = from + i;
        if body.as_bytes().get(at + 1) != Some(&b'\'') {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// A quoted scalar that ends on its line: its text and what follows the
/// closing quote. `Some(None)` when it does not close there or holds an
/// escape left to the parser.
#[allow(clippy::option_option)]
fn quoted(body: &str) -> Option<Option<(String, &str)>> {
    Some(match quoted_line(body.as_bytes()[0], &body[1..])? {
        (text, Some(after), _) => Some((text, after)),
        (_, None, _) => None,
    })
}

/// One line of a scalar quoted by `quote`, up to its closing quote: its
/// text, what follows the quote (`None` if the line does not close it) and
/// whether the line ends in an escaped line break.
fn quoted_line(quote: u8, line: &str) -> Option<(String, Option<&str>, bool)> {
    if quote == b'"' {
        return double_line(line);
    }
    Some(match closing_quote(line) {
        Some(at) => (line[..at].replace("''", "'"), Some(&line[at + 1..]), false),
        None => (line.replace("''", "'"), None, false),
    })
}

/// One line of a double-quoted scalar, unescaped up to its closing quote:
/// the text, what follows the quote (`None` if the line does not close it)
/// and whether the line ends in an escaped line break (`\`). `None` for an
/// escape left to the parser.
fn double_line(line: &str) -> Option<(String, Option<&str>, bool)> {
    let mut out = String::new();
    let mut rest = line;
    loop {
        let Some(at) = rest.find(['"', '\\']) else {
            out.push_str(rest);
            return Some((out, None, false));
        };
        out.push_str(&rest[..at]);
        if rest.as_bytes()[at] == b'"' {
            return Some((out, Some(&rest[at + 1..]), false));
        }
        let Some(escaped) = rest[at + 1..].chars().next() else { return Some((out, None, true)) };
        rest = &rest[at + 1 + escaped.len_utf8()..];
        // YAML's escapes, as the parser resolves them.
        out.push(match escaped {
            '\\' | '"' | '/' | ' ' => escaped,
            '0' => '\0',
            'a' => '\x07',
            'b' => '\x08',
            't' => '\t',
            'n' => '\n',
            'v' => '\x0b',
            'f' => '\x0c',
            'r' => '\r',
            'e' => '\x1b',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            'x' | 'u' | 'U' => {
                let digits = match escaped {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex = rest.get(..digits).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                rest = &rest[digits..];
                // A surrogate (half of a JSON pair) is left to the parser.
                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
            }
            _ => return None,
        });
    }
}

/// A line of a quoted scalar that does not close it: its text without the
/// blanks before the line break, and whether that break is escaped. `None`
/// where, in a double-quoted scalar, trailing blanks follow a backslash (an
/// escaped blank, or a break escaped before blanks: the parser decides).
fn open_quoted_line(quote: u8, content: &str) -> Option<(String, bool)> {
    let trimmed = content.trim_end_matches(' ');
    if quote == b'"' && trimmed.len() < content.len() && trimmed.ends_with('\\') {
        return None;
    }
    match quoted_line(quote, trimmed)? {
        (text, None, escaped) => Some((text, escaped)),
        _ => None,
    }
}

/// How many flow collections `line` opens (closing ones count against),
/// outside quoted scalars; `quote` carries a quote left open from one line to
/// the next. Only where to try reading a collection hangs on it.
fn flow_depth(line: &str, quote: &mut Option<u8>) -> isize {
    let mut depth = 0;
    let mut bytes = line.bytes();
    while let Some(b) = bytes.next() {
        match (*quote, b) {
            (None, b'[' | b'{') => depth += 1,
            (None, b']' | b'}') => depth -= 1,
            (None, b'"' | b'\'') => *quote = Some(b),
            (Some(b'"'), b'\\') => {
                bytes.next();
            }
            // `''` in a single-quoted scalar closes and opens it again.
            (Some(q), _) if q == b => *quote = None,
            _ => {}
        }
    }
    depth
}

/// Joins the next line of a folded scalar onto `text`, after `breaks` blank
/// lines: a space, or one line break per blank line.
fn fold(text: &mut String, breaks: usize) {
    match breaks {
        0 => text.push(' '),
        n => text.extend(std::iter::repeat_n('\n', n)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::full_parse_for_test as full;
    use super::super::testdata;
    use super::*;

    fn read(text: &str, limits: &Limits) -> Option<Vec<Document>> {
        let docs = super::super::events::collect(each, text, limits);
        testdata::listed_agree(each_listed, text, limits, docs.as_ref());
        docs
    }

    /// [`read`] without regions: what this reader reads itself.
    fn read_alone(text: &str, limits: &Limits) -> Option<Vec<Document>> {
        super::super::events::collect(
            |t, l, take| {
                super::read(t, l, false, false, &mut |piece| match piece {
                    Piece::Document(doc) => take(doc),
                    Piece::Item(..) => false,
                })
            },
            text,
            limits,
        )
    }

    /// The reader agrees with the full parser, or leaves the stream to it.
    fn agree(text: &str, limits: &Limits) -> bool {
        testdata::agree("the line reader", read(text, limits), text, limits)
    }

    #[test]
    fn real_manifests_are_read_here_and_agree() {
        let limits = Limits::default();
        for (file, text) in testdata::corpus() {
            assert!(agree(&text, &limits), "{file} left the line reader");
            // Written on Windows.
            assert!(agree(&text.replace('\n', "\r\n"), &limits), "{file} with \\r\\n left the line reader");
            // Saved with a byte order mark.
            assert!(agree(&format!("\u{FEFF}{text}"), &limits), "{file} with a byte order mark left the line reader");
        }
        let mut fixtures = 0;
        for text in testdata::fixtures(&["examples", "manifests", "tests"]) {
            fixtures += usize::from(agree(&text, &limits));
        }
        assert!(fixtures > 5, "only {fixtures} fixtures were read here");
    }

    /// Every input of the parser's fuzz corpus, under the fuzz target's limits.
    #[test]
    fn fuzz_corpus_agrees() {
        let limits = testdata::fuzz_limits();
        let inputs = testdata::fuzz_inputs();
        let read_here = inputs.iter().filter(|text| agree(text, &limits)).count();
        let all = inputs.len();
        assert!(all > 1000 && read_here > all / 20, "{read_here} of {all} fuzz inputs were read here");
    }

    /// The shapes this reader takes on, each read here and as the parser reads it.
    #[test]
    fn block_shapes_agree() {
        let limits = Limits::default();
        let read_here = [
            "a: 1\nb:\n- x\n- w: 1\n  z: [] # c\n  v: {}\nc: ~\n",
            "# head\n---\n---   # c\nk: v # comment\nq: 'it''s' \nd: \"tab\\there \\u00e9 \\\"q\\\" \\\\ \\/\"\n",
            "k: |\n  line 1\n\n    more\n  last\n\nm: 1\n",
            "k: |-\n  one\n  two\n",
            "k: >\n  folded\n  text\n\n  para\nm: 2\n",
            "k: >-\n  a\n  b\n\n\n  c\n",
            "s:\n  - a\n  -\n  - x\n",
            "s:\n  -\n    m: 1\n  - \"q\": 2\n    r: 3\n",
            "a: b:c\nd: http://x/y?z=1#frag\ne: -1\nf: 0755\ng: yes\nh: 1e3\ni: .5\nj: -x\n",
            "  indented: root\n  second: 2\n",
            "on: push\n80: http\n-1: x\ny: {n: 0, 443: https}\nOff: 1\n",
            "\u{FEFF}a: 1\n",
            "\u{FEFF}---\na: 1\n---\nb: 2\n",
            "\u{FEFF}# c\r\na: 1\r\n",
            "a:\n  b:\n    c:\n      d: deep\n",
            "ports:\n- containerPort: 8080\n  name: http\n- 9090\nenv: []\n",
            "x: a b  c\nv: 'a # b'\nz: \"a: b\"\n",
            "k: |  # comment\n  text\n",
            "---\napiVersion: v1\n---\nkind: K\n",
            "k:\n\n  - 1\n\n  - 2\n",
            "é: ü\n\"k:\": 1\n'a b': 2\n'y': 3\n",
            "k: a\n b\n\n  c\n\n\n  d\nm: 1\n",
            "k: a\n  \"b\"\n  [c] {d} &e *f !g |h >i 'j %k @l `m\n",
            "s:\n- a\n  b\n- 'c\n  d ''e''\n\n  f'\n",
            "k: 'a\n  b'\nm: 'c\n   # d\n   - e'\n",
            "k: a\n  :b\n",
            "k: \"a  \n  b\\\n  c \\\n\n  d\n\n\n  e \\u00e9\"\nm: \"x\n   y\" # c\n",
            "l: {app: web, tier: 'back end', c: 1, e: [], m: {}}\np: [{containerPort: 8080, name: \"h\"}, 2, x]\n",
            "k: {name: a, u: http://x:80/y} # c\nq: [a, [b, {c: d}], ]\n",
            "r: {a: 1,}\n",
            "k: |+\n  kept\n\n\n",
            "m: >+\n  a\n  b\n\n  c\n\n# c\n\nl: 1\n",
            "l: |+\n  x\no: |+\n\n  y\n\n",
            "s:\n- |+\n  a\n\n- >+\n  b\n\n---\nk: |+\n  z\n\n",
            "k: |2\n    two more\n  x\nm: >2-\n  a\n  b\ns:\n- |1\n   c\n- |-2\n    d\n",
            "#\tc\n  # c\td\t\nk: v\t\nl: \t\n  - a # c\t\n  - |\t\n    x\nm: x # \t\n--- \t\no:\t\n  'p'\t\n",
            "run.sh: |\n  #!/bin/sh\n  if x; then\n  \techo \"a\tb\"\n\n  fi\t\n",
            "e: \"\\0\\a\\b\\t\\n\\v\\f\\r\\e\\ \\\"\\/\\\\\\N\\_\\L\\P\\x41\\x85\\u00e9\\U0001F600\"\n",
            "k: \"a long line folded\n  \\  with double spaces\n  \\ kept\"\n",
            "resources:\n  {}\nt:\n  []\ns:\n-\n  {}\n-\n    [a, {b: c}]  # c\nm:\n    {a: 1}\n\nz: 1\n",
            "k: |-\n  a\n    \n  b\n      \nm: |+\n  x\n   \n\nl: |2\n     \n   x\n",
            "name:\n  web\n",
            "q:\n    \"a: b\"  # c\n",
            "s:\n  'it''s'\n",
            "l:\n-\n  x\n- \n   8080\n",
            "t:\n  true\nz:\n  ~\n",
            "v:\n  a:b # c\n\nw: 1\n",
            "e: |-\n---\nk: |\nl: |-\n\n   \nm: >2\n  \no: 1\ns:\n- |\n- >-\n  \n",
            "j: {\"a\":\"b\", 'c':1,\"d\" :[2], \"e\":{\"f\":null}}\n",
            "r: [\"volumes\", \"volumes/status\",\n    \"engines\"]\nv: 1\n",
            "a: [\n  \"x\",\n  {b: c,\n   d: [1,\n     2]}\n]\nc:\n  - [x,\n    y]\n  -\n    {a: 1,\n     b: 2}\nd:\n  [\n  ]\n",
            "q: ['a,\n  b', \"c,\n    d\", e,\n  ] \n",
            "k: \"long, wrapped as go-yaml wraps\\\n  \\ it\"\nl: \"x\\\n\n  y\"\n",
        ];
        let mut refused = Vec::new();
        for text in read_here {
            if !agree(text, &limits) {
                refused.push(text);
            }
        }
        assert!(refused.is_empty(), "left to the parser: {refused:#?}");
    }

    /// The byte-wise helpers give what the standard library's searches give,
    /// on random strings of the characters that matter to them.
    #[test]
    fn byte_helpers_match_the_standard_library() {
        let pieces =
            [" ", "        ", "#", " #", "a", "é", "\t", "\r", "\r\n", "\n", "\u{7f}", "\u{85}", "\u{2028}", "\0", ":"]
                // Near misses of the special characters' bytes, and the rest of them.
                .into_iter()
                .chain(["\u{A0}", "\u{9F}", "\u{2019}", "\u{2029}", "\u{FEFF}", "\u{FFFD}", "\u{FFFE}", "\u{FFFF}"])
                .collect::<Vec<_>>();
        let mut rng = testdata::Rng::new(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.below(40) {
                text.push_str(pieces[rng.below(pieces.len())]);
            }
            if rng.below(4) == 0 {
                text = text.repeat(1 + rng.below(40));
            }
            let text = text.as_str();
            assert_eq!(leading_spaces(text), text.len() - text.trim_start_matches(' ').len(), "{text:?}");
            assert_eq!(trim_end_spaces(text), text.trim_end_matches(' '), "{text:?}");
            assert_eq!(comment_at(text), text.find(" #"), "{text:?}");
            let bytes = text.as_bytes();
            let readable = !bytes.iter().any(|&b| (b < b' ' && !matches!(b, b'\n' | b'\r' | b'\t')) || b == 0x7F)
                && !bytes.iter().enumerate().any(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
                && !text.contains('\u{FEFF}');
            let special = text.chars().any(|c| {
                matches!(c, '\u{80}'..='\u{9F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
            });
            assert_eq!(characters(text), readable.then_some(special), "{text:?}");
            assert_eq!(plain_characters(text), readable && !special, "{text:?}");
        }
    }

    /// Near misses of the shapes read here.
    const LEFT_TO_PARSER: &[&str] = &[
        "a: &x 1\nb: *x\n",
        "a: !t 1\n",
        "a: {b: 1\n  c: 2}\n",
        "a: [1\n  , 2]\n",
        "a: [1,\n\n  2]\n",
        "a: [1, # c\n  2]\n",
        "a: [1,\n  # c\n  2]\n",
        "a: [1,\n  2 # c\n  ]\n",
        "a: [1,\n2]\n",
        "a: {b:\n  1}\n",
        "a: [\"x\\\n  ]\"]\n",
        "a: [1,\n  2]]\n",
        "a: [1,\n  2] x\n",
        "a: [1,\n \t2]\n",
        "k: \"a\\  \n  b\"\n",
        "a: [b: 1]\n",
        "a: {b}\n",
        "k: |+\n",
        "a: {b: }\n",
        "a: [b #c]\n",
        "a: [,]\n",
        "%YAML 1.2\n---\na: 1\n",
        "a:\tb\n",
        "a: b\t# c\n",
        "a: b # c\td\n",
        "\t# c\na: 1\n",
        "a: |\n  x\n\t# c\n",
        "a: x\t\n  \ty\n",
        "a: [1,\n  2\t]\n",
        "a: {\"b\":}\n",
        "a: {\"b\": }\n",
        "a: [\"b\":1]\n",
        "a: {b:1}\n",
        "a: |\n  \tx\n",
        "a: |\n  x\n  \t\n",
        "a: |\n  x\n \ty\n",
        "a: >\n  x\n  \ty\n",
        "a: \"x\n  \ty\"\n",
        "a: x\n  \ty\n",
        "a: \"x\ty\"\n",
        "a: |0\n  x\n",
        "a: |22\n  x\n",
        "a: |--\n  x\n",
        "a: 1\r",
        "a: 1\rb: 2\n",
        "? a\n: b\n",
        "01: x\n",
        "a: 1\n\u{FEFF}b: 2\n",
        "\u{FEFF}\u{FEFF}a: 1\n",
        "a: \u{FEFF}\n",
        "0x50: http\n",
        "a: b: c\n",
        "a: 1\na: 2\n",
        "<<: {}\n",
        "k: 1\n...\n",
        "s:\n- - x\n",
        "k: |+\n  x\n\n  ",
        "k: |\n  text",
        "- a\n- b\n",
        "just a scalar\n",
        "--- {a: 1}\n",
        "a: \"\\ud83d\\ude00\"\n",
        "a: \"\\U00110000\"\n",
        "a: \"\\x4\"\n",
        "a: \"\\q\"\n",
        "a: 1\n b: 2\n",
        "a:\n  - 1\n - 2\n",
        "a: 1\n- 2\n",
        "k: >\n  a\n    more\n  b\n",
        "k: |\n    \n  x\n",
        "a: x #c\n  y\n",
        "---x: 1\n",
        "k: a\n  - b\n",
        "k: a\n  ? b\n",
        "- a\n b\n",
        "a: {b: 1,\n",
        "k:\n  a\n  b\n",
        "k:\n  a\n   b\n",
        "k:\n    a\n  b\n",
        "k:\n  a\n\n  b\n",
        "k:\n  a\n  # c\n  b\n",
        "k:\n  'a\n  b'\n",
        "k:\n  \"a\" b\n",
        "k:\n  |\n  x\n",
        "k:\n  &a x\n",
        "k:\n  ? x\n",
        "k:\n  %x\n",
        "-\n  a\n  b\n",
        "a: {b: 1, \n",
        "a: [b,\n",
        "k: \"a\\ \n  b\"\n",
        "k: \"a\\   \n  b\"\n",
        "k:\n  {a: 1}: b\n",
        "k:\n  {}\n  x: 1\n",
        "k:\n  {} x\n",
        "k:\n  []\n   - a\n",
        "k: >\n  a\n    \n  b\n",
        "a: 1\nk: |2\n # c\n",
    ];

    /// Near misses of those shapes, each left by this reader itself to the
    /// parser (which may refuse them): as a region, or the whole text.
    #[test]
    fn other_shapes_are_left_to_the_parser() {
        let limits = Limits::default();
        for &text in LEFT_TO_PARSER {
            assert!(read_alone(text, &limits).is_none(), "read here: {text:?}");
            let _ = full(text, &limits);
        }
    }

    /// Entries this reader leaves, as editors and generators write them.
    const REGION_SHAPES: &[&str] = &[
        "description: >\n  a\n    more\n  b\n",
        "script: \"a\tb\"\n",
        "k: v\t# c\n",
        "k:\tv\n",
        "list: [1, # c\n  2]\n",
        "folded: >-\n\n  a\n  b\n",
        "s:\n- - x\n  - y\n- z\n",
        "k: \"\\ud83d\\ude00\"\n",
        "k: [a,\n\n  b]\n",
        "k: a\u{2028}b\n",
        "k: \"a\u{85}b\"\n",
        "k: 'a\n  b\u{2029}c'\n",
        "k: |\n  a\u{2029}\n  b\n",
        "k: >-\n  a\n  \u{2028}b\n",
        "k: [a\u{2028}, b]\n",
        "k: long\n  plain\u{85}\n",
        "k\u{2028}: v\n",
        // Anchors and aliases: each entry a region, aliases of the document's earlier regions.
        "ka: &x 1\nkb: *x\n",
        "ka: &x\n  b: 1\n  c: [2]\nkb: *x\n",
        "ks:\n- &x {p: 80}\n- *x\n",
        "ka: &x 1\nkb: &x 2\nkc: *x\n",
        "ka: &x 0644\nkb: [*x, yes, *x]\n",
        "ka:\n  b: &x on\nkb:\n  c: *x\n",
    ];

    /// What this reader leaves of an entry or a sequence entry, deep in a
    /// large document or in a list, goes to the parser's events alone (a
    /// region): the document is still read here, the same as by the parser.
    /// Anchors and aliases are regions too, an alias a copy of an earlier
    /// region's anchored value; an alias of an unknown anchor, an error, or
    /// counts near the full parser's budget leave the whole text to the parser.
    #[test]
    fn regions_read_what_this_reader_leaves() {
        let limits = Limits::default();
        let corpus = testdata::corpus();
        let install = &corpus[0].1;
        // The Applications CRD, 417 KB: the full parser takes seconds on the largest in a debug build.
        let crd = install.split("\n---\n").find(|d| d.contains("name: applications.argoproj.io\n")).unwrap();
        let indented = |shape: &str, by: &str| shape.lines().map(|l| format!("{by}{l}\n")).collect::<String>();
        for &shape in REGION_SHAPES {
            assert!(read_alone(shape, &limits).is_none(), "read without a region: {shape:?}");
            let deep = "\n                          type: ";
            let at = crd.find(deep).unwrap() + 1;
            let mut texts = vec![
                shape.to_string(),
                format!("a: 1\nb:\n  c: 2\n{}  d: 3\ne: 4\n", indented(shape, "  ")),
                format!("l:\n- x\n- {}- z\n", indented(shape, "  ").trim_start()),
                format!("l:\n  - w: 1\n{}  - z\n", indented(shape, "    ")),
                format!("{}{}{}", &crd[..at], indented(shape, &" ".repeat(26)), &crd[at..]),
            ];
            texts.push(texts[1].replace('\n', "\r\n"));
            for text in texts {
                assert!(agree(&text, &limits), "not read here: {text}");
            }
        }
        // The last two: characters the parser refuses.
        for shape in [
            "a: &x {b: 1}\nc: &y {d: *x}\n",
            "a: *x\nb: &x 1\n",
            "k: !t v\n",
            "<<: {a: 1}\n",
            "k: \"a\tb\n",
            "k: [a,\nb]\n",
            "k: a\u{81}\n",
            "k: |\n  \u{FFFF}\n",
        ] {
            let text = format!("a: 1\nb:\n  c: 2\n{}  d: 3\n", indented(shape, "  "));
            assert!(read(&text, &limits).is_none(), "read here: {text}");
        }
        // An alias names an anchor of its own document, and the full parser's
        // budget is the text's (past half of it, the parser decides).
        assert!(read("a: &x 1\nb: *x\n---\nc: *x\n", &limits).is_none());
        assert!(agree("a: &x 1\nb: *x\n---\nc: &x 2\nd: *x\n", &limits));
        let aliases = |n: usize| format!("a: &x [1, 2]\n{}", (0..n).map(|i| format!("b{i}: *x\n")).collect::<String>());
        assert!(agree(&aliases(50), &limits));
        let counts = super::read(&aliases(50), &limits, true, false, &mut |_| true).unwrap();
        assert_eq!((counts.anchors, counts.aliases, counts.replayed), (1, 50, 50 * 4));
        assert!(read(&aliases(100), &limits).is_none());
        // The regions of a text read by the parser: at most half of it.
        let tabbed = |n: usize| format!("k: 1\n{}", (0..n).map(|i| format!("t{i}: \"a\tb\"\n")).collect::<String>());
        assert!(agree(&tabbed(10), &limits));
        assert!(read(&format!("{}{}", tabbed(2000), "p: 1\n".repeat(100)), &limits).is_none());
    }

    /// Documents of the corpus, changed at random places by what matters in
    /// YAML: wherever the reader answers, the parser gives the same.
    #[test]
    fn mutated_documents_agree() {
        let limits = Limits::default();
        let docs = testdata::small_documents();
        let pieces = [
            ": ", "- ", "-", " #", "#", "'", "\"", "|", "|-", "|+", "|2", "\t", ">", "\n", " ", "  ", "[]", "{}", "[",
            "{", "---\n", "\\", "\\u00", "\\ ", "\\x4", "\\U0001", "&a ", "*a", "!t ", "\n  ", "\n- ", "\n\n", ":",
            "''", "\\n", "~", "0x", "é", "\u{FEFF}", "\u{85}", "\u{2028}", "\u{9F}",
        ];
        let mut rng = testdata::Rng::new(0x2545_F491_4F6C_DD1D);
        let (mut read_here, mut all) = (0, 0);
        for _ in 0..testdata::rounds(20_000) {
            let mut text = docs[rng.below(docs.len())].clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.boundary(&text);
                if rng.below(3) == 0 {
                    let end = text.floor_char_boundary(at + 1 + rng.below(4));
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, pieces[rng.below(pieces.len())]);
                }
            }
            all += 1;
            read_here += usize::from(agree(&text, &limits));
        }
        assert!(read_here > all / 4, "only {read_here} of {all} mutated documents were read here");
    }

    /// Flow collections written over several lines, as Helm charts write long
    /// lists, broken at random places (also inside scalars, before a `,`,
    /// after a `:`) and indented at random: wherever the reader answers, the
    /// parser gives the same, and most of those broken where this reader
    /// takes them are read here.
    #[test]
    fn flow_over_lines_agree() {
        fn node(rng: &mut testdata::Rng, depth: usize, out: &mut Vec<String>) {
            const SCALARS: [&str; 10] =
                ["a", "volumes/status", "'it''s, a'", "\"x, y\"", "\"e\\u00e9\"", "80", "true", "b c", "'['", "~"];
            match rng.below(if depth > 2 { 1 } else { 4 }) {
                0 => out.push(SCALARS[rng.below(SCALARS.len())].to_string()),
                kind => {
                    let map = kind == 1;
                    out.push(if map { "{" } else { "[" }.to_string());
                    for i in 0..rng.below(4) {
                        if i > 0 {
                            out.push(",".to_string());
                        }
                        if map {
                            // As JSON writes a key, at times: no blank after it.
                            out.push(if rng.below(3) == 0 { format!("\"k{i}\":") } else { format!("k{i}:") });
                        }
                        node(rng, depth + 1, out);
                    }
                    out.push(if map { "}" } else { "]" }.to_string());
                }
            }
        }
        let limits = Limits::default();
        let mut rng = testdata::Rng::new(0x6A09_E667_F3BC_C908);
        let (mut read_here, mut well_broken, mut well_read, mut all) = (0, 0, 0, 0);
        for _ in 0..testdata::rounds(20_000) {
            let mut tokens = Vec::new();
            while tokens.len() < 3 {
                tokens.clear();
                node(&mut rng, 1, &mut tokens);
            }
            let column = 2 * rng.below(3);
            let (head, inner) = match rng.below(3) {
                0 => (format!("{}k: ", " ".repeat(column)), column),
                1 => (format!("{}k:\n{}", " ".repeat(column), " ".repeat(column + 2)), column),
                _ => (format!("{}- ", " ".repeat(column)), column),
            };
            let mut text = format!("{}{head}", if column > 0 { "top:\n" } else { "" });
            let mut only_well_broken = true;
            for (i, token) in tokens.iter().enumerate() {
                let mut token = token.as_str();
                // Sometimes inside a scalar, at its blank.
                if rng.below(12) == 0
                    && let Some(at) = token.find(' ')
                {
                    text.push_str(&token[..at]);
                    text.push_str(&format!("\n{}", " ".repeat(inner + 1 + rng.below(4))));
                    token = &token[at + 1..];
                    only_well_broken = false;
                }
                let json_key = text.ends_with("\":") && rng.below(2) == 0;
                if i > 0 && !text.ends_with(' ') && !token.starts_with([',', ']', '}']) && !json_key {
                    text.push(' ');
                }
                text.push_str(token);
                if i + 1 < tokens.len() && rng.below(3) == 0 {
                    let next = &tokens[i + 1];
                    only_well_broken &= token.ends_with([',', '[', '{']) || next.starts_with([']', '}']);
                    let spaces = match rng.below(6) {
                        0 => inner,
                        1 => inner.saturating_sub(1),
                        _ => inner + 1 + rng.below(6),
                    };
                    only_well_broken &= spaces > inner || (spaces == inner && next.starts_with([']', '}']));
                    text.push('\n');
                    text.push_str(&" ".repeat(spaces));
                }
            }
            text.push_str("\nz: 1\n");
            all += 1;
            read_here += usize::from(agree(&text, &limits));
            if only_well_broken && text.matches('\n').count() > 3 {
                well_broken += 1;
                // By this reader itself, not a region of the parser's events.
                well_read += usize::from(read_alone(&text, &limits).is_some());
            }
        }
        assert!(
            well_broken > all / 10 && well_read > well_broken * 9 / 10 && read_here > all / 5,
            "{read_here} of {all} read here; {well_read} of {well_broken} broken where this reader takes them"
        );
    }

    /// Lines that documents are generated from: the shapes read here and their near misses.
    const LINE_SHAPES: &[&str] = &[
        "k: v",
        "k:",
        "k2: 1",
        "- v",
        "-",
        "- k: v",
        "- k:",
        "k: |",
        "k: |-",
        "k: >",
        "k: >-",
        "k: |+",
        "- >+",
        "k: |2",
        "- |1-",
        "k: >2+",
        "\tx",
        "a\tb",
        "k: v\t",
        "k: v \t # c",
        "# c\td",
        "\t# c",
        "\t",
        " \t ",
        "k: |\t",
        "- v\t",
        "k: [a,\t",
        "k: 'a\t",
        "k: \"a\\\t",
        "k: \"\tx",
        "text",
        "more text",
        "'q",
        "q'",
        "k: 'a",
        "b'",
        "k: \"a\"",
        "# c",
        "",
        "  ",
        "k: v # c",
        "- 'x'",
        "k: []",
        "- {}",
        "---",
        "k: a: b",
        "--x",
        "k: -1",
        ": v",
        "? k",
        "k: 'it''s",
        "k: \"a\\n\"",
        "'k': v",
        "k: {a: 1, b: [x, 'y']}",
        "- [a, {b: c}, ]",
        "k: {a: b",
        "k: [a,",
        "k: [a: b]",
        "- {a: {b: [c, d]}}",
        "k: {a: http://x:1}",
        "k: [x, y] # c",
        "{a: 1}: b",
        "k: [a,",
        "- {a: 1,",
        "b]",
        "]",
        "}",
        "c: 2}",
        "x, {y: z},",
        "k: [",
        "k: \"wrapped\\",
        "k: [{a: 1}, {b: 2}]",
        "k: \"a",
        "k: \"a \\",
        "b\\",
        "b\"",
        "c \\ d\"",
        "\\\"",
        "k: \"\\",
        "x \\n\"  # c",
        "\\ x\"",
        "k: \"\\x41\\e\\_ \\U0001F600",
        "\\N \\L\\P\\0\"",
        "k: \"\\x4\"",
        "{}",
        "[a, b]",
        "{a: [1]} # c",
        "items:",
        "items: # c",
        "- items:",
        "k: a\u{2028}b",
        "\u{2029}",
        "k: \"a\u{85}",
        "- [a\u{2028},",
        "# c\u{85}",
        "k: \u{80}",
        "x\u{FEFF}y",
        "k: '\u{FFFE}'",
    ];

    /// Small documents of random lines at random indentations, built from
    /// the shapes this reader takes on and their near misses: wherever the
    /// reader answers, the parser gives the same.
    #[test]
    fn generated_line_shapes_agree() {
        let limits = Limits::default();
        let mut rng = testdata::Rng::new(0x9E37_79B9_7F4A_7C15);
        let (mut read_here, mut all) = (0, 0);
        for _ in 0..testdata::rounds(50_000) {
            let mut text = String::from("a: 1\n");
            for _ in 0..1 + rng.below(7) {
                text.push_str(&" ".repeat(rng.below(7)));
                text.push_str(LINE_SHAPES[rng.below(LINE_SHAPES.len())]);
                text.push('\n');
            }
            if rng.below(4) == 0 {
                text = text.replace('\n', "\r\n");
            }
            if rng.below(8) == 0 {
                text.insert(text.floor_char_boundary(rng.below(text.len())), '\r');
            }
            all += 1;
            read_here += usize::from(agree(&text, &limits));
        }
        assert!(read_here > all / 40, "only {read_here} of {all} generated documents were read here");
    }
}
