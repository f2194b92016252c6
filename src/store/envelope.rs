//! Envelope encryption over any backend. Every store is opened through an
//! [`Envelope`]: with the operator's key file it encrypts each new release's
//! payload under a fresh data key (AES-256-GCM, bound to the release's app,
//! revision, digest and size) and wraps that key with the file's first key;
//! reading decrypts with whichever listed key wrapped it. Without a key file
//! new releases are plain and an encrypted one is refused with what to do.
//! Backends only ever see ciphertext and the record saying how to open it.

use super::keyring::{ALGORITHM, KEY_FILE_ENV, Keyring};
use super::{Listing, MetaChange, Store};
use crate::error::{Error, Result};
use crate::release::{AppKey, Encryption, ReleaseMeta, StoredRelease};
use std::sync::Arc;

const PAYLOAD: &[u8] = b"payload\0";
const DATA_KEY: &[u8] = b"data-key\0";

/// A store whose payloads are encrypted when a key file is given.
pub struct Envelope {
    inner: Box<dyn Store>,
    keys: Option<Arc<Keyring>>,
}

/// What `rewind rekey` did to an app's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Releases whose data key is now wrapped by the current key.
    pub rewrapped: Vec<u64>,
    /// Releases already under the current key.
    pub current: Vec<u64>,
    /// Plain releases (written without a key file), left as they are.
    pub plain: Vec<u64>,
}

fn context(domain: &[u8], meta: &ReleaseMeta) -> Vec<u8> {
    [domain, &meta.binding()].concat()
}

impl Envelope {
    /// `inner`, encrypting with `keys` when given.
    pub fn new(inner: Box<dyn Store>, keys: Option<Arc<Keyring>>) -> Envelope {
        Envelope { inner, keys }
    }

    fn keys_for(&self, stored: &StoredRelease, e: &Encryption) -> Result<&Keyring> {
        let meta = &stored.meta;
        let keys = self.keys.as_deref().ok_or_else(|| {
            Error::Store(format!(
                "{}: release {} of app {:?} is encrypted (key {:?}); give rewind the key file with \
                 --encryption-key-file or {KEY_FILE_ENV}",
                stored.location, meta.revision, meta.app, e.key_id
            ))
        })?;
        if e.algorithm != ALGORITHM {
            return Err(Error::Corrupt(format!(
                "{}: release {} of app {:?} names encryption {:?}; this rewind knows only {ALGORITHM}",
                stored.location, meta.revision, meta.app, e.algorithm
            )));
        }
        if !keys.has(&e.key_id) {
            return Err(Error::Store(format!(
                "{}: release {} of app {:?} is encrypted with key {:?}, which the key file {} does not list; \
                 add that key to the file (any listed key decrypts, the first one encrypts)",
                stored.location,
                meta.revision,
                meta.app,
                e.key_id,
                keys.path().display()
            )));
        }
        Ok(keys)
    }

    fn wrong_key(stored: &StoredRelease, e: &Encryption, keys: &Keyring) -> Error {
        Error::Corrupt(format!(
            "{}: the data key of release {} of app {:?} does not open with key {:?} of {}: that is not the key \
             it was encrypted with, or the record was tampered with or moved from another release",
            stored.location,
            stored.meta.revision,
            stored.meta.app,
            e.key_id,
            keys.path().display()
        ))
    }

    fn decrypt(&self, stored: StoredRelease, e: &Encryption) -> Result<StoredRelease> {
        let keys = self.keys_for(&stored, e)?;
        let meta = &stored.meta;
        let data_key = keys
            .unwrap_key(&e.key_id, &e.wrapped_key, &context(DATA_KEY, meta))
            .expect("keys_for checked the key id")
            .map_err(|_| Self::wrong_key(&stored, e, keys))?;
        let payload = data_key.decrypt(&stored.payload, &context(PAYLOAD, meta)).map_err(|_| {
            Error::Corrupt(format!(
                "{}: the payload of release {} of app {:?} does not decrypt: it was tampered with or swapped \
                 from another release",
                stored.location, meta.revision, meta.app
            ))
        })?;
        Ok(StoredRelease { payload, ..stored })
    }

    /// Re-wraps the data keys of `app`'s encrypted releases under the key
    /// file's first key, each in one atomic record update; payloads stay as
    /// they are. Plain releases are listed, not changed.
    pub fn rekey(&self, app: &AppKey) -> Result<Rekeyed> {
        let keys = self.keys.as_deref().ok_or_else(|| {
            Error::Config(format!("rewind rekey needs the key file: give --encryption-key-file or {KEY_FILE_ENV}"))
        })?;
        let mut done = Rekeyed::default();
        for meta in self.inner.list(app)? {
            let Some(e) = &meta.encryption else {
                done.plain.push(meta.revision);
                continue;
            };
            if e.key_id == keys.current_id() {
                done.current.push(meta.revision);
                continue;
            }
            let shown = StoredRelease { meta: meta.clone(), payload: Vec::new(), location: self.inner.url() };
            self.keys_for(&shown, e)?;
            self.inner.update_meta(app, meta.revision, &|now| {
                let Some(e) = &now.encryption else { return Ok(None) };
                if e.key_id == keys.current_id() {
                    return Ok(None);
                }
                let rewrapped = keys
                    .rewrap(&e.key_id, &e.wrapped_key, &context(DATA_KEY, now))
                    .ok_or_else(|| Self::wrong_key(&shown, e, keys))?
                    .map_err(|_| Self::wrong_key(&shown, e, keys))?;
                let encryption = Encryption {
                    algorithm: ALGORITHM.into(),
                    key_id: keys.current_id().into(),
                    wrapped_key: rewrapped,
                };
                Ok(Some(ReleaseMeta { encryption: Some(encryption), ..now.clone() }))
            })?;
            done.rewrapped.push(meta.revision);
        }
        Ok(done)
    }
}

impl Store for Envelope {
    fn url(&self) -> String {
        self.inner.url()
    }

    fn scan(&self, app: &AppKey) -> Result<Listing> {
        self.inner.scan(app)
    }

    fn get(&self, app: &AppKey, revision: u64) -> Result<StoredRelease> {
        let stored = self.inner.get(app, revision)?;
        match stored.meta.encryption.clone() {
            None => Ok(stored),
            Some(e) => self.decrypt(stored, &e),
        }
    }

    fn create(&self, release: &StoredRelease) -> Result<()> {
        let Some(keys) = &self.keys else {
            return self.inner.create(release);
        };
        let mut meta = release.meta.clone();
        let (data_key, wrapped_key) = keys.new_data_key(&context(DATA_KEY, &meta));
        let payload = data_key.encrypt(&release.payload, &context(PAYLOAD, &meta));
        meta.encryption =
            Some(Encryption { algorithm: ALGORITHM.into(), key_id: keys.current_id().into(), wrapped_key });
        self.inner.create(&StoredRelease { meta, payload, location: release.location.clone() })
    }

    fn update_meta(&self, app: &AppKey, revision: u64, change: &MetaChange<'_>) -> Result<()> {
        // The record's encryption is this layer's: a caller's change keeps it as stored.
        self.inner.update_meta(app, revision, &|now| {
            Ok(change(now)?.map(|new| ReleaseMeta { encryption: now.encryption.clone(), ..new }))
        })
    }

    fn delete(&self, app: &AppKey, revision: u64) -> Result<()> {
        self.inner.delete(app, revision)
    }

    fn report_failure(&self, app: &AppKey, reason: &str, message: &str) -> Result<()> {
        self.inner.report_failure(app, reason, message)
    }
}
