//! The audit log's database handle, which the writer replaces after an I/O error.
//!
//! redb refuses every operation on a handle whose storage once failed, until that handle is
//! dropped and the file opened again. A log with its own file or backend can do that itself;
//! a log sharing a `RedbStorage`'s handle cannot, and reports every later batch as failed.

use std::sync::{Arc, PoisonError, RwLock};

use redb::Database;

use crate::error::{Error, Result};

/// Opens the log's database again.
pub(crate) type Reopen = Box<dyn Fn() -> Result<Database> + Send + Sync>;

/// Runs a write of the log under the write lock of the store whose handle it shares, once
/// that store has published what it holds open (see `redb/unpublished.rs`): redb allows
/// one write transaction at a time, and the store's may otherwise stay open indefinitely.
pub(crate) type WriteGate = Arc<dyn Fn(&mut dyn FnMut() -> Result<()>) -> Result<()> + Send + Sync>;

pub(crate) struct Slot {
    /// `None` only between dropping a failed handle and a successful reopen.
    db: RwLock<Option<Arc<Database>>>,
    reopen: Option<Reopen>,
    gate: Option<WriteGate>,
}

impl Slot {
    /// A handle of the log's own, which `reopen` opens again after an I/O error.
    pub(crate) fn new(db: Arc<Database>, reopen: Reopen) -> Self {
        Slot { db: RwLock::new(Some(db)), reopen: Some(reopen), gate: None }
    }

    /// A store's handle, written to through its `gate` and never reopened.
    pub(crate) fn shared(db: Arc<Database>, gate: WriteGate) -> Self {
        Slot { db: RwLock::new(Some(db)), reopen: None, gate: Some(gate) }
    }

    /// Runs `work` on the current handle, which stays open until it returns.
    pub(crate) fn with<T>(&self, work: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let db = guard.as_deref().ok_or_else(|| Error::Storage {
            operation: "audit",
            reason: "the audit database could not be reopened after an I/O error".to_owned(),
        })?;
        work(db)
    }

    /// [`with`](Self::with) for work that begins a write transaction.
    pub(crate) fn with_write<T>(&self, work: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let Some(gate) = &self.gate else { return self.with(work) };
        let mut work = Some(work);
        let mut out = None;
        gate(&mut || {
            if let Some(work) = work.take() {
                out = Some(self.with(work)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| Error::Worker("an audit write did not run".to_owned()))
    }

    /// Drops the current handle and opens a fresh one. `false` for a shared handle, which
    /// is left as it is.
    pub(crate) fn reopen(&self) -> Result<bool> {
        let Some(reopen) = &self.reopen else { return Ok(false) };
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The old handle holds the file's lock: it must be closed before opening again.
        *guard = None;
        *guard = Some(Arc::new(reopen()?));
        Ok(true)
    }
}
