//! A redb storage backend in memory whose writes and syncs fail on demand.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redb::backends::InMemoryBackend;
use redb::StorageBackend;

/// Wraps [`InMemoryBackend`]; while the switch is on, `write`, `set_len` and `sync_data`
/// fail with an I/O error.
#[derive(Debug)]
pub struct FaultyBackend {
    inner: InMemoryBackend,
    failing: Arc<AtomicBool>,
}

impl FaultyBackend {
    /// A healthy backend and the switch that makes it fail.
    pub fn new() -> (Self, Arc<AtomicBool>) {
        let failing = Arc::new(AtomicBool::new(false));
        (FaultyBackend { inner: InMemoryBackend::new(), failing: Arc::clone(&failing) }, failing)
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
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }
}
