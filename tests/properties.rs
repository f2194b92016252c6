//! Properties, checked on generated inputs: rendering is deterministic and a
//! fixed point, hashing does not depend on key or document order, a rollback
//! prints exactly the stored manifest, and an unchanged manifest costs one
//! store read and no write.

use proptest::prelude::*;
use rewind::hash::{HashMode, HashOptions, apply};
use rewind::history::{History, NewRelease, Recorded};
use rewind::manifest::{Limits, Object, parse_stream, to_yaml};
use rewind::release::{AppKey, SourceInfo, StoredRelease, Trigger};
use rewind::rollback::{Request, Target, rollback};
use rewind::store::{FileStore, Listing, MetaChange, Store};
use std::sync::atomic::{AtomicUsize, Ordering};

fn value() -> impl Strategy<Value = String> {
    // Values YAML readers like to reinterpret, and plain text.
    prop_oneof![
        Just("on".to_string()),
        Just("y".to_string()),
        Just("1_000".to_string()),
        Just("0755".to_string()),
        Just("null".to_string()),
        Just("".to_string()),
        "[ -~]{0,20}",
        "[a-zé日<>&\n\t ]{0,12}",
    ]
}

fn data() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map("[a-zA-Z0-9_.-]{1,8}", value(), 1..6).prop_map(|m| m.into_iter().collect())
}

fn manifest(cm: &[(String, String)], secret: &[(String, String)], reversed: bool) -> String {
    let map = |kv: &[(String, String)]| {
        let mut kv: Vec<&(String, String)> = kv.iter().collect();
        if reversed {
            kv.reverse();
        }
        let entries: Vec<String> =
            kv.iter().map(|(k, v)| format!("{}: {}", serde_json::json!(k), serde_json::json!(v))).collect();
        format!("{{{}}}", entries.join(", "))
    };
    let mut docs = [
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg}}\ndata: {}\n", map(cm)),
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: sec}}\nstringData: {}\n", map(secret)),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: c, envFrom: [{configMapRef: {name: cfg}}]}]}}}\n".to_string(),
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {template: {spec: {volumes: [{name: s, secret: {secretName: sec}}]}}}\n".to_string(),
    ];
    if reversed {
        docs.reverse();
    }
    docs.join("---\n")
}

fn hashed(src: &str) -> Vec<Object> {
    let mut objects = parse_stream(src, "p", &Limits::default()).unwrap();
    apply(
        &mut objects,
        &HashOptions { mode: HashMode::Annotation, default_namespace: "ns".into(), keep_versions: 0 },
        &[],
    )
    .unwrap();
    objects
}

fn hash_of(objects: &[Object], kind: &str) -> String {
    let o = objects.iter().find(|o| o.kind() == kind).unwrap();
    o.body["spec"]["template"]["metadata"]["annotations"]["rewind.dev/config-hash"].as_str().unwrap().to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn render_is_deterministic_and_a_fixed_point(cm in data(), secret in data()) {
        let src = manifest(&cm, &secret, false);
        let once = to_yaml(&hashed(&src)).unwrap();
        prop_assert_eq!(&once, &to_yaml(&hashed(&src)).unwrap());
        // Rendering rewind's own output again changes nothing.
        prop_assert_eq!(&once, &to_yaml(&hashed(&once)).unwrap());
        // Values survive the round trip as the same strings.
        let again = parse_stream(&once, "p", &Limits::default()).unwrap();
        for (k, v) in &cm {
            prop_assert_eq!(again[0].body["data"][k.as_str()].as_str(), Some(v.as_str()));
        }
    }

    #[test]
    fn hashing_ignores_key_and_document_order(cm in data(), secret in data()) {
        let a = hashed(&manifest(&cm, &secret, false));
        let b = hashed(&manifest(&cm, &secret, true));
        prop_assert_eq!(hash_of(&a, "Deployment"), hash_of(&b, "Deployment"));
        prop_assert_eq!(hash_of(&a, "StatefulSet"), hash_of(&b, "StatefulSet"));
    }

    #[test]
    fn rollback_prints_the_stored_manifest(versions in proptest::collection::vec(data(), 2..5), pick in 0usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let p = AppKey::new("p").unwrap();
        let mut printed = Vec::new();
        for (i, cm) in versions.iter().enumerate() {
            let bytes = to_yaml(&hashed(&manifest(cm, &[("k".into(), i.to_string())], false))).unwrap().into_bytes();
            let new = NewRelease { app: p.clone(), manifest: bytes.clone(), source: SourceInfo::default(), rollback_of: None, description: String::new(), class: None, evidence: None };
            if let Recorded::Created(m) = History::new(&store).record(&new, 10).unwrap() {
                printed.push((m.revision, bytes));
            }
        }
        let (rev, bytes) = &printed[pick % printed.len()];
        let history = History::new(&store);
        let request = Request::new(Target::Revision(*rev), SourceInfo::default(), 10, Trigger::Manual);
        let out = rollback(&history, &p, &request).unwrap();
        prop_assert_eq!(&out.target.manifest, bytes);
        prop_assert_eq!(&out.printed, bytes);
        let latest = store.list(&p).unwrap().last().unwrap().revision;
        prop_assert_eq!(&history.get(&p, latest).unwrap().manifest, bytes);
    }
}

/// Counts what a store is asked to do.
struct Counting {
    inner: FileStore,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl Store for Counting {
    fn url(&self) -> String {
        self.inner.url()
    }
    fn scan(&self, app: &AppKey) -> rewind::Result<Listing> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.scan(app)
    }
    fn get(&self, app: &AppKey, revision: u64) -> rewind::Result<StoredRelease> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(app, revision)
    }
    fn create(&self, release: &StoredRelease) -> rewind::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.create(release)
    }
    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> rewind::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.update_meta(app, revision, change)
    }
    fn delete(&self, app: &AppKey, revision: u64) -> rewind::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(app, revision)
    }
}

#[test]
fn unchanged_manifest_costs_one_store_read_and_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Counting { inner: FileStore::new(dir.path()), reads: AtomicUsize::new(0), writes: AtomicUsize::new(0) };
    let new = || NewRelease {
        app: AppKey::new("same").unwrap(),
        manifest: b"kind: X\n".to_vec(),
        source: SourceInfo::default(),
        rollback_of: None,
        description: String::new(),
        class: None,
        evidence: None,
    };
    let history = History::new(&store);
    history.record(&new(), 10).unwrap();
    let (reads, writes) = (store.reads.load(Ordering::SeqCst), store.writes.load(Ordering::SeqCst));
    assert!(matches!(history.record(&new(), 10).unwrap(), Recorded::Unchanged(_)));
    assert_eq!(store.reads.load(Ordering::SeqCst) - reads, 1, "one store read");
    assert_eq!(store.writes.load(Ordering::SeqCst) - writes, 0, "no write");
}
