//! A database written by execstore 0.1 (schema 1, format byte 1) is checked in; this
//! build must open and read it exactly. A format change that breaks old files fails here.
//!
//! Regenerate (only when a new schema version is introduced on purpose, keeping the old
//! fixture too): `EXECSTORE_WRITE_FIXTURE=1 cargo test --test redb_fixture -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use execstore::{ExecutionStatus, ExecutionStorage, RedbStorage, StoredExecution};
use serde_json::json;
use support::{execution, ids, viz, TestResult};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/execstore-schema1.redb")
}

/// The records the fixture holds, rebuilt the same way every time.
fn fixture_records() -> Vec<StoredExecution> {
    (0..12)
        .map(|i| {
            let script = ["etl.cst", "report.cst", "nightly/ml.cst"].get(i % 3).copied();
            let mut record =
                execution(&format!("fixture-{i:02}"), 1_700_000_000_000 + i as i64, script);
            record.status =
                [ExecutionStatus::Completed, ExecutionStatus::Failed, ExecutionStatus::Running]
                    .get(i % 3)
                    .copied()
                    .unwrap_or(ExecutionStatus::Completed);
            record.inputs.insert("i".to_owned(), json!(i));
            if i % 4 == 0 {
                record.dag_viz_ir = Some(viz());
            }
            record
        })
        .collect()
}

#[test]
#[ignore = "writes the checked-in fixture; see the module docs"]
fn write_fixture() -> TestResult {
    if std::env::var("EXECSTORE_WRITE_FIXTURE").is_err() {
        return Ok(());
    }
    let path = fixture_path();
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    RedbStorage::open(&path)?.store_many(fixture_records())?;
    assert!(RedbStorage::compact_file(&path).is_ok());
    Ok(())
}

#[test]
fn the_schema_1_fixture_reads_back_exactly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("fixture.redb");
    std::fs::copy(fixture_path(), &copy)?;
    let storage = RedbStorage::open(&copy)?;
    let expected = fixture_records();
    for record in &expected {
        assert_eq!(storage.get(&record.execution_id)?.as_deref(), Some(record));
    }
    let newest_first: Vec<String> = expected.iter().rev().map(|r| r.execution_id.clone()).collect();
    assert_eq!(ids(&storage.list(100, 0)?), newest_first);
    assert_eq!(ids(&storage.list_by_script("report.cst", 2)?), ["fixture-10", "fixture-07"]);
    let stats = storage.stats()?;
    assert_eq!(
        (
            stats.total_executions,
            stats.completed_executions,
            stats.failed_executions,
            stats.running_executions
        ),
        (12, 4, 4, 4)
    );
    assert_eq!(storage.verify()?, 12);
    Ok(())
}
