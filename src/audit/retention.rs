// placeholder: replaced by the i7-audit branch
//! Audit retention: the events of removed runs and events past their age.

use crate::error::Result;

/// Removes the audit events of executions marked in `AUDIT_ORPHANS`, touching at most
/// `budget` chunks; returns how many it touched (0: nothing left to do).
pub(crate) fn sweep_orphans(_txn: &redb::WriteTransaction, _budget: u64) -> Result<u64> {
    Ok(0)
}

/// Removes whole chunks whose newest event is older than `cutoff_millis`, at most `budget`;
/// returns how many it removed.
pub(crate) fn remove_older_than(
    _txn: &redb::WriteTransaction,
    _cutoff_millis: i64,
    _budget: u64,
) -> Result<u64> {
    Ok(0)
}
