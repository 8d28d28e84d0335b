//! Every redb table of an execstore file, and the schema version they form.
//!
//! Keys are typed tuples; values are codec bytes (a format-version byte, then MessagePack).
//! Every table is created with the file, so a read transaction never meets a missing table.

use redb::{TableDefinition, WriteTransaction};

/// The layout version written to `meta` at creation and checked at every open. Version 2
/// keeps a record's visualization hash in its value; version 3 writes records and
/// summaries positionally (see `codec.rs`) and summaries without their key's fields (see
/// `summary_value.rs`), and still reads the named values of older files. An older file is
/// migrated at open and then marked 3, so that a build that knows less refuses it instead
/// of misreading it.
pub(crate) const SCHEMA_VERSION: u64 = 3;

/// The oldest layout version an open migrates.
pub(crate) const OLDEST_SCHEMA_VERSION: u64 = 1;

/// `meta`: `"schema_version"` and the counters behind `stats`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The `meta` key holding [`SCHEMA_VERSION`].
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";

/// `executions`: id → the record without its DAG visualization, after the hash of that
/// visualization's blob (see `record_value.rs`).
pub(crate) const EXECUTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("executions");

/// `dag_viz`: id → `DagVizIr`, one copy per record, in files before `viz_blobs`; moved
/// there at open (see `viz_blobs.rs`) and then deleted.
pub(crate) const DAG_VIZ: TableDefinition<&str, &[u8]> = TableDefinition::new("dag_viz");

/// `viz_blobs`: BLAKE3 hash of an encoded `DagVizIr` → those bytes, each stored once.
pub(crate) const VIZ_BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("viz_blobs");

/// `viz_refs`: blob hash → how many records point at it.
pub(crate) const VIZ_REFS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("viz_refs");

/// `execution_viz`: id → the hash of its visualization, in files before the hash moved
/// into the record's value; moved there at open (see `record_value.rs`) and then deleted.
pub(crate) const EXECUTION_VIZ: TableDefinition<&str, &[u8; 32]> =
    TableDefinition::new("execution_viz");

/// `by_start`: (start_time, id) → summary (see `summary_value.rs`); a covering index for
/// `list`.
pub(crate) const BY_START: TableDefinition<(i64, &str), &[u8]> = TableDefinition::new("by_start");

/// `by_script_keys`: (script_path, start_time, id) → (); `list_by_script` reads each
/// entry's summary from [`BY_START`], so the summary is stored once.
pub(crate) const BY_SCRIPT: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("by_script_keys");

/// `by_script`: the script index of files before `by_script_keys`, with a copy of the
/// summary as value; migrated at open (see `script_keys.rs`) and then deleted.
pub(crate) const BY_SCRIPT_WITH_SUMMARY: TableDefinition<(&str, i64, &str), &[u8]> =
    TableDefinition::new("by_script");

/// `by_start_minute`: minute of start time → how many records started in it. Lets `list`
/// skip an offset minute by minute instead of entry by entry; derived from `by_start`, and
/// rebuilt from it when a file lacks it.
pub(crate) const BY_START_MINUTE: TableDefinition<i64, u64> =
    TableDefinition::new("by_start_minute");

/// `by_field`: (field, value, start_time, id) → (); the record's DAG name, status and
/// source as values of the fields below, for filters and per-status retention.
pub(crate) const BY_FIELD: TableDefinition<(u8, &str, i64, &str), ()> =
    TableDefinition::new("by_field");

/// [`BY_FIELD`]'s field holding the DAG name.
pub(crate) const FIELD_DAG: u8 = 0;
/// [`BY_FIELD`]'s field holding `ExecutionStatus::as_str()`.
pub(crate) const FIELD_STATUS: u8 = 1;
/// [`BY_FIELD`]'s field holding `ExecutionSource::as_str()`.
pub(crate) const FIELD_SOURCE: u8 = 2;

/// `dag_counts`: (dag_name, status slot 0/1/2 in `ExecutionStatus::ALL` order) → how many
/// records have both; a count reaching 0 is removed.
pub(crate) const DAG_COUNTS: TableDefinition<(&str, u8), u64> = TableDefinition::new("dag_counts");

/// `script_counts`: script_path → how many records have it, for keep-last-N per script.
pub(crate) const SCRIPT_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("script_counts");

/// `audit`: chunk key → up to 256 consecutive events (see `audit/commit.rs`). The key is
/// its first event's seq when written; audit retention may later remove events from a
/// chunk, which keeps its key.
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// `audit_by_execution`: (execution id as u128, seq) → ().
pub(crate) const AUDIT_BY_EXECUTION: TableDefinition<(u128, u64), ()> =
    TableDefinition::new("audit_by_execution");

/// `audit_orphans`: execution ids (UUID as u128) whose record was removed and whose audit
/// events are still to be swept. Maintained by `Tables`, emptied by audit retention.
pub(crate) const AUDIT_ORPHANS: TableDefinition<u128, ()> = TableDefinition::new("audit_orphans");

/// The `meta` key of the audit log's next seq: a high-water mark written with every batch,
/// so that removing old chunks never makes a seq be given out again. Files written before
/// it derive the next seq from their last chunk.
pub(crate) const AUDIT_NEXT_SEQ: &str = "audit.next_seq";

/// `dictionaries`: id → a zstd dictionary records are compressed with (see
/// `dictionary.rs`); `meta` names the one new values use.
pub(crate) const DICTIONARIES: TableDefinition<u64, &[u8]> = TableDefinition::new("dictionaries");

/// Opens every table in `txn`, creating those that do not exist yet.
pub(crate) fn create_all(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(META)?;
    txn.open_table(EXECUTIONS)?;
    txn.open_table(VIZ_BLOBS)?;
    txn.open_table(VIZ_REFS)?;
    txn.open_table(BY_START)?;
    txn.open_table(BY_SCRIPT)?;
    txn.open_table(BY_START_MINUTE)?;
    txn.open_table(BY_FIELD)?;
    txn.open_table(SCRIPT_COUNTS)?;
    txn.open_table(DAG_COUNTS)?;
    txn.open_table(AUDIT)?;
    txn.open_table(AUDIT_BY_EXECUTION)?;
    txn.open_table(AUDIT_ORPHANS)?;
    txn.open_table(DICTIONARIES)?;
    Ok(())
}
