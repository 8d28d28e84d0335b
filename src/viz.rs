//! The DAG visualization IR, mirroring Constellation's `DagVizIR`.
//!
//! Field names and enum values are Constellation's JSON shape. Fields that Constellation
//! gives a default (`groups`, `metadata`, `kind`, `collapsed`, `layoutDirection`) may be
//! absent when decoding.

use serde::{Deserialize, Serialize};

use crate::model::Json;

/// The complete DAG visualization of one script: nodes, edges, groups and metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DagVizIr {
    /// Every node of the DAG.
    pub nodes: Vec<VizNode>,
    /// Every edge of the DAG.
    pub edges: Vec<VizEdge>,
    /// Collapsible groups of nodes.
    #[serde(default)]
    pub groups: Vec<NodeGroup>,
    /// Title, layout direction and bounds.
    #[serde(default)]
    pub metadata: VizMetadata,
}

/// A node of the visualization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VizNode {
    /// Node id, unique within the DAG.
    pub id: String,
    /// What the node does.
    pub kind: NodeKind,
    /// Display name, e.g. `FetchCustomer`.
    pub label: String,
    /// Human-readable type, e.g. `{ id: String }`.
    pub type_signature: String,
    /// Layout position, when a layout engine computed one.
    #[serde(default)]
    pub position: Option<Position>,
    /// Runtime state, once the node ran.
    #[serde(default)]
    pub execution_state: Option<ExecutionState>,
}

/// An edge between two nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VizEdge {
    /// Edge id.
    pub id: String,
    /// Id of the source node.
    pub source: String,
    /// Id of the target node.
    pub target: String,
    /// Parameter name for module inputs.
    #[serde(default)]
    pub label: Option<String>,
    /// Data, optional or control flow.
    #[serde(default)]
    pub kind: EdgeKind,
}

/// A collapsible group of nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroup {
    /// Group id.
    pub id: String,
    /// Display name.
    pub label: String,
    /// Ids of the member nodes.
    pub node_ids: Vec<String>,
    /// Whether the group is drawn collapsed.
    #[serde(default)]
    pub collapsed: bool,
}

/// Title, layout direction and bounds of the visualization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VizMetadata {
    /// Optional title.
    #[serde(default)]
    pub title: Option<String>,
    /// `"TB"` (top to bottom, the default) or `"LR"` (left to right).
    #[serde(default = "default_layout_direction")]
    pub layout_direction: String,
    /// Bounding box, once laid out.
    #[serde(default)]
    pub bounds: Option<Bounds>,
}

impl Default for VizMetadata {
    fn default() -> Self {
        VizMetadata { title: None, layout_direction: default_layout_direction(), bounds: None }
    }
}

fn default_layout_direction() -> String {
    "TB".to_owned()
}

/// A point in layout space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

/// Bounding box of a laid-out DAG.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bounds {
    /// Smallest x.
    pub min_x: f64,
    /// Smallest y.
    pub min_y: f64,
    /// Largest x.
    pub max_x: f64,
    /// Largest y.
    pub max_y: f64,
}

/// Runtime state attached to a node after it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionState {
    /// Where the node is in its life.
    pub status: VizStatus,
    /// The value it produced.
    #[serde(default)]
    pub value: Option<Json>,
    /// How long it ran.
    #[serde(default)]
    pub duration_ms: Option<i64>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// The status of a node in the visualization (Constellation's viz `ExecutionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VizStatus {
    /// Not yet executed.
    Pending,
    /// Currently executing.
    Running,
    /// Finished successfully.
    Completed,
    /// Failed.
    Failed,
}

/// What a visualization node represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeKind {
    /// External data entering the DAG.
    Input,
    /// Declared output of the DAG.
    Output,
    /// A module call.
    Operation,
    /// A literal value.
    Literal,
    /// A record merge.
    Merge,
    /// A field projection.
    Project,
    /// A single field access.
    FieldAccess,
    /// An if/else expression.
    Conditional,
    /// A guard (`expr when cond`).
    Guard,
    /// A multi-way branch.
    Branch,
    /// A coalesce (`??`).
    Coalesce,
    /// A higher-order operation (map, filter, ...).
    HigherOrder,
    /// A list literal.
    ListLiteral,
    /// A boolean operator.
    BooleanOp,
    /// String interpolation.
    StringInterp,
}

/// The kind of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum EdgeKind {
    /// Data flow (the default).
    #[default]
    Data,
    /// Optional data flow.
    Optional,
    /// Control flow.
    Control,
}
