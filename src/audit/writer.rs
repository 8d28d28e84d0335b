//! The background writer: takes queued events in batches and hands each batch to the
//! committer, one redb write transaction each.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::commit::Committer;
use super::config::AuditConfig;
use super::event::AuditEvent;
use super::slot::Slot;
use crate::error::{Error, Result};

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

/// Starts the writer thread; it returns the error it kept, if any, when it stops.
pub(crate) fn spawn(
    slot: Arc<Slot>,
    queue: Receiver<Message>,
    config: AuditConfig,
    counters: Arc<Counters>,
) -> Result<JoinHandle<Result<()>>> {
    let committer = Committer::new(slot, counters)?;
    let writer = Writer { queue, config, committer };
    thread::Builder::new()
        .name("execstore-audit".to_owned())
        .spawn(move || writer.run())
        .map_err(|e| Error::Worker(format!("cannot start the audit writer thread: {e}")))
}

struct Writer {
    queue: Receiver<Message>,
    config: AuditConfig,
    committer: Committer,
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
            self.committer.commit(batch.events);
            for reply in batch.flushes {
                // A flusher that gave up waiting has dropped its receiver; nothing to tell.
                let _ = reply.send(self.committer.take_error());
            }
            if batch.shutdown {
                break;
            }
        }
        self.drain();
        self.committer.take_error()
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

    /// At shutdown: commits what callbacks racing with `close` still enqueued, gives a
    /// failed batch its second attempt, and counts what still failed as lost.
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
        self.committer.commit(events);
        if self.committer.has_failed_batch() {
            self.committer.commit(Vec::new());
        }
        self.committer.abandon();
    }
}
