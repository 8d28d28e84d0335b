//! `export [--audit] [-o FILE]`: JSON Lines in Constellation's shapes, in id (or audit
//! sequence) order, so two exports of the same history are identical.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use execstore::{AuditConfig, RedbStorage};
use serde::Serialize;

use crate::args::ExportArgs;
use crate::output::{progress, Out};

/// Records or events per read page.
const PAGE: usize = 500;

pub fn export(storage: &RedbStorage, args: &ExportArgs, out: &mut Out) -> anyhow::Result<()> {
    let Some(path) = &args.output else {
        let mut sink = BufWriter::new(io::stdout().lock());
        write_all(storage, args.audit, &mut sink)?;
        sink.flush()?;
        return Ok(());
    };
    let written = export_to_file(storage, args.audit, path)?;
    if out.json {
        return out.json_line(&serde_json::json!({"exported": written, "file": path}));
    }
    out.line(format!("exported {written} lines to {}", path.display()))?;
    Ok(())
}

/// Writes beside `path` and renames at the end: a failed export never leaves a file
/// that looks complete.
fn export_to_file(storage: &RedbStorage, audit: bool, path: &Path) -> anyhow::Result<u64> {
    let partial = partial_path(path);
    let io_error = |source| execstore::Error::Io { path: partial.clone(), source };
    let mut sink = BufWriter::new(File::create(&partial).map_err(io_error)?);
    let written = write_all(storage, audit, &mut sink).and_then(|written| {
        let file = sink.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.sync_all().map_err(io_error)?;
        Ok(written)
    });
    match written {
        Ok(written) => {
            std::fs::rename(&partial, path).with_context(|| {
                format!("cannot move {} to {}", partial.display(), path.display())
            })?;
            Ok(written)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// `runs.jsonl` → `runs.jsonl.partial`, in the same directory so the rename is atomic.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn write_all(storage: &RedbStorage, audit: bool, sink: &mut dyn Write) -> anyhow::Result<u64> {
    if audit {
        write_audit(storage, sink)
    } else {
        write_records(storage, sink)
    }
}

fn write_records(storage: &RedbStorage, sink: &mut dyn Write) -> anyhow::Result<u64> {
    use execstore::ExecutionStorage as _;
    let bar = progress(storage.stats()?.total_executions, "export");
    let mut after: Option<String> = None;
    let mut written = 0;
    loop {
        let page = storage.records_after(after.as_deref(), PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.execution_id.clone());
        write_lines(sink, &page)?;
        written += page.len() as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    Ok(written)
}

fn write_audit(storage: &RedbStorage, sink: &mut dyn Write) -> anyhow::Result<u64> {
    let log = storage.audit_log(AuditConfig::default())?;
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = log.events_after(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        write_lines(sink, &page)?;
        written += page.len() as u64;
    }
    log.close()?;
    Ok(written)
}

fn write_lines<T: Serialize>(sink: &mut dyn Write, items: &[T]) -> anyhow::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *sink, item)?;
        sink.write_all(b"\n")?;
    }
    Ok(())
}
