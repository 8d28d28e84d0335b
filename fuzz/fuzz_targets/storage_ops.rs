//! An arbitrary sequence of storage calls applied to `RedbStorage` (tiny cache, small
//! limits) and to a `BTreeMap` model; every result is compared after every step, and the
//! whole content after the last one. `Reopen` closes the store and opens the disk again.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::backend::FaultyBackend;
use common::model::{assert_holds, step, Model};
use common::{open_store, Op};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    cache: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let cache = usize::from(input.cache % 4);
    let backend = FaultyBackend::new();
    let mut store = Some(open_store(backend.clone(), cache).expect("open a fresh store"));
    let mut model = Model::default();
    for op in input.ops.iter().take(64) {
        if matches!(op, Op::Reopen) {
            drop(store.take());
            store = Some(open_store(backend.clone(), cache).expect("reopen"));
            continue;
        }
        let s = store.as_ref().expect("open");
        step(s, &mut model, op).unwrap_or_else(|e| panic!("{op:?} failed: {e}"));
    }
    let s = store.as_ref().expect("open");
    assert_holds(s, &model).expect("final reads");
});
