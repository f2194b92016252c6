//! What the fast parsers' differential tests share: their inputs (the
//! corpus, the fixtures, the fuzz corpus) and the comparison with the full
//! parser, which is the reference.

use super::Limits;
use super::events::{Document, Listed, Piece};
use super::parse::full_parse_for_test as full;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus: (file, text).
pub fn corpus() -> Vec<(&'static str, String)> {
    ["argocd-install/install.yaml", "online-boutique/kubernetes-manifests.yaml"]
        .into_iter()
        .map(|f| (f, std::fs::read_to_string(root().join("../shared/corpus").join(f)).unwrap()))
        .collect()
}

/// The corpus's documents (split at its `---` lines) of under 3,000 bytes,
/// which the mutation tests change at random places.
pub fn small_documents() -> Vec<String> {
    corpus()
        .iter()
        .flat_map(|(_, t)| t.split("\n---\n").map(str::to_string).collect::<Vec<_>>())
        .filter(|d| d.len() < 3000)
        .collect()
}

/// The text of every YAML or JSON file under these directories of the project.
pub fn fixtures(dirs: &[&str]) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    for dir in dirs {
        walk(&root().join(dir), &mut paths);
    }
    paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

/// The fuzz target's limits.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_file_bytes: 1 << 20,
        max_total_bytes: 1 << 20,
        max_depth: 64,
        max_documents: 1000,
        max_alias_events: 10_000,
    }
}

/// Every text input of the parser's fuzz corpus.
pub fn fuzz_inputs() -> Vec<String> {
    std::fs::read_dir(root().join("fuzz/corpus/parse_manifest"))
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.unwrap().path()).ok())
        .collect()
}

/// Whether a fast path (`what`) answered `fast` for `text`; where it did, it
/// must agree with the full parser: same values, same lines, and never an
/// answer where the full parser refuses.
pub fn agree(what: &str, fast: Option<Vec<Document>>, text: &str, limits: &Limits) -> bool {
    let Some(fast) = fast else { return false };
    match full(text, limits) {
        Ok(full) => {
            let fast: Vec<_> = fast.into_iter().map(|d| (d.value, d.line)).collect();
            let full: Vec<_> = full.into_iter().map(|d| (d.value, d.line)).collect();
            assert_eq!(fast, full, "{what} differs on:\n{text}");
            true
        }
        Err(e) => panic!("{what} accepted what the full parser refuses ({e}):\n{text}"),
    }
}

/// `each` reads `text` with a `List`'s items given one at a time as
/// `docs`, once they are put back where they were; or gives up.
pub fn listed_agree(each: Listed, text: &str, limits: &Limits, docs: Option<&Vec<Document>>) {
    let (mut listed, mut items) = (Vec::new(), Vec::new());
    let given = each(text, limits, &mut |piece| {
        match piece {
            Piece::Item(item, _) => items.push(item),
            Piece::Document(mut doc) => {
                if !items.is_empty() {
                    let items = serde_json::Value::Array(std::mem::take(&mut items));
                    doc.value.as_object_mut().unwrap().insert("items".into(), items);
                }
                listed.push((doc.value, doc.line));
            }
        }
        true
    });
    if given.is_some() {
        let docs = docs.expect("read with items given one at a time, not without");
        let docs: Vec<_> = docs.iter().map(|d| (d.value.clone(), d.line)).collect();
        assert_eq!(listed, docs, "items given one at a time differ on:\n{text}");
    }
}

/// How many random cases a differential test tries: `base`, times
/// `REWIND_TEST_SCALE` where it is set (a release run with a scale of 100
/// hunts further than CI has time for).
pub fn rounds(base: usize) -> usize {
    base * std::env::var("REWIND_TEST_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// Random numbers for the differential tests: xorshift, so that a run repeats.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    /// A random place in `text` where a string may be inserted.
    pub fn boundary(&mut self, text: &str) -> usize {
        text.floor_char_boundary(self.below(text.len() + 1))
    }

    /// One of `pieces` put in `text` at a random place.
    pub fn put_in(&mut self, text: &mut String, pieces: &[&str]) {
        let at = self.boundary(text);
        text.insert_str(at, pieces[self.below(pieces.len())]);
    }
}
