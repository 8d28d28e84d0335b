//! The storage contract every backend fulfils, its configuration, and the rules they share.

use std::io;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::{ExecutionSummary, Json, StorageStats, StoredExecution};
use crate::query::{collect_page, HistoryQuery, Order, Page};

/// Execution history: Constellation's `ExecutionStorage` SPI.
///
/// Semantics shared by every backend:
/// - a write that returns `Ok` is durable (unless the backend was built with weaker durability);
/// - `store` of an existing id replaces the record;
/// - `list` is newest first by `start_time`, ties by `execution_id` descending;
/// - `list_by_script` matches `script_path` exactly, newest first;
/// - `update` runs its closure once, atomically, and refuses a changed `execution_id`
///   with [`Error::IdChanged`];
/// - values whose compact JSON exceeds the configured size are stored as
///   `"<truncated: N bytes>"`.
///
/// The trait is object safe: `Arc<dyn ExecutionStorage>` works.
pub trait ExecutionStorage: Send + Sync {
    /// Stores `execution`, replacing any record with the same id; returns its id.
    fn store(&self, execution: StoredExecution) -> Result<String>;

    /// Stores every execution in one transaction: all are stored or none is.
    fn store_many(&self, executions: Vec<StoredExecution>) -> Result<Vec<String>>;

    /// The execution with this id, if any.
    fn get(&self, execution_id: &str) -> Result<Option<Arc<StoredExecution>>>;

    /// At most `limit` summaries, newest first, after skipping `offset`.
    fn list(&self, limit: usize, offset: usize) -> Result<Vec<ExecutionSummary>>;

    /// At most `limit` summaries of executions whose `script_path` is exactly `script_path`,
    /// newest first.
    fn list_by_script(&self, script_path: &str, limit: usize) -> Result<Vec<ExecutionSummary>>;

    /// Counts by status, oldest and newest start time, capacity.
    fn stats(&self) -> Result<StorageStats>;

    /// Applies `f` to the stored execution atomically and returns the new value;
    /// `Ok(None)` when there is no such id.
    fn update(
        &self,
        execution_id: &str,
        f: &mut dyn FnMut(&mut StoredExecution),
    ) -> Result<Option<Arc<StoredExecution>>>;

    /// Removes the execution; `true` if it existed.
    fn delete(&self, execution_id: &str) -> Result<bool>;

    /// Removes every execution.
    fn clear(&self) -> Result<()>;

    /// A page of the summaries matching `query`, in its order, after its cursor (see
    /// [`HistoryQuery`]). Refuses a limit of 0 or above
    /// [`MAX_QUERY_LIMIT`](crate::MAX_QUERY_LIMIT) and a cursor made for the other order.
    ///
    /// This default reads the whole history through [`list`](Self::list) on every call;
    /// the crate's backends answer from their indexes.
    fn query(&self, query: &HistoryQuery) -> Result<Page> {
        query.validate()?;
        let mut all = every_summary(self)?;
        if query.order == Order::Oldest {
            all.reverse();
        }
        let past_cursor =
            all.into_iter().filter(|s| query.is_past_cursor(s.start_time, &s.execution_id));
        collect_page(query, past_cursor.map(Ok), usize::MAX)
    }

    /// How many executions match `filter`'s filters (its order, limit and cursor aside).
    ///
    /// This default reads the whole history through [`list`](Self::list).
    fn count(&self, filter: &HistoryQuery) -> Result<u64> {
        Ok(every_summary(self)?.iter().filter(|s| filter.matches(s)).count() as u64)
    }
}

/// Every summary, newest first, read through `list` a page at a time.
fn every_summary<S: ExecutionStorage + ?Sized>(storage: &S) -> Result<Vec<ExecutionSummary>> {
    const PAGE: usize = 1_000;
    let mut all = Vec::new();
    loop {
        let page = storage.list(PAGE, all.len())?;
        let done = page.len() < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// Configuration of [`MemoryStorage`](crate::MemoryStorage), as Constellation's
/// `ExecutionStorage.Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How many executions to keep; past it the oldest by `start_time` are removed.
    /// Default 1000. A value of 0 is treated as 1.
    pub max_executions: usize,
    /// Values whose compact JSON is longer than this many bytes are truncated. Default 10240.
    pub max_value_size_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_executions: 1000, max_value_size_bytes: 10_240 }
    }
}

/// The most elements a page pre-allocates, however large the `limit` asked for.
pub(crate) const MAX_PAGE_PREALLOCATION: usize = 1024;

/// An empty vector sized for a page of `limit`, without trusting huge limits.
pub(crate) fn page_vec<T>(limit: usize) -> Vec<T> {
    Vec::with_capacity(limit.min(MAX_PAGE_PREALLOCATION))
}

/// Refuses an empty execution id.
pub(crate) fn validate_id(execution_id: &str) -> Result<()> {
    if execution_id.is_empty() {
        return Err(Error::InvalidArgument("execution id must not be empty".to_owned()));
    }
    Ok(())
}

/// Refuses an `update` whose closure changed the id.
pub(crate) fn check_id_unchanged(original: &str, updated: &StoredExecution) -> Result<()> {
    if updated.execution_id != original {
        return Err(Error::IdChanged {
            original: original.to_owned(),
            changed: updated.execution_id.clone(),
        });
    }
    Ok(())
}

/// Replaces every input, output and node-result value whose compact JSON is longer than
/// `max_bytes` by the string `"<truncated: N bytes>"`.
pub fn truncate_values(execution: &mut StoredExecution, max_bytes: usize) {
    let inputs = execution.inputs.values_mut();
    let outputs = execution.outputs.iter_mut().flat_map(|outputs| outputs.values_mut());
    let nodes = execution.node_results.values_mut().filter_map(|node| node.value.as_mut());
    for value in inputs.chain(outputs).chain(nodes) {
        truncate_value(value, max_bytes);
    }
}

fn truncate_value(value: &mut Json, max_bytes: usize) {
    let size = compact_json_len(value);
    if size > max_bytes {
        *value = Json::String(format!("<truncated: {size} bytes>"));
    }
}

/// Length in bytes of `value` as compact JSON, without building the string.
pub(crate) fn compact_json_len(value: &Json) -> usize {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        // A `Value` always serializes; should it ever not, treat it as too large to keep.
        Err(_) => usize::MAX,
    }
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
