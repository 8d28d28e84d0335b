//! Changes inside one write transaction: records, both indexes and the counters move
//! together, so a crash (which rolls back to the last commit) never leaves them disagreeing.

use std::sync::Arc;

use redb::{Table, WriteTransaction};

use super::codec::{decode, encode};
use super::compression::Compression;
use super::dag_counts::DagDeltas;
use super::journal::Effect;
use super::minutes::MinuteDeltas;
use super::placement::Placement;
use super::read::{Locator, StatusCounters};
use super::record_value::{self, decode_value};
use super::scripts::ScriptDeltas;
use super::summary_value;
use super::tables::{
    AUDIT_ORPHANS, BY_FIELD, BY_SCRIPT, BY_START, BY_START_MINUTE, DAG_COUNTS, EXECUTIONS, META,
    SCRIPT_COUNTS,
};
use super::viz_blobs::{self, VizHash, VizWriter};
use super::viz_encodings::VizEncodings;
use crate::error::{Error, Result, StorageResultExt};
use crate::model::{ExecutionStatus, ExecutionSummary, StoredExecution};
use crate::storage::{truncate_values, validate_id};

/// A record encoded outside the transaction, ready to insert.
pub(crate) struct Prepared {
    pub(crate) record: Arc<StoredExecution>,
    /// The `executions` value: the record without its visualization, encoded, linked to the
    /// visualization's blob.
    value: Vec<u8>,
    /// Where the encoded record (what the journal holds) starts in `value`.
    record_start: usize,
    /// The visualization's blob: its hash and bytes.
    viz: Option<(VizHash, Vec<u8>)>,
    summary_bytes: Vec<u8>,
}

/// Validates, truncates and encodes `execution`; the visualization goes to its own table.
pub(crate) fn prepare(
    mut execution: StoredExecution,
    max_value_size_bytes: Option<usize>,
    encodings: &VizEncodings,
    compression: &Compression,
) -> Result<Prepared> {
    validate_id(&execution.execution_id)?;
    if let Some(max) = max_value_size_bytes {
        truncate_values(&mut execution, max);
    }
    let what = || format!("execution {}", execution.execution_id);
    let viz = execution.dag_viz_ir.take();
    let record_bytes = compression.encode(&what(), &execution)?;
    let viz_blob =
        viz.as_ref().map(|viz| encodings.encoded(viz, || encode(&what(), viz))).transpose()?;
    execution.dag_viz_ir = viz;
    let summary_bytes = summary_value::encode(&ExecutionSummary::from(&execution))?;
    Ok(Prepared::new(Arc::new(execution), record_bytes, viz_blob, summary_bytes))
}

impl Prepared {
    /// Rebuilds a prepared record from a journal's `Put` effect.
    pub(crate) fn from_effect(record_bytes: Vec<u8>, viz_bytes: Option<Vec<u8>>) -> Result<Self> {
        let key = || "journal/put".to_owned();
        let mut record: StoredExecution = decode(key, &record_bytes)?;
        validate_id(&record.execution_id)
            .map_err(|e| Error::Corrupt { key: key(), reason: e.to_string() })?;
        let summary_bytes = summary_value::encode(&ExecutionSummary::from(&record))?;
        if let Some(viz) = &viz_bytes {
            record.dag_viz_ir = Some(decode(key, viz)?);
        }
        let viz_blob = viz_bytes.map(|bytes| (viz_blobs::hash(&bytes), bytes));
        Ok(Prepared::new(Arc::new(record), record_bytes, viz_blob, summary_bytes))
    }

    fn new(
        record: Arc<StoredExecution>,
        record_bytes: Vec<u8>,
        viz: Option<(VizHash, Vec<u8>)>,
        summary_bytes: Vec<u8>,
    ) -> Self {
        let value = record_value::join(viz.as_ref().map(|(key, _)| key), &record_bytes);
        let record_start = value.len() - record_bytes.len();
        Prepared { record, value, record_start, viz, summary_bytes }
    }

    /// What storing this record journals.
    pub(crate) fn effect(&self) -> Effect {
        let viz = self.viz.as_ref().map(|(_, bytes)| bytes.clone());
        let record = self.value.get(self.record_start..).unwrap_or_default().to_vec();
        Effect::Put { record, viz }
    }
}

/// What a transaction changed: for the cache once it has committed, and for the journal.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) written: Vec<Arc<StoredExecution>>,
    pub(crate) removed: Vec<String>,
    pub(crate) effects: Vec<Effect>,
    /// Whether the transaction changed anything (a `clear` of an empty store does not
    /// remove a record, but still counts).
    pub(crate) any: bool,
}

/// The `meta` key of the last journal entry whose effects this database holds.
pub(crate) const JOURNAL_SEQ_KEY: &str = "journal.seq";

/// The execution tables opened in one write transaction.
pub(crate) struct Tables<'txn> {
    txn: &'txn WriteTransaction,
    pub(super) operation: &'static str,
    executions: Table<'txn, &'static str, &'static [u8]>,
    viz: VizWriter<'txn>,
    pub(super) by_start: Table<'txn, (i64, &'static str), &'static [u8]>,
    pub(super) by_script: Table<'txn, (&'static str, i64, &'static str), ()>,
    pub(super) by_field: Table<'txn, (u8, &'static str, i64, &'static str), ()>,
    meta: Table<'txn, &'static str, u64>,
    minutes: Table<'txn, i64, u64>,
    audit_orphans: Table<'txn, u128, ()>,
    pub(super) minute_deltas: MinuteDeltas,
    pub(super) script_counts: Table<'txn, &'static str, u64>,
    pub(super) script_deltas: ScriptDeltas,
    dag_counts: Table<'txn, (&'static str, u8), u64>,
    pub(super) dag_deltas: DagDeltas,
    /// Counter changes of this transaction, written to `meta` once by [`Tables::finish`].
    pub(super) deltas: StatusDeltas,
    pub(super) changes: Changes,
    /// The journal entry this transaction becomes, if the store journals.
    journal_seq: Option<u64>,
}

impl<'txn> Tables<'txn> {
    pub(crate) fn open(
        txn: &'txn WriteTransaction,
        operation: &'static str,
        journal_seq: Option<u64>,
    ) -> Result<Self> {
        Ok(Tables {
            txn,
            operation,
            executions: txn.open_table(EXECUTIONS).during(operation)?,
            viz: VizWriter::open(txn, operation)?,
            by_start: txn.open_table(BY_START).during(operation)?,
            by_script: txn.open_table(BY_SCRIPT).during(operation)?,
            meta: txn.open_table(META).during(operation)?,
            by_field: txn.open_table(BY_FIELD).during(operation)?,
            minutes: txn.open_table(BY_START_MINUTE).during(operation)?,
            audit_orphans: txn.open_table(AUDIT_ORPHANS).during(operation)?,
            minute_deltas: MinuteDeltas::default(),
            script_counts: txn.open_table(SCRIPT_COUNTS).during(operation)?,
            script_deltas: ScriptDeltas::default(),
            dag_counts: txn.open_table(DAG_COUNTS).during(operation)?,
            dag_deltas: DagDeltas::default(),
            deltas: StatusDeltas::default(),
            changes: Changes::default(),
            journal_seq,
        })
    }

    /// The transaction, for changes outside the execution tables (audit retention).
    pub(crate) fn txn(&self) -> &'txn WriteTransaction {
        self.txn
    }

    /// Applies an effect read back from the journal.
    pub(crate) fn replay(&mut self, effect: Effect) -> Result<()> {
        match effect {
            Effect::Put { record, viz } => self.put(&Prepared::from_effect(record, viz)?),
            Effect::Remove(id) => self.remove(&id).map(drop),
            Effect::Clear => self.clear(),
        }
    }

    /// Writes the counters and hands back what changed; call once, before the commit.
    /// When nothing changed it writes nothing, and the caller need not commit.
    pub(crate) fn finish(mut self) -> Result<Changes> {
        if !self.changes.any {
            return Ok(self.changes);
        }
        let stored = StatusCounters::read(&self.meta, self.operation)?;
        for status in ExecutionStatus::ALL {
            let delta = self.deltas.get(status);
            if delta != 0 {
                let value = stored.get(status).saturating_add_signed(delta);
                self.meta.insert(StatusCounters::key(status), value).during(self.operation)?;
            }
        }
        if let Some(seq) = self.journal_seq {
            self.meta.insert(JOURNAL_SEQ_KEY, seq).during(self.operation)?;
        }
        self.minute_deltas.write(&mut self.minutes, self.operation)?;
        self.script_deltas.write(&mut self.script_counts, self.operation)?;
        self.dag_deltas.write(&mut self.dag_counts, self.operation)?;
        Ok(self.changes)
    }

    /// The counters as this transaction has them so far.
    pub(super) fn counters(&self) -> Result<StatusCounters> {
        let mut counters = StatusCounters::read(&self.meta, self.operation)?;
        for status in ExecutionStatus::ALL {
            counters.add(status, self.deltas.get(status));
        }
        Ok(counters)
    }

    /// Inserts or replaces a record, moving it in every index and counter.
    pub(crate) fn put(&mut self, prepared: &Prepared) -> Result<()> {
        let op = self.operation;
        let record = &prepared.record;
        let id = record.execution_id.as_str();
        let old = self.executions.insert(id, prepared.value.as_slice()).during(op)?;
        let old: Option<(Option<VizHash>, Locator)> =
            old.map(|bytes| decode_value(id, bytes.value())).transpose()?;
        let (old_viz, old) = old.map_or((None, None), |(viz, at)| (viz, Some(at)));
        if old.is_none() {
            // A record stored again after its removal keeps its audit events.
            if let Some(execution) = audit_id(id) {
                self.audit_orphans.remove(execution).during(op)?;
            }
        }
        let new_viz = prepared.viz.as_ref().map(|(key, bytes)| (key, bytes.as_slice()));
        self.viz.relink(old_viz.as_ref(), new_viz, op)?;
        let old = old.as_ref().map(Placement::of_locator);
        let new = (&Placement::of_record(record), prepared.summary_bytes.as_slice());
        self.place(id, old.as_ref(), Some(new))?;
        self.changes.written.push(Arc::clone(&prepared.record));
        self.changes.any = true;
        if self.journal_seq.is_some() {
            self.changes.effects.push(prepared.effect());
        }
        Ok(())
    }

    /// Removes a record from every table and marks its audit events for sweeping; `true`
    /// if it existed.
    pub(crate) fn remove(&mut self, id: &str) -> Result<bool> {
        let removed = self.unlink(id)?;
        if removed {
            self.mark_orphan(id)?;
        }
        Ok(removed)
    }

    /// Removes a record from every table, leaving its audit events alone (a replacement
    /// keeps them); `true` if it existed.
    fn unlink(&mut self, id: &str) -> Result<bool> {
        let op = self.operation;
        let (viz, locator) = match self.executions.remove(id).during(op)? {
            Some(bytes) => decode_value::<Locator>(id, bytes.value())?,
            None => return Ok(false),
        };
        self.viz.relink(viz.as_ref(), None, op)?;
        self.place(id, Some(&Placement::of_locator(&locator)), None)?;
        self.changes.removed.push(id.to_owned());
        self.changes.any = true;
        if self.journal_seq.is_some() {
            self.changes.effects.push(Effect::Remove(id.to_owned()));
        }
        Ok(true)
    }

    /// Marks a removed record's audit events for audit retention to sweep.
    fn mark_orphan(&mut self, id: &str) -> Result<()> {
        if let Some(execution) = audit_id(id) {
            self.audit_orphans.insert(execution, ()).during(self.operation)?;
        }
        Ok(())
    }

    /// Deletes every record, index entry and counter. The audit events of the cleared
    /// records are marked for sweeping, as a removal of each would.
    pub(crate) fn clear(&mut self) -> Result<()> {
        let op = self.operation;
        let mut cleared = Vec::new();
        self.executions
            .retain(|id, _| {
                cleared.extend(audit_id(id));
                false
            })
            .during(op)?;
        for execution in cleared {
            self.audit_orphans.insert(execution, ()).during(op)?;
        }
        self.viz.clear(op)?;
        self.by_start.retain(|_, _| false).during(op)?;
        self.by_script.retain(|_, _| false).during(op)?;
        self.by_field.retain(|_, _| false).during(op)?;
        self.minutes.retain(|_, _| false).during(op)?;
        self.minute_deltas.clear();
        self.script_counts.retain(|_, _| false).during(op)?;
        self.script_deltas.clear();
        self.dag_counts.retain(|_, _| false).during(op)?;
        self.dag_deltas.clear();
        for status in ExecutionStatus::ALL {
            self.meta.remove(StatusCounters::key(status)).during(op)?;
        }
        self.deltas = StatusDeltas::default();
        self.changes.any = true;
        if self.journal_seq.is_some() {
            self.changes.effects.push(Effect::Clear);
        }
        Ok(())
    }
}

/// The audit log's key for a record id: audit events are kept per execution UUID, so
/// records whose id is not a UUID have none.
pub(crate) fn audit_id(id: &str) -> Option<u128> {
    uuid::Uuid::parse_str(id).ok().map(|uuid| uuid.as_u128())
}

/// Per-status changes to the counters within one transaction.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StatusDeltas {
    running: i64,
    completed: i64,
    failed: i64,
}

impl StatusDeltas {
    fn slot(&mut self, status: ExecutionStatus) -> &mut i64 {
        match status {
            ExecutionStatus::Running => &mut self.running,
            ExecutionStatus::Completed => &mut self.completed,
            ExecutionStatus::Failed => &mut self.failed,
        }
    }

    pub(crate) fn add(&mut self, status: ExecutionStatus, delta: i64) {
        *self.slot(status) += delta;
    }

    fn get(mut self, status: ExecutionStatus) -> i64 {
        *self.slot(status)
    }
}
