//! The file store passes the shared conformance suite, plus file-specific checks.

mod store_conformance;

use rewind::store::{FileStore, Store};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

#[test]
fn file_store_conformance() {
    let tmp = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    store_conformance::run_all(&|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::new(FileStore::new(tmp.path().join(format!("s{n}")))) as Arc<dyn Store>
    });
}

#[test]
fn files_are_private_and_no_temp_files_remain() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::new(tmp.path().join("s"));
    let new = rewind::release::NewRelease {
        app: "a".into(),
        manifest: b"apiVersion: v1\nkind: Secret\n".to_vec(),
        source: Default::default(),
        rollback_of: None,
        description: String::new(),
    };
    rewind::release::record(&store, new, 10).unwrap();
    store.set_status("a", 1, rewind::release::Status::Deployed).unwrap();
    for entry in std::fs::read_dir(tmp.path().join("s/a")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        assert!(!name.starts_with(".tmp"), "temp file left behind: {name}");
        assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{name}");
    }
}

#[test]
fn app_names_cannot_escape_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::new(tmp.path().join("s"));
    for bad in ["../x", "a/b", ".hidden", ""] {
        assert!(store.list(bad).is_err(), "{bad:?} accepted");
    }
}
