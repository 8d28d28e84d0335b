//! The journal paths of `RedbStorage::write_planned`, driven directly: announcing ahead,
//! and a journal whose disk fails.

use std::collections::BTreeMap;
use std::time::Duration;

use super::compression::Compression;
use super::dictionary::Loaded;
use super::journal::{self, Faults, Journal, SyncHold};
use super::store::RedbStorage;
use super::tables::EXECUTIONS;
use super::viz_encodings::VizEncodings;
use super::write::{prepare, Prepared};
use crate::error::{Error, Result};
use crate::model::{now_millis, ExecutionSource, StoredExecution};
use crate::retention::RetentionPolicy;
use crate::storage::ExecutionStorage;

const DAY_MILLIS: i64 = 86_400_000;

/// A minimal record with this id.
pub(super) fn record(id: &str) -> StoredExecution {
    let mut record = StoredExecution::new("dag", None, BTreeMap::new(), ExecutionSource::API);
    record.execution_id = id.to_owned();
    record
}

/// Runs `work` on another thread and returns its result, or an error naming `what` if it
/// has not returned within `timeout` (a test of something that must not block).
fn on_another_thread<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (done, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(work()));
    answer.recv_timeout(timeout).map_err(|_| Error::Worker(format!("{what} never returned")))
}

/// A store in a fresh directory (kept alive by the returned guard) without a cache, so
/// every read comes from the file.
fn uncached_store() -> Result<(tempfile::TempDir, RedbStorage)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let storage = RedbStorage::builder().cache_capacity(0).open(dir.path().join("s.redb"))?;
    Ok((dir, storage))
}

fn prepared(id: &str, start_time: i64) -> Result<Prepared> {
    let mut record = record(id);
    record.start_time = start_time;
    prepare(record, None, &VizEncodings::new(0), &Compression::new(Loaded::default(), 0))
}

#[test]
fn a_write_that_does_other_than_it_announced_journals_what_it_did() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("s.redb");
    let storage = RedbStorage::open(&path)?;
    let (announced, written) = (prepared("announced", 1)?, prepared("written", 2)?);
    storage.write_planned(
        "test",
        |_| Ok(((), Some(vec![announced.effect()]))),
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

#[test]
fn a_failed_journal_write_refuses_later_writes_until_reopened() -> Result<()> {
    let write_fails = Faults { writes: true, syncs: false };
    let sync_fails = Faults { writes: false, syncs: true };
    for faults in [write_fails, sync_fails] {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("s.redb");
        {
            let storage = RedbStorage::open(&path)?;
            storage.store(record("acked"))?;
            storage.inject_journal_faults(faults);
            let failed = storage.store(record("failed"));
            assert!(matches!(failed, Err(Error::Io { .. })), "{faults:?}: {failed:?}");
            storage.inject_journal_faults(Faults::default());
            match storage.store(record("refused")) {
                Err(Error::Storage { reason, .. }) => {
                    assert!(reason.contains("open the file again"), "{reason}");
                }
                other => panic!("{faults:?}: a write after a journal failure gave {other:?}"),
            }
            assert!(storage.get("acked")?.is_some(), "reads go on");
        }
        let storage = RedbStorage::open(&path)?;
        assert!(storage.get("acked")?.is_some(), "{faults:?}: an acknowledged write was lost");
        assert!(storage.get("refused")?.is_none());
        // A write whose sync failed may or may not have reached the disk; one whose entry
        // could not be written never committed.
        let failed_kept = storage.get("failed")?.is_some();
        assert!(!(faults.writes && failed_kept), "a write that never committed is present");
        storage.store(record("after reopen"))?;
        assert_eq!(storage.stats()?.total_executions, 2 + u64::from(failed_kept));
    }
    Ok(())
}

/// A record whose one input is `len` hexadecimal digits that do not repeat, so that its
/// journal entry is about `len` bytes after compression.
fn bulky(id: &str, len: usize) -> StoredExecution {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let digits: String = (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            char::from_digit((state >> 60) as u32, 16).unwrap_or('0')
        })
        .collect();
    let mut record = record(id);
    record.inputs.insert("blob".to_owned(), crate::model::Json::String(digits));
    record
}

#[test]
fn a_smaller_checkpoint_size_keeps_the_journal_small() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let journal_len = |path: &std::path::Path| {
        std::fs::metadata(journal::path_for(path)).map(|m| m.len()).unwrap_or(0)
    };
    let mut lens = Vec::new();
    for checkpoint_bytes in [super::builder::DEFAULT_CHECKPOINT_BYTES, 1 << 20] {
        let path = dir.path().join(format!("s{checkpoint_bytes}.redb"));
        let storage = RedbStorage::builder().checkpoint_bytes(checkpoint_bytes).open(&path)?;
        // About 6 MB of journal, in batches of about 400 KB.
        for batch in 0..15 {
            storage.store_many((0..50).map(|n| bulky(&format!("{batch}-{n}"), 8_000)).collect())?;
        }
        assert_eq!(storage.stats()?.total_executions, 750);
        lens.push(journal_len(&path));
    }
    // The journal grows by zero-filled steps of GROWTH_BYTES: past one step without a
    // checkpoint, within one with a checkpoint every MiB.
    assert!(lens.first().is_some_and(|&len| len > journal::GROWTH_BYTES), "{lens:?}");
    assert!(lens.get(1).is_some_and(|&len| len <= journal::GROWTH_BYTES), "{lens:?}");
    Ok(())
}

#[test]
fn a_write_failing_in_the_open_transaction_keeps_the_writes_it_held() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("s.redb");
    {
        // No cache: every read below comes from the file.
        let storage = RedbStorage::builder().cache_capacity(0).open(&path)?;
        storage.store(record("kept"))?;
        let doomed = prepared("doomed", 1)?;
        let failed = storage.write_planned(
            "test",
            |_| Ok(((), None)),
            |tables, ()| {
                tables.put(&doomed)?;
                Err::<(), _>(Error::Worker("injected".to_owned()))
            },
        );
        assert!(matches!(failed, Err(Error::Worker(_))), "{failed:?}");
        assert!(storage.get("kept")?.is_some(), "the earlier write survives the failed one");
        assert!(storage.get("doomed")?.is_none());
        assert_eq!(storage.stats()?.total_executions, 1);
        storage.store(record("after"))?;
        assert_eq!(storage.verify()?, 2);
    }
    let reopened = RedbStorage::open(&path)?;
    assert_eq!(reopened.verify()?, 2);
    assert!(reopened.get("doomed")?.is_none());
    Ok(())
}

#[test]
fn a_journal_failure_after_the_transaction_keeps_the_writes_it_held() -> Result<()> {
    let (_dir, storage) = uncached_store()?;
    storage.store(record("kept"))?;
    storage.inject_journal_faults(Faults { writes: true, syncs: false });
    // `clear` journals once its transaction is done, so its journal write fails while that
    // transaction (holding "kept" too) is still alive.
    let clearing = storage.clone();
    let cleared =
        on_another_thread("the failed clear", Duration::from_secs(60), move || clearing.clear())?;
    assert!(matches!(cleared, Err(Error::Io { .. })), "{cleared:?}");
    assert!(storage.get("kept")?.is_some(), "the clear that failed removed nothing");
    assert_eq!(storage.stats()?.total_executions, 1);
    Ok(())
}

#[test]
fn a_reader_does_not_wait_for_the_sync_of_a_write() -> Result<()> {
    let (_dir, storage) = uncached_store()?;
    storage.store(record("first"))?;
    let (entered, writer_waits) = crossbeam_channel::bounded(1);
    let (release, released) = crossbeam_channel::bounded(1);
    storage.hold_next_sync(SyncHold { entered, release: released });
    let writing = storage.clone();
    let writer = std::thread::spawn(move || writing.store(record("second")));
    let stuck = |_| Error::Worker("the writer never reached its sync".to_owned());
    writer_waits.recv_timeout(Duration::from_secs(60)).map_err(stuck)?;
    // The applier puts the second record in the open transaction while its writer syncs;
    // a reader publishes what that transaction holds, so it sees both without waiting for
    // the sync (it may first come in before the applier).
    let reading = storage.clone();
    let seen = on_another_thread("a reader during a sync", Duration::from_secs(30), move || loop {
        match reading.stats().map(|s| s.total_executions) {
            Ok(1) => std::thread::yield_now(),
            other => return other,
        }
    });
    let _ = release.send(());
    let written = writer.join().map_err(|_| Error::Worker("the writer panicked".to_owned()))?;
    assert!(matches!(seen, Ok(Ok(2))), "the reader waited for the sync or failed: {seen:?}");
    written?;
    assert_eq!(storage.verify()?, 2);
    Ok(())
}

#[test]
fn a_record_the_applier_cannot_put_is_an_error_and_its_entry_is_erased() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("s.redb");
    {
        let storage = RedbStorage::builder().cache_capacity(0).open(&path)?;
        storage.store(record("damaged"))?;
        storage.write_raw("test", |txn| {
            let mut executions =
                txn.open_table(EXECUTIONS).map_err(|e| Error::Worker(e.to_string()))?;
            executions
                .insert("damaged", b"\xffnot a value".as_slice())
                .map_err(|e| Error::Worker(e.to_string()))?;
            Ok(())
        })?;
        storage.store(record("kept"))?;
        // Announced ahead and handed to the applier, whose put cannot read the old value.
        let failed = storage.store(record("damaged"));
        assert!(matches!(failed, Err(Error::Corrupt { .. })), "{failed:?}");
        let (_, entries) = Journal::open(journal::path_for(&path))?;
        let puts: Vec<usize> = entries.iter().map(|entry| entry.effects.len()).collect();
        assert_eq!(puts, [1, 1], "the entries of `damaged` and `kept`; the failed one is erased");
        assert!(storage.get("kept")?.is_some(), "the write before the failed one survives it");
        storage.store(record("after"))?;
        assert!(storage.get("after")?.is_some());
    }
    let reopened = RedbStorage::open(&path)?;
    assert!(reopened.get("kept")?.is_some() && reopened.get("after")?.is_some());
    assert!(matches!(reopened.get("damaged"), Err(Error::Corrupt { .. })), "still the old value");
    Ok(())
}
