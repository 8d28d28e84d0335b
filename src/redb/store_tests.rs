//! The journal-ahead path of `RedbStorage::write_planned`, driven directly.

use std::collections::BTreeMap;
use std::time::Duration;

use super::journal::{self, Journal};
use super::store::RedbStorage;
use super::write::{prepare, Prepared};
use crate::error::{Error, Result};
use crate::model::{now_millis, ExecutionSource, StoredExecution};
use crate::retention::RetentionPolicy;
use crate::storage::ExecutionStorage;

const DAY_MILLIS: i64 = 86_400_000;

fn prepared(id: &str, start_time: i64) -> Result<Prepared> {
    let mut record = StoredExecution::new("dag", None, BTreeMap::new(), ExecutionSource::API);
    record.execution_id = id.to_owned();
    record.start_time = start_time;
    prepare(record, None)
}

#[test]
fn a_write_that_does_other_than_it_announced_journals_what_it_did() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("s.redb");
    let storage = RedbStorage::open(&path)?;
    let (announced, written) = (prepared("announced", 1)?, prepared("written", 2)?);
    storage.write_planned(
        "test",
        || Ok(((), Some(vec![announced.effect()]))),
        |tables, ()| tables.put(&written),
    )?;
    let (_, entries) = Journal::open(journal::path_for(&path))?;
    let effects: Vec<_> = entries.into_iter().map(|entry| entry.effects).collect();
    assert_eq!(effects, [vec![written.effect()]], "only what the write did is journaled");
    assert!(storage.get("written")?.is_some());
    assert!(storage.get("announced")?.is_none());
    Ok(())
}

#[test]
fn a_record_its_own_write_will_remove_is_not_announced() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let policy = RetentionPolicy::new().max_age_all(Duration::from_secs(86_400));
    let storage = RedbStorage::builder().retention(policy).open(dir.path().join("s.redb"))?;
    let now = now_millis();
    let fresh = prepared("fresh", now - DAY_MILLIS / 2)?;
    let expired = prepared("expired", now - 2 * DAY_MILLIS)?;
    assert_eq!(storage.effect_ahead(&fresh, now), Some(fresh.effect()));
    assert_eq!(storage.effect_ahead(&expired, now), None);
    Ok(())
}
