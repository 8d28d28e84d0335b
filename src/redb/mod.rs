//! `RedbStorage`: execution history in one redb file.

mod applier;
mod audit_retention;
mod background;
mod builder;
mod cache;
pub(crate) mod codec;
pub(crate) mod compression;
mod dag_counts;
pub(crate) mod dictionary;
mod evict;
mod fields;
mod group;
pub(crate) mod journal;
mod layout;
mod minutes;
pub(crate) mod open;
mod placement;
mod preview;
mod prune;
mod query;
mod read;
mod reclaim;
mod record_value;
#[cfg(test)]
mod recover_tests;
mod retain;
mod script_keys;
mod scripts;
mod store;
#[cfg(test)]
mod store_tests;
pub(crate) mod summary_value;
mod syncer;
mod tables;
mod unpublished;
mod verify;
mod viz_blobs;
mod viz_cache;
pub(crate) mod viz_encodings;
pub(crate) mod write;

pub use builder::{
    Durability, RedbStorageBuilder, DEFAULT_CACHE_CAPACITY, DEFAULT_CHECKPOINT_BYTES,
    DEFAULT_MAX_VALUE_SIZE_BYTES,
};
pub use compression::DEFAULT_DICTIONARY_SAMPLES;
pub(crate) use open::{open_backend, open_database};
pub use prune::PRUNE_BATCH;
pub use query::QUERY_SCAN_LIMIT;
pub use store::RedbStorage;
pub(crate) use tables::{AUDIT, AUDIT_BY_EXECUTION, AUDIT_NEXT_SEQ, AUDIT_ORPHANS, META};
