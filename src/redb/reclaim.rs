//! Frees what the cache lets go of on a thread of its own.
//!
//! An evicted record was usually decoded or written long before, so its many small
//! allocations are cold in the CPU's caches and freeing them costs microseconds each
//! (about 9 µs per record measured here, against 2 µs for a record just built): a
//! `store_many` of 1,000 spent 9 ms of its 50 ms freeing the records it pushed out of the
//! cache. Large batches go to the reclaiming thread instead; small ones, and any batch
//! that finds the thread's queue full (so garbage never piles up faster than it is freed),
//! are freed by the caller.

use std::sync::OnceLock;
use std::thread;

use crossbeam_channel::{Sender, TrySendError};

/// Batches smaller than this are freed by the caller: handing them over (a queue push and
/// maybe a wake-up) would cost about what freeing them does.
pub(crate) const DEFER_FROM: usize = 16;

/// Batches the reclaiming thread may have queued before callers free their own.
const QUEUE_BATCHES: usize = 8;

/// Hands batches of values to a thread that drops them; started at the first large batch.
#[derive(Debug)]
pub(crate) struct Reclaimer<T: Send + 'static> {
    /// `None` inside once the thread could not be started: callers then free everything.
    queue: OnceLock<Option<Sender<Vec<T>>>>,
}

impl<T: Send + 'static> Reclaimer<T> {
    pub(crate) fn new() -> Self {
        Reclaimer { queue: OnceLock::new() }
    }

    /// Drops `batch`, here or on the reclaiming thread. The thread ends once this
    /// reclaimer is dropped and it has freed what was queued.
    pub(crate) fn discard(&self, batch: Vec<T>) {
        if batch.len() < DEFER_FROM {
            return;
        }
        let Some(queue) = self.queue.get_or_init(start) else { return };
        if let Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) =
            queue.try_send(batch)
        {
            drop(batch);
        }
    }
}

fn start<T: Send + 'static>() -> Option<Sender<Vec<T>>> {
    let (queue, batches) = crossbeam_channel::bounded::<Vec<T>>(QUEUE_BATCHES);
    let spawned = thread::Builder::new()
        .name("execstore-reclaim".to_owned())
        .spawn(move || batches.iter().for_each(drop));
    spawned.is_ok().then_some(queue)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::Duration;

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

    #[test]
    fn a_small_batch_is_freed_by_the_caller_before_discard_returns() {
        let log = Log::default();
        Reclaimer::new().discard(witnesses(&log, DEFER_FROM - 1));
        assert_eq!(droppers(&log), vec![thread::current().id(); DEFER_FROM - 1]);
    }

    #[test]
    fn a_large_batch_is_freed_on_the_reclaiming_thread() {
        let log = Log::default();
        let reclaimer = Reclaimer::new();
        reclaimer.discard(witnesses(&log, DEFER_FROM));
        drop(reclaimer);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while droppers(&log).len() < DEFER_FROM {
            assert!(std::time::Instant::now() < deadline, "the batch was never freed");
            thread::sleep(Duration::from_millis(1));
        }
        let dropped_by = droppers(&log);
        let reclaiming = dropped_by.first().copied().unwrap();
        assert!(dropped_by.iter().all(|&id| id == reclaiming), "one thread freed it");
        assert_ne!(reclaiming, thread::current().id());
    }

    #[test]
    fn a_full_queue_makes_the_caller_free_its_own_batch() {
        let stall = Arc::new(Barrier::new(2));
        let held = Log::default();
        let reclaimer = Reclaimer::new();
        let mut first = witnesses(&held, DEFER_FROM);
        if let Some(witness) = first.first_mut() {
            witness.stall = Some(Arc::clone(&stall));
        }
        reclaimer.discard(first);
        stall.wait(); // The thread is now inside the first batch's first drop.
        let log = Log::default();
        for _ in 0..QUEUE_BATCHES {
            reclaimer.discard(witnesses(&log, DEFER_FROM));
        }
        assert!(droppers(&log).is_empty(), "the queue takes {QUEUE_BATCHES} batches");
        reclaimer.discard(witnesses(&log, DEFER_FROM));
        assert_eq!(droppers(&log), vec![thread::current().id(); DEFER_FROM]);
        stall.wait();
    }
}
