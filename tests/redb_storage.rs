//! `RedbStorage` beyond the shared contract: persistence, visualizations, retention,
//! maintenance, concurrency and cache coherence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use execstore::{
    now_millis, Durability, ExecutionStatus, ExecutionStorage, RedbStorage, StoredExecution,
};
use serde_json::json;
use support::{execution, ids, temp_file, viz, TestResult};

#[test]
fn reopen_keeps_records_indexes_and_stats() -> TestResult {
    let (_dir, path) = temp_file()?;
    let mut with_viz = execution("b", 20, Some("s.cst"));
    with_viz.dag_viz_ir = Some(viz());
    let mut failed = execution("c", 30, Some("s.cst"));
    failed.status = ExecutionStatus::Failed;
    {
        let storage = RedbStorage::open(&path)?;
        storage.store_many(vec![execution("a", 10, None), with_viz.clone(), failed])?;
    }
    let storage = RedbStorage::open(&path)?;
    assert_eq!(storage.get("b")?.as_deref(), Some(&with_viz));
    assert_eq!(ids(&storage.list(10, 0)?), ["c", "b", "a"]);
    assert_eq!(ids(&storage.list_by_script("s.cst", 10)?), ["c", "b"]);
    let stats = storage.stats()?;
    assert_eq!(
        (stats.total_executions, stats.completed_executions, stats.failed_executions),
        (3, 2, 1)
    );
    assert_eq!((stats.oldest_execution_time, stats.newest_execution_time), (Some(10), Some(30)));
    assert_eq!(stats.max_capacity, None);
    assert_eq!(storage.verify()?, 3);
    Ok(())
}

#[test]
fn visualization_survives_update_and_replacement_without_cache() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::builder().cache_capacity(0).open(&path)?;
    let mut record = execution("v", 1, None);
    record.dag_viz_ir = Some(viz());
    storage.store(record)?;
    let updated = storage.update("v", &mut |e| e.status = ExecutionStatus::Failed)?;
    assert_eq!(updated.and_then(|e| e.dag_viz_ir.clone()), Some(viz()));
    assert_eq!(storage.get("v")?.and_then(|e| e.dag_viz_ir.clone()), Some(viz()));
    storage.store(execution("v", 1, None))?;
    assert_eq!(storage.get("v")?.and_then(|e| e.dag_viz_ir.clone()), None);
    storage.verify()?;
    Ok(())
}

#[test]
fn extreme_values_round_trip_through_disk() -> TestResult {
    let (_dir, path) = temp_file()?;
    let mut record = execution("x", i64::MIN, Some("ünïcödé/路径.cst"));
    record.end_time = Some(i64::MAX);
    record.inputs.insert("u64max".into(), json!(u64::MAX));
    record.inputs.insert("i64min".into(), json!(i64::MIN));
    record.inputs.insert("float".into(), json!(1.7976931348623157e308));
    record.inputs.insert("tiny".into(), json!(5e-324));
    record.inputs.insert("text".into(), json!("emoji 🦀, nul \u{0}, rtl \u{202e}"));
    record.inputs.insert("empties".into(), json!({"a": [], "o": {}, "s": "", "n": null}));
    record.inputs.insert("nested".into(), json!([[[[{"deep": [1, [2, [3]]]}]]]]));
    record.sample_rate = 0.123_456_789_012_345_68;
    {
        RedbStorage::open(&path)?.store(record.clone())?;
    }
    let storage = RedbStorage::open(&path)?;
    assert_eq!(storage.get("x")?.as_deref(), Some(&record));
    assert_eq!(ids(&storage.list_by_script("ünïcödé/路径.cst", 5)?), ["x"]);
    Ok(())
}

#[test]
fn script_ranges_do_not_leak_into_neighbours() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::open(&path)?;
    storage.store_many(vec![
        execution("1", 5, Some("a")),
        execution("2", i64::MAX - 5, Some("a")),
        execution("3", i64::MIN, Some("a")),
        execution("4", 5, Some("a\u{0}")),
        execution("5", 5, Some("ab")),
        execution("6", 5, Some("")),
    ])?;
    assert_eq!(ids(&storage.list_by_script("a", 10)?), ["2", "1", "3"]);
    assert_eq!(ids(&storage.list_by_script("a\u{0}", 10)?), ["4"]);
    assert_eq!(ids(&storage.list_by_script("", 10)?), ["6"]);
    assert!(storage.list_by_script("b", 10)?.is_empty());
    Ok(())
}

#[test]
fn lowering_max_executions_prunes_at_open_in_batches() -> TestResult {
    let (_dir, path) = temp_file()?;
    {
        let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
        let records = (0..5_000).map(|i| execution(&format!("r{i:05}"), i, None)).collect();
        storage.store_many(records)?;
        storage.sync()?;
    }
    let storage = RedbStorage::builder().max_executions(Some(10)).open(&path)?;
    let stats = storage.stats()?;
    assert_eq!((stats.total_executions, stats.max_capacity), (10, Some(10)));
    assert_eq!(stats.oldest_execution_time, Some(4_990));
    assert_eq!(storage.verify()?, 10);
    Ok(())
}

#[test]
fn max_age_removes_old_records_on_write_and_prune() -> TestResult {
    let (_dir, path) = temp_file()?;
    let now = now_millis();
    let hour = 3_600_000;
    {
        let storage = RedbStorage::open(&path)?;
        storage.store_many(vec![
            execution("old", now - 3 * hour, None),
            execution("older", now - 5 * hour, None),
            execution("new", now, None),
        ])?;
    }
    let storage =
        RedbStorage::builder().max_age(Some(Duration::from_secs(4 * 3_600))).open(&path)?;
    assert_eq!(ids(&storage.list(10, 0)?), ["new", "old"]);
    assert_eq!(storage.count_older_than(Duration::from_secs(2 * 3_600))?, 1);
    assert_eq!(storage.prune_older_than(Duration::from_secs(2 * 3_600))?, 1);
    storage.store(execution("ancient", now - 10 * hour, None))?;
    assert_eq!(ids(&storage.list(10, 0)?), ["new"]);
    assert!(storage.get("old")?.is_none());
    storage.verify()?;
    Ok(())
}

#[test]
fn keep_newest_removes_the_rest_and_reports_how_many() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::open(&path)?;
    storage.store_many((0..30).map(|i| execution(&format!("r{i:02}"), i, None)).collect())?;
    storage.get("r00")?.ok_or("cached")?;
    assert_eq!(storage.keep_newest(5)?, 25);
    assert_eq!(storage.keep_newest(5)?, 0);
    assert_eq!(ids(&storage.list(10, 0)?), ["r29", "r28", "r27", "r26", "r25"]);
    assert!(storage.get("r00")?.is_none(), "a pruned record must leave the cache");
    Ok(())
}

#[test]
fn eventual_durability_then_sync_persists() -> TestResult {
    let (_dir, path) = temp_file()?;
    {
        let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
        storage.store(execution("e", 1, None))?;
        storage.update("e", &mut |e| e.status = ExecutionStatus::Failed)?;
        storage.sync()?;
    }
    let storage = RedbStorage::open(&path)?;
    assert_eq!(storage.get("e")?.map(|e| e.status), Some(ExecutionStatus::Failed));
    Ok(())
}

#[test]
fn compact_file_reclaims_space_after_deletes() -> TestResult {
    let (_dir, path) = temp_file()?;
    {
        let storage = RedbStorage::open(&path)?;
        let mut big = execution("big", 0, None);
        big.inputs.insert("blob".into(), json!("x".repeat(9_000)));
        let records = (0..400).map(|i| renamed(&big, &format!("r{i}"), i)).collect::<Vec<_>>();
        storage.store_many(records)?;
        storage.keep_newest(1)?;
    }
    let before = std::fs::metadata(&path)?.len();
    assert!(RedbStorage::compact_file(&path)?);
    let after = std::fs::metadata(&path)?.len();
    assert!(after < before / 2, "compaction left {after} of {before} bytes");
    assert_eq!(RedbStorage::open(&path)?.verify()?, 1);
    Ok(())
}

fn renamed(base: &StoredExecution, id: &str, start: i64) -> StoredExecution {
    StoredExecution { execution_id: id.to_owned(), start_time: start, ..base.clone() }
}

#[test]
fn eight_updaters_lose_nothing_while_others_store_and_list() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
    storage.store(execution("counter", 0, None))?;
    let updaters = (0..8).map(|_| {
        let storage = storage.clone();
        thread::spawn(move || -> execstore::Result<()> {
            for _ in 0..150 {
                storage.update("counter", &mut |e| {
                    let n = e.inputs.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
                    e.inputs.insert("n".to_owned(), json!(n + 1));
                })?;
            }
            Ok(())
        })
    });
    let updaters: Vec<_> = updaters.collect();
    let others: Vec<_> = (0..2)
        .map(|t| {
            let storage = storage.clone();
            thread::spawn(move || -> execstore::Result<()> {
                for i in 0..200 {
                    storage.store(execution(&format!("t{t}-{i}"), i64::from(i) + 1, None))?;
                    let page = storage.list(20, 0)?;
                    assert!(page.windows(2).all(|w| w[0].start_time >= w[1].start_time));
                }
                Ok(())
            })
        })
        .collect();
    for handle in updaters.into_iter().chain(others) {
        handle.join().map_err(|_| "a worker panicked")??;
    }
    let counter = storage.get("counter")?.ok_or("counter missing")?;
    assert_eq!(counter.inputs.get("n"), Some(&json!(1_200)));
    assert_eq!(storage.stats()?.total_executions, 401);
    assert_eq!(storage.verify()?, 401);
    Ok(())
}

/// Writers publish the version they wrote after each write returns; readers that saw a
/// published version must never read an older one, through a cache of two entries.
#[test]
fn tiny_cache_never_serves_a_stale_record_after_a_write_returned() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage =
        RedbStorage::builder().cache_capacity(2).durability(Durability::Eventual).open(&path)?;
    let keys = ["k0", "k1", "k2", "k3"];
    for key in keys {
        storage.store(execution(key, 0, None))?;
    }
    let published: Arc<Vec<AtomicU64>> = Arc::new(keys.iter().map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (storage, published) = (storage.clone(), Arc::clone(&published));
            thread::spawn(move || -> execstore::Result<()> {
                for version in 1..=150u64 {
                    let slot = (w * 2 + (version as usize % 2)) % 4;
                    let key = format!("k{slot}");
                    if version % 3 == 0 {
                        let mut record = execution(&key, 0, None);
                        record.inputs.insert("v".into(), json!(version));
                        storage.store(record)?;
                    } else {
                        storage.update(&key, &mut |e| {
                            e.inputs.insert("v".into(), json!(version));
                        })?;
                    }
                    published[slot].fetch_max(version, Ordering::SeqCst);
                }
                Ok(())
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (storage, published) = (storage.clone(), Arc::clone(&published));
            thread::spawn(move || -> execstore::Result<()> {
                for round in 0..2_000 {
                    let slot = round % 4;
                    let floor = published[slot].load(Ordering::SeqCst);
                    let record = storage.get(&format!("k{slot}"))?;
                    let seen = record.and_then(|r| r.inputs.get("v").and_then(|v| v.as_u64()));
                    assert!(seen.unwrap_or(0) >= floor, "k{slot}: read {seen:?} after {floor}");
                }
                Ok(())
            })
        })
        .collect();
    for handle in writers.into_iter().chain(readers) {
        handle.join().map_err(|_| "a worker panicked (stale read?)")??;
    }
    Ok(())
}

/// `update` starts from the cached record when there is one: readers filling a cache of two
/// entries for four counters must never hand an updater an old version to increment.
#[test]
fn updates_through_a_churning_cache_lose_no_increment() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage =
        RedbStorage::builder().cache_capacity(2).durability(Durability::Eventual).open(&path)?;
    let keys = ["c0", "c1", "c2", "c3"];
    for key in keys {
        storage.store(execution(key, 0, None))?;
    }
    let increment = |e: &mut execstore::StoredExecution| {
        let n = e.inputs.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
        e.inputs.insert("n".to_owned(), json!(n + 1));
    };
    let updaters: Vec<_> = (0..3)
        .map(|u| {
            let storage = storage.clone();
            thread::spawn(move || -> execstore::Result<()> {
                for i in 0..200 {
                    storage.update(keys[(u + i) % 4], &mut |e| increment(e))?;
                }
                Ok(())
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let storage = storage.clone();
            thread::spawn(move || -> execstore::Result<()> {
                for i in 0..3_000 {
                    storage.get(keys[(r + i * 3) % 4])?;
                }
                Ok(())
            })
        })
        .collect();
    for handle in updaters.into_iter().chain(readers) {
        handle.join().map_err(|_| "a worker panicked")??;
    }
    for key in keys {
        let record = storage.get(key)?.ok_or("counter missing")?;
        assert_eq!(record.inputs.get("n"), Some(&json!(150)), "{key}");
    }
    Ok(())
}

#[test]
fn records_after_pages_through_everything_in_id_order() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::open(&path)?;
    let mut with_viz = execution("b", 3, None);
    with_viz.dag_viz_ir = Some(viz());
    storage.store_many(vec![execution("c", 1, None), with_viz.clone(), execution("a", 2, None)])?;
    let first = storage.records_after(None, 2)?;
    assert_eq!(first.iter().map(|r| r.execution_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(first.get(1), Some(&with_viz));
    let rest = storage.records_after(Some("b"), 2)?;
    assert_eq!(rest.iter().map(|r| r.execution_id.as_str()).collect::<Vec<_>>(), ["c"]);
    assert!(storage.records_after(Some("c"), 2)?.is_empty());
    Ok(())
}

/// Deep pages skip whole minutes through the per-minute counts; every page must still be
/// exactly the matching slice of the full newest-first order, across minute boundaries,
/// negative start times, ties, updates that move records and deletes.
#[test]
fn deep_offsets_match_the_full_order() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
    let start = |i: i64| (i * 7_919) % 600_000 - 120_000 + (i % 3) * 60_000;
    let records = (0..1_500).map(|i| execution(&format!("r{i:04}"), start(i), None)).collect();
    storage.store_many(records)?;
    for i in (0..1_500).step_by(7) {
        storage.update(&format!("r{i:04}"), &mut |e| e.start_time = -e.start_time)?;
    }
    for i in (0..1_500).step_by(11) {
        storage.delete(&format!("r{i:04}"))?;
    }
    let all = storage.list(usize::MAX, 0)?;
    assert!(all
        .windows(2)
        .all(|w| (w[0].start_time, &w[0].execution_id) > (w[1].start_time, &w[1].execution_id)));
    for offset in [
        0,
        1,
        59,
        60,
        61,
        100,
        499,
        500,
        777,
        1_000,
        1_300,
        all.len() - 1,
        all.len(),
        all.len() + 5,
    ] {
        let page = storage.list(25, offset)?;
        let expected: Vec<_> = all.iter().skip(offset).take(25).cloned().collect();
        assert_eq!(page, expected, "offset {offset}");
    }
    storage.verify()?;
    Ok(())
}

#[test]
fn the_journal_lives_while_the_store_is_open_and_goes_with_a_clean_close() -> TestResult {
    let (_dir, path) = temp_file()?;
    let journal = path.with_file_name("history.redb-journal");
    let storage = RedbStorage::open(&path)?;
    storage.store(execution("kept", 1, None))?;
    assert!(journal.exists());
    let clone = storage.clone();
    drop(storage);
    assert!(journal.exists(), "a clone still has the store open");
    drop(clone);
    assert!(!journal.exists());
    assert!(RedbStorage::open(&path)?.get("kept")?.is_some());
    Ok(())
}
