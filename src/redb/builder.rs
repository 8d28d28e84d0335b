//! `RedbStorageBuilder`: how a `RedbStorage` is opened.

use std::path::Path;
use std::time::Duration;

use super::compression::DEFAULT_DICTIONARY_SAMPLES;
use super::store::{JournalMode, RedbStorage, Settings};
use crate::error::Result;
use crate::retention::RetentionPolicy;
use crate::sampling::TailSampling;

/// When a write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every write is on the disk before it returns `Ok`: it survives a crash or power
    /// loss. The write commits to redb without syncing and its changes are appended to the
    /// journal file `<file>-journal`, which alone is synced; checkpoints fold the journal
    /// into the database file (see [`RedbStorage::sync`]), and opening replays it.
    #[default]
    Immediate,
    /// Writes return without fsync (redb's `Durability::None`). A crash or power loss can
    /// lose every write since the last [`RedbStorage::sync`] (or the last `Immediate`
    /// commit), but never leaves a torn record: the file reopens at an earlier consistent
    /// state with records, indexes and counters agreeing.
    Eventual,
}

/// The default [`RedbStorageBuilder::cache_capacity`]: records kept decoded in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// The default [`RedbStorageBuilder::max_value_size_bytes`], as Constellation's
/// `ExecutionStorage.Config`.
pub const DEFAULT_MAX_VALUE_SIZE_BYTES: usize = 10_240;

/// The default [`RedbStorageBuilder::checkpoint_bytes`]: journal written between two
/// checkpoints.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;

/// Options of a [`RedbStorage`]; start with [`RedbStorage::builder`].
#[derive(Debug, Clone)]
pub struct RedbStorageBuilder {
    settings: Settings,
}

impl Default for RedbStorageBuilder {
    fn default() -> Self {
        RedbStorageBuilder {
            settings: Settings {
                cache_capacity: DEFAULT_CACHE_CAPACITY,
                retention: RetentionPolicy::default(),
                max_value_size_bytes: Some(DEFAULT_MAX_VALUE_SIZE_BYTES),
                durability: Durability::Immediate,
                tail_sampling: None,
                checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
                dictionary_samples: DEFAULT_DICTIONARY_SAMPLES,
            },
        }
    }
}

impl RedbStorageBuilder {
    /// How many decoded records the read-through cache keeps (default 1024); 0 disables it.
    pub fn cache_capacity(mut self, records: usize) -> Self {
        self.settings.cache_capacity = records;
        self
    }

    /// Keep at most this many executions, removing the oldest by start time past it
    /// (default `None`: unbounded). `Some(0)` is treated as `Some(1)`.
    pub fn max_executions(mut self, max: Option<usize>) -> Self {
        self.settings.retention.set_max_executions(max.map(|n| n as u64));
        self
    }

    /// Remove executions whose start time is older than now minus `age`, whatever their
    /// status (default `None`): [`RetentionPolicy::max_age_all`], applied as described there.
    pub fn max_age(mut self, age: Option<Duration>) -> Self {
        self.settings.retention.set_max_age_all(age);
        self
    }

    /// The whole retention policy (default: keep everything); replaces what
    /// [`max_executions`](Self::max_executions) and [`max_age`](Self::max_age) set.
    pub fn retention(mut self, policy: RetentionPolicy) -> Self {
        self.settings.retention = policy;
        self
    }

    /// Truncate values whose compact JSON is longer than this (default 10240 bytes);
    /// `None` keeps every value whole.
    pub fn max_value_size_bytes(mut self, max: Option<usize>) -> Self {
        self.settings.max_value_size_bytes = max;
        self
    }

    /// Tail sampling of completed runs (default `None`: keep every run); see
    /// [`TailSampling`](crate::TailSampling).
    pub fn tail_sampling(mut self, sampling: Option<TailSampling>) -> Self {
        self.settings.tail_sampling = sampling;
        self
    }

    /// When writes reach the disk (default [`Durability::Immediate`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.settings.durability = durability;
        self
    }

    /// How many bytes of journal durable writes append between two checkpoints (default
    /// 64 MiB). A checkpoint is a durable redb commit that writes every page changed since
    /// the one before, and the write that triggers it waits for it while the others wait
    /// for the write lock: at 100,000 records of 2.4 KB that pause was 2.0–2.3 s about every
    /// 53,000 stores with the default, 0.7–1.0 s every 13,000 with 16 MiB. Less journal
    /// means shorter pauses and a shorter replay at open, for more checkpoint work in all.
    pub fn checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.settings.checkpoint_bytes = bytes;
        self
    }

    /// How many records to sample (those the file holds when opened, then those written)
    /// before training the file's compression dictionary (default
    /// [`DEFAULT_DICTIONARY_SAMPLES`]); 0 never trains one. A file that has a dictionary
    /// keeps using it. Records compress against what they have in common: at
    /// 1,000 samples of the benchmark dataset, 469 bytes a record with LZ4 alone became
    /// 160. The store that takes the last sample trains once, in that write (20–40 ms).
    pub fn dictionary_samples(mut self, records: usize) -> Self {
        self.settings.dictionary_samples = records;
        self
    }

    /// Opens the file at `path`, creating it if missing, and applies the retention limits.
    pub fn open(self, path: impl AsRef<Path>) -> Result<RedbStorage> {
        let path = path.as_ref();
        let db = super::open_database(path, &redb::Builder::new())?;
        let mode = match self.settings.durability {
            Durability::Immediate => JournalMode::Write,
            Durability::Eventual => JournalMode::RecoverOnly,
        };
        RedbStorage::from_database(db, path.to_path_buf(), self.settings, mode)
    }

    /// Opens a database on a caller-supplied redb storage backend (an in-memory or
    /// fault-injecting one, say).
    pub fn open_with_backend(self, backend: impl redb::StorageBackend) -> Result<RedbStorage> {
        let db = super::open_backend(backend, &redb::Builder::new())?;
        let path = Path::new(super::open::CUSTOM_BACKEND).to_path_buf();
        RedbStorage::from_database(db, path, self.settings, JournalMode::Absent)
    }
}
