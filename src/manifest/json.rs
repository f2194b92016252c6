//! JSON streams — what jsonnet renderers and `kubectl get -o json` write —
//! read by serde_json, several times faster than a YAML parser reads them.
//! A JSON text is one YAML document of flow collections, and reading it as
//! JSON gives the same values as the YAML path wherever this module answers:
//! it gives up (`None`) on anything that could read differently as YAML —
//! fractions and exponents (YAML 1.1 spells floats its own way), integers past
//! 64 bits, duplicate keys (refused by the full parser, with its message),
//! tabs, characters YAML reads as line breaks, nesting near the depth limit —
//! and on anything that is not one JSON value, which the YAML paths then read.
//! A top-level object's `items` array (a `List`'s, as `kubectl get -o json`
//! writes one) it gives an item at a time ([`each_listed`]).
//! A differential test holds it to the full parser on the corpus written as
//! JSON, the fixtures, the fuzz corpus and mutated JSON texts.

use super::Limits;
use super::aliases::Aliases;
use super::events::{Document, Piece};
use super::lines::plain_characters;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Gives the one document of `text` to `take`, if `text` is one JSON object
/// or array read here; `None` when it is not, or `take` said stop.
#[cfg(test)]
pub(super) fn each(text: &str, limits: &Limits, take: &mut dyn FnMut(Document) -> bool) -> Option<Aliases> {
    read(text, limits, false, &mut |piece| match piece {
        Piece::Document(doc) => take(doc),
        // Not asked for.
        Piece::Item(..) => false,
    })
    .map(|()| Aliases::default())
}

/// [`each`], giving the items of a top-level object's `items` array one at
/// a time ([`Piece::Item`]), as `kubectl get -o json` writes a `List`.
pub(super) fn each_listed(text: &str, limits: &Limits, take: &mut dyn FnMut(Piece) -> bool) -> Option<Aliases> {
    read(text, limits, true, take).map(|()| Aliases::default())
}

/// [`each_listed`], and whether items are given one at a time (`lists`).
fn read(text: &str, limits: &Limits, lists: bool, take: &mut dyn FnMut(Piece) -> bool) -> Option<()> {
    let start = text.find(|c: char| !matches!(c, ' ' | '\n' | '\r'))?;
    if !text[start..].starts_with(['{', '[']) || text.len() as u64 >= limits.max_file_bytes {
        return None;
    }
    // Before anything is given, as what is given cannot be taken back.
    if text.contains('\t') || !plain_characters(text) {
        return None;
    }
    let line = 1 + text[..start].bytes().filter(|&b| b == b'\n').count();
    let mut json = serde_json::Deserializer::from_str(text);
    // serde_json's own nesting limit is 128; this one is checked as the YAML paths check it.
    let node = Node { depth: 1, max_depth: limits.max_depth };
    let value = if lists && text[start..].starts_with('{') {
        Listing { node, line, root: true, take: &mut *take }.deserialize(&mut json).ok()?
    } else {
        node.deserialize(&mut json).ok()?
    };
    json.end().ok()?;
    take(Piece::Document(Document { value, line })).then_some(())
}

/// A text's top-level object (`root`), read as [`Node`] reads one but for
/// its `items` array, whose items go to `take` one at a time as they are
/// read, and which then reads as empty. Any other `items` value leaves the
/// text to the YAML paths (no manifest has one).
struct Listing<'t> {
    node: Node,
    line: usize,
    root: bool,
    take: &'t mut dyn FnMut(Piece) -> bool,
}

impl<'de> DeserializeSeed<'de> for Listing<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.root { deserializer.deserialize_map(self) } else { deserializer.deserialize_seq(self) }
    }
}

impl<'de> Visitor<'de> for Listing<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.root { "a JSON object" } else { "a JSON array" })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let value = self.node.open()?;
        let mut map = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            let value = if key == "items" {
                let items = Listing { node: value, line: self.line, root: false, take: &mut *self.take };
                entries.next_value_seed(items)?
            } else {
                entries.next_value_seed(value)?
            };
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("a duplicate key"));
            }
        }
        Ok(Value::Object(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let item = self.node.open()?;
        while let Some(value) = seq.next_element_seed(item)? {
            if !(self.take)(Piece::Item(value, self.line)) {
                return Err(de::Error::custom("the taker said stop"));
            }
        }
        Ok(Value::Array(Vec::new()))
    }
}

/// A JSON value at nesting `depth`, read into a [`Value`].
#[derive(Clone, Copy)]
struct Node {
    depth: usize,
    max_depth: usize,
}

impl Node {
    /// A collection's value, or an error when it nests too deep here.
    fn open<E: de::Error>(self) -> Result<Node, E> {
        if self.depth + 2 >= self.max_depth {
            return Err(E::custom("nested near the depth limit"));
        }
        Ok(Node { depth: self.depth + 1, ..self })
    }
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Err(E::custom("a fraction or exponent: left to the YAML paths"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let item = self.open()?;
        let mut items = Vec::new();
        while let Some(value) = seq.next_element_seed(item)? {
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let value = self.open()?;
        let mut map = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            let value = entries.next_value_seed(value)?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("a duplicate key"));
            }
        }
        Ok(Value::Object(map))
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

    /// This module agrees with the full parser, or leaves the text to it.
    fn agree(text: &str, limits: &Limits) -> bool {
        testdata::agree("the JSON reader", read(text, limits), text, limits)
    }

    /// The corpus as `kubectl get -o json` and jsonnet write it: a `List`, pretty and compact.
    fn corpus_as_json() -> Vec<String> {
        let limits = Limits::default();
        let mut out = Vec::new();
        for (_, text) in testdata::corpus() {
            let items: Vec<Value> = full(&text, &limits).unwrap().into_iter().map(|d| d.value).collect();
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            out.push(serde_json::to_string_pretty(&list).unwrap());
            out.push(format!("\n\n{}\r\n", serde_json::to_string(&list).unwrap()));
        }
        out
    }

    #[test]
    fn json_texts_are_read_here_and_agree() {
        let limits = Limits::default();
        for text in corpus_as_json() {
            // The corpus has no fractions: every document is read here.
            assert!(agree(&text, &limits), "left the JSON reader");
        }
        for text in testdata::fixtures(&["examples", "manifests", "tests"]) {
            agree(&text, &limits);
        }
        let limits = testdata::fuzz_limits();
        for text in testdata::fuzz_inputs() {
            agree(&text, &limits);
        }
    }

    /// Shapes read here, and near misses left to the YAML paths.
    #[test]
    fn shapes_agree() {
        let limits = Limits::default();
        for text in [
            "{}",
            "[]",
            "  {\"a\": [1, -2, 0, 9223372036854775807, 18446744073709551615, -9223372036854775808]}",
            "{\"s\": \"é \\u00e9 \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\", \"t\": true, \"f\": false, \"n\": null}",
            "{\"a\": {\"b\": [{\"c\": {}}]}, \"on\": \"yes\", \"0644\": 0, \"\": \"\"}",
            "\r\n{\"a\":1}\r\n",
        ] {
            assert!(agree(text, &limits), "left to the YAML paths: {text:?}");
        }
        for text in [
            "{\"a\": 1.5}",
            "{\"a\": -0}",
            "{\"a\": 1e3}",
            "{\"a\": 18446744073709551616}",
            "{\"a\": 1, \"a\": 2}",
            "{\"a\":\t1}",
            "{\"a\": \"\u{2028}\"}",
            "{\"a\": 1} {\"b\": 2}",
            "{\"a\": 1}\n---\n{\"b\": 2}",
            "{\"a\": 01}",
            "{a: 1}",
            "{\"a\": 1,}",
            "\"a\"",
            "# c\n{\"a\": 1}",
            "{\"a\": \"\\ud800\"}",
        ] {
            assert!(read(text, &limits).is_none(), "read here: {text:?}");
            let _ = full(text, &limits);
        }
        // Nesting near the depth limit is left to the parser, which rules on it.
        let limits = Limits { max_depth: 10, ..limits };
        assert!(agree(&format!("{}1{}", "[".repeat(7), "]".repeat(7)), &limits));
        assert!(read(&format!("{}1{}", "[".repeat(8), "]".repeat(8)), &limits).is_none());
    }

    /// JSON documents of the corpus changed at random places by what matters
    /// to either reader: wherever this module answers, the full parser gives
    /// the same.
    #[test]
    fn mutated_json_agrees() {
        let limits = Limits::default();
        let mut docs = Vec::new();
        for (_, text) in testdata::corpus() {
            for doc in full(&text, &limits).unwrap() {
                docs.push(serde_json::to_string_pretty(&doc.value).unwrap());
                docs.push(serde_json::to_string(&doc.value).unwrap());
            }
        }
        docs.retain(|d| d.len() < 3000);
        let pieces = [
            "\"",
            "\\",
            "\\u00",
            "\\u2028",
            ",",
            "}",
            "]",
            "{",
            "[",
            ":",
            " ",
            "\n",
            "1",
            "-0",
            "1.5",
            "e3",
            "0",
            "99999999999999999999",
            "true",
            "null",
            "#",
            "&a ",
            "*a",
            "!t ",
            "\t",
            "\u{85}",
            "é",
            "'",
            "\"\": 1,",
        ];
        let mut rng = testdata::Rng::new(0x2545_F491_4F6C_DD1D);
        let (mut read_here, mut all) = (0, 0);
        for _ in 0..5000 {
            let mut text = docs[rng.below(docs.len())].clone();
            for _ in 0..1 + rng.below(2) {
                rng.put_in(&mut text, &pieces);
            }
            all += 1;
            read_here += usize::from(agree(&text, &limits));
        }
        assert!(read_here > all / 10, "only {read_here} of {all} mutated texts were read here");
    }
}
