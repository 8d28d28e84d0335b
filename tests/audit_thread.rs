//! The writer is one thread named `execstore-audit`, joined by `close` and by `Drop`.
//! Alone in its test binary: it counts the process's threads (Linux `/proc`).
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use execstore::{AuditConfig, AuditLog, ExecutionListener};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn writer_threads() -> Result<usize, std::io::Error> {
    let mut count = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let name = std::fs::read_to_string(task?.path().join("comm"))?;
        count += usize::from(name.trim_end() == "execstore-audit");
    }
    Ok(count)
}

/// The count once it reaches `expected`, or after 10 s: a thread names itself once it
/// runs, and leaves `/proc` a moment after it was joined.
fn settled_count(expected: usize) -> Result<usize, std::io::Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let count = writer_threads()?;
        if count == expected || Instant::now() > deadline {
            return Ok(count);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn one_named_writer_per_log_joined_by_close_and_drop() -> TestResult {
    let dir = tempfile::tempdir()?;
    assert_eq!(settled_count(0)?, 0);
    let first = AuditLog::open(dir.path().join("first.redb"), AuditConfig::default())?;
    let clone = first.clone();
    assert_eq!(settled_count(1)?, 1, "clones share the writer");
    let second = AuditLog::open(dir.path().join("second.redb"), AuditConfig::default())?;
    assert_eq!(settled_count(2)?, 2);
    second.on_execution_start(Uuid::new_v4(), "etl");
    second.close()?;
    assert_eq!(settled_count(1)?, 1);
    drop(first);
    clone.on_execution_start(Uuid::new_v4(), "etl");
    clone.flush()?; // an error if dropping `first` had closed the log
    assert_eq!(settled_count(1)?, 1);
    drop(clone);
    assert_eq!(settled_count(0)?, 0);
    Ok(())
}
