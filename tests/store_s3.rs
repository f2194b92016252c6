//! The S3 store passes the shared conformance suite, unchanged, against
//! moto_server behind the test front; the same suite runs on it with
//! envelope encryption on.

mod common;
#[macro_use]
mod store_conformance;

use common::s3::S3Server;
use rewind::store::{Envelope, Keyring, S3Settings, S3Store, Store, StoreOptions};
use std::sync::{Arc, Once};

/// The process's AWS credentials, set once before any store reads them.
fn credentials() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        for (k, v) in S3Server::shared().env() {
            if k.starts_with("AWS_") {
                // SAFETY: set once, before any store of this process reads the environment.
                unsafe { std::env::set_var(k, v) };
            }
        }
    });
}

fn options() -> StoreOptions {
    let server = S3Server::shared();
    let s3 = S3Settings {
        endpoint: Some(server.endpoint.clone()),
        path_style: true,
        allow_http: true,
        ..S3Settings::default()
    };
    StoreOptions { s3, ..StoreOptions::default() }
}

fn open() -> S3Store {
    credentials();
    let url = S3Server::shared().fresh_url();
    S3Store::open(url.strip_prefix("s3://").unwrap(), &options()).unwrap()
}

store_conformance!(|| (Arc::new(open()) as Arc<dyn Store>, ()));

mod encrypted {
    use super::*;
    store_conformance!(|| {
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let keys =
            Keyring::parse(&format!("keys: [{{id: k1, key: {key}}}]"), std::path::Path::new("keys.yaml")).unwrap();
        (Arc::new(Envelope::new(Box::new(open()), Some(Arc::new(keys)))) as Arc<dyn Store>, ())
    });
}
