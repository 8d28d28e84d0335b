//! Shared by the bench binaries: the workload, the SQLite baselines and the datasets.
#![allow(dead_code, reason = "each bench binary uses a different subset")]

pub mod events;
pub mod fixture;
pub mod sqlite;
pub mod workload;

use std::time::Duration;

use criterion::Criterion;

/// Criterion settings modest enough for a 2-core machine; command-line flags still apply.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// Records in a dataset: `EXECSTORE_BENCH_RECORDS` or `default`.
pub fn dataset_size(default: u64) -> u64 {
    std::env::var("EXECSTORE_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
