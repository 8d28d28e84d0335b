//! A deterministic stream of lifecycle events, and the SQLite audit baseline of the
//! `ExecutionListener` integration guide: table `execution_audit`, one INSERT per event in
//! its own transaction, or a batch of events per transaction.

use std::path::Path;

use rusqlite::{params, Connection};
use uuid::Uuid;

use super::sqlite::{configure, SqlResult};
use super::workload::{mix, DAG_NAMES, MODULES};

/// Modules an execution runs: each gives a start and a completion event.
pub const MODULES_PER_EXECUTION: u64 = 8;

/// Events an execution produces: started, 8 × (module started, module completed), completed.
pub const EVENTS_PER_EXECUTION: u64 = 2 + 2 * MODULES_PER_EXECUTION;

/// One lifecycle callback, with its arguments.
#[derive(Debug, Clone)]
pub enum Event {
    /// `on_execution_start`.
    ExecutionStarted { execution: Uuid, dag: &'static str },
    /// `on_module_start`.
    ModuleStarted { execution: Uuid, module: Uuid, name: &'static str },
    /// `on_module_complete`.
    ModuleCompleted { execution: Uuid, module: Uuid, name: &'static str, duration_ms: u64 },
    /// `on_execution_complete`.
    ExecutionCompleted { execution: Uuid, dag: &'static str, succeeded: bool, duration_ms: u64 },
}

/// Event `i` of the stream (executions one after another).
pub fn event(i: u64) -> Event {
    let run = i / EVENTS_PER_EXECUTION;
    let step = i % EVENTS_PER_EXECUTION;
    let execution = Uuid::from_u64_pair(mix(run), run);
    let dag = DAG_NAMES.get((run % 20) as usize).copied().unwrap_or("dag");
    let module_index = step.saturating_sub(1) / 2;
    let module = Uuid::from_u64_pair(mix(run), module_index);
    let name = MODULES.get(module_index as usize).copied().unwrap_or("Module");
    match step {
        0 => Event::ExecutionStarted { execution, dag },
        s if s == EVENTS_PER_EXECUTION - 1 => Event::ExecutionCompleted {
            execution,
            dag,
            succeeded: !mix(run).is_multiple_of(10),
            duration_ms: 40 + mix(run) % 4_000,
        },
        s if s % 2 == 1 => Event::ModuleStarted { execution, module, name },
        _ => Event::ModuleCompleted { execution, module, name, duration_ms: mix(i) % 900 },
    }
}

/// Events `from..to`.
pub fn events(from: u64, to: u64) -> Vec<Event> {
    (from..to).map(event).collect()
}

const AUDIT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS execution_audit (
    id INTEGER PRIMARY KEY,
    event_type TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    dag_name TEXT,
    module_name TEXT,
    duration_ms INTEGER,
    succeeded INTEGER,
    error_message TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_audit_execution_id ON execution_audit(execution_id);
CREATE INDEX IF NOT EXISTS idx_audit_dag_name ON execution_audit(dag_name);
";

const AUDIT_INSERT: &str = "INSERT INTO execution_audit
    (event_type, execution_id, dag_name, module_name, duration_ms, succeeded, error_message)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// The guide's audit listener on SQLite (WAL, `synchronous=FULL`).
pub struct SqliteAudit {
    conn: Connection,
}

impl SqliteAudit {
    /// Opens (or creates) the audit database at `path`.
    pub fn open(path: &Path) -> SqlResult<Self> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(AUDIT_SCHEMA)?;
        Ok(SqliteAudit { conn })
    }

    /// The guide's listener: one INSERT, in its own transaction.
    pub fn record(&self, event: &Event) -> SqlResult<()> {
        insert(&self.conn, event)
    }

    /// The same INSERTs, all in one transaction.
    pub fn record_batch(&mut self, events: &[Event]) -> SqlResult<()> {
        let tx = self.conn.transaction()?;
        for event in events {
            insert(&tx, event)?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn insert(conn: &Connection, event: &Event) -> SqlResult<()> {
    let mut stmt = conn.prepare_cached(AUDIT_INSERT)?;
    match event {
        Event::ExecutionStarted { execution, dag } => stmt.execute(params![
            "execution.started",
            execution.to_string(),
            dag,
            None::<&str>,
            None::<i64>,
            None::<bool>,
            None::<&str>
        ])?,
        Event::ModuleStarted { execution, name, .. } => stmt.execute(params![
            "module.started",
            execution.to_string(),
            None::<&str>,
            name,
            None::<i64>,
            None::<bool>,
            None::<&str>
        ])?,
        Event::ModuleCompleted { execution, name, duration_ms, .. } => stmt.execute(params![
            "module.completed",
            execution.to_string(),
            None::<&str>,
            name,
            *duration_ms as i64,
            true,
            None::<&str>
        ])?,
        Event::ExecutionCompleted { execution, dag, succeeded, duration_ms } => {
            stmt.execute(params![
                "execution.completed",
                execution.to_string(),
                dag,
                None::<&str>,
                *duration_ms as i64,
                succeeded,
                None::<&str>
            ])?
        }
    };
    Ok(())
}
