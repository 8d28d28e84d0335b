//! Writes that hit an I/O error (a fault-injecting redb backend): typed errors from the
//! audit log's `flush`/`close` and from the store's writes, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::Ordering;

use execstore::{AuditConfig, AuditLog, Error, ExecutionListener, ExecutionStorage, RedbStorage};
use support::faulty::FaultyBackend;
use support::{execution, TestResult};
use uuid::Uuid;

#[test]
fn an_audit_write_failure_surfaces_from_flush_and_close() -> TestResult {
    let (backend, failing) = FaultyBackend::new();
    let log = AuditLog::open_with_backend(backend, AuditConfig::default())?;
    let run = Uuid::new_v4();
    log.on_execution_start(run, "before");
    log.flush()?;
    failing.store(true, Ordering::SeqCst);
    for _ in 0..100 {
        log.on_module_start(run, Uuid::nil(), "during");
    }
    let err = log.flush().unwrap_err();
    assert!(matches!(&err, Error::Storage { operation: "audit commit", .. }), "{err:?}");
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert_eq!(log.lost(), 100);
    // redb refuses writes on a handle after an I/O error: later batches fail fast and
    // are reported too, and the writer neither panics nor spins.
    failing.store(false, Ordering::SeqCst);
    log.on_execution_cancelled(run, "after");
    let later = log.flush().unwrap_err();
    assert!(later.to_string().contains("re-open"), "{later}");
    assert_eq!(log.lost(), 101);
    assert_eq!(log.events_for(run)?.first().map(|e| e.seq), Some(1));
    log.close()?; // every error was already reported by a flush
    Ok(())
}

#[test]
fn a_store_write_failure_is_a_typed_error_and_reads_still_answer() -> TestResult {
    let (backend, failing) = FaultyBackend::new();
    let storage = RedbStorage::builder().open_with_backend(backend)?;
    storage.store(execution("kept", 1, None))?;
    failing.store(true, Ordering::SeqCst);
    let err = storage.store(execution("refused", 2, None)).unwrap_err();
    assert!(matches!(&err, Error::Storage { operation: "store", .. }), "{err:?}");
    assert!(matches!(storage.delete("kept"), Err(Error::Storage { .. })));
    assert!(matches!(
        storage.update("kept", &mut |e| e.start_time = 9),
        Err(Error::Storage { .. })
    ));
    assert_eq!(
        storage.get("kept")?.map(|e| e.start_time),
        Some(1),
        "cache not touched by a failed write"
    );
    failing.store(false, Ordering::SeqCst);
    assert_eq!(support::ids(&storage.list(10, 0)?), ["kept"], "committed data stays readable");
    assert!(storage.verify().is_ok());
    Ok(())
}

/// Found by the `faulty_disk` fuzz target: an update or delete of a missing id used to
/// commit an empty transaction, so a failing disk turned a no-op into an I/O error.
#[test]
fn writes_that_change_nothing_do_not_touch_the_disk() -> TestResult {
    let (backend, failing) = FaultyBackend::new();
    let storage = RedbStorage::builder().open_with_backend(backend)?;
    storage.store(execution("kept", 1, None))?;
    failing.store(true, Ordering::SeqCst);
    assert!(storage.update("missing", &mut |e| e.start_time = 2)?.is_none());
    assert!(!storage.delete("missing")?);
    assert_eq!(storage.prune()?, 0);
    assert_eq!(storage.keep_newest(5)?, 0);
    failing.store(false, Ordering::SeqCst);
    storage.store(execution("after", 2, None))?;
    assert_eq!(storage.stats()?.total_executions, 2);
    Ok(())
}
