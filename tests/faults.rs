//! Writes that hit an I/O error (a fault-injecting redb backend): typed errors from the
//! store's writes, never a panic. The audit log's are in `audit_faults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::Ordering;

use execstore::{Error, ExecutionStorage, RedbStorage};
use support::faulty::FaultyBackend;
use support::{execution, TestResult};

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
