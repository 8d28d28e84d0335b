//! `import FILE`: JSON Lines, or a JSON array as Constellation's HTTP API returns records;
//! both are streamed and stored chunk by chunk.

mod array;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use execstore::{ExecutionStorage, RedbStorage, StoredExecution};
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::json;

use crate::output::{progress_bytes, Out};

/// Records per import transaction.
const CHUNK: usize = 500;

/// The file name that means standard input.
const STDIN: &str = "-";

/// An input record that was skipped, with where it was.
#[derive(Serialize)]
struct Rejected {
    /// `line 3` in JSON Lines, `element 3` in an array.
    at: String,
    reason: String,
}

/// A parsed record and where it came from, for the report if its chunk fails.
struct Parsed {
    at: usize,
    record: StoredExecution,
}

/// Stores chunks as they fill and keeps the tally.
struct Importer<'a> {
    storage: &'a RedbStorage,
    file: &'a Path,
    /// What a position counts: `line` or `element`.
    unit: &'static str,
    chunk: Vec<Parsed>,
    imported: usize,
    rejected: Vec<Rejected>,
}

pub fn import(storage: &RedbStorage, file: &Path, out: &mut Out) -> anyhow::Result<()> {
    let (mut input, bar) = open(file)?;
    let mut importer = if starts_with_bracket(&mut input).map_err(|e| io_error(file, e))? {
        let mut importer = Importer::new(storage, file, "element");
        array::import_array(input, &mut importer)?;
        importer
    } else {
        let mut importer = Importer::new(storage, file, "line");
        import_lines(input, &mut importer)?;
        importer
    };
    importer.flush()?;
    bar.finish_and_clear();
    importer.report(out)
}

/// The input and a progress bar over its bytes; `-` is standard input, of unknown length.
fn open(file: &Path) -> anyhow::Result<(Box<dyn BufRead>, ProgressBar)> {
    if file == Path::new(STDIN) {
        return Ok((Box::new(io::stdin().lock()), ProgressBar::hidden()));
    }
    let input = File::open(file).map_err(|e| io_error(file, e))?;
    let bar = progress_bytes(std::fs::metadata(file).map_or(0, |m| m.len()), "import");
    // The buffer outside the bar: serde_json reads byte by byte, the bar sees whole blocks.
    Ok((Box::new(BufReader::new(bar.wrap_read(input))), bar))
}

fn io_error(path: &Path, source: io::Error) -> execstore::Error {
    execstore::Error::Io { path: PathBuf::from(path), source }
}

/// Whether the first non-blank byte is `[` (a JSON array); consumes nothing.
fn starts_with_bracket(input: &mut impl BufRead) -> io::Result<bool> {
    let head = input.fill_buf()?;
    Ok(head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['))
}

/// JSON Lines: every non-blank line is one record, parsed on its own, so a bad line is
/// skipped alone; the file is read as it is stored, never whole.
fn import_lines(input: impl BufRead, importer: &mut Importer<'_>) -> anyhow::Result<()> {
    for (index, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| io_error(importer.file, e))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice(line).map_err(|e| reason(&e)).and_then(checked);
        importer.accept(index + 1, parsed)?;
    }
    Ok(())
}

/// serde_json's message without its position: each line is parsed alone, so its
/// "line 1" would mislead; the column stays.
fn reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

/// Refuses what the store would refuse, so one bad record cannot sink its chunk.
fn checked(record: StoredExecution) -> Result<StoredExecution, String> {
    if record.execution_id.is_empty() {
        return Err("executionId must not be empty".to_owned());
    }
    Ok(record)
}

impl<'a> Importer<'a> {
    fn new(storage: &'a RedbStorage, file: &'a Path, unit: &'static str) -> Self {
        Importer { storage, file, unit, chunk: Vec::new(), imported: 0, rejected: Vec::new() }
    }

    /// The input as messages name it.
    fn source(&self) -> String {
        if self.file == Path::new(STDIN) {
            "standard input".to_owned()
        } else {
            self.file.display().to_string()
        }
    }

    /// Queues a parsed record (storing the chunk once full) or notes a rejected one.
    fn accept(&mut self, at: usize, parsed: Result<StoredExecution, String>) -> anyhow::Result<()> {
        match parsed {
            Ok(record) => self.chunk.push(Parsed { at, record }),
            Err(reason) => {
                self.rejected.push(Rejected { at: format!("{} {at}", self.unit), reason })
            }
        }
        if self.chunk.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Stores the queued records in one transaction: the chunk is stored whole or not at all.
    fn flush(&mut self) -> anyhow::Result<()> {
        let (Some(first), Some(last)) = (self.chunk.first(), self.chunk.last()) else {
            return Ok(());
        };
        let span = format!("{}s {} to {} of {}", self.unit, first.at, last.at, self.source());
        let records = std::mem::take(&mut self.chunk).into_iter().map(|p| p.record).collect();
        let stored = self.storage.store_many(records).with_context(|| {
            format!("{span} were not imported ({} imported before them)", self.imported)
        })?;
        self.imported += stored.len();
        Ok(())
    }

    /// What was imported, what was skipped (on stderr, with where), and an error if any was.
    fn report(self, out: &mut Out) -> anyhow::Result<()> {
        let mut stderr = io::stderr().lock();
        for Rejected { at, reason } in &self.rejected {
            // A closed stderr must not hide the summary on stdout.
            let _ = writeln!(stderr, "{}: {at}: skipped: {reason}", self.source());
        }
        let failed = self.rejected.len();
        if out.json {
            let report =
                json!({"imported": self.imported, "failed": failed, "rejected": self.rejected});
            out.json_line(&report)?;
        } else {
            out.line(format!("imported {} executions, {failed} failed", self.imported))?;
        }
        if failed > 0 {
            anyhow::bail!("{failed} of {} records were skipped", self.imported + failed);
        }
        Ok(())
    }
}
