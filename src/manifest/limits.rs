//! Bounds on what rewind accepts as input, so a hostile repository cannot
//! exhaust the repo-server's memory or time. Every limit has a flag to raise it.

/// Input limits applied while reading sources and parsing YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single source file (or stdin stream), in bytes.
    pub max_file_bytes: u64,
    /// Largest sum of all source files, in bytes.
    pub max_total_bytes: u64,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most YAML documents in one file or stream.
    pub max_documents: usize,
    /// Most events that alias expansion may replay in one stream (alias bombs).
    pub max_alias_events: usize,
}

impl Limits {
    /// These limits without the byte limits: for manifests rewind stored
    /// itself, which were bounded when they were rendered.
    pub fn any_size(self) -> Limits {
        Limits { max_file_bytes: u64::MAX, max_total_bytes: u64::MAX, ..self }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 32 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024,
            max_depth: 100,
            max_documents: 20_000,
            max_alias_events: 100_000,
        }
    }
}
