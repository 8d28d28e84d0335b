//! What a retention policy would remove, rule by rule, from a read transaction: the dry
//! run of `execstore prune`. Each rule is counted on its own, so a record two rules would
//! remove is counted under both.

use redb::{ReadTransaction, ReadableTable};

use super::read::StatusCounters;
use super::tables::{BY_FIELD, FIELD_STATUS, META, SCRIPT_COUNTS};
use crate::error::{Result, StorageResultExt};
use crate::model::ExecutionStatus;
use crate::retention::{cutoff, PruneReport, RetentionPolicy};

const OP: &str = "preview";

/// The age and count rules, exact each; costs the records past an age plus the scripts.
pub(crate) fn preview(
    txn: &ReadTransaction,
    policy: &RetentionPolicy,
    now_millis: i64,
) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    for status in ExecutionStatus::ALL {
        if let Some(age) = policy.age_of(status) {
            report.by_age += count_status_before(txn, status, cutoff(now_millis, age))?;
        }
    }
    if let Some(keep) = policy.per_script() {
        let counts = txn.open_table(SCRIPT_COUNTS).during(OP)?;
        for entry in counts.iter().during(OP)? {
            report.per_script += entry.during(OP)?.1.value().saturating_sub(keep);
        }
    }
    if let Some(max) = policy.executions_limit() {
        report.beyond_max = total(txn)?.saturating_sub(max);
    }
    Ok(report)
}

/// How many records there are, from the counters.
pub(crate) fn total(txn: &ReadTransaction) -> Result<u64> {
    Ok(StatusCounters::read(&txn.open_table(META).during(OP)?, OP)?.total())
}

fn count_status_before(txn: &ReadTransaction, status: ExecutionStatus, cutoff: i64) -> Result<u64> {
    let by_field = txn.open_table(BY_FIELD).during(OP)?;
    let s = status.as_str();
    let mut count = 0;
    for entry in
        by_field.range((FIELD_STATUS, s, i64::MIN, "")..(FIELD_STATUS, s, cutoff, "")).during(OP)?
    {
        entry.during(OP)?;
        count += 1;
    }
    Ok(count)
}
