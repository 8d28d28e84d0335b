//! Execution ids as people type them: whole, or a prefix that names one run (as git
//! takes a commit hash).

use anyhow::bail;
use execstore::{ExecutionStorage, RedbStorage};

/// The id of the one stored execution whose id is `given` or starts with it.
pub fn resolve(storage: &RedbStorage, given: &str) -> anyhow::Result<String> {
    if given.is_empty() {
        bail!("the execution id must not be empty");
    }
    if storage.get(given)?.is_some() {
        return Ok(given.to_owned());
    }
    // Ids that start with `given` sort right after it: two are enough to tell.
    let following = storage.records_after(Some(given), 2)?;
    let matching: Vec<String> = following
        .into_iter()
        .map(|record| record.execution_id)
        .filter(|id| id.starts_with(given))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no execution with id {given:?}"),
        _ => bail!("several executions have ids starting with {given:?}: give more of the id"),
    }
}
