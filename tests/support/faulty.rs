//! A redb storage backend in memory whose writes and syncs fail on demand.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use redb::backends::InMemoryBackend;
use redb::StorageBackend;

/// Wraps [`InMemoryBackend`]; while the switch is on, `write`, `set_len` and `sync_data`
/// fail with an I/O error; each unit of the sync counter fails one sync only, the writes
/// before it landing.
#[derive(Debug, Default)]
pub struct FaultyBackend {
    inner: InMemoryBackend,
    failing: Arc<AtomicBool>,
    failing_syncs: Arc<AtomicU64>,
}

impl FaultyBackend {
    /// A healthy backend and the switch that makes it fail.
    pub fn new() -> (Self, Arc<AtomicBool>) {
        let (backend, failing, _) = Self::with_sync_faults();
        (backend, failing)
    }

    /// A healthy backend, the switch that makes it fail, and the count of syncs to fail.
    pub fn with_sync_faults() -> (Self, Arc<AtomicBool>, Arc<AtomicU64>) {
        let backend = FaultyBackend::default();
        let (failing, syncs) = (Arc::clone(&backend.failing), Arc::clone(&backend.failing_syncs));
        (backend, failing, syncs)
    }

    fn check(&self) -> io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fault: no space left on device"));
        }
        Ok(())
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.check()?;
        let once = self
            .failing_syncs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if once.is_ok() {
            return Err(io::Error::other("injected fault: sync failed"));
        }
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }
}
