//! The stored form of a release: a magic line, the record as JSON, then the
//! manifest compressed with zstd. Reading the record needs no decompression,
//! and every full read checks the digest, so a corrupt store never prints
//! wrong manifests.

use super::{Release, ReleaseMeta, digest_of};
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"rewind.dev/release.v1\n";
const MAX_META_BYTES: usize = 1024 * 1024;
/// Largest manifest a release may hold; decompression stops beyond it.
pub const MAX_MANIFEST_BYTES: u64 = 512 * 1024 * 1024;
const ZSTD_LEVEL: i32 = 6;

/// Compresses manifest bytes (zstd).
pub fn compress(manifest: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(manifest, ZSTD_LEVEL).expect("zstd compression of an in-memory buffer cannot fail")
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

fn encode_parts(meta: &ReleaseMeta, compressed: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(meta).expect("release record serializes");
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len() + compressed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(compressed);
    out
}

/// Encodes a release for storage.
pub fn encode(release: &Release) -> Vec<u8> {
    encode_parts(&release.meta, &compress(&release.manifest))
}

fn split(bytes: &[u8], what: &str) -> Result<(ReleaseMeta, usize)> {
    let corrupt = |why: &str| Error::Corrupt(format!("{what}: {why}; the stored release is damaged"));
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| corrupt("not a rewind release (bad header)"))?;
    let len_bytes: [u8; 4] =
        rest.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt("truncated header"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_META_BYTES {
        return Err(corrupt("record too large"));
    }
    let json = rest.get(4..4 + len).ok_or_else(|| corrupt("truncated record"))?;
    let meta = serde_json::from_slice(json).map_err(|e| corrupt(&format!("unreadable record ({e})")))?;
    Ok((meta, MAGIC.len() + 4 + len))
}

/// Reads only the record of an encoded release.
pub fn decode_meta(bytes: &[u8], what: &str) -> Result<ReleaseMeta> {
    split(bytes, what).map(|(meta, _)| meta)
}

/// Decodes a release and verifies its digest. `what` names it in errors;
/// `limit` bounds the manifest size (see [`decompress`]).
pub fn decode(bytes: &[u8], what: &str, limit: u64) -> Result<Release> {
    let (meta, offset) = split(bytes, what)?;
    let manifest = decompress(&bytes[offset..], meta.size, &meta.digest, what, limit)?;
    Ok(Release { meta, manifest })
}

/// Re-encodes with a new record, keeping the compressed payload as it is.
pub fn replace_meta(bytes: &[u8], meta: &ReleaseMeta, what: &str) -> Result<Vec<u8>> {
    let (_, offset) = split(bytes, what)?;
    Ok(encode_parts(meta, &bytes[offset..]))
}

#[cfg(test)]
mod tests {
    use super::super::SourceInfo;
    use super::*;

    fn release(manifest: &[u8]) -> Release {
        Release::pending("a", 1, manifest.to_vec(), SourceInfo::default(), None, "")
    }

    #[test]
    fn round_trips_and_detects_corruption() {
        let r = release(b"apiVersion: v1\nkind: ConfigMap\n");
        let bytes = encode(&r);
        let decode = |b: &[u8], what: &str| super::decode(b, what, 1 << 20);
        assert_eq!(decode(&bytes, "x").unwrap(), r);
        assert_eq!(decode_meta(&bytes, "x").unwrap(), r.meta);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(decode(&bad, "x").is_err());
        assert!(decode(&bytes[..bytes.len() - 3], "x").is_err());
        assert!(decode(b"garbage", "x").is_err());
        let mut lying = r.clone();
        lying.meta.digest = digest_of(b"other");
        assert!(decode(&encode(&lying), "x").unwrap_err().to_string().contains("digest"));
    }

    #[test]
    fn claimed_sizes_are_bounded_by_the_limit() {
        let mut huge = release(b"small");
        huge.meta.size = 400 * 1024 * 1024;
        let err = decode(&encode(&huge), "v1", 64 << 20).unwrap_err().to_string();
        assert!(err.contains("over the 67108864-byte limit") && err.contains("--max-total-bytes"), "{err}");
        // A bomb: 32 MiB of zeros compress to a few KiB; a record claiming 1 KiB stops there.
        let zeros = vec![0u8; 32 << 20];
        let mut bomb = release(&zeros);
        bomb.meta.size = 1024;
        assert!(decode(&encode(&bomb), "v1", 64 << 20).unwrap_err().to_string().contains("damaged"));
    }
}
