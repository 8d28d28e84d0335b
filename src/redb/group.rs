//! Group commit: concurrent durable writes share one redb commit (one fsync).
//!
//! Writers queue their operation. Whoever finds no commit in progress becomes the leader:
//! it takes every queued operation, commits them together, hands each waiter its own
//! result and wakes them; a waiter returns only once the commit holding its operation is
//! done. Alone, a writer is its own leader at the cost of two uncontended lock round trips.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// The queue of operations waiting for a commit.
#[derive(Debug)]
pub(crate) struct CommitQueue<Op, Out> {
    state: Mutex<State<Op, Out>>,
    wake: Condvar,
}

#[derive(Debug)]
struct State<Op, Out> {
    next_ticket: u64,
    pending: VecDeque<(u64, Op)>,
    finished: HashMap<u64, Result<Out>>,
    leader_active: bool,
}

impl<Op, Out> CommitQueue<Op, Out> {
    pub(crate) fn new() -> Self {
        let state = State {
            next_ticket: 0,
            pending: VecDeque::new(),
            finished: HashMap::new(),
            leader_active: false,
        };
        CommitQueue { state: Mutex::new(state), wake: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State<Op, Out>> {
        // Every critical section leaves the state whole before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `op` and returns its result once committed. `commit` receives a group of
    /// operations (including `op`) and must return one result per operation, in order.
    pub(crate) fn submit(
        &self,
        op: Op,
        commit: impl FnOnce(Vec<Op>) -> Vec<Result<Out>>,
    ) -> Result<Out> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket = state.next_ticket.wrapping_add(1);
        state.pending.push_back((ticket, op));
        loop {
            if let Some(result) = state.finished.remove(&ticket) {
                return result;
            }
            if !state.leader_active {
                break;
            }
            state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        state.leader_active = true;
        let (tickets, ops): (Vec<u64>, Vec<Op>) = state.pending.drain(..).unzip();
        drop(state);
        let leadership = Leadership { queue: self, tickets: &tickets };
        let results = commit(ops);
        leadership.finish(results);
        let mut state = self.lock();
        state.finished.remove(&ticket).unwrap_or(Err(lost_result()))
    }
}

fn lost_result() -> Error {
    Error::Worker("a group commit ended without a result for this write".to_owned())
}

/// The leader's duty: publish a result for every ticket it took and hand over leadership,
/// even if the commit panicked (then each waiter gets an error instead of waiting forever).
struct Leadership<'a, Op, Out> {
    queue: &'a CommitQueue<Op, Out>,
    tickets: &'a [u64],
}

impl<Op, Out> Leadership<'_, Op, Out> {
    fn finish(self, results: Vec<Result<Out>>) {
        let mut state = self.queue.lock();
        let mut results = results.into_iter();
        for &ticket in self.tickets {
            let result = results.next().unwrap_or_else(|| Err(lost_result()));
            state.finished.insert(ticket, result);
        }
        drop(state);
        // `Drop` below releases leadership and wakes everyone.
    }
}

impl<Op, Out> Drop for Leadership<'_, Op, Out> {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        for &ticket in self.tickets {
            state.finished.entry(ticket).or_insert_with(|| Err(lost_result()));
        }
        state.leader_active = false;
        drop(state);
        self.queue.wake.notify_all();
    }
}
