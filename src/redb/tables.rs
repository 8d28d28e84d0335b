//! Every redb table of an execstore file, and the schema version they form.
//!
//! Keys are typed tuples; values are codec bytes (a format-version byte, then MessagePack).

use redb::TableDefinition;

/// The layout version written to `meta` at creation and checked at every open.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// `meta`: `"schema_version"` and the counters behind `stats`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The `meta` key holding [`SCHEMA_VERSION`].
pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";

/// `audit`: seq → event.
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// `audit_by_execution`: (execution id as u128, seq) → ().
pub(crate) const AUDIT_BY_EXECUTION: TableDefinition<(u128, u64), ()> =
    TableDefinition::new("audit_by_execution");
