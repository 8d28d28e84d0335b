//! Reading the audit log: committed events only.

use redb::{Database, ReadableDatabase, ReadableTable};
use uuid::Uuid;

use super::event::AuditEvent;
use crate::error::{Result, StorageResultExt};
use crate::redb::codec::decode;
use crate::redb::{AUDIT, AUDIT_BY_EXECUTION};
use crate::storage::page_vec;

/// Every event of one execution, in seq order.
pub(crate) fn events_for(db: &Database, execution_id: Uuid) -> Result<Vec<AuditEvent>> {
    const OP: &str = "audit events_for";
    let txn = db.begin_read().during(OP)?;
    let audit = txn.open_table(AUDIT).during(OP)?;
    let by_execution = txn.open_table(AUDIT_BY_EXECUTION).during(OP)?;
    let id = execution_id.as_u128();
    let mut events = Vec::new();
    for entry in by_execution.range((id, 0)..=(id, u64::MAX)).during(OP)? {
        let seq = entry.during(OP)?.0.value().1;
        if let Some(bytes) = audit.get(seq).during(OP)? {
            events.push(decode(|| format!("audit/{seq}"), bytes.value())?);
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
    for entry in audit.iter().during(OP)?.rev().take(limit) {
        let (seq, bytes) = entry.during(OP)?;
        events.push(decode(|| format!("audit/{}", seq.value()), bytes.value())?);
    }
    Ok(events)
}

/// Up to `limit` events with a seq greater than `after`, in seq order: a page of an export.
pub(crate) fn events_after(db: &Database, after: u64, limit: usize) -> Result<Vec<AuditEvent>> {
    const OP: &str = "audit events_after";
    let txn = db.begin_read().during(OP)?;
    let audit = txn.open_table(AUDIT).during(OP)?;
    let mut events = page_vec(limit);
    let Some(first) = after.checked_add(1) else { return Ok(events) };
    for entry in audit.range(first..).during(OP)?.take(limit) {
        let (seq, bytes) = entry.during(OP)?;
        events.push(decode(|| format!("audit/{}", seq.value()), bytes.value())?);
    }
    Ok(events)
}
