//! Tail sampling: every failed or running run is kept, a deterministic fraction of
//! completed ones, decided at completion, the same on every backend and after reopening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;

use execstore::{
    Config, Error, ExecutionStatus, ExecutionStorage, HistoryQuery, MemoryStorage, RedbStorage,
    TailSampling,
};
use proptest::prelude::*;
use support::{execution, TestResult};

fn memory(sampling: TailSampling) -> MemoryStorage {
    let config = Config { max_executions: 100_000, ..Config::default() };
    MemoryStorage::new(config).with_tail_sampling(sampling)
}

fn redb(path: &std::path::Path, sampling: TailSampling) -> RedbStorage {
    RedbStorage::builder().tail_sampling(Some(sampling)).open(path).unwrap()
}

fn id(i: u32) -> String {
    format!("run-{i:05}")
}

/// Stores 600 runs as running, then completes, fails or leaves each; returns the kept ids.
fn run_600(storage: &dyn ExecutionStorage) -> Result<BTreeSet<String>, Error> {
    for i in 0..600 {
        let mut record = execution(&id(i), i64::from(i), Some("etl.cst"));
        record.status = ExecutionStatus::Running;
        storage.store(record)?;
    }
    for i in 0..600 {
        let status = match i % 3 {
            0 => ExecutionStatus::Failed,
            1 => ExecutionStatus::Running,
            _ => ExecutionStatus::Completed,
        };
        let updated = storage.update(&id(i), &mut |r| r.status = status)?;
        assert_eq!(updated.map(|r| r.status), Some(status), "update returns what it wrote");
    }
    let mut kept = BTreeSet::new();
    for i in 0..600 {
        if storage.get(&id(i))?.is_some() {
            kept.insert(id(i));
        }
    }
    Ok(kept)
}

#[test]
fn failures_are_all_kept_and_a_fraction_of_completions_the_same_on_every_backend() -> TestResult {
    let sampling = TailSampling::keep_completed(0.25)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let in_memory = run_600(&memory(sampling))?;
    let on_disk = run_600(&redb(&path, sampling))?;
    assert_eq!(in_memory, on_disk);
    let completed: Vec<u32> = (0..600).filter(|i| i % 3 == 2).collect();
    for i in (0..600).filter(|i| i % 3 != 2) {
        assert!(on_disk.contains(&id(i)), "run {i} did not complete and is kept");
    }
    let kept: Vec<u32> = completed.iter().copied().filter(|&i| on_disk.contains(&id(i))).collect();
    assert!((20..=80).contains(&kept.len()), "about a quarter of 200 kept: {}", kept.len());
    for &i in &completed {
        assert_eq!(on_disk.contains(&id(i)), sampling.keeps(&id(i)));
    }

    let storage = redb(&path, sampling);
    let sample_rate = storage.get(&id(*kept.first().ok_or("one kept")?))?.map(|r| r.sample_rate);
    assert_eq!(sample_rate, Some(0.25), "a kept completion is weighted by the fraction");
    let stats = storage.stats()?;
    assert_eq!(stats.completed_executions, kept.len() as u64);
    assert_eq!(stats.total_executions, 400 + kept.len() as u64);
    let completed_query = HistoryQuery::new().status(ExecutionStatus::Completed).limit(1000);
    assert_eq!(storage.query(&completed_query)?.items.len(), kept.len());
    assert_eq!(storage.count(&completed_query)?, kept.len() as u64);
    assert_eq!(storage.list_by_script("etl.cst", 1000)?.len(), 400 + kept.len());
    assert_eq!(storage.verify()?, 400 + kept.len() as u64);
    Ok(())
}

#[test]
fn an_update_of_a_completed_run_does_not_weigh_it_twice() -> TestResult {
    let sampling = TailSampling::keep_completed(0.5)?;
    let dir = tempfile::tempdir()?;
    let storage = redb(&dir.path().join("history.redb"), sampling);
    let kept = (0..).map(id).find(|i| sampling.keeps(i)).ok_or("some id is kept")?;
    let mut record = execution(&kept, 1, None);
    record.status = ExecutionStatus::Running;
    storage.store(record)?;
    storage.update(&kept, &mut |r| r.status = ExecutionStatus::Completed)?;
    let again = storage.update(&kept, &mut |r| r.end_time = Some(99))?;
    assert_eq!(again.map(|r| r.sample_rate), Some(0.5));
    Ok(())
}

#[test]
fn storing_a_completed_run_samples_it_and_drops_an_earlier_version() -> TestResult {
    let sampling = TailSampling::keep_completed(0.5)?;
    let dropped = (0..).map(id).find(|i| !sampling.keeps(i)).ok_or("some id is dropped")?;
    let dir = tempfile::tempdir()?;
    let storage = redb(&dir.path().join("history.redb"), sampling);
    let mut running = execution(&dropped, 1, None);
    running.status = ExecutionStatus::Running;
    storage.store(running.clone())?;
    running.status = ExecutionStatus::Completed;
    assert_eq!(storage.store_many(vec![running])?, std::slice::from_ref(&dropped));
    assert!(storage.get(&dropped)?.is_none());
    assert_eq!(storage.stats()?.total_executions, 0);
    Ok(())
}

#[test]
fn the_whole_range_and_bad_fractions() -> TestResult {
    for fraction in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(TailSampling::keep_completed(fraction), Err(Error::InvalidArgument(_))));
    }
    let all = TailSampling::keep_completed(1.0)?;
    let none = TailSampling::keep_completed(0.0)?;
    for i in 0..500 {
        assert!(all.keeps(&id(i)) && !none.keeps(&id(i)));
    }
    let kept = run_600(&memory(all))?;
    assert_eq!(kept.len(), 600);
    let kept = run_600(&memory(none))?;
    assert_eq!(kept.len(), 400);
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Store(u8, ExecutionStatus),
    SetStatus(u8, ExecutionStatus),
    Delete(u8),
}

fn status() -> impl Strategy<Value = ExecutionStatus> {
    prop::sample::select(ExecutionStatus::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..24u8, status()).prop_map(|(i, s)| Op::Store(i, s)),
        4 => (0..24u8, status()).prop_map(|(i, s)| Op::SetStatus(i, s)),
        1 => (0..24u8).prop_map(Op::Delete),
    ]
}

fn apply(storage: &dyn ExecutionStorage, op: &Op) -> Option<(ExecutionStatus, u64)> {
    let result = match op {
        Op::Store(i, status) => {
            let mut record = execution(&id(u32::from(*i)), i64::from(*i), None);
            record.status = *status;
            storage.store(record).map(|_| None)
        }
        Op::SetStatus(i, status) => storage
            .update(&id(u32::from(*i)), &mut |r| r.status = *status)
            .map(|r| r.map(|r| (r.status, r.sample_rate.to_bits()))),
        Op::Delete(i) => storage.delete(&id(u32::from(*i))).map(|_| None),
    };
    result.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn both_backends_agree_on_every_sequence(ops in prop::collection::vec(op(), 1..60), fraction in 0.0..=1.0f64) {
        let sampling = TailSampling::keep_completed(fraction).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let on_disk = redb(&dir.path().join("history.redb"), sampling);
        let in_memory = memory(sampling);
        for op in &ops {
            prop_assert_eq!(apply(&on_disk, op), apply(&in_memory, op));
        }
        for i in 0..24 {
            let (a, b) = (on_disk.get(&id(i)).unwrap(), in_memory.get(&id(i)).unwrap());
            prop_assert_eq!(a.as_deref(), b.as_deref());
            let dropped = a.as_ref().is_some_and(|r| r.status == ExecutionStatus::Completed && !sampling.keeps(&r.execution_id));
            prop_assert!(!dropped, "a dropped completion is stored");
        }
        let memory_stats = execstore::StorageStats { max_capacity: None, ..in_memory.stats().unwrap() };
        prop_assert_eq!(on_disk.stats().unwrap(), memory_stats);
        on_disk.verify().unwrap();
    }
}
