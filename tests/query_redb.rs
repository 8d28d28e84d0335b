//! `RedbStorage::query` specifics: the bound on work per call, cursors across reopening,
//! and counters back-filled for files that predate them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use execstore::{ExecutionStorage, HistoryQuery, Order, RedbStorage, QUERY_SCAN_LIMIT};
use support::{execution, TestResult};

#[test]
fn a_sparse_filter_returns_short_pages_with_a_cursor_until_the_index_ends() -> TestResult {
    let dir = tempfile::tempdir()?;
    let storage = RedbStorage::open(dir.path().join("history.redb"))?;
    let total = QUERY_SCAN_LIMIT as i64 * 2 + 500;
    let records = (0..total).map(|i| {
        let script = if i == 7 { "rare/x.cst" } else { "common.cst" };
        execution(&format!("run-{i:06}"), i, Some(script))
    });
    storage.store_many(records.collect())?;
    let mut query = HistoryQuery::new().script_prefix("rare/").limit(10);
    let mut pages = Vec::new();
    loop {
        let page = storage.query(&query)?;
        pages.push(page.items.iter().map(|s| s.execution_id.clone()).collect::<Vec<_>>());
        match page.next {
            Some(next) => query = query.cursor(next),
            None => break,
        }
    }
    // Three calls of at most QUERY_SCAN_LIMIT entries each walk the 20,500 entries.
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages.concat(), ["run-000007"]);
    assert!(pages.first().is_some_and(Vec::is_empty));
    assert_eq!(storage.count(&HistoryQuery::new().script_prefix("rare/"))?, 1);
    Ok(())
}

#[test]
fn a_cursor_resumes_after_reopening() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("history.redb");
    let query = HistoryQuery::new().order(Order::Oldest).limit(2);
    let next = {
        let storage = RedbStorage::open(&path)?;
        storage.store_many((0..5).map(|i| execution(&format!("r{i}"), i, None)).collect())?;
        storage.query(&query)?.next.ok_or("more pages")?.to_string()
    };
    let storage = RedbStorage::open(&path)?;
    let page = storage.query(&query.cursor(next.parse()?))?;
    let ids: Vec<_> = page.items.iter().map(|s| s.execution_id.as_str()).collect();
    assert_eq!(ids, ["r2", "r3"]);
    Ok(())
}

#[test]
fn counts_are_built_for_a_file_that_predates_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let copy = support::schema_1_fixture_copy(dir.path())?;
    let storage = RedbStorage::open(&copy)?;
    let everything = storage.list(100, 0)?;
    let mut counted = 0;
    for dag in ["dag-0", "dag-1", "dag-2"] {
        let expected = everything.iter().filter(|s| s.dag_name == dag).count() as u64;
        assert_eq!(storage.count(&HistoryQuery::new().dag_name(dag))?, expected, "{dag}");
        counted += expected;
    }
    assert_eq!(counted, 12);
    assert_eq!(storage.verify()?, 12);
    Ok(())
}
