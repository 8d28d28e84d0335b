//! Random operation sequences applied to a backend and to a plain `BTreeMap` model,
//! every result compared.

use std::collections::BTreeMap;

use execstore::{
    truncate_values, Error, ExecutionStatus, ExecutionSummary, StorageStats, StoredExecution,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::json;

use crate::support::{execution, Harness, Limits, TestResult};

const LIMITS: Limits = Limits { max_executions: 6, max_value_size_bytes: 24 };
const SCRIPTS: [&str; 3] = ["a.cst", "b.cst", "a.cst/x"];

#[derive(Debug, Clone)]
enum Change {
    Status(ExecutionStatus),
    Start(i64),
    Script(Option<usize>),
    Output(usize),
    Id,
}

#[derive(Debug, Clone)]
enum Op {
    Store(Record),
    StoreMany(Vec<Record>),
    Get(u8),
    List { limit: usize, offset: usize },
    ListByScript { script: usize, limit: usize },
    Stats,
    Update(u8, Change),
    Delete(u8),
    Clear,
}

#[derive(Debug, Clone)]
struct Record {
    id: u8,
    start: i64,
    script: Option<usize>,
    status: ExecutionStatus,
    value_len: usize,
}

impl Record {
    fn build(&self) -> StoredExecution {
        let mut e = execution(&id(self.id), self.start, self.script.map(|s| SCRIPTS[s]));
        e.status = self.status;
        e.inputs.insert("v".to_owned(), json!("x".repeat(self.value_len)));
        e
    }
}

fn id(n: u8) -> String {
    format!("id{n}")
}

fn status() -> impl Strategy<Value = ExecutionStatus> {
    prop::sample::select(ExecutionStatus::ALL.to_vec())
}

fn record() -> impl Strategy<Value = Record> {
    (0..10u8, 0..8i64, prop::option::of(0..3usize), status(), 0..40usize).prop_map(
        |(id, start, script, status, value_len)| Record { id, start, script, status, value_len },
    )
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        status().prop_map(Change::Status),
        (0..8i64).prop_map(Change::Start),
        prop::option::of(0..3usize).prop_map(Change::Script),
        (0..40usize).prop_map(Change::Output),
        Just(Change::Id),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => record().prop_map(Op::Store),
        1 => prop::collection::vec(record(), 0..5).prop_map(Op::StoreMany),
        2 => (0..10u8).prop_map(Op::Get),
        2 => (0..8usize, 0..8usize).prop_map(|(limit, offset)| Op::List { limit, offset }),
        2 => (0..3usize, 0..8usize).prop_map(|(script, limit)| Op::ListByScript { script, limit }),
        1 => Just(Op::Stats),
        3 => (0..10u8, change()).prop_map(|(n, c)| Op::Update(n, c)),
        1 => (0..10u8).prop_map(Op::Delete),
        1 => Just(Op::Clear),
    ]
}

fn apply(change: &Change, e: &mut StoredExecution) {
    match change {
        Change::Status(status) => e.status = *status,
        Change::Start(start) => e.start_time = *start,
        Change::Script(script) => e.script_path = script.map(|s| SCRIPTS[s].to_owned()),
        Change::Output(len) => {
            e.outputs = Some(BTreeMap::from([("o".to_owned(), json!("y".repeat(*len)))]));
        }
        Change::Id => e.execution_id.push_str("-renamed"),
    }
}

/// The reference: a map, sorted on every query.
#[derive(Default)]
struct Model {
    records: BTreeMap<String, StoredExecution>,
}

impl Model {
    fn store(&mut self, mut e: StoredExecution) {
        truncate_values(&mut e, LIMITS.max_value_size_bytes);
        self.records.insert(e.execution_id.clone(), e);
    }

    fn evict(&mut self) {
        while self.records.len() > LIMITS.max_executions {
            let oldest =
                self.records.values().min_by(|a, b| order(b, a)).map(|e| e.execution_id.clone());
            oldest.map(|id| self.records.remove(&id));
        }
    }

    fn newest_first(&self, script: Option<&str>) -> Vec<ExecutionSummary> {
        let mut all: Vec<_> = self
            .records
            .values()
            .filter(|e| script.is_none() || e.script_path.as_deref() == script)
            .collect();
        all.sort_by(|a, b| order(a, b));
        all.into_iter().map(ExecutionSummary::from).collect()
    }

    fn stats(&self) -> StorageStats {
        let count = |s| self.records.values().filter(|e| e.status == s).count() as u64;
        StorageStats {
            total_executions: self.records.len() as u64,
            running_executions: count(ExecutionStatus::Running),
            completed_executions: count(ExecutionStatus::Completed),
            failed_executions: count(ExecutionStatus::Failed),
            oldest_execution_time: self.records.values().map(|e| e.start_time).min(),
            newest_execution_time: self.records.values().map(|e| e.start_time).max(),
            max_capacity: Some(LIMITS.max_executions as u64),
        }
    }
}

/// List order: newest start first, ties by id descending.
fn order(a: &StoredExecution, b: &StoredExecution) -> std::cmp::Ordering {
    (b.start_time, &b.execution_id).cmp(&(a.start_time, &a.execution_id))
}

fn check(harness: &Harness, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let s = &harness.storage;
    let fail = |e: Error| TestCaseError::fail(format!("{op:?}: {e}"));
    match op {
        Op::Store(r) => {
            prop_assert_eq!(s.store(r.build()).map_err(fail)?, id(r.id));
            model.store(r.build());
            model.evict();
        }
        Op::StoreMany(rs) => {
            let ids = s.store_many(rs.iter().map(Record::build).collect()).map_err(fail)?;
            prop_assert_eq!(ids, rs.iter().map(|r| id(r.id)).collect::<Vec<_>>());
            rs.iter().for_each(|r| model.store(r.build()));
            model.evict();
        }
        Op::Get(n) => {
            let got = s.get(&id(*n)).map_err(fail)?.map(|e| (*e).clone());
            prop_assert_eq!(got, model.records.get(&id(*n)).cloned());
        }
        Op::List { limit, offset } => {
            let expected: Vec<_> =
                model.newest_first(None).into_iter().skip(*offset).take(*limit).collect();
            prop_assert_eq!(s.list(*limit, *offset).map_err(fail)?, expected);
        }
        Op::ListByScript { script, limit } => {
            let expected: Vec<_> =
                model.newest_first(Some(SCRIPTS[*script])).into_iter().take(*limit).collect();
            prop_assert_eq!(s.list_by_script(SCRIPTS[*script], *limit).map_err(fail)?, expected);
        }
        Op::Stats => prop_assert_eq!(s.stats().map_err(fail)?, model.stats()),
        Op::Update(n, change) => check_update(harness, model, &id(*n), change)?,
        Op::Delete(n) => {
            prop_assert_eq!(
                s.delete(&id(*n)).map_err(fail)?,
                model.records.remove(&id(*n)).is_some()
            );
        }
        Op::Clear => {
            s.clear().map_err(fail)?;
            model.records.clear();
        }
    }
    Ok(())
}

fn check_update(
    h: &Harness,
    model: &mut Model,
    key: &str,
    change: &Change,
) -> Result<(), TestCaseError> {
    let result = h.storage.update(key, &mut |e| apply(change, e));
    let Some(current) = model.records.get(key).cloned() else {
        prop_assert!(matches!(result, Ok(None)), "update of a missing id: {:?}", result);
        return Ok(());
    };
    let mut expected = current;
    apply(change, &mut expected);
    if matches!(change, Change::Id) {
        prop_assert!(matches!(result, Err(Error::IdChanged { .. })), "id change: {:?}", result);
        return Ok(());
    }
    model.store(expected);
    let stored = result.map_err(|e| TestCaseError::fail(e.to_string()))?.map(|e| (*e).clone());
    prop_assert_eq!(stored.as_ref(), model.records.get(key));
    Ok(())
}

pub fn run(make: fn(Limits) -> Harness) -> TestResult {
    let config = RunnerConfig { cases: 48, failure_persistence: None, ..RunnerConfig::default() };
    let mut runner = TestRunner::new(config);
    runner
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            let harness = make(LIMITS);
            let mut model = Model::default();
            for op in &ops {
                check(&harness, &mut model, op)?;
            }
            prop_assert_eq!(
                harness.storage.stats().map_err(|e| TestCaseError::fail(e.to_string()))?,
                model.stats()
            );
            Ok(())
        })
        .map_err(|e| e.to_string().into())
}
