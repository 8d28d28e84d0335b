//! Random sequences of audit events, record stores and deletes, sweeps and reopenings,
//! applied to a store and its audit log and to a plain model: `events_after` from any seq
//! and a follower that resumes from its last seq must match the model exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;

use execstore::{AuditConfig, AuditLog, ExecutionListener, ExecutionStorage, RedbStorage};
use proptest::prelude::*;
use support::execution;
use uuid::Uuid;

const RUNS: u8 = 5;

#[derive(Debug, Clone)]
enum Op {
    Emit { run: u8, count: u64 },
    Store(u8),
    Delete(u8),
    Clear,
    Sweep(u64),
    Reopen,
    Page { after: u64, limit: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..RUNS, 1..300u64).prop_map(|(run, count)| Op::Emit { run, count }),
        2 => (0..RUNS).prop_map(Op::Store),
        2 => (0..RUNS).prop_map(Op::Delete),
        1 => Just(Op::Clear),
        2 => (1..4u64).prop_map(Op::Sweep),
        1 => Just(Op::Reopen),
        2 => (0..1_500u64, 1..400usize).prop_map(|(after, limit)| Op::Page { after, limit }),
    ]
}

fn run_id(run: u8) -> Uuid {
    Uuid::from_u128(0x7a11_0000_0000_0000_0000_0000_0000_0000 + u128::from(run))
}

/// What the log should hold.
#[derive(Debug, Default)]
struct Model {
    /// `(seq, run)` of every event kept, in seq order.
    events: Vec<(u64, u8)>,
    next_seq: u64,
    stored: BTreeSet<u8>,
    orphans: BTreeSet<u8>,
}

impl Model {
    fn sweep(&mut self) {
        self.events.retain(|(_, run)| !self.orphans.contains(run));
        self.orphans.clear();
    }

    fn after(&self, after: u64, limit: usize) -> Vec<(u64, u8)> {
        self.events.iter().filter(|(seq, _)| *seq > after).take(limit).copied().collect()
    }
}

struct Subject {
    storage: RedbStorage,
    log: AuditLog,
}

impl Subject {
    fn open(path: &Path) -> Result<Self, execstore::Error> {
        let storage = RedbStorage::open(path)?;
        let log = storage.audit_log(AuditConfig { max_batch: 128, ..AuditConfig::default() })?;
        Ok(Subject { storage, log })
    }

    fn page(&self, after: u64, limit: usize) -> Result<Vec<(u64, u8)>, TestCaseError> {
        let events = self.log.events_after(after, limit).map_err(fail)?;
        let run = |id: Uuid| (0..RUNS).find(|&r| run_id(r) == id).unwrap_or(u8::MAX);
        Ok(events.iter().map(|e| (e.seq, run(e.execution_id))).collect())
    }
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Applies `op` to both; returns the subject, which a reopening replaces.
fn apply(
    mut subject: Subject,
    model: &mut Model,
    op: &Op,
    path: &Path,
) -> Result<Subject, TestCaseError> {
    match *op {
        Op::Emit { run, count } => {
            for i in 0..count {
                subject.log.on_module_complete(run_id(run), Uuid::nil(), "step", i);
                model.events.push((model.next_seq + i, run));
            }
            model.next_seq += count;
            subject.log.flush().map_err(fail)?;
        }
        Op::Store(run) => {
            let record = execution(&run_id(run).to_string(), i64::from(run), None);
            subject.storage.store(record).map_err(fail)?;
            model.stored.insert(run);
            model.orphans.remove(&run);
        }
        Op::Delete(run) => {
            let removed = subject.storage.delete(&run_id(run).to_string()).map_err(fail)?;
            prop_assert_eq!(removed, model.stored.remove(&run));
            if removed {
                model.orphans.insert(run);
            }
        }
        Op::Clear => {
            subject.storage.clear().map_err(fail)?;
            model.orphans.append(&mut model.stored);
        }
        Op::Sweep(budget) => {
            while subject.storage.sweep_audit(budget).map_err(fail)? > 0 {}
            model.sweep();
        }
        Op::Reopen => {
            let Subject { storage, log } = subject;
            log.close().map_err(fail)?;
            drop(storage);
            subject = Subject::open(path).map_err(fail)?;
            // Opening prunes, and a prune sweeps the events of removed runs.
            model.sweep();
        }
        Op::Page { after, limit } => {
            prop_assert_eq!(subject.page(after, limit)?, model.after(after, limit));
        }
    }
    Ok(subject)
}

/// Reads everything after `cursor` in pages of `page`, as a forwarder would.
fn follow(
    subject: &Subject,
    cursor: &mut u64,
    page: usize,
) -> Result<Vec<(u64, u8)>, TestCaseError> {
    let mut seen = Vec::new();
    loop {
        let next = subject.page(*cursor, page)?;
        let Some(&(last, _)) = next.last() else { return Ok(seen) };
        *cursor = last;
        seen.extend(next);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn events_after_and_a_resuming_follower_match_the_model(
        ops in prop::collection::vec(op(), 1..24),
        page in 1..200usize,
    ) {
        let dir = tempfile::tempdir().map_err(fail)?;
        let path = dir.path().join("history.redb");
        let mut subject = Subject::open(&path).map_err(fail)?;
        let mut model = Model { next_seq: 1, ..Model::default() };
        let mut cursor = 0;
        for op in &ops {
            subject = apply(subject, &mut model, op, &path)?;
            let expected = model.after(cursor, usize::MAX);
            prop_assert_eq!(follow(&subject, &mut cursor, page)?, expected);
            prop_assert_eq!(subject.page(0, usize::MAX)?, model.after(0, usize::MAX));
        }
        subject.storage.verify().map_err(fail)?;
        subject.log.close().map_err(fail)?;
    }
}
