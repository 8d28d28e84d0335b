//! execstore against the SQLite baseline of the integration guide, operation by operation,
//! in the same run: `cargo bench --bench storage`. Each criterion group holds the execstore
//! function and its SQLite peer; the ratio of their medians is the figure that matters.
//!
//! The dataset (100,000 records of about 2 KiB, `EXECSTORE_BENCH_RECORDS` to change it) is
//! built once; read benchmarks run first, then the durable writes, which add records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark aborts on any failure"
)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use execstore::{ExecutionStatus, ExecutionStorage, StoredExecution};
use serde_json::json;

use common::fixture::{self, FsyncProbe};
use common::sqlite::{self, SqlResult, SqliteStore};
use common::workload::{self, mix};

/// The execstore and SQLite datasets, holding the same records.
struct Env {
    _dir: tempfile::TempDir,
    records: u64,
    exec_path: PathBuf,
    exec: Option<Arc<dyn ExecutionStorage>>,
    sqlite: SqliteStore,
    composite: SqliteStore,
    fsync: FsyncProbe,
    next_exec: AtomicU64,
    next_sqlite: AtomicU64,
}

impl Env {
    fn build(records: u64) -> SqlResult<Env> {
        println!("mean record size: {:.0} bytes of JSON", workload::mean_json_len(1_000));
        let dir = fixture::temp_dir()?;
        let exec_path = dir.path().join("history.redb");
        let exec = fixture::open_execstore(&exec_path, DEFAULT_CACHE)?;
        fixture::fill_execstore(exec.as_ref(), records)?;
        // Closed, so that the file holds every page (an open store keeps the pages of
        // journaled writes in memory until its next checkpoint) and no journal is left.
        drop(exec);
        let mut sqlite = SqliteStore::open(&dir.path().join("guide.db"))?;
        fixture::fill_sqlite(&mut sqlite, records)?;
        print_sizes(records, &exec_path, &sqlite);
        let exec = fixture::open_execstore(&exec_path, DEFAULT_CACHE)?;
        let composite = fixture::composite_copy(&sqlite, &dir.path().join("composite.db"))?;
        let fsync = FsyncProbe::create(&dir.path().join("fsync.probe"))?;
        Ok(Env {
            records,
            exec_path,
            exec: Some(exec),
            sqlite,
            composite,
            fsync,
            next_exec: AtomicU64::new(records),
            next_sqlite: AtomicU64::new(records),
            _dir: dir,
        })
    }

    fn exec(&self) -> &Arc<dyn ExecutionStorage> {
        self.exec.as_ref().expect("the execstore handle is open")
    }

    /// Closes the execstore handle and opens the file again with another cache capacity.
    fn reopen(&mut self, cache_capacity: usize) -> SqlResult<()> {
        self.exec = None;
        self.exec = Some(fixture::open_execstore(&self.exec_path, cache_capacity)?);
        Ok(())
    }

    /// Record `k` of a deterministic random walk over the dataset.
    fn random_id(&self, k: u64) -> String {
        random_id(self.records, k)
    }
}

/// Record `k` of a deterministic random walk over a dataset of `records`.
fn random_id(records: u64, k: u64) -> String {
    workload::execution_id(mix(k) % records)
}

/// The records a cache hit cycles through: fewer than any reasonable default capacity.
const HOT_SET: u64 = 512;

/// The cache capacity the benchmarks open execstore with (its documented default).
const DEFAULT_CACHE: usize = 1024;

fn print_sizes(records: u64, exec_path: &std::path::Path, sqlite: &SqliteStore) {
    let (db, wal) = sqlite::file_sizes(sqlite.path());
    println!("file sizes after {records} records:");
    fixture::print_size("execstore", fixture::execstore_file_size(exec_path));
    fixture::print_size("execstore on disk", fixture::disk_usage(exec_path));
    fixture::print_size("sqlite main", db);
    fixture::print_size("sqlite wal", wal);
    fixture::print_size("sqlite total", db + wal);
    let on_disk =
        fixture::disk_usage(sqlite.path()) + fixture::disk_usage(&sqlite::wal_path(sqlite.path()));
    fixture::print_size("sqlite total on disk", on_disk);
}

fn main() {
    let records = common::dataset_size(100_000);
    let mut env = Env::build(records).expect("datasets build");
    let mut c = common::criterion();
    fsync(&mut c, &mut env);
    get_hit(&mut c, &env);
    get_miss(&mut c, &mut env);
    lists(&mut c, &env);
    list_by_script(&mut c, &env);
    stats(&mut c, &env);
    store_one(&mut c, &env);
    store_concurrent(&mut c, &env);
    update(&mut c, &mut env);
    store_many(&mut c, &mut env);
    c.final_summary();
}

fn fsync(c: &mut Criterion, env: &mut Env) {
    let mut group = c.benchmark_group("fsync");
    group.bench_function("append_4k_fdatasync", |b| {
        env.fsync.reset().unwrap();
        b.iter(|| env.fsync.append_durably().unwrap());
    });
    group.finish();
}

fn get_hit(c: &mut Criterion, env: &Env) {
    let hot: Vec<String> = (0..HOT_SET).map(|k| env.random_id(k)).collect();
    for id in &hot {
        env.exec().get(id).unwrap().expect("hot record exists");
    }
    let mut group = c.benchmark_group("get_cache_hit");
    let mut k = 0usize;
    group.bench_function("execstore", |b| {
        b.iter(|| {
            k = (k + 1) % hot.len();
            env.exec().get(&hot[k]).unwrap()
        })
    });
    group.bench_function("sqlite", |b| {
        b.iter(|| {
            k = (k + 1) % hot.len();
            env.sqlite.get(&hot[k]).unwrap()
        })
    });
    group.finish();
}

fn get_miss(c: &mut Criterion, env: &mut Env) {
    env.reopen(0).unwrap();
    let mut group = c.benchmark_group("get_cache_miss");
    let mut k = 1_000_000u64;
    group.bench_function("execstore", |b| {
        b.iter(|| {
            k += 1;
            env.exec().get(&env.random_id(k)).unwrap().expect("record exists")
        })
    });
    group.bench_function("sqlite", |b| {
        b.iter(|| {
            k += 1;
            env.sqlite.get(&env.random_id(k)).unwrap().expect("record exists")
        })
    });
    group.finish();
    env.reopen(DEFAULT_CACHE).unwrap();
}

fn lists(c: &mut Criterion, env: &Env) {
    for offset in [0usize, 10_000] {
        let mut group = c.benchmark_group(format!("list_50_{offset}"));
        group.bench_function("execstore", |b| b.iter(|| env.exec().list(50, offset).unwrap()));
        group.bench_function("sqlite", |b| b.iter(|| env.sqlite.list(50, offset).unwrap()));
        group.bench_function("sqlite_guide_columns_only", |b| {
            b.iter(|| env.sqlite.list_guide_columns(50, offset).unwrap())
        });
        group.finish();
    }
}

fn list_by_script(c: &mut Criterion, env: &Env) {
    let script = workload::script_path(7);
    let mut group = c.benchmark_group("list_by_script_50");
    group.bench_function("execstore", |b| {
        b.iter(|| env.exec().list_by_script(&script, 50).unwrap())
    });
    group.bench_function("sqlite_guide_indexes", |b| {
        b.iter(|| env.sqlite.list_by_script(&script, 50).unwrap())
    });
    group.bench_function("sqlite_composite_index", |b| {
        b.iter(|| env.composite.list_by_script(&script, 50).unwrap())
    });
    group.finish();
}

fn stats(c: &mut Criterion, env: &Env) {
    let mut group = c.benchmark_group("stats");
    group.bench_function("execstore", |b| b.iter(|| env.exec().stats().unwrap()));
    group.bench_function("sqlite", |b| b.iter(|| env.sqlite.stats().unwrap()));
    group.finish();
}

fn fresh_record(counter: &AtomicU64) -> StoredExecution {
    workload::record(counter.fetch_add(1, Ordering::Relaxed))
}

fn store_one(c: &mut Criterion, env: &Env) {
    let mut group = c.benchmark_group("store_durable");
    group.bench_function("execstore", |b| {
        b.iter_batched(
            || fresh_record(&env.next_exec),
            |record| env.exec().store(record).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("sqlite", |b| {
        b.iter_batched(
            || fresh_record(&env.next_sqlite),
            |record| env.sqlite.store(&record).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Writer threads of the concurrent-store benchmark.
const WRITERS: u64 = 8;

fn store_concurrent(c: &mut Criterion, env: &Env) {
    let mut group = c.benchmark_group("store_durable_8_threads");
    group.throughput(Throughput::Elements(WRITERS));
    let exec = Arc::clone(env.exec());
    group.bench_function("execstore", |b| {
        b.iter_custom(|iters| {
            concurrently(iters, &env.next_exec, |_| {
                let store = Arc::clone(&exec);
                move |record| {
                    store.store(record).unwrap();
                }
            })
        })
    });
    let path = env.sqlite.path().to_path_buf();
    group.bench_function("sqlite", |b| {
        b.iter_custom(|iters| {
            concurrently(iters, &env.next_sqlite, |_| {
                let conn = rusqlite::Connection::open(&path).unwrap();
                sqlite::configure(&conn).unwrap();
                move |record| sqlite::insert(&conn, &record).unwrap()
            })
        })
    });
    // A stronger peer than the guide's pool: one connection, writers queue on a mutex
    // instead of SQLite's busy-retry sleeps.
    let shared = Mutex::new(rusqlite::Connection::open(&path).unwrap());
    sqlite::configure(&shared.lock().unwrap()).unwrap();
    group.bench_function("sqlite_one_shared_connection", |b| {
        b.iter_custom(|iters| {
            concurrently(iters, &env.next_sqlite, |_| {
                |record| sqlite::insert(&shared.lock().unwrap(), &record).unwrap()
            })
        })
    });
    group.finish();
}

/// Runs `iters` rounds of [`WRITERS`] threads each storing one fresh record with the writer
/// `make` builds for it (outside the timing); returns the time of all rounds.
fn concurrently<W, F>(iters: u64, counter: &AtomicU64, make: F) -> Duration
where
    F: Fn(u64) -> W + Sync,
    W: FnMut(StoredExecution),
{
    let barrier = Barrier::new(WRITERS as usize + 1);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (barrier, make) = (&barrier, &make);
                scope.spawn(move || {
                    let mut write = make(t);
                    let records: Vec<_> = (0..iters).map(|_| fresh_record(counter)).collect();
                    barrier.wait();
                    records.into_iter().for_each(&mut write);
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        threads.into_iter().for_each(|t| t.join().unwrap());
        started.elapsed()
    })
}

fn finish(e: &mut StoredExecution) {
    e.status = ExecutionStatus::Completed;
    e.end_time = Some(e.start_time + 1_234);
    let outputs = e.outputs.get_or_insert_with(Default::default);
    outputs.insert("score".to_owned(), json!(0.75));
}

fn update(c: &mut Criterion, env: &mut Env) {
    let mut group = c.benchmark_group("update_durable");
    let mut k = 2_000_000u64;
    group.bench_function("execstore", |b| {
        b.iter(|| {
            k += 1;
            env.exec().update(&env.random_id(k), &mut finish).unwrap().expect("record exists")
        })
    });
    group.bench_function("sqlite", |b| {
        b.iter(|| {
            k += 1;
            let id = random_id(env.records, k);
            env.sqlite.update(&id, finish).unwrap().expect("record exists")
        })
    });
    group.finish();
}

/// Records per `store_many` call.
const BATCH: u64 = 1_000;

fn store_many(c: &mut Criterion, env: &mut Env) {
    let mut group = c.benchmark_group("store_many_1000");
    group.throughput(Throughput::Elements(BATCH));
    let batch = |counter: &AtomicU64| {
        let from = counter.fetch_add(BATCH, Ordering::Relaxed);
        workload::records(from, from + BATCH)
    };
    group.bench_function(BenchmarkId::new("execstore", BATCH), |b| {
        b.iter_batched(
            || batch(&env.next_exec),
            |records| env.exec().store_many(records).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function(BenchmarkId::new("sqlite", BATCH), |b| {
        b.iter_batched(
            || batch(&env.next_sqlite),
            |records| env.sqlite.store_many(&records).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}
