//! Manifests: parse a YAML/JSON stream into [`Object`]s and emit them again.
//! Limits against hostile input live here because this is where bytes become data.

mod aliases;
mod emit;
mod events;
mod heap;
mod json;
mod limits;
mod lines;
mod object;
mod parse;
mod quoting;
mod scan;
#[cfg(test)]
mod testdata;
mod text;
mod workers;
mod writer;

pub use emit::{emit_document, take_yaml, to_json_list, to_yaml};
pub use heap::{give_back, use_huge_pages};
pub use limits::Limits;
pub use object::{Object, Origin};
pub use parse::{Finish, MAX_NAME_LEN, decode_utf8, parse_stream, parse_stream_with, read_own};
pub use workers::{run_parts, threads};
