//! `execstore`: inspect and maintain an execstore history file from the shell.

mod args;
mod demo;
mod export;
mod follow;
mod ids;
mod import;
mod inspect;
mod maintain;
mod output;
mod query;

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use execstore::RedbStorage;

use args::{Cli, Command};
use output::Out;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let hint = hint(&error).map(|hint| format!(" ({hint})")).unwrap_or_default();
            // Nothing more to do if stderr is gone too.
            let _ = writeln!(io::stderr(), "error: {}{hint}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut out = Out::new(cli.json);
    if !cli.command.creates_file() {
        must_exist(&cli.db)?;
    }
    if let Command::Compact = cli.command {
        // Compaction needs the file to itself: no handle may be open.
        return maintain::compact(&cli.db, &mut out);
    }
    // An import restores what was exported: values are kept whole, not truncated.
    let storage = RedbStorage::builder().max_value_size_bytes(None).open(&cli.db)?;
    match &cli.command {
        Command::Stats => inspect::stats(&storage, &mut out),
        Command::List(args) => query::list(&storage, args, &mut out),
        Command::Count(filter) => query::count(&storage, filter, &mut out),
        Command::Show { id } => inspect::show(&storage, id, &mut out),
        Command::Audit(args) => match &args.id {
            Some(id) => inspect::audit(&storage, id, &mut out),
            None => follow::follow(&storage, args, &mut out),
        },
        Command::Export(args) => export::export(&storage, args, &mut out),
        Command::Import { file } => import::import(&storage, file, &mut out),
        Command::Prune(args) => maintain::prune(&storage, args, &mut out),
        Command::Demo { runs } => demo::demo(&storage, *runs, &mut out),
        Command::Verify => maintain::verify(&storage, &mut out),
        Command::Compact => Ok(()),
    }
}

/// A typo in `--db` must not quietly create an empty history and report on it.
fn must_exist(db: &Path) -> anyhow::Result<()> {
    match db.try_exists() {
        Ok(true) => Ok(()),
        Ok(false) => anyhow::bail!(
            "{} does not exist (`demo` or `import` create a history file)",
            db.display()
        ),
        Err(source) => Err(execstore::Error::Io { path: db.into(), source }.into()),
    }
}

/// `execstore list | head` closes our stdout early: that is the reader's choice, not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind())
                .is_some_and(|kind| kind == io::ErrorKind::BrokenPipe)
    })
}

/// What to do about an error the message alone does not tell.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    match error.downcast_ref::<execstore::Error>()? {
        execstore::Error::AlreadyOpen { .. } => {
            Some("redb lets one process open a file: stop the application using it and retry")
        }
        _ => None,
    }
}

/// The error and its causes on one line, without repeating a cause already in the message.
fn chain(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}
