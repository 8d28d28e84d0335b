//! Committing batches: seqs assigned in commit order, events stored in chunks, and
//! recovery after a failed commit.
//!
//! Layout: `audit` maps the seq of a chunk's first event to up to [`CHUNK_EVENTS`]
//! consecutive events; `audit_by_execution` has one `(execution, chunk)` entry per
//! execution with events in that chunk. Retention (`retention.rs`) may rewrite a chunk
//! without some events, keeping its key, or delete it; the next seq therefore comes from
//! the mark in `meta` (`seq.rs`); only a file written before the mark reads its last chunk.
//!
//! Failures: every event gets two commit attempts, its own batch and the next one (a
//! failed reopen counts as an attempt); after that it is counted in `lost`. The first
//! error is kept until a `flush` or `close` reports it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use super::event::AuditEvent;
use super::seq;
use super::slot::Slot;
use super::writer::Counters;
use crate::error::{Error, Result, StorageResultExt};
use crate::redb::codec::{decode, encode};
use crate::redb::{AUDIT, AUDIT_BY_EXECUTION, META};

/// Events stored in one `audit` value. Fewer, larger values make a batch a handful of
/// B-tree inserts instead of two per event; small enough that reading one event decodes
/// little else.
pub(crate) const CHUNK_EVENTS: usize = 256;

const OP: &str = "audit commit";

/// A batch whose commit failed.
struct Failed {
    /// Its first event with the seq it was given, if it got that far: found at that key
    /// after reopening iff the commit landed after all (a failed final sync does not prove
    /// that nothing reached the disk).
    probe: Option<AuditEvent>,
    /// How many events it had.
    len: u64,
    /// How many of those were on their second attempt, already counted lost.
    lost: u64,
    /// The events that were on their first attempt: they go first in the next batch.
    retry: Vec<AuditEvent>,
}

pub(crate) struct Committer {
    slot: Arc<Slot>,
    counters: Arc<Counters>,
    failed: Option<Failed>,
    /// The handle failed: open it again before the next attempt.
    reopen: bool,
    /// The first failure since a `flush` or `close` last reported one.
    error: Option<Error>,
}

impl Committer {
    /// Reads the next seq now, so that an unreadable log is reported at open. It is read
    /// again in every transaction: retention and other logs may share the file.
    pub(crate) fn new(slot: Arc<Slot>, counters: Arc<Counters>) -> Result<Self> {
        slot.with(|db| {
            let txn = db.begin_read().during("audit open")?;
            let audit = txn.open_table(AUDIT).during("audit open")?;
            seq::next(&audit, &txn.open_table(META).during("audit open")?, "audit open")
        })?;
        let committer = Committer { slot, counters, failed: None, reopen: false, error: None };
        Ok(committer)
    }

    /// The kept error, if any, which is then forgotten.
    pub(crate) fn take_error(&mut self) -> Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// Whether a failed batch waits for its second attempt.
    pub(crate) fn has_failed_batch(&self) -> bool {
        self.failed.is_some()
    }

    /// Commits the failed batch's retried events, if any, then `fresh`, in one transaction.
    pub(crate) fn commit(&mut self, fresh: Vec<AuditEvent>) {
        if fresh.is_empty() && self.failed.is_none() && !self.reopen {
            return;
        }
        if let Err(error) = self.recover() {
            let second = self.failed.take().map_or(0, |f| f.retry.len());
            self.counters.lost.fetch_add(second as u64, Ordering::Relaxed);
            self.keep_failed(fresh, 0, error);
            return;
        }
        let (mut batch, second) = match self.failed.take() {
            Some(failed) => {
                let second = failed.retry.len();
                (failed.retry, second)
            }
            None => (Vec::new(), 0),
        };
        batch.extend(fresh);
        if batch.is_empty() {
            return;
        }
        batch.iter_mut().for_each(|event| event.seq = 0);
        match self.slot.with_write(|db| write(db, &mut batch)) {
            Ok(()) => {
                self.counters.committed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.lost.fetch_add(second as u64, Ordering::Relaxed);
                self.keep_failed(batch, second, error);
            }
        }
    }

    /// Counts a failed batch that will not be retried as lost.
    pub(crate) fn abandon(&mut self) {
        if let Some(failed) = self.failed.take() {
            self.counters.lost.fetch_add(failed.retry.len() as u64, Ordering::Relaxed);
        }
    }

    fn keep_failed(&mut self, mut batch: Vec<AuditEvent>, second: usize, error: Error) {
        // redb refuses every later operation on a handle whose storage failed.
        self.reopen |= matches!(error, Error::Storage { .. });
        let probe = batch.first().filter(|event| event.seq != 0).cloned();
        let len = batch.len() as u64;
        let retry = batch.split_off(second.min(batch.len()));
        self.failed = (len > 0).then_some(Failed { probe, len, lost: second as u64, retry });
        self.error.get_or_insert(error);
    }

    /// After a storage failure: a fresh handle, and the failed batch forgotten if its
    /// commit landed after all.
    fn recover(&mut self) -> Result<()> {
        if !self.reopen {
            return Ok(());
        }
        if !self.slot.reopen()? {
            self.reopen = false;
            return Ok(());
        }
        self.reopen = false;
        let probe = self.failed.as_ref().and_then(|f| f.probe.as_ref());
        if self.slot.with(|db| landed(db, probe))? {
            self.settle_landed();
        }
        Ok(())
    }

    fn settle_landed(&mut self) {
        if let Some(failed) = self.failed.take() {
            self.counters.lost.fetch_sub(failed.lost, Ordering::Relaxed);
            self.counters.committed.fetch_add(failed.len, Ordering::Relaxed);
        }
    }
}

/// Whether `probe`, with its seq, heads a committed chunk.
fn landed(db: &Database, probe: Option<&AuditEvent>) -> Result<bool> {
    let Some(probe) = probe else { return Ok(false) };
    let txn = db.begin_read().during("audit recovery")?;
    let audit = txn.open_table(AUDIT).during("audit recovery")?;
    let Some(bytes) = audit.get(probe.seq).during("audit recovery")? else { return Ok(false) };
    let chunk: Vec<AuditEvent> = decode(|| format!("audit/{}", probe.seq), bytes.value())?;
    Ok(chunk.first() == Some(probe))
}

/// Writes `batch` in one transaction, giving its events their seqs from the stored mark:
/// a transaction that fails rolls the mark back with it, so no seq is burned.
fn write(db: &Database, batch: &mut [AuditEvent]) -> Result<()> {
    let txn = db.begin_write().during(OP)?;
    {
        let mut audit = txn.open_table(AUDIT).during(OP)?;
        let mut by_execution = txn.open_table(AUDIT_BY_EXECUTION).during(OP)?;
        let mut meta = txn.open_table(META).during(OP)?;
        let next = seq::next(&audit, &meta, OP)?;
        for (seq, event) in (next..).zip(batch.iter_mut()) {
            event.seq = seq;
        }
        let mut index = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(CHUNK_EVENTS) {
            let Some(first) = chunk.first().map(|e| e.seq) else { continue };
            audit.insert(first, encode("audit events", chunk)?.as_slice()).during(OP)?;
            index.extend(chunk.iter().map(|e| (e.execution_id.as_u128(), first)));
        }
        // In key order, consecutive inserts mostly land in a leaf already copied and hot;
        // sorting also brings each execution's events in one chunk together, to insert once.
        index.sort_unstable();
        index.dedup();
        for key in index {
            by_execution.insert(key, ()).during(OP)?;
        }
        seq::store(&mut meta, next.saturating_add(batch.len() as u64), OP)?;
    }
    txn.commit().during(OP)
}
