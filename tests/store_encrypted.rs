//! Envelope encryption over every backend: the conformance suite unchanged
//! on encrypted memory, file and Kubernetes stores; then what must fail
//! clearly (no key, wrong key, a flipped byte, payloads swapped between
//! releases) and rotation with `rekey`.

mod common;
#[macro_use]
mod store_conformance;

use common::apiserver::ApiServer;
use rewind::Error;
use rewind::history::{History, NewRelease};
use rewind::release::{AppKey, StoredRelease};
use rewind::store::{Envelope, FileStore, Keyring, KubernetesStore, MemoryStore, Store};
use std::path::Path;
use std::sync::Arc;

/// Base64 of 32 random bytes, as `head -c 32 /dev/urandom | base64` makes.
fn random_key() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn keyring(keys: &[(&str, &str)]) -> Arc<Keyring> {
    let list: Vec<String> = keys.iter().map(|(id, key)| format!("  - {{id: {id}, key: {key}}}\n")).collect();
    Arc::new(Keyring::parse(&format!("keys:\n{}", list.concat()), Path::new("/etc/rewind/keys.yaml")).unwrap())
}

fn encrypted(inner: Box<dyn Store>) -> Arc<dyn Store> {
    Arc::new(Envelope::new(inner, Some(keyring(&[("k1", &random_key())]))))
}

mod memory {
    use super::*;
    store_conformance!(|| (encrypted(Box::new(MemoryStore::new())), ()));
}

mod file {
    use super::*;
    store_conformance!(|| {
        let tmp = tempfile::tempdir().unwrap();
        (encrypted(Box::new(FileStore::new(tmp.path().join("store")))), tmp)
    });
}

mod kubernetes {
    use super::*;
    store_conformance!(|| {
        let server = ApiServer::start(&[]);
        let url = format!("conformance?kubeconfig={}", server.kubeconfig().display());
        (encrypted(Box::new(KubernetesStore::open(&url).unwrap())), server)
    });
}

fn app() -> AppKey {
    AppKey::new("shop").unwrap()
}

const SECRET_VALUE: &str = "hunter2-do-not-store-in-clear";

fn manifest(i: u64) -> Vec<u8> {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {SECRET_VALUE}-{i}\n")
        .into_bytes()
}

fn record(store: &dyn Store, i: u64) -> u64 {
    let new = NewRelease {
        app: app(),
        manifest: manifest(i),
        source: Default::default(),
        rollback_of: None,
        description: format!("r{i}"),
        class: None,
        evidence: None,
    };
    History::new(store).record(&new, 10).unwrap().meta().revision
}

fn read(store: &dyn Store, revision: u64) -> rewind::Result<Vec<u8>> {
    History::new(store).get(&app(), revision).map(|r| r.manifest)
}

/// Two envelopes over one file store directory.
fn file_store(dir: &Path, keys: Option<Arc<Keyring>>) -> Envelope {
    Envelope::new(Box::new(FileStore::new(dir)), keys)
}

#[test]
fn payloads_are_ciphertext_bound_to_their_release() {
    let tmp = tempfile::tempdir().unwrap();
    let key = random_key();
    let keys = keyring(&[("k1", &key)]);
    let store = file_store(tmp.path(), Some(keys.clone()));
    assert_eq!((record(&store, 1), record(&store, 2)), (1, 2));
    assert_eq!(read(&store, 2).unwrap(), manifest(2));

    // What the backend holds: ciphertext that zstd cannot read, and a record naming the key.
    let raw = FileStore::new(tmp.path());
    let (one, two) = (raw.get(&app(), 1).unwrap(), raw.get(&app(), 2).unwrap());
    assert!(zstd::decode_all(&one.payload[..]).is_err(), "the payload is not plain zstd");
    let e = one.meta.encryption.clone().expect("the record says it is encrypted");
    assert_eq!((e.algorithm.as_str(), e.key_id.as_str()), ("AES-256-GCM", "k1"));
    for file in std::fs::read_dir(tmp.path().join("shop")).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(SECRET_VALUE) && !text.contains(&key), "clear text or key material on disk");
    }

    // Each way of moving or damaging a payload is a clear error naming the release.
    let forged = |meta_from: &StoredRelease, payload_from: &StoredRelease| {
        let dir = tempfile::tempdir().unwrap();
        FileStore::new(dir.path())
            .create(&StoredRelease {
                meta: meta_from.meta.clone(),
                payload: payload_from.payload.clone(),
                ..one.clone()
            })
            .unwrap();
        let err = read(&file_store(dir.path(), Some(keys.clone())), meta_from.meta.revision).unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        err.to_string()
    };
    let swapped = forged(&one, &two);
    assert!(swapped.contains("release 1 of app \"shop\"") && swapped.contains("swapped"), "{swapped}");
    let mut flipped = two.clone();
    let middle = flipped.payload.len() / 2;
    flipped.payload[middle] ^= 0x01;
    assert!(forged(&two, &flipped).contains("tampered"));
    // A whole record moved to another revision: its data key is bound to revision 1.
    let mut moved = one.clone();
    moved.meta.revision = 2;
    moved.meta.digest = two.meta.digest.clone();
    moved.meta.size = two.meta.size;
    let err = forged(&moved, &one);
    assert!(err.contains("does not open with key \"k1\""), "{err}");

    // No key file, another key under the same id, a key file without the id.
    let err = read(&file_store(tmp.path(), None), 1).unwrap_err().to_string();
    assert!(err.contains("is encrypted (key \"k1\")") && err.contains("--encryption-key-file"), "{err}");
    let err = read(&file_store(tmp.path(), Some(keyring(&[("k1", &random_key())]))), 1).unwrap_err().to_string();
    assert!(err.contains("does not open with key \"k1\" of /etc/rewind/keys.yaml"), "{err}");
    let err = read(&file_store(tmp.path(), Some(keyring(&[("k9", &key)]))), 1).unwrap_err().to_string();
    assert!(err.contains("key \"k1\", which the key file /etc/rewind/keys.yaml does not list"), "{err}");
    for err in [swapped, err] {
        assert!(!err.contains(&key) && !err.contains(SECRET_VALUE), "{err}");
    }
}

#[test]
fn mixed_histories_rotation_and_rekey() {
    let tmp = tempfile::tempdir().unwrap();
    let (k1, k2) = (random_key(), random_key());
    // 1 plain, 2 under k1, 3 under k2 once k2 comes first.
    record(&file_store(tmp.path(), None), 1);
    record(&file_store(tmp.path(), Some(keyring(&[("k1", &k1)]))), 2);
    let both = file_store(tmp.path(), Some(keyring(&[("k2", &k2), ("k1", &k1)])));
    record(&both, 3);
    let key_of = |store: &Envelope, revision: u64| {
        store.list(&app()).unwrap()[revision as usize - 1].encryption.as_ref().map(|e| e.key_id.clone())
    };
    assert_eq!((key_of(&both, 1), key_of(&both, 2), key_of(&both, 3)), (None, Some("k1".into()), Some("k2".into())));
    for revision in 1..=3 {
        assert_eq!(read(&both, revision).unwrap(), manifest(revision));
    }
    // Without a key file the plain release still reads; the new key alone cannot open release 2.
    assert_eq!(read(&file_store(tmp.path(), None), 1).unwrap(), manifest(1));
    let only_k2 = file_store(tmp.path(), Some(keyring(&[("k2", &k2)])));
    assert!(read(&only_k2, 2).unwrap_err().to_string().contains("does not list"));
    assert!(only_k2.rekey(&app()).unwrap_err().to_string().contains("does not list"));

    let done = both.rekey(&app()).unwrap();
    assert_eq!((done.rewrapped, done.current, done.plain), (vec![2], vec![3], vec![1]));
    assert_eq!(key_of(&both, 2), Some("k2".into()));
    for revision in 1..=3 {
        assert_eq!(read(&only_k2, revision).unwrap(), manifest(revision), "k1 can leave the file");
    }
    assert!(both.rekey(&app()).unwrap().rewrapped.is_empty(), "a second rekey has nothing to do");
    let plain = file_store(tmp.path(), None);
    assert!(plain.rekey(&app()).unwrap_err().to_string().contains("--encryption-key-file"));
}
