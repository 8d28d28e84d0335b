//! Durability under `kill -9`: a child process writes and prints each acknowledged write;
//! the parent kills it at several points and checks that every acknowledged write is on
//! disk and that records, indexes and counters agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};

use execstore::{Durability, ExecutionStatus, ExecutionStorage, RedbStorage};
use serde_json::json;
use support::{execution, viz, TestResult};

const DB_VAR: &str = "EXECSTORE_CRASH_DB";
const FIRST_VAR: &str = "EXECSTORE_CRASH_FIRST";
const DICTIONARY_SAMPLES: usize = 25;

/// What the parent expects of one id after the acknowledgements it read.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Stored,
    Updated(u64),
    Deleted,
    /// A delete was started but not acknowledged: either state is right.
    Deleting,
}

/// The child: writes until killed, one acknowledgement line per returned write.
#[test]
#[ignore = "run by kill_nine_loses_no_acknowledged_write as a child process"]
fn crash_child() -> TestResult {
    let (Ok(path), Ok(first)) = (std::env::var(DB_VAR), std::env::var(FIRST_VAR)) else {
        return Ok(());
    };
    let first: u64 = first.parse()?;
    // Few samples, so that most writes of the later runs use the trained dictionary.
    let storage = RedbStorage::builder().dictionary_samples(DICTIONARY_SAMPLES).open(path)?;
    let mut out = std::io::stdout().lock();
    for i in first.. {
        let id = format!("r{i:06}");
        let script = format!("script-{}.cst", i % 4);
        let start = i64::try_from(i)?;
        if i % 7 == 0 {
            let batch = (0..5).map(|k| execution(&format!("{id}-{k}"), start, Some(&script)));
            storage.store_many(batch.collect())?;
            for k in 0..5 {
                writeln!(out, "ACK stored {id}-{k}")?;
            }
        } else {
            // Half the runs share one visualization: replay must keep its count exact.
            let mut record = execution(&id, start, Some(&script));
            record.dag_viz_ir = (i % 2 == 0).then(viz);
            storage.store(record)?;
            writeln!(out, "ACK stored {id}")?;
        }
        if i % 3 == 0 && i > first {
            let target = format!("r{:06}", i - 1);
            let updated = storage.update(&target, &mut |e| {
                e.status = ExecutionStatus::Failed;
                e.script_path = Some("moved.cst".to_owned());
                e.inputs.insert("n".to_owned(), json!(i));
            })?;
            if updated.is_some() {
                writeln!(out, "ACK updated {target} {i}")?;
            }
        }
        if i % 5 == 0 && i > first + 1 {
            let target = format!("r{:06}", i - 2);
            writeln!(out, "TRY delete {target}")?;
            out.flush()?;
            if storage.delete(&target)? {
                writeln!(out, "ACK deleted {target}")?;
            }
        }
        out.flush()?;
    }
    Ok(())
}

#[test]
fn kill_nine_loses_no_acknowledged_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("crash.redb");
    let mut expected = BTreeMap::new();
    let mut first = 0u64;
    for acks_before_kill in [1, 15, 60, 150, 400] {
        run_child_until_killed(&path, first, acks_before_kill, &mut expected)?;
        check_after_crash(&path, &expected)?;
        first += 10_000;
    }
    let count = |wanted: fn(&Expected) -> bool| expected.values().filter(|e| wanted(e)).count();
    assert!(count(|e| *e == Expected::Stored) > 300, "too few stores were acknowledged");
    assert!(count(|e| matches!(e, Expected::Updated(_))) > 50, "too few updates");
    assert!(count(|e| *e == Expected::Deleted) > 20, "too few deletes");
    assert!(holds_a_dictionary(&path)?, "records were compressed with a trained dictionary");
    Ok(())
}

fn holds_a_dictionary(path: &std::path::Path) -> Result<bool, Box<dyn std::error::Error>> {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    let dictionaries: TableDefinition<u64, &[u8]> = TableDefinition::new("dictionaries");
    let db = redb::Database::open(path)?;
    Ok(db.begin_read()?.open_table(dictionaries)?.len()? > 0)
}

fn run_child_until_killed(
    path: &std::path::Path,
    first: u64,
    acks_before_kill: usize,
    expected: &mut BTreeMap<String, Expected>,
) -> TestResult {
    let mut child = support::child_test("crash_child")?
        .env(DB_VAR, path)
        .env(FIRST_VAR, first.to_string())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut acks = 0;
    let mut killed = false;
    // Lines keep coming until the pipe closes after the kill; every one of them was
    // printed after its write returned, so all count as acknowledged.
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(id) = line.strip_prefix("TRY delete ") {
            expected.insert(id.to_owned(), Expected::Deleting);
            continue;
        }
        let Some(ack) = line.strip_prefix("ACK ") else { continue };
        record_ack(ack, expected)?;
        acks += 1;
        if acks >= acks_before_kill && !killed {
            child.kill()?;
            killed = true;
        }
    }
    let status = child.wait()?;
    assert!(killed && !status.success(), "the child ended on its own: {status}");
    Ok(())
}

fn record_ack(ack: &str, expected: &mut BTreeMap<String, Expected>) -> TestResult {
    let words: Vec<&str> = ack.split(' ').collect();
    match words.as_slice() {
        ["stored", id] => expected.insert((*id).to_owned(), Expected::Stored),
        ["updated", id, n] => expected.insert((*id).to_owned(), Expected::Updated(n.parse()?)),
        ["deleted", id] => expected.insert((*id).to_owned(), Expected::Deleted),
        _ => return Err(format!("unexpected line {ack:?}").into()),
    };
    Ok(())
}

fn check_after_crash(path: &std::path::Path, expected: &BTreeMap<String, Expected>) -> TestResult {
    check_reopened(RedbStorage::open(path)?, expected)
}

fn check_reopened(storage: RedbStorage, expected: &BTreeMap<String, Expected>) -> TestResult {
    for (id, state) in expected {
        let record = storage.get(id)?;
        match state {
            Expected::Stored => assert!(record.is_some(), "acknowledged store of {id} lost"),
            Expected::Deleted => assert!(record.is_none(), "acknowledged delete of {id} lost"),
            Expected::Deleting => {}
            Expected::Updated(n) => {
                let record = record.ok_or_else(|| format!("updated {id} lost"))?;
                assert_eq!(record.inputs.get("n"), Some(&json!(n)), "update of {id} lost");
                assert_eq!(record.status, ExecutionStatus::Failed);
            }
        }
    }
    let stats = storage.stats()?;
    let listed = storage.list(usize::MAX, 0)?.len() as u64;
    assert_eq!(stats.total_executions, listed);
    assert_eq!(storage.verify()?, listed);
    let moved = storage.list_by_script("moved.cst", usize::MAX)?;
    assert!(moved.iter().all(|s| s.status == ExecutionStatus::Failed));
    Ok(())
}

/// A journal left by a crash is replayed even when the file is next opened without
/// journaling (`Durability::Eventual`), and is then gone.
#[test]
fn a_crash_journal_is_replayed_by_an_eventual_open_too() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("crash.redb");
    let mut expected = BTreeMap::new();
    run_child_until_killed(&path, 0, 40, &mut expected)?;
    let journal = path.with_file_name("crash.redb-journal");
    assert!(journal.exists(), "the killed writer left its journal");
    let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
    assert!(!journal.exists());
    check_reopened(storage, &expected)
}
