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

/// Named values of the old file and positional values of this build live side by side: an
/// update rewrites an old record in the new layout, moving it in every index, and both
/// kinds read back, list and verify together.
#[test]
fn old_named_values_and_new_positional_ones_mix() -> TestResult {
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("fixture.redb");
    std::fs::copy(fixture_path(), &copy)?;
    let mut expected = fixture_records();
    {
        let storage = RedbStorage::open(&copy)?;
        let fresh = execution("fresh", 1_800_000_000_000, Some("report.cst"));
        storage.store(fresh.clone())?;
        expected.push(fresh);
        let updated = storage.update("fixture-02", &mut |r| {
            r.status = ExecutionStatus::Completed;
            r.end_time = Some(r.start_time + 5);
        })?;
        let updated = updated.expect("fixture-02 exists");
        assert_eq!(updated.status, ExecutionStatus::Completed);
        if let Some(slot) = expected.iter_mut().find(|r| r.execution_id == "fixture-02") {
            *slot = (*updated).clone();
        }
        assert!(storage.delete("fixture-03")?);
        expected.retain(|r| r.execution_id != "fixture-03");
    }
    let storage = RedbStorage::open(&copy)?;
    for record in &expected {
        assert_eq!(storage.get(&record.execution_id)?.as_deref(), Some(record));
    }
    let mut newest_first = expected.clone();
    newest_first.sort_by_key(|r| std::cmp::Reverse(r.start_time));
    let summaries = storage.list(100, 0)?;
    let expected_summaries: Vec<_> =
        newest_first.iter().map(execstore::ExecutionSummary::from).collect();
    assert_eq!(summaries, expected_summaries);
    assert_eq!(ids(&storage.list_by_script("report.cst", 2)?), ["fresh", "fixture-10"]);
    let stats = storage.stats()?;
    let count = |status| expected.iter().filter(|r| r.status == status).count() as u64;
    assert_eq!(
        (stats.total_executions, stats.completed_executions, stats.running_executions),
        (12, count(ExecutionStatus::Completed), count(ExecutionStatus::Running))
    );
    assert_eq!(count(ExecutionStatus::Running), 3, "fixture-02 left Running");
    assert_eq!(storage.verify()?, 12);
    Ok(())
}
