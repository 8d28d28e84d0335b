//! The contract cases, each a function of a backend factory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use execstore::{Error, ExecutionStatus, ExecutionSummary};
use serde_json::json;

use crate::support::{execution, ids, Harness, Limits, TestResult};

type Factory = fn(Limits) -> Harness;

fn backend(make: Factory) -> Harness {
    make(Limits::default())
}

pub fn store_and_get(make: Factory) -> TestResult {
    let h = backend(make);
    let original = execution("e1", 100, Some("a.cst"));
    assert_eq!(h.storage.store(original.clone())?, "e1");
    let found = h.storage.get("e1")?.ok_or("stored record not found")?;
    assert_eq!(*found, original);
    Ok(())
}

pub fn get_missing(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("e1", 100, None))?;
    assert!(h.storage.get("nope")?.is_none());
    Ok(())
}

pub fn empty_id_is_invalid(make: Factory) -> TestResult {
    let h = backend(make);
    assert!(matches!(h.storage.store(execution("", 1, None)), Err(Error::InvalidArgument(_))));
    assert!(matches!(h.storage.get(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(h.storage.delete(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(h.storage.update("", &mut |_| {}), Err(Error::InvalidArgument(_))));
    assert_eq!(h.storage.stats()?.total_executions, 0);
    Ok(())
}

pub fn store_replaces_same_id(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("e1", 100, Some("a.cst")))?;
    let mut replacement = execution("e1", 200, Some("b.cst"));
    replacement.status = ExecutionStatus::Failed;
    h.storage.store(replacement.clone())?;

    assert_eq!(*h.storage.get("e1")?.ok_or("missing")?, replacement);
    let stats = h.storage.stats()?;
    assert_eq!(
        (stats.total_executions, stats.completed_executions, stats.failed_executions),
        (1, 0, 1)
    );
    assert_eq!((stats.oldest_execution_time, stats.newest_execution_time), (Some(200), Some(200)));
    assert_eq!(ids(&h.storage.list(10, 0)?), ["e1"]);
    assert!(h.storage.list_by_script("a.cst", 10)?.is_empty());
    assert_eq!(ids(&h.storage.list_by_script("b.cst", 10)?), ["e1"]);
    Ok(())
}

pub fn list_newest_first_ties_by_id_descending(make: Factory) -> TestResult {
    let h = backend(make);
    for (id, start) in [("b", 10), ("a", 30), ("c", 20), ("d", 30), ("e", 5)] {
        h.storage.store(execution(id, start, None))?;
    }
    assert_eq!(ids(&h.storage.list(10, 0)?), ["d", "a", "c", "b", "e"]);
    Ok(())
}

pub fn list_paginates(make: Factory) -> TestResult {
    let h = backend(make);
    for i in 0..25 {
        h.storage.store(execution(&format!("e{i:02}"), i, None))?;
    }
    let first = h.storage.list(10, 0)?;
    let second = h.storage.list(10, 10)?;
    let last = h.storage.list(10, 20)?;
    assert_eq!(ids(&first).first(), Some(&"e24"));
    assert_eq!(ids(&second), (5..15).rev().map(|i| format!("e{i:02}")).collect::<Vec<_>>());
    assert_eq!(last.len(), 5);
    assert!(h.storage.list(10, 25)?.is_empty());
    Ok(())
}

pub fn list_bad_arguments(make: Factory) -> TestResult {
    let h = backend(make);
    for i in 0..3 {
        h.storage.store(execution(&format!("e{i}"), i, Some("s")))?;
    }
    assert!(h.storage.list(0, 0)?.is_empty());
    assert_eq!(h.storage.list(usize::MAX, 0)?.len(), 3);
    assert!(h.storage.list(usize::MAX, usize::MAX)?.is_empty());
    assert_eq!(h.storage.list(1, 2)?.len(), 1);
    assert!(h.storage.list_by_script("s", 0)?.is_empty());
    assert_eq!(h.storage.list_by_script("s", usize::MAX)?.len(), 3);
    assert!(h.storage.list_by_script("", 10)?.is_empty());
    Ok(())
}

pub fn list_by_script_exact_match(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("a1", 1, Some("a.cst")))?;
    h.storage.store(execution("a2", 3, Some("a.cst")))?;
    h.storage.store(execution("a3", 2, Some("a.cst")))?;
    h.storage.store(execution("long", 4, Some("a.cst2")))?;
    h.storage.store(execution("short", 5, Some("a.cs")))?;
    h.storage.store(execution("none", 6, None))?;

    assert_eq!(ids(&h.storage.list_by_script("a.cst", 10)?), ["a2", "a3", "a1"]);
    assert_eq!(ids(&h.storage.list_by_script("a.cst", 2)?), ["a2", "a3"]);
    assert_eq!(ids(&h.storage.list_by_script("a.cst2", 10)?), ["long"]);
    assert!(h.storage.list_by_script("A.CST", 10)?.is_empty());
    Ok(())
}

pub fn stats_empty(make: Factory) -> TestResult {
    let h = backend(make);
    let stats = h.storage.stats()?;
    assert_eq!(stats.total_executions, 0);
    assert_eq!(
        (stats.running_executions, stats.completed_executions, stats.failed_executions),
        (0, 0, 0)
    );
    assert_eq!((stats.oldest_execution_time, stats.newest_execution_time), (None, None));
    assert_eq!(stats.max_capacity, Some(1000));
    Ok(())
}

pub fn stats_counts(make: Factory) -> TestResult {
    let h = backend(make);
    let statuses = [ExecutionStatus::Running, ExecutionStatus::Completed, ExecutionStatus::Failed];
    for i in 0..9_i64 {
        let mut e = execution(&format!("e{i}"), 50 - i, None);
        e.status = statuses[(i % 3) as usize];
        if i == 4 {
            e.status = ExecutionStatus::Failed;
        }
        h.storage.store(e)?;
    }
    let stats = h.storage.stats()?;
    assert_eq!(stats.total_executions, 9);
    assert_eq!(
        (stats.running_executions, stats.completed_executions, stats.failed_executions),
        (3, 2, 4)
    );
    assert_eq!((stats.oldest_execution_time, stats.newest_execution_time), (Some(42), Some(50)));
    Ok(())
}

pub fn update_applies_and_returns(make: Factory) -> TestResult {
    let h = backend(make);
    let mut running = execution("e1", 100, Some("a.cst"));
    running.status = ExecutionStatus::Running;
    running.end_time = None;
    h.storage.store(running)?;

    let updated = h.storage.update("e1", &mut |e| {
        e.status = ExecutionStatus::Completed;
        e.end_time = Some(150);
        e.outputs = Some(BTreeMap::from([("x".to_owned(), json!(42))]));
    })?;
    let updated = updated.ok_or("update of an existing record returned None")?;
    assert_eq!(updated.status, ExecutionStatus::Completed);
    assert_eq!(updated.duration_ms(), Some(50));
    assert_eq!(*h.storage.get("e1")?.ok_or("missing")?, *updated);
    let stats = h.storage.stats()?;
    assert_eq!((stats.running_executions, stats.completed_executions), (0, 1));
    assert_eq!(h.storage.list(1, 0)?[0].output_preview.as_deref(), Some("x: 42"));
    Ok(())
}

pub fn update_missing(make: Factory) -> TestResult {
    let h = backend(make);
    let calls = AtomicUsize::new(0);
    let result = h.storage.update("nope", &mut |_| {
        calls.fetch_add(1, Ordering::SeqCst);
    })?;
    assert!(result.is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.storage.stats()?.total_executions, 0);
    Ok(())
}

pub fn update_runs_closure_once(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("e1", 1, None))?;
    let mut calls = 0;
    h.storage.update("e1", &mut |e| {
        calls += 1;
        e.dag_name.push('!');
    })?;
    assert_eq!(calls, 1);
    assert_eq!(h.storage.get("e1")?.ok_or("missing")?.dag_name, "dag-1!");
    Ok(())
}

pub fn update_refuses_id_change(make: Factory) -> TestResult {
    let h = backend(make);
    let original = execution("e1", 1, Some("s"));
    h.storage.store(original.clone())?;
    let result = h.storage.update("e1", &mut |e| {
        e.execution_id = "e2".to_owned();
        e.status = ExecutionStatus::Failed;
    });
    match result {
        Err(Error::IdChanged { original, changed }) => {
            assert_eq!((original.as_str(), changed.as_str()), ("e1", "e2"))
        }
        other => return Err(format!("expected IdChanged, got {other:?}").into()),
    }
    assert_eq!(*h.storage.get("e1")?.ok_or("missing")?, original);
    assert!(h.storage.get("e2")?.is_none());
    assert_eq!(h.storage.stats()?.failed_executions, 0);
    assert_eq!(ids(&h.storage.list(10, 0)?), ["e1"]);
    Ok(())
}

pub fn update_moves_indexes(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("e1", 10, Some("a")))?;
    h.storage.store(execution("e2", 20, Some("a")))?;
    h.storage.update("e1", &mut |e| {
        e.start_time = 30;
        e.script_path = Some("b".to_owned());
        e.status = ExecutionStatus::Failed;
    })?;
    assert_eq!(ids(&h.storage.list(10, 0)?), ["e1", "e2"]);
    assert_eq!(ids(&h.storage.list_by_script("a", 10)?), ["e2"]);
    assert_eq!(ids(&h.storage.list_by_script("b", 10)?), ["e1"]);
    let stats = h.storage.stats()?;
    assert_eq!((stats.completed_executions, stats.failed_executions), (1, 1));
    assert_eq!((stats.oldest_execution_time, stats.newest_execution_time), (Some(20), Some(30)));

    h.storage.update("e1", &mut |e| e.script_path = None)?;
    assert!(h.storage.list_by_script("b", 10)?.is_empty());
    Ok(())
}

pub fn delete_existing_and_missing(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("e1", 1, Some("s")))?;
    h.storage.store(execution("e2", 2, Some("s")))?;
    assert!(h.storage.delete("e1")?);
    assert!(!h.storage.delete("e1")?);
    assert!(!h.storage.delete("never")?);
    assert!(h.storage.get("e1")?.is_none());
    assert_eq!(ids(&h.storage.list(10, 0)?), ["e2"]);
    assert_eq!(ids(&h.storage.list_by_script("s", 10)?), ["e2"]);
    let stats = h.storage.stats()?;
    assert_eq!((stats.total_executions, stats.oldest_execution_time), (1, Some(2)));
    Ok(())
}

pub fn clear_removes_everything(make: Factory) -> TestResult {
    let h = backend(make);
    for i in 0..5 {
        h.storage.store(execution(&format!("e{i}"), i, Some("s")))?;
    }
    h.storage.clear()?;
    assert!(h.storage.get("e1")?.is_none());
    assert!(h.storage.list(10, 0)?.is_empty());
    assert!(h.storage.list_by_script("s", 10)?.is_empty());
    assert_eq!(h.storage.stats()?.total_executions, 0);
    h.storage.store(execution("after", 1, None))?;
    assert_eq!(h.storage.stats()?.total_executions, 1);
    Ok(())
}

pub fn capacity_evicts_oldest_start_time(make: Factory) -> TestResult {
    let h = make(Limits { max_executions: 3, ..Limits::default() });
    for (id, start) in [("c", 30), ("a", 10), ("d", 40), ("b", 20)] {
        h.storage.store(execution(id, start, Some("s")))?;
    }
    assert_eq!(ids(&h.storage.list(10, 0)?), ["d", "c", "b"]);
    assert!(h.storage.get("a")?.is_none());
    h.storage.store(execution("e", 5, Some("s")))?;
    assert!(h.storage.get("e")?.is_none(), "a record older than all kept ones is evicted at once");
    assert_eq!(ids(&h.storage.list_by_script("s", 10)?), ["d", "c", "b"]);
    let stats = h.storage.stats()?;
    assert_eq!((stats.total_executions, stats.max_capacity), (3, Some(3)));
    assert_eq!(stats.oldest_execution_time, Some(20));
    Ok(())
}

pub fn store_many_stores_all(make: Factory) -> TestResult {
    let h = backend(make);
    let batch: Vec<_> = (0..50).map(|i| execution(&format!("e{i:02}"), i, Some("s"))).collect();
    let expected: Vec<_> = batch.iter().map(|e| e.execution_id.clone()).collect();
    assert_eq!(h.storage.store_many(batch)?, expected);
    assert_eq!(h.storage.stats()?.total_executions, 50);
    assert_eq!(h.storage.list_by_script("s", 100)?.len(), 50);
    assert!(h.storage.store_many(Vec::new())?.is_empty());
    Ok(())
}

pub fn store_many_is_atomic(make: Factory) -> TestResult {
    let h = backend(make);
    let batch = vec![execution("ok1", 1, None), execution("", 2, None), execution("ok2", 3, None)];
    assert!(matches!(h.storage.store_many(batch), Err(Error::InvalidArgument(_))));
    assert_eq!(h.storage.stats()?.total_executions, 0);
    assert!(h.storage.get("ok1")?.is_none());
    Ok(())
}

pub fn truncates_large_values(make: Factory) -> TestResult {
    let h = make(Limits { max_value_size_bytes: 20, ..Limits::default() });
    let mut e = execution("e1", 1, None);
    let exact = json!("x".repeat(18)); // 20 bytes with its quotes: kept
    let large = json!("y".repeat(30)); // 32 bytes: truncated
    e.inputs.insert("exact".to_owned(), exact.clone());
    e.inputs.insert("large".to_owned(), large);
    e.outputs = Some(BTreeMap::from([("out".to_owned(), json!({"k": "z".repeat(40)}))]));
    e.node_results.get_mut("n1").ok_or("no n1")?.value = Some(json!(vec![0; 20]));
    h.storage.store(e)?;

    let stored = h.storage.get("e1")?.ok_or("missing")?;
    assert_eq!(stored.inputs["exact"], exact);
    assert_eq!(stored.inputs["a"], json!(1));
    assert_eq!(stored.inputs["large"], json!("<truncated: 32 bytes>"));
    assert_eq!(stored.outputs.as_ref().ok_or("no outputs")?["out"], json!("<truncated: 48 bytes>"));
    assert_eq!(stored.node_results["n1"].value, Some(json!("<truncated: 41 bytes>")));
    Ok(())
}

pub fn summaries_carry_preview_and_node_count(make: Factory) -> TestResult {
    let h = backend(make);
    let mut e = execution("e1", 7, Some("s"));
    e.outputs =
        Some(BTreeMap::from([("b".to_owned(), json!(1)), ("a".to_owned(), json!("q".repeat(60)))]));
    h.storage.store(e.clone())?;
    let page = h.storage.list(1, 0)?;
    let expected = ExecutionSummary::from(&e);
    assert_eq!(page, std::slice::from_ref(&expected));
    assert_eq!(expected.node_count, 2);
    assert_eq!(expected.output_preview, Some(format!("a: \"{}...", "q".repeat(49))));
    assert_eq!(h.storage.list_by_script("s", 1)?, [expected]);
    Ok(())
}

pub fn concurrent_updates_lose_nothing(make: Factory) -> TestResult {
    let h = backend(make);
    h.storage.store(execution("counter", 1, None))?;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let storage = h.storage.clone();
            thread::spawn(move || -> Result<(), Error> {
                for _ in 0..25 {
                    storage.update("counter", &mut |e| {
                        let n = e.inputs.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
                        e.inputs.insert("n".to_owned(), json!(n + 1));
                    })?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "updater panicked")??;
    }
    assert_eq!(h.storage.get("counter")?.ok_or("missing")?.inputs["n"], json!(100));
    Ok(())
}

pub fn model_based_operations(make: Factory) -> TestResult {
    crate::model_based::run(make)
}
