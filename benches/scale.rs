//! Scale: `list(50, 0)`, `list_by_script(_, 50)` and `stats` on 10,000 and on 1,000,000
//! records: `cargo bench --bench scale`. The two datasets are built once and kept in
//! `EXECSTORE_BENCH_DATA` (default `$TMPDIR/execstore-bench-scale`) for later runs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark aborts on any failure")]

mod common;

use std::path::Path;
use std::sync::Arc;

use criterion::BenchmarkId;
use execstore::ExecutionStorage;

use common::fixture;
use common::sqlite::SqlResult;
use common::workload;

/// Dataset sizes compared: the large one must cost at most 1.5× the small one.
const SIZES: [u64; 2] = [10_000, 1_000_000];

/// The dataset of `records` records, reused when a previous run left it complete.
fn dataset(dir: &Path, records: u64) -> SqlResult<Arc<dyn ExecutionStorage>> {
    let path = dir.join(format!("scale-{records}.redb"));
    let store = fixture::open_execstore(&path, 1024)?;
    let stored = store.stats()?.total_executions;
    if stored != records {
        store.clear()?;
        fixture::fill_execstore(store.as_ref(), records)?;
    }
    fixture::print_size(
        &format!("execstore with {records} records"),
        fixture::execstore_file_size(&path),
    );
    Ok(store)
}

fn main() {
    let dir = std::env::var_os("EXECSTORE_BENCH_DATA")
        .map_or_else(|| std::env::temp_dir().join("execstore-bench-scale"), Into::into);
    std::fs::create_dir_all(&dir).unwrap();
    let stores: Vec<_> = SIZES.iter().map(|&n| (n, dataset(&dir, n).unwrap())).collect();
    let mut c = common::criterion();
    let script = workload::script_path(7);
    let mut group = c.benchmark_group("scale_list_50_0");
    for (n, store) in &stores {
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| store.list(50, 0).unwrap())
        });
    }
    group.finish();
    let mut group = c.benchmark_group("scale_list_by_script_50");
    for (n, store) in &stores {
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| store.list_by_script(&script, 50).unwrap())
        });
    }
    group.finish();
    let mut group = c.benchmark_group("scale_stats");
    for (n, store) in &stores {
        group.bench_function(BenchmarkId::from_parameter(n), |b| b.iter(|| store.stats().unwrap()));
    }
    group.finish();
    c.final_summary();
}
