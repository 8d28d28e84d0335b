//! Shared test helpers: record builders and the backend harness of the contract suite.
#![allow(dead_code, reason = "each test crate uses a different subset")]

pub mod faulty;

use std::collections::BTreeMap;
use std::sync::Arc;

use execstore::{
    ExecutionSource, ExecutionStatus, ExecutionStorage, Json, StoredExecution, StoredNodeResult,
};
use serde_json::json;

/// What every test returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh temporary directory and the path of a database file in it (not created); the
/// directory lives as long as the returned guard.
pub fn temp_file() -> Result<(tempfile::TempDir, std::path::PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    Ok((dir, path))
}

/// Runs `work` on another thread and returns its result, or an error naming `what` if it
/// has not returned within a minute (a test of something that must not block).
pub fn on_another_thread<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Box<dyn std::error::Error>> {
    let (done, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(work()));
    let stuck = std::time::Duration::from_secs(60);
    answer.recv_timeout(stuck).map_err(|_| format!("{what} never returned").into())
}

/// The limits a backend under test is built with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_executions: usize,
    pub max_value_size_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_executions: 1000, max_value_size_bytes: 10_240 }
    }
}

/// A backend under test; `dir` keeps a temporary directory alive as long as the storage.
pub struct Harness {
    pub storage: Arc<dyn ExecutionStorage>,
    pub dir: Option<tempfile::TempDir>,
}

/// A completed execution with two inputs, one output and two node results.
pub fn execution(id: &str, start_time: i64, script: Option<&str>) -> StoredExecution {
    let inputs = BTreeMap::from([("a".to_owned(), json!(1)), ("b".to_owned(), json!("two"))]);
    let outputs = BTreeMap::from([("result".to_owned(), json!({"sum": 3}))]);
    let node_results = BTreeMap::from([
        ("n1".to_owned(), node("n1", ExecutionStatus::Completed, Some(json!(1)))),
        ("n2".to_owned(), node("n2", ExecutionStatus::Completed, Some(json!([1, 2])))),
    ]);
    StoredExecution {
        execution_id: id.to_owned(),
        dag_name: format!("dag-{}", start_time % 3),
        script_path: script.map(str::to_owned),
        start_time,
        end_time: Some(start_time + 5),
        inputs,
        outputs: Some(outputs),
        status: ExecutionStatus::Completed,
        node_results,
        dag_viz_ir: None,
        sample_rate: 1.0,
        source: ExecutionSource::API,
    }
}

/// A copy, in `dir`, of the checked-in database written by execstore 0.1 (schema 1).
pub fn schema_1_fixture_copy(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    fixture_copy("execstore-schema1.redb", dir)
}

/// A copy, in `dir`, of the checked-in database `tests/fixtures/{name}`.
pub fn fixture_copy(name: &str, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let copy = dir.join(name);
    std::fs::copy(fixture, &copy)?;
    Ok(copy)
}

/// A node result with this status and value.
pub fn node(id: &str, status: ExecutionStatus, value: Option<Json>) -> StoredNodeResult {
    StoredNodeResult { node_id: id.to_owned(), status, value, duration_ms: Some(2), error: None }
}

/// The ids of a page, in order.
pub fn ids(page: &[execstore::ExecutionSummary]) -> Vec<&str> {
    page.iter().map(|s| s.execution_id.as_str()).collect()
}

/// A two-node DAG visualization with positions and execution state.
pub fn viz() -> execstore::DagVizIr {
    use execstore::{
        DagVizIr, EdgeKind, ExecutionState, NodeKind, Position, VizEdge, VizMetadata, VizNode,
        VizStatus,
    };
    let node = |id: &str, kind| VizNode {
        id: id.to_owned(),
        kind,
        label: format!("node {id}"),
        type_signature: "Int".to_owned(),
        position: Some(Position { x: 1.5, y: -2.0 }),
        execution_state: Some(ExecutionState {
            status: VizStatus::Completed,
            value: Some(json!({"v": id})),
            duration_ms: Some(3),
            error: None,
        }),
    };
    DagVizIr {
        nodes: vec![node("in", NodeKind::Input), node("out", NodeKind::Output)],
        edges: vec![VizEdge {
            id: "e1".to_owned(),
            source: "in".to_owned(),
            target: "out".to_owned(),
            label: None,
            kind: EdgeKind::Data,
        }],
        groups: Vec::new(),
        metadata: VizMetadata {
            title: Some("demo".to_owned()),
            layout_direction: "TB".to_owned(),
            bounds: None,
        },
    }
}

/// The ignored test `name` of the running test binary, as a child process whose stdout the
/// caller reads line by line (stderr dropped): the crash tests' writer, to be killed.
pub fn child_test(name: &str) -> std::io::Result<std::process::Command> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    Ok(command)
}
