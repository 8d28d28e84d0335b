//! Audit retention on a store's own audit log (the one [`RedbStorage::audit_log`] writes).

use super::store::RedbStorage;
use crate::audit::{remove_older_than, sweep_orphans};
use crate::error::Result;

impl RedbStorage {
    /// Removes the audit events of executions whose record was removed (by `delete`,
    /// `clear` or retention) and not stored again since, touching at most `budget`
    /// chunks of 256 events in one short write transaction. Returns how many chunks it
    /// touched: call again until it returns 0. Surviving events keep their seqs, and seqs
    /// are never given out again. Events committed for an execution after its sweep (a
    /// removed run that still reports) stay until removed by age.
    pub fn sweep_audit(&self, budget: u64) -> Result<u64> {
        self.write_raw("audit sweep", |txn| sweep_orphans(txn, budget))
    }

    /// Removes the oldest audit chunks whose events all have a timestamp before
    /// `cutoff_millis` (epoch millis), at most `budget` chunks in one write transaction;
    /// stops at the first chunk holding a newer event. Returns how many chunks it removed:
    /// call again until it returns 0.
    pub fn remove_audit_older_than(&self, cutoff_millis: i64, budget: u64) -> Result<u64> {
        self.write_raw("audit age", |txn| remove_older_than(txn, cutoff_millis, budget))
    }
}
