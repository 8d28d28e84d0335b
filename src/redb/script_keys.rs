//! The script index without summaries: files written before `by_script_keys` keep a copy
//! of every summary in `by_script`; opening one moves the keys over and drops the copies.

use redb::{Database, ReadableTable};

use super::fields::migrate_away;
use super::tables::{BY_SCRIPT, BY_SCRIPT_WITH_SUMMARY};
use crate::error::{Result, StorageResultExt};

const OP: &str = "open";

/// Migrates `by_script` to `by_script_keys` in one write transaction, if the file has the
/// old table.
pub(crate) fn ensure(db: &Database) -> Result<()> {
    migrate_away(db, BY_SCRIPT_WITH_SUMMARY, |txn| {
        let old = txn.open_table(BY_SCRIPT_WITH_SUMMARY).during(OP)?;
        let mut keys = txn.open_table(BY_SCRIPT).during(OP)?;
        for entry in old.iter().during(OP)? {
            let (key, _) = entry.during(OP)?;
            keys.insert(key.value(), ()).during(OP)?;
        }
        Ok(())
    })
}
