//! Opening bad paths and bad files, and reading undecodable values: typed errors that
//! name the path or key, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use execstore::{Error, ExecutionStorage, RedbStorage};
use redb::{ReadableDatabase, TableDefinition};
use support::{execution, TestResult};

const EXECUTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("executions");
const BY_START: TableDefinition<(i64, &str), &[u8]> = TableDefinition::new("by_start");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

fn temp_path(name: &str) -> Result<(tempfile::TempDir, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(name);
    Ok((dir, path))
}

fn names(err: &Error, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}

#[test]
fn a_directory_is_refused_with_its_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let err = RedbStorage::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(names(&err, dir.path()), "{err}");
    Ok(())
}

#[test]
fn a_missing_parent_directory_is_an_io_error() -> TestResult {
    let (_dir, path) = temp_path("no/such/dir/history.redb")?;
    let err = RedbStorage::open(&path).unwrap_err();
    assert!(matches!(&err, Error::Io { path: p, .. } if p == &path), "{err:?}");
    assert!(!path.exists());
    Ok(())
}

#[test]
fn a_foreign_redb_file_is_not_execstore() -> TestResult {
    let (_dir, path) = temp_path("other.redb")?;
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(TableDefinition::<u64, u64>::new("users"))?.insert(1, 2)?;
        txn.commit()?;
    }
    let err = RedbStorage::open(&path).unwrap_err();
    assert!(matches!(err, Error::NotExecstore { .. }), "{err:?}");
    assert!(names(&err, &path), "{err}");
    Ok(())
}

#[test]
fn a_file_that_is_not_redb_is_refused() -> TestResult {
    let (_dir, path) = temp_path("notes.txt")?;
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200))?;
    let err = RedbStorage::open(&path).unwrap_err();
    assert!(matches!(err, Error::NotExecstore { .. }), "{err:?}");
    assert!(names(&err, &path), "{err}");
    let contents = std::fs::read_to_string(&path)?;
    assert!(contents.starts_with("these are my notes"), "the foreign file was modified");
    Ok(())
}

#[test]
fn a_truncated_file_gives_an_error_not_a_panic() -> TestResult {
    let (_dir, path) = temp_path("history.redb")?;
    {
        let storage = RedbStorage::open(&path)?;
        storage.store_many((0..200).map(|i| execution(&format!("r{i}"), i, None)).collect())?;
    }
    let len = std::fs::metadata(&path)?.len();
    for keep in [len / 2, 4096, 512, 10, 0] {
        let copy = path.with_extension(format!("cut{keep}"));
        std::fs::copy(&path, &copy)?;
        std::fs::OpenOptions::new().write(true).open(&copy)?.set_len(keep)?;
        // Either redb repairs what is left into a consistent (possibly empty) store, or
        // the open fails with a typed error naming the file.
        match RedbStorage::open(&copy) {
            Ok(storage) => {
                storage.verify()?;
            }
            Err(err) => assert!(names(&err, &copy), "{err}"),
        }
    }
    Ok(())
}

#[test]
fn a_second_open_of_the_same_file_is_already_open() -> TestResult {
    let (_dir, path) = temp_path("history.redb")?;
    let _first = RedbStorage::open(&path)?;
    let err = RedbStorage::open(&path).unwrap_err();
    assert!(matches!(&err, Error::AlreadyOpen { path: p } if p == &path), "{err:?}");
    Ok(())
}

#[test]
fn a_newer_schema_version_is_refused() -> TestResult {
    let (_dir, path) = temp_path("history.redb")?;
    drop(RedbStorage::open(&path)?);
    {
        let db = redb::Database::open(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(META)?.insert("schema_version", 99)?;
        txn.commit()?;
    }
    let err = RedbStorage::open(&path).unwrap_err();
    assert!(matches!(err, Error::SchemaVersion { found: 99, expected: 3, .. }), "{err:?}");
    Ok(())
}

#[test]
fn undecodable_values_are_corrupt_errors_naming_the_key() -> TestResult {
    let (_dir, path) = temp_path("history.redb")?;
    {
        let storage = RedbStorage::open(&path)?;
        storage.store(execution("good", 1, None))?;
    }
    {
        let db = redb::Database::open(&path)?;
        let txn = db.begin_write()?;
        {
            let mut executions = txn.open_table(EXECUTIONS)?;
            executions.insert("garbage", [1u8, 0xc1, 0xff, 0x00].as_slice())?;
            executions.insert("future", [9u8, 0x80].as_slice())?;
            executions.insert("empty", [].as_slice())?;
            txn.open_table(BY_START)?.insert((2, "garbage"), [1u8, 0x92].as_slice())?;
        }
        txn.commit()?;
        let read = db.begin_read()?;
        assert_eq!(redb::ReadableTableMetadata::len(&read.open_table(EXECUTIONS)?)?, 4);
    }
    let storage = RedbStorage::open(&path)?;
    assert_eq!(storage.get("good")?.map(|e| e.start_time), Some(1));
    for (id, reason) in [("garbage", ""), ("future", "version 9"), ("empty", "empty")] {
        let err = storage.get(id).unwrap_err();
        let Error::Corrupt { key, reason: why } = &err else { panic!("{err:?}") };
        assert_eq!(key, &format!("executions/{id}"));
        assert!(why.contains(reason), "{err}");
    }
    let err = storage.list(10, 0).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { key, .. } if key == "by_start/(2, garbage)"),
        "{err:?}"
    );
    assert!(matches!(storage.verify(), Err(Error::Corrupt { .. })));
    let err = storage.delete("garbage").unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(storage.get("good")?.map(|e| e.start_time), Some(1), "a failed write rolls back");
    Ok(())
}

/// Concurrent writers share group commits; one whose write fails (it replaces a record
/// that does not decode) gets its own error, the others are unaffected.
#[test]
fn a_failing_write_in_a_group_commit_fails_alone() -> TestResult {
    let (_dir, path) = temp_path("history.redb")?;
    drop(RedbStorage::open(&path)?);
    {
        let db = redb::Database::open(&path)?;
        let txn = db.begin_write()?;
        txn.open_table(EXECUTIONS)?.insert("bad", [1u8, 0xc1].as_slice())?;
        txn.commit()?;
    }
    let storage = RedbStorage::open(&path)?;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let storage = storage.clone();
            std::thread::spawn(move || -> Result<usize, String> {
                let mut refused = 0;
                for i in 0..40 {
                    let id = if t == 0 { "bad".to_owned() } else { format!("t{t}-{i}") };
                    match storage.store(execution(&id, i, None)) {
                        Ok(_) if t != 0 => {}
                        Err(Error::Corrupt { key, .. }) if t == 0 && key == "executions/bad" => {
                            refused += 1;
                        }
                        other => return Err(format!("thread {t}, write {i}: {other:?}")),
                    }
                }
                Ok(refused)
            })
        })
        .collect();
    let mut refused = 0;
    for thread in threads {
        refused += thread.join().map_err(|_| "writer panicked")??;
    }
    assert_eq!(refused, 40);
    assert_eq!(storage.stats()?.total_executions, 7 * 40);
    assert_eq!(storage.list(usize::MAX, 0)?.len(), 7 * 40);
    Ok(())
}
