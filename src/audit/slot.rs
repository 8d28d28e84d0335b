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

pub(crate) struct Slot {
    /// `None` only between dropping a failed handle and a successful reopen.
    db: RwLock<Option<Arc<Database>>>,
    reopen: Option<Reopen>,
}

impl Slot {
    pub(crate) fn new(db: Arc<Database>, reopen: Option<Reopen>) -> Self {
        Slot { db: RwLock::new(Some(db)), reopen }
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
