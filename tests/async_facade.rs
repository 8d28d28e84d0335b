//! `AsyncStorage` from a multi-threaded tokio runtime, on both backends and behind a trait object.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use execstore::{
    AsyncStorage, Error, ExecutionStatus, ExecutionStorage, MemoryStorage, RedbStorage,
};
use serde_json::json;
use support::{execution, TestResult};

async fn fifty_tasks_store_and_update<S: ExecutionStorage + ?Sized + 'static>(
    storage: AsyncStorage<S>,
) -> TestResult {
    storage.store(execution("shared", 0, Some("shared.cst"))).await?;
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let id = format!("task-{t:02}");
                storage.store(execution(&id, t, Some("tasks.cst"))).await?;
                storage.update(&id, |e| e.status = ExecutionStatus::Failed).await?;
                storage
                    .update("shared", |e| {
                        let n = e.inputs.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
                        e.inputs.insert("n".to_owned(), json!(n + 1));
                    })
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let shared = storage.get("shared").await?.ok_or("shared missing")?;
    assert_eq!(shared.inputs.get("n"), Some(&json!(50)));
    let page = storage.list(10, 0).await?;
    assert_eq!(page.first().map(|s| s.execution_id.as_str()), Some("task-49"));
    assert_eq!(storage.list_by_script("tasks.cst", 100).await?.len(), 50);
    let stats = storage.stats().await?;
    assert_eq!((stats.total_executions, stats.failed_executions), (51, 50));
    assert_eq!(
        storage.store_many(vec![execution("m1", 1, None), execution("m2", 2, None)]).await?.len(),
        2
    );
    assert!(storage.delete("task-00").await?);
    assert!(!storage.delete("task-00").await?);
    assert!(storage.get("task-00").await?.is_none());
    storage.clear().await?;
    assert_eq!(storage.stats().await?.total_executions, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_tasks_on_redb() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    fifty_tasks_store_and_update(AsyncStorage::new(storage)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_tasks_behind_a_trait_object() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage: Arc<dyn ExecutionStorage> =
        Arc::new(RedbStorage::open(dir.path().join("history.redb"))?);
    fifty_tasks_store_and_update(AsyncStorage::from_arc(storage)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_tasks_in_memory() -> TestResult {
    fifty_tasks_store_and_update(AsyncStorage::new(MemoryStorage::default())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_update_writes_nothing_and_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    panicking_update(AsyncStorage::new(RedbStorage::open(dir.path().join("history.redb"))?))
        .await?;
    panicking_update(AsyncStorage::new(MemoryStorage::default())).await
}

/// The closure changes the record, then panics: the change must not be stored, and the
/// storage must keep working.
async fn panicking_update<S: ExecutionStorage + ?Sized + 'static>(
    storage: AsyncStorage<S>,
) -> TestResult {
    storage.store(execution("p", 1, None)).await?;
    let err = storage
        .update("p", |e| {
            e.status = ExecutionStatus::Failed;
            panic!("bug in the caller's closure");
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Worker(m) if m.contains("bug in the caller's closure")),
        "{err:?}"
    );
    assert_eq!(storage.get("p").await?.map(|e| e.status), Some(ExecutionStatus::Completed));
    storage.update("p", |e| e.status = ExecutionStatus::Failed).await?;
    assert_eq!(storage.inner().get("p")?.map(|e| e.status), Some(ExecutionStatus::Failed));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_future_still_completes_its_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = AsyncStorage::new(RedbStorage::open(dir.path().join("history.redb"))?);
    let records: Vec<_> = (0..2_000).map(|i| execution(&format!("r{i}"), i, None)).collect();
    let write = storage.store_many(records);
    // Poll once so the blocking task starts, then drop the future.
    let _ = tokio::time::timeout(std::time::Duration::from_micros(1), write).await;
    let inner = std::sync::Arc::clone(storage.inner());
    let total = tokio::task::spawn_blocking(move || {
        // The transaction is all or nothing: wait for it rather than guess.
        for _ in 0..500 {
            let total = inner.stats()?.total_executions;
            if total == 2_000 {
                return Ok::<_, Error>(total);
            }
            assert_eq!(total, 0, "a half-written batch is visible");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        inner.stats().map(|s| s.total_executions)
    })
    .await??;
    assert_eq!(total, 2_000);
    Ok(())
}

#[test]
fn outside_a_runtime_a_call_is_an_error_not_a_panic() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let storage = AsyncStorage::new(MemoryStorage::default());
    let mut call = Box::pin(storage.stats());
    let polled = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    match polled {
        Poll::Ready(Err(Error::Worker(message))) => {
            assert!(message.contains("needs a tokio runtime"), "{message}");
        }
        other => panic!("expected a Worker error, got {other:?}"),
    }
}
