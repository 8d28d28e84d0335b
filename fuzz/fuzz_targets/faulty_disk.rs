//! `RedbStorage` on a disk that starts failing after an arbitrary number of operations:
//! nothing panics, and after a power cut and a reopen the store holds exactly what the
//! model holds after the last acknowledged write (or, for the write that failed, all of it:
//! a failed write may or may not be durable, but never half).
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::backend::{FailMode, FaultyBackend};
use common::model::{holds, step, Model};
use common::{open_store, Op};
use execstore::ExecutionStorage;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    budget: u16,
    syncs_only: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let backend = FaultyBackend::new();
    let store = open_store(backend.clone(), 2).expect("open a fresh store");
    let mode = if input.syncs_only { FailMode::Syncs } else { FailMode::Everything };
    backend.fail_after(u64::from(input.budget % 512), mode);
    let mut model = Model::default();
    let mut failed = None;
    for op in input.ops.iter().take(48).filter(|op| !matches!(op, Op::Reopen)) {
        match step(&store, &mut model, op) {
            Ok(()) => {}
            Err(e) if backend.has_failed() => {
                failed = Some((op.clone(), e));
                break;
            }
            Err(e) => panic!("{op:?} failed without a disk fault: {e}"),
        }
    }
    if failed.is_some() {
        // The broken handle keeps answering (errors allowed, panics not), and refuses
        // writes: redb will not write on a handle that hit an I/O error.
        let _ = store.stats();
        let _ = store.list(5, 0);
        let probe =
            common::Rec { id: 1, start: 1, script: None, status: 0, value_len: 1, with_viz: false };
        assert!(store.store(probe.build()).is_err(), "a write after a disk fault succeeded");
    }
    let image = backend.durable_image();
    drop(store);
    let reopened = open_store(FaultyBackend::from_image(image), 2).expect("reopen after the fault");
    let after_failed = failed.as_ref().map(|(op, _)| model.after(op));
    let ok = holds(&reopened, &model).expect("read the reopened store")
        || after_failed.is_some_and(|m| holds(&reopened, &m).unwrap_or(false));
    assert!(ok, "after {failed:?} the store holds neither the model before nor after it");
    // And the repaired store takes writes again.
    reopened.clear().expect("clear after reopen");
});
