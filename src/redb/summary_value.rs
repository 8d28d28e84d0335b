//! A `by_start` value: a record's summary without the start time and id its key holds.
//!
//! Positional, like records (see `codec.rs`): `(dag_name, script_path, end_time, status,
//! source, node_count, output_preview)`. Files before schema version 3 hold the whole
//! summary as a named map, which still reads.

use super::codec::{decode, encode_positional};
use super::layout::Layout;
use crate::error::Result;
use crate::model::{ExecutionSource, ExecutionStatus, ExecutionSummary};

/// The stored fields, in their order.
type Stored =
    (String, Option<String>, Option<i64>, ExecutionStatus, ExecutionSource, usize, Option<String>);

/// `summary` as a `by_start` value.
pub(crate) fn encode(summary: &ExecutionSummary) -> Result<Vec<u8>> {
    let stored = (
        &summary.dag_name,
        &summary.script_path,
        summary.end_time,
        summary.status,
        summary.source,
        summary.node_count,
        &summary.output_preview,
    );
    encode_positional(&format!("summary of {}", summary.execution_id), &stored)
}

/// The summary of record `id`, started at `start`, from its `by_start` value.
pub(crate) fn decode_summary(start: i64, id: &str, bytes: &[u8]) -> Result<ExecutionSummary> {
    let key = || format!("by_start/({start}, {id})");
    Ok(match decode::<Layout<ExecutionSummary, Stored>>(key, bytes)? {
        Layout::Named(summary) => summary,
        Layout::Positional(stored) => {
            let (dag_name, script_path, end_time, status, source, node_count, output_preview) =
                stored;
            ExecutionSummary {
                execution_id: id.to_owned(),
                dag_name,
                script_path,
                start_time: start,
                end_time,
                status,
                source,
                node_count,
                output_preview,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::model::StoredExecution;

    fn summary() -> ExecutionSummary {
        let mut record = StoredExecution::new(
            "etl",
            Some("jobs/etl.cst".to_owned()),
            BTreeMap::new(),
            ExecutionSource::API,
        );
        record.status = ExecutionStatus::Failed;
        record.end_time = Some(record.start_time + 9);
        record.outputs = Some(BTreeMap::from([("rows".to_owned(), json!(12))]));
        ExecutionSummary::from(&record)
    }

    #[test]
    fn a_summary_round_trips_without_its_key_fields() -> Result<()> {
        let summary = summary();
        let bytes = encode(&summary)?;
        assert!(
            !bytes
                .windows(summary.execution_id.len())
                .any(|w| w == summary.execution_id.as_bytes()),
            "the id is in the key, not the value"
        );
        let back = decode_summary(summary.start_time, &summary.execution_id, &bytes)?;
        assert_eq!(back, summary);
        Ok(())
    }

    #[test]
    fn a_named_summary_of_an_older_file_reads_whole() -> Result<()> {
        let summary = summary();
        let named = crate::redb::codec::encode("t", &summary)?;
        assert_eq!(decode_summary(summary.start_time, &summary.execution_id, &named)?, summary);
        Ok(())
    }

    #[test]
    fn a_summary_that_does_not_decode_is_corrupt_naming_its_key() -> Result<()> {
        let bytes = encode_positional("t", &("only", "two"))?;
        match decode_summary(5, "x", &bytes) {
            Err(crate::Error::Corrupt { key, .. }) => assert_eq!(key, "by_start/(5, x)"),
            other => panic!("decoded to {other:?}"),
        }
        Ok(())
    }
}
