//! The conformance suite every `Store` backend must pass, unchanged.
//! A backend's test calls [`run_all`] with a factory for fresh, empty stores.

use rewind::Error;
use rewind::release::{NewRelease, Recorded, Release, SourceInfo, Status, mark, record};
use rewind::rollback::{Target, rollback};
use rewind::store::Store;
use std::sync::Arc;

/// Makes a fresh, empty store.
pub type Factory<'a> = &'a dyn Fn() -> Arc<dyn Store>;

type Check = fn(Arc<dyn Store>);

/// Runs every check against fresh stores from `make`.
pub fn run_all(make: Factory) {
    let checks: [(&str, Check); 11] = [
        ("unknown app has no releases", unknown_app_is_empty),
        ("create/get round-trips bytes", create_get_round_trip),
        ("create never replaces", create_is_create_if_absent),
        ("status updates persist", status_updates),
        ("delete and not-found", delete_and_not_found),
        ("record dedupes and numbers", record_dedupes_and_numbers),
        ("prune keeps newest deployed", prune_keeps_newest_deployed),
        ("rollback is byte-identical and idempotent", rollback_copies_bytes),
        ("apps are isolated", apps_are_isolated),
        ("concurrent writers", concurrent_writers),
        ("large release round-trips", large_release),
    ];
    for (name, check) in checks {
        eprintln!("conformance: {name}");
        check(make());
    }
}

fn manifest(i: usize) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  i: \"{i}\"\n").into_bytes()
}

fn new_release(app: &str, i: usize) -> NewRelease {
    NewRelease {
        app: app.into(),
        manifest: manifest(i),
        source: SourceInfo::default(),
        rollback_of: None,
        description: format!("r{i}"),
    }
}

fn release(app: &str, revision: u64, bytes: &[u8]) -> Release {
    let source = SourceInfo { revision: Some("abc".into()), ..SourceInfo::default() };
    Release::pending(app, revision, bytes.to_vec(), source, None, "test")
}

fn revisions(store: &dyn Store, app: &str) -> Vec<u64> {
    store.list(app).unwrap().iter().map(|m| m.revision).collect()
}

fn unknown_app_is_empty(store: Arc<dyn Store>) {
    assert!(store.list("nothing-here").unwrap().is_empty());
    assert!(matches!(store.get("nothing-here", 1), Err(Error::NotFound { .. })));
}

fn create_get_round_trip(store: Arc<dyn Store>) {
    let r = release("app", 1, b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: aGk=}\n");
    store.create(&r).unwrap();
    assert_eq!(store.get("app", 1).unwrap(), r);
    assert_eq!(store.list("app").unwrap(), vec![r.meta.clone()]);
}

fn create_is_create_if_absent(store: Arc<dyn Store>) {
    let first = release("app", 1, b"first");
    store.create(&first).unwrap();
    assert!(matches!(store.create(&release("app", 1, b"second")), Err(Error::AlreadyExists { revision: 1, .. })));
    assert_eq!(store.get("app", 1).unwrap().manifest, b"first");
}

fn status_updates(store: Arc<dyn Store>) {
    store.create(&release("app", 1, b"m")).unwrap();
    store.set_status("app", 1, Status::Failed).unwrap();
    let got = store.get("app", 1).unwrap();
    assert_eq!(got.meta.status, Status::Failed);
    assert_eq!(got.manifest, b"m", "a status update keeps the payload");
    assert!(matches!(store.set_status("app", 2, Status::Failed), Err(Error::NotFound { .. })));
}

fn delete_and_not_found(store: Arc<dyn Store>) {
    store.create(&release("app", 1, b"m")).unwrap();
    store.delete("app", 1).unwrap();
    assert!(matches!(store.get("app", 1), Err(Error::NotFound { .. })));
    assert!(matches!(store.delete("app", 1), Err(Error::NotFound { .. })));
    assert!(store.list("app").unwrap().is_empty());
}

fn record_dedupes_and_numbers(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert!(matches!(record(s, new_release("app", 1), 10).unwrap(), Recorded::Created(ref m) if m.revision == 1));
    assert!(matches!(record(s, new_release("app", 1), 10).unwrap(), Recorded::Unchanged(ref m) if m.revision == 1));
    assert!(matches!(record(s, new_release("app", 2), 10).unwrap(), Recorded::Created(ref m) if m.revision == 2));
    // Going back to an older manifest is a new deployment: a new revision.
    assert!(matches!(record(s, new_release("app", 1), 10).unwrap(), Recorded::Created(ref m) if m.revision == 3));
    assert_eq!(revisions(s, "app"), [1, 2, 3]);
}

fn prune_keeps_newest_deployed(store: Arc<dyn Store>) {
    let s = store.as_ref();
    for i in 1..=3 {
        record(s, new_release("app", i), 3).unwrap();
    }
    mark(s, "app", 2, Status::Deployed).unwrap();
    for i in 4..=7 {
        record(s, new_release("app", i), 3).unwrap();
    }
    assert_eq!(revisions(s, "app"), [2, 5, 6, 7]);
    mark(s, "app", 6, Status::Deployed).unwrap();
    let metas = s.list("app").unwrap();
    assert_eq!(metas[0].status, Status::Superseded);
    record(s, new_release("app", 8), 3).unwrap();
    assert_eq!(revisions(s, "app"), [6, 7, 8]);
}

fn rollback_copies_bytes(store: Arc<dyn Store>) {
    let s = store.as_ref();
    record(s, new_release("app", 1), 10).unwrap();
    record(s, new_release("app", 2), 10).unwrap();
    let out = rollback(s, "app", Target::Previous, SourceInfo::default(), 10).unwrap();
    assert_eq!(out.target.manifest, manifest(1));
    let Recorded::Created(meta) = out.recorded else { panic!("a rollback records a revision") };
    assert_eq!((meta.revision, meta.rollback_of), (3, Some(1)));
    assert_eq!(s.get("app", 3).unwrap().manifest, manifest(1));
    let again = rollback(s, "app", Target::Previous, SourceInfo::default(), 10).unwrap();
    assert!(matches!(again.recorded, Recorded::Unchanged(ref m) if m.revision == 3));
    assert!(matches!(
        rollback(s, "app", Target::LastGood, SourceInfo::default(), 10),
        Err(Error::PreviousRevisionUnavailable(_))
    ));
    assert!(matches!(
        rollback(s, "app", Target::Revision(9), SourceInfo::default(), 10),
        Err(Error::PreviousRevisionUnavailable(_))
    ));
}

fn apps_are_isolated(store: Arc<dyn Store>) {
    let s = store.as_ref();
    record(s, new_release("one", 1), 10).unwrap();
    record(s, new_release("two", 2), 10).unwrap();
    record(s, new_release("two", 3), 10).unwrap();
    assert_eq!(revisions(s, "one"), [1]);
    assert_eq!(revisions(s, "two"), [1, 2]);
    assert_eq!(s.get("one", 1).unwrap().manifest, manifest(1));
}

fn concurrent_writers(store: Arc<dyn Store>) {
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                record(store.as_ref(), new_release("busy", i), 100).unwrap();
                record(store.as_ref(), new_release("same", 0), 100).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(revisions(store.as_ref(), "busy"), (1..=8).collect::<Vec<_>>());
    let mut digests: Vec<String> = store.list("busy").unwrap().into_iter().map(|m| m.digest).collect();
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), 8);
    assert_eq!(revisions(store.as_ref(), "same"), [1]);
}

/// About 6 MB of YAML (kube-prometheus-sized) whose Secret data is random, so
/// it stays several MB compressed: more than one Kubernetes Secret holds.
pub fn large_manifest() -> String {
    let mut big = String::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut i = 0;
    while big.len() < 6 * 1024 * 1024 {
        let mut blob = String::with_capacity(8192);
        for _ in 0..512 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            blob.push_str(&format!("{x:016x}"));
        }
        big.push_str(&format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\nstringData:\n  blob: \"{blob}\"\n"
        ));
        i += 1;
    }
    big
}

fn large_release(store: Arc<dyn Store>) {
    let big = large_manifest();
    assert!(rewind::release::compress(big.as_bytes()).len() > 2 * 1024 * 1024, "the payload must not fit one Secret");
    let r = release("big", 1, big.as_bytes());
    store.create(&r).unwrap();
    assert_eq!(store.get("big", 1).unwrap().manifest, big.as_bytes());
}
