//! `query` and `count`: filters, both orders, keyset cursors that stay exact while runs
//! are stored and deleted between pages, and bad arguments.

use std::collections::{BTreeMap, BTreeSet};

use execstore::{
    Cursor, Error, ExecutionSource, ExecutionStatus, ExecutionStorage, ExecutionSummary,
    HistoryQuery, Order, StoredExecution, MAX_QUERY_LIMIT,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use crate::support::{execution, Harness, Limits, TestResult};

type Factory = fn(Limits) -> Harness;

const LIMITS: Limits = Limits { max_executions: 100_000, max_value_size_bytes: 10_240 };
const DAGS: [&str; 3] = ["etl", "report", "ml"];
const SCRIPTS: [&str; 3] = ["a.cst", "b.cst", "a.cst/x"];
const SOURCES: [ExecutionSource; 3] =
    [ExecutionSource::API, ExecutionSource::Dashboard, ExecutionSource::VSCodeExtension];

#[derive(Debug, Clone, Copy)]
struct Run {
    id: u16,
    start: i64,
    dag: usize,
    status: ExecutionStatus,
    script: Option<usize>,
    source: usize,
}

impl Run {
    fn id(&self) -> String {
        format!("run-{:04}", self.id)
    }

    fn build(&self) -> StoredExecution {
        let mut record =
            execution(&self.id(), self.start, self.script.and_then(|s| SCRIPTS.get(s).copied()));
        record.dag_name = DAGS.get(self.dag).copied().unwrap_or("etl").to_owned();
        record.status = self.status;
        record.source = SOURCES.get(self.source).copied().unwrap_or(ExecutionSource::API);
        record
    }
}

fn status() -> impl Strategy<Value = ExecutionStatus> {
    prop::sample::select(ExecutionStatus::ALL.to_vec())
}

fn run() -> impl Strategy<Value = Run> {
    (0..400u16, 0..40i64, 0..3usize, status(), prop::option::of(0..3usize), 0..3usize).prop_map(
        |(id, start, dag, status, script, source)| Run { id, start, dag, status, script, source },
    )
}

fn filter() -> impl Strategy<Value = HistoryQuery> {
    (
        prop::collection::vec(status(), 0..3),
        prop::option::weighted(0.3, 0..3usize),
        prop::option::weighted(0.2, 0..3usize),
        prop::option::weighted(0.15, prop::sample::select(vec!["a", "a.cst", "b", "z"])),
        prop::option::weighted(0.2, 0..3usize),
        prop::option::weighted(0.3, 0..40i64),
        prop::option::weighted(0.3, 0..45i64),
        any::<bool>(),
    )
        .prop_map(|(statuses, dag, script, prefix, source, after, before, oldest)| {
            let mut q = HistoryQuery::new().statuses(statuses);
            q.dag_name = dag.and_then(|d| DAGS.get(d)).map(|d| (*d).to_owned());
            q.script_path = script.and_then(|s| SCRIPTS.get(s)).map(|s| (*s).to_owned());
            q.script_prefix = prefix.map(str::to_owned);
            q.source = source.and_then(|s| SOURCES.get(s).copied());
            q.started_after = after;
            q.started_before = before;
            q.order(if oldest { Order::Oldest } else { Order::Newest })
        })
}

/// What the store holds, by id.
type Model = BTreeMap<String, ExecutionSummary>;

/// The model's matches in the query's order.
fn expected(model: &Model, query: &HistoryQuery) -> Vec<ExecutionSummary> {
    let mut matches: Vec<ExecutionSummary> =
        model.values().filter(|s| query.matches(s)).cloned().collect();
    matches.sort_by(|a, b| (a.start_time, &a.execution_id).cmp(&(b.start_time, &b.execution_id)));
    if query.order == Order::Newest {
        matches.reverse();
    }
    matches
}

fn position(s: &ExecutionSummary) -> (i64, String) {
    (s.start_time, s.execution_id.clone())
}

/// Pages through `query` with page size `limit`, applying `between` before each page after
/// the first; returns every item in order.
fn page_through(
    storage: &dyn ExecutionStorage,
    query: &HistoryQuery,
    limit: usize,
    mut between: impl FnMut(usize) -> Result<(), TestCaseError>,
) -> Result<Vec<ExecutionSummary>, TestCaseError> {
    let fail = |e: Error| TestCaseError::fail(e.to_string());
    let mut query = query.clone().limit(limit);
    let mut seen = Vec::new();
    for page_number in 0.. {
        if page_number > 0 {
            between(page_number)?;
        }
        let page = storage.query(&query).map_err(fail)?;
        prop_assert!(page.items.len() <= limit);
        seen.extend(page.items);
        match page.next {
            Some(next) => {
                let text = next.to_string();
                prop_assert!(text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
                query.cursor = Some(text.parse().map_err(fail)?);
            }
            None => return Ok(seen),
        }
        prop_assert!(page_number < 10_000, "paging does not end");
    }
    Ok(seen)
}

fn store(
    storage: &dyn ExecutionStorage,
    model: &mut Model,
    run: &Run,
) -> Result<(), TestCaseError> {
    let record = run.build();
    storage.store(record.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    model.insert(run.id(), ExecutionSummary::from(&record));
    Ok(())
}

/// Random runs, filters and page sizes; between pages, runs are stored and deleted. Every
/// run that was there for the whole paging and matches comes back exactly once, in order;
/// nothing comes back that does not match; `count` equals the model's.
pub fn query_pages_exactly_under_concurrent_writes(make: Factory) -> TestResult {
    let mut runner = TestRunner::new(RunnerConfig { cases: 40, ..RunnerConfig::default() });
    let strategy = (
        prop::collection::vec(run(), 0..80),
        filter(),
        1..12usize,
        prop::collection::vec((run(), 0..400u16, any::<bool>()), 0..30),
    );
    runner.run(&strategy, |(runs, query, limit, churn)| {
        let h = make(LIMITS);
        let storage = h.storage.as_ref();
        let mut model = Model::new();
        for run in &runs {
            store(storage, &mut model, run)?;
        }
        let count = storage.count(&query).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(count, expected(&model, &query).len() as u64);
        prop_assert_eq!(
            page_through(storage, &query, limit, |_| Ok(()))?,
            expected(&model, &query)
        );

        let before = model.clone();
        let mut touched = BTreeSet::new();
        let mut churn = churn.into_iter();
        let seen = page_through(storage, &query, limit, |_| {
            if let Some((run, victim, delete)) = churn.next() {
                store(storage, &mut model, &run)?;
                touched.insert(run.id());
                if delete {
                    let id = format!("run-{victim:04}");
                    storage.delete(&id).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    model.remove(&id);
                    touched.insert(id);
                }
            }
            Ok(())
        })?;
        let positions: Vec<(i64, String)> = seen.iter().map(position).collect();
        let mut ordered = positions.clone();
        ordered.sort();
        if query.order == Order::Newest {
            ordered.reverse();
        }
        ordered.dedup();
        prop_assert_eq!(&positions, &ordered, "in order, none twice");
        prop_assert!(seen.iter().all(|s| query.matches(s)));
        let stable: Vec<(i64, String)> = expected(&before, &query)
            .iter()
            .filter(|s| !touched.contains(&s.execution_id))
            .map(position)
            .collect();
        let returned: BTreeSet<&(i64, String)> = positions.iter().collect();
        for item in &stable {
            prop_assert!(returned.contains(item), "{:?} was skipped", item);
        }
        counts_match(storage, &model)
    })?;
    Ok(())
}

/// The counter-served counts (DAG name and/or statuses) after stores, replacements and
/// deletes.
fn counts_match(storage: &dyn ExecutionStorage, model: &Model) -> Result<(), TestCaseError> {
    let status_sets = [
        vec![],
        vec![ExecutionStatus::Failed],
        vec![ExecutionStatus::Running, ExecutionStatus::Completed],
    ];
    let dags = DAGS.iter().map(|d| Some((*d).to_owned())).chain([None]);
    for dag in dags {
        for statuses in &status_sets {
            let mut query = HistoryQuery::new().statuses(statuses.iter().copied());
            query.dag_name.clone_from(&dag);
            let count = storage.count(&query).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(count, expected(model, &query).len() as u64, "{:?}", query);
        }
    }
    Ok(())
}

pub fn query_filters_each_field(make: Factory) -> TestResult {
    let h = make(LIMITS);
    let runs = [
        Run {
            id: 1,
            start: 10,
            dag: 0,
            status: ExecutionStatus::Completed,
            script: Some(0),
            source: 0,
        },
        Run {
            id: 2,
            start: 20,
            dag: 1,
            status: ExecutionStatus::Failed,
            script: Some(2),
            source: 1,
        },
        Run { id: 3, start: 30, dag: 0, status: ExecutionStatus::Running, script: None, source: 2 },
        Run {
            id: 4,
            start: 30,
            dag: 2,
            status: ExecutionStatus::Failed,
            script: Some(1),
            source: 0,
        },
    ];
    h.storage.store_many(runs.iter().map(Run::build).collect())?;
    let ids = |q: HistoryQuery| -> Result<Vec<String>, Error> {
        Ok(h.storage.query(&q)?.items.into_iter().map(|s| s.execution_id).collect())
    };
    assert_eq!(ids(HistoryQuery::new())?, ["run-0004", "run-0003", "run-0002", "run-0001"]);
    assert_eq!(
        ids(HistoryQuery::new().order(Order::Oldest))?,
        ["run-0001", "run-0002", "run-0003", "run-0004"]
    );
    assert_eq!(ids(HistoryQuery::new().status(ExecutionStatus::Failed))?, ["run-0004", "run-0002"]);
    assert_eq!(ids(HistoryQuery::new().dag_name("etl"))?, ["run-0003", "run-0001"]);
    assert_eq!(ids(HistoryQuery::new().script_path("a.cst"))?, ["run-0001"]);
    assert_eq!(ids(HistoryQuery::new().script_prefix("a.cst"))?, ["run-0002", "run-0001"]);
    assert_eq!(ids(HistoryQuery::new().source(ExecutionSource::API))?, ["run-0004", "run-0001"]);
    assert_eq!(ids(HistoryQuery::new().started_after(20).started_before(30))?, ["run-0002"]);
    let page = h.storage.query(&HistoryQuery::new().limit(3))?;
    assert_eq!(page.items.len(), 3);
    let next = page.next.ok_or("a fourth run is left")?;
    assert_eq!(ids(HistoryQuery::new().limit(3).cursor(next))?, ["run-0001"]);
    let all = HistoryQuery::new();
    assert_eq!(h.storage.count(&all)?, 4);
    assert_eq!(h.storage.count(&all.clone().dag_name("etl").status(ExecutionStatus::Running))?, 1);
    assert_eq!(
        h.storage
            .count(&all.clone().status(ExecutionStatus::Failed).status(ExecutionStatus::Running))?,
        3
    );
    assert_eq!(h.storage.count(&all.script_prefix("a"))?, 2);
    Ok(())
}

pub fn query_bad_arguments(make: Factory) -> TestResult {
    let h = make(LIMITS);
    for limit in [0, MAX_QUERY_LIMIT + 1] {
        let result = h.storage.query(&HistoryQuery::new().limit(limit));
        assert!(matches!(result, Err(Error::InvalidArgument(_))), "limit {limit}: {result:?}");
    }
    let newest = Cursor::after(Order::Newest, 5, "x");
    let mixed = h.storage.query(&HistoryQuery::new().order(Order::Oldest).cursor(newest.clone()));
    assert!(matches!(mixed, Err(Error::InvalidArgument(_))), "{mixed:?}");
    assert_eq!(newest.to_string().parse::<Cursor>()?, newest);
    for garbage in [
        "", "x.1.41", "n.one.41", "n.1.4", "n.1.zz", "n.1.ff", "n.1", "n.1.+a", "n.+1.41",
        "n.01.41", "n.1.4A", "n.1.41.",
    ] {
        assert!(matches!(garbage.parse::<Cursor>(), Err(Error::InvalidArgument(_))), "{garbage:?}");
    }
    Ok(())
}
