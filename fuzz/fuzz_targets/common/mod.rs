//! Shared by the fuzz targets: an operation language over the storage contract, a plain
//! `BTreeMap` reference model of it, and a redb storage backend in memory that can fail.
#![allow(dead_code, reason = "each target uses a different subset")]

pub mod backend;
pub mod model;

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use execstore::{ExecutionSource, ExecutionStatus, Json, StoredExecution, StoredNodeResult};

/// Records kept before the oldest by start time are removed.
pub const MAX_EXECUTIONS: usize = 6;

/// Records sampled before a store trains its compression dictionary: few, so that inputs
/// reach the training, the durable commit of the dictionary and the records it compresses.
pub const DICTIONARY_SAMPLES: usize = 12;
/// Longest compact JSON of a value before it is stored as `"<truncated: N bytes>"`.
pub const MAX_VALUE_BYTES: usize = 24;
/// Script paths records use; one is a prefix of another, so prefix scans are caught.
pub const SCRIPTS: [&str; 3] = ["a.cst", "b.cst", "a.cst/x"];

/// A record described by a few small numbers: ids, start times and scripts collide often.
#[derive(Arbitrary, Debug, Clone)]
pub struct Rec {
    pub id: u8,
    pub start: u8,
    pub script: Option<u8>,
    pub status: u8,
    pub value_len: u8,
    pub with_viz: bool,
}

/// What an `update` closure does to the record.
#[derive(Arbitrary, Debug, Clone)]
pub enum Change {
    Status(u8),
    Start(u8),
    Script(Option<u8>),
    Output(u8),
    Id,
}

/// Filters of a `query`: a status, a DAG, a script or prefix, a time window, an order.
#[derive(Arbitrary, Debug, Clone)]
pub struct Filter {
    pub statuses: Vec<u8>,
    pub dag: Option<u8>,
    pub script: Option<u8>,
    pub prefix: bool,
    pub after: Option<u8>,
    pub before: Option<u8>,
    pub oldest: bool,
    pub limit: u8,
}

impl Filter {
    pub fn query(&self) -> execstore::HistoryQuery {
        let mut query = execstore::HistoryQuery::new()
            .statuses(self.statuses.iter().take(3).map(|&s| status(s)))
            .limit(usize::from(self.limit % 5) + 1);
        query.dag_name = self.dag.map(|d| format!("dag-{}", d % 3));
        let script = self.script.map(|s| script(s).to_owned());
        match self.prefix {
            true => query.script_prefix = script,
            false => query.script_path = script,
        }
        query.started_after = self.after.map(i64::from);
        query.started_before = self.before.map(i64::from);
        if self.oldest {
            query = query.order(execstore::Order::Oldest);
        }
        query
    }
}

/// One call on the storage (or a reopen of it).
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    Store(Rec),
    StoreMany(Vec<Rec>),
    Get(u8),
    List {
        limit: u8,
        offset: u8,
    },
    ListByScript {
        script: u8,
        limit: u8,
    },
    Stats,
    /// `query` paged to the end with `limit` per page, and `count`, both with these filters.
    Query(Filter),
    Update(u8, Change),
    Delete(u8),
    Clear,
    Reopen,
}

impl Op {
    /// Whether the operation writes (and so may fail on a faulty disk).
    pub fn writes(&self) -> bool {
        matches!(self, Op::Store(_) | Op::StoreMany(_) | Op::Update(..) | Op::Delete(_) | Op::Clear)
    }
}

/// The id of record number `n`: twelve distinct ids.
pub fn id(n: u8) -> String {
    format!("id{}", n % 12)
}

pub fn script(n: u8) -> &'static str {
    SCRIPTS[usize::from(n) % SCRIPTS.len()]
}

pub fn status(n: u8) -> ExecutionStatus {
    ExecutionStatus::ALL[usize::from(n) % 3]
}

impl Rec {
    /// The execution this describes.
    pub fn build(&self) -> StoredExecution {
        let value = Json::String("x".repeat(usize::from(self.value_len % 48)));
        let node = StoredNodeResult {
            node_id: "n1".to_owned(),
            status: ExecutionStatus::Completed,
            value: Some(value.clone()),
            duration_ms: Some(3),
            error: None,
        };
        let start = i64::from(self.start % 16);
        StoredExecution {
            execution_id: id(self.id),
            dag_name: format!("dag-{}", self.start % 3),
            script_path: self.script.map(|s| script(s).to_owned()),
            start_time: start,
            end_time: Some(start + 5),
            inputs: BTreeMap::from([("v".to_owned(), value.clone())]),
            outputs: Some(BTreeMap::from([("o".to_owned(), value)])),
            status: status(self.status),
            node_results: BTreeMap::from([("n1".to_owned(), node)]),
            dag_viz_ir: self.with_viz.then(small_viz),
            sample_rate: 1.0,
            source: ExecutionSource::API,
        }
    }
}

fn small_viz() -> execstore::DagVizIr {
    let node = |id: &str| execstore::VizNode {
        id: id.to_owned(),
        kind: execstore::NodeKind::Operation,
        label: id.to_uppercase(),
        type_signature: "Int".to_owned(),
        position: None,
        execution_state: None,
    };
    let edge = execstore::VizEdge {
        id: "e".to_owned(),
        source: "a".to_owned(),
        target: "b".to_owned(),
        label: None,
        kind: execstore::EdgeKind::Data,
    };
    execstore::DagVizIr {
        nodes: vec![node("a"), node("b")],
        edges: vec![edge],
        ..execstore::DagVizIr::default()
    }
}

impl Change {
    /// Applies the change to `e`, as the `update` closure does.
    pub fn apply(&self, e: &mut StoredExecution) {
        match self {
            Change::Status(s) => e.status = status(*s),
            Change::Start(s) => e.start_time = i64::from(s % 16),
            Change::Script(s) => e.script_path = s.map(|s| script(s).to_owned()),
            Change::Output(len) => {
                let value = Json::String("y".repeat(usize::from(len % 48)));
                e.outputs = Some(BTreeMap::from([("o".to_owned(), value)]));
            }
            Change::Id => e.execution_id.push_str("-renamed"),
        }
    }
}

/// `RedbStorage` over `backend` with the fuzzing limits and a cache of `cache` records.
pub fn open_store(
    backend: backend::FaultyBackend,
    cache: usize,
) -> execstore::Result<execstore::RedbStorage> {
    execstore::RedbStorage::builder()
        .cache_capacity(cache)
        .max_executions(Some(MAX_EXECUTIONS))
        .max_value_size_bytes(Some(MAX_VALUE_BYTES))
        .dictionary_samples(DICTIONARY_SAMPLES)
        .open_with_backend(backend)
}

/// An empty directory for this process's files of target `name`, emptied for every input;
/// in memory where the system has `/dev/shm`, so that the syncs cost nothing.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let dir = base.join(format!("execstore-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}
