//! The skip index: records per minute of start time, so `list` with a large offset walks
//! minutes (one entry each) to the right one, then only the entries inside it.

use std::collections::BTreeMap;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableHandle};

use super::tables::{BY_START, BY_START_MINUTE};
use crate::error::{Result, StorageResultExt};

/// Width of a bucket, in milliseconds of start time.
const MINUTE_MS: i64 = 60_000;

/// The bucket of a start time.
pub(crate) fn minute(start_time: i64) -> i64 {
    start_time.div_euclid(MINUTE_MS)
}

/// Per-minute count changes of one transaction, written once at its end.
#[derive(Debug, Default)]
pub(crate) struct MinuteDeltas(BTreeMap<i64, i64>);

impl MinuteDeltas {
    pub(crate) fn add(&mut self, start_time: i64, delta: i64) {
        *self.0.entry(minute(start_time)).or_default() += delta;
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Applies the changes; a minute whose count reaches zero is removed.
    pub(crate) fn write(
        &self,
        table: &mut Table<'_, i64, u64>,
        operation: &'static str,
    ) -> Result<()> {
        for (&minute, &delta) in self.0.iter().filter(|(_, &d)| d != 0) {
            let current = table.get(minute).during(operation)?.map_or(0, |v| v.value());
            match current.saturating_add_signed(delta) {
                0 => table.remove(minute).during(operation).map(drop)?,
                count => table.insert(minute, count).during(operation).map(drop)?,
            }
        }
        Ok(())
    }
}

/// Where a newest-first walk that skips `offset` records can start: an exclusive upper
/// bound on start time and how many records below it remain to skip.
pub(crate) fn skip(txn: &ReadTransaction, offset: usize) -> Result<(Option<i64>, usize)> {
    const OP: &str = "list";
    let minutes = txn.open_table(BY_START_MINUTE).during(OP)?;
    let mut left = offset as u64;
    let mut bound = None;
    for entry in minutes.iter().during(OP)?.rev() {
        let (minute, count) = entry.during(OP)?;
        let count = count.value();
        if count > left {
            break;
        }
        left -= count;
        bound = minute.value().checked_mul(MINUTE_MS);
        if bound.is_none() {
            return Ok((None, offset));
        }
    }
    Ok((bound, usize::try_from(left).unwrap_or(offset)))
}

/// Builds the table from `by_start` if the file has none (it predates the table).
pub(crate) fn ensure(db: &Database) -> Result<()> {
    const OP: &str = "open";
    let exists = db
        .begin_read()
        .during(OP)?
        .list_tables()
        .during(OP)?
        .any(|t| t.name() == BY_START_MINUTE.name());
    if exists {
        return Ok(());
    }
    let txn = db.begin_write().during(OP)?;
    {
        let by_start = txn.open_table(BY_START).during(OP)?;
        let mut deltas = MinuteDeltas::default();
        for entry in by_start.iter().during(OP)? {
            deltas.add(entry.during(OP)?.0.value().0, 1);
        }
        deltas.write(&mut txn.open_table(BY_START_MINUTE).during(OP)?, OP)?;
    }
    txn.commit().during(OP)
}

/// The counts as stored, for `verify`.
pub(crate) fn counts(txn: &ReadTransaction) -> Result<BTreeMap<i64, u64>> {
    const OP: &str = "verify";
    let minutes = txn.open_table(BY_START_MINUTE).during(OP)?;
    let mut counts = BTreeMap::new();
    for entry in minutes.iter().during(OP)? {
        let (minute, count) = entry.during(OP)?;
        counts.insert(minute.value(), count.value());
    }
    Ok(counts)
}
