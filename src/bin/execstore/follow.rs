//! `audit --follow`: every committed event, in seq order, as it is committed. Polls
//! `events_after` from the last seq printed, so nothing is printed twice or skipped; a
//! forwarder that restarts passes the last seq it handled as `--after`. Ctrl-C ends it
//! (nothing is written, so stopping at any point is safe).

use std::thread;

use execstore::{AuditConfig, AuditEvent, AuditLog, RedbStorage};

use crate::args::AuditArgs;
use crate::output::{or_dash, outcome, timestamp, Out};

/// Events read per poll at most.
const PAGE: u64 = 1_000;

pub fn follow(storage: &RedbStorage, args: &AuditArgs, out: &mut Out) -> anyhow::Result<()> {
    let log = storage.audit_log(AuditConfig::default())?;
    let mut after = start(&log, args)?;
    let mut left = args.limit.unwrap_or(u64::MAX);
    while left > 0 {
        let page = log.events_after(after, usize::try_from(left.min(PAGE))?)?;
        let Some(last) = page.last() else {
            thread::sleep(args.interval);
            continue;
        };
        after = last.seq;
        left = left.saturating_sub(page.len() as u64);
        for event in &page {
            print(event, out)?;
        }
    }
    log.close()?;
    Ok(())
}

/// The seq to print events after: `--after`, 0 for `--from-start`, else the newest one's.
fn start(log: &AuditLog, args: &AuditArgs) -> anyhow::Result<u64> {
    if let Some(after) = args.after {
        return Ok(after);
    }
    if args.from_start {
        return Ok(0);
    }
    Ok(log.recent(1)?.first().map_or(0, |event| event.seq))
}

fn print(event: &AuditEvent, out: &mut Out) -> anyhow::Result<()> {
    if out.json {
        return out.json_line(event);
    }
    let subject = event.module_name.as_deref().or(event.dag_name.as_deref());
    let (outcome, _) = outcome(event);
    out.line(format!(
        "{}  {}  {}  {}  {}  {}",
        event.seq,
        timestamp(event.timestamp),
        event.kind,
        event.execution_id,
        or_dash(subject),
        outcome
    ))?;
    Ok(())
}
