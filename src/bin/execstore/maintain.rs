//! Maintenance: `prune`, `compact`, `verify`.

use std::path::Path;

use execstore::{ExecutionStorage, RedbStorage};
use serde_json::json;

use crate::args::PruneArgs;
use crate::output::Out;

pub fn prune(storage: &RedbStorage, args: &PruneArgs, out: &mut Out) -> anyhow::Result<()> {
    let total = storage.stats()?.total_executions;
    let removed = match (args.older_than, args.keep, args.dry_run) {
        (Some(age), _, true) => storage.count_older_than(age)?,
        (Some(age), _, false) => storage.prune_older_than(age)?,
        (None, Some(keep), true) => total.saturating_sub(keep as u64),
        (None, Some(keep), false) => storage.keep_newest(keep)?,
        (None, None, _) => anyhow::bail!("prune needs --older-than or --keep"),
    };
    let remaining = total.saturating_sub(removed);
    if out.json {
        return out.json_line(
            &json!({"removed": removed, "remaining": remaining, "dryRun": args.dry_run}),
        );
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    out.line(format!("{verb} {removed} of {total} executions, {remaining} remain"))?;
    Ok(())
}

pub fn compact(path: &Path, out: &mut Out) -> anyhow::Result<()> {
    let before = file_len(path)?;
    RedbStorage::compact_file(path)?;
    let after = file_len(path)?;
    if out.json {
        return out.json_line(&json!({"bytesBefore": before, "bytesAfter": after}));
    }
    out.line(format!("{}: {before} bytes -> {after} bytes", path.display()))?;
    Ok(())
}

fn file_len(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| execstore::Error::Io { path: path.into(), source: e })?
        .len())
}

pub fn verify(storage: &RedbStorage, out: &mut Out) -> anyhow::Result<()> {
    let checked = storage.verify()?;
    if out.json {
        return out.json_line(&json!({"checked": checked, "ok": true}));
    }
    out.line(format!(
        "{}: {checked} executions checked, indexes and counters agree",
        storage.path().display()
    ))?;
    Ok(())
}
