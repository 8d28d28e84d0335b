//! The next seq to give out, kept as a high-water mark in `meta` so that it never goes
//! back when retention rewrites or removes old chunks.

use redb::{ReadTransaction, ReadableTable, Table};

use super::event::AuditEvent;
use crate::error::{Error, Result, StorageResultExt};
use crate::redb::codec::decode;
use crate::redb::{AUDIT, AUDIT_NEXT_SEQ, META};

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
    Ok(newest(audit, operation)?.map_or(1, |seq| seq.saturating_add(1)))
}

/// The highest seq stored: the last chunk's last event (a chunk's key is at or below its
/// seqs).
fn newest(
    audit: &impl ReadableTable<u64, &'static [u8]>,
    operation: &'static str,
) -> Result<Option<u64>> {
    let Some((key, bytes)) = audit.last().during(operation)? else { return Ok(None) };
    let key = key.value();
    let chunk: Vec<AuditEvent> = decode(|| format!("audit/{key}"), bytes.value())?;
    Ok(Some(chunk.last().map_or(key, |event| event.seq.max(key))))
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

/// For `verify`: the stored mark is above every stored seq.
pub(crate) fn check(txn: &ReadTransaction) -> Result<()> {
    const OP: &str = "verify";
    let meta = txn.open_table(META).during(OP)?;
    let Some(mark) = meta.get(AUDIT_NEXT_SEQ).during(OP)?.map(|v| v.value()) else {
        return Ok(());
    };
    let newest = newest(&txn.open_table(AUDIT).during(OP)?, OP)?;
    if let Some(newest) = newest.filter(|&newest| newest >= mark) {
        let reason = format!("next seq {mark}, but seq {newest} is stored");
        return Err(Error::Corrupt { key: format!("meta/{AUDIT_NEXT_SEQ}"), reason });
    }
    Ok(())
}
