//! `export` and `import`: JSON Lines in Constellation's shapes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use execstore::{AuditConfig, ExecutionStorage, RedbStorage, StoredExecution};
use serde::Serialize;

use crate::args::ExportArgs;
use crate::output::{progress, Out};

/// Records per read page and per import transaction.
const CHUNK: usize = 500;

pub fn export(storage: &RedbStorage, args: &ExportArgs, out: &mut Out) -> anyhow::Result<()> {
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path)
                .map_err(|e| execstore::Error::Io { path: path.clone(), source: e })?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let written = if args.audit {
        export_audit(storage, &mut sink)?
    } else {
        export_records(storage, &mut sink)?
    };
    sink.flush()?;
    if let Some(path) = &args.output {
        out.line(format!("exported {written} lines to {}", path.display()))?;
    }
    Ok(())
}

fn export_records(storage: &RedbStorage, sink: &mut dyn Write) -> anyhow::Result<u64> {
    let bar = progress(storage.stats()?.total_executions, "export");
    let mut after: Option<String> = None;
    loop {
        let page = storage.records_after(after.as_deref(), CHUNK)?;
        let Some(last) = page.last() else { break };
        after = Some(last.execution_id.clone());
        write_lines(sink, &page)?;
        bar.inc(page.len() as u64);
    }
    bar.finish_and_clear();
    Ok(bar.position())
}

fn export_audit(storage: &RedbStorage, sink: &mut dyn Write) -> anyhow::Result<u64> {
    let log = storage.audit_log(AuditConfig::default())?;
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = log.events_after(after, CHUNK)?;
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

/// One input record that did not parse, with where it was.
struct Rejected {
    line: usize,
    reason: String,
}

pub fn import(storage: &RedbStorage, file: &Path, out: &mut Out) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| execstore::Error::Io { path: file.into(), source: e })?;
    let (records, rejected) = if text.trim_start().starts_with('[') {
        parse_array(&text).with_context(|| format!("{} is not a JSON array", file.display()))?
    } else {
        parse_lines(&text)
    };
    let bar = progress(records.len() as u64, "import");
    let mut imported = 0;
    let mut records = records.into_iter();
    loop {
        let chunk: Vec<StoredExecution> = records.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        // One transaction per chunk: a chunk is stored whole or not at all.
        imported += storage.store_many(chunk)?.len();
        bar.set_position(imported as u64);
    }
    bar.finish_and_clear();
    for Rejected { line, reason } in &rejected {
        eprintln!("{}:{line}: skipped: {reason}", file.display());
    }
    if out.json {
        out.json_line(&serde_json::json!({"imported": imported, "failed": rejected.len()}))?;
    } else {
        out.line(format!("imported {imported} executions, {} failed", rejected.len()))?;
    }
    if !rejected.is_empty() {
        anyhow::bail!(
            "{} of {} records failed to import",
            rejected.len(),
            imported + rejected.len()
        );
    }
    Ok(())
}

/// JSON Lines: every non-blank line is one record; a bad line is rejected alone.
fn parse_lines(text: &str) -> (Vec<StoredExecution>, Vec<Rejected>) {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str(line).map_err(|e| e.to_string()).and_then(checked);
        match parsed {
            Ok(record) => records.push(record),
            Err(reason) => rejected.push(Rejected { line: index + 1, reason }),
        }
    }
    (records, rejected)
}

/// A JSON array of records: elements that are not records are rejected by position.
fn parse_array(text: &str) -> anyhow::Result<(Vec<StoredExecution>, Vec<Rejected>)> {
    let values: Vec<serde_json::Value> = serde_json::from_str(text)?;
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let parsed = serde_json::from_value(value).map_err(|e| e.to_string()).and_then(checked);
        match parsed {
            Ok(record) => records.push(record),
            Err(reason) => rejected.push(Rejected {
                line: index + 1,
                reason: format!("element {}: {reason}", index + 1),
            }),
        }
    }
    Ok((records, rejected))
}

/// Refuses what the store would refuse, so one bad record cannot sink its chunk.
fn checked(record: StoredExecution) -> Result<StoredExecution, String> {
    if record.execution_id.is_empty() {
        return Err("executionId must not be empty".to_owned());
    }
    Ok(record)
}
