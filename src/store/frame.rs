//! The release record as the file and S3 stores keep it, one object per
//! release: a magic line, the record's length (u32, big endian) and JSON,
//! then the payload. A reader needs only the first bytes for the record.

use crate::error::{Error, Result};
use crate::release::ReleaseMeta;

/// The first bytes of every release object.
pub const MAGIC: &[u8] = b"rewind.dev/release.v1\n";
/// The largest record a release may carry.
pub const MAX_META_BYTES: usize = 1024 * 1024;
/// Enough of a file to read its record.
pub const HEADER_READ: u64 = MAX_META_BYTES as u64 + 64;

/// A release file: magic, record length (u32, big endian), record JSON, payload.
pub fn frame(meta: &ReleaseMeta, payload: &[u8]) -> Vec<u8> {
    let mut out = header(meta);
    out.extend_from_slice(payload);
    out
}

/// What comes before the payload in a release file.
pub fn header(meta: &ReleaseMeta) -> Vec<u8> {
    let json = serde_json::to_vec(meta).expect("release record serializes");
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out
}

/// The record of a release file and where its payload starts.
pub fn unframe(bytes: &[u8], what: &str) -> Result<(ReleaseMeta, usize)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::AppKey;

    #[test]
    fn frames_round_trip_and_refuse_damage() {
        let meta = crate::release::Release::pending(
            &AppKey::new("a").unwrap(),
            1,
            b"x".to_vec(),
            crate::release::SourceInfo::default(),
            None,
            "",
        )
        .meta;
        let bytes = frame(&meta, b"payload");
        let (read, offset) = unframe(&bytes, "v1").unwrap();
        assert_eq!((read, &bytes[offset..]), (meta, &b"payload"[..]));
        assert!(unframe(b"garbage", "v1").unwrap_err().to_string().contains("bad header"));
        assert!(unframe(&bytes[..MAGIC.len() + 6], "v1").unwrap_err().to_string().contains("truncated"));
    }
}
