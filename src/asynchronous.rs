//! `AsyncStorage`: the tokio facade over any `ExecutionStorage`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::{ExecutionSummary, StorageStats, StoredExecution};
use crate::query::{HistoryQuery, Page};
use crate::storage::ExecutionStorage;

/// The storage operations as `async fn`s for tokio applications.
///
/// Every call runs on tokio's blocking pool (`spawn_blocking`), never on a runtime worker.
/// A call runs to completion even if its future is dropped: each write is one transaction,
/// so cancellation never leaves a half-written record. Cloning is cheap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use execstore::{AsyncStorage, ExecutionSource, ExecutionStatus, RedbStorage, StoredExecution};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("history.redb");
/// let history = AsyncStorage::new(RedbStorage::open(path)?);
/// let run = StoredExecution::new("etl", None, Default::default(), ExecutionSource::API);
/// let id = history.store(run).await?;
/// history.update(&id, |run| run.status = ExecutionStatus::Completed).await?;
/// assert_eq!(history.stats().await?.completed_executions, 1);
/// # Ok(())
/// # }
/// ```
///
/// `S` may be a trait object: `AsyncStorage<dyn ExecutionStorage>` (built with
/// [`from_arc`](AsyncStorage::from_arc)) picks its backend at run time.
#[derive(Debug)]
pub struct AsyncStorage<S: ?Sized> {
    storage: Arc<S>,
}

impl<S: ?Sized> Clone for AsyncStorage<S> {
    fn clone(&self) -> Self {
        AsyncStorage { storage: Arc::clone(&self.storage) }
    }
}

impl<S: ExecutionStorage + 'static> AsyncStorage<S> {
    /// Wraps `storage`.
    pub fn new(storage: S) -> Self {
        Self::from_arc(Arc::new(storage))
    }
}

impl<S: ExecutionStorage + ?Sized + 'static> AsyncStorage<S> {
    /// Wraps a storage already shared elsewhere.
    pub fn from_arc(storage: Arc<S>) -> Self {
        AsyncStorage { storage }
    }

    /// The wrapped storage, for synchronous use.
    pub fn inner(&self) -> &Arc<S> {
        &self.storage
    }

    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        call: impl FnOnce(&S) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        // Outside a runtime, tokio's spawn_blocking would panic: an error instead.
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Worker(format!("{operation} needs a tokio runtime: {e}")))?;
        let storage = Arc::clone(&self.storage);
        match runtime.spawn_blocking(move || call(&storage)).await {
            Ok(result) => result,
            Err(join) => Err(worker_error(operation, join)),
        }
    }

    /// See [`ExecutionStorage::store`].
    pub async fn store(&self, execution: StoredExecution) -> Result<String> {
        self.blocking("store", move |s| s.store(execution)).await
    }

    /// See [`ExecutionStorage::store_many`].
    pub async fn store_many(&self, executions: Vec<StoredExecution>) -> Result<Vec<String>> {
        self.blocking("store_many", move |s| s.store_many(executions)).await
    }

    /// See [`ExecutionStorage::get`].
    pub async fn get(&self, execution_id: &str) -> Result<Option<Arc<StoredExecution>>> {
        let id = execution_id.to_owned();
        self.blocking("get", move |s| s.get(&id)).await
    }

    /// See [`ExecutionStorage::list`].
    pub async fn list(&self, limit: usize, offset: usize) -> Result<Vec<ExecutionSummary>> {
        self.blocking("list", move |s| s.list(limit, offset)).await
    }

    /// See [`ExecutionStorage::list_by_script`].
    pub async fn list_by_script(
        &self,
        script_path: &str,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>> {
        let script = script_path.to_owned();
        self.blocking("list_by_script", move |s| s.list_by_script(&script, limit)).await
    }

    /// See [`ExecutionStorage::query`].
    pub async fn query(&self, query: &HistoryQuery) -> Result<Page> {
        let query = query.clone();
        self.blocking("query", move |s| s.query(&query)).await
    }

    /// See [`ExecutionStorage::count`].
    pub async fn count(&self, filter: &HistoryQuery) -> Result<u64> {
        let filter = filter.clone();
        self.blocking("count", move |s| s.count(&filter)).await
    }

    /// See [`ExecutionStorage::stats`].
    pub async fn stats(&self) -> Result<StorageStats> {
        self.blocking("stats", |s| s.stats()).await
    }

    /// See [`ExecutionStorage::update`]; `f` runs once, on the blocking pool. A panic in
    /// `f` aborts the transaction and returns [`Error::Worker`].
    pub async fn update(
        &self,
        execution_id: &str,
        f: impl FnOnce(&mut StoredExecution) + Send + 'static,
    ) -> Result<Option<Arc<StoredExecution>>> {
        let id = execution_id.to_owned();
        self.blocking("update", move |s| {
            let mut f = Some(f);
            s.update(&id, &mut |execution| {
                if let Some(f) = f.take() {
                    f(execution);
                }
            })
        })
        .await
    }

    /// See [`ExecutionStorage::delete`].
    pub async fn delete(&self, execution_id: &str) -> Result<bool> {
        let id = execution_id.to_owned();
        self.blocking("delete", move |s| s.delete(&id)).await
    }

    /// See [`ExecutionStorage::clear`].
    pub async fn clear(&self) -> Result<()> {
        self.blocking("clear", |s| s.clear()).await
    }
}

/// A blocking call that did not return: it panicked (the transaction was dropped, so
/// nothing was written) or the runtime shut down before it ran.
fn worker_error(operation: &str, join: tokio::task::JoinError) -> Error {
    match join.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            Error::Worker(format!("{operation} panicked: {message}"))
        }
        Err(join) => Error::Worker(format!("{operation} did not run: {join}")),
    }
}
