//! Internals exposed to the fuzz targets only (the `fuzzing` feature); not a public API.

use crate::error::Result;
use crate::model::{ExecutionSummary, StoredExecution};
use crate::redb::compression::Compression;
use crate::redb::dictionary::Loaded;
use crate::redb::journal::{self, Effect};
use crate::redb::viz_encodings::VizEncodings;
use crate::redb::write::{prepare, Prepared};

/// Decodes stored bytes as a record, as `get` does.
pub fn decode_record(bytes: &[u8]) -> Result<StoredExecution> {
    crate::redb::codec::decode(|| "fuzz/record".to_owned(), bytes)
}

/// Decodes stored bytes as the summary of record `"fuzz"` started at 0, as `list` does.
pub fn decode_summary(bytes: &[u8]) -> Result<ExecutionSummary> {
    crate::redb::summary_value::decode_summary(0, "fuzz", bytes)
}

/// Encodes a record as `store` does.
pub fn encode_record(record: &StoredExecution) -> Result<Vec<u8>> {
    crate::redb::codec::encode_positional("fuzz/record", record)
}

/// One change in a journal entry, as [`journal_file`] writes it.
#[derive(Debug, Clone)]
pub enum JournalChange {
    /// Store this record, encoded as `store` journals it.
    Put(Box<StoredExecution>),
    /// A put of these bytes as they would be in the file: record, then visualization.
    PutBytes(Vec<u8>, Option<Vec<u8>>),
    /// Remove the record with this id.
    Remove(String),
    /// Remove everything.
    Clear,
}

/// A journal file (header, then one checksummed entry per `(seq, changes)`), as the one
/// next to a database that was killed mid-write.
pub fn journal_file(entries: &[(u64, Vec<JournalChange>)]) -> Result<Vec<u8>> {
    let entries = entries
        .iter()
        .map(|(seq, changes)| {
            Ok((*seq, changes.iter().cloned().map(effect).collect::<Result<_>>()?))
        })
        .collect::<Result<Vec<_>>>()?;
    journal::file_with(&entries)
}

/// The record a journaled put holds, decoded as recovery decodes it.
pub fn decode_journal_put(record: &[u8], viz: Option<&[u8]>) -> Result<StoredExecution> {
    let prepared = Prepared::from_effect(record.to_vec(), viz.map(<[u8]>::to_vec))?;
    Ok((*prepared.record).clone())
}

fn effect(change: JournalChange) -> Result<Effect> {
    Ok(match change {
        JournalChange::Put(record) => {
            let unsampled = Compression::new(Loaded::default(), 0);
            prepare(*record, None, &VizEncodings::new(0), &unsampled)?.effect()
        }
        JournalChange::PutBytes(record, viz) => Effect::Put { record, viz },
        JournalChange::Remove(id) => Effect::Remove(id),
        JournalChange::Clear => Effect::Clear,
    })
}

/// Makes the journal of `storage` fail its writes (`writes`) or its syncs from now on, as
/// a full or failing disk would; a store without a journal is left alone.
pub fn fail_journal(storage: &crate::RedbStorage, writes: bool, syncs: bool) {
    storage.inject_journal_faults(journal::Faults { writes, syncs });
}

/// Where the journal of the database at `db` lives.
pub fn journal_path(db: &std::path::Path) -> std::path::PathBuf {
    journal::path_for(db)
}
