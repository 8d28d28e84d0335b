//! The storage contract: every case runs against every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;

use execstore::{Config, Error, ExecutionStatus, MemoryStorage, RedbStorage};
use support::{Harness, Limits, TestResult};

mod cases;
mod model_based;
mod query;

/// Instantiates every contract case as a `#[test]` for one backend.
macro_rules! contract_suite {
    ($backend:ident, $factory:path) => {
        mod $backend {
            use super::*;
            contract_cases!($factory;
                store_and_get, get_missing, empty_id_is_invalid, store_replaces_same_id,
                list_newest_first_ties_by_id_descending, list_paginates, list_bad_arguments,
                list_by_script_exact_match, stats_empty, stats_counts, update_applies_and_returns,
                update_missing, update_runs_closure_once, update_refuses_id_change,
                update_moves_indexes, delete_existing_and_missing, clear_removes_everything,
                capacity_evicts_oldest_start_time, store_many_stores_all, store_many_is_atomic,
                truncates_large_values, summaries_carry_preview_and_node_count,
                concurrent_updates_lose_nothing, model_based_operations,
            );
            contract_cases!($factory, query;
                query_pages_exactly_under_concurrent_writes, query_filters_each_field,
                query_bad_arguments,
            );
        }
    };
}

macro_rules! contract_cases {
    ($factory:path, $module:ident; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() -> TestResult {
                $module::$case($factory)
            }
        )*
    };
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() -> TestResult {
                cases::$case($factory)
            }
        )*
    };
}

fn memory_harness(limits: Limits) -> Harness {
    let config = Config {
        max_executions: limits.max_executions,
        max_value_size_bytes: limits.max_value_size_bytes,
    };
    Harness { storage: Arc::new(MemoryStorage::new(config)), dir: None }
}

/// A fresh file, default durability, the cache sized by `cache_capacity`.
fn redb_harness_with_cache(limits: Limits, cache_capacity: usize) -> Harness {
    let dir = tempfile::tempdir().expect("temporary directory");
    let storage = RedbStorage::builder()
        .cache_capacity(cache_capacity)
        .max_executions(Some(limits.max_executions))
        .max_value_size_bytes(Some(limits.max_value_size_bytes))
        .open(dir.path().join("history.redb"))
        .expect("open a fresh redb file");
    Harness { storage: Arc::new(storage), dir: Some(dir) }
}

fn redb_harness(limits: Limits) -> Harness {
    redb_harness_with_cache(limits, 1024)
}

/// A cache of two records: most reads miss, evictions and refreshes happen constantly.
fn redb_tiny_cache_harness(limits: Limits) -> Harness {
    redb_harness_with_cache(limits, 2)
}

fn redb_uncached_harness(limits: Limits) -> Harness {
    redb_harness_with_cache(limits, 0)
}

contract_suite!(memory, memory_harness);
contract_suite!(redb, redb_harness);
contract_suite!(redb_tiny_cache, redb_tiny_cache_harness);
contract_suite!(redb_uncached, redb_uncached_harness);

#[test]
fn error_type_is_usable_through_dyn_storage() {
    let storage: Arc<dyn execstore::ExecutionStorage> = Arc::new(MemoryStorage::default());
    assert!(matches!(storage.get(""), Err(Error::InvalidArgument(_))));
    assert_eq!(storage.stats().unwrap().running_executions, 0);
    let _ = ExecutionStatus::ALL;
}
