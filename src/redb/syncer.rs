//! A thread that syncs the journal while the writer commits to redb, so a durable write
//! waits for the longer of the two instead of their sum (used for entries of several
//! records; see `journal::OVERLAP_FROM`).

use std::fs::File;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

/// How long [`Syncer::wait`] polls for the result before it sleeps: a sync that ends within
/// this is seen at once instead of after the wake-up of a sleeping thread (measured at
/// 20–35 µs here, a tenth of a sync). Kept short: since writes no longer commit redb each
/// time, the writer usually waits most of a sync, and spinning all of it burnt a core and
/// made the machine slower (300 µs: 294–306 µs median store; 60 µs: 230–261 µs).
const POLL: Duration = Duration::from_micros(60);

/// The journal's sync thread; it ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Syncer {
    /// A handle of the journal file, kept to sync in place when the thread is gone.
    file: File,
    requests: Sender<()>,
    results: Receiver<io::Result<()>>,
    /// A request was sent whose result has not been taken.
    in_flight: bool,
}

impl Syncer {
    /// Starts the thread on a second handle of `file`.
    pub(crate) fn start(file: &File) -> io::Result<Syncer> {
        let theirs = file.try_clone()?;
        let (requests, incoming) = crossbeam_channel::bounded::<()>(1);
        let (outgoing, results) = crossbeam_channel::bounded(1);
        thread::Builder::new().name("execstore-journal-sync".to_owned()).spawn(move || {
            while incoming.recv().is_ok() {
                if outgoing.send(theirs.sync_data()).is_err() {
                    return;
                }
            }
        })?;
        Ok(Syncer { file: file.try_clone()?, requests, results, in_flight: false })
    }

    /// Starts a sync of everything written to the file so far.
    pub(crate) fn begin(&mut self) {
        self.in_flight = self.requests.send(()).is_ok();
    }

    /// Whether a sync was started and its result not yet taken.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Waits for the sync [`begin`](Self::begin) started (or syncs now if the thread is
    /// gone).
    pub(crate) fn wait(&mut self) -> io::Result<()> {
        let started = std::mem::take(&mut self.in_flight);
        match started.then(|| poll_then_wait(&self.results)).flatten() {
            Some(result) => result,
            None => self.file.sync_data(),
        }
    }
}

/// A message from `results`, polled for a while and then slept for; `None` if the sender
/// is gone. A sync (or other work) that ends within [`POLL`] is seen at once, not after
/// the wake-up of a sleeping thread.
pub(crate) fn poll_then_wait<T>(results: &Receiver<T>) -> Option<T> {
    let until = Instant::now() + POLL;
    loop {
        match results.try_recv() {
            Ok(result) => return Some(result),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if Instant::now() < until => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => return results.recv().ok(),
        }
    }
}
