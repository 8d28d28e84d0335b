//! Following the audit log with `events_after`: resuming across close and reopen, and
//! while retention removes events under a writer that keeps committing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::thread;

use execstore::{
    AuditConfig, AuditEvent, AuditLog, ExecutionListener, ExecutionStorage, RedbStorage,
};
use support::{execution, TestResult};
use uuid::Uuid;

fn small_batches() -> AuditConfig {
    AuditConfig { queue_capacity: 1_024, max_batch: 64, ..AuditConfig::default() }
}

fn report(log: &AuditLog, run: Uuid, from: u64, to: u64) {
    for i in from..to {
        log.on_module_complete(run, Uuid::nil(), "step", i);
    }
}

/// Pages of `page` events after `after` until the end, in order.
fn follow(
    log: &AuditLog,
    mut after: u64,
    page: usize,
) -> Result<Vec<AuditEvent>, execstore::Error> {
    let mut all = Vec::new();
    loop {
        let next = log.events_after(after, page)?;
        let Some(last) = next.last() else { return Ok(all) };
        after = last.seq;
        all.extend(next);
    }
}

fn durations(events: &[AuditEvent]) -> Vec<u64> {
    events.iter().filter_map(|e| e.duration_ms).collect()
}

#[test]
fn a_follower_resumes_exactly_across_close_and_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    let run = Uuid::new_v4();
    let log = AuditLog::open(&path, small_batches())?;
    report(&log, run, 0, 300);
    log.flush()?;
    let mut seen = log.events_after(0, 100)?;
    log.close()?;
    let log = AuditLog::open(&path, small_batches())?;
    report(&log, run, 300, 500);
    log.close()?;
    let log = AuditLog::open(&path, small_batches())?;
    seen.extend(follow(&log, seen.last().map_or(0, |e| e.seq), 33)?);
    assert_eq!(durations(&seen), (0..500).collect::<Vec<_>>());
    assert_eq!(seen.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=500).collect::<Vec<_>>());
    assert!(log.events_after(500, 10)?.is_empty());
    assert!(log.events_after(u64::MAX, 10)?.is_empty());
    Ok(())
}

#[test]
fn retention_under_a_committing_writer_never_reuses_a_seq() -> TestResult {
    const RUNS: usize = 12;
    const PER_RUN: u64 = 400;
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let log = storage.audit_log(small_batches())?;
    let runs: Vec<Uuid> = (0..RUNS).map(|_| Uuid::new_v4()).collect();
    for (i, run) in runs.iter().enumerate() {
        storage.store(execution(&run.to_string(), i as i64, None))?;
    }
    let (removed, kept) = runs.split_at(RUNS / 2);
    // Removed runs are over before they are removed; kept runs go on while the sweeper
    // rewrites and deletes chunks, the newest among them.
    for step in 0..PER_RUN / 10 {
        for run in removed {
            report(&log, *run, step * 10, step * 10 + 10);
        }
    }
    log.flush()?;
    let followed = thread::scope(|scope| -> Result<Vec<AuditEvent>, execstore::Error> {
        let writer = scope.spawn(|| {
            for step in 0..PER_RUN / 10 {
                for run in kept {
                    report(&log, *run, step * 10, step * 10 + 10);
                }
            }
        });
        let sweeper = scope.spawn(|| -> Result<(), execstore::Error> {
            for run in removed {
                storage.delete(&run.to_string())?;
                for _ in 0..20 {
                    storage.sweep_audit(1)?;
                    thread::yield_now();
                }
            }
            Ok(())
        });
        // A live follower sees seqs strictly increasing, whatever is swept meanwhile.
        let mut followed: Vec<AuditEvent> = Vec::new();
        while !writer.is_finished() {
            followed.extend(follow(&log, followed.last().map_or(0, |e| e.seq), 50)?);
        }
        writer.join().expect("the writer thread");
        sweeper.join().expect("the sweeper thread")?;
        Ok(followed)
    })?;
    assert!(followed.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    log.flush()?;
    while storage.sweep_audit(3)? > 0 {}
    for run in removed {
        assert!(log.events_for(*run)?.is_empty());
    }
    for run in kept {
        assert_eq!(durations(&log.events_for(*run)?), (0..PER_RUN).collect::<Vec<_>>());
    }
    let survivors = follow(&log, 0, 500)?;
    let seqs: Vec<u64> = survivors.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(seqs.len() as u64, kept.len() as u64 * PER_RUN);
    let total = RUNS as u64 * PER_RUN;
    assert!(seqs.last().is_some_and(|&last| last <= total));
    report(&log, kept[0], PER_RUN, PER_RUN + 1);
    log.flush()?;
    assert_eq!(log.events_after(total, 10)?.iter().map(|e| e.seq).collect::<Vec<_>>(), [total + 1]);
    assert_eq!(storage.verify()?, kept.len() as u64);
    Ok(())
}
