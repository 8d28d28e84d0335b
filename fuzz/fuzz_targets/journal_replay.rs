//! A journal left next to the database by a crash, holding arbitrary entries (records,
//! undecodable bytes, removals, clears, any sequence numbers) and possibly torn or damaged:
//! opening never panics. A well-formed journal is replayed exactly: the entries newer than
//! the checkpoint, in order; a damaged one is refused with an error or yields the state
//! after some prefix of its entries, never anything else. What was recovered survives a
//! further write and a clean reopen.
#![no_main]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use arbitrary::Arbitrary;
use common::{id, Rec};
use execstore::fuzz_api::{decode_journal_put, journal_file, journal_path, JournalChange};
use execstore::{ExecutionStorage, RedbStorage, StoredExecution};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone)]
enum Change {
    Put(Rec),
    Bytes(Vec<u8>, Option<Vec<u8>>),
    Remove(u8),
    Clear,
}

/// What happened to the file after its last whole entry.
#[derive(Arbitrary, Debug)]
enum Damage {
    None,
    /// One more entry, cut after this many of its bytes (a write the crash interrupted).
    Torn(u16),
    /// Zero-filled room after the entries, as the journal preallocates it.
    Zeros(u8),
    /// A byte of the entries xor-ed with a mask: damage after the fact.
    Flip(u16, u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    entries: Vec<(u8, Vec<Change>)>,
    damage: Damage,
}

/// The records the store must hold, by id; compared through `Debug`, which prints a NaN
/// read from arbitrary bytes the same way twice (`==` would not).
type Model = BTreeMap<String, StoredExecution>;

fuzz_target!(|input: Input| {
    let dir = common::scratch_dir("journal");
    let db = dir.join("db.redb");
    drop(RedbStorage::open(&db).expect("create a fresh store"));
    let entries: Vec<(u64, Vec<Change>)> = input
        .entries
        .iter()
        .take(8)
        .map(|(seq, changes)| (u64::from(*seq), changes.iter().take(6).cloned().collect()))
        .collect();
    let mut file = journal_file(&to_journal(&entries)).expect("frame the entries");
    let whole = file.len();
    let damaged = damage(&mut file, &input.damage);
    std::fs::write(journal_path(&db), &file).expect("write the journal");

    // The fresh store's checkpoint is seq 0: every entry above it is replayed.
    let prefixes = expected_prefixes(&entries);
    let opened = RedbStorage::builder().cache_capacity(2).open(&db);
    let model = match (opened, damaged) {
        (Ok(store), false) => {
            let model = match prefixes.last() {
                Some(Expected::Holds(model)) if prefixes.len() == entries.len() + 1 => model,
                other => panic!("{whole}-byte journal opened, but expected {other:?}"),
            };
            assert_holds(&store, model);
            model.clone()
        }
        (Ok(store), true) => {
            let held = prefixes.iter().find_map(|expected| match expected {
                Expected::Holds(model) if holds(&store, model) => Some(model.clone()),
                _ => None,
            });
            held.expect("a damaged journal yielded a state after no prefix of its entries")
        }
        (Err(e), damaged) => {
            let refusable = damaged
                || prefixes.len() < entries.len() + 1
                || matches!(prefixes.last(), Some(Expected::Refused));
            assert!(refusable, "a well-formed journal was refused: {e}");
            return;
        }
    };
    write_and_reopen(&db, model);
});

/// The model after each prefix of the entries whose every put decodes; `Refused` for the
/// first prefix that recovery must refuse (an undecodable put, or a seq not above the last).
#[derive(Debug)]
enum Expected {
    Holds(Model),
    Refused,
}

fn expected_prefixes(entries: &[(u64, Vec<Change>)]) -> Vec<Expected> {
    let mut model = Model::new();
    let mut out = vec![Expected::Holds(model.clone())];
    let mut last_seq = None;
    for (seq, changes) in entries {
        if last_seq.is_some_and(|last| last >= *seq) {
            out.push(Expected::Refused);
            return out;
        }
        last_seq = Some(*seq);
        if *seq == 0 {
            out.push(Expected::Holds(model.clone()));
            continue;
        }
        for change in changes {
            match change {
                Change::Put(rec) => {
                    let record = rec.build();
                    model.insert(record.execution_id.clone(), record);
                }
                Change::Bytes(record, viz) => match decode_journal_put(record, viz.as_deref()) {
                    Ok(record) => {
                        model.insert(record.execution_id.clone(), record);
                    }
                    Err(_) => {
                        out.push(Expected::Refused);
                        return out;
                    }
                },
                Change::Remove(n) => {
                    model.remove(&id(*n));
                }
                Change::Clear => model.clear(),
            }
        }
        out.push(Expected::Holds(model.clone()));
    }
    out
}

fn to_journal(entries: &[(u64, Vec<Change>)]) -> Vec<(u64, Vec<JournalChange>)> {
    let change = |c: &Change| match c {
        Change::Put(rec) => JournalChange::Put(Box::new(rec.build())),
        Change::Bytes(record, viz) => JournalChange::PutBytes(record.clone(), viz.clone()),
        Change::Remove(n) => JournalChange::Remove(id(*n)),
        Change::Clear => JournalChange::Clear,
    };
    entries.iter().map(|(seq, changes)| (*seq, changes.iter().map(change).collect())).collect()
}

/// Applies `damage` to the file; whether it may have changed what the entries say.
fn damage(file: &mut Vec<u8>, damage: &Damage) -> bool {
    let header = journal_file(&[]).expect("an empty journal").len();
    match damage {
        Damage::None => false,
        Damage::Torn(keep) => {
            let extra = journal_file(&[(u64::MAX, vec![JournalChange::Clear])]).expect("frame");
            let entry = extra.get(header..).unwrap_or_default();
            let keep = usize::from(*keep) % entry.len().max(1);
            file.extend_from_slice(entry.get(..keep).unwrap_or_default());
            false
        }
        Damage::Zeros(n) => {
            file.resize(file.len() + usize::from(*n), 0);
            false
        }
        Damage::Flip(at, mask) => {
            let entries = file.len().saturating_sub(header);
            if entries == 0 || *mask == 0 {
                return false;
            }
            if let Some(byte) = file.get_mut(header + usize::from(*at) % entries) {
                *byte ^= mask;
            }
            true
        }
    }
}

fn holds(store: &RedbStorage, model: &Model) -> bool {
    let Ok(stats) = store.stats() else { return false };
    let Ok(list) = store.list(usize::MAX, 0) else { return false };
    if stats.total_executions != model.len() as u64 || list.len() != model.len() {
        return false;
    }
    model.iter().all(|(id, record)| {
        let got = store.get(id).ok().flatten();
        format!("{:?}", got.as_deref()) == format!("{:?}", Some(record))
    })
}

fn assert_holds(store: &RedbStorage, model: &Model) {
    assert!(holds(store, model), "the store does not hold the model {model:?}");
    let checked = store.verify().expect("records and indexes agree after replay");
    assert_eq!(checked, model.len() as u64, "verify checked another number of records");
}

/// A write after recovery, a clean close and a reopen keep both.
fn write_and_reopen(db: &Path, mut model: Model) {
    let record = Rec { id: 0, start: 9, script: Some(1), status: 1, value_len: 3, with_viz: true };
    let mut record = record.build();
    record.execution_id = "written-after-recovery".to_owned();
    {
        let store = RedbStorage::open(db).expect("reopen");
        store.store(record.clone()).expect("store after recovery");
    }
    model.insert(record.execution_id.clone(), record);
    let store = RedbStorage::open(db).expect("reopen after the write");
    assert_holds(&store, &model);
}
