//! The conformance suite every `Store` backend must pass, unchanged: a
//! backend's test file says `store_conformance!(|| (store, guard));` and gets
//! one `#[test]` per check, each on a fresh, empty store (`guard` keeps what
//! the store needs alive: a directory, a server).
#![allow(dead_code)]

use rewind::Error;
use rewind::history::{History, NewRelease, Recorded, codec};
use rewind::release::{AppKey, Release, SourceInfo, Status, Trigger};
use rewind::rollback::{Request, Target, rollback};
use rewind::store::Store;
use std::sync::Arc;

/// One `#[test]` per check, each on a fresh store from `$make`, a closure
/// returning `(Arc<dyn Store>, guard)`.
macro_rules! store_conformance {
    ($make:expr) => {
        store_conformance!(@checks $make;
            unknown_app_is_empty, create_get_round_trip, create_is_create_if_absent, status_updates, record_updates,
            delete_and_not_found, record_dedupes_and_numbers, prune_keeps_newest_deployed, rollback_copies_bytes,
            apps_are_isolated, concurrent_writers, large_release);
    };
    (@checks $make:expr; $($check:ident),*) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    let (store, _guard) = ($make)();
                    crate::store_conformance::$check(store);
                }
            )*
        }
    };
}

fn k(app: &str) -> AppKey {
    AppKey::new(app).unwrap()
}

fn put(store: &dyn Store, release: &Release) -> rewind::Result<()> {
    store.create(&codec::seal(release))
}

fn get(store: &dyn Store, app: &str, revision: u64) -> rewind::Result<Release> {
    History::new(store).get(&k(app), revision)
}

fn record(store: &dyn Store, new: NewRelease, history_max: usize) -> rewind::Result<Recorded> {
    History::new(store).record(&new, history_max)
}

fn mark(store: &dyn Store, app: &str, revision: u64, status: Status) -> rewind::Result<()> {
    History::new(store).mark(&k(app), revision, status)
}

fn list(store: &dyn Store, app: &str) -> Vec<rewind::release::ReleaseMeta> {
    store.list(&k(app)).unwrap()
}

fn manifest(i: usize) -> Vec<u8> {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  i: \"{i}\"\n").into_bytes()
}

fn new_release(app: &str, i: usize) -> NewRelease {
    NewRelease {
        app: k(app),
        manifest: manifest(i),
        source: SourceInfo::default(),
        rollback_of: None,
        description: format!("r{i}"),
        class: None,
        evidence: None,
    }
}

fn release(app: &str, revision: u64, bytes: &[u8]) -> Release {
    let source = SourceInfo { revision: Some("abc".into()), ..SourceInfo::default() };
    Release::pending(&k(app), revision, bytes.to_vec(), source, None, "test")
}

fn revisions(store: &dyn Store, app: &str) -> Vec<u64> {
    list(store, app).iter().map(|m| m.revision).collect()
}

pub fn unknown_app_is_empty(store: Arc<dyn Store>) {
    assert!(list(store.as_ref(), "nothing-here").is_empty());
    assert!(matches!(get(store.as_ref(), "nothing-here", 1), Err(Error::NotFound { .. })));
}

pub fn create_get_round_trip(store: Arc<dyn Store>) {
    let r = release("app", 1, b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: aGk=}\n");
    put(store.as_ref(), &r).unwrap();
    // An encrypting store adds to the record how it encrypted; the rest comes back as written.
    let mut got = get(store.as_ref(), "app", 1).unwrap();
    let encryption = got.meta.encryption.take();
    assert_eq!(got, r);
    let mut listed = list(store.as_ref(), "app");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].encryption.take(), encryption, "get and list agree on the encryption");
    assert_eq!(listed, vec![r.meta.clone()]);
}

pub fn create_is_create_if_absent(store: Arc<dyn Store>) {
    let first = release("app", 1, b"first");
    put(store.as_ref(), &first).unwrap();
    assert!(matches!(
        put(store.as_ref(), &release("app", 1, b"second")),
        Err(Error::AlreadyExists { revision: 1, .. })
    ));
    assert_eq!(get(store.as_ref(), "app", 1).unwrap().manifest, b"first");
}

pub fn status_updates(store: Arc<dyn Store>) {
    put(store.as_ref(), &release("app", 1, b"m")).unwrap();
    store.set_status(&k("app"), 1, Status::Failed).unwrap();
    let got = get(store.as_ref(), "app", 1).unwrap();
    assert_eq!(got.meta.status, Status::Failed);
    assert_eq!(got.manifest, b"m", "a status update keeps the payload");
    assert!(matches!(store.set_status(&k("app"), 2, Status::Failed), Err(Error::NotFound { .. })));
}

pub fn record_updates(store: Arc<dyn Store>) {
    put(store.as_ref(), &release("app", 1, b"m")).unwrap();
    let note = |m: &rewind::release::ReleaseMeta| {
        Ok(Some(rewind::release::ReleaseMeta { description: "noted".into(), ..m.clone() }))
    };
    store.update_meta(&k("app"), 1, &note).unwrap();
    let got = get(store.as_ref(), "app", 1).unwrap();
    assert_eq!((got.meta.description.as_str(), &got.manifest[..]), ("noted", &b"m"[..]), "the payload is kept");
    // No change, no write; a change of identity is refused and leaves the record.
    store.update_meta(&k("app"), 1, &|_| Ok(None)).unwrap();
    let moved = |m: &rewind::release::ReleaseMeta| {
        Ok(Some(rewind::release::ReleaseMeta { digest: "sha256:0".into(), ..m.clone() }))
    };
    assert!(store.update_meta(&k("app"), 1, &moved).is_err());
    assert_eq!(get(store.as_ref(), "app", 1).unwrap().meta.description, "noted");
    // The change's own error comes back, and nothing is written.
    let refuse = |_: &rewind::release::ReleaseMeta| Err(Error::Config("no".into()));
    assert!(matches!(store.update_meta(&k("app"), 1, &refuse), Err(Error::Config(_))));
    assert!(matches!(store.update_meta(&k("app"), 2, &note), Err(Error::NotFound { .. })));
}

pub fn delete_and_not_found(store: Arc<dyn Store>) {
    put(store.as_ref(), &release("app", 1, b"m")).unwrap();
    store.delete(&k("app"), 1).unwrap();
    assert!(matches!(get(store.as_ref(), "app", 1), Err(Error::NotFound { .. })));
    assert!(matches!(store.delete(&k("app"), 1), Err(Error::NotFound { .. })));
    assert!(list(store.as_ref(), "app").is_empty());
}

pub fn record_dedupes_and_numbers(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert!(matches!(record(s, new_release("app", 1), 10).unwrap(), Recorded::Created(ref m) if m.revision == 1));
    assert!(matches!(record(s, new_release("app", 1), 10).unwrap(), Recorded::Unchanged(ref m) if m.revision == 1));
    assert!(matches!(record(s, new_release("app", 2), 10).unwrap(), Recorded::Created(ref m) if m.revision == 2));
    // Going back to an older manifest is a new deployment: a new revision.
    assert!(matches!(record(s, new_release("app", 1), 10).unwrap(), Recorded::Created(ref m) if m.revision == 3));
    assert_eq!(revisions(s, "app"), [1, 2, 3]);
}

pub fn prune_keeps_newest_deployed(store: Arc<dyn Store>) {
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
    let metas = list(s, "app");
    assert_eq!(metas[0].status, Status::Superseded);
    record(s, new_release("app", 8), 3).unwrap();
    assert_eq!(revisions(s, "app"), [6, 7, 8]);
}

fn request(target: Target) -> Request {
    Request::new(target, SourceInfo::default(), 10, Trigger::Manual)
}

pub fn rollback_copies_bytes(store: Arc<dyn Store>) {
    let s = store.as_ref();
    record(s, new_release("app", 1), 10).unwrap();
    record(s, new_release("app", 2), 10).unwrap();
    let h = History::new(s);
    let out = rollback(&h, &k("app"), &request(Target::Previous)).unwrap();
    assert_eq!(out.target.manifest, manifest(1));
    let Recorded::Created(meta) = out.recorded else { panic!("a rollback records a revision") };
    assert_eq!((meta.revision, meta.rollback_of), (3, Some(1)));
    assert_eq!(meta.evidence.as_ref().map(|e| e.trigger), Some(Trigger::Manual), "the record says what asked");
    assert_eq!(list(s, "app")[2].evidence, meta.evidence, "the store keeps the evidence");
    assert_eq!(get(s, "app", 3).unwrap().manifest, manifest(1));
    let again = rollback(&h, &k("app"), &request(Target::Previous)).unwrap();
    assert!(matches!(again.recorded, Recorded::Unchanged(ref m) if m.revision == 3));
    assert!(matches!(rollback(&h, &k("app"), &request(Target::LastGood)), Err(Error::PreviousRevisionUnavailable(_))));
    assert!(matches!(
        rollback(&h, &k("app"), &request(Target::Revision(9))),
        Err(Error::PreviousRevisionUnavailable(_))
    ));
}

pub fn apps_are_isolated(store: Arc<dyn Store>) {
    let s = store.as_ref();
    record(s, new_release("one", 1), 10).unwrap();
    record(s, new_release("two", 2), 10).unwrap();
    record(s, new_release("two", 3), 10).unwrap();
    assert_eq!(revisions(s, "one"), [1]);
    assert_eq!(revisions(s, "two"), [1, 2]);
    assert_eq!(get(s, "one", 1).unwrap().manifest, manifest(1));
}

pub fn concurrent_writers(store: Arc<dyn Store>) {
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
    let mut digests: Vec<String> = list(store.as_ref(), "busy").into_iter().map(|m| m.digest).collect();
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

pub fn large_release(store: Arc<dyn Store>) {
    let big = large_manifest();
    assert!(codec::compress(big.as_bytes()).len() > 2 * 1024 * 1024, "the payload must not fit one Secret");
    let r = release("big", 1, big.as_bytes());
    put(store.as_ref(), &r).unwrap();
    assert_eq!(get(store.as_ref(), "big", 1).unwrap().manifest, big.as_bytes());
}
