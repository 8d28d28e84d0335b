//! An `executions` value: the record's codec bytes, behind the hash of its visualization
//! blob when it has one. Keeping the link in the value, instead of in a table of its own,
//! saves every store a B-tree insert and the commit of one more tree.
//!
//! Layout: `[VIZ_LINKED][blob hash: 32 bytes][codec bytes]`, or the codec bytes alone. The
//! marker differs from every codec format byte, so the two cannot be mistaken.

use redb::{Database, ReadableTable, Table, TableHandle};
use serde::de::DeserializeOwned;

use super::codec::{decode, FORMATS};
use super::fields::migrate_away;
use super::tables::{EXECUTIONS, EXECUTION_VIZ};
use super::viz_blobs::VizHash;
use crate::error::{Error, Result, StorageResultExt};

/// First byte of a value that starts with its visualization's blob hash.
const VIZ_LINKED: u8 = 3;

const _: () = {
    let mut rest: &[u8] = &FORMATS;
    while let [format, tail @ ..] = rest {
        assert!(VIZ_LINKED != *format);
        rest = tail;
    }
};

/// The value of a record encoded as `record`, linked to the blob `viz` if it has one.
pub(crate) fn join(viz: Option<&VizHash>, record: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + std::mem::size_of::<VizHash>() + record.len());
    if let Some(key) = viz {
        value.push(VIZ_LINKED);
        value.extend_from_slice(key);
    }
    value.extend_from_slice(record);
    value
}

/// The blob hash and the codec bytes of record `id`'s value.
pub(crate) fn split<'v>(id: &str, value: &'v [u8]) -> Result<(Option<VizHash>, &'v [u8])> {
    let Some((&VIZ_LINKED, rest)) = value.split_first() else {
        return Ok((None, value));
    };
    match rest.split_first_chunk::<32>() {
        Some((key, record)) => Ok((Some(*key), record)),
        None => Err(Error::Corrupt {
            key: format!("executions/{id}"),
            reason: format!("a linked value of {} bytes has no room for its hash", value.len()),
        }),
    }
}

/// Record `id`'s value decoded as `T` (the record, or a part of it), with its blob hash.
pub(crate) fn decode_value<T: DeserializeOwned>(
    id: &str,
    value: &[u8],
) -> Result<(Option<VizHash>, T)> {
    let (viz, record) = split(id, value)?;
    Ok((viz, decode(|| format!("executions/{id}"), record)?))
}

/// Moves the links of a file's `execution_viz` table (files before the links lived in the
/// values) into the values, in one transaction, then deletes the table. Counts and blobs
/// are unchanged: the same records point at the same blobs.
pub(crate) fn ensure(db: &Database) -> Result<()> {
    const OP: &str = "open";
    migrate_away(db, EXECUTION_VIZ, |txn| {
        let links = txn.open_table(EXECUTION_VIZ).during(OP)?;
        let mut executions = txn.open_table(EXECUTIONS).during(OP)?;
        for entry in links.iter().during(OP)? {
            let (id, key) = entry.during(OP)?;
            relink(&mut executions, id.value(), key.value(), EXECUTION_VIZ.name())?;
        }
        Ok(())
    })
}

/// Rewrites record `id`'s value in place to point at the blob `key`, during a migration
/// from table `from`; returns the blob it pointed at before.
pub(crate) fn relink(
    executions: &mut Table<'_, &'static str, &'static [u8]>,
    id: &str,
    key: &VizHash,
    from: &str,
) -> Result<Option<VizHash>> {
    const OP: &str = "open";
    let Some(value) = executions.get(id).during(OP)?.map(|v| v.value().to_vec()) else {
        let reason = "a visualization without its record".to_owned();
        return Err(Error::Corrupt { key: format!("{from}/{id}"), reason });
    };
    let (old, record) = split(id, &value)?;
    executions.insert(id, join(Some(key), record).as_slice()).during(OP)?;
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redb::codec::FORMAT_PLAIN;

    #[test]
    fn a_value_splits_into_what_was_joined() -> Result<()> {
        let key = [7; 32];
        let record = [FORMAT_PLAIN, 0x80];
        assert_eq!(split("x", &join(Some(&key), &record))?, (Some(key), &record[..]));
        assert_eq!(split("x", &join(None, &record))?, (None, &record[..]));
        Ok(())
    }

    #[test]
    fn a_linked_value_too_short_for_its_hash_is_corrupt() {
        let value = [VIZ_LINKED, 1, 2, 3];
        match split("x", &value) {
            Err(Error::Corrupt { key, .. }) => assert_eq!(key, "executions/x"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}
