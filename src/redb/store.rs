//! `RedbStorage` itself: the handle, its write path and the `ExecutionStorage` impl.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redb::{Database, ReadableDatabase};

use super::applier::{self, Applier, Job};
use super::background::{Keeper, Wake};
use super::builder::{Durability, RedbStorageBuilder};
use super::cache::RecordCache;
use super::compression::Compression;
use super::dictionary;
use super::group::CommitQueue;
use super::journal::{self, Effect, Entry, Journal, Pending, OVERLAP_FROM};
use super::read;
use super::unpublished::{Unpublished, Writes};
use super::viz_cache::{VizCache, VIZ_CACHE_SHAPES};
use super::viz_encodings::{VizEncodings, VIZ_ENCODINGS_KEPT};
use super::write::{prepare, Changes, Prepared, Tables};
use crate::audit::{AuditConfig, AuditLog, WriteGate};
use crate::error::{Error, Result, StorageResultExt};
use crate::model::{now_millis, ExecutionSummary, StorageStats, StoredExecution};
use crate::query::{HistoryQuery, Page};
use crate::retention::{cutoff, RetentionPolicy};
use crate::sampling::TailSampling;
use crate::storage::{check_id_unchanged, validate_id, ExecutionStorage};

/// Execution history in one redb file: durable, indexed, with a read-through cache.
///
/// Cloning is cheap and shares the handle (redb allows one open per file).
#[derive(Clone)]
pub struct RedbStorage {
    pub(super) inner: Arc<Inner>,
    /// Stops the retention thread with the last caller handle; `None` in the thread's own.
    _keeper: Option<Arc<Keeper>>,
}

pub(super) struct Inner {
    pub(super) db: Arc<Database>,
    pub(super) path: PathBuf,
    pub(super) settings: Settings,
    cache: RecordCache,
    /// Decoded visualizations by hash, for `get` and `update` (see `viz_cache.rs`).
    viz_cache: VizCache,
    /// Encoded visualizations by content, for writes (see `viz_encodings.rs`).
    viz_encodings: VizEncodings,
    /// Encodes records, with the file's dictionary once it has one (see `compression.rs`).
    compression: Compression,
    /// Serializes our write transactions with their cache updates (see `cache.rs`), and
    /// holds the transaction journaled writes leave open (see `unpublished.rs`).
    writes: Arc<Writes>,
    /// Stores and deletes from concurrent callers, committed together.
    commits: CommitQueue<WriteOp, Outcome>,
    /// Present when writes are made durable through the journal (see `journal.rs`).
    journal: Option<Mutex<JournalState>>,
    /// Present when the policy has limits the retention thread applies.
    pub(super) background: Option<Arc<Wake>>,
}

/// How a store uses the journal file beside its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JournalMode {
    /// Durable writes go through the journal ([`Durability::Immediate`] on a file).
    Write,
    /// No journaling ([`Durability::Eventual`]), but one left by a crash is replayed.
    RecoverOnly,
    /// No file to put one beside (a custom storage backend).
    Absent,
}

/// The journal and where its numbering stands.
struct JournalState {
    journal: Journal,
    next_seq: u64,
    /// Set when an append failed: the database then holds a commit the journal does not,
    /// so later writes are refused until the file is opened again.
    broken: bool,
    /// Applies one-record writes while their writer syncs; made by the first.
    applier: Option<Applier>,
}

/// A write that can join a group commit: its data is owned, so the leader can apply it.
enum WriteOp {
    Store(Vec<Admitted>),
    Delete(String),
}

/// A record to store, as tail sampling decided.
enum Admitted {
    Keep(Prepared),
    /// A completed run sampling dropped: any stored version of it is removed.
    Drop(String),
}

/// What an update's closure made of a record, when it is not simply written.
enum Updated {
    Missing,
    /// Completed, and tail sampling drops it.
    Dropped(Box<StoredExecution>),
}

/// What a write's plan decided: run its own step in the transaction, or just put records
/// and return `out` (see [`RedbStorage::write_steps`]).
pub(super) enum Planned<P, T> {
    Run(P),
    Put {
        records: Vec<Prepared>,
        out: T,
        /// When the plan was made: the write's retention applies as of then.
        now: i64,
    },
}

/// What a [`WriteOp`] reports back.
enum Outcome {
    Stored,
    Deleted(bool),
}

impl WriteOp {
    fn name(&self) -> &'static str {
        match self {
            WriteOp::Store(records) if records.len() == 1 => "store",
            WriteOp::Store(_) => "store_many",
            WriteOp::Delete(_) => "delete",
        }
    }

    fn apply(&self, tables: &mut Tables<'_>) -> Result<Outcome> {
        match self {
            WriteOp::Store(records) => {
                for record in records {
                    match record {
                        Admitted::Keep(prepared) => tables.put(prepared)?,
                        Admitted::Drop(id) => drop(tables.remove(id)?),
                    }
                }
                Ok(Outcome::Stored)
            }
            WriteOp::Delete(id) => tables.remove(id).map(Outcome::Deleted),
        }
    }

    /// A store of records all kept just puts them; anything else runs [`apply`](Self::apply).
    fn into_planned(self, now: i64) -> Planned<WriteOp, Outcome> {
        match self {
            WriteOp::Store(records) if records.iter().all(|r| matches!(r, Admitted::Keep(_))) => {
                let records = records
                    .into_iter()
                    .filter_map(|record| match record {
                        Admitted::Keep(prepared) => Some(prepared),
                        Admitted::Drop(_) => None,
                    })
                    .collect();
                Planned::Put { records, out: Outcome::Stored, now }
            }
            other => Planned::Run(other),
        }
    }

    /// The effects of a store as `ahead` foresees them for each record; `None` if it
    /// cannot for one of them, or tail sampling dropped one (removing a missing id has no
    /// effect).
    fn effects(&self, ahead: impl Fn(&Prepared) -> Option<Effect>) -> Option<Vec<Effect>> {
        match self {
            WriteOp::Store(records) => records
                .iter()
                .map(|record| match record {
                    Admitted::Keep(prepared) => ahead(prepared),
                    Admitted::Drop(_) => None,
                })
                .collect(),
            WriteOp::Delete(_) => None,
        }
    }
}

/// What the builder decided.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) cache_capacity: usize,
    pub(crate) retention: RetentionPolicy,
    pub(crate) max_value_size_bytes: Option<usize>,
    pub(crate) durability: Durability,
    pub(crate) tail_sampling: Option<TailSampling>,
    pub(crate) checkpoint_bytes: u64,
    pub(crate) dictionary_samples: usize,
}

impl std::fmt::Debug for RedbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStorage")
            .field("path", &self.inner.path)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl RedbStorage {
    /// Opens the execstore file at `path` with default settings, creating it if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().open(path)
    }

    /// Options: cache size, retention, truncation, durability.
    pub fn builder() -> RedbStorageBuilder {
        RedbStorageBuilder::default()
    }

    /// A store over an open database. A journal left by an earlier handle is replayed in
    /// every mode but [`JournalMode::Absent`].
    pub(crate) fn from_database(
        db: Database,
        path: PathBuf,
        settings: Settings,
        mode: JournalMode,
    ) -> Result<Self> {
        // Before the journal replays: its records may name a dictionary.
        let dictionaries = dictionary::load(&db)?;
        let journal = match mode {
            JournalMode::Write => Some(Mutex::new(recover(&db, &path)?)),
            JournalMode::RecoverOnly => {
                let leftover = journal::path_for(&path);
                if leftover.exists() {
                    recover(&db, &path)?.journal.remove()?;
                }
                None
            }
            JournalMode::Absent => None,
        };
        let background = settings.retention.needs_background().then(Arc::default);
        let compression = Compression::new(dictionaries, settings.dictionary_samples);
        // Best effort: a record that does not decode is `get`'s and `verify`'s to report,
        // and should not keep the file from opening.
        let _ = db.begin_read().during("open").and_then(|txn| compression.seed(&txn));
        let inner = Inner {
            db: Arc::new(db),
            path,
            cache: RecordCache::new(settings.cache_capacity),
            viz_cache: VizCache::new(VIZ_CACHE_SHAPES),
            viz_encodings: VizEncodings::new(VIZ_ENCODINGS_KEPT),
            compression,
            settings,
            writes: Arc::default(),
            commits: CommitQueue::new(),
            journal,
            background,
        };
        let mut storage = RedbStorage { inner: Arc::new(inner), _keeper: None };
        storage.prune()?;
        storage.compact_if_mostly_free()?;
        let keeper = match &storage.inner.background {
            Some(wake) => Some(Arc::new(Keeper::spawn(storage.clone(), Arc::clone(wake))?)),
            None => None,
        };
        Ok(RedbStorage { _keeper: keeper, ..storage })
    }

    /// The file this handle has open.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// An audit log in this store's file, sharing its database handle (redb allows one
    /// open per file); its batches interleave with the store's writes.
    pub fn audit_log(&self, config: AuditConfig) -> Result<AuditLog> {
        let inner = Arc::downgrade(&self.inner);
        let gate: WriteGate = Arc::new(move |work| match inner.upgrade() {
            Some(inner) => inner.exclusive("audit", |_| work()),
            None => work(),
        });
        AuditLog::with_database(Arc::clone(&self.inner.db), config, gate)
    }

    /// Makes every write so far durable in the database file itself: a checkpoint. Needed
    /// only under [`Durability::Eventual`]; otherwise writes are already durable (through
    /// the journal) and this just empties the journal.
    pub fn sync(&self) -> Result<()> {
        let mut journal = self.inner.journal.as_ref().map(lock_journal);
        self.inner.checkpoint(&mut self.lock_writes(), journal.as_deref_mut())
    }

    /// Up to `limit` full records whose id sorts after `after` (`None`: from the first), in
    /// id order: page through the whole store without the cost of an offset.
    pub fn records_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<StoredExecution>> {
        read::records_after(&self.read_txn("records_after")?, &self.inner.viz_cache, after, limit)
    }

    /// How many records started more than `age` ago (what `prune_older_than` would remove).
    pub fn count_older_than(&self, age: Duration) -> Result<u64> {
        read::count_before(&self.read_txn("count")?, age_cutoff(age))
    }

    /// Checks every record against its indexes and the counters, scanning the whole file;
    /// returns how many records it checked, or [`Error::Corrupt`](crate::Error::Corrupt)
    /// naming the first disagreement.
    pub fn verify(&self) -> Result<u64> {
        super::verify::verify(&self.read_txn("verify")?)
    }

    /// Rewrites the file at `path` to release the space of deleted records; returns
    /// whether anything was reclaimed. Needs exclusive access: call it while no handle
    /// has the file open.
    pub fn compact_file(path: impl AsRef<Path>) -> Result<bool> {
        let path = path.as_ref();
        // Opening replays the journal and closing checkpoints it: the file is then whole.
        drop(Self::open(path)?);
        let mut db = super::open_database(path, &redb::Builder::new())?;
        compact(&mut db, path)
    }

    /// Runs `body` in one write transaction, commits it, then brings the cache up to date,
    /// all under the write lock.
    pub(super) fn write<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&mut Tables<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write_planned(operation, |_| Ok(((), None)), |tables, ()| body(tables))
    }

    /// [`write`](Self::write) in two steps. `plan` runs under the write lock but before the
    /// write transaction (it may read the latest state through
    /// [`committed`](Self::committed), which no one else can change meanwhile) and returns
    /// what `apply` needs and, when it knows them, the effects the write will have. Those
    /// are journaled before the transaction even begins (an entry of several effects is
    /// then synced while redb works). Should the write turn out to have other effects, the
    /// announced entry is erased and the actual one journaled instead.
    pub(super) fn write_planned<P, T>(
        &self,
        operation: &'static str,
        plan: impl FnOnce(&mut Unpublished) -> Result<(P, Option<Vec<Effect>>)>,
        apply: impl FnOnce(&mut Tables<'_>, P) -> Result<T>,
    ) -> Result<T> {
        let plan = |slot: &mut Unpublished| plan(slot).map(|(p, a)| (Planned::Run(p), a));
        self.write_steps(operation, plan, apply)
    }

    /// [`write_planned`](Self::write_planned) whose plan may also decide that the write
    /// just puts records ([`Planned::Put`]): a journaled one that announced its effects then
    /// hands them to the applier and syncs meanwhile (see `applier.rs`).
    fn write_steps<P, T>(
        &self,
        operation: &'static str,
        plan: impl FnOnce(&mut Unpublished) -> Result<(Planned<P, T>, Option<Vec<Effect>>)>,
        apply: impl FnOnce(&mut Tables<'_>, P) -> Result<T>,
    ) -> Result<T> {
        // The journal's lock first: a journaled write lets go of the write lock while its
        // sync runs (see below), and keeps the journal's until it is done.
        let mut journal = self.inner.journal.as_ref().map(lock_journal);
        let mut slot = self.lock_writes();
        let seq = match journal.as_deref() {
            Some(JournalState { broken: true, .. }) => return Err(journal_broken(operation)),
            Some(state) => Some(state.next_seq),
            None => None,
        };
        let (planned, announced) = plan(&mut slot)?;
        let early = match (journal.as_deref_mut(), seq, announced) {
            (Some(state), Some(seq), Some(effects)) => {
                state.begin(seq, &effects)?.map(|pending| (pending, effects))
            }
            _ => None,
        };
        let (planned, early) = match (planned, early, journal.as_deref_mut(), seq) {
            (
                Planned::Put { records, out, now },
                Some((pending, announced)),
                Some(state),
                Some(seq),
            ) if records.len() < OVERLAP_FROM => {
                let job = Job { operation, seq, records, announced, now };
                return self.put_while_syncing(state, slot, job, pending, out);
            }
            (planned, early, _, _) => (planned, early),
        };
        let body = |tables: &mut Tables<'_>| self.run_planned(tables, planned, apply);
        let (txn, out, mut changes) = match self.transact(&mut slot, operation, seq, body) {
            Ok(done) => done,
            Err(e) => {
                let erased = erase_early(journal.as_deref_mut(), seq, early);
                return Err(self.restore(&mut slot, erased.err().unwrap_or(e)));
            }
        };
        let early = match early {
            Some((pending, effects)) if changes.any && effects == changes.effects => Some(pending),
            other => match erase_early(journal.as_deref_mut(), seq, other) {
                Ok(()) => None,
                Err(e) => return Err(self.abandon(&mut slot, txn, e)),
            },
        };
        if !changes.any {
            // Nothing to make durable (an update or delete of a missing id, say): whatever
            // the transaction held before is still all it holds.
            slot.put_back(txn, operation)?;
            return Ok(out);
        }
        // The journal entry is written and its sync runs while redb works.
        let pending = match (early, journal.as_deref_mut(), seq) {
            (Some(pending), _, _) => Some(pending),
            (None, Some(state), Some(seq)) => match state.begin(seq, &changes.effects) {
                Ok(pending) => pending,
                Err(e) => return Err(self.abandon(&mut slot, txn, e)),
            },
            _ => None,
        };
        let (Some(state), Some(seq)) = (journal.as_deref_mut(), seq) else {
            txn.commit().during(operation)?;
            self.inner.cache.apply(&changes.written, &changes.removed);
            return Ok(out);
        };
        let effects = std::mem::take(&mut changes.effects);
        self.inner.writes.keep(&mut slot, txn, seq, effects);
        let published = self.inner.writes.publish_if_full(&mut slot);
        // Readers may publish the write while its sync runs, as they may once it is kept
        // open; the journal's lock still orders this write's cache update before the next.
        drop(slot);
        state.settle(seq, pending, true)?;
        published?;
        self.inner.cache.apply(&changes.written, &changes.removed);
        self.checkpoint_if_full(state).map(|()| out)
    }

    /// A write's planned step, in its transaction.
    fn run_planned<P, T>(
        &self,
        tables: &mut Tables<'_>,
        planned: Planned<P, T>,
        apply: impl FnOnce(&mut Tables<'_>, P) -> Result<T>,
    ) -> Result<T> {
        match planned {
            Planned::Run(planned) => apply(tables, planned),
            Planned::Put { records, out, now } => {
                records.iter().try_for_each(|record| tables.put(record))?;
                self.enforce_limits(tables, now)?;
                Ok(out)
            }
        }
    }

    /// The end of a journaled write of one record whose entry (`pending`, numbered
    /// `job.seq`) is written: the applier puts the record while this thread syncs the
    /// entry. The entry is kept if both succeed and erased if the put failed.
    fn put_while_syncing<T>(
        &self,
        state: &mut JournalState,
        slot: MutexGuard<'_, Unpublished>,
        job: Job,
        pending: Pending,
        out: T,
    ) -> Result<T> {
        let seq = job.seq;
        drop(slot);
        let applier = state.applier.get_or_insert_with(|| Applier::new(self.inner.apply_context()));
        applier.begin(job);
        let synced = state.journal.sync();
        let applied = match applier.finish() {
            Ok(Ok(applied)) => applied,
            Ok(Err(e)) => {
                state.settle_synced(seq, Some(pending), false, synced)?;
                return Err(e);
            }
            Err(applier::Stopped) => {
                // What the open transaction holds is unknown: refuse everything until the
                // file is opened again, which replays the journal, this entry included.
                let stopped = Error::Worker("the applier thread stopped".to_owned());
                let stopped = self.lock_writes().lose(stopped);
                state.settle_synced(seq, Some(pending), true, synced)?;
                return Err(stopped);
            }
        };
        state.settle_synced(seq, Some(pending), true, synced)?;
        applied.published?;
        self.inner.cache.apply(&applied.written, &applied.removed);
        self.checkpoint_if_full(state).map(|()| out)
    }

    /// A checkpoint once the journal has passed its bound.
    fn checkpoint_if_full(&self, state: &mut JournalState) -> Result<()> {
        if state.journal.len() > self.inner.settings.checkpoint_bytes {
            self.inner.checkpoint(&mut self.lock_writes(), Some(state))?;
        }
        Ok(())
    }

    /// After a write failed inside the open transaction `txn`: drops it (redb begins no
    /// other write transaction while it lives), then replays and publishes the earlier
    /// writes it held. Returns the error to report, the replay's if it failed too (it is
    /// the more serious one).
    fn abandon(&self, slot: &mut Unpublished, txn: redb::WriteTransaction, error: Error) -> Error {
        drop(txn);
        self.restore(slot, error)
    }

    /// [`abandon`](Self::abandon) for a write whose transaction is already gone.
    fn restore(&self, slot: &mut Unpublished, error: Error) -> Error {
        self.inner.writes.restore_after(&self.inner.db, slot, error)
    }

    /// [`Unpublished::transact`] on this store's database, with its durability.
    fn transact<T>(
        &self,
        slot: &mut Unpublished,
        operation: &'static str,
        seq: Option<u64>,
        body: impl FnOnce(&mut Tables<'_>) -> Result<T>,
    ) -> Result<(redb::WriteTransaction, T, Changes)> {
        slot.transact(&self.inner.db, self.redb_durability(), operation, seq, body)
    }

    /// Runs `body` in one write transaction outside the execution tables (audit retention),
    /// under the write lock, and commits it.
    pub(crate) fn write_raw<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&redb::WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        self.write_raw_with(operation, self.redb_durability(), body)
    }

    /// [`write_raw`](Self::write_raw) with the given redb durability: `None` for upkeep that
    /// a crash may undo and that the next durable commit (or a clean close) persists.
    pub(crate) fn write_raw_with<T>(
        &self,
        operation: &'static str,
        durability: redb::Durability,
        body: impl FnOnce(&redb::WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        self.inner.exclusive(operation, |db| {
            let mut txn = db.begin_write().during(operation)?;
            txn.set_durability(durability).during(operation)?;
            let out = body(&txn)?;
            txn.commit().during(operation)?;
            Ok(out)
        })
    }

    /// Once enough records are sampled: trains the file's dictionary, commits it durably,
    /// then compresses new records with it. Runs once per store, in the write that brought
    /// the last sample (20–40 ms for 1,000). A failure leaves records on LZ4; the write
    /// itself has succeeded by then, and a disk that failed this commit fails the next.
    fn train_dictionary(&self) {
        let compression = &self.inner.compression;
        let Some(dictionary) = compression.train() else { return };
        let persisted = self.inner.exclusive("train", |db| dictionary::persist(db, &dictionary));
        if persisted.is_ok() {
            compression.adopt(dictionary);
        }
    }

    /// Validates and encodes a record to store, or drops it as tail sampling says.
    fn admit(&self, mut execution: StoredExecution) -> Result<Admitted> {
        validate_id(&execution.execution_id)?;
        let sampling = self.inner.settings.tail_sampling;
        if !sampling.is_none_or(|s| s.admit_stored(&mut execution)) {
            return Ok(Admitted::Drop(execution.execution_id));
        }
        let max_value = self.inner.settings.max_value_size_bytes;
        prepare(execution, max_value, &self.inner.viz_encodings, &self.inner.compression)
            .map(Admitted::Keep)
    }

    /// Commits `op`, together with whatever other callers queued meanwhile.
    fn submit(&self, op: WriteOp) -> Result<Outcome> {
        self.inner.commits.submit(op, |ops| self.commit_group(ops))
    }

    /// One transaction for the whole group; if any operation in it fails, each operation
    /// is retried in its own transaction so every caller gets its own result.
    fn commit_group(&self, ops: Vec<WriteOp>) -> Vec<Result<Outcome>> {
        if ops.len() == 1 {
            return ops.into_iter().map(|op| self.commit_one(op)).collect();
        }
        let announced = self.announce(|| {
            let now = now_millis();
            let ahead = |prepared: &Prepared| self.effect_ahead(prepared, now);
            let effects = ops.iter().map(|op| op.effects(ahead)).collect::<Option<Vec<_>>>()?;
            Some(effects.into_iter().flatten().collect())
        });
        let together = self.write_planned(
            "group commit",
            |_| Ok(((), announced)),
            |tables, ()| {
                let outcomes = ops.iter().map(|op| op.apply(tables)).collect::<Result<Vec<_>>>()?;
                self.enforce_limits(tables, now_millis())?;
                Ok(outcomes)
            },
        );
        match together {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(_) => ops.into_iter().map(|op| self.commit_one(op)).collect(),
        }
    }

    fn commit_one(&self, op: WriteOp) -> Result<Outcome> {
        let now = now_millis();
        let announced = self.announce(|| op.effects(|prepared| self.effect_ahead(prepared, now)));
        let name = op.name();
        let planned = op.into_planned(now);
        self.write_steps(
            name,
            |_| Ok((planned, announced)),
            |tables, op: WriteOp| {
                let outcome = op.apply(tables)?;
                self.enforce_limits(tables, now)?;
                Ok(outcome)
            },
        )
    }

    /// The effects a write will have, worked out only when they can be known ahead: when
    /// the write's own retention can remove nothing but a record written already too old
    /// (no count limit applies on writes), and the store journals at all.
    fn announce(&self, effects: impl FnOnce() -> Option<Vec<Effect>>) -> Option<Vec<Effect>> {
        let policy = &self.inner.settings.retention;
        let evicts_nothing = policy.per_script().is_none() && policy.executions_limit().is_none();
        (evicts_nothing && self.inner.journal.is_some()).then(effects).flatten()
    }

    /// What writing `prepared` will journal, unless the write's own retention will remove
    /// it again (it is already older than the policy keeps): the write then journals what it
    /// did once done, so that no entry on the disk ever announces a record it did not keep.
    pub(super) fn effect_ahead(&self, prepared: &Prepared, now: i64) -> Option<Effect> {
        let record = &prepared.record;
        let policy = &self.inner.settings.retention;
        (!policy.expired(record.status, record.start_time, now)).then(|| prepared.effect())
    }

    fn lock_writes(&self) -> MutexGuard<'_, Unpublished> {
        self.inner.writes.lock()
    }

    /// Journaled and eventual writes commit without syncing the database file; without a
    /// journal (a custom backend), durable writes sync it.
    fn redb_durability(&self) -> redb::Durability {
        match (self.inner.settings.durability, &self.inner.journal) {
            (Durability::Immediate, None) => redb::Durability::Immediate,
            _ => redb::Durability::None,
        }
    }

    /// Retention after a write: the count limits exactly and the age of what it wrote,
    /// without a batch bound (a write exceeds a limit by the few records it added); the
    /// retention thread is told there may be more to do.
    fn enforce_limits(&self, tables: &mut Tables<'_>, now: i64) -> Result<()> {
        tables.enforce_on_write(&self.inner.settings.retention, now)?;
        if let Some(wake) = &self.inner.background {
            wake.poke();
        }
        Ok(())
    }

    /// The record as last written, for a writer holding the write lock (`slot`): from the
    /// cache, which under that lock is never stale (see `cache.rs`), or else from the open
    /// transaction or the file.
    fn committed(
        &self,
        slot: &Unpublished,
        id: &str,
        operation: &'static str,
    ) -> Result<Option<StoredExecution>> {
        if let Ok(cached) = self.inner.cache.get(id) {
            return Ok(Some(StoredExecution::clone(&cached)));
        }
        let viz_cache = &self.inner.viz_cache;
        match slot.open_txn(operation)? {
            Some(txn) => read::get_in_write(txn, viz_cache, id, operation),
            None => {
                read::get(&self.inner.db.begin_read().during(operation)?, viz_cache, id, operation)
            }
        }
    }

    /// A read transaction that sees every write acknowledged so far: a transaction left
    /// open by journaled writes is published first.
    pub(super) fn read_txn(&self, operation: &'static str) -> Result<redb::ReadTransaction> {
        if self.inner.writes.pending() {
            self.publish_locked(&mut self.lock_writes(), operation)?;
        }
        self.inner.db.begin_read().during(operation)
    }

    /// Publishes the open transaction, for a writer holding the write lock (`slot`).
    pub(super) fn publish_locked(
        &self,
        slot: &mut Unpublished,
        operation: &'static str,
    ) -> Result<()> {
        self.inner.writes.publish(slot, redb::Durability::None, operation)
    }

    /// Runs `work` under the write lock with everything written so far published: for
    /// redb write transactions outside the store's own write path.
    pub(crate) fn exclusive<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Database) -> Result<T>,
    ) -> Result<T> {
        self.inner.exclusive(operation, work)
    }
}

impl Inner {
    /// What the applier needs of this store.
    fn apply_context(&self) -> applier::Context {
        applier::Context {
            db: Arc::clone(&self.db),
            writes: Arc::clone(&self.writes),
            retention: self.settings.retention.clone(),
            background: self.background.clone(),
        }
    }

    /// See [`RedbStorage::exclusive`].
    fn exclusive<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Database) -> Result<T>,
    ) -> Result<T> {
        let mut slot = self.writes.lock();
        self.writes.publish(&mut slot, redb::Durability::None, operation)?;
        work(&self.db)
    }

    /// A durable redb commit covering every earlier write, then an empty `journal`. Callers
    /// hold the journal's lock, then the write lock (`slot`): the order every writer takes
    /// them in.
    fn checkpoint(&self, slot: &mut Unpublished, journal: Option<&mut JournalState>) -> Result<()> {
        self.writes.commit_durably(&self.db, slot)?;
        match journal {
            Some(state) => state.journal.reset(),
            None => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A clean close leaves nothing to replay and no journal file; should the checkpoint
        // fail, the journal stays and the next open replays it.
        if let Some(journal) = self.journal.take() {
            let state = journal.into_inner().unwrap_or_else(PoisonError::into_inner);
            let mut slot = std::mem::take(&mut *self.writes.lock());
            if state.broken {
                // The next open replays the journal instead of trusting what is open.
                slot.discard();
            } else if self.checkpoint(&mut slot, None).is_ok() {
                let _ = state.journal.remove();
            }
        }
    }
}

/// Erases an entry journaled ahead of a write that then failed or did something else.
fn erase_early(
    journal: Option<&mut JournalState>,
    seq: Option<u64>,
    early: Option<(Pending, Vec<Effect>)>,
) -> Result<()> {
    match (journal, seq, early) {
        (Some(state), Some(seq), Some((pending, _))) => state.settle(seq, Some(pending), false),
        _ => Ok(()),
    }
}

impl JournalState {
    /// Writes a transaction's effects (none: nothing to make durable) before its commit
    /// and starts their sync. A failure here leaves the transaction uncommitted, but may
    /// leave a whole entry on the disk, so the journal is then refused like a failed sync.
    fn begin(&mut self, seq: u64, effects: &[Effect]) -> Result<Option<Pending>> {
        if effects.is_empty() {
            return Ok(None);
        }
        self.journal.begin_append(seq, effects).map(Some).inspect_err(|_| self.broken = true)
    }

    /// Once the transaction's commit returned: a committed entry must be on the disk and
    /// the numbering advances; an uncommitted one is erased. Either failing leaves the
    /// database and the journal disagreeing, so later writes are refused.
    fn settle(&mut self, seq: u64, pending: Option<Pending>, committed: bool) -> Result<()> {
        let synced = match pending {
            Some(_) => self.journal.sync(),
            None => Ok(()),
        };
        self.settle_synced(seq, pending, committed, synced)
    }

    /// [`settle`](Self::settle) for an entry whose sync has ended with `synced`.
    fn settle_synced(
        &mut self,
        seq: u64,
        pending: Option<Pending>,
        committed: bool,
        synced: Result<()>,
    ) -> Result<()> {
        if let Some(pending) = pending {
            let settled = self.journal.settle(pending, committed, synced);
            settled.inspect_err(|_| self.broken = true)?;
        }
        if committed {
            self.next_seq = seq + 1;
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl RedbStorage {
    /// Makes the next write stop while it waits for its journal sync (see `SyncHold`).
    #[cfg(test)]
    pub(crate) fn hold_next_sync(&self, hold: super::journal::SyncHold) {
        if let Some(journal) = &self.inner.journal {
            lock_journal(journal).journal.hold = Some(hold);
        }
    }

    /// Makes the journal's writes or syncs fail from now on, as a failing disk would.
    pub(crate) fn inject_journal_faults(&self, faults: super::journal::Faults) {
        if let Some(journal) = &self.inner.journal {
            lock_journal(journal).journal.faults = faults;
        }
    }
}

fn lock_journal(journal: &Mutex<JournalState>) -> MutexGuard<'_, JournalState> {
    // Writers take it before the write lock and hold it to the end of their write; its
    // state is updated after each fallible step, so a poisoned lock still guards
    // consistent data.
    journal.lock().unwrap_or_else(PoisonError::into_inner)
}

fn journal_broken(operation: &'static str) -> Error {
    Error::Storage {
        operation,
        reason: "an earlier journal write failed; open the file again to recover".to_owned(),
    }
}

/// Opens the journal of the database at `path`, applies the entries the database does not
/// hold yet, and checkpoints them.
fn recover(db: &Database, path: &Path) -> Result<JournalState> {
    let (mut journal, entries) = Journal::open(journal::path_for(path))?;
    let applied = read::journal_seq(&db.begin_read().during("recover")?)?;
    let pending: Vec<Entry> = entries.into_iter().filter(|e| e.seq > applied).collect();
    let last = pending.last().map_or(applied, |e| e.seq);
    let mut txn = db.begin_write().during("recover")?;
    txn.set_durability(redb::Durability::Immediate).during("recover")?;
    {
        let mut tables = Tables::open(&txn, "recover", Some(last))?;
        for effect in pending.into_iter().flat_map(|entry| entry.effects) {
            tables.replay(effect)?;
        }
        tables.finish()?;
    }
    txn.commit().during("recover")?;
    journal.reset()?;
    Ok(JournalState { journal, next_seq: last + 1, broken: false, applier: None })
}

/// Rewrites the file to release free space; whether anything was reclaimed.
pub(super) fn compact(db: &mut Database, path: &Path) -> Result<bool> {
    db.compact().map_err(|e| Error::Database {
        path: path.to_path_buf(),
        reason: format!("compaction failed: {e}"),
    })
}

fn age_cutoff(age: Duration) -> i64 {
    cutoff(now_millis(), age)
}

impl ExecutionStorage for RedbStorage {
    fn store(&self, execution: StoredExecution) -> Result<String> {
        let id = execution.execution_id.clone();
        self.submit(WriteOp::Store(vec![self.admit(execution)?]))?;
        self.train_dictionary();
        Ok(id)
    }

    fn store_many(&self, executions: Vec<StoredExecution>) -> Result<Vec<String>> {
        let ids = executions.iter().map(|e| e.execution_id.clone()).collect();
        let admitted = executions.into_iter().map(|e| self.admit(e)).collect::<Result<_>>()?;
        self.submit(WriteOp::Store(admitted))?;
        self.train_dictionary();
        Ok(ids)
    }

    fn get(&self, execution_id: &str) -> Result<Option<Arc<StoredExecution>>> {
        validate_id(execution_id)?;
        let seen = match self.inner.cache.get(execution_id) {
            Ok(hit) => return Ok(Some(hit)),
            Err(seen) => seen,
        };
        let txn = self.read_txn("get")?;
        let Some(record) = read::get(&txn, &self.inner.viz_cache, execution_id, "get")? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        self.inner.cache.fill(seen, &record);
        Ok(Some(record))
    }

    fn list(&self, limit: usize, offset: usize) -> Result<Vec<ExecutionSummary>> {
        read::list(&self.read_txn("list")?, limit, offset)
    }

    fn list_by_script(&self, script_path: &str, limit: usize) -> Result<Vec<ExecutionSummary>> {
        read::list_by_script(&self.read_txn("list_by_script")?, script_path, limit)
    }

    fn stats(&self) -> Result<StorageStats> {
        let max_capacity = self.inner.settings.retention.executions_limit();
        read::stats(&self.read_txn("stats")?, max_capacity)
    }

    fn update(
        &self,
        execution_id: &str,
        f: &mut dyn FnMut(&mut StoredExecution),
    ) -> Result<Option<Arc<StoredExecution>>> {
        validate_id(execution_id)?;
        let max_value = self.inner.settings.max_value_size_bytes;
        let sampling = self.inner.settings.tail_sampling;
        let plan = |slot: &mut Unpublished| {
            let Some(mut record) = self.committed(slot, execution_id, "update")? else {
                return Ok((Planned::Run(Updated::Missing), None));
            };
            let before = record.status;
            f(&mut record);
            check_id_unchanged(execution_id, &record)?;
            if !sampling.is_none_or(|s| s.admit_updated(before, &mut record)) {
                return Ok((Planned::Run(Updated::Dropped(Box::new(record))), None));
            }
            let prepared =
                prepare(record, max_value, &self.inner.viz_encodings, &self.inner.compression)?;
            let now = now_millis();
            let announced = self.announce(|| self.effect_ahead(&prepared, now).map(|e| vec![e]));
            let out = Some(Arc::clone(&prepared.record));
            Ok((Planned::Put { records: vec![prepared], out, now }, announced))
        };
        let updated = self.write_steps("update", plan, |tables, updated| match updated {
            Updated::Missing => Ok(None),
            Updated::Dropped(record) => {
                tables.remove(execution_id)?;
                Ok(Some(Arc::from(record)))
            }
        })?;
        self.train_dictionary();
        Ok(updated)
    }

    /// Walks one index range (see [`QUERY_SCAN_LIMIT`](crate::QUERY_SCAN_LIMIT) for the
    /// bound on one call): by script path if given, else DAG name, else a single status,
    /// else source, else start time; O(log n + entries examined), each match one more
    /// O(log n) summary read.
    fn query(&self, query: &HistoryQuery) -> Result<Page> {
        query.validate()?;
        super::query::query(&self.read_txn("query")?, query)
    }

    /// O(1) from counters kept in each write when only a DAG name and/or statuses filter;
    /// otherwise a walk of the range [`query`](Self::query) would use (unbounded).
    fn count(&self, filter: &HistoryQuery) -> Result<u64> {
        super::query::count(&self.read_txn("count")?, filter)
    }

    fn delete(&self, execution_id: &str) -> Result<bool> {
        validate_id(execution_id)?;
        match self.submit(WriteOp::Delete(execution_id.to_owned()))? {
            Outcome::Deleted(existed) => Ok(existed),
            Outcome::Stored => Err(Error::Worker("a delete reported a store".to_owned())),
        }
    }

    fn clear(&self) -> Result<()> {
        self.write("clear", |tables| tables.clear())?;
        self.inner.cache.clear();
        Ok(())
    }
}
