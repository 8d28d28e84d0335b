//! Filtered queries at scale: a page of 50 by status, by DAG and by time range, and a keyset
//! page deep in the history, against SQLite's equivalent queries with the guide's indexes;
//! `count` by DAG and status against `COUNT(*)`. `cargo bench --bench query`.
//!
//! Both datasets (`EXECSTORE_BENCH_RECORDS`, default 1,000,000) are built once and kept in
//! `EXECSTORE_BENCH_DATA` (default `$TMPDIR/execstore-bench-query`) for later runs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark aborts on any failure")]

mod common;

use std::path::Path;
use std::sync::Arc;

use criterion::Criterion;
use execstore::{Cursor, ExecutionStatus, ExecutionStorage, HistoryQuery, Order};

use common::fixture;
use common::sqlite::{self, SqlResult, SqliteStore};
use common::workload;

const PAGE: usize = 50;

fn execstore_dataset(dir: &Path, records: u64) -> SqlResult<Arc<dyn ExecutionStorage>> {
    let path = dir.join(format!("query-{records}.redb"));
    let store = fixture::open_execstore(&path, 1024)?;
    if store.stats()?.total_executions != records {
        store.clear()?;
        fixture::fill_execstore(store.as_ref(), records)?;
    }
    fixture::print_size("execstore", fixture::execstore_file_size(&path));
    Ok(store)
}

fn sqlite_dataset(dir: &Path, records: u64) -> SqlResult<SqliteStore> {
    let path = dir.join(format!("query-{records}.sqlite"));
    let mut store = SqliteStore::open(&path)?;
    if store.len()? != records {
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
        store = SqliteStore::open(&path)?;
        fixture::fill_sqlite(&mut store, records)?;
    }
    let (db, wal) = sqlite::file_sizes(&path);
    fixture::print_size("sqlite", db + wal);
    Ok(store)
}

fn main() {
    let records = common::dataset_size(1_000_000);
    let dir = std::env::var_os("EXECSTORE_BENCH_DATA")
        .map_or_else(|| std::env::temp_dir().join("execstore-bench-query"), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
    let exec = execstore_dataset(&dir, records).unwrap();
    let sqlite = sqlite_dataset(&dir, records).unwrap();
    let mut c = common::criterion();
    by_status(&mut c, exec.as_ref(), &sqlite);
    by_dag(&mut c, exec.as_ref(), &sqlite);
    by_time_range(&mut c, exec.as_ref(), &sqlite, records);
    deep_page(&mut c, exec.as_ref(), &sqlite, records);
    count_by_dag_and_status(&mut c, exec.as_ref(), &sqlite);
    c.final_summary();
}

fn by_status(c: &mut Criterion, exec: &dyn ExecutionStorage, sqlite: &SqliteStore) {
    let query = HistoryQuery::new().status(ExecutionStatus::Failed).limit(PAGE);
    let mut group = c.benchmark_group("query_status_50");
    group.bench_function("execstore", |b| b.iter(|| exec.query(&query).unwrap()));
    group.bench_function("sqlite", |b| {
        b.iter(|| sqlite.page_where("status = ?1", &[&"Failed"], PAGE, 0).unwrap())
    });
    group.finish();
}

fn by_dag(c: &mut Criterion, exec: &dyn ExecutionStorage, sqlite: &SqliteStore) {
    let dag = workload::DAG_NAMES[3];
    let query = HistoryQuery::new().dag_name(dag).limit(PAGE);
    let mut group = c.benchmark_group("query_dag_50");
    group.bench_function("execstore", |b| b.iter(|| exec.query(&query).unwrap()));
    group.bench_function("sqlite", |b| {
        b.iter(|| sqlite.page_where("dag_name = ?1", &[&dag], PAGE, 0).unwrap())
    });
    group.finish();
}

/// A window of about 10,000 runs in the middle of the history.
fn by_time_range(
    c: &mut Criterion,
    exec: &dyn ExecutionStorage,
    sqlite: &SqliteStore,
    records: u64,
) {
    let (after, before) =
        (workload::start_time(records / 2), workload::start_time(records / 2 + 10_000));
    let query = HistoryQuery::new().started_after(after).started_before(before).limit(PAGE);
    let mut group = c.benchmark_group("query_time_range_50");
    group.bench_function("execstore", |b| b.iter(|| exec.query(&query).unwrap()));
    group.bench_function("sqlite", |b| {
        b.iter(|| {
            let condition = "start_time >= ?1 AND start_time < ?2";
            sqlite.page_where(condition, &[&after, &before], PAGE, 0).unwrap()
        })
    });
    group.finish();
}

/// The first page, and the page after 90% of the history newest first: execstore by
/// cursor; SQLite by OFFSET (as the guide's list pages) and by keyset.
fn deep_page(c: &mut Criterion, exec: &dyn ExecutionStorage, sqlite: &SqliteStore, records: u64) {
    let deep = records / 10;
    let first = HistoryQuery::new().limit(PAGE);
    let at = workload::record(deep);
    let cursor = Cursor::after(Order::Newest, at.start_time, at.execution_id.clone());
    let deep_query = first.clone().cursor(cursor);
    let offset = usize::try_from(records - deep).unwrap();
    let mut group = c.benchmark_group("query_deep_page_50");
    group.bench_function("execstore_first", |b| b.iter(|| exec.query(&first).unwrap()));
    group.bench_function("execstore_deep", |b| b.iter(|| exec.query(&deep_query).unwrap()));
    group.bench_function("sqlite_first", |b| b.iter(|| sqlite.list(PAGE, 0).unwrap()));
    group.bench_function("sqlite_deep_offset", |b| b.iter(|| sqlite.list(PAGE, offset).unwrap()));
    group.bench_function("sqlite_deep_keyset", |b| {
        b.iter(|| sqlite.page_where("start_time < ?1", &[&at.start_time], PAGE, 0).unwrap())
    });
    group.finish();
}

fn count_by_dag_and_status(c: &mut Criterion, exec: &dyn ExecutionStorage, sqlite: &SqliteStore) {
    let dag = workload::DAG_NAMES[3];
    let filter = HistoryQuery::new().dag_name(dag).status(ExecutionStatus::Failed);
    let mut group = c.benchmark_group("count_dag_status");
    group.bench_function("execstore", |b| b.iter(|| exec.count(&filter).unwrap()));
    group.bench_function("sqlite", |b| {
        b.iter(|| sqlite.count_where("dag_name = ?1 AND status = ?2", &[&dag, &"Failed"]).unwrap())
    });
    group.finish();
}
