//! `demo`: a simulated DAG engine filling the history the way a real one would — a
//! record stored when a run starts, updated when it ends, lifecycle events through the
//! audit log — then a look at the result.

use std::collections::BTreeMap;
use std::sync::Arc;

mod dags;
mod viz;

use execstore::{
    AuditConfig, CompositeListener, ExecutionListener, ExecutionSource, ExecutionStatus,
    ExecutionStorage, RedbStorage, StoredExecution, StoredNodeResult,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use self::dags::{Dag, DAGS};
use crate::inspect;
use crate::output::{progress, Out};

const WEEK_MS: i64 = 7 * 86_400_000;

/// How a simulated run ends.
enum Ending {
    Completed,
    Failed(String),
    Cancelled,
    StillRunning,
}

pub fn demo(storage: &RedbStorage, runs: usize, out: &mut Out) -> anyhow::Result<()> {
    let audit = storage.audit_log(AuditConfig::default())?;
    let listener =
        CompositeListener::new(vec![Arc::new(audit.clone()) as Arc<dyn ExecutionListener>]);
    let mut rng = StdRng::seed_from_u64(runs as u64);
    let now = execstore::now_millis();
    let bar = progress(runs as u64, "demo");
    for i in 0..runs {
        let dag = &DAGS[i % DAGS.len()];
        let start = start_time(now, i, runs, &mut rng);
        // Only the newest runs can still be going.
        let ending = pick_ending(&mut rng, i + (runs / 20).max(1) >= runs);
        simulate_run(storage, &listener, dag, start, ending, &mut rng)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    audit.flush()?;
    audit.close()?;
    if out.json {
        return out.json_pretty(&storage.stats()?);
    }
    out.line(format!(
        "simulated {runs} runs of {} DAGs into {}\n",
        DAGS.len(),
        storage.path().display()
    ))?;
    inspect::stats(storage, out)?;
    out.line("\nnewest runs:")?;
    inspect::summaries_table(&storage.list(10, 0)?, out)
}

/// Run `i` of `runs`: spread over the last week, oldest first, with a little jitter; the
/// newest started a minute ago, so even the slowest has ended by now.
fn start_time(now: i64, i: usize, runs: usize, rng: &mut StdRng) -> i64 {
    let later_runs = runs.saturating_sub(i + 1) as i64;
    let ago = later_runs * WEEK_MS / runs.saturating_sub(1).max(1) as i64;
    now - ago - 60_000 - rng.random_range(0..1_000)
}

/// One run as an engine records it: stored when it starts, its modules, then one update
/// with the outcome, and the lifecycle events around them.
fn simulate_run(
    storage: &RedbStorage,
    listener: &dyn ExecutionListener,
    dag: &Dag,
    start: i64,
    ending: Ending,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let run = new_run(dag, start, rng);
    let run_id = Uuid::parse_str(&run.execution_id)?;
    let id = storage.store(run)?;
    listener.on_execution_start(run_id, dag.name);
    let (nodes, elapsed) = run_modules(listener, run_id, dag, &ending, rng);
    let completed = matches!(ending, Ending::Completed);
    // Like a real engine, not every run records its visualization.
    let viz = rng.random_bool(0.8).then(|| viz::visualize(dag, &nodes, completed));
    let outputs = completed.then(|| outputs(rng));
    let (status, end_time) = match ending {
        Ending::StillRunning => (ExecutionStatus::Running, None),
        Ending::Completed => (ExecutionStatus::Completed, Some(start + elapsed)),
        Ending::Failed(_) | Ending::Cancelled => (ExecutionStatus::Failed, Some(start + elapsed)),
    };
    storage.update(&id, &mut |stored| {
        stored.status = status;
        stored.end_time = end_time;
        stored.node_results = nodes.clone();
        stored.dag_viz_ir = viz.clone();
        stored.outputs = outputs.clone();
    })?;
    report_end(listener, run_id, dag.name, &ending, elapsed as u64);
    Ok(())
}

/// A run as it starts: Running, with its inputs.
fn new_run(dag: &Dag, start: i64, rng: &mut StdRng) -> StoredExecution {
    let region = ["eu-west-1", "us-east-1", "ap-south-1"][rng.random_range(0..3)];
    let inputs = BTreeMap::from([
        ("batchSize".to_owned(), json!(rng.random_range(100..10_000))),
        ("region".to_owned(), json!(region)),
    ]);
    let source =
        [ExecutionSource::API, ExecutionSource::Dashboard, ExecutionSource::VSCodeExtension]
            [rng.random_range(0..3)];
    let mut run = StoredExecution::new(dag.name, Some(dag.script.to_owned()), inputs, source);
    run.start_time = start;
    run
}

fn outputs(rng: &mut StdRng) -> BTreeMap<String, serde_json::Value> {
    let checksum = format!("{:016x}", rng.random::<u64>());
    BTreeMap::from([
        ("rowsWritten".to_owned(), json!(rng.random_range(90..10_000))),
        ("summary".to_owned(), json!({"warnings": rng.random_range(0..4), "checksum": checksum})),
    ])
}

/// The run's last event: none while it still runs.
fn report_end(listener: &dyn ExecutionListener, run: Uuid, dag: &str, ending: &Ending, ms: u64) {
    match ending {
        Ending::StillRunning => {}
        Ending::Cancelled => listener.on_execution_cancelled(run, dag),
        Ending::Failed(_) => listener.on_execution_complete(run, dag, false, ms),
        Ending::Completed => listener.on_execution_complete(run, dag, true, ms),
    }
}

/// About 10% of runs fail and 3% are cancelled; among the newest, a third still run.
fn pick_ending(rng: &mut StdRng, newest: bool) -> Ending {
    if newest && rng.random_bool(1.0 / 3.0) {
        return Ending::StillRunning;
    }
    match rng.random_range(0..100) {
        0..=9 => Ending::Failed(
            ["connection reset by peer", "schema mismatch: column `amount`", "timeout after 30s"]
                [rng.random_range(0..3)]
            .to_owned(),
        ),
        10..=12 => Ending::Cancelled,
        _ => Ending::Completed,
    }
}

/// Runs the modules in order; a failing run fails at a random module, a cancelled or
/// still-running one stops part way. Returns the node results and the elapsed time.
fn run_modules(
    listener: &dyn ExecutionListener,
    run_id: Uuid,
    dag: &Dag,
    ending: &Ending,
    rng: &mut StdRng,
) -> (BTreeMap<String, StoredNodeResult>, i64) {
    let stop_at = match ending {
        Ending::Completed => dag.modules.len(),
        _ => rng.random_range(0..dag.modules.len()),
    };
    let mut nodes = BTreeMap::new();
    let mut elapsed = 0;
    for (index, name) in dag.modules.iter().enumerate().take(stop_at + 1) {
        let module_id = Uuid::new_v4();
        let took = rng.random_range(5..2_500);
        listener.on_module_start(run_id, module_id, name);
        let (status, value, error) = match ending {
            Ending::Failed(reason) if index == stop_at => {
                let error = std::io::Error::other(reason.clone());
                listener.on_module_failed(run_id, module_id, name, &error);
                (ExecutionStatus::Failed, None, Some(reason.clone()))
            }
            Ending::Cancelled if index == stop_at => {
                (ExecutionStatus::Failed, None, Some("cancelled".to_owned()))
            }
            Ending::StillRunning if index == stop_at => (ExecutionStatus::Running, None, None),
            _ => {
                listener.on_module_complete(run_id, module_id, name, took as u64);
                (
                    ExecutionStatus::Completed,
                    Some(json!({"records": rng.random_range(1..5_000)})),
                    None,
                )
            }
        };
        elapsed += took;
        let node = StoredNodeResult {
            node_id: (*name).to_owned(),
            status,
            value,
            duration_ms: Some(took),
            error,
        };
        nodes.insert((*name).to_owned(), node);
    }
    (nodes, elapsed)
}
