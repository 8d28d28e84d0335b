//! The one error type of the crate.

use std::path::PathBuf;

/// A specialized `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in execstore.
///
/// Every variant carries enough context (which file, which key, what was expected) to
/// act on the message alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened or used by redb.
    #[error("database error on {path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        reason: String,
    },
    /// The file exists but is not an execstore database (or is truncated beyond repair).
    #[error("{path} is not an execstore database: {reason}")]
    NotExecstore {
        /// The file.
        path: PathBuf,
        /// What did not match.
        reason: String,
    },
    /// The file was written by an execstore format this version cannot read.
    #[error("{path} has schema version {found}, this build reads version {expected}")]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build understands.
        expected: u32,
    },
    /// The database file is already open, in this process or another one.
    #[error("{path} is already open by another handle or process")]
    AlreadyOpen {
        /// The file.
        path: PathBuf,
    },
    /// A redb transaction, table or commit failed after the database was opened.
    #[error("storage error during {operation}: {reason}")]
    Storage {
        /// What was being done (`"store"`, `"list"`, ...).
        operation: &'static str,
        /// What redb reported.
        reason: String,
    },
    /// A stored value could not be decoded.
    #[error("corrupt value at {key}: {reason}")]
    Corrupt {
        /// Which table and key held the value.
        key: String,
        /// Why it did not decode.
        reason: String,
    },
    /// A value could not be encoded for storage.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// Why the encoder refused it.
        reason: String,
    },
    /// An `update` closure changed the record's `execution_id`; nothing was written.
    #[error("update of {original} changed its execution id to {changed}; nothing was written")]
    IdChanged {
        /// The id the record had before the closure ran.
        original: String,
        /// The id the closure set.
        changed: String,
    },
    /// An argument was outside what the method accepts.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// JSON input could not be parsed.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The handle (or its background writer) was closed.
    #[error("the handle is closed")]
    Closed,
    /// A background worker panicked or was poisoned.
    #[error("background worker failed: {0}")]
    Worker(String),
}

impl Error {
    /// An [`Error::Io`] about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::Storage`] from any redb error during `operation`.
    pub(crate) fn storage(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Storage { operation, reason: err.to_string() }
    }
}

/// Turns a redb error into [`Error::Storage`] naming the operation: `txn.commit().during("store")`.
pub(crate) trait StorageResultExt<T> {
    /// The value, or an [`Error::Storage`] about `operation`.
    fn during(self, operation: &'static str) -> Result<T>;
}

impl<T, E: Into<redb::Error>> StorageResultExt<T> for std::result::Result<T, E> {
    fn during(self, operation: &'static str) -> Result<T> {
        self.map_err(|e| Error::storage(operation, e.into()))
    }
}
