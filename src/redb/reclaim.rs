//! Frees what the cache lets go of on a thread of its own.
//!
//! An evicted record was usually decoded or written long before, so its many small
//! allocations are cold in the CPU's caches and freeing one costs about 10 µs (against
//! 2 µs for a record just built): a `store_many` of 1,000 spent 9 ms of its 50 ms freeing
//! the records it pushed out of the cache, and every `update` of an uncached record 10 µs.
//! Waking a sleeping thread costs the waker about as much (measured 10–12 µs here), so
//! garbage is handed over without a wake-up and the thread is woken only once
//! [`WAKE_AT`] values are waiting: one wake-up per that many single-record writes. Should
//! the thread fall behind by [`MAX_PENDING`] values, callers free their own.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

/// Values waiting before the thread is woken to free them; fewer stay allocated until more
/// come or the reclaimer is dropped.
pub(crate) const WAKE_AT: usize = 64;

/// Values that may wait at most; a batch that would pass this is freed by its caller.
pub(crate) const MAX_PENDING: usize = 4_096;

/// Hands values over to a thread that drops them; the thread starts at the first value.
#[derive(Debug)]
pub(crate) struct Reclaimer<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    /// Whether the thread runs; `false` once it could not be started (callers then free
    /// everything themselves).
    started: OnceLock<bool>,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
}

#[derive(Debug)]
struct State<T> {
    pending: Vec<T>,
    /// The reclaimer is gone: free what is pending and end.
    closed: bool,
}

impl<T: Send + 'static> Reclaimer<T> {
    pub(crate) fn new() -> Self {
        let state = State { pending: Vec::new(), closed: false };
        Reclaimer {
            shared: Arc::new(Shared { state: Mutex::new(state), wake: Condvar::new() }),
            started: OnceLock::new(),
        }
    }

    /// Drops `batch`, later on the reclaiming thread or, when too much waits already, here.
    pub(crate) fn discard<I>(&self, batch: I)
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let batch = batch.into_iter();
        if batch.len() == 0 || !self.started.get_or_init(|| self.start()) {
            return;
        }
        let mut state = self.shared.lock();
        if state.pending.len().saturating_add(batch.len()) > MAX_PENDING {
            drop(state);
            drop(batch);
            return;
        }
        let was_asleep = state.pending.len() < WAKE_AT;
        state.pending.extend(batch);
        let wake = was_asleep && state.pending.len() >= WAKE_AT;
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    fn start(&self) -> bool {
        let shared = Arc::clone(&self.shared);
        let spawned =
            thread::Builder::new().name("execstore-reclaim".to_owned()).spawn(move || {
                shared.run();
            });
        spawned.is_ok()
    }
}

impl<T: Send + 'static> Drop for Reclaimer<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state is a list and a flag, whole at every point a panic could occur.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread: frees what is pending whenever [`WAKE_AT`] values wait, and everything
    /// once the reclaimer is gone.
    fn run(&self) {
        let mut state = self.lock();
        loop {
            while state.pending.len() < WAKE_AT && !state.closed {
                state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            let garbage = std::mem::take(&mut state.pending);
            let closed = state.closed;
            drop(state);
            drop(garbage);
            if closed {
                return;
            }
            state = self.lock();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    use super::*;

    type Log = Arc<Mutex<Vec<thread::ThreadId>>>;

    /// Records, when dropped, the thread that dropped it; with a barrier, first waits at it
    /// twice (to hold the dropping thread until released).
    struct Witness {
        log: Log,
        stall: Option<Arc<Barrier>>,
    }

    impl Drop for Witness {
        fn drop(&mut self) {
            if let Some(stall) = &self.stall {
                stall.wait();
                stall.wait();
            }
            self.log.lock().unwrap_or_else(|p| p.into_inner()).push(thread::current().id());
        }
    }

    fn witnesses(log: &Log, n: usize) -> Vec<Witness> {
        (0..n).map(|_| Witness { log: Arc::clone(log), stall: None }).collect()
    }

    fn droppers(log: &Log) -> Vec<thread::ThreadId> {
        log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `n` witnesses of `log` are dropped; the one thread that dropped them.
    fn dropped_by_one_thread(log: &Log, n: usize) -> thread::ThreadId {
        let deadline = Instant::now() + Duration::from_secs(10);
        while droppers(log).len() < n {
            assert!(Instant::now() < deadline, "never freed");
            thread::sleep(Duration::from_millis(1));
        }
        let dropped_by = droppers(log);
        assert_eq!(dropped_by.len(), n);
        let [reclaiming, ..] = *dropped_by.as_slice() else { panic!("nothing was freed") };
        assert!(dropped_by.iter().all(|&id| id == reclaiming), "one thread freed them");
        reclaiming
    }

    #[test]
    fn values_wait_until_enough_have_come_then_the_thread_frees_them() {
        let log = Log::default();
        let reclaimer = Reclaimer::new();
        for _ in 0..WAKE_AT - 1 {
            reclaimer.discard(witnesses(&log, 1));
        }
        thread::sleep(Duration::from_millis(20));
        assert!(droppers(&log).is_empty(), "the thread sleeps below {WAKE_AT}");
        reclaimer.discard(witnesses(&log, 1));
        assert_ne!(dropped_by_one_thread(&log, WAKE_AT), thread::current().id());
    }

    #[test]
    fn dropping_the_reclaimer_frees_what_still_waits_on_its_thread() {
        let log = Log::default();
        let reclaimer = Reclaimer::new();
        reclaimer.discard(witnesses(&log, 3));
        drop(reclaimer);
        assert_ne!(dropped_by_one_thread(&log, 3), thread::current().id());
    }

    #[test]
    fn a_batch_past_the_bound_is_freed_by_its_caller() {
        let stall = Arc::new(Barrier::new(2));
        let held = Log::default();
        let reclaimer = Reclaimer::new();
        let mut first = witnesses(&held, WAKE_AT);
        if let Some(witness) = first.first_mut() {
            witness.stall = Some(Arc::clone(&stall));
        }
        reclaimer.discard(first);
        stall.wait(); // The thread is now inside the first batch's first drop.
        let (waiting, overflow) = (Log::default(), Log::default());
        reclaimer.discard(witnesses(&waiting, MAX_PENDING));
        assert!(droppers(&waiting).is_empty(), "{MAX_PENDING} may wait");
        reclaimer.discard(witnesses(&overflow, 1));
        assert_eq!(droppers(&overflow), vec![thread::current().id()]);
        stall.wait();
        assert_ne!(dropped_by_one_thread(&waiting, MAX_PENDING), thread::current().id());
    }
}
