//! The execution record, its summary and statistics, in Constellation's JSON shape.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::viz::DagVizIr;

/// A JSON value, as Constellation's `io.circe.Json`.
pub type Json = serde_json::Value;

/// Where an execution (or a node) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ExecutionStatus {
    /// Started and not finished.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
}

impl ExecutionStatus {
    /// Every status, in declaration order.
    pub const ALL: [ExecutionStatus; 3] =
        [ExecutionStatus::Running, ExecutionStatus::Completed, ExecutionStatus::Failed];

    /// The name used in JSON: `"Running"`, `"Completed"` or `"Failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "Running",
            ExecutionStatus::Completed => "Completed",
            ExecutionStatus::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecutionSource {
    /// The web dashboard.
    Dashboard,
    /// The VS Code extension (always sampled).
    VSCodeExtension,
    /// The HTTP API.
    API,
}

impl ExecutionSource {
    /// The name used in JSON: `"Dashboard"`, `"VSCodeExtension"` or `"API"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionSource::Dashboard => "Dashboard",
            ExecutionSource::VSCodeExtension => "VSCodeExtension",
            ExecutionSource::API => "API",
        }
    }
}

impl std::fmt::Display for ExecutionSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The result of one node of a DAG within an execution. Its field order is part of the
/// redb file format (see [`StoredExecution`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredNodeResult {
    /// The node's id.
    pub node_id: String,
    /// Where the node is in its life.
    pub status: ExecutionStatus,
    /// The value it produced (possibly truncated, see [`Config`](crate::Config)).
    #[serde(default)]
    pub value: Option<Json>,
    /// How long it ran.
    #[serde(default)]
    pub duration_ms: Option<i64>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// One execution of a DAG: what went in, what came out, and how each node did.
///
/// The redb backend stores it positionally, so the order of these fields (and of
/// [`StoredNodeResult`]'s) is part of its file format: new fields go at the end, with a
/// serde default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredExecution {
    /// Unique id (a UUID for records made by [`StoredExecution::new`]).
    pub execution_id: String,
    /// Name of the DAG that ran.
    pub dag_name: String,
    /// Path of the script the DAG came from, if any.
    #[serde(default)]
    pub script_path: Option<String>,
    /// Start, in milliseconds since the Unix epoch.
    pub start_time: i64,
    /// End, in milliseconds since the Unix epoch, once finished.
    #[serde(default)]
    pub end_time: Option<i64>,
    /// Inputs by name.
    #[serde(default)]
    pub inputs: BTreeMap<String, Json>,
    /// Outputs by name, once finished.
    #[serde(default)]
    pub outputs: Option<BTreeMap<String, Json>>,
    /// Where the execution is in its life.
    pub status: ExecutionStatus,
    /// Per-node results by node id.
    #[serde(default)]
    pub node_results: BTreeMap<String, StoredNodeResult>,
    /// The DAG visualization, if recorded.
    #[serde(default, rename = "dagVizIR")]
    pub dag_viz_ir: Option<DagVizIr>,
    /// The sampling rate this execution was recorded under.
    #[serde(default = "full_sample_rate")]
    pub sample_rate: f64,
    /// What started the execution.
    pub source: ExecutionSource,
}

fn full_sample_rate() -> f64 {
    1.0
}

impl StoredExecution {
    /// A new running execution with a random UUID v4 id, started now, sample rate 1.0.
    pub fn new(
        dag_name: impl Into<String>,
        script_path: Option<String>,
        inputs: BTreeMap<String, Json>,
        source: ExecutionSource,
    ) -> Self {
        StoredExecution {
            execution_id: uuid::Uuid::new_v4().to_string(),
            dag_name: dag_name.into(),
            script_path,
            start_time: now_millis(),
            end_time: None,
            inputs,
            outputs: None,
            status: ExecutionStatus::Running,
            node_results: BTreeMap::new(),
            dag_viz_ir: None,
            sample_rate: 1.0,
            source,
        }
    }

    /// `end_time - start_time`, once the execution has ended.
    pub fn duration_ms(&self) -> Option<i64> {
        self.end_time.map(|end| end.saturating_sub(self.start_time))
    }
}

/// The longest output preview, in characters, before it is cut and `...` appended.
pub const OUTPUT_PREVIEW_CHARS: usize = 50;

/// What `list` returns: an execution without its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    /// Unique id.
    pub execution_id: String,
    /// Name of the DAG that ran.
    pub dag_name: String,
    /// Path of the script, if any.
    #[serde(default)]
    pub script_path: Option<String>,
    /// Start, epoch millis.
    pub start_time: i64,
    /// End, epoch millis.
    #[serde(default)]
    pub end_time: Option<i64>,
    /// Where the execution is in its life.
    pub status: ExecutionStatus,
    /// What started it.
    pub source: ExecutionSource,
    /// How many node results it has.
    pub node_count: usize,
    /// `"key: <compact JSON>"` of the first output by key, cut to 50 characters plus `...`.
    #[serde(default)]
    pub output_preview: Option<String>,
}

impl From<&StoredExecution> for ExecutionSummary {
    fn from(execution: &StoredExecution) -> Self {
        ExecutionSummary {
            execution_id: execution.execution_id.clone(),
            dag_name: execution.dag_name.clone(),
            script_path: execution.script_path.clone(),
            start_time: execution.start_time,
            end_time: execution.end_time,
            status: execution.status,
            source: execution.source,
            node_count: execution.node_results.len(),
            output_preview: execution.outputs.as_ref().and_then(output_preview),
        }
    }
}

fn output_preview(outputs: &BTreeMap<String, Json>) -> Option<String> {
    let (key, value) = outputs.iter().next()?;
    let json = value.to_string();
    let mut chars = json.char_indices();
    match chars.nth(OUTPUT_PREVIEW_CHARS) {
        Some((cut, _)) => Some(format!("{key}: {}...", json.get(..cut).unwrap_or(&json))),
        None => Some(format!("{key}: {json}")),
    }
}

/// Counts behind a dashboard's header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageStats {
    /// All stored executions.
    pub total_executions: u64,
    /// Executions with status `Running`.
    pub running_executions: u64,
    /// Executions with status `Completed`.
    pub completed_executions: u64,
    /// Executions with status `Failed`.
    pub failed_executions: u64,
    /// Smallest `start_time` stored.
    pub oldest_execution_time: Option<i64>,
    /// Largest `start_time` stored.
    pub newest_execution_time: Option<i64>,
    /// The retention limit; `None` when unbounded.
    pub max_capacity: Option<u64>,
}

/// Whether to record an execution: `VSCodeExtension` runs always are; others are drawn at
/// random below `script_rate`, or `config_rate` when the script sets none.
pub fn should_sample(source: ExecutionSource, script_rate: Option<f64>, config_rate: f64) -> bool {
    if source == ExecutionSource::VSCodeExtension {
        return true;
    }
    let rate = script_rate.unwrap_or(config_rate);
    rand::random::<f64>() < rate
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
