//! How a store encodes records: positionally, then with the file's dictionary once it has
//! one, else LZ4. Until then it keeps the bodies of the first records it encodes as samples;
//! with enough of them, the write that brought the last one trains the dictionary, commits
//! it durably and only then uses it (see `dictionary.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde::Serialize;

use super::codec::{positional_body, stored_positional, stored_with};
use super::dictionary::{Dictionary, Loaded, DICTIONARY_BYTES};
use crate::error::Result;

/// The default [`RedbStorageBuilder::dictionary_samples`](crate::RedbStorageBuilder::dictionary_samples).
pub const DEFAULT_DICTIONARY_SAMPLES: usize = 1_000;

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
        let body = positional_body(what, record)?;
        if let Some(dictionary) = self.current() {
            if let Some(bytes) = stored_with(&dictionary, &body) {
                return Ok(bytes);
            }
        } else if self.sampling.load(Ordering::Relaxed) {
            self.sample(&body);
        }
        Ok(stored_positional(&body))
    }

    fn current(&self) -> Option<Arc<Dictionary>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn sample(&self, body: &[u8]) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() < self.wanted {
            samples.push(body.to_vec());
        }
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
