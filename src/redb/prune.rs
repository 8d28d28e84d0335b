//! Retention on a `RedbStorage`: the policy applied in bounded batches by `prune`, the
//! background thread and the CLI, its dry run, and the size measurement and compaction
//! behind the size limit.

use std::sync::Arc;
use std::time::Duration;

use super::retain::LiveBytes;
use super::store::{compact, RedbStorage};
use super::unpublished::Unpublished;
use super::write::Tables;
use crate::error::{Result, StorageResultExt};
use crate::model::now_millis;
use crate::retention::{cutoff, PruneReport, RetentionPolicy};

/// How many records one retention transaction removes at most, so a large prune holds
/// the write lock for milliseconds at a time, not seconds.
pub const PRUNE_BATCH: u64 = 2_000;

/// How many audit chunks one retention transaction removes or rewrites at most.
const AUDIT_BATCH: u64 = 64;

impl RedbStorage {
    /// With a size limit, at open (the only moment a handle has the database to itself):
    /// rewrites the file when less than half of it is live data, giving the space freed by
    /// pruning back to the file system.
    pub(super) fn compact_if_mostly_free(&mut self) -> Result<()> {
        if self.inner.settings.retention.size_limit().is_none() {
            return Ok(());
        }
        let file_len = match std::fs::metadata(&self.inner.path) {
            Ok(meta) => meta.len(),
            Err(_) => return Ok(()), // a custom backend: no file to shrink
        };
        if self.live_bytes()?.saturating_mul(2) >= file_len {
            return Ok(());
        }
        self.sync()?;
        let path = self.inner.path.clone();
        let Some(db) = Arc::get_mut(&mut self.inner).and_then(|inner| Arc::get_mut(&mut inner.db))
        else {
            return Ok(());
        };
        compact(db, &path).map(drop)
    }

    /// Applies the whole [`RetentionPolicy`] now, in bounded batches; returns how many
    /// records were removed. Writes and the retention thread apply it too, so this matters
    /// after lowering a limit or to be done with it at a known moment.
    pub fn prune(&self) -> Result<u64> {
        self.prune_report().map(|report| report.removed())
    }

    /// [`prune`](RedbStorage::prune), reporting what each rule removed.
    pub fn prune_report(&self) -> Result<PruneReport> {
        self.prune_at(now_millis())
    }

    /// Applies the policy as if the clock read `now_millis` (a simulated clock).
    pub fn prune_at(&self, now_millis: i64) -> Result<PruneReport> {
        self.apply_retention(&self.inner.settings.retention, now_millis)
    }

    /// Applies `policy` (not necessarily the configured one) as if the clock read
    /// `now_millis`, in transactions of at most [`PRUNE_BATCH`] records (and a bounded
    /// number of audit chunks) each, so other writers interleave.
    pub fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_millis: i64,
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        let mut scripts_after = None;
        loop {
            let batch = self.retention_batch(|tables| {
                tables.prune_batch(policy, now_millis, PRUNE_BATCH, &mut scripts_after)
            })?;
            report.add(batch);
            if batch.removed() < PRUNE_BATCH {
                break;
            }
        }
        if let Some(limit) = policy.size_limit() {
            report.add(self.prune_for_size(limit)?);
        }
        report.add(self.prune_audit(policy.audit_age().map(|age| cutoff(now_millis, age)))?);
        Ok(report)
    }

    /// What [`apply_retention`](RedbStorage::apply_retention) with `policy` would remove,
    /// without removing anything or taking the write lock (but see `for_size`). Each rule
    /// is counted on its own: a record two rules would remove counts under both, so the
    /// sum can exceed what a prune removes. The age and count rules are exact;
    /// `for_size` is an estimate (the excess live bytes over the average record size) and
    /// measuring it walks the file like [`live_bytes`](RedbStorage::live_bytes).
    /// `audit_chunks` and `transactions` are 0.
    pub fn retention_preview(
        &self,
        policy: &RetentionPolicy,
        now_millis: i64,
    ) -> Result<PruneReport> {
        let txn = self.read_txn("preview")?;
        let mut report = super::preview::preview(&txn, policy, now_millis)?;
        if let Some(limit) = policy.size_limit() {
            let total = super::preview::total(&txn)?;
            let live = self.live_bytes()?;
            let per_record = (live / total.max(1)).max(1);
            report.for_size = live.saturating_sub(limit).div_ceil(per_record).min(total);
        }
        Ok(report)
    }

    /// The live data of the file as redb counts it (stored and metadata bytes, not free
    /// pages): what [`RetentionPolicy::max_size_bytes`] limits. Walks every page of the
    /// file inside a write transaction, so it costs about a full read of the file.
    pub fn live_bytes(&self) -> Result<u64> {
        self.exclusive("live_bytes", |db| {
            let txn = db.begin_write().during("live_bytes")?;
            let live = LiveBytes::measure(&txn, "live_bytes")?;
            txn.abort().during("live_bytes")?;
            Ok(live.bytes)
        })
    }

    /// Once a retention-thread pass that started after this call has finished: returns
    /// its error, if it failed. Without limits for the thread (no age, size or audit-age
    /// limit) there is no thread and this returns at once.
    pub fn wait_for_background(&self) -> Result<()> {
        match &self.inner.background {
            Some(wake) => wake.wait_for_pass(),
            None => Ok(()),
        }
    }

    /// What the retention thread applies: the limits a write cannot check itself.
    pub(crate) fn background_pass(&self) -> Result<()> {
        let policy = self.inner.settings.retention.clone().without_count_limits();
        self.apply_retention(&policy, now_millis()).map(drop)
    }

    /// One write transaction of retention work, counted in the report if it did any.
    fn retention_batch(
        &self,
        body: impl FnOnce(&mut Tables<'_>) -> Result<PruneReport>,
    ) -> Result<PruneReport> {
        // In a fresh transaction: redb's size figures for one left open by earlier writes
        // run low, and the size limit is measured with them.
        let fresh =
            |slot: &mut Unpublished| self.publish_locked(slot, "prune").map(|()| ((), None));
        let mut batch = self.write_planned("prune", fresh, |tables, ()| body(tables))?;
        batch.transactions = u64::from(batch.work() > 0);
        Ok(batch)
    }

    fn prune_for_size(&self, limit: u64) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        loop {
            let batch = self.retention_batch(|tables| {
                let for_size = tables.prune_for_size(limit, PRUNE_BATCH)?;
                Ok(PruneReport { for_size, ..PruneReport::default() })
            })?;
            report.add(batch);
            if batch.for_size == 0 {
                return Ok(report);
            }
        }
    }

    /// Audit events of removed runs, then those past `cutoff`, a bounded number of chunks
    /// per transaction. These commits are neither journaled nor made durable on their own:
    /// a crash may undo some, and as the orphan marks are restored with them (a replayed
    /// removal marks again), the next pass sweeps them again. The next durable commit or a
    /// clean close persists them, so an idle prune costs no fsync.
    fn prune_audit(&self, cutoff: Option<i64>) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        loop {
            let chunks = self.write_raw_with("prune", redb::Durability::None, |txn| {
                let swept = crate::audit::sweep_orphans(txn, AUDIT_BATCH)?;
                let aged = match cutoff {
                    Some(cutoff) => {
                        let left = AUDIT_BATCH.saturating_sub(swept);
                        crate::audit::remove_older_than(txn, cutoff, left)?
                    }
                    None => 0,
                };
                Ok(swept + aged)
            })?;
            let transactions = u64::from(chunks > 0);
            report.add(PruneReport {
                audit_chunks: chunks,
                transactions,
                ..PruneReport::default()
            });
            if chunks < AUDIT_BATCH {
                return Ok(report);
            }
        }
    }

    /// Removes every record that started more than `age` ago; returns how many.
    pub fn prune_older_than(&self, age: Duration) -> Result<u64> {
        let policy = RetentionPolicy::new().max_age_all(age);
        self.apply_retention(&policy, now_millis()).map(|report| report.removed())
    }

    /// Removes all but the `keep` newest records by start time (at least one is kept);
    /// returns how many.
    pub fn keep_newest(&self, keep: usize) -> Result<u64> {
        let policy = RetentionPolicy::new().max_executions(keep as u64);
        self.apply_retention(&policy, now_millis()).map(|report| report.removed())
    }
}
