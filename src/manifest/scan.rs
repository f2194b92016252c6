//! One look at a stream's bytes before it is parsed: the NUL byte that
//! makes it no text, the `---` lines that bound the document count and where
//! a split may cut, and the directives and anchors that rule a split out.
//!
//! Vector search (memchr) finds the few places worth a look, so the lines in
//! between are never visited one by one: on a 2 MB install, line-by-line
//! scans cost milliseconds before the first thread could start parsing.
//! A small stream is searched with the standard library's searches instead:
//! memchr's first call asks the CPU for its features (`cpuid`, which a virtual
//! machine traps: about 60 µs here), more than searching a small stream takes.

use memchr::memmem;

/// Streams of at least this many bytes are searched with memchr.
const VECTOR_MIN_BYTES: usize = 64 << 10;

/// What the bytes of one stream hold, as far as parsing it needs to know first.
pub(super) struct Scan<'a> {
    text: &'a str,
    /// Whether to search with memchr (see [`VECTOR_MIN_BYTES`]).
    vector: bool,
    /// Offsets of the lines that start with `---`.
    dashes: Vec<usize>,
}

impl<'a> Scan<'a> {
    /// Finds the lines of `text` that start with `---`.
    pub fn of(text: &'a str) -> Self {
        Self::searching(text, text.len() >= VECTOR_MIN_BYTES)
    }

    fn searching(text: &'a str, vector: bool) -> Self {
        let first = text.starts_with("---").then_some(0);
        let dashes = if vector {
            first.into_iter().chain(memmem::find_iter(text.as_bytes(), b"\n---").map(|i| i + 1)).collect()
        } else {
            first.into_iter().chain(text.match_indices("\n---").map(|(i, _)| i + 1)).collect()
        };
        Scan { text, vector, dashes }
    }

    /// Offset of the first `byte` in `hay`, if any.
    fn find(&self, byte: u8, hay: &[u8]) -> Option<usize> {
        if self.vector { memchr::memchr(byte, hay) } else { hay.iter().position(|&b| b == byte) }
    }

    /// Offset of the first NUL byte, if any.
    pub fn nul(&self) -> Option<usize> {
        if self.vector { self.find(0, self.text.as_bytes()) } else { self.text.find('\0') }
    }

    /// Lines that start a document: `---` alone or before a blank, lines
    /// split as [`str::lines`] splits them. Nothing else starts one, so this
    /// bounds the document count before the parser spends time on a storm.
    pub fn documents(&self) -> usize {
        self.dashes
            .iter()
            .filter(|&&at| {
                let rest = self.after_dashes(at);
                // `str::lines` drops a `\r` only before a `\n`.
                let broken = at + 3 + rest.len() < self.text.len();
                let rest = if broken { rest.strip_suffix(b"\r").unwrap_or(rest) } else { rest };
                rest.is_empty() || starts_blank(rest)
            })
            .count()
    }

    /// Offsets after the first byte where a document starts for sure: a
    /// `---` line with nothing but blanks or line breaks after the dashes.
    pub fn cuts(&self) -> impl Iterator<Item = usize> + '_ {
        self.dashes.iter().copied().filter(|&at| {
            let rest = self.after_dashes(at);
            at > 0 && (rest.iter().all(|&b| b == b'\r') || starts_blank(rest))
        })
    }

    /// The rest of the `---` line at `at`, after the dashes, without its `\n`.
    fn after_dashes(&self, at: usize) -> &'a [u8] {
        let rest = &self.text.as_bytes()[at + 3..];
        &rest[..self.find(b'\n', rest).unwrap_or(rest.len())]
    }

    /// Whether a line starts with `%`: a directive (`%YAML`, `%TAG`) that binds
    /// across document markers.
    pub fn directive(&self) -> bool {
        self.text.starts_with('%')
            || if self.vector {
                memmem::find(self.text.as_bytes(), b"\n%").is_some()
            } else {
                self.text.contains("\n%")
            }
    }

    /// Whether an `&` could start an anchor, which makes the alias budget one
    /// for the whole stream: see [`Scan::anchors`].
    pub fn anchor(&self) -> bool {
        self.anchors().next().is_some()
    }

    /// Offsets of the `<<`s, which could be merge keys.
    pub fn merges(&self) -> impl Iterator<Item = usize> + '_ {
        let found: Box<dyn Iterator<Item = usize>> = if self.vector {
            Box::new(memmem::find_iter(self.text.as_bytes(), b"<<"))
        } else {
            Box::new(self.text.match_indices("<<").map(|(i, _)| i))
        };
        found
    }

    /// Offsets of the `&`s that could start an anchor: before a non-blank that
    /// is not another `&`, and where a node's properties may start (the
    /// stream's start, after a blank, a line break or a flow indicator; after
    /// `:` too, as in `{"a":&x 1}`; after a byte order mark, whose last byte is
    /// 0xBF). An `&` inside a word (`?a=1&b=2` in a URL) is no anchor; one in a
    /// quoted string still counts, which only costs its document a share of
    /// the alias budget.
    pub fn anchors(&self) -> impl Iterator<Item = usize> + '_ {
        let bytes = self.text.as_bytes();
        let anchor = move |&i: &usize| {
            let after = bytes.get(i + 1).is_some_and(|&next| !next.is_ascii_whitespace() && next != b'&');
            let before =
                i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':' | 0xBF);
            after && before
        };
        let found: Box<dyn Iterator<Item = usize>> = if self.vector {
            Box::new(memchr::memchr_iter(b'&', bytes))
        } else {
            Box::new(self.text.match_indices('&').map(|(i, _)| i))
        };
        found.filter(anchor)
    }
}

fn starts_blank(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(b' ' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the line-by-line scans this replaces made of `text`.
    fn by_lines(text: &str) -> (Option<usize>, usize, Vec<(usize, usize)>, bool, bool) {
        let documents = text
            .lines()
            .filter(|l| l.strip_prefix("---").is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t'])))
            .count();
        let mut cuts = Vec::new();
        let (mut pos, mut lines) = (0, 0);
        for line in text.split_inclusive('\n') {
            let marker = line
                .strip_prefix("---")
                .is_some_and(|r| r.trim_end_matches(['\r', '\n']).is_empty() || r.starts_with([' ', '\t']));
            if pos > 0 && marker {
                cuts.push((pos, lines));
            }
            pos += line.len();
            lines += 1;
        }
        let bytes = text.as_bytes();
        // As before, but an `&` inside a word is no anchor.
        let anchor = (0..bytes.len().saturating_sub(1)).any(|i| {
            bytes[i] == b'&'
                && !bytes[i + 1].is_ascii_whitespace()
                && bytes[i + 1] != b'&'
                && (i == 0 || b" \t\n\r[{,:\xBF".contains(&bytes[i - 1]))
        });
        (text.find('\0'), documents, cuts, text.lines().any(|l| l.starts_with('%')), anchor)
    }

    /// What both ways of searching make of `text`, which must be the same.
    fn scanned(text: &str) -> (Option<usize>, usize, Vec<(usize, usize)>, bool, bool) {
        let [vector, standard] = [true, false].map(|vector| {
            let scan = Scan::searching(text, vector);
            let cuts = scan.cuts().map(|at| (at, text[..at].matches('\n').count())).collect::<Vec<_>>();
            (scan.nul(), scan.documents(), cuts, scan.directive(), scan.anchor())
        });
        assert_eq!(vector, standard, "memchr and the standard library disagree on {text:?}");
        vector
    }

    /// Every string of up to 6 bytes over the characters that matter gives
    /// what the line-by-line scans gave.
    #[test]
    fn one_look_finds_what_the_line_scans_found() {
        let alphabet = ['-', '\n', '\r', ' ', '\t', 'a', '%', '&', '\0', ':'];
        let mut text = String::new();
        fn each(text: &mut String, alphabet: &[char], left: usize, check: &dyn Fn(&str)) {
            check(text);
            if left == 0 {
                return;
            }
            for &c in alphabet {
                text.push(c);
                each(text, alphabet, left - 1, check);
                text.pop();
            }
        }
        each(&mut text, &alphabet, 6, &|t| assert_eq!(scanned(t), by_lines(t), "{t:?}"));
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/argocd-install/install.yaml");
        let install = std::fs::read_to_string(corpus).unwrap();
        assert_eq!(scanned(&install), by_lines(&install));
    }
}
