//! The reference: a `BTreeMap` of records, sorted on every query, and the comparison of
//! every storage result with it.

use std::collections::BTreeMap;

use execstore::{
    truncate_values, Error, ExecutionStatus, ExecutionStorage, ExecutionSummary, HistoryQuery,
    Order, StorageStats, StoredExecution,
};

use super::{id, script, Change, Op, Rec, MAX_EXECUTIONS, MAX_VALUE_BYTES, SCRIPTS};

/// What the store must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub records: BTreeMap<String, StoredExecution>,
}

/// List order: newest start first, ties by id descending.
fn newest_first(a: &StoredExecution, b: &StoredExecution) -> std::cmp::Ordering {
    (b.start_time, &b.execution_id).cmp(&(a.start_time, &a.execution_id))
}

impl Model {
    fn put(&mut self, mut e: StoredExecution) {
        truncate_values(&mut e, MAX_VALUE_BYTES);
        self.records.insert(e.execution_id.clone(), e);
    }

    fn evict(&mut self) {
        while self.records.len() > MAX_EXECUTIONS {
            let oldest = self.records.values().max_by(|a, b| newest_first(a, b));
            let Some(oldest) = oldest.map(|e| e.execution_id.clone()) else { break };
            self.records.remove(&oldest);
        }
    }

    /// Summaries newest first, of every record or of one script's.
    pub fn summaries(&self, script: Option<&str>) -> Vec<ExecutionSummary> {
        let mut all: Vec<_> = self
            .records
            .values()
            .filter(|e| script.is_none() || e.script_path.as_deref() == script)
            .collect();
        all.sort_by(|a, b| newest_first(a, b));
        all.into_iter().map(ExecutionSummary::from).collect()
    }

    pub fn stats(&self) -> StorageStats {
        let count = |s| self.records.values().filter(|e| e.status == s).count() as u64;
        StorageStats {
            total_executions: self.records.len() as u64,
            running_executions: count(ExecutionStatus::Running),
            completed_executions: count(ExecutionStatus::Completed),
            failed_executions: count(ExecutionStatus::Failed),
            oldest_execution_time: self.records.values().map(|e| e.start_time).min(),
            newest_execution_time: self.records.values().map(|e| e.start_time).max(),
            max_capacity: Some(MAX_EXECUTIONS as u64),
        }
    }

    /// The model after a write `op` succeeds (reads and reopen leave it as it is).
    pub fn after(&self, op: &Op) -> Model {
        let mut next = self.clone();
        match op {
            Op::Store(r) => {
                next.put(r.build());
                next.evict();
            }
            Op::StoreMany(rs) => {
                rs.iter().for_each(|r| next.put(r.build()));
                next.evict();
            }
            Op::Update(n, change) if !matches!(change, Change::Id) => {
                if let Some(mut e) = next.records.get(&id(*n)).cloned() {
                    change.apply(&mut e);
                    next.put(e);
                }
            }
            Op::Delete(n) => {
                next.records.remove(&id(*n));
            }
            Op::Clear => next.records.clear(),
            _ => {}
        }
        next
    }
}

/// Runs `op` on `store`, compares its result with the model's and advances the model.
/// Panics on any difference; returns the storage error, the model untouched, on failure.
pub fn step(store: &dyn ExecutionStorage, model: &mut Model, op: &Op) -> Result<(), Error> {
    let next = model.after(op);
    match op {
        Op::Store(r) => assert_eq!(store.store(r.build())?, id(r.id), "{op:?}"),
        Op::StoreMany(rs) => {
            let ids = store.store_many(rs.iter().map(Rec::build).collect())?;
            assert_eq!(ids, rs.iter().map(|r| id(r.id)).collect::<Vec<_>>(), "{op:?}");
        }
        Op::Get(n) => {
            let got = store.get(&id(*n))?.map(|e| (*e).clone());
            assert_eq!(got.as_ref(), model.records.get(&id(*n)), "{op:?}");
        }
        Op::List { limit, offset } => {
            let (limit, offset) = (usize::from(*limit % 10), usize::from(*offset % 10));
            let expected: Vec<_> =
                model.summaries(None).into_iter().skip(offset).take(limit).collect();
            assert_eq!(store.list(limit, offset)?, expected, "{op:?}");
        }
        Op::ListByScript { script: s, limit } => {
            let limit = usize::from(*limit % 10);
            let expected: Vec<_> =
                model.summaries(Some(script(*s))).into_iter().take(limit).collect();
            assert_eq!(store.list_by_script(script(*s), limit)?, expected, "{op:?}");
        }
        Op::Stats => assert_eq!(store.stats()?, model.stats(), "{op:?}"),
        Op::Query(filter) => check_query(store, model, &filter.query())?,
        Op::Update(n, change) => check_update(store, model, &id(*n), change)?,
        Op::Delete(n) => {
            assert_eq!(store.delete(&id(*n))?, model.records.contains_key(&id(*n)), "{op:?}");
        }
        Op::Clear => store.clear()?,
        Op::Reopen => {}
    }
    *model = next;
    Ok(())
}

/// Pages `query` to the end and counts it; both must equal the model's matches.
fn check_query(
    store: &dyn ExecutionStorage,
    model: &Model,
    query: &HistoryQuery,
) -> Result<(), Error> {
    let mut expected: Vec<_> =
        model.summaries(None).into_iter().filter(|s| query.matches(s)).collect();
    if query.order == Order::Oldest {
        expected.reverse();
    }
    let mut seen = Vec::new();
    let mut page_query = query.clone();
    loop {
        let page = store.query(&page_query)?;
        assert!(page.items.len() <= query.limit, "{query:?}");
        seen.extend(page.items);
        match page.next {
            Some(next) => page_query.cursor = Some(next.to_string().parse()?),
            None => break,
        }
        assert!(seen.len() <= expected.len() + 1, "{query:?} does not end");
    }
    assert_eq!(seen, expected, "{query:?}");
    assert_eq!(store.count(query)?, expected.len() as u64, "count {query:?}");
    Ok(())
}

fn check_update(
    store: &dyn ExecutionStorage,
    model: &Model,
    key: &str,
    change: &Change,
) -> Result<(), Error> {
    let result = store.update(key, &mut |e| change.apply(e));
    let Some(current) = model.records.get(key) else {
        return match result {
            Ok(None) => Ok(()),
            Err(e) => Err(e),
            Ok(Some(v)) => panic!("update of missing {key} returned {v:?}"),
        };
    };
    if matches!(change, Change::Id) {
        match result {
            Err(Error::IdChanged { .. }) => return Ok(()),
            Err(other) => return Err(other),
            Ok(v) => panic!("update changing the id of {key} returned {v:?}"),
        }
    }
    let mut expected = current.clone();
    change.apply(&mut expected);
    truncate_values(&mut expected, MAX_VALUE_BYTES);
    let stored = result?.map(|e| (*e).clone());
    assert_eq!(stored.as_ref(), Some(&expected), "update {key} {change:?}");
    Ok(())
}

/// Everything the store holds, read through every query, compared with `model`.
pub fn assert_holds(store: &dyn ExecutionStorage, model: &Model) -> Result<(), Error> {
    assert_eq!(store.stats()?, model.stats(), "stats");
    assert_eq!(store.list(usize::MAX, 0)?, model.summaries(None), "list");
    for s in SCRIPTS {
        assert_eq!(store.list_by_script(s, usize::MAX)?, model.summaries(Some(s)), "{s}");
    }
    for n in 0..12 {
        let got = store.get(&id(n))?.map(|e| (*e).clone());
        assert_eq!(got.as_ref(), model.records.get(&id(n)), "get {}", id(n));
    }
    Ok(())
}

/// Whether the store holds exactly `model` (no panic on a difference).
pub fn holds(store: &dyn ExecutionStorage, model: &Model) -> Result<bool, Error> {
    if store.stats()? != model.stats() || store.list(usize::MAX, 0)? != model.summaries(None) {
        return Ok(false);
    }
    for n in 0..12 {
        if store.get(&id(n))?.map(|e| (*e).clone()).as_ref() != model.records.get(&id(n)) {
            return Ok(false);
        }
    }
    Ok(SCRIPTS
        .iter()
        .all(|s| store.list_by_script(s, usize::MAX).ok() == Some(model.summaries(Some(s)))))
}
