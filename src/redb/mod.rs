//! `RedbStorage`: execution history in one redb file.
#![allow(dead_code, reason = "wired in as the store and the audit log land")]

mod open;
mod tables;

#[allow(unused_imports, dead_code, reason = "wired in as the store and the audit log land")]
pub(crate) use open::{open_database, open_error};
#[allow(unused_imports, dead_code, reason = "wired in as the store and the audit log land")]
pub(crate) use tables::{AUDIT, AUDIT_BY_EXECUTION, META, SCHEMA_VERSION};
