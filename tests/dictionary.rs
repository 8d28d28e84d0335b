//! The compression dictionary a store trains on its first records: what it compresses,
//! what stays as it was, and that every record reads back the same across reopens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use execstore::{ExecutionStatus, ExecutionStorage, RedbStorage, StoredExecution};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::json;
use support::{execution, viz, TestResult};

const EXECUTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("executions");
const DICTIONARIES: TableDefinition<u64, &[u8]> = TableDefinition::new("dictionaries");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The first byte of a value that starts with its visualization's hash.
const VIZ_LINKED: u8 = 3;
/// The codec's format byte of a record compressed with a dictionary.
const FORMAT_ARRAY_ZSTD: u8 = 6;

fn record(i: usize) -> StoredExecution {
    let mut record = execution(&format!("run-{i:03}"), i as i64, Some("etl.cst"));
    record.inputs.insert("customer".to_owned(), json!(format!("cust-{i:05}")));
    record.dag_viz_ir = i.is_multiple_of(3).then(viz);
    record
}

/// The codec format byte of each record's value, by id, and the file's dictionaries.
/// What [`inspect`] finds: format byte by id, dictionary ids, the current one.
type Found = (BTreeMap<String, u8>, Vec<u64>, Option<u64>);

fn inspect(path: &std::path::Path) -> Result<Found, Box<dyn std::error::Error>> {
    let db = redb::Database::open(path)?;
    let txn = db.begin_read()?;
    let mut formats = BTreeMap::new();
    for entry in txn.open_table(EXECUTIONS)?.iter()? {
        let (id, value) = entry?;
        let value = value.value();
        let codec = match value.first() {
            Some(&VIZ_LINKED) => value.get(33..).unwrap_or_default(),
            _ => value,
        };
        formats.insert(id.value().to_owned(), codec.first().copied().unwrap_or_default());
    }
    let dictionaries = txn.open_table(DICTIONARIES)?;
    let ids =
        dictionaries.iter()?.map(|e| e.map(|(id, _)| id.value())).collect::<Result<_, _>>()?;
    let current = txn.open_table(META)?.get("dictionary.current")?.map(|v| v.value());
    Ok((formats, ids, current))
}

/// Records `0..n` stored by a store that never trains a dictionary.
fn store_without_dictionary(path: &std::path::Path, n: usize) -> TestResult {
    let storage = RedbStorage::builder().dictionary_samples(0).open(path)?;
    storage.store_many((0..n).map(record).collect())?;
    Ok(())
}

#[test]
fn records_after_the_samples_are_compressed_with_the_files_dictionary() -> TestResult {
    let (_dir, path) = support::temp_file()?;
    let mut expected = BTreeMap::new();
    {
        let storage = RedbStorage::builder().dictionary_samples(20).open(&path)?;
        for i in 0..20 {
            storage.store(record(i))?;
        }
        storage.store_many((20..40).map(record).collect())?;
        for i in 40..50 {
            storage.store(record(i))?;
        }
        for i in (0..50).map(record) {
            expected.insert(i.execution_id.clone(), i);
        }
        let updated = storage.update("run-005", &mut |r| {
            r.status = ExecutionStatus::Failed;
            r.inputs.insert("retry".to_owned(), json!(true));
        })?;
        expected.insert("run-005".to_owned(), (*updated.expect("run-005 exists")).clone());
    }
    let (formats, dictionaries, current) = inspect(&path)?;
    assert_eq!(dictionaries.len(), 1, "one dictionary, trained once");
    assert_eq!(current, dictionaries.first().copied());
    let compressed: Vec<&String> =
        formats.iter().filter(|(_, f)| **f == FORMAT_ARRAY_ZSTD).map(|(id, _)| id).collect();
    assert_eq!(compressed.len(), 31, "the 30 stored after training, and run-005 updated");
    assert!(compressed.iter().all(|id| id.as_str() >= "run-020" || id.as_str() == "run-005"));

    let storage = RedbStorage::open(&path)?;
    for (id, record) in &expected {
        assert_eq!(storage.get(id)?.as_deref(), Some(record), "{id}");
    }
    assert_eq!(storage.list(100, 0)?.len(), 50);
    assert_eq!(storage.verify()?, 50);
    storage.store(record(50))?;
    drop(storage);
    let (formats, dictionaries, _) = inspect(&path)?;
    assert_eq!(formats.get("run-050"), Some(&FORMAT_ARRAY_ZSTD), "a reopened file keeps using it");
    assert_eq!(dictionaries.len(), 1);
    Ok(())
}

#[test]
fn too_few_samples_to_train_leave_records_on_lz4() -> TestResult {
    let (_dir, path) = support::temp_file()?;
    {
        let storage = RedbStorage::builder().dictionary_samples(3).open(&path)?;
        for i in 0..10 {
            storage.store(record(i))?;
        }
    }
    let (formats, dictionaries, current) = inspect(&path)?;
    assert!(dictionaries.is_empty() && current.is_none(), "zstd cannot train on 3 records");
    assert!(formats.values().all(|f| *f != FORMAT_ARRAY_ZSTD));
    let storage = RedbStorage::open(&path)?;
    for i in 0..10 {
        assert_eq!(storage.get(&record(i).execution_id)?.as_deref(), Some(&record(i)));
    }
    Ok(())
}

#[test]
fn no_samples_never_train() -> TestResult {
    let (_dir, path) = support::temp_file()?;
    store_without_dictionary(&path, 50)?;
    let (formats, dictionaries, _) = inspect(&path)?;
    assert!(dictionaries.is_empty());
    assert_eq!(formats.len(), 50);
    assert!(formats.values().all(|f| *f != FORMAT_ARRAY_ZSTD));
    Ok(())
}

/// A file that lost its dictionary fails `verify`, even while this process still holds a
/// copy of it that lets its records decode.
#[test]
fn verify_finds_a_record_whose_dictionary_the_file_lacks() -> TestResult {
    let (_dir, path) = support::temp_file()?;
    let records: Vec<StoredExecution> = (0..40)
        .map(|i| {
            let mut record = record(i);
            record.dag_name = "only-in-this-test".to_owned();
            record
        })
        .collect();
    let storage = RedbStorage::builder().dictionary_samples(20).open(&path)?;
    storage.store_many(records)?;
    storage.store(record(40))?;
    assert_eq!(storage.verify()?, 41);
    drop(storage);
    let (_, dictionaries, _) = inspect(&path)?;
    {
        let db = redb::Database::open(&path)?;
        let txn = db.begin_write()?;
        for id in dictionaries {
            txn.open_table(DICTIONARIES)?.remove(id)?;
        }
        txn.open_table(META)?.remove("dictionary.current")?;
        txn.commit()?;
    }
    let err = RedbStorage::open(&path)?.verify().unwrap_err();
    assert!(
        matches!(&err, execstore::Error::Corrupt { key, reason }
            if key == "executions/run-040" && reason.contains("which the file lacks")),
        "{err:?}"
    );
    Ok(())
}

/// A file written without a dictionary (by an earlier version, or a few records per
/// process) is sampled when opened, so its next write trains one.
#[test]
fn a_file_without_a_dictionary_trains_on_its_records_at_the_next_write() -> TestResult {
    let (_dir, path) = support::temp_file()?;
    store_without_dictionary(&path, 30)?;
    for i in 30..35 {
        // Too few records per open to train from the writes alone.
        RedbStorage::builder().dictionary_samples(25).open(&path)?.store(record(i))?;
        let (_, dictionaries, _) = inspect(&path)?;
        if i == 30 {
            assert_eq!(dictionaries.len(), 1, "trained on the 30 records the file held");
        }
    }
    let (formats, dictionaries, _) = inspect(&path)?;
    assert_eq!(dictionaries.len(), 1, "and kept");
    let compressed: Vec<&str> = formats
        .iter()
        .filter(|(_, f)| **f == FORMAT_ARRAY_ZSTD)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(compressed, ["run-031", "run-032", "run-033", "run-034"]);
    let storage = RedbStorage::open(&path)?;
    for i in 0..35 {
        assert_eq!(storage.get(&record(i).execution_id)?.as_deref(), Some(&record(i)));
    }
    assert_eq!(storage.verify()?, 35);
    Ok(())
}

/// Writers on several threads while one of them trains and adopts the dictionary: every
/// record reads back, whichever encoding it got, and the file is consistent.
#[test]
fn concurrent_writers_across_the_training_lose_nothing() -> TestResult {
    let (_dir, path) = support::temp_file()?;
    let storage = RedbStorage::builder().dictionary_samples(40).open(&path)?;
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let storage = &storage;
                scope.spawn(move || -> Result<(), execstore::Error> {
                    for i in (0..50).map(|k| t * 50 + k) {
                        storage.store(record(i))?;
                        if i.is_multiple_of(5) {
                            storage.update(&record(i).execution_id, &mut |r| {
                                r.status = ExecutionStatus::Failed;
                            })?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for writer in writers {
            writer.join().map_err(|_| "a writer panicked")??;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    let expected = |i: usize| {
        let mut record = record(i);
        if i.is_multiple_of(5) {
            record.status = ExecutionStatus::Failed;
        }
        record
    };
    for i in 0..200 {
        assert_eq!(storage.get(&record(i).execution_id)?.as_deref(), Some(&expected(i)));
    }
    assert_eq!(storage.verify()?, 200);
    drop(storage);
    let (formats, dictionaries, _) = inspect(&path)?;
    assert_eq!(dictionaries.len(), 1);
    assert!(formats.values().filter(|f| **f == FORMAT_ARRAY_ZSTD).count() > 100);
    let storage = RedbStorage::open(&path)?;
    for i in 0..200 {
        assert_eq!(storage.get(&record(i).execution_id)?.as_deref(), Some(&expected(i)));
    }
    Ok(())
}
