//! DAG visualizations are stored once per distinct value: `get` returns what was stored,
//! and after any sequence of writes the file holds exactly one blob per visualization some
//! record still carries, with a reference count equal to the records carrying it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use execstore::{DagVizIr, ExecutionStorage, RedbStorage, StoredExecution};
use proptest::prelude::*;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use support::{execution, viz, TestResult};

const VIZ_BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("viz_blobs");
const VIZ_REFS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("viz_refs");

/// Visualization number `k`: the same shape under a different title.
fn variant(k: u8) -> DagVizIr {
    let mut viz = viz();
    viz.metadata.title = Some(format!("dag {k}"));
    viz
}

fn record(id: u8, start: i64, viz: Option<u8>) -> StoredExecution {
    let mut record = execution(&format!("run-{id:03}"), start, Some("etl.cst"));
    record.dag_viz_ir = viz.map(variant);
    record
}

/// Blob count and the sum of reference counts, read from the closed file.
fn blobs_and_refs(path: &Path) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let db = redb::Database::open(path)?;
    let txn = db.begin_read()?;
    let blobs = txn.open_table(VIZ_BLOBS)?.iter()?.count() as u64;
    let mut refs = 0;
    for entry in txn.open_table(VIZ_REFS)?.iter()? {
        refs += entry?.1.value();
    }
    Ok((blobs, refs))
}

#[test]
fn many_runs_share_a_few_blobs_and_read_back_exactly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let records: Vec<_> = (0..60).map(|i| record(i, i64::from(i), Some(i % 3))).collect();
    {
        let storage = RedbStorage::open(&path)?;
        storage.store_many(records.clone())?;
        for record in &records {
            assert_eq!(storage.get(&record.execution_id)?.as_deref(), Some(record));
        }
    }
    assert_eq!(blobs_and_refs(&path)?, (3, 60));
    Ok(())
}

#[test]
fn the_last_reference_takes_its_blob_along() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    {
        let storage = RedbStorage::open(&path)?;
        storage.store_many(vec![
            record(1, 1, Some(1)),
            record(2, 2, Some(1)),
            record(3, 3, Some(2)),
        ])?;
        assert!(storage.delete("run-003")?);
        storage.update("run-001", &mut |r| r.dag_viz_ir = Some(variant(4)))?;
        storage.update("run-002", &mut |r| r.dag_viz_ir = None)?;
        assert_eq!(storage.get("run-001")?.and_then(|r| r.dag_viz_ir.clone()), Some(variant(4)));
        assert_eq!(storage.get("run-002")?.map(|r| r.dag_viz_ir.is_none()), Some(true));
        storage.verify()?;
    }
    assert_eq!(blobs_and_refs(&path)?, (1, 1));
    RedbStorage::open(&path)?.clear()?;
    assert_eq!(blobs_and_refs(&path)?, (0, 0));
    Ok(())
}

/// The bits of every node position of `record`'s visualization.
fn position_bits(record: &StoredExecution) -> Vec<(u64, u64)> {
    let nodes = record.dag_viz_ir.iter().flat_map(|viz| &viz.nodes);
    nodes.filter_map(|node| node.position).map(|p| (p.x.to_bits(), p.y.to_bits())).collect()
}

#[test]
fn visualizations_equal_but_for_the_sign_of_a_zero_keep_their_own_blobs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let signed = |id: u8, x: f64| {
        let mut record = record(id, i64::from(id), Some(1));
        for node in record.dag_viz_ir.iter_mut().flat_map(|viz| viz.nodes.iter_mut()) {
            node.position = node.position.map(|p| execstore::Position { x, ..p });
        }
        record
    };
    let (plus, minus) = (signed(1, 0.0), signed(2, -0.0));
    assert_eq!(plus.dag_viz_ir, minus.dag_viz_ir, "== cannot tell the two apart");
    {
        let storage = RedbStorage::builder().cache_capacity(0).open(&path)?;
        // Alone, in one batch, and through an update that changes nothing else.
        storage.store(plus.clone())?;
        storage.store_many(vec![minus.clone(), signed(3, 0.0)])?;
        storage.update(&plus.execution_id, &mut |r| *r = signed(1, -0.0))?;
        storage.update(&minus.execution_id, &mut |r| *r = signed(2, 0.0))?;
        for (id, x) in [(1, -0.0), (2, 0.0), (3, 0.0)] {
            let read = storage.get(&format!("run-{id:03}"))?.ok_or("stored record missing")?;
            assert_eq!(position_bits(&read), position_bits(&signed(id, x)), "run {id}");
        }
    }
    assert_eq!(blobs_and_refs(&path)?, (2, 3));
    Ok(())
}

#[test]
fn a_file_with_one_copy_per_record_is_migrated_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let copy = support::schema_1_fixture_copy(dir.path())?;
    {
        let storage = RedbStorage::open(&copy)?;
        assert_eq!(storage.verify()?, 12);
        assert_eq!(storage.get("fixture-04")?.and_then(|r| r.dag_viz_ir.clone()), Some(viz()));
    }
    // Three of the fixture's records carry the same visualization.
    assert_eq!(blobs_and_refs(&copy)?, (1, 3));
    let tables = table_names(&copy)?;
    assert!(!tables.iter().any(|t| t == "dag_viz"), "the old table is gone: {tables:?}");
    Ok(())
}

/// The names of the file's tables.
fn table_names(path: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let db = redb::Database::open(path)?;
    let txn = db.begin_read()?;
    let names = txn.list_tables()?.map(|t| redb::TableHandle::name(&t).to_owned()).collect();
    Ok(names)
}

#[test]
fn a_file_with_a_table_of_links_is_migrated_at_open() -> TestResult {
    // Written (schema 1) by the build before a record's visualization hash moved from the
    // `execution_viz` table into its value: run-000..run-011, started at 0..11, every
    // fourth without a visualization, the others with variant(id % 3).
    let dir = tempfile::tempdir()?;
    let copy = support::fixture_copy("execstore-viz-links.redb", dir.path())?;
    assert!(table_names(&copy)?.iter().any(|t| t == "execution_viz"));
    {
        let storage = RedbStorage::open(&copy)?;
        assert_eq!(storage.verify()?, 12);
        for id in 0..12u8 {
            let expected = record(id, i64::from(id), (id % 4 != 3).then_some(id % 3));
            assert_eq!(storage.get(&expected.execution_id)?.as_deref(), Some(&expected));
        }
        // A migrated link is released like any other.
        assert!(storage.delete("run-000")?);
        storage.update("run-001", &mut |r| r.dag_viz_ir = None)?;
        storage.verify()?;
    }
    assert_eq!(blobs_and_refs(&copy)?, (3, 7));
    assert!(!table_names(&copy)?.iter().any(|t| t == "execution_viz"));
    let db = redb::Database::open(&copy)?;
    let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let version = db.begin_read()?.open_table(meta)?.get("schema_version")?.map(|v| v.value());
    assert_eq!(version, Some(3), "a migrated file is marked so that older builds refuse it");
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Store { id: u8, viz: Option<u8> },
    StoreMany(Vec<(u8, Option<u8>)>),
    SetViz { id: u8, viz: Option<u8> },
    Delete(u8),
    Clear,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let viz = prop::option::weighted(0.8, 0..4u8);
    prop_oneof![
        4 => (0..12u8, viz.clone()).prop_map(|(id, viz)| Op::Store { id, viz }),
        1 => prop::collection::vec((0..12u8, viz.clone()), 1..6).prop_map(Op::StoreMany),
        3 => (0..12u8, viz).prop_map(|(id, viz)| Op::SetViz { id, viz }),
        2 => (0..12u8).prop_map(Op::Delete),
        1 => Just(Op::Clear),
        1 => Just(Op::Reopen),
    ]
}

fn apply(
    storage: RedbStorage,
    model: &mut BTreeMap<u8, Option<u8>>,
    op: &Op,
    path: &Path,
) -> RedbStorage {
    match op {
        Op::Store { id, viz } => {
            storage.store(record(*id, i64::from(*id), *viz)).unwrap();
            model.insert(*id, *viz);
        }
        Op::StoreMany(batch) => {
            storage
                .store_many(batch.iter().map(|&(id, viz)| record(id, i64::from(id), viz)).collect())
                .unwrap();
            model.extend(batch.iter().copied());
        }
        Op::SetViz { id, viz } => {
            let updated = storage
                .update(&format!("run-{id:03}"), &mut |r| r.dag_viz_ir = viz.map(variant))
                .unwrap();
            if let Some(slot) = model.get_mut(id) {
                *slot = *viz;
            }
            assert_eq!(updated.is_some(), model.contains_key(id));
        }
        Op::Delete(id) => {
            assert_eq!(
                storage.delete(&format!("run-{id:03}")).unwrap(),
                model.remove(id).is_some()
            );
        }
        Op::Clear => {
            storage.clear().unwrap();
            model.clear();
        }
        Op::Reopen => {
            drop(storage);
            return RedbStorage::open(path).unwrap();
        }
    }
    storage
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn blobs_match_the_visualizations_still_referenced(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.redb");
        let mut storage = RedbStorage::builder().cache_capacity(2).open(&path).unwrap();
        let mut model = BTreeMap::new();
        for op in &ops {
            storage = apply(storage, &mut model, op, &path);
            for (id, viz) in &model {
                let got = storage.get(&format!("run-{id:03}")).unwrap().expect("stored");
                prop_assert_eq!(&got.dag_viz_ir, &viz.map(variant));
            }
        }
        prop_assert_eq!(storage.verify().unwrap(), model.len() as u64);
        drop(storage);
        let distinct: BTreeSet<u8> = model.values().flatten().copied().collect();
        let carrying = model.values().filter(|v| v.is_some()).count() as u64;
        prop_assert_eq!(blobs_and_refs(&path).unwrap(), (distinct.len() as u64, carrying));
    }
}
