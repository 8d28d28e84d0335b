//! `MemoryStorage`: the in-memory backend, with ordered indexes and counters.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, Result};
use crate::model::{ExecutionStatus, ExecutionSummary, StorageStats, StoredExecution};
use crate::query::{collect_page, statuses_or_all, HistoryQuery, Order, Page};
use crate::sampling::TailSampling;
use crate::storage::{check_id_unchanged, page_vec, truncate_values, validate_id, Config};
use crate::ExecutionStorage;

/// Execution history held in memory, as Constellation's built-in storage.
///
/// Keeps the newest [`Config::max_executions`] records by start time. A page of `list`
/// walks an ordered index (O(log n + offset + limit)) and `stats` reads counters (O(1)).
/// Readers share a read lock; writers take the write lock for the index update only.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    config: Config,
    sampling: Option<TailSampling>,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    records: HashMap<String, Entry>,
    /// (start_time, id): ascending, so a reverse walk is newest first, ties by id descending.
    by_start: BTreeSet<(i64, String)>,
    /// script_path → (start_time, id), for records that have a script path.
    by_script: HashMap<String, BTreeSet<(i64, String)>>,
    counts: StatusCounts,
}

#[derive(Debug)]
struct Entry {
    execution: Arc<StoredExecution>,
    summary: ExecutionSummary,
}

#[derive(Debug, Default, Clone, Copy)]
struct StatusCounts {
    running: u64,
    completed: u64,
    failed: u64,
}

impl StatusCounts {
    fn slot(&mut self, status: ExecutionStatus) -> &mut u64 {
        match status {
            ExecutionStatus::Running => &mut self.running,
            ExecutionStatus::Completed => &mut self.completed,
            ExecutionStatus::Failed => &mut self.failed,
        }
    }
}

impl MemoryStorage {
    /// An empty store with this configuration.
    pub fn new(config: Config) -> Self {
        let config = Config { max_executions: config.max_executions.max(1), ..config };
        MemoryStorage { config, sampling: None, state: RwLock::default() }
    }

    /// The same store with tail sampling of completed runs (see [`TailSampling`]).
    #[must_use]
    pub fn with_tail_sampling(mut self, sampling: TailSampling) -> Self {
        self.sampling = Some(sampling);
        self
    }

    /// Whether the sampling policy keeps `execution`, which is about to be stored.
    fn admits(&self, execution: &mut StoredExecution) -> bool {
        self.sampling.is_none_or(|s| s.admit_stored(execution))
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // State is only mutated after every fallible step and user closure has run, so a
        // poisoned lock still guards consistent data.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn prepare(&self, mut execution: StoredExecution) -> Result<Entry> {
        validate_id(&execution.execution_id)?;
        truncate_values(&mut execution, self.config.max_value_size_bytes);
        let summary = ExecutionSummary::from(&execution);
        Ok(Entry { execution: Arc::new(execution), summary })
    }
}

impl State {
    fn insert(&mut self, entry: Entry) {
        let id = entry.execution.execution_id.clone();
        self.remove(&id);
        let execution = &entry.execution;
        self.by_start.insert((execution.start_time, id.clone()));
        if let Some(script) = &execution.script_path {
            let ids = self.by_script.entry(script.clone()).or_default();
            ids.insert((execution.start_time, id.clone()));
        }
        *self.counts.slot(execution.status) += 1;
        self.records.insert(id, entry);
    }

    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.records.remove(id)?;
        let execution = &entry.execution;
        let id = execution.execution_id.clone();
        self.by_start.remove(&(execution.start_time, id.clone()));
        if let Some(script) = &execution.script_path {
            self.remove_from_script(script, (execution.start_time, id));
        }
        let slot = self.counts.slot(execution.status);
        *slot = slot.saturating_sub(1);
        Some(entry)
    }

    fn remove_from_script(&mut self, script: &str, key: (i64, String)) {
        if let Some(ids) = self.by_script.get_mut(script) {
            ids.remove(&key);
            if ids.is_empty() {
                self.by_script.remove(script);
            }
        }
    }

    fn evict_beyond(&mut self, max_executions: usize) {
        while self.records.len() > max_executions {
            let Some((_, oldest)) = self.by_start.first().cloned() else { break };
            self.remove(&oldest);
        }
    }

    fn summaries<'a>(
        &self,
        ids: impl Iterator<Item = &'a String>,
        limit: usize,
    ) -> Vec<ExecutionSummary> {
        let mut page = page_vec(limit);
        page.extend(
            ids.take(limit).filter_map(|id| self.records.get(id)).map(|e| e.summary.clone()),
        );
        page
    }
}

impl ExecutionStorage for MemoryStorage {
    fn store(&self, execution: StoredExecution) -> Result<String> {
        self.store_many(vec![execution])?
            .pop()
            .ok_or_else(|| Error::Worker("store stored nothing".to_owned()))
    }

    fn store_many(&self, executions: Vec<StoredExecution>) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(executions.len());
        let mut writes = Vec::with_capacity(executions.len());
        for mut execution in executions {
            ids.push(execution.execution_id.clone());
            let keep = self.admits(&mut execution);
            writes.push((keep, self.prepare(execution)?));
        }
        let mut state = self.write();
        for (keep, entry) in writes {
            match keep {
                true => state.insert(entry),
                false => drop(state.remove(&entry.execution.execution_id)),
            }
        }
        state.evict_beyond(self.config.max_executions);
        Ok(ids)
    }

    fn get(&self, execution_id: &str) -> Result<Option<Arc<StoredExecution>>> {
        validate_id(execution_id)?;
        Ok(self.read().records.get(execution_id).map(|e| Arc::clone(&e.execution)))
    }

    fn list(&self, limit: usize, offset: usize) -> Result<Vec<ExecutionSummary>> {
        let state = self.read();
        let ids = state.by_start.iter().rev().skip(offset).map(|(_, id)| id);
        Ok(state.summaries(ids, limit))
    }

    fn list_by_script(&self, script_path: &str, limit: usize) -> Result<Vec<ExecutionSummary>> {
        let state = self.read();
        let Some(ids) = state.by_script.get(script_path) else { return Ok(Vec::new()) };
        Ok(state.summaries(ids.iter().rev().map(|(_, id)| id), limit))
    }

    /// Walks the start-time index from the cursor: O(log n + the entries it passes).
    fn query(&self, query: &HistoryQuery) -> Result<Page> {
        query.validate()?;
        let state = self.read();
        let keys: Box<dyn Iterator<Item = &(i64, String)>> = match query.order {
            Order::Newest => Box::new(state.by_start.iter().rev()),
            Order::Oldest => Box::new(state.by_start.iter()),
        };
        let candidates = keys
            .skip_while(|(start, id)| !query.is_past_cursor(*start, id))
            .filter_map(|(_, id)| state.records.get(id))
            .map(|entry| Ok(entry.summary.clone()));
        collect_page(query, candidates, usize::MAX)
    }

    /// Counters for the statuses alone; otherwise a scan of every record.
    fn count(&self, filter: &HistoryQuery) -> Result<u64> {
        let state = self.read();
        if filter.dag_name.is_none() && filter.is_counted_by_counters() {
            let mut counts = state.counts;
            let statuses = statuses_or_all(&filter.statuses);
            return Ok(statuses.iter().map(|&s| *counts.slot(s)).sum());
        }
        Ok(state.records.values().filter(|e| filter.matches(&e.summary)).count() as u64)
    }

    fn stats(&self) -> Result<StorageStats> {
        let state = self.read();
        Ok(StorageStats {
            total_executions: state.records.len() as u64,
            running_executions: state.counts.running,
            completed_executions: state.counts.completed,
            failed_executions: state.counts.failed,
            oldest_execution_time: state.by_start.first().map(|(start, _)| *start),
            newest_execution_time: state.by_start.last().map(|(start, _)| *start),
            max_capacity: Some(self.config.max_executions as u64),
        })
    }

    fn update(
        &self,
        execution_id: &str,
        f: &mut dyn FnMut(&mut StoredExecution),
    ) -> Result<Option<Arc<StoredExecution>>> {
        validate_id(execution_id)?;
        let mut state = self.write();
        let Some(current) = state.records.get(execution_id) else { return Ok(None) };
        let before = current.execution.status;
        let mut updated = StoredExecution::clone(&current.execution);
        f(&mut updated);
        check_id_unchanged(execution_id, &updated)?;
        let keep = self.sampling.is_none_or(|s| s.admit_updated(before, &mut updated));
        let entry = self.prepare(updated)?;
        let result = Arc::clone(&entry.execution);
        match keep {
            true => state.insert(entry),
            false => drop(state.remove(execution_id)),
        }
        Ok(Some(result))
    }

    fn delete(&self, execution_id: &str) -> Result<bool> {
        validate_id(execution_id)?;
        Ok(self.write().remove(execution_id).is_some())
    }

    fn clear(&self) -> Result<()> {
        *self.write() = State::default();
        Ok(())
    }
}
