//! A release's payload: the manifest compressed with zstd. Encoding sits
//! above the stores, so every backend keeps the same bytes and every read is
//! checked the same way: the digest, before anything is printed.

use crate::error::{Error, Result};
use crate::release::{Release, StoredRelease, digest_of};

/// Largest manifest a release may hold whatever the limits say; decompression stops beyond it.
pub const MAX_MANIFEST_BYTES: u64 = 512 * 1024 * 1024;
const ZSTD_LEVEL: i32 = 6;

/// Compresses manifest bytes (zstd).
pub fn compress(manifest: &[u8]) -> Vec<u8> {
    let mut payload =
        zstd::bulk::compress(manifest, ZSTD_LEVEL).expect("zstd compression of an in-memory buffer cannot fail");
    // Made as large as the worst case; it is kept while the release is written.
    payload.shrink_to_fit();
    payload
}

/// Decompresses a payload whose record claims `size` bytes and checks them
/// against `digest`. A claim over `limit` (the configured input limit) is
/// refused before anything is allocated, and memory grows only with the bytes
/// that really come out, so neither a lying record nor a zstd bomb can make
/// rewind allocate more than `limit`.
pub fn decompress(compressed: &[u8], size: u64, digest: &str, what: &str, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = limit.min(MAX_MANIFEST_BYTES);
    if size > limit {
        return Err(Error::Store(format!(
            "{what}: the release is {size} bytes, over the {limit}-byte limit on releases read; \
             raise it with --max-total-bytes if the release is genuine"
        )));
    }
    let damaged = |e: std::io::Error| {
        Error::Corrupt(format!("{what}: payload does not decompress ({e}); the stored release is damaged"))
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(compressed).map_err(damaged)?;
    // Start small: `size` is only a claim until the bytes arrive.
    let mut manifest = Vec::with_capacity(size.min(1 << 20) as usize);
    (&mut decoder).take(size + 1).read_to_end(&mut manifest).map_err(damaged)?;
    if manifest.len() as u64 != size || digest_of(&manifest) != digest {
        return Err(Error::Corrupt(format!(
            "{what}: payload does not match its digest {digest}; the stored release is damaged"
        )));
    }
    Ok(manifest)
}

/// The form a store keeps.
pub fn seal(release: &Release) -> StoredRelease {
    StoredRelease { meta: release.meta.clone(), payload: compress(&release.manifest), location: String::new() }
}

/// The release a store returned, its manifest decoded and checked.
pub fn unseal(stored: StoredRelease, limit: u64) -> Result<Release> {
    let StoredRelease { meta, payload, location } = stored;
    let manifest = decompress(&payload, meta.size, &meta.digest, &location, limit)?;
    Ok(Release { meta, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{AppKey, SourceInfo};

    fn release(manifest: &[u8]) -> Release {
        Release::pending(&AppKey::new("a").unwrap(), 1, manifest.to_vec(), SourceInfo::default(), None, "")
    }

    fn stored(r: &Release) -> StoredRelease {
        StoredRelease { location: "v1".into(), ..seal(r) }
    }

    #[test]
    fn round_trips_and_detects_corruption() {
        let r = release(b"apiVersion: v1\nkind: ConfigMap\n");
        assert_eq!(unseal(stored(&r), 1 << 20).unwrap(), r);
        let mut bad = stored(&r);
        let last = bad.payload.len() - 1;
        bad.payload[last] ^= 0xff;
        assert!(unseal(bad, 1 << 20).is_err());
        let mut cut = stored(&r);
        cut.payload.truncate(cut.payload.len() - 3);
        assert!(unseal(cut, 1 << 20).is_err());
        let mut lying = r.clone();
        lying.meta.digest = digest_of(b"other");
        assert!(unseal(stored(&lying), 1 << 20).unwrap_err().to_string().contains("digest"));
    }

    #[test]
    fn claimed_sizes_are_bounded_by_the_limit() {
        let mut huge = release(b"small");
        huge.meta.size = 400 * 1024 * 1024;
        let err = unseal(stored(&huge), 64 << 20).unwrap_err().to_string();
        assert!(err.contains("over the 67108864-byte limit") && err.contains("--max-total-bytes"), "{err}");
        // A bomb: 32 MiB of zeros compress to a few KiB; a record claiming 1 KiB stops there.
        let zeros = vec![0u8; 32 << 20];
        let mut bomb = release(&zeros);
        bomb.meta.size = 1024;
        assert!(unseal(stored(&bomb), 64 << 20).unwrap_err().to_string().contains("damaged"));
    }
}
