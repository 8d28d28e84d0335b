//! How a store encodes records: positionally, then with the file's dictionary once it has
//! one, else LZ4. Until then it keeps as samples the bodies of the records its file holds
//! when opened (so that a file upgraded from an earlier version, or written a few records
//! per process, trains too) and of the records it encodes; with enough of them, the write
//! that brought the last one trains the dictionary, commits it durably and only then uses
//! it (see `dictionary.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use redb::{ReadTransaction, ReadableTable};
use serde::Serialize;

use super::codec::Positional;
use super::dictionary::{Dictionary, Loaded, DICTIONARY_BYTES};
use super::record_value::decode_value;
use super::tables::EXECUTIONS;
use crate::error::{Result, StorageResultExt};
use crate::model::StoredExecution;

/// The default [`RedbStorageBuilder::dictionary_samples`](crate::RedbStorageBuilder::dictionary_samples).
pub const DEFAULT_DICTIONARY_SAMPLES: usize = 1_000;

/// Bytes kept of one sample: what records share is mostly near their start (field layout,
/// names), and the bound keeps 1,000 samples of large records from holding megabytes.
const SAMPLE_BYTES: usize = 8 << 10;

/// A store's record encoder.
#[derive(Debug)]
pub(crate) struct Compression {
    /// The dictionary new records are compressed with.
    current: RwLock<Option<Arc<Dictionary>>>,
    /// Every dictionary of the file, kept registered while the store is open.
    _held: Vec<Arc<Dictionary>>,
    /// Bodies kept to train one, while `sampling`.
    samples: Mutex<Vec<Vec<u8>>>,
    /// How many to train on.
    wanted: usize,
    /// Whether samples are still wanted: no dictionary yet, none trained or tried.
    sampling: AtomicBool,
}

impl Compression {
    /// An encoder using the file's current dictionary, or sampling `wanted` records (0:
    /// never) to train one.
    pub(crate) fn new(loaded: Loaded, wanted: usize) -> Self {
        let sampling = loaded.current.is_none() && wanted > 0;
        Compression {
            current: RwLock::new(loaded.current),
            _held: loaded.all,
            samples: Mutex::default(),
            wanted,
            sampling: AtomicBool::new(sampling),
        }
    }

    /// `record` as stored bytes.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, what: &str, record: &T) -> Result<Vec<u8>> {
        let value = Positional::encode(what, record)?;
        if let Some(dictionary) = self.current() {
            if let Some(bytes) = value.stored_with(&dictionary) {
                return Ok(bytes);
            }
        } else if self.sampling.load(Ordering::Relaxed) {
            self.sample(value.body());
        }
        Ok(value.stored())
    }

    fn current(&self) -> Option<Arc<Dictionary>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn sample(&self, body: &[u8]) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() < self.wanted {
            samples.push(body.get(..SAMPLE_BYTES).unwrap_or(body).to_vec());
        }
    }

    /// At open, while sampling: samples records the file holds (in id order, which for
    /// random ids is a random choice) up to the number wanted.
    pub(crate) fn seed(&self, txn: &ReadTransaction) -> Result<()> {
        const OP: &str = "open";
        if !self.sampling.load(Ordering::Relaxed) {
            return Ok(());
        }
        let have = self.samples.lock().unwrap_or_else(PoisonError::into_inner).len();
        let executions = txn.open_table(EXECUTIONS).during(OP)?;
        for entry in executions.iter().during(OP)?.take(self.wanted.saturating_sub(have)) {
            let (id, value) = entry.during(OP)?;
            let (_, record) = decode_value::<StoredExecution>(id.value(), value.value())?;
            self.sample(Positional::encode(OP, &record)?.body());
        }
        Ok(())
    }

    /// A dictionary trained on the samples, once they are all in; tried once per store
    /// (a failed training leaves records on LZ4). Registered, not yet in use.
    pub(crate) fn train(&self) -> Option<Arc<Dictionary>> {
        if !self.sampling.load(Ordering::Relaxed) {
            return None;
        }
        let samples = {
            let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
            if samples.len() < self.wanted || !self.sampling.swap(false, Ordering::Relaxed) {
                return None;
            }
            std::mem::take(&mut *samples)
        };
        let bytes = zstd::dict::from_samples(&samples, DICTIONARY_BYTES).ok()?;
        Some(Dictionary::register(bytes))
    }

    /// Compresses new records with `dictionary`, which the file now durably holds.
    pub(crate) fn adopt(&self, dictionary: Arc<Dictionary>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(dictionary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redb::codec::{FORMAT_ARRAY, FORMAT_ARRAY_LZ4, FORMAT_ARRAY_ZSTD};

    fn body(i: usize, len: usize) -> String {
        format!(
            "record {i:04} of dag etl, status Completed, inputs customer and amount {}",
            "x".repeat(len)
        )
    }

    #[test]
    fn it_samples_then_trains_once_then_compresses_with_what_it_adopted() -> Result<()> {
        let compression = Compression::new(Loaded::default(), 40);
        for i in 0..39 {
            let bytes = compression.encode("t", &body(i, i % 5))?;
            assert!(matches!(bytes.first(), Some(&(FORMAT_ARRAY | FORMAT_ARRAY_LZ4))));
            assert!(compression.train().is_none(), "{} samples", i + 1);
        }
        compression.encode("t", &body(39, 0))?;
        let Some(dictionary) = compression.train() else { panic!("40 samples train") };
        assert!(compression.train().is_none(), "trained once");
        compression.encode("t", &body(40, 0))?;
        assert!(compression.samples.lock().is_ok_and(|s| s.is_empty()), "sampling stopped");
        compression.adopt(dictionary);
        let bytes = compression.encode("t", &body(41, 3))?;
        assert_eq!(bytes.first(), Some(&FORMAT_ARRAY_ZSTD));
        let back: String = crate::redb::codec::decode(|| "t".to_owned(), &bytes)?;
        assert_eq!(back, body(41, 3));
        Ok(())
    }

    #[test]
    fn a_sample_keeps_only_the_start_of_a_large_record() -> Result<()> {
        let compression = Compression::new(Loaded::default(), 2);
        compression.encode("t", &body(0, 100_000))?;
        let kept = compression.samples.lock().map(|s| s.iter().map(Vec::len).collect::<Vec<_>>());
        assert_eq!(kept.ok(), Some(vec![SAMPLE_BYTES]));
        Ok(())
    }

    #[test]
    fn no_samples_wanted_means_none_kept() -> Result<()> {
        let compression = Compression::new(Loaded::default(), 0);
        compression.encode("t", &body(0, 10))?;
        assert!(compression.train().is_none());
        assert!(compression.samples.lock().is_ok_and(|s| s.is_empty()));
        Ok(())
    }
}
