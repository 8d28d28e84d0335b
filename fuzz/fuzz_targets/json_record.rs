//! Arbitrary JSON text decoded as a Constellation execution record: decoding never panics,
//! and what decodes stores and reads back equal (after the truncation rule), and survives a
//! JSON round trip.
#![no_main]

use execstore::{truncate_values, ExecutionStorage, StoredExecution};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(record) = serde_json::from_str::<StoredExecution>(text) else { return };
    let json = serde_json::to_string(&record).expect("a decoded record encodes");
    let again: StoredExecution = serde_json::from_str(&json).expect("our JSON decodes");
    assert_eq!(again, record, "JSON round trip");
    let store = execstore::MemoryStorage::default();
    if record.execution_id.is_empty() {
        assert!(store.store(record).is_err(), "an empty id is refused");
        return;
    }
    let mut expected = record.clone();
    truncate_values(&mut expected, execstore::Config::default().max_value_size_bytes);
    let id = store.store(record).expect("store");
    let got = store.get(&id).expect("get").expect("stored record is found");
    assert_eq!(*got, expected);
});
