//! A real full disk: a child process writes the audit log under a file-size limit
//! (`ulimit -f`, `SIGXFSZ` ignored, so writes past it fail with `EFBIG`). The failure
//! surfaces from `flush`, the child does not panic, every event is accounted for, and the
//! file opens afterwards with every flushed event in order.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use execstore::{AuditConfig, AuditLog, ExecutionListener};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const DB_VAR: &str = "EXECSTORE_AUDIT_DISK_FULL_DB";
const RUN: Uuid = Uuid::from_u128(0xd15c_0000_0000_0000_0000_0000_0000_0001);
const PER_FLUSH: u64 = 500;

/// The child: reports events and flushes every `PER_FLUSH` until a flush fails, then
/// reports once more, closes, and prints what happened.
#[test]
#[ignore = "run by a_full_disk_is_an_error_not_a_panic_and_loses_nothing_flushed as a child"]
fn audit_disk_full_child() -> TestResult {
    let Ok(path) = std::env::var(DB_VAR) else { return Ok(()) };
    // Batches end at a flush: what fails together is known.
    let config = AuditConfig { max_delay: Duration::from_secs(30), ..AuditConfig::default() };
    let log = AuditLog::open(path, config)?;
    let mut out = std::io::stdout().lock();
    let mut sent = 0;
    loop {
        for _ in 0..PER_FLUSH {
            log.on_module_complete(RUN, Uuid::nil(), "step", sent);
            sent += 1;
        }
        match log.flush() {
            Ok(()) => writeln!(out, "FLUSHED {sent}")?,
            Err(err) => {
                writeln!(out, "FAILED {err}")?;
                break;
            }
        }
        if sent > 1_000_000 {
            writeln!(out, "NEVER FULL")?;
            return Ok(());
        }
    }
    log.on_module_complete(RUN, Uuid::nil(), "step", sent);
    sent += 1;
    let later = log.flush();
    let observer = log.clone();
    let closed = log.close();
    let (committed, lost) = (observer.committed(), observer.lost());
    writeln!(out, "LATER {}", later.is_ok())?;
    writeln!(out, "CLOSED {} SENT {sent} COMMITTED {committed} LOST {lost}", closed.is_ok())?;
    Ok(())
}

/// The number after `label` on the last line starting with `prefix`.
fn field(stdout: &str, prefix: &str, label: &str) -> Option<u64> {
    let line = stdout.lines().rev().find(|l| l.starts_with(prefix))?;
    let mut words = line.split_whitespace().skip_while(|w| *w != label);
    words.nth(1)?.parse().ok()
}

#[test]
fn a_full_disk_is_an_error_not_a_panic_and_loses_nothing_flushed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("audit.redb");
    // 4096 blocks: 2 MiB for dash, 4 MiB for bash. An ignored signal stays ignored in exec.
    let script = "trap '' XFSZ; ulimit -f 4096 && exec \"$0\" --exact audit_disk_full_child \
                  --ignored --nocapture --test-threads=1";
    let output = Command::new("sh")
        .args(["-c", script])
        .arg(std::env::current_exe()?)
        .env(DB_VAR, &path)
        .output()?;
    let stdout = String::from_utf8(output.stdout)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed: {}\n{stdout}\n{stderr}", output.status);
    assert!(!stdout.contains("NEVER FULL"), "the file-size limit did not apply");
    let failed = stdout.lines().find(|l| l.starts_with("FAILED ")).ok_or("no failed flush")?;
    assert!(failed.contains("storage error during audit commit"), "{failed}");
    let flushed = field(&stdout, "FLUSHED ", "FLUSHED").ok_or("nothing flushed before")?;
    let sent = field(&stdout, "CLOSED ", "SENT").ok_or(stdout.clone())?;
    let committed = field(&stdout, "CLOSED ", "COMMITTED").ok_or(stdout.clone())?;
    let lost = field(&stdout, "CLOSED ", "LOST").ok_or(stdout.clone())?;
    assert_eq!(committed + lost, sent, "every event committed or counted lost");

    let log = AuditLog::open(&path, AuditConfig::default())?;
    let events = log.events_for(RUN)?;
    assert_eq!(events.len() as u64, committed, "exactly the committed events are stored");
    assert!(committed >= flushed);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=committed).collect::<Vec<_>>());
    let durations: Vec<u64> = events.iter().filter_map(|e| e.duration_ms).collect();
    assert_eq!(
        durations.get(..flushed as usize),
        Some((0..flushed).collect::<Vec<_>>().as_slice())
    );
    assert!(durations.windows(2).all(|w| w[0] < w[1]), "order kept");
    log.close()?;
    Ok(())
}
