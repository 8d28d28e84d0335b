//! The listener SPI: `ExecutionListener`, `NoopListener`, `CompositeListener`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use uuid::Uuid;

/// Lifecycle callbacks of a DAG engine: Constellation's `ExecutionListener` SPI.
///
/// Callbacks are fire-and-forget and may arrive concurrently from many threads; an
/// implementation must be cheap and must not fail the caller.
pub trait ExecutionListener: Send + Sync {
    /// An execution of `dag_name` started.
    fn on_execution_start(&self, execution_id: Uuid, dag_name: &str);

    /// A module of an execution started.
    fn on_module_start(&self, execution_id: Uuid, module_id: Uuid, module_name: &str);

    /// A module finished successfully after `duration_ms`.
    fn on_module_complete(
        &self,
        execution_id: Uuid,
        module_id: Uuid,
        module_name: &str,
        duration_ms: u64,
    );

    /// A module failed with `error`.
    fn on_module_failed(
        &self,
        execution_id: Uuid,
        module_id: Uuid,
        module_name: &str,
        error: &(dyn std::error::Error + 'static),
    );

    /// An execution finished, successfully or not, after `duration_ms`.
    fn on_execution_complete(
        &self,
        execution_id: Uuid,
        dag_name: &str,
        succeeded: bool,
        duration_ms: u64,
    );

    /// An execution was cancelled. Does nothing unless overridden.
    fn on_execution_cancelled(&self, _execution_id: Uuid, _dag_name: &str) {}
}

/// A listener that ignores every event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoopListener;

impl ExecutionListener for NoopListener {
    fn on_execution_start(&self, _: Uuid, _: &str) {}
    fn on_module_start(&self, _: Uuid, _: Uuid, _: &str) {}
    fn on_module_complete(&self, _: Uuid, _: Uuid, _: &str, _: u64) {}
    fn on_module_failed(&self, _: Uuid, _: Uuid, _: &str, _: &(dyn std::error::Error + 'static)) {}
    fn on_execution_complete(&self, _: Uuid, _: &str, _: bool, _: u64) {}
}

/// Forwards every event to each member, in order.
///
/// A member that panics is caught: the others and the caller carry on, the panic is
/// counted in [`CompositeListener::panics`], and the standard panic hook reports it.
#[derive(Default)]
pub struct CompositeListener {
    members: Vec<Arc<dyn ExecutionListener>>,
    panics: AtomicU64,
}

impl std::fmt::Debug for CompositeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeListener")
            .field("members", &self.members.len())
            .field("panics", &self.panics())
            .finish()
    }
}

impl CompositeListener {
    /// A listener calling each of `members` for every event.
    pub fn new(members: Vec<Arc<dyn ExecutionListener>>) -> Self {
        CompositeListener { members, panics: AtomicU64::new(0) }
    }

    /// How many member callbacks have panicked so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    fn each(&self, call: impl Fn(&dyn ExecutionListener)) {
        for member in &self.members {
            let outcome = catch_unwind(AssertUnwindSafe(|| call(member.as_ref())));
            if outcome.is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl ExecutionListener for CompositeListener {
    fn on_execution_start(&self, execution_id: Uuid, dag_name: &str) {
        self.each(|l| l.on_execution_start(execution_id, dag_name));
    }

    fn on_module_start(&self, execution_id: Uuid, module_id: Uuid, module_name: &str) {
        self.each(|l| l.on_module_start(execution_id, module_id, module_name));
    }

    fn on_module_complete(&self, execution_id: Uuid, module_id: Uuid, name: &str, ms: u64) {
        self.each(|l| l.on_module_complete(execution_id, module_id, name, ms));
    }

    fn on_module_failed(
        &self,
        execution_id: Uuid,
        module_id: Uuid,
        module_name: &str,
        error: &(dyn std::error::Error + 'static),
    ) {
        self.each(|l| l.on_module_failed(execution_id, module_id, module_name, error));
    }

    fn on_execution_complete(&self, execution_id: Uuid, dag: &str, succeeded: bool, ms: u64) {
        self.each(|l| l.on_execution_complete(execution_id, dag, succeeded, ms));
    }

    fn on_execution_cancelled(&self, execution_id: Uuid, dag_name: &str) {
        self.each(|l| l.on_execution_cancelled(execution_id, dag_name));
    }
}
