//! Where prepared objects keep their YAML until the stream takes it.
//!
//! A document of up to 64 KiB is appended to a 1 MiB block that its thread
//! fills, shared by the objects in it; a larger one has its own allocation.
//! A block is large enough for the allocator to map it on its own pages (the
//! binary fixes glibc's threshold at its size, see `heap`), so it goes back
//! to the system as a whole once the stream has taken its last document: the
//! documents and the stream are not both held in full. Small documents in
//! allocations of their own would sit between the objects' metadata, and
//! their memory would stay with the process after they are freed.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes of one block.
pub(super) const BLOCK_BYTES: usize = 1 << 20;
/// Larger documents get an allocation of their own.
const SHARED_MAX_BYTES: usize = 64 << 10;

type Block = Arc<Mutex<String>>;

thread_local! {
    /// The block this thread is filling.
    static FILLING: RefCell<Option<Block>> = const { RefCell::new(None) };
}

/// One YAML document.
#[derive(Debug)]
pub(super) enum Text {
    Own(String),
    Shared(Block, Range<usize>),
}

fn lock(block: &Block) -> MutexGuard<'_, String> {
    // A block is only appended to and patched in place: it stays whole.
    block.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Text {
    /// Keeps `doc`, in this thread's block if it is small.
    pub(super) fn new(doc: String) -> Text {
        if doc.len() > SHARED_MAX_BYTES {
            let mut doc = doc;
            doc.shrink_to_fit();
            return Text::Own(doc);
        }
        FILLING.with(|filling| {
            let mut filling = filling.borrow_mut();
            let block = match filling.as_ref() {
                Some(block) if lock(block).len() + doc.len() <= BLOCK_BYTES => block.clone(),
                _ => {
                    // Never grown past this: its documents' places stay valid and it is never copied.
                    let block = Arc::new(Mutex::new(String::with_capacity(BLOCK_BYTES)));
                    *filling = Some(block.clone());
                    block
                }
            };
            let mut text = lock(&block);
            let start = text.len();
            text.push_str(&doc);
            let end = text.len();
            drop(text);
            Text::Shared(block, start..end)
        })
    }

    /// Calls `f` with the document.
    pub(super) fn with<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Text::Own(doc) => f(doc),
            Text::Shared(block, range) => f(&lock(block)[range.clone()]),
        }
    }

    /// The document's length in bytes.
    pub(super) fn len(&self) -> usize {
        match self {
            Text::Own(doc) => doc.len(),
            Text::Shared(_, range) => range.len(),
        }
    }

    /// Replaces `at` (a range of the document) by `with`, of the same length.
    pub(super) fn patch(&mut self, at: Range<usize>, with: &str) {
        assert_eq!(at.len(), with.len(), "a patch keeps the document's length");
        match self {
            Text::Own(doc) => doc.replace_range(at, with),
            Text::Shared(block, range) => {
                lock(block).replace_range(range.start + at.start..range.start + at.end, with);
            }
        }
    }
}

impl Clone for Text {
    /// A copy of its own, so patching one never changes the other.
    fn clone(&self) -> Text {
        Text::Own(self.with(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_share_blocks_and_patch_in_place() {
        let docs: Vec<String> =
            (0..3000).map(|i| format!("kind: K\nmetadata:\n  name: n{i}\n{}\n", "x".repeat(i % 700))).collect();
        let mut texts: Vec<Text> = docs.iter().cloned().map(Text::new).collect();
        let big = "y".repeat(SHARED_MAX_BYTES + 1);
        texts.push(Text::new(big.clone()));
        assert!(matches!(texts.last(), Some(Text::Own(_))));
        let blocks: std::collections::HashSet<*const Mutex<String>> = texts
            .iter()
            .filter_map(|t| match t {
                Text::Shared(block, _) => Some(Arc::as_ptr(block)),
                Text::Own(_) => None,
            })
            .collect();
        assert!(blocks.len() > 1, "1 MiB blocks: {}", blocks.len());
        for (text, doc) in texts.iter().zip(docs.iter().chain([&big])) {
            assert!(text.with(|t| t == doc));
        }
        let copy = texts[7].clone();
        texts[7].patch(8..16, "METADATA");
        texts[7].patch(8..16, "metadata");
        texts[8].patch(0..7, "kind: Z");
        assert!(texts[7].with(|t| t == docs[7]) && copy.with(|t| t == docs[7]));
        assert!(texts[8].with(|t| t.starts_with("kind: Z\nmetadata:\n  name: n8\n")));
        assert!(texts[9].with(|t| t == docs[9]), "neighbours are untouched");
    }
}
