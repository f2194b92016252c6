//! The operator's key-encryption keys (`--encryption-key-file`), and the
//! AES-256-GCM operations of envelope encryption: a fresh data key per
//! release, wrapped by the first key of the file; any listed key unwraps, so
//! keys rotate without rewriting history.
//!
//! Key bytes never leave this module: errors name the file and key ids,
//! `Debug` shows ids only.

use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "REWIND_ENCRYPTION_KEY_FILE";
/// The only algorithm records name (payload and key wrapping alike).
pub const ALGORITHM: &str = "AES-256-GCM";
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const KEY_BYTES: usize = 32;
/// A key file is a few keys; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// One key-encryption key.
struct Kek {
    id: String,
    cipher: Aes256Gcm,
}

/// The keys of a key file, the first one encrypting.
pub struct Keyring {
    path: PathBuf,
    keys: Vec<Kek>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("path", &self.path).field("ids", &ids).finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    key: String,
}

/// Sealed bytes that do not open: wrong key, tampered, or bound to another release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoesNotOpen;

/// A data key's cipher, and the data key wrapped for the record.
pub struct DataKey {
    cipher: Aes256Gcm,
}

impl Keyring {
    /// Reads a key file: `keys: [{id, key: <base64 of 32 bytes>}, …]`.
    pub fn load(path: &Path) -> Result<Keyring> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("encryption key file {shown} (--encryption-key-file / {KEY_FILE_ENV})"), e))?
            .len();
        if size > MAX_KEY_FILE_BYTES {
            return Err(Error::Config(format!(
                "encryption key file {shown}: {size} bytes is too large for a key file (at most {MAX_KEY_FILE_BYTES})"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("encryption key file {shown}"), e))?;
        Self::parse(&text, path)
    }

    /// Parses a key file's text. Errors never quote the text: it is key material.
    pub fn parse(text: &str, path: &Path) -> Result<Keyring> {
        let shown = path.display();
        let bad = |why: String| Error::Config(format!("encryption key file {shown}: {why}"));
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        let file: KeyFile = serde_saphyr::from_str_with_options(text, options).map_err(|_| {
            bad("not a key file; write `keys:` with a list of `{id: NAME, key: <base64 of 32 random bytes>}`, \
                 e.g. from `head -c 32 /dev/urandom | base64`"
                .into())
        })?;
        if file.keys.is_empty() {
            return Err(bad("`keys` is empty; list at least one key (the first one encrypts)".into()));
        }
        let mut keys = Vec::with_capacity(file.keys.len());
        for (i, entry) in file.keys.iter().enumerate() {
            let id = entry.id.trim();
            if id.is_empty() || id.len() > 63 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(bad(format!(
                    "key {} has an id that is empty, longer than 63 characters or not made of letters, digits, '-', '_' and '.'",
                    i + 1
                )));
            }
            if keys.iter().any(|k: &Kek| k.id == id) {
                return Err(bad(format!("key id {id:?} is listed twice; each key needs its own id")));
            }
            let bytes = B64.decode(entry.key.trim()).ok().filter(|b| b.len() == KEY_BYTES).ok_or_else(|| {
                bad(format!(
                    "key {id:?} is not the base64 of 32 bytes; make one with `head -c 32 /dev/urandom | base64`"
                ))
            })?;
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes));
            keys.push(Kek { id: id.to_string(), cipher });
        }
        Ok(Keyring { path: path.to_path_buf(), keys })
    }

    /// The file the keys came from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the key new releases are encrypted with.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Whether the file lists `id`.
    pub fn has(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// A fresh random data key, and its wrapping under the current key
    /// (`base64(nonce ‖ ciphertext)`), bound to `context`.
    pub fn new_data_key(&self, context: &[u8]) -> (DataKey, String) {
        let key = Aes256Gcm::generate_key(OsRng);
        let wrapped = seal(&self.keys[0].cipher, key.as_slice(), context);
        (DataKey { cipher: Aes256Gcm::new(&key) }, B64.encode(wrapped))
    }

    /// Opens a data key wrapped under key `id` for `context`: `None` when the
    /// file does not list `id`; `Err(DoesNotOpen)` when it does not open (wrong
    /// key bytes, tampered or moved wrapping).
    fn open_wrapped(
        &self,
        id: &str,
        wrapped: &str,
        context: &[u8],
    ) -> Option<std::result::Result<Vec<u8>, DoesNotOpen>> {
        let kek = self.keys.iter().find(|k| k.id == id)?;
        Some(B64.decode(wrapped).map_err(|_| DoesNotOpen).and_then(|w| open(&kek.cipher, &w, context)))
    }

    /// Unwraps a data key wrapped under key `id` for `context` (see `open_wrapped`).
    pub fn unwrap_key(
        &self,
        id: &str,
        wrapped: &str,
        context: &[u8],
    ) -> Option<std::result::Result<DataKey, DoesNotOpen>> {
        Some(self.open_wrapped(id, wrapped, context)?.and_then(|key| {
            if key.len() == KEY_BYTES {
                Ok(DataKey { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)) })
            } else {
                Err(DoesNotOpen)
            }
        }))
    }

    /// Wraps an unwrapped data key again, under the current key.
    pub fn rewrap(&self, id: &str, wrapped: &str, context: &[u8]) -> Option<std::result::Result<String, DoesNotOpen>> {
        Some(self.open_wrapped(id, wrapped, context)?.map(|key| B64.encode(seal(&self.keys[0].cipher, &key, context))))
    }
}

impl DataKey {
    /// Encrypts `plain` bound to `context`: `nonce ‖ ciphertext ‖ tag`.
    pub fn encrypt(&self, plain: &[u8], context: &[u8]) -> Vec<u8> {
        seal(&self.cipher, plain, context)
    }

    /// Decrypts what [`DataKey::encrypt`] made for the same `context`.
    pub fn decrypt(&self, sealed: &[u8], context: &[u8]) -> std::result::Result<Vec<u8>, DoesNotOpen> {
        open(&self.cipher, sealed, context)
    }
}

/// How much encryption adds to a payload.
pub const OVERHEAD: usize = NONCE_BYTES + TAG_BYTES;

fn seal(cipher: &Aes256Gcm, plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = Aes256Gcm::generate_nonce(OsRng);
    let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
    out.extend_from_slice(&nonce);
    // Encrypting into memory only fails on absurd lengths (over 64 GiB), which the size limits exclude.
    out.extend(cipher.encrypt(&nonce, Payload { msg: plain, aad }).expect("AES-GCM encrypts a bounded buffer"));
    out
}

fn open(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, DoesNotOpen> {
    if sealed.len() < OVERHEAD {
        return Err(DoesNotOpen);
    }
    let (nonce, body) = sealed.split_at(NONCE_BYTES);
    cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad }).map_err(|_| DoesNotOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        B64.encode(Aes256Gcm::generate_key(OsRng))
    }

    fn ring(text: &str) -> Result<Keyring> {
        Keyring::parse(text, Path::new("/keys/rewind.yaml"))
    }

    #[test]
    fn parses_checks_and_never_quotes_keys() {
        let (k1, k2) = (key(), key());
        let r = ring(&format!("keys:\n  - {{id: k2, key: {k2}}}\n  - {{id: k1, key: {k1}}}\n")).unwrap();
        assert_eq!(r.current_id(), "k2");
        assert!(r.has("k1") && !r.has("k3"));
        assert!(!format!("{r:?}").contains(&k2));
        for (text, says) in [
            ("keys: []\n".to_string(), "is empty"),
            (format!("keys:\n  - {{id: a, key: {k1}}}\n  - {{id: a, key: {k2}}}\n"), "listed twice"),
            (format!("keys:\n  - {{id: a, key: {}}}\n", &k1[..20]), "not the base64 of 32 bytes"),
            (format!("keys:\n  - {{id: 'a b', key: {k1}}}\n"), "an id that"),
            (format!("keys:\n  - {{id: a, key: {k1}, extra: {k2}}}\n"), "not a key file"),
            (format!("{k1}\n"), "not a key file"),
        ] {
            let err = ring(&text).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("/keys/rewind.yaml"), "{err}");
            assert!(!err.contains(&k1) && !err.contains(&k2) && !err.contains(&k1[..20]), "{err}");
        }
    }

    #[test]
    fn wraps_under_the_first_key_and_unwraps_with_any() {
        let (k1, k2) = (key(), key());
        let old = ring(&format!("keys: [{{id: k1, key: {k1}}}]")).unwrap();
        let both = ring(&format!("keys: [{{id: k2, key: {k2}}}, {{id: k1, key: {k1}}}]")).unwrap();
        let (data, wrapped) = old.new_data_key(b"ctx");
        let sealed = data.encrypt(b"manifest", b"ctx");
        let opened = both.unwrap_key("k1", &wrapped, b"ctx").unwrap().unwrap();
        assert_eq!(opened.decrypt(&sealed, b"ctx").unwrap(), b"manifest");
        assert!(opened.decrypt(&sealed, b"other").is_err());
        assert!(both.unwrap_key("k1", &wrapped, b"other").unwrap().is_err());
        assert!(both.unwrap_key("k3", &wrapped, b"ctx").is_none());
        let rewrapped = both.rewrap("k1", &wrapped, b"ctx").unwrap().unwrap();
        let under_k2 = both.unwrap_key("k2", &rewrapped, b"ctx").unwrap().unwrap();
        assert_eq!(under_k2.decrypt(&sealed, b"ctx").unwrap(), b"manifest");
        // The same key bytes under another id do not help: a wrong key fails.
        let wrong = ring(&format!("keys: [{{id: k1, key: {k2}}}]")).unwrap();
        assert!(wrong.unwrap_key("k1", &wrapped, b"ctx").unwrap().is_err());
        let mut flipped = sealed.clone();
        flipped[NONCE_BYTES + 1] ^= 1;
        assert!(opened.decrypt(&flipped, b"ctx").is_err());
    }
}
