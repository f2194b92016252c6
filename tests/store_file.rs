//! The file store passes the shared conformance suite, plus file-specific checks.

#[macro_use]
mod store_conformance;

use rewind::history::History;
use rewind::release::AppKey;
use rewind::store::{FileStore, Store};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

store_conformance!(|| {
    let tmp = tempfile::tempdir().unwrap();
    (Arc::new(FileStore::new(tmp.path().join("store"))) as Arc<dyn Store>, tmp)
});

#[test]
fn files_are_private_and_no_temp_files_remain() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::new(tmp.path().join("s"));
    let new = rewind::history::NewRelease {
        app: AppKey::new("a").unwrap(),
        manifest: b"apiVersion: v1\nkind: Secret\n".to_vec(),
        source: Default::default(),
        rollback_of: None,
        description: String::new(),
        class: None,
        evidence: None,
    };
    History::new(&store).record(&new, 10).unwrap();
    store.set_status(&AppKey::new("a").unwrap(), 1, rewind::release::Status::Deployed).unwrap();
    for entry in std::fs::read_dir(tmp.path().join("s/a")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        assert!(!name.starts_with(".tmp"), "temp file left behind: {name}");
        assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{name}");
    }
}

/// App names reach the store only as `AppKey`s, which cannot name a path out of it.
#[test]
fn app_names_cannot_escape_the_store() {
    for bad in ["../x", "a/b", ".hidden", ""] {
        assert!(AppKey::new(bad).is_err(), "{bad:?} accepted");
    }
}
