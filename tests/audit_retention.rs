//! Audit retention on a store's audit log: removed executions' events are swept in bounded
//! steps, old chunks go by age, survivors keep their seqs and seqs are never reused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashSet;

use execstore::{
    AuditConfig, AuditEvent, AuditLog, ExecutionListener, ExecutionStorage, RedbStorage,
};
use support::{execution, TestResult};
use uuid::Uuid;

/// Batches of at most one chunk, so that chunk boundaries follow the flushes.
fn config() -> AuditConfig {
    AuditConfig { max_batch: 256, ..AuditConfig::default() }
}

fn runs(n: u128) -> Vec<Uuid> {
    (1..=n).map(|i| Uuid::from_u128(0xa0d1_7000_0000_0000_0000_0000_0000_0000 + i)).collect()
}

fn store_runs(storage: &RedbStorage, runs: &[Uuid]) -> TestResult {
    for (i, run) in runs.iter().enumerate() {
        storage.store(execution(&run.to_string(), 1_000 + i as i64, Some("s.cst")))?;
    }
    Ok(())
}

/// `per_run` module completions for each run, interleaved, so chunks hold several runs.
fn emit(log: &AuditLog, runs: &[Uuid], per_run: u64) -> TestResult {
    for i in 0..per_run {
        for run in runs {
            log.on_module_complete(*run, Uuid::nil(), "step", i);
        }
    }
    log.flush()?;
    Ok(())
}

/// Every committed event through `events_after` pages of `page` events.
fn follow(log: &AuditLog, after: u64, page: usize) -> Result<Vec<AuditEvent>, execstore::Error> {
    let mut all: Vec<AuditEvent> = Vec::new();
    loop {
        let from = all.last().map_or(after, |e| e.seq);
        let next = log.events_after(from, page)?;
        if next.is_empty() {
            return Ok(all);
        }
        all.extend(next);
    }
}

fn without(events: &[AuditEvent], removed: &HashSet<Uuid>) -> Vec<AuditEvent> {
    events.iter().filter(|e| !removed.contains(&e.execution_id)).cloned().collect()
}

/// Sweeps until nothing is left, checking each step stays within `budget`; returns the steps.
fn sweep_all(storage: &RedbStorage, budget: u64) -> Result<u64, execstore::Error> {
    let mut steps = 0;
    loop {
        let touched = storage.sweep_audit(budget)?;
        assert!(touched <= budget, "{touched} chunks touched with a budget of {budget}");
        if touched == 0 {
            return Ok(steps);
        }
        steps += 1;
    }
}

#[test]
fn sweeping_removed_runs_keeps_the_others_and_their_seqs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let log = storage.audit_log(config())?;
    let runs = runs(10);
    store_runs(&storage, &runs)?;
    emit(&log, &runs, 100)?;
    // The newest chunk holds only a run that is then removed: the next seq must not go back.
    emit(&log, &runs[..1], 50)?;
    let before = follow(&log, 0, 97)?;
    assert_eq!(before.len(), 1_050);
    let removed: HashSet<Uuid> = [runs[0], runs[3], runs[7]].into();
    for run in &removed {
        assert!(storage.delete(&run.to_string())?);
    }
    assert!(sweep_all(&storage, 2)? > 1, "a budget of 2 chunks needs several steps");
    for run in &runs {
        let expected: Vec<AuditEvent> = before
            .iter()
            .filter(|e| e.execution_id == *run && !removed.contains(run))
            .cloned()
            .collect();
        assert_eq!(log.events_for(*run)?, expected);
    }
    let survivors = without(&before, &removed);
    assert_eq!(follow(&log, 0, 13)?, survivors);
    for after in [0, 1, 5, 255, 256, 257, 600, 1_000, 1_049, 1_050] {
        let page = log.events_after(after, 7)?;
        let expected: Vec<AuditEvent> =
            survivors.iter().filter(|e| e.seq > after).take(7).cloned().collect();
        assert_eq!(page, expected, "after {after}");
    }
    emit(&log, &runs[1..2], 3)?;
    let fresh: Vec<u64> = log.events_after(1_050, 10)?.iter().map(|e| e.seq).collect();
    assert_eq!(fresh, [1_051, 1_052, 1_053]);
    assert_eq!(storage.verify()?, 7);
    Ok(())
}

#[test]
fn the_next_seq_survives_removal_and_reopening() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let runs = runs(2);
    {
        let storage = RedbStorage::open(&path)?;
        let log = storage.audit_log(config())?;
        store_runs(&storage, &runs)?;
        emit(&log, &runs, 10)?;
        storage.clear()?;
        assert_eq!(sweep_all(&storage, 100)?, 1);
        assert!(log.events_after(0, 100)?.is_empty());
        log.close()?;
    }
    let storage = RedbStorage::open(&path)?;
    let log = storage.audit_log(config())?;
    emit(&log, &runs, 1)?;
    let seqs: Vec<u64> = log.events_after(0, 100)?.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [21, 22]);
    Ok(())
}

#[test]
fn clear_sweeps_the_cleared_runs_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let log = storage.audit_log(config())?;
    let runs = runs(4);
    // The last run has events but never had a record: nothing removes its events.
    store_runs(&storage, &runs[..3])?;
    emit(&log, &runs, 80)?;
    storage.clear()?;
    sweep_all(&storage, 1)?;
    for run in &runs[..3] {
        assert!(log.events_for(*run)?.is_empty());
    }
    let kept: Vec<u64> = log.events_for(runs[3])?.iter().filter_map(|e| e.duration_ms).collect();
    assert_eq!(kept, (0..80).collect::<Vec<_>>());
    assert_eq!(follow(&log, 0, 1_000)?, log.events_for(runs[3])?);
    Ok(())
}

#[test]
fn a_run_stored_again_before_the_sweep_keeps_its_events() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let log = storage.audit_log(config())?;
    let runs = runs(2);
    store_runs(&storage, &runs)?;
    emit(&log, &runs, 5)?;
    let before = log.events_for(runs[0])?;
    for run in &runs {
        storage.delete(&run.to_string())?;
    }
    store_runs(&storage, &runs[..1])?;
    sweep_all(&storage, 10)?;
    assert_eq!(log.events_for(runs[0])?, before);
    assert!(log.events_for(runs[1])?.is_empty());
    assert_eq!(storage.verify()?, 1);
    Ok(())
}

#[test]
fn removal_by_age_takes_whole_old_chunks_and_keeps_the_newest() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let log = storage.audit_log(config())?;
    let runs = runs(3);
    emit(&log, &runs, 200)?;
    let old = follow(&log, 0, 1_000)?;
    let cutoff = old.iter().map(|e| e.timestamp).max().ok_or("no events")? + 1;
    // Later events need a later timestamp than every old one.
    while execstore_now() < cutoff {
        std::thread::yield_now();
    }
    emit(&log, &runs[..1], 10)?;
    let new = log.events_after(600, 100)?;
    assert_eq!(new.len(), 10);
    let mut removed = 0;
    loop {
        let step = storage.remove_audit_older_than(cutoff, 1)?;
        assert!(step <= 1);
        if step == 0 {
            break;
        }
        removed += step;
    }
    assert!(removed >= 3, "600 old events in chunks of at most 256, {removed} removed");
    assert_eq!(follow(&log, 0, 1_000)?, new);
    assert_eq!(log.events_for(runs[0])?, new);
    assert!(log.events_for(runs[1])?.is_empty());
    emit(&log, &runs[2..], 1)?;
    assert_eq!(log.events_after(610, 10)?.iter().map(|e| e.seq).collect::<Vec<_>>(), [611]);
    Ok(())
}

fn execstore_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as i64)
}

/// Replaces the stored next-seq mark (`None`: removes it, as in a file written before it).
fn set_next_seq(path: &std::path::Path, mark: Option<u64>) -> TestResult {
    const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let old = match mark {
            Some(mark) => meta.insert("audit.next_seq", mark)?,
            None => meta.remove("audit.next_seq")?,
        };
        assert!(old.is_some(), "a stored mark");
    }
    txn.commit()?;
    Ok(())
}

#[test]
fn a_file_from_before_the_mark_keeps_counting_after_a_sweep() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let runs = runs(1);
    {
        let storage = RedbStorage::open(&path)?;
        let log = storage.audit_log(config())?;
        store_runs(&storage, &runs)?;
        emit(&log, &runs, 10)?;
        log.close()?;
    }
    set_next_seq(&path, None)?;
    let storage = RedbStorage::open(&path)?;
    assert!(storage.delete(&runs[0].to_string())?);
    sweep_all(&storage, 10)?;
    let log = storage.audit_log(config())?;
    assert!(log.events_after(0, 100)?.is_empty());
    emit(&log, &runs, 1)?;
    assert_eq!(log.events_after(0, 100)?.iter().map(|e| e.seq).collect::<Vec<_>>(), [11]);
    Ok(())
}

#[test]
fn a_log_in_its_own_file_removes_old_chunks_by_age() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    let log = AuditLog::open(&path, config())?;
    let runs = runs(1);
    emit(&log, &runs, 300)?;
    let cutoff = follow(&log, 0, 1_000)?.iter().map(|e| e.timestamp).max().ok_or("no events")? + 1;
    while execstore_now() < cutoff {
        std::thread::yield_now();
    }
    emit(&log, &runs, 2)?;
    assert_eq!(log.remove_older_than(cutoff, 0)?, 0);
    while log.remove_older_than(cutoff, 1)? > 0 {}
    log.close()?;
    let log = AuditLog::open(&path, config())?;
    let seqs: Vec<u64> = follow(&log, 0, 1_000)?.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [301, 302]);
    emit(&log, &runs, 1)?;
    assert_eq!(log.events_after(302, 10)?.iter().map(|e| e.seq).collect::<Vec<_>>(), [303]);
    Ok(())
}

#[test]
fn verify_reports_a_next_seq_mark_below_a_stored_seq() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    {
        let storage = RedbStorage::open(&path)?;
        let log = storage.audit_log(config())?;
        emit(&log, &runs(1), 10)?;
        log.close()?;
        assert_eq!(storage.verify()?, 0);
    }
    set_next_seq(&path, Some(10))?;
    let err = RedbStorage::open(&path)?.verify().unwrap_err();
    assert!(
        matches!(&err, execstore::Error::Corrupt { key, .. } if key == "meta/audit.next_seq"),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn updating_or_replacing_a_run_keeps_its_events() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let log = storage.audit_log(config())?;
    let runs = runs(2);
    store_runs(&storage, &runs)?;
    emit(&log, &runs, 4)?;
    let before = follow(&log, 0, 100)?;
    let updated = storage.update(&runs[0].to_string(), &mut |e| {
        e.status = execstore::ExecutionStatus::Failed;
    })?;
    assert!(updated.is_some());
    store_runs(&storage, &runs[1..])?;
    assert_eq!(storage.sweep_audit(10)?, 0, "nothing to sweep");
    assert_eq!(follow(&log, 0, 100)?, before);
    assert_eq!(storage.verify()?, 2);
    Ok(())
}
