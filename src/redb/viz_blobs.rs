//! DAG visualizations stored once: every run of a script carries the same `DagVizIr`, so
//! `viz_blobs` holds each distinct encoding once under its BLAKE3 hash, `viz_refs` counts
//! the records pointing at it, and a record's value starts with the hash it points at (see
//! `record_value.rs`). A blob and its count go when the last record referencing it does.
//!
//! Invariant (checked by `verify`): every hash a record points at has a blob; every blob's
//! count equals the records pointing at it, and its hash matches its bytes.

use std::collections::HashMap;

use redb::{
    Database, ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableHandle,
    WriteTransaction,
};

use super::codec::decode;
use super::fields::migrate_away;
use super::record_value::{relink, split};
use super::tables::{DAG_VIZ, EXECUTIONS, VIZ_BLOBS, VIZ_REFS};
use super::viz_cache::VizCache;
use crate::error::{Error, Result, StorageResultExt};
use crate::viz::DagVizIr;

/// A blob's key: the BLAKE3 hash of its bytes.
pub(crate) type VizHash = [u8; 32];

pub(crate) fn hash(bytes: &[u8]) -> VizHash {
    *blake3::hash(bytes).as_bytes()
}

/// The blobs and their counts, opened in one write transaction.
pub(crate) struct VizWriter<'txn> {
    blobs: Table<'txn, &'static VizHash, &'static [u8]>,
    refs: Table<'txn, &'static VizHash, u64>,
}

impl<'txn> VizWriter<'txn> {
    pub(crate) fn open(txn: &'txn redb::WriteTransaction, operation: &'static str) -> Result<Self> {
        Ok(VizWriter {
            blobs: txn.open_table(VIZ_BLOBS).during(operation)?,
            refs: txn.open_table(VIZ_REFS).during(operation)?,
        })
    }

    /// Moves one record's reference from blob `old` to the blob `new` of `bytes` (either
    /// may be absent), changing nothing when they are the same.
    pub(crate) fn relink(
        &mut self,
        old: Option<&VizHash>,
        new: Option<(&VizHash, &[u8])>,
        operation: &'static str,
    ) -> Result<()> {
        if old == new.map(|(key, _)| key) {
            return Ok(());
        }
        if let Some(key) = old {
            self.release(key, operation)?;
        }
        match new {
            Some((key, bytes)) => self.acquire(key, bytes, operation),
            None => Ok(()),
        }
    }

    /// Counts one more record pointing at the blob `key` of `bytes`, storing it if new.
    fn acquire(&mut self, key: &VizHash, bytes: &[u8], operation: &'static str) -> Result<()> {
        let count = self.refs.get(key).during(operation)?.map_or(0, |c| c.value());
        if count == 0 {
            self.blobs.insert(key, bytes).during(operation)?;
        }
        self.refs.insert(key, count + 1).during(operation)?;
        Ok(())
    }

    /// Counts one record fewer pointing at the blob `key`, dropping it with its last.
    fn release(&mut self, key: &VizHash, operation: &'static str) -> Result<()> {
        let count = self.refs.get(key).during(operation)?.map_or(0, |c| c.value());
        if count > 1 {
            self.refs.insert(key, count - 1).during(operation)?;
        } else {
            self.refs.remove(key).during(operation)?;
            self.blobs.remove(key).during(operation)?;
        }
        Ok(())
    }

    /// Drops every reference and blob.
    pub(crate) fn clear(&mut self, operation: &'static str) -> Result<()> {
        self.blobs.retain(|_, _| false).during(operation)?;
        self.refs.retain(|_, _| false).during(operation)
    }
}

/// The read side, over the blobs table of a read transaction or of a write transaction
/// (a writer reading what its open transaction holds).
pub(crate) struct VizReader<'a, B> {
    blobs: B,
    cache: &'a VizCache,
}

impl<'a> VizReader<'a, redb::ReadOnlyTable<&'static VizHash, &'static [u8]>> {
    pub(crate) fn open(
        txn: &ReadTransaction,
        cache: &'a VizCache,
        operation: &'static str,
    ) -> Result<Self> {
        Ok(VizReader { blobs: txn.open_table(VIZ_BLOBS).during(operation)?, cache })
    }
}

impl<'a, 'txn> VizReader<'a, Table<'txn, &'static VizHash, &'static [u8]>> {
    pub(crate) fn open_in_write(
        txn: &'txn WriteTransaction,
        cache: &'a VizCache,
        operation: &'static str,
    ) -> Result<Self> {
        Ok(VizReader { blobs: txn.open_table(VIZ_BLOBS).during(operation)?, cache })
    }
}

impl<B: ReadableTable<&'static VizHash, &'static [u8]>> VizReader<'_, B> {
    /// The visualization record `id` points at with `key`: decoded from its blob, or taken
    /// from the cache (the blob is then not read).
    pub(crate) fn load(
        &self,
        id: &str,
        key: &VizHash,
        operation: &'static str,
    ) -> Result<DagVizIr> {
        let decode_blob = || {
            let Some(bytes) = self.blobs.get(key).during(operation)? else {
                let reason = "its visualization blob is missing".to_owned();
                return Err(Error::Corrupt { key: format!("executions/{id}"), reason });
            };
            decode(|| format!("viz_blobs/{}", hex(key)), bytes.value())
        };
        self.cache.get_or_decode(key, decode_blob)
    }
}

fn hex(key: &VizHash) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Moves a file's per-record `dag_viz` table into the shared blobs, in one transaction.
pub(crate) fn ensure(db: &Database) -> Result<()> {
    const OP: &str = "open";
    migrate_away(db, DAG_VIZ, |txn| {
        let old = txn.open_table(DAG_VIZ).during(OP)?;
        let mut executions = txn.open_table(EXECUTIONS).during(OP)?;
        let mut viz = VizWriter::open(txn, OP)?;
        for entry in old.iter().during(OP)? {
            let (id, bytes) = entry.during(OP)?;
            let bytes = bytes.value();
            let key = hash(bytes);
            let linked = relink(&mut executions, id.value(), &key, DAG_VIZ.name())?;
            viz.relink(linked.as_ref(), Some((&key, bytes)), OP)?;
        }
        Ok(())
    })
}

/// Checks the invariant above.
pub(crate) fn verify(txn: &ReadTransaction, operation: &'static str) -> Result<()> {
    let executions = txn.open_table(EXECUTIONS).during(operation)?;
    let mut counted: HashMap<VizHash, u64> = HashMap::new();
    for entry in executions.iter().during(operation)? {
        let (id, value) = entry.during(operation)?;
        if let (Some(key), _) = split(id.value(), value.value())? {
            *counted.entry(key).or_default() += 1;
        }
    }
    let blobs = txn.open_table(VIZ_BLOBS).during(operation)?;
    let refs = txn.open_table(VIZ_REFS).during(operation)?;
    let corrupt = |key: &VizHash, reason: String| Error::Corrupt {
        key: format!("viz_blobs/{}", hex(key)),
        reason,
    };
    for entry in blobs.iter().during(operation)? {
        let (key, bytes) = entry.during(operation)?;
        let key = *key.value();
        if hash(bytes.value()) != key {
            return Err(corrupt(&key, "the bytes do not match their hash".to_owned()));
        }
        let stored = refs.get(&key).during(operation)?.map_or(0, |c| c.value());
        let found = counted.remove(&key).unwrap_or(0);
        if stored != found || found == 0 {
            return Err(corrupt(&key, format!("count says {stored}, {found} records use it")));
        }
    }
    if let Some(key) = counted.keys().next() {
        return Err(corrupt(key, "records point at a missing blob".to_owned()));
    }
    if refs.len().during(operation)? != blobs.len().during(operation)? {
        let reason = "counts without a blob".to_owned();
        return Err(Error::Corrupt { key: "viz_refs".to_owned(), reason });
    }
    Ok(())
}
