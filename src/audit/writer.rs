//! The background writer: takes queued events in batches and commits each batch in one
//! redb write transaction, assigning `seq` in commit order.
//!
//! Layout: `audit` maps the seq of a chunk's first event to up to [`CHUNK_EVENTS`]
//! consecutive events; `audit_by_execution` has one `(execution, chunk)` entry per
//! execution with events in that chunk.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::config::AuditConfig;
use super::event::AuditEvent;
use crate::error::{Error, Result, StorageResultExt};
use crate::redb::codec::{decode, encode};
use crate::redb::{AUDIT, AUDIT_BY_EXECUTION};

/// What travels through the queue.
pub(crate) enum Message {
    Event(AuditEvent),
    /// Commit everything queued before this, then answer with the kept error, if any.
    Flush(Sender<Result<()>>),
    /// Commit what is queued and stop.
    Shutdown,
}

/// Counts shared by the handle and the writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) committed: AtomicU64,
    pub(crate) lost: AtomicU64,
}

const OP: &str = "audit commit";

/// Starts the writer thread; it returns the error it kept, if any, when it stops.
pub(crate) fn spawn(
    db: Arc<Database>,
    queue: Receiver<Message>,
    config: AuditConfig,
    counters: Arc<Counters>,
) -> Result<JoinHandle<Result<()>>> {
    let next_seq = next_seq(&db)?;
    let writer = Writer { db, queue, config, counters, next_seq, error: None };
    thread::Builder::new()
        .name("execstore-audit".to_owned())
        .spawn(move || writer.run())
        .map_err(|e| Error::Worker(format!("cannot start the audit writer thread: {e}")))
}

/// Events stored in one `audit` value. Fewer, larger values make a batch a handful of
/// B-tree inserts instead of two per event; small enough that reading one event decodes
/// little else.
pub(crate) const CHUNK_EVENTS: usize = 256;

/// One past the highest seq committed so far.
fn next_seq(db: &Database) -> Result<u64> {
    const OP: &str = "audit open";
    let txn = db.begin_read().during(OP)?;
    let audit = txn.open_table(AUDIT).during(OP)?;
    let Some((first, bytes)) = audit.last().during(OP)? else { return Ok(1) };
    let first = first.value();
    let chunk: Vec<AuditEvent> = decode(|| format!("audit/{first}"), bytes.value())?;
    Ok(first.saturating_add(chunk.len() as u64))
}

struct Writer {
    db: Arc<Database>,
    queue: Receiver<Message>,
    config: AuditConfig,
    counters: Arc<Counters>,
    next_seq: u64,
    /// The first failure since it was last reported by a flush or close.
    error: Option<Error>,
}

/// Messages taken for one commit.
#[derive(Default)]
struct Batch {
    events: Vec<AuditEvent>,
    flushes: Vec<Sender<Result<()>>>,
    shutdown: bool,
}

impl Batch {
    /// Adds a message; `false` once the batch must be committed now.
    fn accept(&mut self, message: Message) -> bool {
        match message {
            Message::Event(event) => {
                self.events.push(event);
                true
            }
            Message::Flush(reply) => {
                self.flushes.push(reply);
                false
            }
            Message::Shutdown => {
                self.shutdown = true;
                false
            }
        }
    }
}

impl Writer {
    fn run(mut self) -> Result<()> {
        while let Ok(first) = self.queue.recv() {
            let batch = self.gather(first);
            self.commit(batch.events);
            for reply in batch.flushes {
                // A flusher that gave up waiting has dropped its receiver; nothing to tell.
                let _ = reply.send(self.take_error());
            }
            if batch.shutdown {
                self.drain();
                break;
            }
        }
        self.take_error()
    }

    /// Takes up to `max_batch` events, waiting at most `max_delay` for more.
    fn gather(&self, first: Message) -> Batch {
        let mut batch = Batch::default();
        let mut open = batch.accept(first);
        let deadline = Instant::now() + self.config.max_delay;
        while open && batch.events.len() < self.config.max_batch {
            match self.queue.recv_deadline(deadline) {
                Ok(message) => open = batch.accept(message),
                Err(_) => break,
            }
        }
        batch
    }

    /// After shutdown: commits what callbacks racing with `close` still enqueued.
    fn drain(&mut self) {
        let mut events = Vec::new();
        while let Ok(message) = self.queue.try_recv() {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(reply) => {
                    let _ = reply.send(Err(Error::Closed));
                }
                Message::Shutdown => {}
            }
        }
        self.commit(events);
    }

    fn commit(&mut self, mut events: Vec<AuditEvent>) {
        if events.is_empty() {
            return;
        }
        let count = events.len() as u64;
        match self.write(&mut events) {
            Ok(()) => {
                self.next_seq += count;
                self.counters.committed.fetch_add(count, Ordering::Relaxed);
            }
            Err(error) => {
                // redb refuses every later write on a handle that hit an I/O error, so
                // these events cannot be retried here: count them and report the error.
                self.counters.lost.fetch_add(count, Ordering::Relaxed);
                self.error.get_or_insert(error);
            }
        }
    }

    fn write(&self, events: &mut [AuditEvent]) -> Result<()> {
        let txn = self.db.begin_write().during(OP)?;
        {
            let mut audit = txn.open_table(AUDIT).during(OP)?;
            let mut by_execution = txn.open_table(AUDIT_BY_EXECUTION).during(OP)?;
            for (seq, event) in (self.next_seq..).zip(events.iter_mut()) {
                event.seq = seq;
            }
            for chunk in events.chunks(CHUNK_EVENTS) {
                let Some(first) = chunk.first().map(|e| e.seq) else { continue };
                audit.insert(first, encode("audit events", chunk)?.as_slice()).during(OP)?;
                let executions: HashSet<u128> =
                    chunk.iter().map(|e| e.execution_id.as_u128()).collect();
                for execution in executions {
                    by_execution.insert((execution, first), ()).during(OP)?;
                }
            }
        }
        txn.commit().during(OP)
    }

    fn take_error(&mut self) -> Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }
}
