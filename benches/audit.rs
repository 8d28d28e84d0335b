//! The audit log against the integration guide's SQLite audit listener, in the same run:
//! `cargo bench --bench audit`. Two figures: what a callback costs the engine (enqueue,
//! with room in the queue) and how many events per second end up durable.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark aborts on any failure")]

mod common;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use execstore::{AuditConfig, AuditLog, ExecutionListener};

use common::events::{self, Event, SqliteAudit};
use common::fixture;

/// Events per measured enqueue run: well below the queue's capacity, so no call blocks.
const ENQUEUE_CHUNK: u64 = 20_000;

/// Events per persisted-throughput iteration.
const PERSISTED: u64 = 100_000;

/// The guide's one-INSERT-per-event listener is slow: fewer events keep the run short.
const SQLITE_SINGLE: u64 = 500;

/// Events per transaction of the batched SQLite peer.
const SQLITE_BATCH: u64 = 1_000;

fn report(log: &AuditLog, event: &Event) {
    match *event {
        Event::ExecutionStarted { execution, dag } => log.on_execution_start(execution, dag),
        Event::ModuleStarted { execution, module, name } => {
            log.on_module_start(execution, module, name)
        }
        Event::ModuleCompleted { execution, module, name, duration_ms } => {
            log.on_module_complete(execution, module, name, duration_ms)
        }
        Event::ExecutionCompleted { execution, dag, succeeded, duration_ms } => {
            log.on_execution_complete(execution, dag, succeeded, duration_ms)
        }
    }
}

fn main() {
    let dir = fixture::temp_dir().unwrap();
    let mut c = common::criterion();
    enqueue(&mut c, dir.path());
    persisted(&mut c, dir.path());
    c.final_summary();
}

/// The cost of one callback with room in the queue: timed in chunks, with a flush between
/// chunks outside the timing so the queue is empty when each chunk starts.
fn enqueue(c: &mut Criterion, dir: &std::path::Path) {
    let log = AuditLog::open(dir.join("enqueue.redb"), AuditConfig::default()).unwrap();
    let stream = events::events(0, ENQUEUE_CHUNK);
    let mut group = c.benchmark_group("audit_enqueue");
    group.bench_function("execstore", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(ENQUEUE_CHUNK);
                let started = Instant::now();
                for event in stream.iter().take(chunk as usize) {
                    report(&log, event);
                }
                timed += started.elapsed();
                log.flush().unwrap();
                left -= chunk;
            }
            timed
        })
    });
    group.finish();
    log.close().unwrap();
}

/// Events made durable per second, from the first callback to the flush that covers them.
fn persisted(c: &mut Criterion, dir: &std::path::Path) {
    let mut group = c.benchmark_group("audit_persisted");
    let log = AuditLog::open(dir.join("persisted.redb"), AuditConfig::default()).unwrap();
    let stream = events::events(0, PERSISTED);
    group.throughput(Throughput::Elements(PERSISTED));
    group.bench_function("execstore", |b| {
        b.iter(|| {
            for event in &stream {
                report(&log, event);
            }
            log.flush().unwrap();
        })
    });
    let sqlite = SqliteAudit::open(&dir.join("audit-single.db")).unwrap();
    let few = events::events(0, SQLITE_SINGLE);
    group.throughput(Throughput::Elements(SQLITE_SINGLE));
    group.bench_function("sqlite_insert_per_event", |b| {
        b.iter(|| few.iter().for_each(|event| sqlite.record(event).unwrap()))
    });
    let mut batched = SqliteAudit::open(&dir.join("audit-batched.db")).unwrap();
    group.throughput(Throughput::Elements(PERSISTED));
    group.bench_function("sqlite_batches_of_1000", |b| {
        b.iter(|| {
            for chunk in stream.chunks(SQLITE_BATCH as usize) {
                batched.record_batch(chunk).unwrap();
            }
        })
    });
    group.finish();
    log.close().unwrap();
}
