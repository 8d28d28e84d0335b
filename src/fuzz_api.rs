//! Internals exposed to the fuzz targets only (the `fuzzing` feature); not a public API.

use crate::error::Result;
use crate::model::{ExecutionSummary, StoredExecution};

/// Decodes stored bytes as a record, as `get` does.
pub fn decode_record(bytes: &[u8]) -> Result<StoredExecution> {
    crate::redb::codec::decode(|| "fuzz/record".to_owned(), bytes)
}

/// Decodes stored bytes as a summary, as `list` does.
pub fn decode_summary(bytes: &[u8]) -> Result<ExecutionSummary> {
    crate::redb::codec::decode(|| "fuzz/summary".to_owned(), bytes)
}

/// Encodes a record as `store` does.
pub fn encode_record(record: &StoredExecution) -> Result<Vec<u8>> {
    crate::redb::codec::encode("fuzz/record", record)
}
