//! `AuditEvent`: one lifecycle callback as recorded, in Constellation's event shape.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which callback an event records. JSON: `"execution.started"`, `"module.completed"`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditEventKind {
    /// `on_execution_start`.
    #[serde(rename = "execution.started")]
    ExecutionStarted,
    /// `on_module_start`.
    #[serde(rename = "module.started")]
    ModuleStarted,
    /// `on_module_complete`.
    #[serde(rename = "module.completed")]
    ModuleCompleted,
    /// `on_module_failed`.
    #[serde(rename = "module.failed")]
    ModuleFailed,
    /// `on_execution_complete`.
    #[serde(rename = "execution.completed")]
    ExecutionCompleted,
    /// `on_execution_cancelled`.
    #[serde(rename = "execution.cancelled")]
    ExecutionCancelled,
}

impl AuditEventKind {
    /// Every kind, in lifecycle order.
    pub const ALL: [AuditEventKind; 6] = [
        AuditEventKind::ExecutionStarted,
        AuditEventKind::ModuleStarted,
        AuditEventKind::ModuleCompleted,
        AuditEventKind::ModuleFailed,
        AuditEventKind::ExecutionCompleted,
        AuditEventKind::ExecutionCancelled,
    ];

    /// The event type string (`"execution.started"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventKind::ExecutionStarted => "execution.started",
            AuditEventKind::ModuleStarted => "module.started",
            AuditEventKind::ModuleCompleted => "module.completed",
            AuditEventKind::ModuleFailed => "module.failed",
            AuditEventKind::ExecutionCompleted => "execution.completed",
            AuditEventKind::ExecutionCancelled => "execution.cancelled",
        }
    }
}

impl std::fmt::Display for AuditEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One recorded callback. Its JSON form is Constellation's event shape (`eventType`,
/// `executionId`, `dagName`, `moduleName`, `moduleId`, `durationMs`, `succeeded`,
/// `error`, `timestamp`) plus `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Position in the log: gap-free, increasing, assigned in commit order.
    #[serde(default)]
    pub seq: u64,
    /// Which callback this records.
    #[serde(rename = "eventType")]
    pub kind: AuditEventKind,
    /// The execution it belongs to.
    pub execution_id: Uuid,
    /// The DAG, for execution events.
    #[serde(default)]
    pub dag_name: Option<String>,
    /// The module, for module events.
    #[serde(default)]
    pub module_id: Option<Uuid>,
    /// The module's name, for module events.
    #[serde(default)]
    pub module_name: Option<String>,
    /// How long the module or execution took.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Whether it succeeded (completion and failure events).
    #[serde(default)]
    pub succeeded: Option<bool>,
    /// The error and its `source()` chain, `"outer: inner: root"`, for failures.
    #[serde(default)]
    pub error: Option<String>,
    /// When the callback ran, epoch millis.
    pub timestamp: i64,
}

impl AuditEvent {
    /// An event of `kind` for `execution_id`, stamped now, with every optional empty.
    pub fn new(kind: AuditEventKind, execution_id: Uuid) -> Self {
        AuditEvent {
            seq: 0,
            kind,
            execution_id,
            dag_name: None,
            module_id: None,
            module_name: None,
            duration_ms: None,
            succeeded: None,
            error: None,
            timestamp: crate::model::now_millis(),
        }
    }
}

/// `error`'s message followed by each of its sources: `"outer: inner: root"`.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
