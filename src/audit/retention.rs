//! Audit retention: the events of removed executions, and whole chunks by age.
//!
//! Both run inside a caller's write transaction and touch at most `budget` chunks, so a
//! large backlog is worked off in short transactions. Seqs are never reused: the next-seq
//! mark is stored before the first event goes (see `seq.rs`). A surviving chunk keeps its
//! key, which is then at or below its first event's seq; readers only rely on chunk keys
//! being ordered like the seqs inside them.

use std::collections::{BTreeMap, HashSet};

use redb::{ReadableTable, Table, WriteTransaction};

use super::event::AuditEvent;
use super::seq;
use crate::error::{Result, StorageResultExt};
use crate::redb::codec::{decode, encode};
use crate::redb::{AUDIT, AUDIT_BY_EXECUTION, AUDIT_ORPHANS, META};

const OP: &str = "audit retention";

/// Removes the events of executions marked in `audit_orphans`, rewriting each touched chunk
/// once (deleting it when nothing is left) and unmarking executions with no chunk left.
/// Touches at most `budget` chunks; returns how many it touched (0: nothing left to do).
pub(crate) fn sweep_orphans(txn: &WriteTransaction, budget: u64) -> Result<u64> {
    let mut orphans = txn.open_table(AUDIT_ORPHANS).during(OP)?;
    let mut by_execution = txn.open_table(AUDIT_BY_EXECUTION).during(OP)?;
    let plan = plan_sweep(&orphans, &by_execution, budget)?;
    if !plan.chunks.is_empty() {
        let mut audit = txn.open_table(AUDIT).during(OP)?;
        seq::pin(&audit, &mut txn.open_table(META).during(OP)?, OP)?;
        for (&key, leaving) in &plan.chunks {
            strip_chunk(&mut audit, key, leaving)?;
            for &execution in leaving {
                by_execution.remove((execution, key)).during(OP)?;
            }
        }
    }
    for execution in plan.done {
        orphans.remove(execution).during(OP)?;
    }
    Ok(plan.chunks.len() as u64)
}

/// What one sweep does.
#[derive(Default)]
struct Sweep {
    /// Chunk key → the executions whose events leave that chunk.
    chunks: BTreeMap<u64, HashSet<u128>>,
    /// Orphans with no chunk left once the sweep is done.
    done: Vec<u128>,
}

/// Takes orphans in id order, each with all of its chunks while the budget allows; the
/// last one may get only some, and stays marked for the next sweep.
fn plan_sweep(
    orphans: &impl ReadableTable<u128, ()>,
    by_execution: &impl ReadableTable<(u128, u64), ()>,
    budget: u64,
) -> Result<Sweep> {
    let mut plan = Sweep::default();
    for orphan in orphans.iter().during(OP)? {
        let execution = orphan.during(OP)?.0.value();
        for entry in by_execution.range((execution, 0)..=(execution, u64::MAX)).during(OP)? {
            let key = entry.during(OP)?.0.value().1;
            if !plan.chunks.contains_key(&key) && plan.chunks.len() as u64 >= budget {
                return Ok(plan);
            }
            plan.chunks.entry(key).or_default().insert(execution);
        }
        plan.done.push(execution);
    }
    Ok(plan)
}

/// Rewrites chunk `key` without the events of `leaving`, or deletes it if none remain.
fn strip_chunk(
    audit: &mut Table<'_, u64, &'static [u8]>,
    key: u64,
    leaving: &HashSet<u128>,
) -> Result<()> {
    let Some(events) = read_chunk(audit, key)? else { return Ok(()) };
    let kept: Vec<AuditEvent> =
        events.into_iter().filter(|e| !leaving.contains(&e.execution_id.as_u128())).collect();
    if kept.is_empty() {
        audit.remove(key).during(OP)?;
    } else {
        audit.insert(key, encode("audit events", &kept)?.as_slice()).during(OP)?;
    }
    Ok(())
}

fn read_chunk(
    audit: &impl ReadableTable<u64, &'static [u8]>,
    key: u64,
) -> Result<Option<Vec<AuditEvent>>> {
    let Some(bytes) = audit.get(key).during(OP)? else { return Ok(None) };
    decode(|| format!("audit/{key}"), bytes.value()).map(Some)
}

/// Removes whole chunks whose newest event is older than `cutoff_millis`, oldest first,
/// stopping at the first chunk that is not entirely old; at most `budget` chunks. Returns
/// how many it removed.
pub(crate) fn remove_older_than(
    txn: &WriteTransaction,
    cutoff_millis: i64,
    budget: u64,
) -> Result<u64> {
    let mut audit = txn.open_table(AUDIT).during(OP)?;
    let old = old_chunks(&audit, cutoff_millis, budget)?;
    if old.is_empty() {
        return Ok(0);
    }
    seq::pin(&audit, &mut txn.open_table(META).during(OP)?, OP)?;
    let mut by_execution = txn.open_table(AUDIT_BY_EXECUTION).during(OP)?;
    for (key, executions) in &old {
        audit.remove(key).during(OP)?;
        for &execution in executions {
            by_execution.remove((execution, *key)).during(OP)?;
        }
    }
    Ok(old.len() as u64)
}

/// The oldest chunks whose events all have a timestamp before `cutoff`, with the
/// executions each holds.
fn old_chunks(
    audit: &impl ReadableTable<u64, &'static [u8]>,
    cutoff: i64,
    budget: u64,
) -> Result<Vec<(u64, HashSet<u128>)>> {
    let mut old = Vec::new();
    for entry in audit.iter().during(OP)? {
        if old.len() as u64 >= budget {
            break;
        }
        let (key, bytes) = entry.during(OP)?;
        let key = key.value();
        let events: Vec<AuditEvent> = decode(|| format!("audit/{key}"), bytes.value())?;
        // Timestamps are taken at the callback, not at commit: not ordered within a chunk.
        if events.iter().any(|e| e.timestamp >= cutoff) {
            break;
        }
        old.push((key, events.iter().map(|e| e.execution_id.as_u128()).collect()));
    }
    Ok(old)
}
