//! `dag_counts`: how many records each (DAG name, status) pair has, kept in the write
//! transaction that changes them, so counting runs of a DAG in some statuses is O(1).

use std::collections::BTreeMap;

use redb::{Database, ReadTransaction, ReadableTable, Table, TableHandle};

use super::fields::{backfill, BACKFILL};
use super::tables::DAG_COUNTS;
use crate::error::{Result, StorageResultExt};
use crate::model::ExecutionStatus;

/// A status as stored in a `dag_counts` key: its index in [`ExecutionStatus::ALL`].
pub(crate) fn status_slot(status: ExecutionStatus) -> u8 {
    match status {
        ExecutionStatus::Running => 0,
        ExecutionStatus::Completed => 1,
        ExecutionStatus::Failed => 2,
    }
}

/// Count changes of one transaction, written once at its end.
#[derive(Debug, Default)]
pub(crate) struct DagDeltas(BTreeMap<(String, u8), i64>);

impl DagDeltas {
    pub(crate) fn add(&mut self, dag_name: &str, status: ExecutionStatus, delta: i64) {
        *self.0.entry((dag_name.to_owned(), status_slot(status))).or_default() += delta;
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Applies the changes; a count reaching zero is removed.
    pub(crate) fn write(
        &self,
        table: &mut Table<'_, (&'static str, u8), u64>,
        operation: &'static str,
    ) -> Result<()> {
        for ((dag, slot), &delta) in self.0.iter().filter(|(_, &d)| d != 0) {
            let key = (dag.as_str(), *slot);
            let current = table.get(key).during(operation)?.map_or(0, |v| v.value());
            match current.saturating_add_signed(delta) {
                0 => table.remove(key).during(operation).map(drop)?,
                count => table.insert(key, count).during(operation).map(drop)?,
            }
        }
        Ok(())
    }
}

/// How many records of `dag_name` have one of `statuses`.
pub(crate) fn count(
    txn: &ReadTransaction,
    dag_name: &str,
    statuses: &[ExecutionStatus],
) -> Result<u64> {
    const OP: &str = "count";
    let table = txn.open_table(DAG_COUNTS).during(OP)?;
    let mut total = 0;
    for &status in statuses {
        total += table.get((dag_name, status_slot(status))).during(OP)?.map_or(0, |v| v.value());
    }
    Ok(total)
}

/// Builds the counts from `executions` if the file has none (it predates the table).
pub(crate) fn ensure(db: &Database) -> Result<()> {
    backfill(db, DAG_COUNTS.name(), |txn, _, at| {
        let mut deltas = DagDeltas::default();
        deltas.add(&at.dag_name, at.status, 1);
        deltas.write(&mut txn.open_table(DAG_COUNTS).during(BACKFILL)?, BACKFILL)
    })
}

/// The counts as stored, for `verify`.
pub(crate) fn counts(txn: &ReadTransaction) -> Result<BTreeMap<(String, u8), u64>> {
    const OP: &str = "verify";
    let table = txn.open_table(DAG_COUNTS).during(OP)?;
    let mut counts = BTreeMap::new();
    for entry in table.iter().during(OP)? {
        let (key, count) = entry.during(OP)?;
        let (dag, slot) = key.value();
        counts.insert((dag.to_owned(), slot), count.value());
    }
    Ok(counts)
}
