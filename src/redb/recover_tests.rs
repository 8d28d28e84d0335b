//! Recovery from journals a crash cannot produce: damaged or forged entries are refused
//! with [`Error::Corrupt`], never replayed into the file.

use std::path::Path;

use super::codec::encode;
use super::journal::{self, Effect};
use super::store::RedbStorage;
use super::store_tests::record;
use crate::error::{Error, Result};
use crate::storage::ExecutionStorage;

fn put(id: &str) -> Result<Effect> {
    Ok(Effect::Put { record: encode("test", &record(id))?, viz: None })
}

/// A fresh database at `db` with `entries` as its journal, as if killed before replaying.
fn leave_journal(db: &Path, entries: &[(u64, Vec<Effect>)]) -> Result<()> {
    drop(RedbStorage::open(db)?);
    let path = journal::path_for(db);
    std::fs::write(&path, journal::file_with(entries)?).map_err(|e| Error::io(&path, e))
}

#[test]
fn a_journaled_record_without_an_id_is_corrupt() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let db = dir.path().join("s.redb");
    leave_journal(&db, &[(1, vec![put("kept")?]), (2, vec![put("")?])])?;
    match RedbStorage::open(&db) {
        Err(Error::Corrupt { key, reason }) => {
            assert_eq!(key, "journal/put");
            assert!(reason.contains("must not be empty"), "{reason}");
        }
        other => panic!("opened with a record without an id: {other:?}"),
    }
    // Nothing of the refused journal reached the file.
    std::fs::remove_file(journal::path_for(&db)).map_err(|e| Error::io(&db, e))?;
    assert_eq!(RedbStorage::open(&db)?.stats()?.total_executions, 0);
    Ok(())
}

#[test]
fn sequence_numbers_that_do_not_rise_are_corrupt() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    for seqs in [[2, 1], [3, 3]] {
        let db = dir.path().join(format!("s{}{}.redb", seqs[0], seqs[1]));
        leave_journal(&db, &[(seqs[0], vec![put("a")?]), (seqs[1], vec![put("b")?])])?;
        match RedbStorage::open(&db) {
            Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("sequence"), "{reason}"),
            other => panic!("seqs {seqs:?} opened: {other:?}"),
        }
    }
    let db = dir.path().join("rising.redb");
    leave_journal(&db, &[(1, vec![put("a")?]), (5, vec![put("b")?])])?;
    assert_eq!(RedbStorage::open(&db)?.stats()?.total_executions, 2);
    Ok(())
}
