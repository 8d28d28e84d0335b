//! The journal: durable writes without a durable redb commit each.
//!
//! A durable redb commit rewrites every B-tree page on the paths it touched and syncs them
//! all; at 100,000 records that costs several fsync latencies. Instead, each write commits
//! to redb without syncing and appends what it changed (its *effects*) to this file, then
//! syncs only the append: stores and updates, whose effects are known beforehand, append
//! before their transaction begins, other writes before their commit. An entry of several
//! records is synced on a second thread while the writer changes the B-trees; for one
//! record it is the other way round, the applier thread changes them while the writer
//! syncs (see [`OVERLAP_FROM`] and `applier.rs`). A checkpoint (a durable redb commit, then emptying the journal)
//! runs when the journal grows past the builder's `checkpoint_bytes`, on `sync`, and when
//! the last handle closes. On open,
//! the entries newer than the checkpoint recorded in redb (`meta["journal.seq"]`) are
//! applied again, in order: effects are idempotent replacements and removals, so the result
//! is the state after the last acknowledged write.
//!
//! File: an 8-byte header, then entries `[len u32][crc32 u32][seq u64][effects]`, little
//! endian, the CRC over seq and effects, each seq above the one before. A torn entry at the
//! end was never acknowledged (its sync never returned) and is dropped; a bad entry with
//! data after it, or a seq that does not rise, is damage a crash cannot cause: `Corrupt`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::syncer::Syncer;
use crate::error::{Error, Result};

const HEADER: &[u8; 8] = b"EXSJRNL1";

/// Entries of at least this many effects are synced on the sync thread while the writer
/// applies them to redb; smaller ones are synced by the writer itself, while the applier
/// thread applies them when their effects were announced (see `applier.rs`). Handing a
/// sync over costs two thread wake-ups on the write's path, measured at 16–37 µs each on
/// the 2-core VMs here, while the B-tree work it overlaps is 35–80 µs per record: for a
/// single record the hand-over cost more than it saved (median store 277–295 µs through
/// the thread against 219–233 µs synced in place after the B-tree work, update 223–235
/// against 200–208, in the same process), for two or more the overlap wins.
pub(crate) const OVERLAP_FROM: usize = 2;

/// The file grows by zero-filled steps of this size: an append then overwrites allocated
/// space and its sync need not update the file's size (measured about a third faster).
pub(crate) const GROWTH_BYTES: u64 = 4 << 20;

/// One change to the execution tables, as replayed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Insert or replace a record: its encoded bytes without, then with its visualization.
    Put { record: Vec<u8>, viz: Option<Vec<u8>> },
    /// Remove the record with this id.
    Remove(String),
    /// Remove everything.
    Clear,
}

/// An entry read back from the file.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) effects: Vec<Effect>,
}

/// The open journal file.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Where the next entry goes: the end of the last one.
    len: u64,
    /// The file's size: `len` plus zero-filled room.
    allocated: u64,
    /// Syncs appends in the background; started by the first append.
    syncer: Option<Syncer>,
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) faults: Faults,
    /// Holds the next sync's waiter, for a test to act while a write waits for its sync.
    #[cfg(test)]
    pub(crate) hold: Option<SyncHold>,
}

/// Failures a test makes the journal report, as a full or failing disk would.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Faults {
    pub(crate) writes: bool,
    pub(crate) syncs: bool,
}

/// A one-time stop in [`Journal::sync`]: tells `entered` it waits for a sync, then
/// waits for `release`.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct SyncHold {
    pub(crate) entered: crossbeam_channel::Sender<()>,
    pub(crate) release: crossbeam_channel::Receiver<()>,
}

/// An entry written by [`Journal::begin_append`] whose sync is under way.
#[derive(Debug)]
#[must_use = "settle the entry: keep it or erase it"]
pub(crate) struct Pending {
    len: u64,
}

/// The journal of the database at `db_path`: `<db_path>-journal`.
pub(crate) fn path_for(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push("-journal");
    PathBuf::from(name)
}

impl Journal {
    /// Opens or creates the journal at `path` and reads its valid entries.
    pub(crate) fn open(path: PathBuf) -> Result<(Journal, Vec<Entry>)> {
        let io = |e| Error::io(&path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A device or pipe would be read forever.
        if !file.metadata().map_err(io)?.is_file() {
            return Err(Error::NotExecstore {
                path,
                reason: "the journal is not a regular file".to_owned(),
            });
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let header_len = HEADER.len() as u64;
        let (entries, used) = if bytes.is_empty() {
            file.write_all(HEADER).map_err(io)?;
            file.sync_data().map_err(io)?;
            sync_parent_directory(&path)?;
            (Vec::new(), 0)
        } else if bytes.starts_with(HEADER) {
            parse_entries(bytes.get(HEADER.len()..).unwrap_or_default(), &path)?
        } else {
            return Err(Error::NotExecstore {
                path,
                reason: "the journal file does not start with execstore's header".to_owned(),
            });
        };
        let allocated = file.seek(SeekFrom::End(0)).map_err(io)?;
        let len = header_len + used as u64;
        let journal = Journal {
            file,
            path,
            len,
            allocated,
            syncer: None,
            #[cfg(any(test, feature = "fuzzing"))]
            faults: Faults::default(),
            #[cfg(test)]
            hold: None,
        };
        Ok((journal, entries))
    }

    /// Writes an entry after the last one and, when it holds [`OVERLAP_FROM`] effects or
    /// more, starts syncing it on the sync thread; [`sync`](Self::sync) then waits for
    /// that sync (or syncs), and [`settle`](Self::settle) keeps or erases the entry.
    pub(crate) fn begin_append(&mut self, seq: u64, effects: &[Effect]) -> Result<Pending> {
        let entry = frame(seq, effects)?;
        self.reserve(entry.len() as u64)?;
        self.write_at(self.len, &entry)?;
        if effects.len() < OVERLAP_FROM {
            return Ok(Pending { len: entry.len() as u64 });
        }
        let syncer = match &mut self.syncer {
            Some(syncer) => syncer,
            None => {
                self.syncer.insert(Syncer::start(&self.file).map_err(|e| Error::io(&self.path, e))?)
            }
        };
        syncer.begin();
        Ok(Pending { len: entry.len() as u64 })
    }

    /// Settles `pending` once its sync ([`sync`](Self::sync)) has ended with `synced`. If
    /// the transaction it journals `committed`, the entry becomes part of the journal; if
    /// not, it is overwritten with zeros (which end the journal) so that no open replays a
    /// write that failed.
    pub(crate) fn settle(
        &mut self,
        pending: Pending,
        committed: bool,
        synced: Result<()>,
    ) -> Result<()> {
        if committed {
            synced?;
            self.len += pending.len;
            return Ok(());
        }
        let zeros = vec![0; usize::try_from(pending.len).unwrap_or(0)];
        self.write_at(self.len, &zeros)?;
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        #[cfg(any(test, feature = "fuzzing"))]
        if self.faults.writes {
            return Err(io(std::io::Error::other("injected write failure")));
        }
        self.file.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.file.write_all(bytes).map_err(io)
    }

    /// Waits for the sync [`begin_append`](Self::begin_append) started, or syncs everything
    /// written so far here and now; a writer that syncs this way settles its entry with
    /// [`settle`](Self::settle).
    pub(crate) fn sync(&mut self) -> Result<()> {
        #[cfg(test)]
        if let Some(hold) = self.hold.take() {
            // Either side gone just ends the hold.
            let _ = hold.entered.send(());
            let _ = hold.release.recv();
        }
        let result = match &mut self.syncer {
            Some(syncer) => syncer.wait(),
            None => self.file.sync_data(),
        };
        #[cfg(any(test, feature = "fuzzing"))]
        let result = result.and_then(|()| match self.faults.syncs {
            true => Err(std::io::Error::other("injected sync failure")),
            false => Ok(()),
        });
        result.map_err(|e| Error::io(&self.path, e))
    }

    /// Makes sure `bytes` more fit in allocated space, growing the file by zero-filled steps.
    fn reserve(&mut self, bytes: u64) -> Result<()> {
        let needed = self.len + bytes;
        if needed <= self.allocated {
            return Ok(());
        }
        let grown = needed.max(self.allocated + GROWTH_BYTES);
        let zeros = vec![0; usize::try_from(grown - self.allocated).unwrap_or(0)];
        self.write_at(self.allocated, &zeros)?;
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        self.allocated = grown;
        Ok(())
    }

    /// Empties the journal after a checkpoint. Its entries are already covered by the
    /// checkpoint, so a crash before this reaches the disk only makes a later open skip them.
    pub(crate) fn reset(&mut self) -> Result<()> {
        self.file.set_len(HEADER.len() as u64).map_err(|e| Error::io(&self.path, e))?;
        self.len = HEADER.len() as u64;
        self.allocated = self.len;
        Ok(())
    }

    /// Deletes the file after a final checkpoint, as SQLite does its `-wal` on a clean close.
    pub(crate) fn remove(self) -> Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, e))
    }

    /// Bytes in the file.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// Makes a new file's directory entry durable, so the journal survives a power loss.
fn sync_parent_directory(path: &Path) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = File::open(parent).map_err(|e| Error::io(parent, e))?;
    dir.sync_all().map_err(|e| Error::io(parent, e))
}

/// A whole journal file holding `entries`, as a crash would leave it (for tests and the
/// fuzz targets).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn file_with(entries: &[(u64, Vec<Effect>)]) -> Result<Vec<u8>> {
    let mut file = HEADER.to_vec();
    for (seq, effects) in entries {
        file.extend_from_slice(&frame(*seq, effects)?);
    }
    Ok(file)
}

/// One entry as written: length, checksum, seq, effects.
fn frame(seq: u64, effects: &[Effect]) -> Result<Vec<u8>> {
    let mut body = seq.to_le_bytes().to_vec();
    for effect in effects {
        write_effect(&mut body, effect)?;
    }
    let len = u32::try_from(body.len()).map_err(|_| Error::Encode {
        what: format!("journal entry {seq}"),
        reason: format!("{} bytes is more than an entry can hold", body.len()),
    })?;
    let mut entry = Vec::with_capacity(body.len() + 8);
    entry.extend_from_slice(&len.to_le_bytes());
    entry.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    entry.extend_from_slice(&body);
    Ok(entry)
}

const PUT: u8 = 1;
const PUT_WITH_VIZ: u8 = 2;
const REMOVE: u8 = 3;
const CLEAR: u8 = 4;

fn write_effect(out: &mut Vec<u8>, effect: &Effect) -> Result<()> {
    match effect {
        Effect::Put { record, viz: None } => {
            out.push(PUT);
            write_bytes(out, record)
        }
        Effect::Put { record, viz: Some(viz) } => {
            out.push(PUT_WITH_VIZ);
            write_bytes(out, record)?;
            write_bytes(out, viz)
        }
        Effect::Remove(id) => {
            out.push(REMOVE);
            write_bytes(out, id.as_bytes())
        }
        Effect::Clear => {
            out.push(CLEAR);
            Ok(())
        }
    }
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| Error::Encode {
        what: "journal effect".to_owned(),
        reason: format!("a value of {} bytes", bytes.len()),
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Entries up to a torn tail (never acknowledged, because its sync never returned, so
/// dropped). A bad entry with more entries after it is corruption, not a torn write: an error.
/// Returns the entries and how many bytes they span.
fn parse_entries(bytes: &[u8], path: &Path) -> Result<(Vec<Entry>, usize)> {
    let mut rest = bytes;
    let mut entries = Vec::new();
    loop {
        let corrupt = |reason: &str| Error::Corrupt {
            key: format!("{} entry {}", path.display(), entries.len() + 1),
            reason: reason.to_owned(),
        };
        let (body, after) = match next_frame(rest) {
            Frame::Whole(body, after) => (body, after),
            Frame::TornTail => return Ok((entries, bytes.len() - rest.len())),
            Frame::Corrupt => return Err(corrupt("checksum mismatch before the last entry")),
        };
        let (seq, mut effects_bytes) =
            take_u64(body).ok_or_else(|| corrupt("no sequence number"))?;
        // Writers number entries upwards; recovery takes the last one's seq as the newest.
        if entries.last().is_some_and(|previous: &Entry| previous.seq >= seq) {
            return Err(corrupt("sequence number not above the previous entry's"));
        }
        let mut effects = Vec::new();
        while !effects_bytes.is_empty() {
            let (effect, remaining) =
                read_effect(effects_bytes).ok_or_else(|| corrupt("malformed effect"))?;
            effects.push(effect);
            effects_bytes = remaining;
        }
        entries.push(Entry { seq, effects });
        rest = after;
    }
}

/// What the bytes at the current position hold.
enum Frame<'a> {
    /// A whole entry whose checksum matches, and what follows it.
    Whole(&'a [u8], &'a [u8]),
    /// The end, or an entry cut short or scrambled by a crash during its append.
    TornTail,
    /// A bad entry followed by more data: the file was damaged after the fact.
    Corrupt,
}

/// Smallest body: a sequence number.
const MIN_BODY: usize = 8;

fn next_frame(bytes: &[u8]) -> Frame<'_> {
    let Some((len, after_len)) = take_u32(bytes) else { return Frame::TornTail };
    let Some((crc, after_crc)) = take_u32(after_len) else { return Frame::TornTail };
    let Ok(len) = usize::try_from(len) else { return Frame::TornTail };
    let (Some(body), Some(after)) = (after_crc.get(..len), after_crc.get(len..)) else {
        return Frame::TornTail;
    };
    if len >= MIN_BODY && crc32fast::hash(body) == crc {
        Frame::Whole(body, after)
    } else if after.iter().all(|&b| b == 0) {
        Frame::TornTail
    } else {
        Frame::Corrupt
    }
}

fn read_effect(bytes: &[u8]) -> Option<(Effect, &[u8])> {
    let (&tag, bytes) = bytes.split_first()?;
    match tag {
        PUT => {
            let (record, rest) = take_bytes(bytes)?;
            Some((Effect::Put { record: record.to_vec(), viz: None }, rest))
        }
        PUT_WITH_VIZ => {
            let (record, rest) = take_bytes(bytes)?;
            let (viz, rest) = take_bytes(rest)?;
            Some((Effect::Put { record: record.to_vec(), viz: Some(viz.to_vec()) }, rest))
        }
        REMOVE => {
            let (id, rest) = take_bytes(bytes)?;
            Some((Effect::Remove(String::from_utf8(id.to_vec()).ok()?), rest))
        }
        CLEAR => Some((Effect::Clear, bytes)),
        _ => None,
    }
}

fn take_bytes(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, bytes) = take_u32(bytes)?;
    let len = usize::try_from(len).ok()?;
    Some((bytes.get(..len)?, bytes.get(len..)?))
}

fn take_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

fn take_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Journal {
        fn append(&mut self, seq: u64, effects: &[Effect]) -> Result<()> {
            let pending = self.begin_append(seq, effects)?;
            self.settle_now(pending, true)
        }

        fn settle_now(&mut self, pending: Pending, committed: bool) -> Result<()> {
            let synced = self.sync();
            self.settle(pending, committed, synced)
        }
    }

    #[test]
    fn only_entries_of_several_effects_are_synced_on_the_sync_thread() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let (mut journal, _) = Journal::open(dir.path().join("j"))?;
        let one = vec![Effect::Clear; OVERLAP_FROM - 1];
        let pending = journal.begin_append(1, &one)?;
        assert!(journal.syncer.is_none(), "a small entry is synced in place");
        journal.settle_now(pending, true)?;
        let pending = journal.begin_append(2, &vec![Effect::Clear; OVERLAP_FROM])?;
        assert!(journal.syncer.as_ref().is_some_and(|s| s.in_flight()), "handed over");
        journal.settle_now(pending, true)?;
        let pending = journal.begin_append(3, &one)?;
        assert!(journal.syncer.as_ref().is_some_and(|s| !s.in_flight()), "in place again");
        journal.settle_now(pending, true)?;
        let (_, entries) = Journal::open(dir.path().join("j"))?;
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        Ok(())
    }

    #[test]
    fn an_entry_whose_commit_failed_is_erased_and_its_room_reused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("j");
        {
            let (mut journal, _) = Journal::open(path.clone())?;
            journal.append(1, &effects())?;
            let failed = journal.begin_append(2, &effects())?;
            journal.settle_now(failed, false)?;
            let (_, entries) = Journal::open(path.clone())?;
            assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
            journal.append(3, &[Effect::Clear])?;
        }
        let (_, entries) = Journal::open(path)?;
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
        Ok(())
    }

    fn effects() -> Vec<Effect> {
        vec![
            Effect::Put { record: vec![1, 2, 3], viz: None },
            Effect::Put { record: vec![4], viz: Some(vec![5, 6]) },
            Effect::Remove("gone".to_owned()),
            Effect::Clear,
        ]
    }

    #[test]
    fn entries_round_trip_and_a_torn_tail_is_dropped() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("j");
        let used = {
            let (mut journal, entries) = Journal::open(path.clone())?;
            assert!(entries.is_empty());
            journal.append(7, &effects())?;
            journal.append(8, &[Effect::Clear])?;
            usize::try_from(journal.len()).unwrap_or(0)
        };
        let file = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        assert!(file.len() > used && file.iter().skip(used).all(|&b| b == 0), "zero-filled room");
        let full = file.get(..used).unwrap_or_default().to_vec();
        let mut zero_filled = full.clone();
        zero_filled.extend_from_slice(&[0; 64]);
        for cut in [full.len(), full.len() - 1, full.len() - 5, full.len() + 64] {
            let bytes = if cut > full.len() {
                zero_filled.as_slice()
            } else {
                full.get(..cut).unwrap_or_default()
            };
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
            let (_, entries) = Journal::open(path.clone())?;
            let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
            let expected: &[u64] = if cut >= full.len() { &[7, 8] } else { &[7] };
            assert_eq!(seqs, expected, "cut at {cut}");
            assert_eq!(entries.first().map(|e| e.effects.clone()), Some(effects()));
        }
        Ok(())
    }

    #[test]
    fn a_flipped_bit_before_the_last_entry_is_corruption() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("j");
        {
            let (mut journal, _) = Journal::open(path.clone())?;
            journal.append(1, &effects())?;
            journal.append(2, &effects())?;
        }
        let mut bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if let Some(byte) = bytes.get_mut(HEADER.len() + 12) {
            *byte ^= 0x40;
        }
        std::fs::write(&path, &bytes).map_err(|e| Error::io(&path, e))?;
        assert!(matches!(Journal::open(path.clone()), Err(Error::Corrupt { .. })));
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_journal_that_is_a_device_is_refused() -> Result<()> {
        // `/dev/null`, not `/dev/zero`: should the check go, this test fails at once
        // instead of reading zeros until memory runs out.
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("j");
        std::os::unix::fs::symlink("/dev/null", &path).map_err(|e| Error::io(&path, e))?;
        match Journal::open(path) {
            Err(Error::NotExecstore { reason, .. }) => {
                assert!(reason.contains("regular"), "{reason}")
            }
            other => panic!("a device opened as a journal: {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn a_foreign_file_is_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("j");
        std::fs::write(&path, b"not a journal").map_err(|e| Error::io(&path, e))?;
        assert!(matches!(Journal::open(path), Err(Error::NotExecstore { .. })));
        Ok(())
    }
}
