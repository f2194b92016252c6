//! Any bytes: parsing never panics, stays within its limits, and whatever it
//! accepts emits YAML that parses back to the same objects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewind::manifest::{Limits, decode_utf8, parse_stream, to_yaml};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_file_bytes: 1 << 20, max_total_bytes: 1 << 20, max_depth: 64, max_documents: 1000, max_alias_events: 10_000 };
    let Ok(text) = decode_utf8(data, "fuzz") else { return };
    let Ok(objects) = parse_stream(text, "fuzz", &limits) else { return };
    let yaml = to_yaml(&objects).expect("accepted objects emit");
    let again = parse_stream(&yaml, "fuzz", &limits).expect("emitted YAML parses");
    assert_eq!(objects.len(), again.len());
    for (a, b) in objects.iter().zip(&again) {
        assert_eq!(a.body, b.body, "emit/parse round trip changed an object");
    }
});
