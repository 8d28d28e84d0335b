//! Queries, written once for read and write transactions alike.

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::layout::Layout;
use super::minutes;
use super::record_value::decode_value;
use super::summary_value::decode_summary;
use super::tables::{BY_SCRIPT, BY_START, EXECUTIONS, META};
use super::viz_blobs::{VizHash, VizReader};
use super::viz_cache::VizCache;
use super::write::JOURNAL_SEQ_KEY;
use crate::error::{Error, Result, StorageResultExt};
use crate::model::{
    ExecutionSource, ExecutionStatus, ExecutionSummary, StorageStats, StoredExecution,
};
use crate::storage::page_vec;

/// Where a record sits in the indexes and counters, decoded from a record's bytes in
/// either layout (see `layout.rs`), skipping the rest of the record.
#[derive(Debug)]
pub(crate) struct Locator {
    pub(crate) dag_name: String,
    pub(crate) source: ExecutionSource,
    pub(crate) script_path: Option<String>,
    pub(crate) start_time: i64,
    pub(crate) status: ExecutionStatus,
}

/// [`Locator`]'s fields of a named record (a map, skipped fields and all).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedLocator {
    dag_name: String,
    source: ExecutionSource,
    #[serde(default)]
    script_path: Option<String>,
    start_time: i64,
    status: ExecutionStatus,
}

/// [`Locator`]'s fields of a positional record: `StoredExecution`'s fields in declaration
/// order, those not needed skipped.
#[derive(Deserialize)]
struct PositionalLocator(
    IgnoredAny,      // execution_id
    String,          // dag_name
    Option<String>,  // script_path
    i64,             // start_time
    IgnoredAny,      // end_time
    IgnoredAny,      // inputs
    IgnoredAny,      // outputs
    ExecutionStatus, // status
    IgnoredAny,      // node_results
    IgnoredAny,      // dag_viz_ir
    IgnoredAny,      // sample_rate
    ExecutionSource, // source
);

impl<'de> Deserialize<'de> for Locator {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        Ok(match Layout::<NamedLocator, PositionalLocator>::deserialize(deserializer)? {
            Layout::Named(at) => Locator {
                dag_name: at.dag_name,
                source: at.source,
                script_path: at.script_path,
                start_time: at.start_time,
                status: at.status,
            },
            Layout::Positional(at) => Locator {
                dag_name: at.1,
                script_path: at.2,
                start_time: at.3,
                status: at.7,
                source: at.11,
            },
        })
    }
}

/// Decodes a record's bytes and puts its DAG visualization back.
fn decode_record<B: ReadableTable<&'static VizHash, &'static [u8]>>(
    viz: &VizReader<'_, B>,
    id: &str,
    bytes: &[u8],
    operation: &'static str,
) -> Result<StoredExecution> {
    let (link, mut record) = decode_value::<StoredExecution>(id, bytes)?;
    record.dag_viz_ir = link.map(|key| viz.load(id, &key, operation)).transpose()?;
    Ok(record)
}

/// `get` in a read transaction.
pub(crate) fn get(
    txn: &ReadTransaction,
    viz_cache: &VizCache,
    id: &str,
    operation: &'static str,
) -> Result<Option<StoredExecution>> {
    let executions = txn.open_table(EXECUTIONS).during(operation)?;
    find(&executions, || VizReader::open(txn, viz_cache, operation), id, operation)
}

/// `get` in a write transaction: what it holds, committed or not.
pub(crate) fn get_in_write(
    txn: &WriteTransaction,
    viz_cache: &VizCache,
    id: &str,
    operation: &'static str,
) -> Result<Option<StoredExecution>> {
    let executions = txn.open_table(EXECUTIONS).during(operation)?;
    find(&executions, || VizReader::open_in_write(txn, viz_cache, operation), id, operation)
}

/// Record `id` from `executions`, its visualization from the reader `viz` opens (only when
/// the record exists).
fn find<'c, B: ReadableTable<&'static VizHash, &'static [u8]>>(
    executions: &impl ReadableTable<&'static str, &'static [u8]>,
    viz: impl FnOnce() -> Result<VizReader<'c, B>>,
    id: &str,
    operation: &'static str,
) -> Result<Option<StoredExecution>> {
    let Some(bytes) = executions.get(id).during(operation)? else { return Ok(None) };
    decode_record(&viz()?, id, bytes.value(), operation).map(Some)
}

/// Up to `limit` full records with an id above `after`, in id order: a page of an export.
pub(crate) fn records_after(
    txn: &ReadTransaction,
    viz_cache: &VizCache,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredExecution>> {
    const OP: &str = "records_after";
    let executions = txn.open_table(EXECUTIONS).during(OP)?;
    let viz = VizReader::open(txn, viz_cache, OP)?;
    let range = match after {
        Some(after) => executions.range::<&str>((Bound::Excluded(after), Bound::Unbounded)),
        None => executions.range::<&str>(..),
    };
    let mut page = page_vec(limit);
    for entry in range.during(OP)?.take(limit) {
        let (id, bytes) = entry.during(OP)?;
        page.push(decode_record(&viz, id.value(), bytes.value(), OP)?);
    }
    Ok(page)
}

/// A page of `list`: one reverse range over the covering index, no full record decoded.
pub(crate) fn list(
    txn: &ReadTransaction,
    limit: usize,
    offset: usize,
) -> Result<Vec<ExecutionSummary>> {
    let by_start = txn.open_table(BY_START).during("list")?;
    let (bound, offset) = minutes::skip(txn, offset)?;
    let range = match bound {
        Some(bound) => by_start.range(..(bound, "")),
        None => by_start.range::<(i64, &str)>(..),
    };
    let mut page = page_vec(limit);
    for entry in range.during("list")?.rev().skip(offset).take(limit) {
        let (key, summary) = entry.during("list")?;
        let (start, id) = key.value();
        page.push(decode_summary(start, id, summary.value())?);
    }
    Ok(page)
}

/// A page of `list_by_script`: the newest entries of one script's key range.
pub(crate) fn list_by_script(
    txn: &ReadTransaction,
    script_path: &str,
    limit: usize,
) -> Result<Vec<ExecutionSummary>> {
    const OP: &str = "list_by_script";
    let by_script = txn.open_table(BY_SCRIPT).during(OP)?;
    let by_start = txn.open_table(BY_START).during(OP)?;
    // No string sorts strictly between `s` and `s + "\0"`, so this upper bound ends the
    // range right after the last key of `script_path`.
    let next_script = format!("{script_path}\0");
    let range = (script_path, i64::MIN, "")..(next_script.as_str(), i64::MIN, "");
    let mut page = page_vec(limit);
    for entry in by_script.range(range).during(OP)?.rev().take(limit) {
        let (key, _) = entry.during(OP)?;
        let (script, start, id) = key.value();
        let key = || format!("by_script_keys/({script}, {start}, {id})");
        let Some(summary) = by_start.get((start, id)).during(OP)? else {
            return Err(Error::Corrupt { key: key(), reason: "no by_start entry".to_owned() });
        };
        page.push(decode_summary(start, id, summary.value())?);
    }
    Ok(page)
}

/// How many records started before `cutoff`: a range count over the start-time index.
pub(crate) fn count_before(txn: &ReadTransaction, cutoff: i64) -> Result<u64> {
    let by_start = txn.open_table(BY_START).during("count")?;
    let mut count = 0;
    for entry in by_start.range((i64::MIN, "")..(cutoff, "")).during("count")? {
        entry.during("count")?;
        count += 1;
    }
    Ok(count)
}

/// The last journal entry the database holds (0: none).
pub(crate) fn journal_seq(txn: &ReadTransaction) -> Result<u64> {
    let meta = txn.open_table(META).during("recover")?;
    Ok(meta.get(JOURNAL_SEQ_KEY).during("recover")?.map_or(0, |v| v.value()))
}

/// `stats` from the counters and both ends of the start-time index: constant time.
pub(crate) fn stats(txn: &ReadTransaction, max_capacity: Option<u64>) -> Result<StorageStats> {
    let counters = StatusCounters::read(&txn.open_table(META).during("stats")?, "stats")?;
    let by_start = txn.open_table(BY_START).during("stats")?;
    let oldest = by_start.first().during("stats")?.map(|(key, _)| key.value().0);
    let newest = by_start.last().during("stats")?.map(|(key, _)| key.value().0);
    Ok(StorageStats {
        total_executions: counters.total(),
        running_executions: counters.running,
        completed_executions: counters.completed,
        failed_executions: counters.failed,
        oldest_execution_time: oldest,
        newest_execution_time: newest,
        max_capacity,
    })
}

/// The per-status counts kept in `meta`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StatusCounters {
    pub(crate) running: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
}

impl StatusCounters {
    /// The `meta` key of a status's counter.
    pub(crate) fn key(status: ExecutionStatus) -> &'static str {
        match status {
            ExecutionStatus::Running => "count.running",
            ExecutionStatus::Completed => "count.completed",
            ExecutionStatus::Failed => "count.failed",
        }
    }

    pub(crate) fn read(
        meta: &impl ReadableTable<&'static str, u64>,
        operation: &'static str,
    ) -> Result<Self> {
        let count = |status| -> Result<u64> {
            Ok(meta.get(Self::key(status)).during(operation)?.map_or(0, |v| v.value()))
        };
        Ok(StatusCounters {
            running: count(ExecutionStatus::Running)?,
            completed: count(ExecutionStatus::Completed)?,
            failed: count(ExecutionStatus::Failed)?,
        })
    }

    /// The count of one status.
    pub(crate) fn get(&self, status: ExecutionStatus) -> u64 {
        match status {
            ExecutionStatus::Running => self.running,
            ExecutionStatus::Completed => self.completed,
            ExecutionStatus::Failed => self.failed,
        }
    }

    /// Counts one more record of `status`.
    pub(crate) fn count(&mut self, status: ExecutionStatus) {
        self.add(status, 1);
    }

    /// Adds `delta` (possibly negative) to the count of `status`, saturating.
    pub(crate) fn add(&mut self, status: ExecutionStatus, delta: i64) {
        let slot = match status {
            ExecutionStatus::Running => &mut self.running,
            ExecutionStatus::Completed => &mut self.completed,
            ExecutionStatus::Failed => &mut self.failed,
        };
        *slot = slot.saturating_add_signed(delta);
    }

    pub(crate) fn total(&self) -> u64 {
        self.running.saturating_add(self.completed).saturating_add(self.failed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::model::StoredNodeResult;
    use crate::redb::codec::{decode, encode, encode_positional};

    /// A record with every field set, so a position off by one decodes wrongly or not at all.
    fn record() -> StoredExecution {
        let mut record = StoredExecution::new(
            "etl",
            Some("jobs/etl.cst".to_owned()),
            BTreeMap::from([("n".to_owned(), json!(1))]),
            ExecutionSource::Dashboard,
        );
        record.status = ExecutionStatus::Failed;
        record.end_time = Some(record.start_time + 3);
        record.outputs = Some(BTreeMap::from([("out".to_owned(), json!("x"))]));
        let node = StoredNodeResult {
            node_id: "a".to_owned(),
            status: ExecutionStatus::Failed,
            value: Some(json!([1, 2])),
            duration_ms: Some(4),
            error: Some("boom".to_owned()),
        };
        record.node_results.insert("a".to_owned(), node);
        record.sample_rate = 0.5;
        record
    }

    #[test]
    fn a_locator_reads_from_named_and_positional_records_alike() -> Result<()> {
        let record = record();
        for bytes in [encode("t", &record)?, encode_positional("t", &record)?] {
            let at: Locator = decode(|| "t".to_owned(), &bytes)?;
            assert_eq!(at.dag_name, record.dag_name);
            assert_eq!(at.script_path, record.script_path);
            assert_eq!(at.start_time, record.start_time);
            assert_eq!(at.status, record.status);
            assert_eq!(at.source, record.source);
        }
        Ok(())
    }
}
