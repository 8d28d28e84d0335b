//! A full consistency check: every record decodes, sits in each index it belongs to with
//! its current summary, and the counters match. Costs a scan of the whole file.

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};

use std::collections::{BTreeMap, HashSet};

use super::dictionary;
use super::fields::field_values;
use super::minutes;
use super::read::StatusCounters;
use super::record_value::{self, decode_value};
use super::scripts;
use super::summary_value::decode_summary;
use super::tables::{AUDIT_ORPHANS, BY_FIELD, BY_SCRIPT, BY_START, EXECUTIONS, META};
use super::write::audit_id;
use crate::error::{Error, Result, StorageResultExt};
use crate::model::{ExecutionStatus, ExecutionSummary, StoredExecution};

const OP: &str = "verify";

/// Checks the invariants between tables; returns how many records were checked.
pub(crate) fn verify(txn: &ReadTransaction) -> Result<u64> {
    let executions = txn.open_table(EXECUTIONS).during(OP)?;
    let by_start = txn.open_table(BY_START).during(OP)?;
    let by_script = txn.open_table(BY_SCRIPT).during(OP)?;
    let by_field = txn.open_table(BY_FIELD).during(OP)?;
    let mut per_script: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_dag: BTreeMap<(String, u8), u64> = BTreeMap::new();
    let mut counted = StatusCounters::default();
    let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
    let mut scripted = 0u64;
    let mut audited = HashSet::new();
    let dictionaries = dictionary::ids_in(txn, OP)?;
    for entry in executions.iter().during(OP)? {
        let (id, bytes) = entry.during(OP)?;
        let id = id.value();
        audited.extend(audit_id(id));
        check_dictionary(id, bytes.value(), &dictionaries)?;
        let (_, record) = decode_value::<StoredExecution>(id, bytes.value())?;
        let summary = ExecutionSummary::from(&record);
        check_index_entry(by_start.get((record.start_time, id)).during(OP)?, &summary, || {
            format!("by_start/({}, {id})", record.start_time)
        })?;
        if let Some(script) = record.script_path.as_deref() {
            if by_script.get((script, record.start_time, id)).during(OP)?.is_none() {
                let key = format!("by_script_keys/({script}, {}, {id})", record.start_time);
                return Err(Error::Corrupt { key, reason: "index entry missing".to_owned() });
            }
            scripted += 1;
            *per_script.entry(script.to_owned()).or_default() += 1;
        }
        for (field, value) in field_values(&record.dag_name, record.status, record.source) {
            if by_field.get((field, value, record.start_time, id)).during(OP)?.is_none() {
                let key = format!("by_field/({field}, {value}, {}, {id})", record.start_time);
                return Err(Error::Corrupt { key, reason: "index entry missing".to_owned() });
            }
        }
        counted.count(record.status);
        let slot = super::dag_counts::status_slot(record.status);
        *per_dag.entry((record.dag_name.clone(), slot)).or_default() += 1;
        *per_minute.entry(minutes::minute(record.start_time)).or_default() += 1;
    }
    let total = counted.total();
    check_len("by_start", by_start.len().during(OP)?, total)?;
    check_len("by_script", by_script.len().during(OP)?, scripted)?;
    check_len("by_field", by_field.len().during(OP)?, total * 3)?;
    if super::dag_counts::counts(txn)? != per_dag {
        let reason = "per-DAG counts differ from the records".to_owned();
        return Err(Error::Corrupt { key: "dag_counts".to_owned(), reason });
    }
    if scripts::counts(txn)? != per_script {
        let reason = "per-script counts differ from the records".to_owned();
        return Err(Error::Corrupt { key: "script_counts".to_owned(), reason });
    }
    super::viz_blobs::verify(txn, OP)?;
    check_counters(txn, counted)?;
    check_orphans(txn, &audited)?;
    crate::audit::check_next_seq(txn)?;
    if minutes::counts(txn)? != per_minute {
        let reason = "per-minute counts differ from the records".to_owned();
        return Err(Error::Corrupt { key: "by_start_minute".to_owned(), reason });
    }
    Ok(total)
}

/// A record compressed with a dictionary the file lacks may still decode here, with a copy
/// another store of this process holds, but would not in a process of its own.
fn check_dictionary(id: &str, value: &[u8], dictionaries: &HashSet<u64>) -> Result<()> {
    let (_, codec_bytes) = record_value::split(id, value)?;
    match dictionary::named_by(codec_bytes) {
        Some(named) if !dictionaries.contains(&named) => Err(Error::Corrupt {
            key: format!("executions/{id}"),
            reason: format!("compressed with dictionary {named:016x}, which the file lacks"),
        }),
        _ => Ok(()),
    }
}

fn check_index_entry(
    entry: Option<redb::AccessGuard<'_, &'static [u8]>>,
    expected: &ExecutionSummary,
    key: impl Fn() -> String,
) -> Result<()> {
    let Some(bytes) = entry else {
        return Err(Error::Corrupt { key: key(), reason: "index entry missing".to_owned() });
    };
    let found = decode_summary(expected.start_time, &expected.execution_id, bytes.value())?;
    if &found != expected {
        return Err(Error::Corrupt { key: key(), reason: "stale summary".to_owned() });
    }
    Ok(())
}

/// Each record is in its indexes (checked above), so equal lengths mean no stray entries.
fn check_len(table: &str, found: u64, expected: u64) -> Result<()> {
    if found != expected {
        return Err(Error::Corrupt {
            key: table.to_owned(),
            reason: format!("{found} entries for {expected} records"),
        });
    }
    Ok(())
}

fn check_counters(txn: &ReadTransaction, counted: StatusCounters) -> Result<()> {
    let stored = StatusCounters::read(&txn.open_table(META).during(OP)?, OP)?;
    for status in ExecutionStatus::ALL {
        let (found, expected) = (stored.get(status), counted.get(status));
        if found != expected {
            return Err(Error::Corrupt {
                key: format!("meta/{}", StatusCounters::key(status)),
                reason: format!("counter says {found}, the table holds {expected}"),
            });
        }
    }
    Ok(())
}

/// An execution marked for audit sweeping has no record (`records`: their audit ids). A
/// file from before the table has none to check.
fn check_orphans(txn: &ReadTransaction, records: &HashSet<u128>) -> Result<()> {
    let orphans = match txn.open_table(AUDIT_ORPHANS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(error) => return Err(error).during(OP),
    };
    for entry in orphans.iter().during(OP)? {
        let execution = entry.during(OP)?.0.value();
        if records.contains(&execution) {
            let key = format!("audit_orphans/{}", uuid::Uuid::from_u128(execution));
            return Err(Error::Corrupt { key, reason: "marked removed, but stored".to_owned() });
        }
    }
    Ok(())
}
