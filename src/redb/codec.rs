//! Values on disk: a format byte, then MessagePack: as is, LZ4-compressed when that makes
//! the value smaller, or (records, once the file has one) compressed with the file's zstd
//! dictionary (see `dictionary.rs`).
//!
//! The only module that touches rmp-serde and lz4 (zstd is `dictionary.rs`'s). MessagePack
//! comes in two layouts:
//! - named: structs as maps keyed by field name, which tolerate added and missing fields.
//!   Everything but records and summaries, and those of files before schema version 3.
//! - positional: structs as arrays in field order, without the names (a record of the
//!   benchmark dataset takes 468 bytes instead of 631 after LZ4). Records and summaries,
//!   whose field order is therefore part of the file format: fields may only be added at
//!   the end, with a default.
//!
//! [`decode`] reads both, so files written before positional values stay readable.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::dictionary::{self, Dictionary};
use crate::error::{Error, Result};

/// Format byte: named MessagePack as is.
pub(crate) const FORMAT_PLAIN: u8 = 1;

/// Format byte: LZ4 block (size-prepended) of named MessagePack.
pub(crate) const FORMAT_LZ4: u8 = 2;

/// Format byte: positional MessagePack as is.
pub(crate) const FORMAT_ARRAY: u8 = 4;

/// Format byte: LZ4 block (size-prepended) of positional MessagePack.
pub(crate) const FORMAT_ARRAY_LZ4: u8 = 5;

/// Format byte: positional MessagePack compressed with a dictionary (see `dictionary.rs`).
pub(crate) const FORMAT_ARRAY_ZSTD: u8 = 6;

/// Every format byte [`decode`] reads.
pub(crate) const FORMATS: [u8; 5] =
    [FORMAT_PLAIN, FORMAT_LZ4, FORMAT_ARRAY, FORMAT_ARRAY_LZ4, FORMAT_ARRAY_ZSTD];

/// Values shorter than this are stored plain: LZ4 gains little on them.
const COMPRESS_FROM: usize = 512;

/// LZ4 cannot expand data by more than this factor, so a larger claimed size is corrupt.
const LZ4_MAX_RATIO: usize = 255;

/// `value` as stored bytes, in the named layout.
pub(crate) fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>> {
    let mut bytes = vec![FORMAT_PLAIN];
    rmp_serde::encode::write_named(&mut bytes, value)
        .map_err(|e| Error::Encode { what: what.to_owned(), reason: e.to_string() })?;
    Ok(compressed(bytes, FORMAT_LZ4))
}

/// `value` as stored bytes, in the positional layout (records and summaries only).
pub(crate) fn encode_positional<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>> {
    Ok(Positional::encode(what, value)?.stored())
}

/// A value in positional MessagePack, its format byte already in front: encoded once,
/// then sampled, compressed or stored as it is without another copy.
pub(crate) struct Positional(Vec<u8>);

impl Positional {
    pub(crate) fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Self> {
        let mut bytes = vec![FORMAT_ARRAY];
        rmp_serde::encode::write(&mut bytes, value)
            .map_err(|e| Error::Encode { what: what.to_owned(), reason: e.to_string() })?;
        Ok(Positional(bytes))
    }

    /// The MessagePack, without the format byte.
    pub(crate) fn body(&self) -> &[u8] {
        self.0.get(1..).unwrap_or_default()
    }

    /// As stored bytes, LZ4-compressed when that is smaller.
    pub(crate) fn stored(self) -> Vec<u8> {
        compressed(self.0, FORMAT_ARRAY_LZ4)
    }

    /// As stored bytes compressed with `dictionary`; `None` if that gains nothing.
    pub(crate) fn stored_with(&self, dictionary: &Dictionary) -> Option<Vec<u8>> {
        let mut bytes = vec![FORMAT_ARRAY_ZSTD];
        dictionary.compress_into(self.body(), &mut bytes)?;
        Some(bytes)
    }
}

/// `bytes` (a format byte, then MessagePack) with the body LZ4-compressed under format
/// `lz4` when that is smaller.
fn compressed(bytes: Vec<u8>, lz4: u8) -> Vec<u8> {
    let body = bytes.get(1..).unwrap_or_default();
    if body.len() >= COMPRESS_FROM {
        let compressed = lz4_flex::compress_prepend_size(body);
        if compressed.len() < body.len() {
            let mut out = Vec::with_capacity(compressed.len() + 1);
            out.push(lz4);
            out.extend_from_slice(&compressed);
            return out;
        }
    }
    bytes
}

/// Decodes stored bytes; `key` names the value in the error when they do not decode.
pub(crate) fn decode<T: DeserializeOwned>(key: impl FnOnce() -> String, bytes: &[u8]) -> Result<T> {
    let result = match bytes.split_first() {
        None => Err("empty value".to_owned()),
        Some((&(FORMAT_PLAIN | FORMAT_ARRAY), body)) => {
            rmp_serde::from_slice(body).map_err(|e| e.to_string())
        }
        Some((&(FORMAT_LZ4 | FORMAT_ARRAY_LZ4), block)) => decompress(block)
            .and_then(|body| rmp_serde::from_slice(&body).map_err(|e| e.to_string())),
        Some((&FORMAT_ARRAY_ZSTD, value)) => dictionary::inflate(value)
            .and_then(|body| rmp_serde::from_slice(&body).map_err(|e| e.to_string())),
        Some((version, _)) => {
            Err(format!("unknown format version {version}, this build reads {FORMATS:?}"))
        }
    };
    result.map_err(|reason| Error::Corrupt { key: key(), reason })
}

/// Inflates a size-prepended LZ4 block, refusing sizes the block cannot hold so a corrupt
/// header never causes a huge allocation.
fn decompress(block: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let (size, data) = lz4_flex::block::uncompressed_size(block).map_err(|e| e.to_string())?;
    if size > data.len().saturating_mul(LZ4_MAX_RATIO) {
        return Err(format!("LZ4 header claims {size} bytes from {} compressed", data.len()));
    }
    let mut out = vec![0; size];
    let written = lz4_flex::block::decompress_into(data, &mut out).map_err(|e| e.to_string())?;
    if written != size {
        return Err(format!("LZ4 block inflated to {written} bytes, header says {size}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct V1 {
        execution_id: String,
        start_time: i64,
    }

    /// A later version of the record, with a field V1 does not know.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct V2 {
        execution_id: String,
        start_time: i64,
        #[serde(default)]
        retries: Option<u32>,
    }

    fn key() -> String {
        "executions/x".to_owned()
    }

    #[test]
    fn round_trips_with_a_version_byte() -> Result<()> {
        let v1 = V1 { execution_id: "x".to_owned(), start_time: i64::MIN };
        let bytes = encode("v1", &v1)?;
        assert_eq!(bytes.first(), Some(&FORMAT_PLAIN));
        assert_eq!(decode::<V1>(key, &bytes)?, v1);
        Ok(())
    }

    #[test]
    fn large_values_are_compressed_and_round_trip() -> Result<()> {
        let v1 = V1 { execution_id: "abc".repeat(400), start_time: 42 };
        let bytes = encode("v1", &v1)?;
        assert_eq!(bytes.first(), Some(&FORMAT_LZ4));
        assert!(bytes.len() < 200, "{} bytes", bytes.len());
        assert_eq!(decode::<V1>(key, &bytes)?, v1);
        Ok(())
    }

    #[test]
    fn added_fields_are_tolerated_both_ways() -> Result<()> {
        let newer = V2 { execution_id: "x".to_owned(), start_time: 7, retries: Some(3) };
        let older: V1 = decode(key, &encode("v2", &newer)?)?;
        assert_eq!(older, V1 { execution_id: "x".to_owned(), start_time: 7 });
        let upgraded: V2 = decode(key, &encode("v1", &older)?)?;
        assert_eq!(upgraded, V2 { retries: None, ..newer });
        Ok(())
    }

    #[test]
    fn positional_values_round_trip_smaller_and_compressed_when_large() -> Result<()> {
        let v1 = V1 { execution_id: "x".to_owned(), start_time: 42 };
        let bytes = encode_positional("v1", &v1)?;
        assert_eq!(bytes.first(), Some(&FORMAT_ARRAY));
        assert!(bytes.len() < encode("v1", &v1)?.len());
        assert_eq!(decode::<V1>(key, &bytes)?, v1);
        let large = V1 { execution_id: "abc".repeat(400), start_time: 42 };
        let bytes = encode_positional("large", &large)?;
        assert_eq!(bytes.first(), Some(&FORMAT_ARRAY_LZ4));
        assert_eq!(decode::<V1>(key, &bytes)?, large);
        Ok(())
    }

    #[test]
    fn a_field_added_at_the_end_with_a_default_reads_from_older_positional_values() -> Result<()> {
        let older = V1 { execution_id: "x".to_owned(), start_time: 7 };
        let newer: V2 = decode(key, &encode_positional("v1", &older)?)?;
        assert_eq!(newer, V2 { execution_id: "x".to_owned(), start_time: 7, retries: None });
        Ok(())
    }

    #[test]
    fn bad_bytes_are_corrupt_never_a_panic() {
        let cases: [(&[u8], &str); 7] = [
            (&[], "empty value"),
            (&[3, 0x80], "unknown format version 3"),
            (&[FORMAT_PLAIN], ""),
            (&[FORMAT_PLAIN, 0x82, 0xa1, b'x', 0xc1], ""),
            (&[FORMAT_LZ4, 0xff, 0xff, 0xff, 0x7f, 0x10], "claims"),
            (&[FORMAT_LZ4, 0x05, 0, 0, 0, 0x50, b'a', b'b', b'c', b'd', b'e'], ""),
            (&[FORMAT_LZ4, 0x01], ""),
        ];
        for (bytes, reason) in cases {
            match decode::<V1>(key, bytes) {
                Err(Error::Corrupt { key, reason: why }) => {
                    assert_eq!(key, "executions/x");
                    assert!(why.contains(reason), "{why}");
                }
                other => panic!("{bytes:?} decoded to {other:?}"),
            }
        }
    }
}
