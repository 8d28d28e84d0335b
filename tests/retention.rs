//! `RetentionPolicy` on `RedbStorage`: each rule on a simulated clock, bounded batches,
//! the size limit, the background thread, and reopening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use execstore::{
    now_millis, Durability, ExecutionStatus, ExecutionStorage, RedbStorage, RetentionPolicy,
    StoredExecution, PRUNE_BATCH,
};
use serde_json::json;
use support::{execution, ids, temp_file, TestResult};

const DAY: i64 = 86_400_000;

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn with_status(mut e: StoredExecution, status: ExecutionStatus) -> StoredExecution {
    e.status = status;
    e
}

fn all_ids(storage: &RedbStorage) -> Result<BTreeSet<String>, execstore::Error> {
    let page = storage.list(usize::MAX, 0)?;
    Ok(page.into_iter().map(|s| s.execution_id).collect())
}

#[test]
fn age_per_status_on_a_simulated_clock() -> TestResult {
    let (_dir, path) = temp_file()?;
    let policy = RetentionPolicy::new()
        .max_age(ExecutionStatus::Completed, days(7))
        .max_age(ExecutionStatus::Failed, days(90));
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    // Start times from now on, one per day: nothing is past its age on the real clock.
    let base = now_millis();
    let statuses = ExecutionStatus::ALL;
    let records: Vec<StoredExecution> = (0..120)
        .map(|day| {
            let status = statuses[day as usize % 3];
            with_status(execution(&format!("r{day:03}"), base + day * DAY, None), status)
        })
        .collect();
    storage.store_many(records.clone())?;
    assert_eq!(storage.stats()?.total_executions, 120);

    let now = base + 120 * DAY;
    let report = storage.prune_at(now)?;
    let kept = |r: &StoredExecution| match r.status {
        ExecutionStatus::Completed => r.start_time >= now - 7 * DAY,
        ExecutionStatus::Failed => r.start_time >= now - 90 * DAY,
        ExecutionStatus::Running => true,
    };
    let expected: BTreeSet<String> =
        records.iter().filter(|r| kept(r)).map(|r| r.execution_id.clone()).collect();
    assert_eq!(all_ids(&storage)?, expected);
    assert_eq!(report.by_age, 120 - expected.len() as u64);
    assert_eq!(report.removed(), report.by_age);
    assert_eq!(storage.prune_at(now)?.removed(), 0, "a second pass finds nothing");
    assert_eq!(storage.verify()?, expected.len() as u64);
    Ok(())
}

#[test]
fn a_write_past_its_age_is_removed_by_the_write() -> TestResult {
    let (_dir, path) = temp_file()?;
    let policy = RetentionPolicy::new().max_age(ExecutionStatus::Failed, days(1));
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    let old = now_millis() - 2 * DAY;
    storage.store(execution("old-completed", old, None))?;
    storage.store(with_status(execution("old-failed", old, None), ExecutionStatus::Failed))?;
    assert_eq!(ids(&storage.list(10, 0)?), ["old-completed"]);
    // An update that moves a record into an aged status removes it too.
    storage.update("old-completed", &mut |e| e.status = ExecutionStatus::Failed)?;
    assert!(storage.list(10, 0)?.is_empty());
    storage.verify()?;
    Ok(())
}

#[test]
fn keep_the_last_n_per_script_on_every_write() -> TestResult {
    let (_dir, path) = temp_file()?;
    let policy = RetentionPolicy::new().keep_per_script(3);
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    for i in 0..10 {
        storage.store(execution(&format!("a{i}"), 100 + i, Some("a.cst")))?;
        storage.store(execution(&format!("b{i}"), 200 + i, Some("b.cst")))?;
        storage.store(execution(&format!("n{i}"), 300 + i, None))?;
    }
    assert_eq!(ids(&storage.list_by_script("a.cst", 10)?), ["a9", "a8", "a7"]);
    assert_eq!(ids(&storage.list_by_script("b.cst", 10)?), ["b9", "b8", "b7"]);
    // An older run of a full script is itself the oldest: it goes at once.
    storage.store(execution("a-late", 1, Some("a.cst")))?;
    assert_eq!(ids(&storage.list_by_script("a.cst", 10)?), ["a9", "a8", "a7"]);
    // A batch over the limit keeps the newest.
    let batch = (0..5).map(|i| execution(&format!("c{i}"), 400 + i, Some("c.cst"))).collect();
    storage.store_many(batch)?;
    assert_eq!(ids(&storage.list_by_script("c.cst", 10)?), ["c4", "c3", "c2"]);
    assert_eq!(storage.stats()?.total_executions, 3 + 3 + 10 + 3, "runs without a script stay");
    assert_eq!(storage.verify()?, 19);
    Ok(())
}

#[test]
fn lowering_the_per_script_limit_prunes_every_script_at_open() -> TestResult {
    let (_dir, path) = temp_file()?;
    {
        let storage = RedbStorage::open(&path)?;
        let records = (0..600)
            .map(|i| execution(&format!("r{i:04}"), i, Some(&format!("s{}.cst", i % 300))))
            .collect();
        storage.store_many(records)?;
    }
    let policy = RetentionPolicy::new().keep_per_script(1);
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    assert_eq!(storage.stats()?.total_executions, 300);
    assert_eq!(ids(&storage.list_by_script("s7.cst", 10)?), ["r0307"]);
    assert_eq!(storage.prune_report()?.removed(), 0);
    assert_eq!(storage.verify()?, 300);
    Ok(())
}

#[test]
fn max_total_keeps_the_newest() -> TestResult {
    let (_dir, path) = temp_file()?;
    let policy = RetentionPolicy::new().max_executions(5);
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    storage.store_many((0..12).map(|i| execution(&format!("r{i:02}"), i, None)).collect())?;
    assert_eq!(ids(&storage.list(10, 0)?), ["r11", "r10", "r09", "r08", "r07"]);
    let stats = storage.stats()?;
    assert_eq!((stats.total_executions, stats.max_capacity), (5, Some(5)));
    Ok(())
}

#[test]
fn rules_combine_and_count_each_record_once() -> TestResult {
    let (_dir, path) = temp_file()?;
    let base = now_millis();
    {
        let storage = RedbStorage::open(&path)?;
        let records = (0..40)
            .map(|i| {
                execution(&format!("r{i:02}"), base + i * DAY, Some(["x", "y"][i as usize % 2]))
            })
            .collect();
        storage.store_many(records)?;
    }
    let policy = RetentionPolicy::new().max_age_all(days(30)).keep_per_script(8).max_executions(10);
    let storage = RedbStorage::builder().open(&path)?;
    let report = storage.apply_retention(&policy, base + 40 * DAY)?;
    // Age keeps r10..r39 (30), per script keeps the 8 newest of each (r24..r39), max keeps 10.
    assert_eq!((report.by_age, report.per_script, report.beyond_max), (10, 14, 6));
    assert_eq!(all_ids(&storage)?, (30..40).map(|i| format!("r{i:02}")).collect());
    storage.verify()?;
    Ok(())
}

#[test]
fn a_large_prune_runs_in_bounded_transactions() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
    let base = now_millis();
    let n = 2 * PRUNE_BATCH + 500;
    storage.store_many(
        (0..n as i64).map(|i| execution(&format!("r{i:05}"), base + i, None)).collect(),
    )?;
    let policy = RetentionPolicy::new().max_age_all(Duration::from_millis(100));
    let report = storage.apply_retention(&policy, base + n as i64)?;
    assert_eq!(report.by_age, n - 100);
    assert_eq!(report.transactions, (n - 100).div_ceil(PRUNE_BATCH));
    assert_eq!(storage.verify()?, 100);
    Ok(())
}

#[test]
fn writers_go_on_during_a_large_prune() -> TestResult {
    let (_dir, path) = temp_file()?;
    let storage = RedbStorage::builder().durability(Durability::Eventual).open(&path)?;
    let base = now_millis();
    let n = 3 * PRUNE_BATCH as i64;
    storage
        .store_many((0..n).map(|i| execution(&format!("old{i:05}"), base + i, None)).collect())?;
    let pruner = storage.clone();
    let prune = std::thread::spawn(move || {
        let policy = RetentionPolicy::new().max_age_all(Duration::from_millis(1));
        pruner.apply_retention(&policy, base + n)
    });
    for i in 0..100 {
        storage.store(execution(&format!("new{i:03}"), base + n + i, None))?;
    }
    let report = prune.join().map_err(|_| "the pruning thread panicked")??;
    assert_eq!(report.by_age, n as u64 - 1);
    assert!(report.transactions >= 3);
    let left = all_ids(&storage)?;
    assert_eq!(left.len(), 101, "the newest old record and every new one");
    assert!((0..100).all(|i| left.contains(&format!("new{i:03}"))));
    storage.verify()?;
    Ok(())
}

/// A record of about 9 KB that does not compress.
fn big(id: &str, start: i64) -> StoredExecution {
    let mut state = start as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let blob: String = (0..1_100)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            format!("{:08x}", state >> 32)
        })
        .collect();
    let mut e = execution(id, start, None);
    e.inputs.insert("blob".to_owned(), json!(blob));
    e
}

fn store_big(storage: &RedbStorage, from: i64, n: i64) -> TestResult {
    let records = (from..from + n).map(|i| big(&format!("b{i:05}"), i)).collect();
    storage.store_many(records)?;
    Ok(())
}

#[test]
fn the_size_limit_removes_the_oldest_and_the_file_stops_growing() -> TestResult {
    let (_dir, path) = temp_file()?;
    let limit = 512 * 1024;
    let storage = RedbStorage::builder().max_value_size_bytes(None).open(&path)?;
    let policy = RetentionPolicy::new().max_size_bytes(limit);
    let mut lengths = Vec::new();
    for round in 0..6 {
        store_big(&storage, round * 200, 200)?;
        let report = storage.apply_retention(&policy, now_millis())?;
        assert!(report.for_size > 0, "round {round}: {report:?}");
        assert!(storage.live_bytes()? <= limit, "round {round}");
        storage.sync()?;
        lengths.push(std::fs::metadata(&path)?.len());
    }
    let total = storage.stats()?.total_executions;
    assert!(total >= 20, "only the excess goes, {total} kept");
    let newest = storage.list(1, 0)?;
    assert_eq!(ids(&newest), ["b01199"], "the oldest go first");
    let (second, last) = (lengths[1], lengths[5]);
    assert!(last <= second + second / 4, "the file grew from {second} to {last}: {lengths:?}");
    storage.verify()?;
    Ok(())
}

#[test]
fn the_background_thread_applies_the_size_limit_after_writes() -> TestResult {
    let (_dir, path) = temp_file()?;
    let limit = 256 * 1024;
    let policy = RetentionPolicy::new().max_size_bytes(limit);
    let storage =
        RedbStorage::builder().max_value_size_bytes(None).retention(policy).open(&path)?;
    store_big(&storage, 0, 150)?;
    storage.wait_for_background()?;
    assert!(storage.live_bytes()? <= limit);
    assert!(storage.stats()?.total_executions < 150);
    storage.verify()?;
    Ok(())
}

#[test]
fn the_background_thread_removes_records_as_they_age() -> TestResult {
    let (_dir, path) = temp_file()?;
    let age = 500;
    let policy =
        RetentionPolicy::new().max_age(ExecutionStatus::Failed, Duration::from_millis(age));
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    let start = now_millis();
    storage.store(with_status(execution("failing", start, None), ExecutionStatus::Failed))?;
    storage.store(execution("completed", start, None))?;
    storage.wait_for_background()?;
    if now_millis() < start + age as i64 {
        assert_eq!(ids(&storage.list(10, 0)?), ["failing", "completed"], "not aged yet");
    }
    // No write follows; the record ages past its limit while the store sits.
    while now_millis() <= start + age as i64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    storage.wait_for_background()?;
    assert_eq!(ids(&storage.list(10, 0)?), ["completed"]);
    storage.verify()?;
    Ok(())
}

#[test]
fn the_background_thread_stops_with_the_last_handle() -> TestResult {
    let (_dir, path) = temp_file()?;
    let policy = RetentionPolicy::new().max_age_all(days(1));
    let storage = RedbStorage::builder().retention(policy.clone()).open(&path)?;
    let clone = storage.clone();
    drop(storage);
    clone.store(execution("kept", now_millis(), None))?;
    clone.wait_for_background()?;
    drop(clone);
    // The file is closed: it opens again at once, with its record.
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    assert_eq!(ids(&storage.list(10, 0)?), ["kept"]);
    Ok(())
}

#[test]
fn reopening_keeps_counts_for_the_per_script_limit() -> TestResult {
    let (_dir, path) = temp_file()?;
    let policy = RetentionPolicy::new().keep_per_script(2);
    for round in 0..3 {
        let storage = RedbStorage::builder().retention(policy.clone()).open(&path)?;
        for i in 0..3 {
            let at = round * 10 + i;
            storage.store(execution(&format!("r{at:02}"), at, Some("s.cst")))?;
        }
        assert_eq!(storage.list_by_script("s.cst", 10)?.len(), 2);
    }
    let storage = RedbStorage::open(&path)?;
    assert_eq!(ids(&storage.list_by_script("s.cst", 10)?), ["r22", "r21"]);
    assert_eq!(storage.verify()?, 2);
    Ok(())
}

#[test]
fn an_old_file_gets_its_indexes_for_retention_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = support::schema_1_fixture_copy(dir.path())?;
    let before = RedbStorage::open(&path)?.stats()?;
    assert!(before.failed_executions > 0);
    let policy = RetentionPolicy::new()
        .keep_per_script(1)
        .max_age(ExecutionStatus::Failed, Duration::from_millis(1));
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    let after = storage.stats()?;
    assert_eq!(after.failed_executions, 0, "failed runs found through the back-filled index");
    assert!(after.total_executions < before.total_executions);
    storage.verify()?;
    Ok(())
}

#[test]
fn opening_with_a_size_limit_compacts_a_mostly_free_file() -> TestResult {
    let (_dir, path) = temp_file()?;
    {
        let storage = RedbStorage::builder().max_value_size_bytes(None).open(&path)?;
        store_big(&storage, 0, 300)?;
    }
    let grown = std::fs::metadata(&path)?.len();
    let limit = 256 * 1024;
    let policy = RetentionPolicy::new().max_size_bytes(limit);
    let storage = RedbStorage::builder().retention(policy).open(&path)?;
    let compacted = std::fs::metadata(&path)?.len();
    assert!(storage.live_bytes()? <= limit);
    assert!(compacted < grown / 4, "{grown} bytes became {compacted}");
    assert_eq!(ids(&storage.list(1, 0)?), ["b00299"]);
    storage.verify()?;
    Ok(())
}

mod model {
    //! Random writes on a store with per-script, total and per-status age limits, against
    //! a plain model of what each write and each `prune_at` must leave.

    use std::collections::BTreeMap;

    use execstore::{ExecutionStatus, ExecutionStorage, RedbStorage, RetentionPolicy};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    use super::{days, execution, with_status, DAY};

    const KEEP_PER_SCRIPT: u64 = 2;
    const MAX: usize = 7;
    const SCRIPTS: [&str; 3] = ["a.cst", "b.cst", "a.cst\u{0}"];

    #[derive(Debug, Clone)]
    enum Op {
        Store(Vec<(u8, i64, Option<usize>, usize)>),
        SetStatus(u8, usize),
        Delete(u8),
        /// Prune with the clock this many days after the base.
        PruneAt(i64),
    }

    /// id → (start, script, status).
    type Model = BTreeMap<String, (i64, Option<usize>, ExecutionStatus)>;

    fn op() -> impl Strategy<Value = Op> {
        let record = (0u8..12, 0i64..40, prop::option::of(0usize..3), 0usize..3);
        prop_oneof![
            4 => prop::collection::vec(record, 1..4).prop_map(Op::Store),
            2 => (0u8..12, 0usize..3).prop_map(|(id, s)| Op::SetStatus(id, s)),
            1 => (0u8..12).prop_map(Op::Delete),
            1 => (0i64..60).prop_map(Op::PruneAt),
        ]
    }

    fn policy() -> RetentionPolicy {
        RetentionPolicy::new()
            .keep_per_script(KEEP_PER_SCRIPT)
            .max_executions(MAX as u64)
            .max_age(ExecutionStatus::Failed, days(10))
            .max_age(ExecutionStatus::Completed, days(30))
    }

    fn age_limit(status: ExecutionStatus) -> Option<i64> {
        match status {
            ExecutionStatus::Failed => Some(10 * DAY),
            ExecutionStatus::Completed => Some(30 * DAY),
            ExecutionStatus::Running => None,
        }
    }

    /// The oldest id by (start, id) among the records `which` selects.
    fn oldest(model: &Model, which: impl Fn(&Option<usize>) -> bool) -> Option<String> {
        model
            .iter()
            .filter(|(_, (_, script, _))| which(script))
            .min_by_key(|(id, (start, _, _))| (*start, (*id).clone()))
            .map(|(id, _)| id.clone())
    }

    /// What a write leaves: per touched script, then the total.
    fn enforce(model: &mut Model, touched: &[Option<usize>]) {
        for script in touched.iter().flatten() {
            let mine = |s: &Option<usize>| *s == Some(*script);
            while model.values().filter(|(_, s, _)| mine(s)).count() as u64 > KEEP_PER_SCRIPT {
                let Some(id) = oldest(model, mine) else { break };
                model.remove(&id);
            }
        }
        while model.len() > MAX {
            let Some(id) = oldest(model, |_| true) else { break };
            model.remove(&id);
        }
    }

    fn apply(
        storage: &RedbStorage,
        model: &mut Model,
        op: &Op,
        base: i64,
    ) -> execstore::Result<()> {
        let status_of = |s: usize| ExecutionStatus::ALL[s];
        match op {
            Op::Store(records) => {
                let mut batch = BTreeMap::new();
                for &(id, start, script, status) in records {
                    batch.insert(
                        format!("id{id:02}"),
                        (base + start * DAY, script, status_of(status)),
                    );
                }
                let built = batch
                    .iter()
                    .map(|(id, &(start, script, status))| {
                        with_status(execution(id, start, script.map(|s| SCRIPTS[s])), status)
                    })
                    .collect();
                storage.store_many(built)?;
                let touched: Vec<_> = batch.values().map(|v| v.1).collect();
                model.extend(batch);
                enforce(model, &touched);
            }
            Op::SetStatus(id, status) => {
                let id = format!("id{id:02}");
                storage.update(&id, &mut |e| e.status = status_of(*status))?;
                if let Some(entry) = model.get_mut(&id) {
                    entry.2 = status_of(*status);
                    let touched = [entry.1];
                    enforce(model, &touched);
                }
            }
            Op::Delete(id) => {
                let id = format!("id{id:02}");
                storage.delete(&id)?;
                model.remove(&id);
            }
            Op::PruneAt(day) => {
                let now = base + day * DAY;
                storage.prune_at(now)?;
                model.retain(|_, (start, _, status)| {
                    age_limit(*status).is_none_or(|age| *start >= now - age)
                });
            }
        }
        Ok(())
    }

    #[test]
    fn random_writes_and_prunes_match_the_model() -> super::TestResult {
        let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
        runner.run(&prop::collection::vec(op(), 1..30), |ops| {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let fail = |e: execstore::Error| TestCaseError::fail(e.to_string());
            let storage = RedbStorage::builder()
                .retention(policy())
                .open(dir.path().join("h.redb"))
                .map_err(fail)?;
            // Start times from now on, so no write is past its age on the real clock.
            let base = execstore::now_millis();
            let mut model = Model::new();
            for op in &ops {
                apply(&storage, &mut model, op, base).map_err(fail)?;
                let stored: Vec<String> = storage
                    .list(usize::MAX, 0)
                    .map_err(fail)?
                    .into_iter()
                    .map(|s| s.execution_id)
                    .collect();
                let mut expected: Vec<(i64, String)> =
                    model.iter().map(|(id, (start, _, _))| (*start, id.clone())).collect();
                expected.sort();
                let expected: Vec<String> = expected.into_iter().rev().map(|(_, id)| id).collect();
                prop_assert_eq!(&stored, &expected, "after {:?}", op);
            }
            prop_assert_eq!(storage.verify().map_err(fail)?, model.len() as u64);
            Ok(())
        })?;
        Ok(())
    }
}

mod crash {
    //! `kill -9` while a policy is removing records on every write: the journal replays the
    //! removals with the stores, so the reopened file agrees with itself and the policy.

    use std::io::{BufRead, BufReader, Write};

    use execstore::{ExecutionStorage, RedbStorage, RetentionPolicy};

    use super::{execution, TestResult};

    const DB_VAR: &str = "EXECSTORE_RETENTION_CRASH_DB";

    fn policy() -> RetentionPolicy {
        RetentionPolicy::new().keep_per_script(3).max_executions(40)
    }

    #[test]
    #[ignore = "run by kill_nine_during_retention_keeps_the_file_consistent as a child process"]
    fn retention_crash_child() -> TestResult {
        let Ok(path) = std::env::var(DB_VAR) else { return Ok(()) };
        let storage = RedbStorage::builder().retention(policy()).open(path)?;
        let first = storage.stats()?.newest_execution_time.map_or(0, |t| t + 1);
        let mut out = std::io::stdout().lock();
        for i in first.. {
            let id = format!("r{i:06}");
            storage.store(execution(&id, i, Some(&format!("s{}.cst", i % 20))))?;
            writeln!(out, "ACK {id}")?;
            out.flush()?;
        }
        Ok(())
    }

    #[test]
    fn kill_nine_during_retention_keeps_the_file_consistent() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("crash.redb");
        for acks_before_kill in [5, 70, 300] {
            let last = run_until_killed(&path, acks_before_kill)?;
            let journal = path.with_file_name("crash.redb-journal");
            assert!(journal.exists(), "the killed writer left its journal to replay");
            let storage = RedbStorage::builder().retention(policy()).open(&path)?;
            let listed = storage.list(usize::MAX, 0)?;
            assert!(storage.get(&last)?.is_some(), "the newest acknowledged store {last} is kept");
            assert!(listed.len() <= 40);
            for script in 0..20 {
                let kept = storage.list_by_script(&format!("s{script}.cst"), usize::MAX)?;
                assert!(kept.len() <= 3, "s{script}.cst kept {}", kept.len());
            }
            assert_eq!(storage.verify()?, listed.len() as u64);
        }
        Ok(())
    }

    /// Runs the child until it acknowledged `acks` stores, kills it; the last id acknowledged.
    fn run_until_killed(
        path: &std::path::Path,
        acks: usize,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let mut child = crate::support::child_test("crash::retention_crash_child")?
            .env(DB_VAR, path)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no child stdout")?;
        let (mut seen, mut last, mut killed) = (0, String::new(), false);
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let Some(id) = line.strip_prefix("ACK ") else { continue };
            last = id.to_owned();
            seen += 1;
            if seen >= acks && !killed {
                child.kill()?;
                killed = true;
            }
        }
        let status = child.wait()?;
        assert!(killed && !status.success(), "the child ended on its own: {status}");
        Ok(last)
    }
}
