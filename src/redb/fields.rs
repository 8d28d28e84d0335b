//! The `by_field` index: each record under its DAG name, status and source, so a filter or
//! a per-status retention rule reads one key range.

use redb::{
    Database, Key, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, Value,
    WriteTransaction,
};

use super::read::Locator;
use super::record_value::decode_value;
use super::tables::{BY_FIELD, EXECUTIONS, FIELD_DAG, FIELD_SOURCE, FIELD_STATUS};
use crate::error::{Result, StorageResultExt};
use crate::model::{ExecutionSource, ExecutionStatus};

/// The (field, value) pairs a record is indexed under.
pub(crate) fn field_values(
    dag_name: &str,
    status: ExecutionStatus,
    source: ExecutionSource,
) -> [(u8, &str); 3] {
    [(FIELD_DAG, dag_name), (FIELD_STATUS, status.as_str()), (FIELD_SOURCE, source.as_str())]
}

/// Builds the index from `executions` if the file has none (it predates the index).
pub(crate) fn ensure(db: &Database) -> Result<()> {
    backfill(db, BY_FIELD.name(), |txn, id, at| {
        let mut by_field = txn.open_table(BY_FIELD).during(BACKFILL)?;
        for (field, value) in field_values(&at.dag_name, at.status, at.source) {
            by_field.insert((field, value, at.start_time, id), ()).during(BACKFILL)?;
        }
        Ok(())
    })
}

/// The operation a back-fill's errors name.
pub(crate) const BACKFILL: &str = "open";

/// If the file has no table `name` (it predates it), calls `each` with every record's id and
/// locator in one write transaction, then commits it.
pub(crate) fn backfill(
    db: &Database,
    name: &str,
    mut each: impl FnMut(&WriteTransaction, &str, &Locator) -> Result<()>,
) -> Result<()> {
    if table_exists(db, name)? {
        return Ok(());
    }
    let txn = db.begin_write().during(BACKFILL)?;
    {
        let executions = txn.open_table(EXECUTIONS).during(BACKFILL)?;
        for entry in executions.iter().during(BACKFILL)? {
            let (id, bytes) = entry.during(BACKFILL)?;
            let id = id.value();
            let (_, at) = decode_value::<Locator>(id, bytes.value())?;
            each(&txn, id, &at)?;
        }
    }
    txn.commit().during(BACKFILL)
}

/// If the file has the table `old` (it predates what replaced it), calls `migrate` in one
/// write transaction, then deletes `old` in it and commits.
pub(crate) fn migrate_away<K: Key + 'static, V: Value + 'static>(
    db: &Database,
    old: TableDefinition<K, V>,
    migrate: impl FnOnce(&WriteTransaction) -> Result<()>,
) -> Result<()> {
    if !table_exists(db, old.name())? {
        return Ok(());
    }
    let txn = db.begin_write().during(BACKFILL)?;
    migrate(&txn)?;
    txn.delete_table(old).during(BACKFILL)?;
    txn.commit().during(BACKFILL)
}

/// Whether the file has a table of this name.
pub(crate) fn table_exists(db: &Database, name: &str) -> Result<bool> {
    const OP: &str = "open";
    Ok(db.begin_read().during(OP)?.list_tables().during(OP)?.any(|t| t.name() == name))
}
