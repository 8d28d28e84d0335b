//! A redb storage backend in memory that keeps a live image (every write) and a durable
//! image (the live image at the last successful sync), and can start failing after a budget
//! of operations, as a disk that dies does.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::StorageBackend;

/// How the disk fails once its budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Writes, length changes and syncs all fail.
    Everything,
    /// Only syncs fail: data reaches the cache but never the platter.
    Syncs,
}

#[derive(Debug, Default)]
struct State {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Mutating operations left before the disk fails; `None`: never.
    budget: Option<u64>,
    mode: Option<FailMode>,
    failed: bool,
}

/// The backend; clones share one disk.
#[derive(Debug, Clone, Default)]
pub struct FaultyBackend {
    state: Arc<Mutex<State>>,
}

impl FaultyBackend {
    /// An empty disk that never fails.
    pub fn new() -> Self {
        FaultyBackend::default()
    }

    /// A disk holding `image` (live and durable), as after a restart.
    pub fn from_image(image: Vec<u8>) -> Self {
        let state = State { live: image.clone(), durable: image, ..State::default() };
        FaultyBackend { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets `budget` more mutating operations succeed, then fails as `mode` says.
    pub fn fail_after(&self, budget: u64, mode: FailMode) {
        let mut state = self.lock();
        state.budget = Some(budget);
        state.mode = Some(mode);
    }

    /// Whether an injected fault has been returned.
    pub fn has_failed(&self) -> bool {
        self.lock().failed
    }

    /// What survives a power cut now.
    pub fn durable_image(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// What a clean restart sees.
    pub fn live_image(&self) -> Vec<u8> {
        self.lock().live.clone()
    }
}

impl State {
    /// Spends one operation of the budget; whether an operation of this kind fails now.
    fn fails(&mut self, is_sync: bool) -> bool {
        let Some(budget) = self.budget else { return false };
        if budget > 0 {
            self.budget = Some(budget - 1);
            return false;
        }
        let fails = is_sync || self.mode == Some(FailMode::Everything);
        self.failed |= fails;
        fails
    }
}

fn injected() -> io::Error {
    io::Error::other("injected disk fault")
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.lock();
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start.checked_add(out.len()).ok_or(io::ErrorKind::InvalidInput)?;
        let bytes = state.live.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.lock();
        if state.fails(false) {
            return Err(injected());
        }
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        state.live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut state = self.lock();
        if state.fails(true) {
            return Err(injected());
        }
        state.durable = state.live.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.lock();
        if state.fails(false) {
            return Err(injected());
        }
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start.checked_add(data.len()).ok_or(io::ErrorKind::InvalidInput)?;
        if end > state.live.len() {
            state.live.resize(end, 0);
        }
        if let Some(slot) = state.live.get_mut(start..end) {
            slot.copy_from_slice(data);
        }
        Ok(())
    }
}
