//! Maintenance: `prune`, `compact`, `verify`.

use std::path::Path;

use execstore::{now_millis, ExecutionStatus, ExecutionStorage, RedbStorage, RetentionPolicy};
use serde_json::json;

use crate::args::PruneArgs;
use crate::output::Out;

pub fn prune(storage: &RedbStorage, args: &PruneArgs, out: &mut Out) -> anyhow::Result<()> {
    let total = storage.stats()?.total_executions;
    let policy = policy(args);
    let report = if args.dry_run {
        storage.retention_preview(&policy, now_millis())?
    } else {
        storage.apply_retention(&policy, now_millis())?
    };
    // A dry run counts each rule on its own: their sum can exceed what would go.
    let removed = report.removed().min(total);
    let remaining = total - removed;
    if out.json {
        return out.json_line(&json!({
            "removed": removed, "remaining": remaining, "dryRun": args.dry_run,
            "byAge": report.by_age, "perScript": report.per_script,
            "beyondMax": report.beyond_max, "forSize": report.for_size,
            "auditChunks": report.audit_chunks,
        }));
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    out.line(format!("{verb} {removed} of {total} executions, {remaining} remain"))?;
    out.line(format!(
        "  by age {}, per script {}, beyond the total {}, for size {}; audit chunks {}",
        report.by_age, report.per_script, report.beyond_max, report.for_size, report.audit_chunks
    ))?;
    Ok(())
}

/// The rules given on the command line, as one policy.
fn policy(args: &PruneArgs) -> RetentionPolicy {
    let mut policy = RetentionPolicy::new();
    if let Some(age) = args.older_than {
        policy = policy.max_age_all(age);
    }
    if let Some(age) = args.completed_older_than {
        policy = policy.max_age(ExecutionStatus::Completed, age);
    }
    if let Some(age) = args.failed_older_than {
        policy = policy.max_age(ExecutionStatus::Failed, age);
    }
    if let Some(keep) = args.keep {
        policy = policy.max_executions(keep);
    }
    if let Some(keep) = args.keep_per_script {
        policy = policy.keep_per_script(keep);
    }
    if let Some(size) = args.max_size {
        policy = policy.max_size_bytes(size.as_u64());
    }
    if let Some(age) = args.audit_older_than {
        policy = policy.audit_max_age(age);
    }
    policy
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
