//! The LRU read-through cache of decoded records.
//!
//! Coherence rests on two rules. Writers refresh or drop entries after their commit and
//! before returning, one writer at a time (the store's write lock), so the last write to
//! touch an id also sets its entry last. Readers that miss note the cache's generation
//! before their read transaction and insert what they read only if no writer has touched
//! the cache since: a value read before a commit can never overwrite a newer one.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use super::reclaim::Reclaimer;
use crate::model::StoredExecution;

/// A bounded map from execution id to its decoded record; capacity 0 caches nothing.
#[derive(Debug)]
pub(crate) struct RecordCache {
    inner: Option<Mutex<Inner>>,
    /// Frees evicted and replaced records, outside the lock and mostly on its own thread.
    reclaimer: Reclaimer<Arc<StoredExecution>>,
}

#[derive(Debug)]
struct Inner {
    records: LruCache<String, Arc<StoredExecution>>,
    generation: u64,
}

/// What a reader notes before a miss's read transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl RecordCache {
    pub(crate) fn new(capacity: usize) -> Self {
        let inner = NonZeroUsize::new(capacity)
            .map(|cap| Mutex::new(Inner { records: LruCache::new(cap), generation: 0 }));
        RecordCache { inner, reclaimer: Reclaimer::new() }
    }

    /// Poisoning only means another thread panicked while holding the lock; the map itself
    /// is never left half-updated by our code, so its contents are still usable.
    fn lock(&self) -> Option<MutexGuard<'_, Inner>> {
        self.inner.as_ref().map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The cached record, or the generation to hand back to [`RecordCache::fill`].
    pub(crate) fn get(&self, id: &str) -> Result<Arc<StoredExecution>, Generation> {
        let Some(mut inner) = self.lock() else { return Err(Generation(0)) };
        match inner.records.get(id) {
            Some(record) => Ok(Arc::clone(record)),
            None => Err(Generation(inner.generation)),
        }
    }

    /// Caches what a reader read, unless a writer touched the cache since `seen`.
    pub(crate) fn fill(&self, seen: Generation, record: &Arc<StoredExecution>) {
        let Some(mut inner) = self.lock() else { return };
        if inner.generation == seen.0 {
            let evicted = inner.records.push(record.execution_id.clone(), Arc::clone(record));
            drop(inner);
            self.reclaimer.discard(evicted.map(|(_, old)| old));
        }
    }

    /// After a commit: caches the records written, drops the ids removed.
    pub(crate) fn apply(&self, written: &[Arc<StoredExecution>], removed: &[String]) {
        let Some(mut inner) = self.lock() else { return };
        inner.generation = inner.generation.wrapping_add(1);
        let mut garbage = Vec::new();
        // Retention runs after the writes of a transaction, so removals win.
        for record in written {
            let evicted = inner.records.push(record.execution_id.clone(), Arc::clone(record));
            garbage.extend(evicted.map(|(_, old)| old));
        }
        for id in removed {
            garbage.extend(inner.records.pop(id.as_str()));
        }
        drop(inner);
        self.reclaimer.discard(garbage);
    }

    /// After `clear`: forgets everything.
    pub(crate) fn clear(&self) {
        let Some(mut inner) = self.lock() else { return };
        inner.generation = inner.generation.wrapping_add(1);
        let capacity = inner.records.cap();
        let forgotten = std::mem::replace(&mut inner.records, LruCache::new(capacity));
        drop(inner);
        self.reclaimer.discard(forgotten.into_iter().map(|(_, record)| record));
    }
}
