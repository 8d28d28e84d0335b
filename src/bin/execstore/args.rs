//! The command line, as clap parses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Inspect and maintain an execstore history file.
#[derive(Debug, Parser)]
#[command(name = "execstore", version, about)]
pub struct Cli {
    /// The history file; `demo` and `import` create it if missing.
    #[arg(long, global = true, default_value = "execstore.redb")]
    pub db: PathBuf,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Counts by status, oldest and newest run.
    Stats,
    /// Runs, newest first, filtered and paged with a cursor.
    List(ListArgs),
    /// How many runs match the filters.
    Count(FilterArgs),
    /// One run: record, node results, DAG summary.
    Show {
        /// The execution id, or a prefix that names one run.
        id: String,
    },
    /// The audit timeline of one run, or with --follow every event as it is committed.
    Audit(AuditArgs),
    /// Every run (or, with --audit, every audit event) as JSON Lines in Constellation's shape.
    Export(ExportArgs),
    /// Runs from JSON Lines or a JSON array, as Constellation's HTTP API returns them.
    Import {
        /// The file to read; `-` reads standard input.
        file: PathBuf,
    },
    /// Remove old runs.
    Prune(PruneArgs),
    /// Rewrite the file to release the space of deleted runs (needs exclusive access).
    Compact,
    /// Check every run against the indexes and counters; exit 1 on the first disagreement.
    Verify,
    /// Fill the database with a realistic simulated workload, then show it.
    Demo {
        /// How many runs to simulate.
        #[arg(long, default_value_t = 500)]
        runs: usize,
    },
}

impl Command {
    /// Whether the command may create the history file; the others need it to exist.
    pub fn creates_file(&self) -> bool {
        matches!(self, Command::Demo { .. } | Command::Import { .. })
    }
}

/// `list`'s options.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How many runs to show (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Oldest first.
    #[arg(long)]
    pub oldest: bool,
    /// Continue after the page that printed this `next:` cursor.
    #[arg(long, conflicts_with = "offset")]
    pub cursor: Option<String>,
    /// How many of the newest runs to skip (without filters; prefer --cursor).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

/// Filters of `list` and `count`; they combine with AND.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only runs in these statuses (Running, Completed, Failed; repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_parser = parse_status)]
    pub status: Vec<execstore::ExecutionStatus>,
    /// Only runs of this DAG.
    #[arg(long)]
    pub dag: Option<String>,
    /// Only runs of this script path (exact match).
    #[arg(long)]
    pub script: Option<String>,
    /// Only runs whose script path starts with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only runs started within this long before now (`2h`, `7days`) or since this time
    /// (`2026-11-24T08:00:00Z`).
    #[arg(long, value_parser = parse_when)]
    pub since: Option<When>,
    /// Only runs started more than this long before now, or before this time.
    #[arg(long, value_parser = parse_when)]
    pub before: Option<When>,
}

/// A point in time given on the command line.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// This long before now.
    Ago(Duration),
    /// This moment, epoch millis.
    At(i64),
}

fn parse_when(text: &str) -> Result<When, String> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(When::Ago(ago));
    }
    let at = humantime::parse_rfc3339_weak(text).map_err(|_| {
        format!("{text:?} is neither a duration (2h) nor a time (2026-11-24T08:00:00Z)")
    })?;
    let millis = at.duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_millis();
    i64::try_from(millis).map(When::At).map_err(|e| e.to_string())
}

fn parse_status(text: &str) -> Result<execstore::ExecutionStatus, String> {
    execstore::ExecutionStatus::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| format!("{text:?} is not Running, Completed or Failed"))
}

/// `audit`'s options: one run's timeline, or following the whole log.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The execution id (a UUID), or a prefix that names one run.
    #[arg(required_unless_present = "follow", conflicts_with = "follow")]
    pub id: Option<String>,
    /// Print every committed event, one line each, as it is committed, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Start after this seq (the last one already forwarded), not at the current end.
    #[arg(long, requires = "follow", value_name = "SEQ")]
    pub after: Option<u64>,
    /// Start with the oldest event kept, not at the current end.
    #[arg(long, requires = "follow", conflicts_with = "after")]
    pub from_start: bool,
    /// Stop after printing this many events.
    #[arg(long, requires = "follow", value_name = "N")]
    pub limit: Option<u64>,
    /// How long to wait before looking for new events again (`500ms`, `2s`).
    #[arg(long, requires = "follow", value_parser = humantime::parse_duration, default_value = "200ms")]
    pub interval: Duration,
}

/// `export`'s options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export the audit events instead of the runs.
    #[arg(long)]
    pub audit: bool,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `prune`'s options: one or more rules, applied together as one retention policy.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true)))]
pub struct PruneArgs {
    /// Remove runs of any status that started longer ago than this (`30d`, `12h`, `90min`);
    /// a status's own flag overrides it for that status.
    #[arg(long, value_parser = humantime::parse_duration, group = "rule")]
    pub older_than: Option<Duration>,
    /// Remove completed runs that started longer ago than this.
    #[arg(long, value_parser = humantime::parse_duration, group = "rule")]
    pub completed_older_than: Option<Duration>,
    /// Remove failed runs that started longer ago than this.
    #[arg(long, value_parser = humantime::parse_duration, group = "rule")]
    pub failed_older_than: Option<Duration>,
    /// Keep only the newest N runs.
    #[arg(long, group = "rule")]
    pub keep: Option<u64>,
    /// Keep only the newest N runs of each script.
    #[arg(long, group = "rule")]
    pub keep_per_script: Option<u64>,
    /// Remove the oldest runs until the live data is under this size (`512MiB`, `2GB`).
    #[arg(long, group = "rule")]
    pub max_size: Option<bytesize::ByteSize>,
    /// Remove audit events older than this.
    #[arg(long, value_parser = humantime::parse_duration, group = "rule")]
    pub audit_older_than: Option<Duration>,
    /// Report what each rule would remove, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}
