//! DAG visualizations stored once: every run of a script carries the same `DagVizIr`, so
//! `viz_blobs` holds each distinct encoding once under its BLAKE3 hash, `viz_refs` counts
//! the records pointing at it and `execution_viz` maps a record to its hash. A blob and
//! its count go when the last record referencing it does.
//!
//! Invariant (checked by `verify`): every `execution_viz` entry has a record and a blob;
//! every blob's count equals the entries pointing at it, and its hash matches its bytes.

use std::collections::HashMap;

use redb::{Database, ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableHandle};

use super::codec::decode;
use super::fields::table_exists;
use super::tables::{DAG_VIZ, EXECUTIONS, EXECUTION_VIZ, VIZ_BLOBS, VIZ_REFS};
use super::viz_cache::VizCache;
use crate::error::{Error, Result, StorageResultExt};
use crate::viz::DagVizIr;

/// A blob's key: the BLAKE3 hash of its bytes.
pub(crate) type VizHash = [u8; 32];

pub(crate) fn hash(bytes: &[u8]) -> VizHash {
    *blake3::hash(bytes).as_bytes()
}

/// The three tables, opened in one write transaction.
pub(crate) struct VizWriter<'txn> {
    by_execution: Table<'txn, &'static str, &'static VizHash>,
    blobs: Table<'txn, &'static VizHash, &'static [u8]>,
    refs: Table<'txn, &'static VizHash, u64>,
}

impl<'txn> VizWriter<'txn> {
    pub(crate) fn open(txn: &'txn redb::WriteTransaction, operation: &'static str) -> Result<Self> {
        Ok(VizWriter {
            by_execution: txn.open_table(EXECUTION_VIZ).during(operation)?,
            blobs: txn.open_table(VIZ_BLOBS).during(operation)?,
            refs: txn.open_table(VIZ_REFS).during(operation)?,
        })
    }

    /// Points record `id` at the blob of `bytes` (or at nothing), changing nothing when it
    /// already points there.
    pub(crate) fn relink(
        &mut self,
        id: &str,
        bytes: Option<&[u8]>,
        operation: &'static str,
    ) -> Result<()> {
        let new = bytes.map(hash);
        let old = self.by_execution.get(id).during(operation)?.map(|k| *k.value());
        if old == new {
            return Ok(());
        }
        self.unlink(id, operation)?;
        match (new, bytes) {
            (Some(key), Some(bytes)) => self.link(id, &key, bytes, operation),
            _ => Ok(()),
        }
    }

    /// Points record `id` (which points at nothing) at the blob `key` of `bytes`.
    fn link(
        &mut self,
        id: &str,
        key: &VizHash,
        bytes: &[u8],
        operation: &'static str,
    ) -> Result<()> {
        let key = *key;
        let count = self.refs.get(&key).during(operation)?.map_or(0, |c| c.value());
        if count == 0 {
            self.blobs.insert(&key, bytes).during(operation)?;
        }
        self.refs.insert(&key, count + 1).during(operation)?;
        self.by_execution.insert(id, &key).during(operation)?;
        Ok(())
    }

    /// Drops record `id`'s reference, and the blob with its last one.
    pub(crate) fn unlink(&mut self, id: &str, operation: &'static str) -> Result<()> {
        let Some(key) = self.by_execution.remove(id).during(operation)?.map(|k| *k.value()) else {
            return Ok(());
        };
        let count = self.refs.get(&key).during(operation)?.map_or(0, |c| c.value());
        if count > 1 {
            self.refs.insert(&key, count - 1).during(operation)?;
        } else {
            self.refs.remove(&key).during(operation)?;
            self.blobs.remove(&key).during(operation)?;
        }
        Ok(())
    }

    /// Drops every reference and blob.
    pub(crate) fn clear(&mut self, operation: &'static str) -> Result<()> {
        self.by_execution.retain(|_, _| false).during(operation)?;
        self.blobs.retain(|_, _| false).during(operation)?;
        self.refs.retain(|_, _| false).during(operation)
    }
}

/// The read side, opened in one read transaction.
pub(crate) struct VizReader<'a> {
    by_execution: redb::ReadOnlyTable<&'static str, &'static VizHash>,
    blobs: redb::ReadOnlyTable<&'static VizHash, &'static [u8]>,
    cache: &'a VizCache,
}

impl<'a> VizReader<'a> {
    pub(crate) fn open(
        txn: &ReadTransaction,
        cache: &'a VizCache,
        operation: &'static str,
    ) -> Result<Self> {
        Ok(VizReader {
            by_execution: txn.open_table(EXECUTION_VIZ).during(operation)?,
            blobs: txn.open_table(VIZ_BLOBS).during(operation)?,
            cache,
        })
    }

    /// Record `id`'s visualization, if it has one: decoded from its blob, or taken from
    /// the cache (the blob is then not read).
    pub(crate) fn load(&self, id: &str, operation: &'static str) -> Result<Option<DagVizIr>> {
        let Some(key) = self.by_execution.get(id).during(operation)?.map(|k| *k.value()) else {
            return Ok(None);
        };
        let decode_blob = || {
            let Some(bytes) = self.blobs.get(&key).during(operation)? else {
                let reason = "its visualization blob is missing".to_owned();
                return Err(Error::Corrupt { key: format!("execution_viz/{id}"), reason });
            };
            decode(|| format!("viz_blobs/{}", hex(&key)), bytes.value())
        };
        self.cache.get_or_decode(&key, decode_blob).map(Some)
    }
}

fn hex(key: &VizHash) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Moves a file's per-record `dag_viz` table into the shared blobs, in one transaction.
pub(crate) fn ensure(db: &Database) -> Result<()> {
    const OP: &str = "open";
    if !table_exists(db, DAG_VIZ.name())? {
        return Ok(());
    }
    let txn = db.begin_write().during(OP)?;
    {
        let old = txn.open_table(DAG_VIZ).during(OP)?;
        let mut viz = VizWriter::open(&txn, OP)?;
        for entry in old.iter().during(OP)? {
            let (id, bytes) = entry.during(OP)?;
            viz.relink(id.value(), Some(bytes.value()), OP)?;
        }
    }
    txn.delete_table(DAG_VIZ).during(OP)?;
    txn.commit().during(OP)
}

/// Checks the invariant above.
pub(crate) fn verify(txn: &ReadTransaction, operation: &'static str) -> Result<()> {
    let executions = txn.open_table(EXECUTIONS).during(operation)?;
    let by_execution = txn.open_table(EXECUTION_VIZ).during(operation)?;
    let mut counted: HashMap<VizHash, u64> = HashMap::new();
    for entry in by_execution.iter().during(operation)? {
        let (id, key) = entry.during(operation)?;
        if executions.get(id.value()).during(operation)?.is_none() {
            let key = format!("execution_viz/{}", id.value());
            return Err(Error::Corrupt { key, reason: "no record for this id".to_owned() });
        }
        *counted.entry(*key.value()).or_default() += 1;
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
