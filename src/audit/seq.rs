//! The next seq to give out, kept as a high-water mark in `meta` so that it never goes
//! back when retention rewrites or removes old chunks.

use redb::{ReadableTable, Table};

use super::event::AuditEvent;
use crate::error::{Result, StorageResultExt};
use crate::redb::codec::decode;
use crate::redb::AUDIT_NEXT_SEQ;

/// The seq the next committed event gets: the stored mark, or for a file written before
/// the mark existed (whose chunks were never rewritten), one past its last event.
pub(crate) fn next(
    audit: &impl ReadableTable<u64, &'static [u8]>,
    meta: &impl ReadableTable<&'static str, u64>,
    operation: &'static str,
) -> Result<u64> {
    if let Some(mark) = meta.get(AUDIT_NEXT_SEQ).during(operation)? {
        return Ok(mark.value());
    }
    let Some((key, bytes)) = audit.last().during(operation)? else { return Ok(1) };
    let key = key.value();
    let chunk: Vec<AuditEvent> = decode(|| format!("audit/{key}"), bytes.value())?;
    let last = chunk.last().map_or(key, |event| event.seq.max(key));
    Ok(last.saturating_add(1))
}

/// Stores the mark, before a transaction gives out seqs or removes events.
pub(crate) fn store(
    meta: &mut Table<'_, &'static str, u64>,
    next: u64,
    operation: &'static str,
) -> Result<()> {
    meta.insert(AUDIT_NEXT_SEQ, next).during(operation).map(drop)
}

/// Makes sure the mark is stored: retention calls this before it removes any event.
pub(crate) fn pin(
    audit: &impl ReadableTable<u64, &'static [u8]>,
    meta: &mut Table<'_, &'static str, u64>,
    operation: &'static str,
) -> Result<()> {
    if meta.get(AUDIT_NEXT_SEQ).during(operation)?.is_none() {
        let next = next(audit, meta, operation)?;
        store(meta, next, operation)?;
    }
    Ok(())
}
