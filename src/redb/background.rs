//! The retention thread: applies the time- and size-triggered limits in bounded batches,
//! woken after writes (at most once per [`MIN_GAP`]) and every [`PERIOD`] when idle.
//!
//! It holds a handle without a [`Keeper`], so it never keeps itself alive: when the last
//! caller handle drops, its `Keeper` stops the thread and joins it, and the thread's handle
//! (the last one) closes the database on the way out.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::store::RedbStorage;
use crate::error::{Error, Result};

/// A pass runs at least this often, writes or not (ages advance with the clock).
const PERIOD: Duration = Duration::from_secs(60);

/// Writes wake the thread at most this often, so a busy store pays one pass per gap.
const MIN_GAP: Duration = Duration::from_millis(500);

/// What writers, waiters and the thread share.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    state: Mutex<WakeState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct WakeState {
    /// Bumped by every write and every waiter.
    requested: u64,
    /// The `requested` value the last finished pass started after.
    done: u64,
    /// A waiter is blocked: skip the gap.
    urgent: bool,
    stop: bool,
    /// The last pass's error.
    failed: Option<String>,
}

impl Wake {
    fn lock(&self) -> MutexGuard<'_, WakeState> {
        // Every critical section leaves the state whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A write happened: there may be work.
    pub(crate) fn poke(&self) {
        self.lock().requested += 1;
        self.changed.notify_all();
    }

    /// Returns once a pass that started after this call has finished, with its error.
    pub(crate) fn wait_for_pass(&self) -> Result<()> {
        let mut state = self.lock();
        state.requested += 1;
        state.urgent = true;
        let ticket = state.requested;
        self.changed.notify_all();
        while state.done < ticket && !state.stop {
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        match &state.failed {
            Some(reason) => Err(Error::Worker(format!("background retention: {reason}"))),
            None => Ok(()),
        }
    }

    /// Blocks until there is a pass to run; `None` once stopped.
    fn next_pass(&self, last_end: Instant) -> Option<u64> {
        let mut state = self.lock();
        let idle_until = last_end + PERIOD;
        while !state.stop && state.requested == state.done && Instant::now() < idle_until {
            let left = idle_until.saturating_duration_since(Instant::now());
            state =
                self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        let gap_end = last_end + MIN_GAP;
        while !state.stop && !state.urgent && Instant::now() < gap_end {
            let left = gap_end.saturating_duration_since(Instant::now());
            state =
                self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        state.urgent = false;
        (!state.stop).then_some(state.requested)
    }

    fn finish_pass(&self, ticket: u64, result: Result<()>) {
        let mut state = self.lock();
        state.done = ticket;
        state.failed = result.err().map(|e| e.to_string());
        drop(state);
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// Owned by the caller handles: stops and joins the thread when the last one drops.
#[derive(Debug)]
pub(crate) struct Keeper {
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// Starts the thread over `storage`, a handle without a keeper.
    pub(crate) fn spawn(storage: RedbStorage, wake: Arc<Wake>) -> Result<Self> {
        let shared = Arc::clone(&wake);
        let thread = std::thread::Builder::new()
            .name("execstore-retention".to_owned())
            .spawn(move || run(&storage, &shared))
            .map_err(|e| Error::Worker(format!("cannot start the retention thread: {e}")))?;
        Ok(Keeper { wake, thread: Some(thread) })
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.wake.stop();
        if let Some(thread) = self.thread.take() {
            // A panic in a pass is already over; nothing to do with it here.
            let _ = thread.join();
        }
    }
}

fn run(storage: &RedbStorage, wake: &Wake) {
    let mut last_end = Instant::now();
    while let Some(ticket) = wake.next_pass(last_end) {
        let result = storage.background_pass();
        wake.finish_pass(ticket, result);
        last_end = Instant::now();
    }
}
