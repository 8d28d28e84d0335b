//! Datasets built once per bench binary: an execstore file and the SQLite baseline holding
//! the same records, in a temporary directory.

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use execstore::{ExecutionStorage, RedbStorage};

use super::sqlite::{SqlResult, SqliteStore};
use super::workload;

/// Records per `store_many` (and per SQLite transaction) while building a dataset.
pub const BUILD_CHUNK: u64 = 1_000;

/// The execstore under test at `path`: a `RedbStorage` with default (durable) settings and
/// an LRU cache of `cache_capacity` records.
pub fn open_execstore(path: &Path, cache_capacity: usize) -> SqlResult<Arc<dyn ExecutionStorage>> {
    Ok(Arc::new(RedbStorage::builder().cache_capacity(cache_capacity).open(path)?))
}

/// Size in bytes of the execstore file at `path`.
pub fn execstore_file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes the file at `path` takes on the disk: less than its length when it has holes (redb
/// grows its file by doubling it, and the new half stays a hole until pages are written).
#[cfg(unix)]
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map_or(0, |m| m.blocks() * 512)
}

/// Bytes the file at `path` takes on the disk (its length where blocks are not reported).
#[cfg(not(unix))]
pub fn disk_usage(path: &Path) -> u64 {
    execstore_file_size(path)
}

/// A fresh temporary directory (under `$TMPDIR`) for one bench binary's files.
pub fn temp_dir() -> SqlResult<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix("execstore-bench-").tempdir()?)
}

/// Stores records `0..n` into `store` in chunks of [`BUILD_CHUNK`], one transaction each.
pub fn fill_execstore(store: &dyn ExecutionStorage, n: u64) -> SqlResult<()> {
    let started = Instant::now();
    for from in (0..n).step_by(BUILD_CHUNK as usize) {
        store.store_many(workload::records(from, (from + BUILD_CHUNK).min(n)))?;
    }
    println!("built execstore dataset of {n} records in {:.1?}", started.elapsed());
    Ok(())
}

/// Stores records `0..n` into the SQLite baseline, one transaction per chunk.
pub fn fill_sqlite(store: &mut SqliteStore, n: u64) -> SqlResult<()> {
    let started = Instant::now();
    for from in (0..n).step_by(BUILD_CHUNK as usize) {
        store.store_many(&workload::records(from, (from + BUILD_CHUNK).min(n)))?;
    }
    println!("built SQLite dataset of {n} records in {:.1?}", started.elapsed());
    Ok(())
}

/// A copy of the SQLite baseline at `path` with the composite index added, at `copy`.
pub fn composite_copy(store: &SqliteStore, copy: &Path) -> SqlResult<SqliteStore> {
    store.checkpoint()?;
    std::fs::copy(store.path(), copy)?;
    let composite = SqliteStore::open(copy)?;
    composite.add_composite_index()?;
    Ok(composite)
}

/// A file to measure the disk's durable-append latency with.
pub struct FsyncProbe {
    file: File,
    block: Vec<u8>,
}

impl FsyncProbe {
    /// A new, empty probe file at `path`.
    pub fn create(path: &Path) -> SqlResult<Self> {
        let file = OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
        Ok(FsyncProbe { file, block: vec![0x5A; 4096] })
    }

    /// Appends 4 KiB and waits until they are on the disk (`fdatasync`).
    pub fn append_durably(&mut self) -> SqlResult<()> {
        self.file.write_all(&self.block)?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Empties the file so it does not grow without bound.
    pub fn reset(&mut self) -> SqlResult<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        Ok(())
    }
}

/// Prints a size line for the results note, e.g. `size execstore: 123 bytes (117.3 MiB)`.
pub fn print_size(label: &str, bytes: u64) {
    println!("size {label}: {bytes} bytes ({:.1} MiB)", bytes as f64 / 1_048_576.0);
}
