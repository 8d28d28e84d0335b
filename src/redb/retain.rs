//! A retention policy applied inside write transactions: exactly after a write, and in
//! bounded batches by `prune` and the background thread.

use redb::WriteTransaction;

use super::write::Tables;
use crate::error::{Result, StorageResultExt};
use crate::model::ExecutionStatus;
use crate::retention::{cutoff, PruneReport, RetentionPolicy};

/// How many scripts one batch looks at for keep-last-N.
const SCRIPTS_PER_BATCH: usize = 256;

impl Tables<'_> {
    /// After a write: the count limits exactly, and the records this transaction wrote
    /// removed if they are already past their age. Costs O(records written).
    pub(crate) fn enforce_on_write(&mut self, policy: &RetentionPolicy, now: i64) -> Result<()> {
        let written: Vec<_> = self
            .changes
            .written
            .iter()
            .map(|r| (r.execution_id.clone(), r.status, r.start_time, r.script_path.clone()))
            .collect();
        for (id, status, start, script) in written {
            if policy.expired(status, start, now) {
                self.remove(&id)?;
            } else if let (Some(keep), Some(script)) = (policy.per_script(), script) {
                self.evict_script_beyond(&script, keep, u64::MAX)?;
            }
        }
        if let Some(max) = policy.executions_limit() {
            self.evict_beyond(max, u64::MAX)?;
        }
        Ok(())
    }

    /// One batch of the age and count rules: at most `budget` records. `scripts_after`
    /// is where the per-script walk resumes; it is advanced past the scripts handled.
    pub(crate) fn prune_batch(
        &mut self,
        policy: &RetentionPolicy,
        now: i64,
        budget: u64,
        scripts_after: &mut Option<String>,
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        for status in ExecutionStatus::ALL {
            if let Some(age) = policy.age_of(status) {
                let left = budget - report.removed();
                report.by_age += self.evict_status_older_than(status, cutoff(now, age), left)?;
            }
        }
        if let Some(keep) = policy.per_script() {
            report.per_script +=
                self.prune_scripts(keep, budget - report.removed(), scripts_after)?;
        }
        if let Some(max) = policy.executions_limit() {
            report.beyond_max += self.evict_beyond(max, budget - report.removed())?;
        }
        Ok(report)
    }

    /// Keep-last-N over every script, resuming after `after`; `after` becomes `None` once
    /// the walk has seen every script.
    fn prune_scripts(&mut self, keep: u64, budget: u64, after: &mut Option<String>) -> Result<u64> {
        let mut removed = 0;
        while removed < budget {
            let scripts = self.scripts_over(keep, after.as_deref(), SCRIPTS_PER_BATCH)?;
            let Some(last) = scripts.last().cloned() else {
                *after = None;
                break;
            };
            for script in &scripts {
                removed += self.evict_script_beyond(script, keep, budget - removed)?;
                if removed == budget {
                    // This script may keep some excess: resume with it.
                    *after = before(script);
                    return Ok(removed);
                }
            }
            *after = Some(last);
        }
        Ok(removed)
    }

    /// Up to `budget` of the oldest records while the live data exceeds `limit`.
    pub(crate) fn prune_for_size(&mut self, limit: u64, budget: u64) -> Result<u64> {
        let live = LiveBytes::measure(self.txn(), self.operation)?;
        let total = self.counters()?.total();
        let Some(excess) = live.bytes.checked_sub(limit).filter(|&e| e > 0) else { return Ok(0) };
        // Remove as many as the excess holds at the average record size, at least one.
        let per_record = (live.stored / total.max(1)).max(1);
        let wanted = excess.div_ceil(per_record).clamp(1, budget.max(1));
        let mut removed = 0;
        while removed < wanted && self.remove_oldest(None)? {
            removed += 1;
        }
        Ok(removed)
    }
}

/// Where a walk resumes to see `script` again: after a string sorting just before it
/// (`None`, the start, for the empty string).
fn before(script: &str) -> Option<String> {
    let mut s = script.to_owned();
    s.pop().map(|_| s)
}

/// The live data of the file as redb counts it: bytes stored in its trees plus their
/// metadata, not counting free pages or fragmentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveBytes {
    pub(crate) bytes: u64,
    stored: u64,
}

impl LiveBytes {
    /// Walks every tree of the file: costs a read of each page.
    pub(crate) fn measure(txn: &WriteTransaction, operation: &'static str) -> Result<Self> {
        let stats = txn.stats().during(operation)?;
        let stored = stats.stored_bytes();
        Ok(LiveBytes { bytes: stored.saturating_add(stats.metadata_bytes()), stored })
    }
}
