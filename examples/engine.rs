//! A tiny simulated DAG engine on tokio: runs execute concurrently, and within a run every
//! module whose inputs are ready executes concurrently with its siblings; every
//! lifecycle event goes through a `CompositeListener` to the audit log and to a logging
//! listener, and each run is recorded in `AsyncStorage`.
//!
//! `cargo run --example engine`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use execstore::{
    AsyncStorage, AuditConfig, CompositeListener, ExecutionListener, ExecutionSource,
    ExecutionStatus, RedbStorage, StoredExecution, StoredNodeResult,
};
use serde_json::json;
use uuid::Uuid;

/// Prints module failures and finished runs, as an application's log would.
struct LoggingListener;

impl ExecutionListener for LoggingListener {
    fn on_execution_start(&self, _: Uuid, _: &str) {}
    fn on_module_start(&self, _: Uuid, _: Uuid, _: &str) {}
    fn on_module_complete(&self, _: Uuid, _: Uuid, _: &str, _: u64) {}
    fn on_module_failed(
        &self,
        run: Uuid,
        _: Uuid,
        module: &str,
        error: &(dyn std::error::Error + 'static),
    ) {
        println!("[log] run {run}: module {module} failed: {error}");
    }
    fn on_execution_complete(&self, run: Uuid, dag: &str, succeeded: bool, ms: u64) {
        println!(
            "[log] run {run} of {dag}: {} in {ms} ms",
            if succeeded { "ok" } else { "FAILED" }
        );
    }
}

/// The DAG, layer by layer: a layer's modules depend only on earlier layers, so they run
/// concurrently once the layer before them has finished.
const LAYERS: [&[&str]; 3] = [&["fetch"], &["parse", "enrich"], &["store"]];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("engine.redb"))?;
    let audit = storage.audit_log(AuditConfig::default())?;
    let listener: Arc<dyn ExecutionListener> =
        Arc::new(CompositeListener::new(vec![Arc::new(audit.clone()), Arc::new(LoggingListener)]));
    let history = AsyncStorage::new(storage);

    let runs: Vec<_> =
        (0..8).map(|n| tokio::spawn(run_dag(history.clone(), Arc::clone(&listener), n))).collect();
    let mut ids = Vec::new();
    for run in runs {
        ids.push(run.await??);
    }

    audit.flush()?;
    let stats = history.stats().await?;
    println!(
        "\n{} runs recorded: {} completed, {} failed",
        stats.total_executions, stats.completed_executions, stats.failed_executions
    );
    if let Some(first) = ids.first() {
        println!("audit timeline of {first}:");
        let events = audit.events_for(Uuid::parse_str(first)?)?;
        let start = events.first().map_or(0, |event| event.timestamp);
        for event in events {
            println!(
                "  #{:<3} +{:>3} ms  {:<20} {}",
                event.seq,
                event.timestamp - start,
                event.kind,
                event.module_name.or(event.dag_name).unwrap_or_default()
            );
        }
    }
    audit.close()?;
    Ok(())
}

/// One run: stored as Running, its layers in order, then updated with the outcome. A
/// failed module stops the run before the next layer.
async fn run_dag(
    history: AsyncStorage<RedbStorage>,
    listener: Arc<dyn ExecutionListener>,
    n: u64,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let inputs = BTreeMap::from([("batch".to_owned(), json!(n))]);
    let run =
        StoredExecution::new("ingest", Some("ingest.cst".into()), inputs, ExecutionSource::API);
    let (id, run_id) = (run.execution_id.clone(), Uuid::parse_str(&run.execution_id)?);
    history.store(run).await?;
    listener.on_execution_start(run_id, "ingest");

    let mut nodes = BTreeMap::new();
    for layer in LAYERS {
        let modules: Vec<_> = layer
            .iter()
            .map(|&name| tokio::spawn(run_module(Arc::clone(&listener), run_id, name, n)))
            .collect();
        for module in modules {
            let node = module.await?;
            nodes.insert(node.node_id.clone(), node);
        }
        if nodes.values().any(|node| node.status == ExecutionStatus::Failed) {
            break;
        }
    }

    let succeeded = nodes.values().all(|node| node.status == ExecutionStatus::Completed);
    let elapsed = started.elapsed().as_millis() as u64;
    history
        .update(&id, move |run| {
            run.status =
                if succeeded { ExecutionStatus::Completed } else { ExecutionStatus::Failed };
            run.end_time = Some(run.start_time + elapsed as i64);
            run.outputs = succeeded.then(|| BTreeMap::from([("rows".to_owned(), json!(100 * n))]));
            run.node_results = nodes;
        })
        .await?;
    listener.on_execution_complete(run_id, "ingest", succeeded, elapsed);
    Ok(id)
}

async fn run_module(
    listener: Arc<dyn ExecutionListener>,
    run: Uuid,
    name: &'static str,
    n: u64,
) -> StoredNodeResult {
    let module_id = Uuid::new_v4();
    listener.on_module_start(run, module_id, name);
    let took = 5 + (n * 7 + name.len() as u64) % 20;
    tokio::time::sleep(Duration::from_millis(took)).await;
    let fails = name == "enrich" && n % 4 == 3;
    let (status, value, error) = if fails {
        let error = std::io::Error::other("upstream returned 503");
        listener.on_module_failed(run, module_id, name, &error);
        (ExecutionStatus::Failed, None, Some(error.to_string()))
    } else {
        listener.on_module_complete(run, module_id, name, took);
        (ExecutionStatus::Completed, Some(json!({"ok": true})), None)
    };
    StoredNodeResult {
        node_id: name.to_owned(),
        status,
        value,
        duration_ms: Some(took as i64),
        error,
    }
}
