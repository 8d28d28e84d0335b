//! Stores, batches, updates and group commits journal their effects before their write
//! transaction begins; when the write then does more than announced (its own retention
//! removes what it wrote, because it was already too old), the journal must hold what it
//! actually did. A child process writes under a max-age policy (from one thread, or from
//! several whose writes share commits) and is killed; the reopened file, rebuilt from the
//! journal, must hold every acknowledged fresh run and none of the expired ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use execstore::{ExecutionStorage, RedbStorage, RetentionPolicy};
use support::{execution, TestResult};

const DB_VAR: &str = "EXECSTORE_AHEAD_DB";
const DAY_MILLIS: i64 = 86_400_000;

/// What a child and its writer threads return (sendable between threads).
type ChildResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn now_millis() -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    Ok(i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?)
}

/// The file a child writes under a one-day age limit; `None` when not run as a child.
fn child_storage() -> Result<Option<RedbStorage>, Box<dyn std::error::Error + Send + Sync>> {
    let Ok(path) = std::env::var(DB_VAR) else { return Ok(None) };
    let policy = RetentionPolicy::new().max_age_all(Duration::from_secs(86_400));
    Ok(Some(RedbStorage::builder().retention(policy).open(path)?))
}

/// The child: fresh stores, stores of runs two days old, and updates that move a fresh
/// run two days back, each acknowledged on stdout once it returned.
#[test]
#[ignore = "run by a_write_removing_what_it_wrote_is_replayed_as_it_happened as a child"]
fn journal_ahead_child() -> ChildResult {
    let Some(storage) = child_storage()? else { return Ok(()) };
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let now = now_millis()?;
        let fresh = format!("fresh-{i:06}");
        storage.store(execution(&fresh, now, Some("etl.cst")))?;
        writeln!(out, "ACK fresh {fresh}")?;
        let expired = format!("expired-{i:06}");
        storage.store(execution(&expired, now - 2 * DAY_MILLIS, Some("etl.cst")))?;
        writeln!(out, "ACK gone {expired}")?;
        if i % 3 == 0 {
            storage.update(&fresh, &mut |e| e.start_time -= 2 * DAY_MILLIS)?;
            writeln!(out, "ACK gone {fresh}")?;
        }
        out.flush()?;
    }
    Ok(())
}

/// The concurrent child: four threads store fresh and expired runs, one at a time and in
/// batches, so their writes meet in group commits that mix both.
#[test]
#[ignore = "run by group_commits_removing_what_they_wrote_are_replayed_as_they_happened"]
fn journal_ahead_group_child() -> ChildResult {
    let Some(storage) = child_storage()? else { return Ok(()) };
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let storage = storage.clone();
            std::thread::spawn(move || -> ChildResult {
                for i in 0u64.. {
                    let now = now_millis()?;
                    let (fresh, expired) =
                        (format!("fresh-{t}-{i:06}"), format!("expired-{t}-{i:06}"));
                    if i % 4 == 0 {
                        let batch = vec![
                            execution(&fresh, now, Some("etl.cst")),
                            execution(&expired, now - 2 * DAY_MILLIS, Some("etl.cst")),
                        ];
                        storage.store_many(batch)?;
                    } else {
                        storage.store(execution(&fresh, now, Some("etl.cst")))?;
                        storage.store(execution(&expired, now - 2 * DAY_MILLIS, None))?;
                    }
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK fresh {fresh}\nACK gone {expired}")?;
                    out.flush()?;
                }
                Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a writer panicked")??;
    }
    Ok(())
}

#[test]
fn a_write_removing_what_it_wrote_is_replayed_as_it_happened() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ahead.redb");
    let acked = run_child_until_killed("journal_ahead_child", &path, 120)?;
    check_replayed(&path, &acked)
}

#[test]
fn group_commits_removing_what_they_wrote_are_replayed_as_they_happened() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ahead.redb");
    let acked = run_child_until_killed("journal_ahead_group_child", &path, 400)?;
    check_replayed(&path, &acked)
}

/// The file after the child's death: acknowledged fresh runs present, nothing else.
fn check_replayed(path: &std::path::Path, acked: &BTreeMap<String, bool>) -> TestResult {
    let mut journal = path.as_os_str().to_owned();
    journal.push("-journal");
    assert!(std::path::Path::new(&journal).exists(), "the killed writer left its journal");
    // Opened without a policy: whatever is absent was removed by the replayed writes.
    let storage = RedbStorage::open(path)?;
    let mut fresh_kept = 0;
    for (id, gone) in acked {
        let present = storage.get(id)?.is_some();
        assert_eq!(present, !gone, "{id} after replay");
        fresh_kept += usize::from(present);
    }
    assert!(fresh_kept > 20, "too few fresh runs acknowledged: {fresh_kept}");
    for summary in storage.list(usize::MAX, 0)? {
        assert!(summary.execution_id.starts_with("fresh-"), "{} survived", summary.execution_id);
    }
    assert_eq!(storage.verify()?, storage.stats()?.total_executions);
    Ok(())
}

/// Runs the child until `acks` acknowledgements, kills it, and returns each acknowledged
/// id with whether it must be gone (the last acknowledgement of an id wins).
fn run_child_until_killed(
    child_test: &str,
    path: &std::path::Path,
    acks: usize,
) -> Result<BTreeMap<String, bool>, Box<dyn std::error::Error>> {
    let mut child = support::child_test(child_test)?.env(DB_VAR, path).spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut acked = BTreeMap::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Some((kind, id)) = line.strip_prefix("ACK ").and_then(|ack| ack.split_once(' ')) else {
            continue;
        };
        acked.insert(id.to_owned(), kind == "gone");
        if acked.len() >= acks && !killed {
            child.kill()?;
            killed = true;
        }
    }
    let status = child.wait()?;
    assert!(killed && !status.success(), "the child ended on its own: {status}");
    Ok(acked)
}
