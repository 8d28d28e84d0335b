//! Decoded visualizations by content hash, so reading a run does not decode again the
//! visualization every run of its script shares.
//!
//! A blob's hash names its bytes for good, so an entry can never be stale: no write needs
//! to touch this cache, and a record's current hash (read from its value in the reader's
//! transaction) always leads to the right value.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use super::viz_blobs::VizHash;
use crate::error::Result;
use crate::viz::DagVizIr;

/// Distinct visualizations kept decoded: one per script or DAG shape in use, each a few
/// KiB.
pub(crate) const VIZ_CACHE_SHAPES: usize = 256;

/// An LRU map from blob hash to decoded visualization; capacity 0 keeps nothing.
#[derive(Debug)]
pub(crate) struct VizCache {
    shapes: Option<Mutex<LruCache<VizHash, Arc<DagVizIr>>>>,
}

impl VizCache {
    pub(crate) fn new(capacity: usize) -> Self {
        VizCache { shapes: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))) }
    }

    /// The visualization of blob `key`, decoded by `decode` only when not kept.
    pub(crate) fn get_or_decode(
        &self,
        key: &VizHash,
        decode: impl FnOnce() -> Result<DagVizIr>,
    ) -> Result<DagVizIr> {
        if let Some(kept) = self.lock().and_then(|mut shapes| shapes.get(key).cloned()) {
            return Ok(DagVizIr::clone(&kept));
        }
        let viz = decode()?;
        if let Some(mut shapes) = self.lock() {
            shapes.put(*key, Arc::new(viz.clone()));
        }
        Ok(viz)
    }

    /// Poisoning only means another thread panicked while holding the lock; the map itself
    /// is always whole.
    fn lock(&self) -> Option<MutexGuard<'_, LruCache<VizHash, Arc<DagVizIr>>>> {
        self.shapes.as_ref().map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::error::Error;

    fn titled(title: &str) -> DagVizIr {
        let mut viz = DagVizIr::default();
        viz.metadata.title = Some(title.to_owned());
        viz
    }

    /// Reads `key` through `cache`, counting decodes in `decodes`.
    fn read(cache: &VizCache, key: u8, decodes: &Cell<u32>) -> Result<DagVizIr> {
        cache.get_or_decode(&[key; 32], || {
            decodes.set(decodes.get() + 1);
            Ok(titled(&key.to_string()))
        })
    }

    #[test]
    fn a_kept_shape_is_decoded_once_and_read_back_equal() -> Result<()> {
        let (cache, decodes) = (VizCache::new(2), Cell::new(0));
        assert_eq!(read(&cache, 1, &decodes)?, titled("1"));
        assert_eq!(read(&cache, 1, &decodes)?, titled("1"));
        assert_eq!(read(&cache, 2, &decodes)?, titled("2"));
        assert_eq!(decodes.get(), 2);
        Ok(())
    }

    #[test]
    fn the_least_recently_read_shape_goes_first() -> Result<()> {
        let (cache, decodes) = (VizCache::new(2), Cell::new(0));
        for key in [1, 2, 1, 3, 1, 2] {
            read(&cache, key, &decodes)?;
        }
        // 1, 2 and 3 decoded once each; 3 pushed out 2 (1 was read more recently): 2 again.
        assert_eq!(decodes.get(), 4);
        Ok(())
    }

    #[test]
    fn capacity_zero_always_decodes_and_a_failed_decode_keeps_nothing() -> Result<()> {
        let (none, decodes) = (VizCache::new(0), Cell::new(0));
        read(&none, 1, &decodes)?;
        read(&none, 1, &decodes)?;
        assert_eq!(decodes.get(), 2);

        let cache = VizCache::new(4);
        let corrupt = || Err(Error::Corrupt { key: "viz_blobs/x".into(), reason: "bad".into() });
        assert!(cache.get_or_decode(&[9; 32], corrupt).is_err());
        let decodes = Cell::new(0);
        assert_eq!(read(&cache, 9, &decodes)?, titled("9"));
        assert_eq!(decodes.get(), 1);
        Ok(())
    }
}
