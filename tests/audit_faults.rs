//! The audit writer under I/O failures (a fault-injecting redb backend): errors surface from
//! `flush`/`close`, nothing panics, a failed batch is retried once after the log reopens
//! its backend, and every event is accounted for as committed or lost. Damaged values are
//! typed errors, not panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use execstore::{AuditConfig, AuditEvent, AuditLog, Error, ExecutionListener, RedbStorage};
use redb::{ReadableTable, TableDefinition};
use uuid::Uuid;

#[path = "support/mod.rs"]
mod support;

use support::faulty::FaultyBackend;
use support::TestResult;

fn disk() -> (FaultyBackend, Arc<AtomicBool>, Arc<AtomicU64>) {
    FaultyBackend::with_sync_faults()
}

/// Batches that end only at a flush (or `max_batch` events): what fails together is known.
fn batch_per_flush() -> AuditConfig {
    AuditConfig { max_delay: Duration::from_secs(30), ..AuditConfig::default() }
}

fn report(log: &AuditLog, run: Uuid, count: u64) {
    for i in 0..count {
        log.on_module_complete(run, Uuid::nil(), "step", i);
    }
}

/// Every committed event, in seq order, through the export paging.
fn all_events(log: &AuditLog) -> execstore::Result<Vec<AuditEvent>> {
    let mut all = Vec::new();
    loop {
        let page = log.events_after(all.last().map_or(0, |e: &AuditEvent| e.seq), 1_000)?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

fn assert_gap_free(events: &[AuditEvent]) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
}

fn assert_storage_error(err: &Error, cause: &str) {
    assert!(matches!(err, Error::Storage { operation: "audit commit", .. }), "{err:?}");
    assert!(err.to_string().contains(cause), "{err}");
}

#[test]
fn a_transient_failure_is_reported_then_its_batch_commits_after_the_fault_clears() -> TestResult {
    let (disk, failing, _) = disk();
    let log = AuditLog::open_with_backend(disk, batch_per_flush())?;
    let run = Uuid::new_v4();
    log.on_execution_start(run, "etl");
    log.flush()?;
    failing.store(true, Ordering::SeqCst);
    report(&log, run, 100);
    assert_storage_error(&log.flush().unwrap_err(), "injected fault");
    assert_eq!(log.committed(), 1);
    failing.store(false, Ordering::SeqCst);
    log.on_execution_complete(run, "etl", true, 7);
    log.flush()?;
    let events = log.events_for(run)?;
    assert_eq!(events.len(), 102);
    assert_gap_free(&events);
    let durations: Vec<u64> =
        events.iter().skip(1).take(100).filter_map(|e| e.duration_ms).collect();
    assert_eq!(durations, (0..100).collect::<Vec<_>>(), "the retried batch kept its order");
    assert_eq!((log.committed(), log.lost()), (102, 0));
    log.close()?;
    Ok(())
}

#[test]
fn a_lasting_failure_gives_each_event_two_attempts_then_counts_it_lost() -> TestResult {
    let (disk, failing, _) = disk();
    let log = AuditLog::open_with_backend(disk, batch_per_flush())?;
    let run = Uuid::new_v4();
    log.on_execution_start(run, "etl");
    log.flush()?;
    failing.store(true, Ordering::SeqCst);
    report(&log, run, 10);
    assert!(log.flush().is_err(), "first attempt of the 10");
    report(&log, run, 5);
    assert!(log.flush().is_err(), "second attempt of the 10, first of the 5");
    assert_eq!(log.lost(), 10);
    failing.store(false, Ordering::SeqCst);
    log.flush()?;
    let events = all_events(&log)?;
    assert_eq!(events.len(), 6);
    assert_gap_free(&events);
    assert_eq!((log.committed(), log.lost()), (6, 10));
    log.close()?;
    Ok(())
}

#[test]
fn a_commit_whose_sync_failed_but_landed_is_not_written_twice() -> TestResult {
    let (disk, _, failing_syncs) = disk();
    let log = AuditLog::open_with_backend(disk, batch_per_flush())?;
    let run = Uuid::new_v4();
    log.on_execution_start(run, "etl");
    log.flush()?;
    failing_syncs.store(1, Ordering::SeqCst);
    report(&log, run, 50);
    assert_storage_error(&log.flush().unwrap_err(), "sync failed");
    log.flush()?;
    let events = all_events(&log)?;
    assert_eq!(events.len(), 51, "each event exactly once");
    assert_gap_free(&events);
    assert_eq!((log.committed(), log.lost()), (51, 0));
    log.close()?;
    Ok(())
}

#[test]
fn a_failure_at_close_is_returned_and_every_event_is_accounted_for() -> TestResult {
    let (disk, failing, _) = disk();
    let log = AuditLog::open_with_backend(disk, AuditConfig::default())?;
    let observer = log.clone();
    failing.store(true, Ordering::SeqCst);
    report(&log, Uuid::new_v4(), 1_000);
    assert_storage_error(&log.close().unwrap_err(), "injected fault");
    assert_eq!((observer.committed(), observer.lost()), (0, 1_000));
    Ok(())
}

#[test]
fn a_log_sharing_a_store_handle_keeps_reporting_failures_without_panicking() -> TestResult {
    let (disk, failing, _) = disk();
    let storage = RedbStorage::builder().open_with_backend(disk)?;
    let log = storage.audit_log(AuditConfig::default())?;
    let observer = log.clone();
    let run = Uuid::new_v4();
    failing.store(true, Ordering::SeqCst);
    report(&log, run, 10);
    assert_storage_error(&log.flush().unwrap_err(), "injected fault");
    failing.store(false, Ordering::SeqCst);
    report(&log, run, 3);
    // The store's handle refuses writes after an I/O error and is not the log's to reopen.
    assert!(log.flush().is_err());
    assert!(log.close().is_err());
    assert_eq!((observer.committed(), observer.lost()), (0, 13));
    Ok(())
}

/// The audit table as stored: seq of a chunk's first event → its events.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// Replaces the chunk at `key`, or the last one, with bytes that do not decode; returns its key.
fn overwrite(path: &std::path::Path, key: Option<u64>) -> Result<u64, Box<dyn std::error::Error>> {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    let key = {
        let mut audit = txn.open_table(AUDIT)?;
        let key = match key {
            Some(key) => key,
            None => audit.last()?.ok_or("an empty audit table")?.0.value(),
        };
        assert!(audit.insert(key, [0xff, 0x00, 0x13].as_slice())?.is_some(), "a chunk at {key}");
        key
    };
    txn.commit()?;
    Ok(key)
}

/// Removes the stored next-seq mark, as in a file written before it existed.
fn forget_next_seq(path: &std::path::Path) -> TestResult {
    const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    assert!(txn.open_table(META)?.remove("audit.next_seq")?.is_some(), "a stored mark");
    txn.commit()?;
    Ok(())
}

#[test]
fn damaged_chunks_are_typed_errors_for_the_queries_and_the_open_that_need_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    let (damaged, intact) = (Uuid::new_v4(), Uuid::new_v4());
    let log = AuditLog::open(&path, AuditConfig::default())?;
    report(&log, damaged, 10);
    log.flush()?;
    report(&log, intact, 10);
    log.close()?;
    overwrite(&path, Some(1))?;
    let log = AuditLog::open(&path, AuditConfig::default())?;
    let err = log.events_for(damaged).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { key, .. } if key == "audit/1"), "{err:?}");
    assert_eq!(log.events_for(intact)?.len(), 10);
    assert_eq!(log.recent(10)?.len(), 10);
    assert!(matches!(log.recent(20), Err(Error::Corrupt { .. })));
    log.close()?;
    let last = overwrite(&path, None)?;
    // The next seq comes from its stored mark: the writer does not need the last chunk.
    let log = AuditLog::open(&path, AuditConfig::default())?;
    assert!(matches!(log.recent(1), Err(Error::Corrupt { .. })));
    log.close()?;
    // A file from before the mark derives it from the last chunk, which must then decode.
    forget_next_seq(&path)?;
    let err = AuditLog::open(&path, AuditConfig::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { key, .. } if *key == format!("audit/{last}")),
        "{err:?}"
    );
    Ok(())
}
