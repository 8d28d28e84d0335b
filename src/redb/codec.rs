//! Values on disk: a format-version byte, then MessagePack with named fields.
//!
//! The only module that touches rmp-serde. Named maps tolerate added fields, so a record
//! written by a later version with extra fields still decodes here.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// The format byte every value starts with.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// `value` as stored bytes.
pub(crate) fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>> {
    let mut bytes = vec![FORMAT_VERSION];
    rmp_serde::encode::write_named(&mut bytes, value)
        .map_err(|e| Error::Encode { what: what.to_owned(), reason: e.to_string() })?;
    Ok(bytes)
}

/// Decodes stored bytes; `key` names the value in the error when they do not decode.
pub(crate) fn decode<T: DeserializeOwned>(key: impl FnOnce() -> String, bytes: &[u8]) -> Result<T> {
    let corrupt = |key: String, reason: String| Error::Corrupt { key, reason };
    match bytes.split_first() {
        None => Err(corrupt(key(), "empty value".to_owned())),
        Some((&FORMAT_VERSION, body)) => {
            rmp_serde::from_slice(body).map_err(|e| corrupt(key(), e.to_string()))
        }
        Some((version, _)) => Err(corrupt(
            key(),
            format!("unknown format version {version}, this build reads {FORMAT_VERSION}"),
        )),
    }
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
        assert_eq!(bytes.first(), Some(&FORMAT_VERSION));
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
    fn bad_bytes_are_corrupt_never_a_panic() {
        let cases: [(&[u8], &str); 4] = [
            (&[], "empty value"),
            (&[2, 0x80], "unknown format version 2"),
            (&[FORMAT_VERSION], ""),
            (&[FORMAT_VERSION, 0x82, 0xa1, b'x', 0xc1], ""),
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
