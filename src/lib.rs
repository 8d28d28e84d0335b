#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![warn(clippy::indexing_slicing, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "tokio")]
mod asynchronous;
mod audit;
mod error;
mod listener;
mod memory;
mod model;
mod query;
mod redb;
mod retention;
mod sampling;
mod storage;
mod viz;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api;

// Foundation.
pub use error::{Error, Result};
pub use memory::MemoryStorage;
pub use model::{
    now_millis, should_sample, ExecutionSource, ExecutionStatus, ExecutionSummary, Json,
    StorageStats, StoredExecution, StoredNodeResult, OUTPUT_PREVIEW_CHARS,
};
pub use query::{Cursor, HistoryQuery, Order, Page, DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT};
pub use storage::{truncate_values, Config, ExecutionStorage};
pub use viz::{
    Bounds, DagVizIr, EdgeKind, ExecutionState, NodeGroup, NodeKind, Position, VizEdge,
    VizMetadata, VizNode, VizStatus,
};
// The redb backend.
pub use crate::redb::{
    Durability, RedbStorage, RedbStorageBuilder, DEFAULT_CACHE_CAPACITY, DEFAULT_CHECKPOINT_BYTES,
    DEFAULT_DICTIONARY_SAMPLES, DEFAULT_MAX_VALUE_SIZE_BYTES, PRUNE_BATCH, QUERY_SCAN_LIMIT,
};
pub use retention::{PruneReport, RetentionPolicy};
pub use sampling::TailSampling;
// The listener SPI and the audit log.
pub use audit::{AuditConfig, AuditEvent, AuditEventKind, AuditLog, OverflowPolicy};
pub use listener::{CompositeListener, ExecutionListener, NoopListener};
// The async facade.
#[cfg(feature = "tokio")]
pub use asynchronous::AsyncStorage;
