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
