//! Journaled writes leave their redb transaction open until something needs to see them
//! (see `src/redb/unpublished.rs`). Everything else that writes or reads the file must
//! still see them, and must not wait on them forever.

mod support;

use execstore::{AuditConfig, ExecutionListener, ExecutionStorage, RedbStorage};
use support::{execution, on_another_thread, temp_file, TestResult};
use uuid::Uuid;

#[test]
fn an_audit_log_sharing_the_file_commits_while_a_write_is_left_open() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::open(&path)?;
    let log = storage.audit_log(AuditConfig::default())?;
    let run = Uuid::new_v4();
    storage.store(execution(&run.to_string(), 1, None))?;
    log.on_execution_start(run, "dag");
    let flusher = log.clone();
    on_another_thread("the audit flush", move || flusher.flush())??;
    assert_eq!(log.events_for(run)?.len(), 1);
    assert!(storage.get(&run.to_string())?.is_some());
    Ok(())
}

#[test]
fn every_reader_sees_the_writes_left_open() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::builder().cache_capacity(0).open(&path)?;
    for i in 0..5 {
        storage.store(execution(&format!("run-{i}"), i, Some("s.cst")))?;
        let expected = i as u64 + 1;
        assert_eq!(storage.stats()?.total_executions, expected);
        assert_eq!(storage.list(10, 0)?.len() as u64, expected);
        assert_eq!(storage.list_by_script("s.cst", 10)?.len() as u64, expected);
    }
    // Another thread, which learns of the writes only through the channel.
    storage.store(execution("last", 9, None))?;
    let reader = storage.clone();
    assert!(on_another_thread("the reader", move || reader.get("last").map(|r| r.is_some()))??);
    assert!(storage.live_bytes()? > 0);
    assert_eq!(storage.verify()?, 6);
    Ok(())
}

#[test]
fn an_update_reads_the_record_a_write_left_open() -> TestResult {
    let (_dir, path) = temp_file()?;
    // No cache: the update must find the record in the open transaction itself.
    let storage = RedbStorage::builder().cache_capacity(0).open(&path)?;
    let stored = execution("run", 1, Some("s.cst"));
    let first = stored.end_time.unwrap_or(0);
    storage.store(stored)?;
    for round in 1..=3i64 {
        let updated =
            storage.update("run", &mut |r| r.end_time = Some(r.end_time.unwrap_or(0) + 1))?;
        let updated = updated.ok_or("the update did not find the record written just before")?;
        assert_eq!(updated.end_time, Some(first + round));
    }
    assert_eq!(storage.get("run")?.and_then(|r| r.end_time), Some(first + 3));
    assert_eq!(storage.verify()?, 1);
    Ok(())
}
