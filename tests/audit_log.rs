//! `AuditLog`: ordering, batching under load, overflow policies, close/drop, reopening,
//! the JSON form, and sharing a file with `RedbStorage`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::Arc;
use std::thread;

use execstore::{
    AuditConfig, AuditEvent, AuditEventKind, AuditLog, Error, ExecutionListener, ExecutionStorage,
    OverflowPolicy, RedbStorage,
};
use support::{execution, TestResult};
use uuid::Uuid;

const THREADS: u64 = 4;
const PER_THREAD: u64 = 10_000;

fn small_batches() -> AuditConfig {
    AuditConfig { queue_capacity: 1_024, max_batch: 256, ..AuditConfig::default() }
}

/// Each thread reports `PER_THREAD` module completions of its own execution, the
/// duration carrying the thread's sequence number.
fn flood(log: &AuditLog, executions: &[Uuid]) {
    let threads: Vec<_> = executions
        .iter()
        .map(|&execution| {
            let log = log.clone();
            thread::spawn(move || {
                let module = Uuid::new_v4();
                for i in 0..PER_THREAD {
                    log.on_module_complete(execution, module, "step", i);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Every event is present once, seqs are gap-free from 1, per-thread order is kept.
fn check_complete(log: &AuditLog, executions: &[Uuid]) -> TestResult {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = log.events_after(after, 5_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=THREADS * PER_THREAD).collect::<Vec<_>>());
    for &execution in executions {
        let events = log.events_for(execution)?;
        let durations: Vec<u64> = events.iter().filter_map(|e| e.duration_ms).collect();
        assert_eq!(durations, (0..PER_THREAD).collect::<Vec<_>>(), "order of {execution}");
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    }
    let newest: Vec<u64> = log.recent(600)?.iter().map(|e| e.seq).collect();
    let last = THREADS * PER_THREAD;
    assert_eq!(newest, (last - 599..=last).rev().collect::<Vec<_>>());
    let middle: Vec<u64> = log.events_after(1_000, 700)?.iter().map(|e| e.seq).collect();
    assert_eq!(middle, (1_001..=1_700).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn four_threads_of_ten_thousand_lose_nothing_through_flush_close_and_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    let executions: Vec<Uuid> = (0..THREADS).map(|_| Uuid::new_v4()).collect();
    let log = AuditLog::open(&path, small_batches())?;
    flood(&log, &executions);
    log.flush()?;
    check_complete(&log, &executions)?;
    assert_eq!(log.committed(), THREADS * PER_THREAD);
    log.clone().close()?;
    check_complete(&log, &executions)?;
    drop(log);
    let reopened = AuditLog::open(&path, AuditConfig::default())?;
    check_complete(&reopened, &executions)?;
    reopened.on_execution_start(executions[0], "next");
    reopened.flush()?;
    assert_eq!(reopened.recent(1)?.first().map(|e| e.seq), Some(THREADS * PER_THREAD + 1));
    Ok(())
}

#[test]
fn drop_newest_with_a_queue_of_one_accounts_for_every_event() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = AuditConfig {
        queue_capacity: 1,
        max_batch: 64,
        overflow: OverflowPolicy::DropNewest,
        ..AuditConfig::default()
    };
    let log = AuditLog::open(dir.path().join("audit.redb"), config)?;
    let executions: Vec<Uuid> = (0..THREADS).map(|_| Uuid::new_v4()).collect();
    flood(&log, &executions);
    let dropped = log.dropped();
    let observer = log.clone();
    log.close()?;
    let kept = observer.committed();
    assert_eq!(kept + dropped, THREADS * PER_THREAD, "kept {kept}, dropped {dropped}");
    let stored: usize = executions
        .iter()
        .map(|&e| observer.events_for(e).map(|v| v.len()))
        .sum::<execstore::Result<usize>>()?;
    assert_eq!(stored as u64, kept);
    Ok(())
}

#[test]
fn drop_without_close_loses_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    let execution = Uuid::new_v4();
    {
        let log = AuditLog::open(&path, small_batches())?;
        for i in 0..5_000 {
            log.on_module_start(execution, Uuid::new_v4(), &format!("m{i}"));
        }
    }
    let log = AuditLog::open(&path, AuditConfig::default())?;
    assert_eq!(log.events_for(execution)?.len(), 5_000);
    Ok(())
}

#[test]
fn after_close_callbacks_are_ignored_and_counted() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = AuditLog::open(dir.path().join("audit.redb"), AuditConfig::default())?;
    let other = log.clone();
    log.close()?;
    other.on_execution_start(Uuid::new_v4(), "late");
    other.on_execution_cancelled(Uuid::new_v4(), "late");
    assert_eq!(other.ignored_after_close(), 2);
    assert!(matches!(other.flush(), Err(Error::Closed)));
    assert!(other.recent(10)?.is_empty());
    other.close()?;
    Ok(())
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("module 'load' failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn every_callback_is_recorded_with_its_fields() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = AuditLog::open(dir.path().join("audit.redb"), AuditConfig::default())?;
    let (run, module) = (Uuid::new_v4(), Uuid::new_v4());
    let before = execstore::now_millis();
    log.on_execution_start(run, "etl");
    log.on_module_start(run, module, "load");
    log.on_module_complete(run, module, "load", 12);
    log.on_module_failed(run, module, "load", &Outer(std::io::Error::other("disk full")));
    log.on_execution_complete(run, "etl", false, 40);
    log.on_execution_cancelled(run, "etl");
    log.on_execution_start(Uuid::new_v4(), "another run");
    log.flush()?;
    let events = log.events_for(run)?;
    let kinds: Vec<AuditEventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, AuditEventKind::ALL);
    let [started, module_started, completed, failed, finished, cancelled] = events.as_slice()
    else {
        return Err("six events expected".into());
    };
    assert_eq!((started.dag_name.as_deref(), started.module_id), (Some("etl"), None));
    assert_eq!(module_started.module_id, Some(module));
    assert_eq!(module_started.module_name.as_deref(), Some("load"));
    assert_eq!((completed.duration_ms, completed.succeeded), (Some(12), Some(true)));
    assert_eq!(failed.error.as_deref(), Some("module 'load' failed: disk full"));
    assert_eq!(failed.succeeded, Some(false));
    assert_eq!((finished.succeeded, finished.duration_ms), (Some(false), Some(40)));
    assert_eq!(cancelled.dag_name.as_deref(), Some("etl"));
    assert!(events.iter().all(|e| e.execution_id == run && e.timestamp >= before));
    assert_eq!(log.recent(2)?.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 6]);
    Ok(())
}

#[test]
fn json_form_is_constellations_event_shape() -> TestResult {
    let run = Uuid::parse_str("6f1c2b1e-8d1a-4c55-9a55-0b5e7b0f4a11")?;
    let event = AuditEvent {
        seq: 3,
        duration_ms: Some(12),
        succeeded: Some(true),
        module_name: Some("load".to_owned()),
        ..AuditEvent::new(AuditEventKind::ModuleCompleted, run)
    };
    let json = serde_json::to_value(&event)?;
    assert_eq!(json["eventType"], "module.completed");
    assert_eq!(json["executionId"], "6f1c2b1e-8d1a-4c55-9a55-0b5e7b0f4a11");
    assert_eq!(json["moduleName"], "load");
    assert_eq!(json["durationMs"], 12);
    assert_eq!(json["succeeded"], true);
    assert!(json["dagName"].is_null() && json["error"].is_null() && json["moduleId"].is_null());
    assert!(json["timestamp"].is_i64());
    for kind in AuditEventKind::ALL {
        assert_eq!(serde_json::to_value(kind)?, kind.as_str());
    }
    // As the integration guide's Kafka listener publishes it: no seq, no moduleId.
    let published = r#"{"eventType":"execution.completed","executionId":"6f1c2b1e-8d1a-4c55-9a55-0b5e7b0f4a11",
        "dagName":"etl","moduleName":null,"durationMs":40,"succeeded":false,"error":null,"timestamp":1700000000000}"#;
    let decoded: AuditEvent = serde_json::from_str(published)?;
    assert_eq!(decoded.kind, AuditEventKind::ExecutionCompleted);
    assert_eq!((decoded.seq, decoded.module_id, decoded.succeeded), (0, None, Some(false)));
    assert_eq!(serde_json::from_value::<AuditEvent>(serde_json::to_value(&decoded)?)?, decoded);
    Ok(())
}

#[test]
fn audit_log_shares_the_store_file_and_interleaves_with_its_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let run = Uuid::new_v4();
    {
        let storage = RedbStorage::open(&path)?;
        let log = storage.audit_log(small_batches())?;
        let writer = {
            let storage = storage.clone();
            thread::spawn(move || -> execstore::Result<()> {
                for i in 0..300 {
                    storage.store(execution(&format!("r{i}"), i, None))?;
                }
                Ok(())
            })
        };
        for i in 0..20_000 {
            log.on_module_complete(run, Uuid::nil(), "step", i);
        }
        writer.join().map_err(|_| "store thread panicked")??;
        log.close()?;
    }
    let storage = RedbStorage::open(&path)?;
    assert_eq!(storage.verify()?, 300);
    let log = storage.audit_log(AuditConfig::default())?;
    assert_eq!(log.events_for(run)?.len(), 20_000);
    Ok(())
}

#[test]
fn zero_sized_queues_and_batches_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    for config in [
        AuditConfig { queue_capacity: 0, ..AuditConfig::default() },
        AuditConfig { max_batch: 0, ..AuditConfig::default() },
    ] {
        assert!(matches!(AuditLog::open(&path, config), Err(Error::InvalidArgument(_))));
    }
    assert!(matches!(
        AuditLog::open(Path::new("/nonexistent-dir/audit.redb"), AuditConfig::default()),
        Err(Error::Io { .. })
    ));
    Ok(())
}

#[test]
fn audit_log_is_usable_as_a_shared_listener() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = AuditLog::open(dir.path().join("audit.redb"), AuditConfig::default())?;
    let listener: Arc<dyn ExecutionListener> = Arc::new(log.clone());
    let run = Uuid::new_v4();
    listener.on_execution_start(run, "etl");
    log.flush()?;
    assert_eq!(log.events_for(run)?.len(), 1);
    Ok(())
}

/// Which of the guide's `ExecutionEvent` fields its Kafka listener fills for each kind
/// (`dagName`, `moduleName`, `durationMs`, `succeeded`, `error`); the rest are null.
const GUIDE_FIELDS: [(&str, [bool; 5]); 6] = [
    ("execution.started", [true, false, false, false, false]),
    ("module.started", [false, true, false, false, false]),
    ("module.completed", [false, true, true, true, false]),
    ("module.failed", [false, true, false, true, true]),
    ("execution.completed", [true, false, true, true, false]),
    ("execution.cancelled", [true, false, false, false, false]),
];

#[test]
fn every_kind_recorded_has_the_guides_json_fields() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = AuditLog::open(dir.path().join("audit.redb"), AuditConfig::default())?;
    let (run, module) = (Uuid::new_v4(), Uuid::new_v4());
    log.on_execution_start(run, "etl");
    log.on_module_start(run, module, "load");
    log.on_module_complete(run, module, "load", 12);
    log.on_module_failed(run, module, "load", &std::io::Error::other("disk full"));
    log.on_execution_complete(run, "etl", false, 40);
    log.on_execution_cancelled(run, "etl");
    log.flush()?;
    let events = log.events_for(run)?;
    assert_eq!(events.len(), GUIDE_FIELDS.len());
    for (event, (event_type, filled)) in events.iter().zip(GUIDE_FIELDS) {
        let json = serde_json::to_value(event)?;
        let object = json.as_object().ok_or("an event is a JSON object")?;
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let expected = [
            "dagName",
            "durationMs",
            "error",
            "eventType",
            "executionId",
            "moduleId",
            "moduleName",
            "seq",
            "succeeded",
            "timestamp",
        ];
        assert_eq!(keys, expected, "{event_type}");
        assert_eq!(json["eventType"], event_type);
        assert_eq!(json["executionId"], run.to_string());
        assert!(json["timestamp"].is_i64() && json["seq"].is_u64());
        let optional = ["dagName", "moduleName", "durationMs", "succeeded", "error"];
        let present: Vec<bool> = optional.iter().map(|k| !json[k].is_null()).collect();
        assert_eq!(present, filled, "{event_type}: which of {optional:?} are set");
        let module_event = event_type.starts_with("module.");
        assert_eq!(json["moduleId"].is_null(), !module_event, "{event_type}");
        assert_eq!(serde_json::from_value::<AuditEvent>(json)?, *event);
    }
    Ok(())
}

#[test]
fn two_logs_on_one_store_never_overwrite_each_other() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let logs = [storage.audit_log(small_batches())?, storage.audit_log(small_batches())?];
    let runs = [Uuid::new_v4(), Uuid::new_v4()];
    thread::scope(|scope| {
        for (log, &run) in logs.iter().zip(&runs) {
            scope.spawn(move || {
                for i in 0..3_000 {
                    log.on_module_complete(run, Uuid::nil(), "step", i);
                }
            });
        }
    });
    for log in &logs {
        log.flush()?;
    }
    let [first, second] = logs;
    for run in runs {
        let durations: Vec<u64> =
            first.events_for(run)?.iter().filter_map(|e| e.duration_ms).collect();
        assert_eq!(durations, (0..3_000).collect::<Vec<_>>());
    }
    let seqs: Vec<u64> = second.events_after(0, 10_000)?.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6_000).collect::<Vec<_>>());
    first.close()?;
    second.close()?;
    Ok(())
}
