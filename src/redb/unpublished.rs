//! Journaled writes kept in an open redb transaction until something needs to see them.
//!
//! Once the journal has made a write durable, committing redb after it serves only to
//! make it visible, and that commit costs as much as the write itself: redb checksums every
//! dirty page of every tree the write touched. So a journaled write leaves its transaction
//! open and the next one continues it. The transaction is committed (published) when a
//! reader, a write of another kind, a checkpoint or the bound below needs it; readers check
//! one flag. A crash loses an open transaction exactly as it loses a non-durable commit:
//! the journal replays both.
//!
//! A write that fails inside the open transaction takes the earlier writes' changes down
//! with it, so their journal effects are kept here and replayed into a fresh transaction.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use redb::{Database, Durability, WriteTransaction};

use super::journal::Effect;
use super::write::{Changes, Tables};
use crate::error::{Error, Result, StorageResultExt};

/// Published once the open transaction holds this many effects: bounds the memory the
/// effects and the transaction's dirty pages take, and the work a reader's publish does.
const PUBLISH_AT_EFFECTS: usize = 256;

/// The write lock and what it guards: the open transaction, if any.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    slot: Mutex<Unpublished>,
    /// Set while `slot` holds writes no commit has published (or they were lost); set
    /// before such a write returns, cleared only by the publish that commits it.
    pending: AtomicBool,
}

/// The open transaction and the effects of the writes it holds.
#[derive(Default)]
pub(crate) struct Unpublished {
    txn: Option<WriteTransaction>,
    effects: Vec<Effect>,
    /// The journal seq of the last write in `txn`.
    last_seq: u64,
    /// Why writes acknowledged earlier could not be published, once that happened.
    lost: Option<String>,
}

impl std::fmt::Debug for Unpublished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unpublished")
            .field("open", &self.txn.is_some())
            .field("effects", &self.effects.len())
            .field("last_seq", &self.last_seq)
            .field("lost", &self.lost)
            .finish()
    }
}

impl Writes {
    /// Takes the write lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Unpublished> {
        // Every field is updated after the fallible step it records, so a poisoned lock
        // still guards consistent data.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a reader must publish before it begins its transaction.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Commits the open transaction, if any, with `durability`. Should that fail, the
    /// writes it held are in the journal only: every later read and write is refused until
    /// the file is opened again (which replays them).
    pub(crate) fn publish(
        &self,
        slot: &mut Unpublished,
        durability: Durability,
        operation: &'static str,
    ) -> Result<()> {
        slot.refuse_if_lost(operation)?;
        let Some(mut txn) = slot.txn.take() else { return Ok(()) };
        let committed = txn
            .set_durability(durability)
            .during(operation)
            .and_then(|()| txn.commit().during(operation));
        self.published(slot, committed)
    }

    /// Commits durably whatever is open, or an empty transaction: a checkpoint.
    pub(crate) fn commit_durably(&self, db: &Database, slot: &mut Unpublished) -> Result<()> {
        const OP: &str = "checkpoint";
        if slot.txn.is_none() {
            slot.txn = Some(slot.begin(db, Durability::Immediate, OP)?);
        }
        self.publish(slot, Durability::Immediate, OP)
    }

    /// Publishes if the open transaction has reached its bound.
    pub(crate) fn publish_if_full(&self, slot: &mut Unpublished) -> Result<()> {
        if slot.effects.len() < PUBLISH_AT_EFFECTS {
            return Ok(());
        }
        self.publish(slot, Durability::None, "publish")
    }

    /// Keeps `txn`, which now also holds the journaled write `seq` with `effects`, open.
    pub(crate) fn keep(
        &self,
        slot: &mut Unpublished,
        txn: WriteTransaction,
        seq: u64,
        effects: Vec<Effect>,
    ) {
        slot.txn = Some(txn);
        slot.effects.extend(effects);
        slot.last_seq = seq;
        self.pending.store(true, Ordering::Release);
    }

    /// After a write failed inside the open transaction (which is then gone): replays the
    /// earlier writes it held into a fresh transaction and publishes them.
    pub(crate) fn restore(&self, db: &Database, slot: &mut Unpublished) -> Result<()> {
        const OP: &str = "restore";
        if slot.effects.is_empty() {
            return Ok(());
        }
        let replayed = (|| {
            let mut txn = db.begin_write().during(OP)?;
            txn.set_durability(Durability::None).during(OP)?;
            {
                let mut tables = Tables::open(&txn, OP, Some(slot.last_seq))?;
                for effect in slot.effects.iter().cloned() {
                    tables.replay(effect)?;
                }
                tables.finish()?;
            }
            txn.commit().during(OP)
        })();
        self.published(slot, replayed)
    }

    /// [`restore`](Self::restore) after a write failed with `error`; returns the error to
    /// report, the restore's if it failed too (it is the more serious one).
    pub(crate) fn restore_after(
        &self,
        db: &Database,
        slot: &mut Unpublished,
        error: Error,
    ) -> Error {
        self.restore(db, slot).err().unwrap_or(error)
    }

    /// Records how committing what `slot` held ended: nothing is left to publish, or the
    /// writes are lost (see [`publish`](Self::publish)).
    fn published(&self, slot: &mut Unpublished, committed: Result<()>) -> Result<()> {
        match committed {
            Ok(()) => {
                slot.effects.clear();
                self.pending.store(false, Ordering::Release);
                Ok(())
            }
            Err(e) => Err(slot.lose(e)),
        }
    }
}

impl Unpublished {
    /// The open transaction, or a new one with `durability`; refused once writes were lost.
    pub(crate) fn begin(
        &mut self,
        db: &Database,
        durability: Durability,
        operation: &'static str,
    ) -> Result<WriteTransaction> {
        self.refuse_if_lost(operation)?;
        if let Some(txn) = self.txn.take() {
            return Ok(txn);
        }
        let mut txn = db.begin_write().during(operation)?;
        txn.set_durability(durability).during(operation)?;
        Ok(txn)
    }

    /// Begins a write transaction (or continues the open one) and runs `body` on its
    /// tables; the transaction is left for the caller to commit, keep open or abort.
    pub(crate) fn transact<T>(
        &mut self,
        db: &Database,
        durability: Durability,
        operation: &'static str,
        seq: Option<u64>,
        body: impl FnOnce(&mut Tables<'_>) -> Result<T>,
    ) -> Result<(WriteTransaction, T, Changes)> {
        let txn = self.begin(db, durability, operation)?;
        let (out, changes) = {
            let mut tables = Tables::open(&txn, operation, seq)?;
            let out = body(&mut tables)?;
            (out, tables.finish()?)
        };
        Ok((txn, out, changes))
    }

    /// The open transaction, for a writer to read what it holds; refused once writes were
    /// lost.
    pub(crate) fn open_txn(&self, operation: &'static str) -> Result<Option<&WriteTransaction>> {
        self.refuse_if_lost(operation)?;
        Ok(self.txn.as_ref())
    }

    /// Takes back a transaction a write changed nothing in: kept open if it holds earlier
    /// writes, else aborted.
    pub(crate) fn put_back(
        &mut self,
        txn: WriteTransaction,
        operation: &'static str,
    ) -> Result<()> {
        if self.effects.is_empty() {
            return txn.abort().during(operation);
        }
        self.txn = Some(txn);
        Ok(())
    }

    /// Drops the open transaction without publishing it, for a handle whose journal can
    /// no longer be trusted to match it: the next open replays the journal instead.
    pub(crate) fn discard(&mut self) {
        self.txn = None;
        self.effects.clear();
    }

    fn refuse_if_lost(&self, operation: &'static str) -> Result<()> {
        match &self.lost {
            Some(reason) => Err(Error::Storage {
                operation,
                reason: format!(
                    "acknowledged writes could not be committed ({reason}); they are in the \
                     journal: open the file again to recover them"
                ),
            }),
            None => Ok(()),
        }
    }

    /// Gives up on the open transaction: what it held is in the journal only, so every
    /// later read and write is refused until the file is opened again.
    pub(crate) fn lose(&mut self, error: Error) -> Error {
        self.txn = None;
        self.effects.clear();
        self.lost = Some(error.to_string());
        error
    }
}
