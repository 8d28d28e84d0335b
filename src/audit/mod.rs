//! `AuditLog`: lifecycle events batched by a background writer thread into redb.

mod backend;
mod commit;
mod config;
mod event;
mod query;
mod retention;
mod seq;
mod slot;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use redb::Database;
use uuid::Uuid;

pub use config::{AuditConfig, OverflowPolicy};
pub use event::{AuditEvent, AuditEventKind};
pub(crate) use retention::{remove_older_than, sweep_orphans};
pub(crate) use seq::check as check_next_seq;

use crate::error::{Error, Result, StorageResultExt};
use crate::listener::ExecutionListener;
use backend::SharedBackend;
pub(crate) use slot::WriteGate;
use slot::{Reopen, Slot};
use writer::{Counters, Message};

/// An [`ExecutionListener`] that records every callback as an [`AuditEvent`] in redb.
///
/// A callback only builds the event and puts it on a bounded queue; one background thread
/// (`execstore-audit`) commits what is queued in batches, one write transaction each.
/// Events are durable once a [`flush`](AuditLog::flush) started after them returns `Ok`,
/// or [`close`](AuditLog::close) does. Clones share the queue and the writer.
///
/// A failed commit (an I/O error) never panics the writer nor makes it spin: its error is
/// returned by the next `flush` or `close`, and its events are tried once more with the
/// next batch; if that fails too, they are counted in [`lost`](AuditLog::lost). redb refuses every operation on a
/// handle whose storage failed, so a log with its own file or backend opens it again
/// before that next attempt; a log sharing a [`RedbStorage`](crate::RedbStorage)'s handle
/// cannot, and keeps failing until the store is opened again.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Sender<Message>,
    overflow: OverflowPolicy,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<Result<()>>>>,
    slot: Arc<Slot>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("overflow", &self.inner.overflow)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .field("counters", &self.inner.counters)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates) an audit log in its own file at `path`.
    pub fn open(path: impl AsRef<Path>, config: AuditConfig) -> Result<Self> {
        let path: PathBuf = path.as_ref().to_owned();
        let db = crate::redb::open_database(&path, &redb::Builder::new())?;
        let reopen: Reopen =
            Box::new(move || crate::redb::open_database(&path, &redb::Builder::new()));
        Self::start(Slot::new(Arc::new(db), reopen), config)
    }

    /// Opens an audit log on a caller-supplied redb storage backend (in-memory, or one
    /// that injects faults). After an I/O error the log opens the same backend instance
    /// again, once redb has closed it.
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        config: AuditConfig,
    ) -> Result<Self> {
        let backend = SharedBackend(Arc::new(backend));
        let db = crate::redb::open_backend(backend.clone(), &redb::Builder::new())?;
        let reopen: Reopen =
            Box::new(move || crate::redb::open_backend(backend.clone(), &redb::Builder::new()));
        Self::start(Slot::new(Arc::new(db), reopen), config)
    }

    /// An audit log writing into an already open execstore database, which it never
    /// reopens: the handle belongs to its store.
    pub(crate) fn with_database(
        db: Arc<Database>,
        config: AuditConfig,
        gate: WriteGate,
    ) -> Result<Self> {
        Self::start(Slot::shared(db, gate), config)
    }

    fn start(slot: Slot, config: AuditConfig) -> Result<Self> {
        config.validate()?;
        let slot = Arc::new(slot);
        let (queue, receiver) = crossbeam_channel::bounded(config.queue_capacity);
        let counters = Arc::new(Counters::default());
        let writer = writer::spawn(Arc::clone(&slot), receiver, config, Arc::clone(&counters))?;
        let inner = Inner {
            queue,
            overflow: config.overflow,
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(writer)),
            slot,
            counters,
        };
        Ok(AuditLog { inner: Arc::new(inner) })
    }

    /// Returns once every event enqueued before the call is committed and durable, or
    /// with the first write error since the last `flush` (whose events may still be
    /// committed by the retry with the next batch: see [`lost`](AuditLog::lost)).
    pub fn flush(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        // A flush waits for room whatever the overflow policy: it must follow the events.
        self.inner.queue.send(Message::Flush(reply)).map_err(|_| Error::Closed)?;
        answer.recv().map_err(|_| Error::Worker("the audit writer stopped".to_owned()))?
    }

    /// Every committed event of `execution_id`, in seq order.
    pub fn events_for(&self, execution_id: Uuid) -> Result<Vec<AuditEvent>> {
        self.inner.slot.with(|db| query::events_for(db, execution_id))
    }

    /// The newest `limit` committed events, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        self.inner.slot.with(|db| query::recent(db, limit))
    }

    /// Up to `limit` committed events with a seq above `after`, in seq order (start with 0).
    ///
    /// For followers that forward the log elsewhere: pass the seq of the last event handled
    /// to get exactly the events committed after it, across close, reopen or a crash. Seqs
    /// go to committed events only, one after another (a batch retried after an I/O error
    /// gets its seqs at the retry), and are never given out twice, even after retention
    /// removed events; events it removed are simply absent.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<AuditEvent>> {
        self.inner.slot.with(|db| query::events_after(db, after, limit))
    }

    /// Removes the oldest chunks of events whose timestamps are all before `cutoff_millis`
    /// (epoch millis), at most `budget` chunks of 256 in one write transaction, stopping at
    /// the first chunk holding a newer event; returns how many it removed (call again until
    /// 0). Surviving events keep their seqs, and seqs are never given out again.
    pub fn remove_older_than(&self, cutoff_millis: i64, budget: u64) -> Result<u64> {
        const OP: &str = "audit retention";
        self.inner.slot.with_write(|db| {
            let txn = db.begin_write().during(OP)?;
            let removed = retention::remove_older_than(&txn, cutoff_millis, budget)?;
            txn.commit().during(OP)?;
            Ok(removed)
        })
    }

    /// Events refused on a full queue under [`OverflowPolicy::DropNewest`].
    pub fn dropped(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// Callbacks that arrived after [`close`](AuditLog::close) and were ignored.
    pub fn ignored_after_close(&self) -> u64 {
        self.inner.counters.ignored.load(Ordering::Relaxed)
    }

    /// Events given up on after two failed commit attempts (errors that `flush` or `close`
    /// reported).
    pub fn lost(&self) -> u64 {
        self.inner.counters.lost.load(Ordering::Relaxed)
    }

    /// Events committed by this handle's writer so far.
    pub fn committed(&self) -> u64 {
        self.inner.counters.committed.load(Ordering::Relaxed)
    }

    /// Commits what is queued, stops the writer and returns its last error. Later
    /// callbacks on any clone are ignored and counted. `Drop` of the last clone does the
    /// same, discarding the result.
    pub fn close(self) -> Result<()> {
        self.inner.shutdown()
    }

    fn enqueue(&self, event: AuditEvent) {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            inner.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let refused = match inner.overflow {
            // Block: a full queue makes the caller wait for the writer; nothing is lost.
            OverflowPolicy::Block => inner.queue.send(Message::Event(event)).is_err(),
            // DropNewest: a full queue refuses this event, counted in `dropped`.
            OverflowPolicy::DropNewest => match inner.queue.try_send(Message::Event(event)) {
                Ok(()) => false,
                Err(TrySendError::Full(_)) => {
                    inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    false
                }
                Err(TrySendError::Disconnected(_)) => true,
            },
        };
        if refused {
            inner.counters.ignored.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn module_event(
        &self,
        kind: AuditEventKind,
        execution: Uuid,
        module: Uuid,
        name: &str,
    ) -> AuditEvent {
        AuditEvent {
            module_id: Some(module),
            module_name: Some(name.to_owned()),
            ..AuditEvent::new(kind, execution)
        }
    }
}

impl Inner {
    fn shutdown(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(writer) = writer else { return Ok(()) };
        // If the writer is already gone, joining below reports why.
        let _ = self.queue.send(Message::Shutdown);
        writer.join().map_err(|_| Error::Worker("the audit writer thread panicked".to_owned()))?
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Errors were reported to `flush` callers or are lost with the handle, as documented.
        let _ = self.shutdown();
    }
}

impl ExecutionListener for AuditLog {
    fn on_execution_start(&self, execution_id: Uuid, dag_name: &str) {
        let event = AuditEvent {
            dag_name: Some(dag_name.to_owned()),
            ..AuditEvent::new(AuditEventKind::ExecutionStarted, execution_id)
        };
        self.enqueue(event);
    }

    fn on_module_start(&self, execution_id: Uuid, module_id: Uuid, module_name: &str) {
        let kind = AuditEventKind::ModuleStarted;
        self.enqueue(self.module_event(kind, execution_id, module_id, module_name));
    }

    fn on_module_complete(&self, execution_id: Uuid, module_id: Uuid, name: &str, ms: u64) {
        let event = AuditEvent {
            duration_ms: Some(ms),
            succeeded: Some(true),
            ..self.module_event(AuditEventKind::ModuleCompleted, execution_id, module_id, name)
        };
        self.enqueue(event);
    }

    fn on_module_failed(
        &self,
        execution_id: Uuid,
        module_id: Uuid,
        module_name: &str,
        error: &(dyn std::error::Error + 'static),
    ) {
        let kind = AuditEventKind::ModuleFailed;
        let event = AuditEvent {
            succeeded: Some(false),
            error: Some(event::error_chain(error)),
            ..self.module_event(kind, execution_id, module_id, module_name)
        };
        self.enqueue(event);
    }

    fn on_execution_complete(&self, execution_id: Uuid, dag: &str, succeeded: bool, ms: u64) {
        let event = AuditEvent {
            dag_name: Some(dag.to_owned()),
            duration_ms: Some(ms),
            succeeded: Some(succeeded),
            ..AuditEvent::new(AuditEventKind::ExecutionCompleted, execution_id)
        };
        self.enqueue(event);
    }

    fn on_execution_cancelled(&self, execution_id: Uuid, dag_name: &str) {
        let event = AuditEvent {
            dag_name: Some(dag_name.to_owned()),
            ..AuditEvent::new(AuditEventKind::ExecutionCancelled, execution_id)
        };
        self.enqueue(event);
    }
}
