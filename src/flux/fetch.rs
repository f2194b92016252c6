//! Reading a Flux source's artifact as Flux does: one HTTP GET of
//! `status.artifact.url`, the whole file checked against `digest`, then a
//! gzip'd tar unpacked with Flux's rules — no empty names, `\`, absolute
//! paths or `..`; symlinks skipped, never followed; only regular files and
//! directories. Within rewind's input limits, so a gzip bomb stops early.

use sha2::Digest;
use std::io::Read;
use std::path::{Component, Path};
use std::time::Duration;

/// Why an artifact could not be used, in Flux's reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// `FetchFailed`: not downloaded, or not a readable tar.gz.
    Fetch(String),
    /// `VerificationFailed`: the bytes are not what the digest says, or the archive breaks Flux's rules.
    Verification(String),
}

impl FetchError {
    /// The condition reason Flux uses.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Fetch(_) => "FetchFailed",
            FetchError::Verification(_) => "VerificationFailed",
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        match self {
            FetchError::Fetch(m) | FetchError::Verification(m) => m,
        }
    }
}

/// How much of an artifact rewind will take.
#[derive(Debug, Clone, Copy)]
pub struct ArtifactLimits {
    /// The compressed file.
    pub archive_bytes: u64,
    /// All files unpacked.
    pub unpacked_bytes: u64,
    /// Entries in the archive.
    pub entries: usize,
    /// The whole download.
    pub timeout: Duration,
}

impl ArtifactLimits {
    /// An artifact holds a whole source (every app in the repository), but
    /// rewind's input limits bound it all the same: the archive and its
    /// unpacked files within `--max-total-bytes`, at most five entries per
    /// allowed document, one minute to download.
    pub fn from_limits(limits: &crate::manifest::Limits) -> ArtifactLimits {
        ArtifactLimits {
            archive_bytes: limits.max_total_bytes,
            unpacked_bytes: limits.max_total_bytes,
            entries: limits.max_documents.saturating_mul(5),
            timeout: Duration::from_secs(60),
        }
    }
}

pub use crate::kubeclient::ensure_crypto_provider;

/// Downloads `url` (at most `limits.archive_bytes`).
pub fn download(url: &str, limits: &ArtifactLimits) -> Result<Vec<u8>, FetchError> {
    let fail = |why: String| FetchError::Fetch(format!("GET {url}: {why}"));
    ensure_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(limits.timeout).build().map_err(|e| fail(e.to_string()))?;
        let mut response = client.get(url).send().await.map_err(|e| fail(e.to_string()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            if (bytes.len() + chunk.len()) as u64 > limits.archive_bytes {
                return Err(fail(format!("more than {} bytes; raise --max-total-bytes", limits.archive_bytes)));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    })
}

/// Checks `bytes` against a go-digest: `sha256:`/`sha384:`/`sha512:` and
/// lowercase hex; a value without `:` is sha256, as Flux takes it.
pub fn verify(bytes: &[u8], digest: &str) -> Result<(), FetchError> {
    let bad = |why: String| FetchError::Verification(format!("digest {digest:?}: {why}"));
    let (algorithm, expected) = digest.split_once(':').unwrap_or(("sha256", digest));
    if expected.is_empty() || !expected.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad("not lowercase hex".into()));
    }
    let actual = match algorithm {
        "sha256" => hex::encode(sha2::Sha256::digest(bytes)),
        "sha384" => hex::encode(sha2::Sha384::digest(bytes)),
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        other => return Err(bad(format!("algorithm {other} is not supported; use sha256, sha384 or sha512"))),
    };
    if actual != expected {
        return Err(FetchError::Verification(format!(
            "the artifact's {algorithm} is {actual}, not {expected} as its source says"
        )));
    }
    Ok(())
}

/// What unpacking did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files written.
    pub files: usize,
    /// Symlinks skipped (never followed), by name.
    pub skipped: Vec<String>,
}

/// Unpacks a gzip'd tar into `dir` (which must be empty), by Flux's rules.
pub fn unpack(bytes: &[u8], dir: &Path, limits: &ArtifactLimits) -> Result<Unpacked, FetchError> {
    let bad = |why: String| FetchError::Verification(format!("archive entry {why}"));
    // Bounded read: a gzip bomb stops at the unpacked limit.
    let decoder = flate2::read::GzDecoder::new(bytes).take(limits.unpacked_bytes + 1);
    let mut archive = tar::Archive::new(decoder);
    let mut unpacked = Unpacked::default();
    let mut total = 0u64;
    let entries = archive.entries().map_err(|e| FetchError::Fetch(format!("not a gzip'd tar: {e}")))?;
    for (i, entry) in entries.enumerate() {
        if i >= limits.entries {
            return Err(FetchError::Verification(format!("the archive has more than {} entries", limits.entries)));
        }
        let mut entry = entry.map_err(|e| FetchError::Fetch(format!("not a readable gzip'd tar: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if raw.is_empty() || raw.contains('\\') {
            return Err(bad(format!("{raw:?}: empty names and '\\' are refused")));
        }
        let path = Path::new(&raw);
        if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir | Component::RootDir)) {
            return Err(bad(format!("{raw:?}: absolute paths and '..' are refused")));
        }
        let target = dir.join(path);
        match entry.header().entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => unpacked.skipped.push(raw),
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| FetchError::Fetch(format!("{raw}: {e}")))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                total += entry.header().size().unwrap_or(0);
                if total > limits.unpacked_bytes {
                    return Err(FetchError::Verification(format!(
                        "the archive unpacks to more than {} bytes; raise --max-total-bytes",
                        limits.unpacked_bytes
                    )));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| FetchError::Fetch(format!("{raw}: {e}")))?;
                }
                let mut file = std::fs::File::create(&target).map_err(|e| FetchError::Fetch(format!("{raw}: {e}")))?;
                std::io::copy(&mut entry, &mut file).map_err(|e| FetchError::Fetch(format!("{raw}: {e}")))?;
                unpacked.files += 1;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName => {}
            other => return Err(bad(format!("{raw:?}: {other:?} entries are refused; only files and directories"))),
        }
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: ArtifactLimits = ArtifactLimits {
        archive_bytes: 1 << 20,
        unpacked_bytes: 1 << 20,
        entries: 100,
        timeout: Duration::from_secs(5),
    };

    /// A tar.gz of raw entries: (name, type, body), written header by header so hostile names get through.
    fn tarball(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, ty, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(body.len() as u64);
            h.set_entry_type(*ty);
            h.set_mode(0o644);
            if *ty == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            b.append(&h, *body).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn unpacks_files_and_skips_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tarball(&[
            ("app/", tar::EntryType::Directory, b""),
            ("app/cm.yaml", tar::EntryType::Regular, b"kind: ConfigMap\n"),
            ("app/passwd.yaml", tar::EntryType::Symlink, b""),
        ]);
        let u = unpack(&bytes, dir.path(), &LIMITS).unwrap();
        assert_eq!((u.files, u.skipped), (1, vec!["app/passwd.yaml".to_string()]));
        assert_eq!(std::fs::read(dir.path().join("app/cm.yaml")).unwrap(), b"kind: ConfigMap\n");
        assert!(!dir.path().join("app/passwd.yaml").exists());
    }

    #[test]
    fn refuses_what_flux_refuses() {
        for (name, ty) in [
            ("../evil.yaml", tar::EntryType::Regular),
            ("/etc/x.yaml", tar::EntryType::Regular),
            ("a\\b.yaml", tar::EntryType::Regular),
            ("dev", tar::EntryType::Char),
            ("fifo", tar::EntryType::Fifo),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let err = unpack(&tarball(&[(name, ty, b"")]), dir.path(), &LIMITS).unwrap_err();
            assert_eq!(err.reason(), "VerificationFailed", "{name}: {err:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let zeros = vec![0u8; 4 << 20];
        let err = unpack(&tarball(&[("big.yaml", tar::EntryType::Regular, &zeros)]), dir.path(), &LIMITS).unwrap_err();
        assert!(err.message().contains("more than 1048576 bytes"), "{err:?}");
        assert_eq!(unpack(b"not gzip", dir.path(), &LIMITS).unwrap_err().reason(), "FetchFailed");
    }

    #[test]
    fn digests_are_checked_like_go_digest() {
        let sha = hex::encode(sha2::Sha256::digest(b"x"));
        assert!(verify(b"x", &format!("sha256:{sha}")).is_ok());
        assert!(verify(b"x", &sha).is_ok(), "no algorithm: sha256");
        assert!(verify(b"y", &format!("sha256:{sha}")).unwrap_err().message().contains("not"));
        assert!(verify(b"x", &format!("sha256:{}", sha.to_uppercase())).is_err());
        assert!(verify(b"x", "md5:abc").is_err());
        assert!(verify(b"x", "").is_err());
        let sha512 = hex::encode(sha2::Sha512::digest(b"x"));
        assert!(verify(b"x", &format!("sha512:{sha512}")).is_ok());
    }
}
