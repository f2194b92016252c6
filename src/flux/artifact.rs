//! The artifact rewind serves to Flux: a gzip'd tar holding one file,
//! `manifest.yaml`, the release's manifest byte for byte. Deterministic (same
//! manifest → same bytes → same digest: relative path, mtime 0, uid/gid 0,
//! mode 0600, no user or group names, gzip mtime 0), so any release can be
//! served again from the store alone, with the digest it had the first time.

use sha2::{Digest, Sha256};
use std::io::Write;

/// The one file in every artifact.
pub const MANIFEST_FILE: &str = "manifest.yaml";

/// A packed artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The tar.gz bytes.
    pub bytes: Vec<u8>,
    /// Lowercase hex sha256 of `bytes`.
    pub hex: String,
}

impl Artifact {
    /// `sha256:<hex>`, Flux's digest form.
    pub fn digest(&self) -> String {
        format!("sha256:{}", self.hex)
    }

    /// The file name it is served under: `<hex>.tar.gz`.
    pub fn file_name(&self) -> String {
        format!("{}.tar.gz", self.hex)
    }

    /// The ExternalArtifact revision for release `release`: `v<N>@sha256:<hex>`.
    pub fn revision(&self, release: u64) -> String {
        format!("v{release}@sha256:{}", self.hex)
    }
}

/// Packs a manifest.
pub fn pack(manifest: &[u8]) -> Artifact {
    let mut header = tar::Header::new_ustar();
    header.set_path(MANIFEST_FILE).expect("a short relative path");
    header.set_size(manifest.len() as u64);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut tarball = tar::Builder::new(Vec::new());
    tarball.mode(tar::HeaderMode::Deterministic);
    tarball.append(&header, manifest).expect("writing to memory");
    let tar = tarball.into_inner().expect("writing to memory");
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("writing to memory");
    let bytes = gz.finish().expect("writing to memory");
    let hex = hex::encode(Sha256::digest(&bytes));
    Artifact { bytes, hex }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn same_manifest_same_bytes_one_plain_file() {
        let a = pack(b"apiVersion: v1\nkind: ConfigMap\n");
        assert_eq!(a, pack(b"apiVersion: v1\nkind: ConfigMap\n"));
        assert_ne!(a.hex, pack(b"other").hex);
        assert_eq!(a.revision(3), format!("v3@sha256:{}", a.hex));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.bytes.as_slice()));
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut body = String::new();
            e.read_to_string(&mut body).unwrap();
            let meta =
                (h.path().unwrap().display().to_string(), h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap());
            seen.push((meta, h.username().unwrap().map(String::from), body));
        }
        assert_eq!(
            seen,
            [(
                (MANIFEST_FILE.to_string(), 0o600, 0, 0),
                Some(String::new()),
                "apiVersion: v1\nkind: ConfigMap\n".to_string()
            )]
        );
    }
}
