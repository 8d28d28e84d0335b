//! The SQLite baseline, built as the `ExecutionStorage` integration guide writes it: one
//! `executions` table with TEXT JSON columns, indexes on `dag_name`, `script_path`,
//! `start_time DESC` and `status`, WAL with `synchronous=FULL`; reads parse the JSON
//! columns back and rebuild the records. Statements are prepared once and cached, as a
//! careful port would do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use execstore::{
    DagVizIr, ExecutionSource, ExecutionStatus, ExecutionSummary, Json, StorageStats,
    StoredExecution, StoredNodeResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

/// Any failure of the baseline.
pub type SqlResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY,
    dag_name TEXT NOT NULL,
    script_path TEXT,
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    inputs TEXT NOT NULL DEFAULT '{}',
    outputs TEXT,
    status TEXT NOT NULL,
    node_results TEXT NOT NULL DEFAULT '{}',
    dag_viz_ir TEXT,
    sample_rate REAL NOT NULL DEFAULT 1.0,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_executions_dag_name ON executions(dag_name);
CREATE INDEX IF NOT EXISTS idx_executions_script_path ON executions(script_path);
CREATE INDEX IF NOT EXISTS idx_executions_start_time ON executions(start_time DESC);
CREATE INDEX IF NOT EXISTS idx_executions_status ON executions(status);
";

/// The stronger peer for `list_by_script`: one index serving both the filter and the order.
const COMPOSITE_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_executions_script_start
    ON executions(script_path, start_time DESC)";

const INSERT: &str = "INSERT INTO executions (execution_id, dag_name, script_path, start_time,
    end_time, inputs, outputs, status, node_results, dag_viz_ir, sample_rate, source)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

const SELECT_ONE: &str = "SELECT * FROM executions WHERE execution_id = ?1";

/// The columns a summary is rebuilt from: the guide's six, plus what `ExecutionSummary`
/// also carries (script path, node count from `node_results`, preview from `outputs`).
const SUMMARY_COLUMNS: &str =
    "execution_id, dag_name, script_path, start_time, end_time, status, source, outputs, node_results";

/// Durable pragmas of the baseline, on any connection.
pub fn configure(conn: &Connection) -> SqlResult<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal_mode is {mode}, not WAL").into());
    }
    conn.execute_batch("PRAGMA synchronous=FULL")?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(())
}

/// The guide's SQLite execution store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the guide's schema.
    pub fn open(path: &Path) -> SqlResult<Self> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStore { conn, path: path.to_path_buf() })
    }

    /// Adds the composite `(script_path, start_time)` index.
    pub fn add_composite_index(&self) -> SqlResult<()> {
        self.conn.execute_batch(COMPOSITE_INDEX)?;
        self.conn.execute_batch("ANALYZE")?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One INSERT in its own (durable) transaction.
    pub fn store(&self, execution: &StoredExecution) -> SqlResult<()> {
        insert(&self.conn, execution)
    }

    /// Every INSERT in one transaction.
    pub fn store_many(&mut self, executions: &[StoredExecution]) -> SqlResult<()> {
        let tx = self.conn.transaction()?;
        for execution in executions {
            insert(&tx, execution)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `SELECT *` by id, every JSON column parsed back.
    pub fn get(&self, execution_id: &str) -> SqlResult<Option<StoredExecution>> {
        get(&self.conn, execution_id)
    }

    /// A page newest first: `ORDER BY start_time DESC LIMIT ? OFFSET ?`.
    pub fn list(&self, limit: usize, offset: usize) -> SqlResult<Vec<ExecutionSummary>> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM executions ORDER BY start_time DESC LIMIT ?1 OFFSET ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![limit as i64, offset as i64], summary_row)?;
        collect_summaries(rows)
    }

    /// The guide's literal page query: its six columns, nothing parsed (a floor for SQLite).
    pub fn list_guide_columns(&self, limit: usize, offset: usize) -> SqlResult<usize> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT execution_id, dag_name, status, start_time, end_time, source
             FROM executions ORDER BY start_time DESC LIMIT ?1 OFFSET ?2",
        )?;
        let mut rows = stmt.query(params![limit as i64, offset as i64])?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            let _: (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            count += 1;
        }
        Ok(count)
    }

    /// `WHERE script_path = ? ORDER BY start_time DESC LIMIT ?`.
    pub fn list_by_script(&self, script: &str, limit: usize) -> SqlResult<Vec<ExecutionSummary>> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM executions WHERE script_path = ?1
             ORDER BY start_time DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![script, limit as i64], summary_row)?;
        collect_summaries(rows)
    }

    /// `WHERE <condition> ORDER BY start_time DESC LIMIT ? OFFSET ?`: a filtered page as a
    /// port of the guide's list would write it.
    pub fn page_where(
        &self,
        condition: &str,
        values: &[&dyn rusqlite::ToSql],
        limit: usize,
        offset: usize,
    ) -> SqlResult<Vec<ExecutionSummary>> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM executions WHERE {condition}
             ORDER BY start_time DESC LIMIT {limit} OFFSET {offset}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(values, summary_row)?;
        collect_summaries(rows)
    }

    /// `SELECT COUNT(*) FROM executions WHERE <condition>`.
    pub fn count_where(&self, condition: &str, values: &[&dyn rusqlite::ToSql]) -> SqlResult<u64> {
        let sql = format!("SELECT COUNT(*) FROM executions WHERE {condition}");
        let count: i64 = self.conn.prepare_cached(&sql)?.query_row(values, |r| r.get(0))?;
        Ok(count as u64)
    }

    /// How many records the table holds.
    pub fn len(&self) -> SqlResult<u64> {
        self.count_where("1 = 1", &[])
    }

    /// `COUNT(*)`, the per-status counts and the time range.
    pub fn stats(&self) -> SqlResult<StorageStats> {
        let total: i64 = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM executions")?
            .query_row([], |r| r.get(0))?;
        let mut stats = StorageStats { total_executions: total as u64, ..StorageStats::default() };
        let mut by_status =
            self.conn.prepare_cached("SELECT status, COUNT(*) FROM executions GROUP BY status")?;
        let mut rows = by_status.query([])?;
        while let Some(row) = rows.next()? {
            let count = row.get::<_, i64>(1)? as u64;
            match status(&row.get::<_, String>(0)?)? {
                ExecutionStatus::Running => stats.running_executions = count,
                ExecutionStatus::Completed => stats.completed_executions = count,
                ExecutionStatus::Failed => stats.failed_executions = count,
            }
        }
        let mut range =
            self.conn.prepare_cached("SELECT MIN(start_time), MAX(start_time) FROM executions")?;
        (stats.oldest_execution_time, stats.newest_execution_time) =
            range.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(stats)
    }

    /// Read, apply `f`, write back the guide's updated columns: one immediate transaction.
    pub fn update(
        &mut self,
        execution_id: &str,
        f: impl FnOnce(&mut StoredExecution),
    ) -> SqlResult<Option<StoredExecution>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(mut execution) = get(&tx, execution_id)? else { return Ok(None) };
        f(&mut execution);
        tx.prepare_cached(
            "UPDATE executions SET end_time = ?1, outputs = ?2, status = ?3, node_results = ?4
             WHERE execution_id = ?5",
        )?
        .execute(params![
            execution.end_time,
            execution.outputs.as_ref().map(serde_json::to_string).transpose()?,
            execution.status.as_str(),
            serde_json::to_string(&execution.node_results)?,
            execution_id,
        ])?;
        tx.commit()?;
        Ok(Some(execution))
    }

    /// Folds the WAL into the main file and empties it.
    pub fn checkpoint(&self) -> SqlResult<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// One INSERT on `conn` (autocommit unless a transaction is open).
pub fn insert(conn: &Connection, e: &StoredExecution) -> SqlResult<()> {
    let mut stmt = conn.prepare_cached(INSERT)?;
    stmt.execute(params![
        e.execution_id,
        e.dag_name,
        e.script_path,
        e.start_time,
        e.end_time,
        serde_json::to_string(&e.inputs)?,
        e.outputs.as_ref().map(serde_json::to_string).transpose()?,
        e.status.as_str(),
        serde_json::to_string(&e.node_results)?,
        e.dag_viz_ir.as_ref().map(serde_json::to_string).transpose()?,
        e.sample_rate,
        e.source.as_str(),
    ])?;
    Ok(())
}

fn get(conn: &Connection, execution_id: &str) -> SqlResult<Option<StoredExecution>> {
    let mut stmt = conn.prepare_cached(SELECT_ONE)?;
    let raw = stmt.query_row([execution_id], RawRecord::from_row).optional()?;
    raw.map(RawRecord::parse).transpose()
}

/// A row of `SELECT *`, before its JSON columns are parsed.
struct RawRecord {
    execution_id: String,
    dag_name: String,
    script_path: Option<String>,
    start_time: i64,
    end_time: Option<i64>,
    inputs: String,
    outputs: Option<String>,
    status: String,
    node_results: String,
    dag_viz_ir: Option<String>,
    sample_rate: f64,
    source: String,
}

impl RawRecord {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawRecord {
            execution_id: row.get(0)?,
            dag_name: row.get(1)?,
            script_path: row.get(2)?,
            start_time: row.get(3)?,
            end_time: row.get(4)?,
            inputs: row.get(5)?,
            outputs: row.get(6)?,
            status: row.get(7)?,
            node_results: row.get(8)?,
            dag_viz_ir: row.get(9)?,
            sample_rate: row.get(10)?,
            source: row.get(11)?,
        })
    }

    fn parse(self) -> SqlResult<StoredExecution> {
        Ok(StoredExecution {
            execution_id: self.execution_id,
            dag_name: self.dag_name,
            script_path: self.script_path,
            start_time: self.start_time,
            end_time: self.end_time,
            inputs: serde_json::from_str(&self.inputs)?,
            outputs: self.outputs.as_deref().map(serde_json::from_str).transpose()?,
            status: status(&self.status)?,
            node_results: serde_json::from_str(&self.node_results)?,
            dag_viz_ir: self
                .dag_viz_ir
                .as_deref()
                .map(serde_json::from_str::<DagVizIr>)
                .transpose()?,
            sample_rate: self.sample_rate,
            source: source(&self.source)?,
        })
    }
}

/// A summary row: [`SUMMARY_COLUMNS`], JSON parsed to compute node count and preview.
fn summary_row(row: &Row<'_>) -> rusqlite::Result<SqlResult<ExecutionSummary>> {
    let outputs: Option<String> = row.get(7)?;
    let node_results: String = row.get(8)?;
    let status_name: String = row.get(5)?;
    let source_name: String = row.get(6)?;
    let (id, dag, script, start, end) =
        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
    Ok((|| {
        let outputs: Option<BTreeMap<String, Json>> =
            outputs.as_deref().map(serde_json::from_str).transpose()?;
        let node_results: BTreeMap<String, StoredNodeResult> = serde_json::from_str(&node_results)?;
        let shell = StoredExecution {
            execution_id: id,
            dag_name: dag,
            script_path: script,
            start_time: start,
            end_time: end,
            inputs: BTreeMap::new(),
            outputs,
            status: status(&status_name)?,
            node_results,
            dag_viz_ir: None,
            sample_rate: 1.0,
            source: source(&source_name)?,
        };
        Ok(ExecutionSummary::from(&shell))
    })())
}

fn collect_summaries(
    rows: impl Iterator<Item = rusqlite::Result<SqlResult<ExecutionSummary>>>,
) -> SqlResult<Vec<ExecutionSummary>> {
    let mut page = Vec::new();
    for row in rows {
        page.push(row??);
    }
    Ok(page)
}

fn status(name: &str) -> SqlResult<ExecutionStatus> {
    ExecutionStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| format!("unknown status {name:?}").into())
}

fn source(name: &str) -> SqlResult<ExecutionSource> {
    [ExecutionSource::Dashboard, ExecutionSource::VSCodeExtension, ExecutionSource::API]
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| format!("unknown source {name:?}").into())
}

/// Sizes in bytes of a SQLite database: (main file, WAL file).
pub fn file_sizes(path: &Path) -> (u64, u64) {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    (size(path), size(&wal_path(path)))
}

/// The write-ahead log beside the SQLite database at `path`.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}
