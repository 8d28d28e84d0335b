//! The synchronous API in a few lines: open, store, update, list, stats.
//!
//! `cargo run --example quickstart [FILE]` (default: a file in a temporary directory).

use std::collections::BTreeMap;
use std::path::PathBuf;

use execstore::{ExecutionSource, ExecutionStatus, ExecutionStorage, RedbStorage, StoredExecution};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A directory removed at the end (the file and its journal with it); pass a path to keep it.
    let dir = tempfile::tempdir()?;
    let path =
        std::env::args_os().nth(1).map_or_else(|| dir.path().join("history.redb"), PathBuf::from);
    let store = RedbStorage::open(&path)?;

    // A run starts: record it as Running.
    let inputs = BTreeMap::from([("orders".to_owned(), json!(1_250))]);
    let run =
        StoredExecution::new("nightly-etl", Some("etl.cst".into()), inputs, ExecutionSource::API);
    let id = store.store(run)?;

    // It ends: one atomic read-modify-write.
    store.update(&id, &mut |run| {
        run.status = ExecutionStatus::Completed;
        run.end_time = Some(run.start_time + 4_200);
        run.outputs = Some(BTreeMap::from([("loaded".to_owned(), json!(1_248))]));
    })?;

    for summary in store.list(10, 0)? {
        println!(
            "{}  {}  {}  {}",
            summary.execution_id,
            summary.dag_name,
            summary.status,
            summary.output_preview.unwrap_or_default()
        );
    }
    let stats = store.stats()?;
    println!(
        "{} executions, {} completed, in {}",
        stats.total_executions,
        stats.completed_executions,
        path.display()
    );
    Ok(())
}
