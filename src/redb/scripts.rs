//! `script_counts`: how many records each script path has, so keep-last-N per script
//! knows without a scan whether a script is over its limit.

use std::collections::BTreeMap;

use redb::{Database, ReadTransaction, ReadableTable, Table, TableHandle};

use super::fields::{backfill, BACKFILL};
use super::tables::SCRIPT_COUNTS;
use crate::error::{Result, StorageResultExt};

/// Per-script count changes of one transaction, written once at its end.
#[derive(Debug, Default)]
pub(crate) struct ScriptDeltas(BTreeMap<String, i64>);

impl ScriptDeltas {
    pub(crate) fn add(&mut self, script: &str, delta: i64) {
        match self.0.get_mut(script) {
            Some(count) => *count += delta,
            None => drop(self.0.insert(script.to_owned(), delta)),
        }
    }

    pub(crate) fn get(&self, script: &str) -> i64 {
        self.0.get(script).copied().unwrap_or(0)
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Applies the changes; a script whose count reaches zero is removed.
    pub(crate) fn write(
        &self,
        table: &mut Table<'_, &'static str, u64>,
        operation: &'static str,
    ) -> Result<()> {
        for (script, &delta) in self.0.iter().filter(|(_, &d)| d != 0) {
            let current = table.get(script.as_str()).during(operation)?.map_or(0, |v| v.value());
            match current.saturating_add_signed(delta) {
                0 => table.remove(script.as_str()).during(operation).map(drop)?,
                count => table.insert(script.as_str(), count).during(operation).map(drop)?,
            }
        }
        Ok(())
    }
}

/// Builds the counts from `executions` if the file has none (it predates the table).
pub(crate) fn ensure(db: &Database) -> Result<()> {
    backfill(db, SCRIPT_COUNTS.name(), |txn, _, at| {
        let mut deltas = ScriptDeltas::default();
        if let Some(script) = at.script_path.as_deref() {
            deltas.add(script, 1);
        }
        deltas.write(&mut txn.open_table(SCRIPT_COUNTS).during(BACKFILL)?, BACKFILL)
    })
}

/// The counts as stored, for `verify`.
pub(crate) fn counts(txn: &ReadTransaction) -> Result<BTreeMap<String, u64>> {
    const OP: &str = "verify";
    let table = txn.open_table(SCRIPT_COUNTS).during(OP)?;
    let mut counts = BTreeMap::new();
    for entry in table.iter().during(OP)? {
        let (script, count) = entry.during(OP)?;
        counts.insert(script.value().to_owned(), count.value());
    }
    Ok(counts)
}
