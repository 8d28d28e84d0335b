//! Deterministic, realistic execution records of about 2 KiB (serde_json length), the same
//! for every backend and every run: record `i` depends on `i` only.

use std::collections::BTreeMap;

use execstore::{
    DagVizIr, EdgeKind, ExecutionSource, ExecutionStatus, Json, NodeKind, StoredExecution,
    StoredNodeResult, VizEdge, VizMetadata, VizNode,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The DAGs a workload runs.
pub const DAG_NAMES: [&str; 20] = [
    "customer-onboarding",
    "fraud-scoring",
    "invoice-reconciliation",
    "order-enrichment",
    "churn-prediction",
    "inventory-sync",
    "price-optimizer",
    "email-campaign",
    "risk-assessment",
    "shipment-tracking",
    "kyc-verification",
    "recommendation-feed",
    "ledger-close",
    "support-triage",
    "lead-scoring",
    "payout-batch",
    "catalog-import",
    "sla-monitor",
    "tax-calculation",
    "content-moderation",
];

/// How many distinct script paths records use.
pub const SCRIPT_COUNT: u64 = 50;

/// 2026-01-01T00:00:00Z in epoch millis: record 0 starts here.
pub const BASE_TIME: i64 = 1_767_225_600_000;

/// The modules of every DAG, in order: node results and audit events name them.
pub const MODULES: [&str; 8] = [
    "FetchCustomer",
    "LoadHistory",
    "Normalize",
    "ScoreModel",
    "ApplyRules",
    "Enrich",
    "Aggregate",
    "Publish",
];

const TEAMS: [&str; 5] = ["payments", "growth", "ops", "risk", "data"];

/// The `k`-th script path (`k` modulo [`SCRIPT_COUNT`]).
pub fn script_path(k: u64) -> String {
    let k = k % SCRIPT_COUNT;
    let team = TEAMS.get((k % 5) as usize).copied().unwrap_or("misc");
    format!("scripts/{team}/pipeline_{k:02}.cst")
}

/// A well-mixed 64-bit hash of `x` (splitmix64's finalizer).
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The id of record `i`: a UUID string derived from `i`.
pub fn execution_id(i: u64) -> String {
    uuid::Uuid::from_u64_pair(mix(i), mix(i ^ 0xA5A5_A5A5)).to_string()
}

/// Start time of record `i`: about one execution every 600 ms, in index order.
pub fn start_time(i: u64) -> i64 {
    BASE_TIME + (i as i64) * 600 + (mix(i) % 500) as i64
}

/// Mean length in bytes of records `0..n` as compact JSON.
pub fn mean_json_len(n: u64) -> f64 {
    let total: usize =
        (0..n).map(|i| serde_json::to_vec(&record(i)).map_or(0, |json| json.len())).sum();
    total as f64 / n.max(1) as f64
}

/// Records `from..to`.
pub fn records(from: u64, to: u64) -> Vec<StoredExecution> {
    (from..to).map(record).collect()
}

/// Record `i` of the workload.
pub fn record(i: u64) -> StoredExecution {
    let mut rng = StdRng::seed_from_u64(mix(i));
    let start = start_time(i);
    let status = pick_status(&mut rng);
    let dag = DAG_NAMES.get((i % 20) as usize).copied().unwrap_or("dag");
    let duration = rng.random_range(40..4_000);
    StoredExecution {
        execution_id: execution_id(i),
        dag_name: dag.to_owned(),
        script_path: Some(script_path(mix(i ^ 7) % SCRIPT_COUNT)),
        start_time: start,
        end_time: (status != ExecutionStatus::Running).then_some(start + duration),
        inputs: inputs(&mut rng, i),
        outputs: (status == ExecutionStatus::Completed).then(|| outputs(&mut rng)),
        status,
        node_results: node_results(&mut rng, status),
        dag_viz_ir: Some(viz(dag)),
        sample_rate: 1.0,
        source: pick_source(&mut rng),
    }
}

fn pick_status(rng: &mut StdRng) -> ExecutionStatus {
    match rng.random_range(0..100) {
        0..85 => ExecutionStatus::Completed,
        85..95 => ExecutionStatus::Failed,
        _ => ExecutionStatus::Running,
    }
}

fn pick_source(rng: &mut StdRng) -> ExecutionSource {
    match rng.random_range(0..10) {
        0..6 => ExecutionSource::API,
        6..9 => ExecutionSource::Dashboard,
        _ => ExecutionSource::VSCodeExtension,
    }
}

fn inputs(rng: &mut StdRng, i: u64) -> BTreeMap<String, Json> {
    let amount = f64::from(rng.random_range(100..1_000_000)) / 100.0;
    let currency = ["EUR", "USD", "GBP"].get(rng.random_range(0..3)).copied();
    let tags = ["priority", "batch", "retry"].get(..rng.random_range(0..=3));
    BTreeMap::from([
        ("customerId".to_owned(), json!(format!("cust-{:08x}", mix(i) as u32))),
        ("amount".to_owned(), json!(amount)),
        (
            "options".to_owned(),
            json!({
                "currency": currency,
                "express": rng.random_bool(0.3),
                "tags": tags,
            }),
        ),
    ])
}

fn outputs(rng: &mut StdRng) -> BTreeMap<String, Json> {
    BTreeMap::from([
        (
            "decision".to_owned(),
            json!({
                "approved": rng.random_bool(0.8),
                "reason": "score above threshold",
                "reviewer": null,
            }),
        ),
        ("score".to_owned(), json!(f64::from(rng.random_range(0..10_000)) / 10_000.0)),
    ])
}

fn node_results(rng: &mut StdRng, status: ExecutionStatus) -> BTreeMap<String, StoredNodeResult> {
    let failed_at = (status == ExecutionStatus::Failed).then(|| rng.random_range(0..8));
    (0..8)
        .map(|k| {
            let failed = failed_at == Some(k);
            let node = StoredNodeResult {
                node_id: format!("n{k}"),
                status: if failed { ExecutionStatus::Failed } else { ExecutionStatus::Completed },
                value: (!failed).then(|| node_value(rng, k)),
                duration_ms: Some(rng.random_range(1..900)),
                error: failed.then(|| "upstream timeout after 30000 ms".to_owned()),
            };
            (format!("n{k}"), node)
        })
        .collect()
}

fn node_value(rng: &mut StdRng, k: usize) -> Json {
    match k % 4 {
        0 => json!({"id": rng.random_range(1..100_000), "tier": "gold"}),
        1 => json!([rng.random_range(0..100), rng.random_range(0..100), rng.random_range(0..100)]),
        2 => json!(f64::from(rng.random_range(0..1_000)) / 1_000.0),
        _ => json!(format!("ok-{}", rng.random_range(0..1_000))),
    }
}

fn viz(dag: &str) -> DagVizIr {
    let nodes = (0..10).map(viz_node).collect();
    let edges = EDGES
        .iter()
        .enumerate()
        .map(|(k, (from, to))| VizEdge {
            id: format!("e{k}"),
            source: format!("v{from}"),
            target: format!("v{to}"),
            label: None,
            kind: if k % 5 == 4 { EdgeKind::Optional } else { EdgeKind::Data },
        })
        .collect();
    let metadata = VizMetadata {
        title: Some(dag.to_owned()),
        layout_direction: "TB".to_owned(),
        bounds: None,
    };
    DagVizIr { nodes, edges, groups: Vec::new(), metadata }
}

/// 12 edges over 10 nodes: 2 inputs, 6 operations, 2 outputs.
const EDGES: [(u8, u8); 12] = [
    (0, 2),
    (1, 2),
    (0, 3),
    (2, 4),
    (3, 4),
    (4, 5),
    (3, 6),
    (5, 7),
    (6, 7),
    (7, 8),
    (5, 9),
    (6, 9),
];

const SIGNATURES: [&str; 4] = ["Customer", "List<Order>", "Float", "Decision"];

fn viz_node(k: usize) -> VizNode {
    let kind = match k {
        0 | 1 => NodeKind::Input,
        8 | 9 => NodeKind::Output,
        _ => NodeKind::Operation,
    };
    let label = match k {
        0 => "customerId",
        1 => "amount",
        8 => "decision",
        9 => "score",
        _ => MODULES.get(k - 2).copied().unwrap_or("Module"),
    };
    VizNode {
        id: format!("v{k}"),
        kind,
        label: label.to_owned(),
        type_signature: SIGNATURES.get(k % 4).copied().unwrap_or("Any").to_owned(),
        // Constellation lays the DAG out in the browser: stored IRs carry no positions.
        position: None,
        execution_state: None,
    }
}
