//! Arbitrary bytes into the codec, as read from a corrupt file: an error or a value, never
//! a panic and never an allocation the input cannot justify; a value re-encodes and
//! decodes back equal.
#![no_main]

use execstore::fuzz_api::{decode_record, decode_summary, encode_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = decode_summary(bytes);
    let Ok(record) = decode_record(bytes) else { return };
    let again = encode_record(&record).expect("a decoded record encodes");
    let back = decode_record(&again).expect("our encoding decodes");
    // NaN floats in JSON values are not equal to themselves; compare their encodings.
    assert_eq!(encode_record(&back).expect("encodes"), again, "codec round trip");
});
