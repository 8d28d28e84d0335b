//! Where results go: aligned tables for people, JSON for scripts, progress bars only on a
//! terminal.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use execstore::ExecutionStatus;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Standard output, with what kind of reader is on the other end.
pub struct Out {
    stdout: io::StdoutLock<'static>,
    /// `--json`: machine-readable output.
    pub json: bool,
    colour: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        let stdout = io::stdout();
        let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Out { stdout: stdout.lock(), json, colour }
    }

    /// One line of text.
    pub fn line(&mut self, text: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.stdout, "{text}")
    }

    /// `value` as one line of JSON.
    pub fn json_line(&mut self, value: &impl Serialize) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.stdout, value)?;
        writeln!(self.stdout)?;
        Ok(())
    }

    /// `value` as indented JSON.
    pub fn json_pretty(&mut self, value: &impl Serialize) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut self.stdout, value)?;
        writeln!(self.stdout)?;
        Ok(())
    }

    /// A status, coloured on a terminal.
    pub fn status(&self, status: ExecutionStatus) -> Cell {
        let colour = match status {
            ExecutionStatus::Running => "33",
            ExecutionStatus::Completed => "32",
            ExecutionStatus::Failed => "31",
        };
        self.coloured(status.as_str(), colour)
    }

    /// Text in an ANSI colour when writing to a terminal.
    pub fn coloured(&self, text: &str, colour: &str) -> Cell {
        if self.colour {
            Cell { text: format!("\x1b[{colour}m{text}\x1b[0m"), width: text.chars().count() }
        } else {
            Cell::from(text)
        }
    }

    /// Rows under a header, each column as wide as its widest cell.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<Cell>>) -> io::Result<()> {
        let header: Vec<Cell> = header.iter().map(|h| Cell::from(*h)).collect();
        let mut widths: Vec<usize> = header.iter().map(|c| c.width).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width);
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(&cell.text);
                let last = i + 1 == row.len();
                if !last {
                    line.push_str(&" ".repeat(width.saturating_sub(cell.width)));
                }
            }
            writeln!(self.stdout, "{line}")?;
        }
        Ok(())
    }

    /// Key-value lines, keys aligned.
    pub fn fields(&mut self, fields: &[(&str, String)]) -> io::Result<()> {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in fields {
            writeln!(self.stdout, "{key:<width$}  {value}")?;
        }
        Ok(())
    }
}

/// A table cell: its text (maybe with colour codes) and its visible width.
pub struct Cell {
    text: String,
    width: usize,
}

impl Cell {
    /// The text, with its colour codes if any.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell { text: text.to_owned(), width: text.chars().count() }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        let width = text.chars().count();
        Cell { text, width }
    }
}

/// A progress bar on a terminal's stderr, hidden in a pipe.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// A progress bar over `len` bytes on a terminal's stderr, hidden in a pipe.
pub fn progress_bytes(len: u64, what: &str) -> ProgressBar {
    let bar = progress(len, what);
    let template =
        format!("{what} {{bar:40}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Epoch millis as UTC `2026-11-24T08:00:00Z`; the raw number if out of range.
pub fn timestamp(millis: i64) -> String {
    let time = u64::try_from(millis)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .filter(|t| *t < SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799));
    match time {
        Some(time) => humantime::format_rfc3339_seconds(time).to_string(),
        None => millis.to_string(),
    }
}

/// Milliseconds for people: `850ms`, `12.4s`, `3m 05s`.
pub fn duration(millis: i64) -> String {
    match millis {
        ms if ms < 1_000 => format!("{ms}ms"),
        ms if ms < 60_000 => format!("{:.1}s", ms as f64 / 1_000.0),
        ms => format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1_000),
    }
}

/// An optional value, or a dash.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// How an audit event ended, and the ANSI colour to show it in (none: no outcome).
pub fn outcome(event: &execstore::AuditEvent) -> (&str, Option<&'static str>) {
    match (&event.error, event.succeeded) {
        (Some(error), _) => (error.as_str(), Some("31")),
        (None, Some(true)) => ("ok", Some("32")),
        (None, Some(false)) => ("failed", Some("31")),
        (None, None) => ("-", None),
    }
}
