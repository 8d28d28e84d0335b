//! Reading the audit log: committed events only. See `commit.rs` for the chunked layout.

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use uuid::Uuid;

use super::event::AuditEvent;
use crate::error::{Result, StorageResultExt};
use crate::redb::codec::decode;
use crate::redb::{AUDIT, AUDIT_BY_EXECUTION};
use crate::storage::page_vec;

fn chunk(first: u64, bytes: &[u8]) -> Result<Vec<AuditEvent>> {
    decode(|| format!("audit/{first}"), bytes)
}

/// Every event of one execution, in seq order.
pub(crate) fn events_for(db: &Database, execution_id: Uuid) -> Result<Vec<AuditEvent>> {
    const OP: &str = "audit events_for";
    let txn = db.begin_read().during(OP)?;
    let audit = txn.open_table(AUDIT).during(OP)?;
    let by_execution = txn.open_table(AUDIT_BY_EXECUTION).during(OP)?;
    let id = execution_id.as_u128();
    let mut events = Vec::new();
    for entry in by_execution.range((id, 0)..=(id, u64::MAX)).during(OP)? {
        let first = entry.during(OP)?.0.value().1;
        if let Some(bytes) = audit.get(first).during(OP)? {
            let chunk = chunk(first, bytes.value())?;
            events.extend(chunk.into_iter().filter(|e| e.execution_id == execution_id));
        }
    }
    Ok(events)
}

/// The newest `limit` events, newest first.
pub(crate) fn recent(db: &Database, limit: usize) -> Result<Vec<AuditEvent>> {
    const OP: &str = "audit recent";
    let txn = db.begin_read().during(OP)?;
    let audit = txn.open_table(AUDIT).during(OP)?;
    let mut events = page_vec(limit);
    for entry in audit.iter().during(OP)?.rev() {
        if events.len() >= limit {
            break;
        }
        let (first, bytes) = entry.during(OP)?;
        let chunk = chunk(first.value(), bytes.value())?;
        events.extend(chunk.into_iter().rev().take(limit - events.len()));
    }
    Ok(events)
}

/// Up to `limit` events with a seq greater than `after`, in seq order: a page of an export.
pub(crate) fn events_after(db: &Database, after: u64, limit: usize) -> Result<Vec<AuditEvent>> {
    const OP: &str = "audit events_after";
    let txn = db.begin_read().during(OP)?;
    let audit = txn.open_table(AUDIT).during(OP)?;
    let mut events = page_vec(limit);
    let Some(wanted) = after.checked_add(1) else { return Ok(events) };
    let start = chunk_holding(&audit, wanted)?.unwrap_or(wanted);
    for entry in audit.range(start..).during(OP)? {
        if events.len() >= limit {
            break;
        }
        let (first, bytes) = entry.during(OP)?;
        let chunk = chunk(first.value(), bytes.value())?;
        let fresh = chunk.into_iter().filter(|e| e.seq > after);
        events.extend(fresh.take(limit - events.len()));
    }
    Ok(events)
}

/// The key of the chunk that would hold `seq`: the last chunk starting at or before it.
fn chunk_holding(audit: &ReadOnlyTable<u64, &'static [u8]>, seq: u64) -> Result<Option<u64>> {
    const OP: &str = "audit events_after";
    let last = audit.range(..=seq).during(OP)?.next_back();
    Ok(match last {
        Some(entry) => Some(entry.during(OP)?.0.value()),
        None => None,
    })
}
