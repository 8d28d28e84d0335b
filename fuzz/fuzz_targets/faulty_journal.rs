//! `RedbStorage` with its default durability (the journal) on a disk whose journal writes
//! or syncs start failing before an arbitrary operation: nothing panics, the failed write
//! is an error, later writes are refused, and both a `kill -9` at that moment (the files as
//! the process leaves them) and a clean close leave a file that opens to exactly the model
//! after the last acknowledged write (or, for a write whose sync failed, after it too: such
//! a write may or may not be durable, but never half). A write whose journal entry could
//! not be written never committed, so it is never there.
#![no_main]

mod common;

use std::path::Path;

use arbitrary::Arbitrary;
use common::model::{holds, step, Model};
use common::{Op, Rec, DICTIONARY_SAMPLES, MAX_EXECUTIONS, MAX_VALUE_BYTES};
use execstore::fuzz_api::{fail_journal, journal_path};
use execstore::{ExecutionStorage, RedbStorage};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The operation before which the journal starts failing.
    fault_at: u8,
    /// Whether its syncs fail (the entry may be on the disk) rather than its writes.
    syncs: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let dir = common::scratch_dir("faulty-journal");
    let path = dir.join("history.redb");
    let store = open(&path).expect("open a fresh store");
    let ops: Vec<&Op> = input.ops.iter().take(32).filter(|op| !matches!(op, Op::Reopen)).collect();
    let fault_at = usize::from(input.fault_at) % (ops.len() + 1);
    let mut model = Model::default();
    let mut failed = None;
    for (i, op) in ops.iter().enumerate() {
        if i == fault_at {
            fail_journal(&store, !input.syncs, input.syncs);
        }
        match step(&store, &mut model, op) {
            Ok(()) => {}
            Err(e) if i >= fault_at => {
                failed = Some(((*op).clone(), e));
                break;
            }
            Err(e) => panic!("{op:?} failed before any fault: {e}"),
        }
    }
    if let Some((op, e)) = &failed {
        assert!(matches!(e, execstore::Error::Io { .. }), "{op:?} failed with {e:?}");
        let _ = store.stats();
        let _ = store.list(5, 0);
        let probe = Rec { id: 1, start: 1, script: None, status: 0, value_len: 1, with_viz: false };
        assert!(store.store(probe.build()).is_err(), "a write after a journal fault succeeded");
    }
    // A failed sync may have reached the disk; a failed write never committed.
    let may_hold = failed.as_ref().filter(|_| input.syncs).map(|(op, _)| model.after(op));
    let killed = dir.join("killed");
    std::fs::create_dir(&killed).expect("a directory for the killed copy");
    let killed_path = killed.join("history.redb");
    copy_files(&path, &killed_path);
    drop(store);
    for reopened_path in [&killed_path, &path] {
        let reopened = open(reopened_path).expect("reopen after the fault");
        let ok = holds(&reopened, &model).expect("read the reopened store")
            || may_hold.as_ref().is_some_and(|m| holds(&reopened, m).unwrap_or(false));
        assert!(ok, "{reopened_path:?}: after {failed:?} the store holds neither model");
        reopened.clear().expect("the reopened store takes writes");
    }
    std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
});

fn open(path: &Path) -> execstore::Result<RedbStorage> {
    RedbStorage::builder()
        .cache_capacity(2)
        .max_executions(Some(MAX_EXECUTIONS))
        .max_value_size_bytes(Some(MAX_VALUE_BYTES))
        .dictionary_samples(DICTIONARY_SAMPLES)
        .open(path)
}

/// The database and its journal as a process killed now leaves them: what was written to
/// the files, synced or not.
fn copy_files(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy the database");
    let journal = journal_path(from);
    if journal.exists() {
        std::fs::copy(&journal, journal_path(to)).expect("copy the journal");
    }
}
