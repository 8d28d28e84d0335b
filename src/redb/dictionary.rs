//! zstd dictionaries trained on a file's own records, and the values compressed with them.
//!
//! Records of one engine share most of their bytes with each other (field layout, DAG,
//! node and input names, statuses), but each alone is too small for a compressor to find
//! that: LZ4 takes a record of the benchmark dataset from 525 to 469 bytes, zstd with a
//! 16 KiB dictionary trained on 1,000 of them to 160, in 1.5 µs (0.65 µs back).
//!
//! A value: `[dictionary id: u64 LE][body size: u32 LE][zstd frame]`, after its format byte
//! (see `codec.rs`). The id is the start of the dictionary's BLAKE3 hash, so an id names
//! one content in every file and one process-wide registry serves every open store; it
//! holds them weakly, and each store holds its file's, so a closed file's dictionaries
//! are freed. A dictionary is committed durably before any value uses it and never
//! removed, so every value naming one is in a file holding it, loaded at open before the
//! journal replays.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock, Weak};

use redb::{Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableError};
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::CParameter;

use super::codec::FORMAT_ARRAY_ZSTD;
use super::tables::{DICTIONARIES, META};
use crate::error::{Error, Result, StorageResultExt};

/// Bytes of a trained dictionary.
pub(crate) const DICTIONARY_BYTES: usize = 16 << 10;

/// The `meta` key of the dictionary new values are compressed with.
pub(crate) const CURRENT_KEY: &str = "dictionary.current";

/// zstd level: 3 compresses 2% smaller than 1 for 0.3 µs more per record.
const LEVEL: i32 = 3;

/// A body larger than this many times its frame is refused on both sides, so a corrupt
/// size never causes an allocation the bytes do not justify.
const MAX_RATIO: usize = 255;

/// Id, then body size.
const HEADER_BYTES: usize = 8 + 4;

/// Every dictionary some store of this process holds, by id.
static REGISTRY: LazyLock<RwLock<HashMap<u64, Weak<Dictionary>>>> = LazyLock::new(Default::default);

/// A dictionary with the zstd contexts that use it, kept for reuse: making one costs
/// 13–17 µs, twenty times a decompression.
pub(crate) struct Dictionary {
    id: u64,
    bytes: Vec<u8>,
    compressors: Mutex<Vec<Compressor<'static>>>,
    decompressors: Mutex<Vec<Decompressor<'static>>>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionary({:016x}, {} bytes)", self.id, self.bytes.len())
    }
}

impl Dictionary {
    /// The registered dictionary with these bytes; registered while the caller, or
    /// another holder, keeps it.
    pub(crate) fn register(bytes: Vec<u8>) -> Arc<Dictionary> {
        let id = id_of(&bytes);
        let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = registry.get(&id).and_then(Weak::upgrade) {
            return held;
        }
        registry.retain(|_, held| held.strong_count() > 0);
        let dictionary = Arc::new(Dictionary {
            id,
            bytes,
            compressors: Mutex::default(),
            decompressors: Mutex::default(),
        });
        registry.insert(id, Arc::downgrade(&dictionary));
        dictionary
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Appends `body` compressed, after its header, to `out`; `None` (and `out` as it
    /// was) if zstd fails or gains nothing.
    pub(crate) fn compress_into(&self, body: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let size = u32::try_from(body.len()).ok()?;
        let mut compressor = match pop(&self.compressors) {
            Some(compressor) => compressor,
            None => self.new_compressor().ok()?,
        };
        let frame = compressor.compress(body).ok();
        push(&self.compressors, compressor);
        let frame = frame.filter(|f| f.len() + HEADER_BYTES < body.len())?;
        if body.len() > frame.len().saturating_mul(MAX_RATIO) {
            return None;
        }
        out.reserve(HEADER_BYTES + frame.len());
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&frame);
        Some(())
    }

    fn new_compressor(&self) -> std::io::Result<Compressor<'static>> {
        let mut compressor = Compressor::with_dictionary(LEVEL, &self.bytes)?;
        // The header holds the size and the dictionary; the frame need not repeat them.
        compressor.set_parameter(CParameter::ContentSizeFlag(false))?;
        compressor.set_parameter(CParameter::DictIdFlag(false))?;
        Ok(compressor)
    }

    fn decompress(&self, frame: &[u8], size: usize) -> std::result::Result<Vec<u8>, String> {
        let mut decompressor = match pop(&self.decompressors) {
            Some(decompressor) => decompressor,
            None => Decompressor::with_dictionary(&self.bytes).map_err(|e| e.to_string())?,
        };
        let mut body = vec![0; size];
        let written = decompressor.decompress_to_buffer(frame, &mut body);
        push(&self.decompressors, decompressor);
        match written.map_err(|e| e.to_string())? {
            n if n == size => Ok(body),
            n => Err(format!("zstd frame inflated to {n} bytes, header says {size}")),
        }
    }
}

/// The body of a value [`Dictionary::compress`] made (what follows its format byte).
pub(crate) fn inflate(value: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let header = || format!("a zstd value of {} bytes has no room for its header", value.len());
    let (id, rest) = value.split_first_chunk::<8>().ok_or_else(header)?;
    let (size, frame) = rest.split_first_chunk::<4>().ok_or_else(header)?;
    let id = u64::from_le_bytes(*id);
    let size = usize::try_from(u32::from_le_bytes(*size)).map_err(|e| e.to_string())?;
    if size > frame.len().saturating_mul(MAX_RATIO) {
        return Err(format!("zstd header claims {size} bytes from {} compressed", frame.len()));
    }
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let Some(dictionary) = registry.get(&id).and_then(Weak::upgrade) else {
        return Err(format!("compressed with dictionary {id:016x}, which this file lacks"));
    };
    drop(registry);
    dictionary.decompress(frame, size)
}

/// A file's dictionaries, registered while this is kept.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) all: Vec<Arc<Dictionary>>,
    /// The one new values use.
    pub(crate) current: Option<Arc<Dictionary>>,
}

/// Registers every dictionary of the file.
pub(crate) fn load(db: &Database) -> Result<Loaded> {
    const OP: &str = "open";
    let txn = db.begin_read().during(OP)?;
    let Some((table, current)) = open(&txn, OP)? else { return Ok(Loaded::default()) };
    let mut all = Vec::new();
    for entry in table.iter().during(OP)? {
        let (_, bytes) = entry.during(OP)?;
        all.push(Dictionary::register(bytes.value().to_vec()));
    }
    let current = current.and_then(|id| all.iter().find(|d| d.id == id).cloned());
    Ok(Loaded { all, current })
}

/// The `dictionaries` table, read.
type DictionaryTable = ReadOnlyTable<u64, &'static [u8]>;

/// The file's `dictionaries` table and the id of its current dictionary; `None` for a
/// file written before dictionaries.
fn open(
    txn: &ReadTransaction,
    operation: &'static str,
) -> Result<Option<(DictionaryTable, Option<u64>)>> {
    let table = match txn.open_table(DICTIONARIES) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e).during(operation),
    };
    let current = txn.open_table(META).during(operation)?.get(CURRENT_KEY).during(operation)?;
    Ok(Some((table, current.map(|id| id.value()))))
}

/// The dictionary a record's codec bytes (format byte first) are compressed with.
pub(crate) fn named_by(codec_bytes: &[u8]) -> Option<u64> {
    match codec_bytes.split_first() {
        Some((&FORMAT_ARRAY_ZSTD, value)) => {
            value.first_chunk::<8>().map(|id| u64::from_le_bytes(*id))
        }
        _ => None,
    }
}

/// For `verify`: the ids of the file's dictionaries, after checking that the current one
/// is among them.
pub(crate) fn ids_in(txn: &ReadTransaction, operation: &'static str) -> Result<HashSet<u64>> {
    let Some((table, current)) = open(txn, operation)? else { return Ok(HashSet::new()) };
    let mut ids = HashSet::new();
    for entry in table.iter().during(operation)? {
        ids.insert(entry.during(operation)?.0.value());
    }
    match current {
        Some(id) if !ids.contains(&id) => Err(Error::Corrupt {
            key: format!("meta/{CURRENT_KEY}"),
            reason: format!("names dictionary {id:016x}, which the file lacks"),
        }),
        _ => Ok(ids),
    }
}

/// Commits `dictionary` durably as the one new values use; call under the write lock.
pub(crate) fn persist(db: &Database, dictionary: &Dictionary) -> Result<()> {
    const OP: &str = "train";
    let mut txn = db.begin_write().during(OP)?;
    txn.set_durability(redb::Durability::Immediate).during(OP)?;
    txn.open_table(DICTIONARIES)
        .during(OP)?
        .insert(dictionary.id, dictionary.bytes())
        .during(OP)?;
    txn.open_table(META).during(OP)?.insert(CURRENT_KEY, dictionary.id).during(OP)?;
    txn.commit().during(OP)
}

fn id_of(bytes: &[u8]) -> u64 {
    let hash = blake3::hash(bytes);
    let (start, _) = hash.as_bytes().split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
    u64::from_le_bytes(*start)
}

fn pop<T>(pool: &Mutex<Vec<T>>) -> Option<T> {
    pool.lock().unwrap_or_else(PoisonError::into_inner).pop()
}

/// Keeps at most this many idle contexts of a kind per dictionary.
const POOL_MAX: usize = 16;

fn push<T>(pool: &Mutex<Vec<T>>, item: T) {
    let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOL_MAX {
        pool.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies alike in shape, different in values, as records of one engine are.
    fn samples(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"dagName":"pipeline-{}","status":"Completed","inputs":{{"customerId":"cust-{i:06}","amount":{}}},"nodes":["load","score","decide"]}}"#,
                    i % 7,
                    i * 37 % 1000
                )
                .into_bytes()
            })
            .collect()
    }

    fn compressed(dictionary: &Dictionary, body: &[u8]) -> Option<Vec<u8>> {
        let mut value = Vec::new();
        dictionary.compress_into(body, &mut value).map(|()| value)
    }

    fn trained(n: usize) -> Arc<Dictionary> {
        let bytes = zstd::dict::from_samples(&samples(n), DICTIONARY_BYTES);
        Dictionary::register(bytes.unwrap_or_default())
    }

    #[test]
    fn a_body_round_trips_smaller_than_alone() {
        let dictionary = trained(1_000);
        let body = samples(1_001).pop().unwrap_or_default();
        let Some(value) = compressed(&dictionary, &body) else { panic!("no gain on {body:?}") };
        assert!(value.len() * 2 < body.len(), "{} of {} bytes", value.len(), body.len());
        assert_eq!(inflate(&value), Ok(body));
    }

    #[test]
    fn the_same_bytes_register_once_under_one_id() {
        let first = trained(1_000);
        let again = trained(1_000);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.id, id_of(first.bytes()));
    }

    #[test]
    fn a_dictionary_no_store_holds_is_forgotten() {
        // A sample count no other test uses: its dictionary is this test's alone.
        let dictionary = trained(300);
        let body = samples(1).pop().unwrap_or_default();
        let Some(value) = compressed(&dictionary, &body) else { panic!("no gain") };
        assert_eq!(inflate(&value).as_ref(), Ok(&body));
        drop(dictionary);
        assert!(inflate(&value).is_err_and(|why| why.contains("which this file lacks")));
    }

    #[test]
    fn bad_values_are_errors_never_a_panic() {
        let dictionary = trained(1_000);
        let body = samples(1).pop().unwrap_or_default();
        let Some(good) = compressed(&dictionary, &body) else { panic!("no gain") };
        let mut unknown = good.clone();
        if let Some(byte) = unknown.first_mut() {
            *byte ^= 0xff;
        }
        let mut oversized = good.clone();
        if let Some(byte) = oversized.get_mut(11) {
            *byte = 0x7f;
        }
        let mut scrambled = good.clone();
        if let Some(byte) = scrambled.last_mut() {
            *byte ^= 0x55;
        }
        // Without a checksum a flipped bit may still inflate, to other bytes; never a panic.
        assert_ne!(inflate(&scrambled).ok(), Some(body));
        let cases: [(&[u8], &str); 4] = [
            (&[], "no room for its header"),
            (good.get(..11).unwrap_or_default(), "no room for its header"),
            (&unknown, "which this file lacks"),
            (&oversized, "claims"),
        ];
        for (value, reason) in cases {
            match inflate(value) {
                Err(why) => assert!(why.contains(reason), "{why}"),
                Ok(body) => panic!("{value:?} inflated to {body:?}"),
            }
        }
    }
}
