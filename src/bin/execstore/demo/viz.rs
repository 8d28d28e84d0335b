//! A run's DAG visualization, as the engine would record it: every node with the state
//! it reached in that run.

use std::collections::BTreeMap;

use execstore::{
    DagVizIr, EdgeKind, ExecutionState, ExecutionStatus, NodeKind, StoredNodeResult, VizEdge,
    VizMetadata, VizNode, VizStatus,
};

use super::dags::Dag;

pub fn visualize(dag: &Dag, results: &BTreeMap<String, StoredNodeResult>, ok: bool) -> DagVizIr {
    let output = if ok { VizStatus::Completed } else { VizStatus::Pending };
    let mut nodes = vec![node("input", NodeKind::Input, Some(VizStatus::Completed))];
    nodes.extend(dag.modules.iter().map(|name| module(name, results.get(*name))));
    nodes.push(node("output", NodeKind::Output, Some(output)));
    let edges = dag.edges.iter().map(|(from, to)| edge(from, to)).collect();
    let metadata = VizMetadata {
        title: Some(dag.name.to_owned()),
        layout_direction: "LR".to_owned(),
        bounds: None,
    };
    DagVizIr { nodes, edges, groups: Vec::new(), metadata }
}

fn module(name: &str, result: Option<&StoredNodeResult>) -> VizNode {
    let mut node = node(name, NodeKind::Operation, None);
    node.execution_state = Some(match result {
        Some(result) => ExecutionState {
            status: viz_status(result.status),
            value: result.value.clone(),
            duration_ms: result.duration_ms,
            error: result.error.clone(),
        },
        None => state(VizStatus::Pending),
    });
    node
}

fn node(id: &str, kind: NodeKind, status: Option<VizStatus>) -> VizNode {
    VizNode {
        id: id.to_owned(),
        kind,
        label: id.to_owned(),
        type_signature: "Record".to_owned(),
        position: None,
        execution_state: status.map(state),
    }
}

fn state(status: VizStatus) -> ExecutionState {
    ExecutionState { status, value: None, duration_ms: None, error: None }
}

fn viz_status(status: ExecutionStatus) -> VizStatus {
    match status {
        ExecutionStatus::Running => VizStatus::Running,
        ExecutionStatus::Completed => VizStatus::Completed,
        ExecutionStatus::Failed => VizStatus::Failed,
    }
}

fn edge(from: &str, to: &str) -> VizEdge {
    VizEdge {
        id: format!("{from}->{to}"),
        source: from.to_owned(),
        target: to.to_owned(),
        label: None,
        kind: EdgeKind::Data,
    }
}
