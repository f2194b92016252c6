//! The in-memory store passes the shared conformance suite too.

#[macro_use]
mod store_conformance;

use rewind::store::{MemoryStore, Store};
use std::sync::Arc;

store_conformance!(|| (Arc::new(MemoryStore::new()) as Arc<dyn Store>, ()));
