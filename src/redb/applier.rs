//! The applier: a thread that makes a journaled one-record write's B-tree changes while the
//! writer syncs the write's journal entry.
//!
//! A durable write of one record waits for its journal's fdatasync (90–150 µs here) and
//! used to do its 30–45 µs of B-tree and counter work before it. Handing the *sync* to a
//! thread instead put two wake-ups on the write's path (see `journal::OVERLAP_FROM`).
//! Handing it the *B-tree work* puts only a send there (7 µs measured to wake a sleeping
//! thread): the writer then syncs in place, and the applier wakes (about 30 µs) and
//! finishes while that sync still runs. The writer takes the outcome before it returns, so
//! a write that fails in redb is reported, and its entry erased, exactly as when it applied
//! its own changes.

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender};
use redb::Database;

use super::background::Wake;
use super::journal::Effect;
use super::syncer::poll_then_wait;
use super::unpublished::Writes;
use super::write::{Changes, Prepared};
use crate::error::{Error, Result};
use crate::model::StoredExecution;
use crate::retention::RetentionPolicy;

/// What the applier needs of the store; shared with its thread.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) db: Arc<Database>,
    pub(crate) writes: Arc<Writes>,
    pub(crate) retention: RetentionPolicy,
    pub(crate) background: Option<Arc<Wake>>,
}

/// A journaled write whose entry announced exactly what it does: put these records.
pub(crate) struct Job {
    pub(crate) operation: &'static str,
    pub(crate) seq: u64,
    pub(crate) records: Vec<Prepared>,
    /// The effects the journal entry announced; the transaction must have exactly these.
    pub(crate) announced: Vec<Effect>,
    /// When they were announced: the retention rule is applied as of then, so it agrees
    /// with the announcement.
    pub(crate) now: i64,
}

/// A job done: its changes are in the open transaction.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) written: Vec<Arc<StoredExecution>>,
    pub(crate) removed: Vec<String>,
    /// Whether publishing a full transaction afterwards worked (see
    /// [`Writes::publish_if_full`]); the job's changes are in it either way.
    pub(crate) published: Result<()>,
}

/// The applier of one store; its thread starts with the first job and ends when this is
/// dropped.
#[derive(Debug)]
pub(crate) struct Applier {
    context: Arc<Context>,
    thread: Option<Worker>,
    /// Whether starting the thread was tried; when it failed, jobs run on the writer's
    /// thread.
    started: bool,
    /// The outcome of a job that ran on the writer's thread.
    inline: Option<Result<Applied>>,
}

#[derive(Debug)]
struct Worker {
    jobs: Option<Sender<Job>>,
    results: Receiver<Result<Applied>>,
    handle: Option<JoinHandle<()>>,
}

/// Why [`Applier::finish`] has no outcome.
#[derive(Debug)]
pub(crate) struct Stopped;

impl Applier {
    pub(crate) fn new(context: Context) -> Self {
        Applier { context: Arc::new(context), thread: None, started: false, inline: None }
    }

    /// Hands `job` to the thread, or runs it here if there is none. The caller must not
    /// hold the write lock, which the job takes.
    pub(crate) fn begin(&mut self, job: Job) {
        if !self.started {
            self.started = true;
            self.thread = Worker::start(Arc::clone(&self.context)).ok();
        }
        let job = match self.thread.as_ref().and_then(|worker| worker.jobs.as_ref()) {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return,
                Err(returned) => returned.into_inner(),
            },
            None => job,
        };
        self.inline = Some(run(&self.context, job));
    }

    /// The outcome of the job [`begin`](Self::begin) started; [`Stopped`] if the thread
    /// ended without giving one (it panicked: what the open transaction holds is unknown).
    pub(crate) fn finish(&mut self) -> std::result::Result<Result<Applied>, Stopped> {
        if let Some(outcome) = self.inline.take() {
            return Ok(outcome);
        }
        let worker = self.thread.as_ref().ok_or(Stopped)?;
        poll_then_wait(&worker.results).ok_or(Stopped)
    }
}

impl Worker {
    fn start(context: Arc<Context>) -> std::io::Result<Worker> {
        let (jobs, incoming) = crossbeam_channel::bounded::<Job>(1);
        let (outgoing, results) = crossbeam_channel::bounded(1);
        let handle =
            thread::Builder::new().name("execstore-applier".to_owned()).spawn(move || {
                while let Ok(job) = incoming.recv() {
                    if outgoing.send(run(&context, job)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Worker { jobs: Some(jobs), results, handle: Some(handle) })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which holds the database open until it has.
        drop(self.jobs.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Puts the job's records in the open transaction and keeps it open. On failure the
/// transaction is gone, and the writes it held before are restored without this one.
fn run(context: &Context, job: Job) -> Result<Applied> {
    let Job { operation, seq, records, announced, now } = job;
    let (db, writes) = (&context.db, &context.writes);
    let mut slot = writes.lock();
    let transacted = slot.transact(db, redb::Durability::None, operation, Some(seq), |tables| {
        for record in &records {
            tables.put(record)?;
        }
        tables.enforce_on_write(&context.retention, now)
    });
    let (txn, (), changes) = match transacted {
        Ok(done) => done,
        Err(e) => return Err(writes.restore_after(db, &mut slot, e)),
    };
    if changes.effects != announced {
        drop(txn);
        let e = Error::Storage {
            operation,
            reason: "the write did other than its journal entry announced".to_owned(),
        };
        return Err(writes.restore_after(db, &mut slot, e));
    }
    let Changes { written, removed, effects, .. } = changes;
    writes.keep(&mut slot, txn, seq, effects);
    let published = writes.publish_if_full(&mut slot);
    if let Some(wake) = &context.background {
        wake.poke();
    }
    Ok(Applied { written, removed, published })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redb::compression::Compression;
    use crate::redb::dictionary::Loaded;
    use crate::redb::store_tests::record;
    use crate::redb::viz_encodings::VizEncodings;
    use crate::redb::write::prepare;

    fn prepared(id: &str) -> Result<Prepared> {
        prepare(record(id), None, &VizEncodings::new(0), &Compression::new(Loaded::default(), 0))
    }

    fn job(seq: u64, records: Vec<Prepared>, announced: Vec<Effect>) -> Job {
        Job { operation: "test", seq, records, announced, now: 0 }
    }

    #[test]
    fn a_job_is_done_on_the_thread_and_one_that_differs_from_its_entry_is_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let db = Database::create(dir.path().join("a.redb"))
            .map_err(|e| Error::Worker(e.to_string()))?;
        let (db, writes) = (Arc::new(db), Arc::new(Writes::default()));
        let context = Context {
            db: Arc::clone(&db),
            writes: Arc::clone(&writes),
            retention: RetentionPolicy::new(),
            background: None,
        };
        let mut applier = Applier::new(context);
        let other = prepared("other")?.effect();
        applier.begin(job(1, vec![prepared("a")?], vec![other]));
        let refused = applier.finish();
        assert!(matches!(refused, Ok(Err(Error::Storage { .. }))), "{refused:?}");
        assert!(!writes.pending(), "the refused job left nothing to publish");
        let a = prepared("a")?;
        let announced = vec![a.effect()];
        applier.begin(job(2, vec![a], announced));
        let applied = match applier.finish() {
            Ok(Ok(applied)) => applied,
            other => panic!("the job failed: {other:?}"),
        };
        let written: Vec<_> = applied.written.iter().map(|r| r.execution_id.as_str()).collect();
        assert_eq!(written, ["a"]);
        assert!(applied.published.is_ok());
        assert!(writes.pending(), "the record waits in the open transaction");
        drop(applier);
        assert_eq!(Arc::strong_count(&db), 1, "the thread ended and let go of the database");
        Ok(())
    }
}
