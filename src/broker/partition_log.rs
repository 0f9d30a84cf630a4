//! The partition log: append-only segment files of entries (see
//! `log_entry`), with a sparse offset index rebuilt on start.
//!
//! What is stored is what producers sent: record batches v2 as they came
//! (keys, values, headers, timestamps, compression), and magic-0 message
//! sets from legacy producers (the `kafka` crate), which is also what every
//! segment written before braid stored batches holds; both kinds may follow
//! each other in one segment. In both the offset sits outside the CRC, so the
//! broker assigns offsets by patching eight bytes per entry in place. Fetches
//! convert at the edge (see `records`).
//!
//! Layout: `DIR/<topic>-<partition>/<20-digit base offset>.log`. An entry is
//! `offset i64 | size i32 | size bytes`, with its magic at byte 16.
//! "Acknowledged" means written to the file (page cache) before the response,
//! so `kill -9` of the broker loses nothing acknowledged. A write the disk
//! refuses (full) is cut back at once (see `append`), so a refused produce
//! leaves nothing behind. Recovery checks every entry (bounds, CRC,
//! consecutive offsets), truncates a torn tail, and rebuilds the idempotent
//! producers' state (`producer_state`) from the batches it reads. Retention
//! deletes whole segments from the front (`delete_oldest_segments`), which
//! moves the log start offset; the policy lives in `retention`.

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::append::Whole;
use super::log_entry::{check_entry, head, EntryHead, HEAD_LEN};
use super::producer_state::{ProducerError, Producers, Verdict};
use crate::client::record_batch::{self, BatchHeader, HEADER_LEN};

thread_local! {
    /// Per connection thread: the memory fetch reads go into (see `ReadSlice::load`).
    static ARENA: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// The most a batch may decompress to while a timestamp is searched.
const SEARCH_LIMIT: usize = 256 << 20;

/// One sparse index entry per this many bytes of log.
const INDEX_INTERVAL: u64 = 4096;

/// Why a read could not be served.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The offset is below the log start or above the high watermark.
    OutOfRange,
}

/// Why a batch was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The producer state refuses it (sequence gap, stale epoch).
    #[error(transparent)]
    Producer(#[from] ProducerError),
    /// The file refused the write.
    #[error("{0:#}")]
    Storage(anyhow::Error),
}

/// Where an appended batch landed.
#[derive(Debug, PartialEq, Eq)]
pub struct Appended {
    /// Offset of its first record.
    pub base: i64,
    /// Whether it was a retry of a stored batch (nothing written).
    pub duplicate: bool,
}

/// One segment file: immutable below its size, appended at the end.
struct Segment {
    base: i64,
    file: Arc<File>,
    /// The bytes of whole messages (the segment's size).
    tail: Whole,
    /// Sparse index: (offset, file position) pairs in increasing order.
    index: Vec<(i64, u64)>,
    last_indexed: u64,
    /// The largest record timestamp of its batches (-1: none).
    max_timestamp: i64,
    /// Whether it holds legacy (magic 0 or 1) entries, which Fetch v4+ must
    /// convert; a segment of batches only is served as stored.
    legacy: bool,
}

impl Segment {
    fn path(dir: &Path, base: i64) -> PathBuf {
        dir.join(format!("{base:020}.log"))
    }

    fn create(dir: &Path, base: i64) -> Result<Self> {
        let path = Self::path(dir, base);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot create segment {}", path.display()))?;
        Ok(Segment {
            base,
            file: Arc::new(file),
            tail: Whole::new(0),
            index: Vec::new(),
            last_indexed: 0,
            max_timestamp: -1,
            legacy: false,
        })
    }

    /// Bytes of whole messages in the file.
    fn size(&self) -> u64 {
        self.tail.len()
    }

    /// Adds an index entry for the entry at `pos` starting at `offset`, if due.
    fn index_entry(&mut self, offset: i64, pos: u64) {
        if self.index.is_empty() || pos >= self.last_indexed + INDEX_INTERVAL {
            self.index.push((offset, pos));
            self.last_indexed = pos;
        }
    }

    /// The extent of the entry at file position `pos`, if one starts there.
    fn head_at(&self, pos: u64) -> std::io::Result<Option<EntryHead>> {
        let n = (self.size().saturating_sub(pos) as usize).min(HEAD_LEN);
        let mut buf = [0u8; HEAD_LEN];
        self.file.read_exact_at(&mut buf[..n], pos)?;
        Ok(head(&buf[..n]))
    }

    /// The file position of the entry holding offset `target` (which must be
    /// in this segment): a batch may begin below it.
    fn position_of(&self, target: i64) -> std::io::Result<u64> {
        let i = self.index.partition_point(|&(o, _)| o <= target);
        let mut pos = if i == 0 { 0 } else { self.index[i - 1].1 };
        while pos < self.size() {
            let Some(h) = self.head_at(pos)? else { break };
            if h.last_offset >= target {
                return Ok(pos);
            }
            pos += h.len as u64;
        }
        Ok(self.size())
    }

    /// The first (offset, timestamp) at or after `ts` among this segment's batches.
    fn offset_for_time(&self, ts: i64) -> std::io::Result<Option<(i64, i64)>> {
        let mut pos = 0;
        while pos < self.size() {
            let Some(h) = self.head_at(pos)? else { break };
            if h.magic == 2 && pos + HEADER_LEN as u64 <= self.size() {
                let mut buf = vec![0u8; HEADER_LEN];
                self.file.read_exact_at(&mut buf, pos)?;
                let b = BatchHeader::parse(&buf).map_err(std::io::Error::other)?;
                if b.max_timestamp >= ts && !b.is_control() {
                    let mut batch = vec![0u8; h.len];
                    self.file.read_exact_at(&mut batch, pos)?;
                    let records = record_batch::records(&batch, &b, SEARCH_LIMIT)
                        .map_err(std::io::Error::other)?;
                    for r in records.iter() {
                        let r = r.map_err(std::io::Error::other)?;
                        let at = if b.log_append_time() {
                            b.max_timestamp
                        } else {
                            b.base_timestamp + r.timestamp_delta
                        };
                        if at >= ts {
                            return Ok(Some((b.base_offset + i64::from(r.offset_delta), at)));
                        }
                    }
                }
            }
            pos += h.len as u64;
        }
        Ok(None)
    }
}

/// Where a read's bytes are: a file and a byte range of it.
pub struct ReadSlice {
    file: Arc<File>,
    pos: u64,
    len: usize,
}

/// Makes room in this thread's read arena for `total` bytes of loads to come,
/// so the slices of one fetch share one (reused) allocation.
pub fn reserve_reads(total: usize) {
    ARENA.with(|arena| arena.borrow_mut().reserve(total));
}

impl ReadSlice {
    /// Reads the bytes (outside the partition lock: below the recorded size the
    /// file never changes). The buffer comes from this thread's arena: once the
    /// previous response is sent and dropped its memory is reused, which saves
    /// a fresh allocation, page faults and zeroing per fetch.
    pub fn load(&self) -> std::io::Result<Bytes> {
        ARENA.with(|arena| {
            let mut arena = arena.borrow_mut();
            arena.clear();
            arena.reserve(self.len);
            arena.resize(self.len, 0);
            self.file.read_exact_at(&mut arena[..], self.pos)?;
            Ok(arena.split().freeze())
        })
    }

    /// Reads the bytes into `buf` (of the slice's length).
    pub fn read_into(&self, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, self.pos)
    }

    /// Sends the bytes from the file to `socket` (`sendfile`, no copy
    /// through user memory), from `done` bytes in; returns how many went.
    /// A socket write timeout shows as `WouldBlock`/`TimedOut`.
    pub fn send_to(&self, socket: &std::net::TcpStream, done: usize) -> std::io::Result<usize> {
        let mut at = (self.pos + done as u64) as i64;
        let n = nix::sys::sendfile::sendfile64(socket, &*self.file, Some(&mut at), self.len - done)
            .map_err(std::io::Error::from)?;
        if n == 0 && done < self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "segment file shorter than its recorded size",
            ));
        }
        Ok(n)
    }

    /// How many bytes the slice covers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slice is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The log of one partition.
pub struct PartitionLog {
    dir: PathBuf,
    segment_bytes: u64,
    segments: Vec<Segment>,
    next_offset: i64,
    producers: Producers,
}

/// A partition log shared between connection threads.
pub type SharedLog = Arc<Mutex<PartitionLog>>;

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, checking every message and cutting a torn tail.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut bases = Vec::new();
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            }
        }
        bases.sort_unstable();
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            segments: Vec::new(),
            next_offset: bases.first().copied().unwrap_or(0),
            producers: Producers::default(),
        };
        let mut bases = bases.into_iter();
        for base in bases.by_ref() {
            let expected = log.next_offset;
            if base != expected {
                log::warn!(
                    "{}: segment {base} does not start at {expected}; dropping it and later segments",
                    dir.display()
                );
                fs::remove_file(Segment::path(dir, base))?;
                break;
            }
            let (segment, clean) = log.recover_segment(base)?;
            log.next_offset = segment.next_offset;
            log.segments.push(segment.segment);
            if !clean {
                break;
            }
        }
        for base in bases {
            log::warn!(
                "{}: removing segment {base} after a torn one",
                dir.display()
            );
            fs::remove_file(Segment::path(dir, base))?;
        }
        if log.segments.is_empty() {
            log.segments.push(Segment::create(dir, log.next_offset)?);
        }
        Ok(log)
    }

    /// Scans one segment, rebuilding its index and the producer state;
    /// truncates it at the first bad entry.
    fn recover_segment(&mut self, base: i64) -> Result<(Recovered, bool)> {
        let path = Segment::path(&self.dir, base);
        let data = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut segment = Segment::create(&self.dir, base)?;
        let mut pos = 0usize;
        let mut offset = base;
        let mut problem = None;
        while pos < data.len() {
            match check_entry(&data[pos..], offset) {
                Ok(entry) => {
                    segment.index_entry(offset, pos as u64);
                    segment.legacy |= entry.batch.is_none();
                    if let Some(b) = entry.batch.filter(|b| !b.is_control()) {
                        segment.max_timestamp = segment.max_timestamp.max(b.max_timestamp);
                        self.producers.record(&b);
                    }
                    pos += entry.len;
                    offset = entry.last_offset + 1;
                }
                Err(why) => {
                    problem = Some(why);
                    break;
                }
            }
        }
        if let Some(why) = &problem {
            log::warn!(
                "recovery: {}: cut {} bytes at offset {offset} (position {pos}): {why}",
                path.display(),
                data.len() - pos
            );
            segment
                .file
                .set_len(pos as u64)
                .with_context(|| format!("cannot truncate {}", path.display()))?;
        }
        segment.tail = Whole::new(pos as u64);
        let clean = problem.is_none();
        Ok((
            Recovered {
                segment,
                next_offset: offset,
            },
            clean,
        ))
    }

    /// The offset the next appended message gets (the high watermark).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// The largest producer id of the log's batches.
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.max_producer_id()
    }

    /// The first offset still in the log.
    pub fn start_offset(&self) -> i64 {
        self.segments.first().map_or(0, |s| s.base)
    }

    /// Appends a record batch v2 (whole, checked) unless its producer state
    /// refuses it or it is the retry of a stored one; assigns its offsets.
    pub fn append_batch(
        &mut self,
        batch: &mut [u8],
        header: &BatchHeader,
    ) -> Result<Appended, AppendError> {
        if let Verdict::Duplicate(base) = self.producers.check(header)? {
            return Ok(Appended {
                base,
                duplicate: true,
            });
        }
        let count = header.record_count.max(0) as usize;
        let base = self.append(batch, count).map_err(AppendError::Storage)?;
        let mut stored = *header;
        stored.base_offset = base;
        self.producers.record(&stored);
        if !stored.is_control() {
            let segment = self
                .segments
                .last_mut()
                .expect("a log always has a segment");
            segment.max_timestamp = segment.max_timestamp.max(stored.max_timestamp);
        }
        Ok(Appended {
            base,
            duplicate: false,
        })
    }

    /// Appends whole entries holding `count` offsets (magic-0 messages, or
    /// one batch), assigning their offsets in place; returns the base offset
    /// once the bytes are in the file.
    pub fn append(&mut self, set: &mut [u8], count: usize) -> Result<i64> {
        let base = self.next_offset;
        let active = self.segments.last().expect("a log always has a segment");
        if active.size() > 0 && active.size() + set.len() as u64 > self.segment_bytes {
            let segment = Segment::create(&self.dir, base)?;
            self.segments.push(segment);
        }
        let segment = self
            .segments
            .last_mut()
            .expect("a log always has a segment");
        let mut pos = 0usize;
        let mut offset = base;
        let mut n = 0;
        while let Some(h) = head(&set[pos..]) {
            segment.legacy |= h.magic != 2;
            set[pos..pos + 8].copy_from_slice(&offset.to_be_bytes());
            segment.index_entry(offset, segment.size() + pos as u64);
            pos += h.len;
            let held = (h.last_offset - h.offset + 1) as usize;
            offset += held as i64;
            n += held;
        }
        if n != count || pos != set.len() {
            bail!("internal: message set framing does not match its count");
        }
        // All of the set or none of it (a full disk may take part of a write).
        if let Err(e) = segment.tail.append(&*segment.file, set) {
            segment.index.retain(|&(o, _)| o < base);
            return Err(e).context("cannot append to the partition log");
        }
        self.next_offset = offset;
        Ok(base)
    }

    /// Locates up to `max_bytes` of log from the entry holding `offset` on
    /// (within one segment; the last entry may be cut, as Kafka does).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadSlice, ReadError> {
        if offset < self.start_offset() || offset > self.next_offset {
            return Err(ReadError::OutOfRange);
        }
        let i = self.segments.partition_point(|s| s.base <= offset);
        let segment = &self.segments[i.saturating_sub(1)];
        if offset == self.next_offset {
            return Ok(ReadSlice {
                file: segment.file.clone(),
                pos: 0,
                len: 0,
            });
        }
        let pos = segment.position_of(offset).map_err(|e| {
            log::error!("{}: read error: {e}", self.dir.display());
            ReadError::OutOfRange
        })?;
        let len = ((segment.size() - pos) as usize).min(max_bytes);
        Ok(ReadSlice {
            file: segment.file.clone(),
            pos,
            len,
        })
    }

    /// For Fetch v4+: the whole record batches from the one holding `offset`
    /// on, up to `max_bytes` (within one segment), located without reading
    /// them, to be sent as stored. With `at_least_one`, a first batch larger
    /// than `max_bytes` is taken whole (KIP-74). `Ok(None)`: the segment holds
    /// legacy messages, which must be read and converted (see `records`).
    pub fn read_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        at_least_one: bool,
    ) -> Result<Option<ReadSlice>, ReadError> {
        if offset < self.start_offset() || offset > self.next_offset {
            return Err(ReadError::OutOfRange);
        }
        let i = self.segments.partition_point(|s| s.base <= offset);
        let segment = &self.segments[i.saturating_sub(1)];
        if segment.legacy {
            return Ok(None);
        }
        let empty = |pos| ReadSlice {
            file: segment.file.clone(),
            pos,
            len: 0,
        };
        if offset == self.next_offset {
            return Ok(Some(empty(0)));
        }
        let io = |e: std::io::Error| {
            log::error!("{}: read error: {e}", self.dir.display());
            ReadError::OutOfRange
        };
        let start = segment.position_of(offset).map_err(io)?;
        let limit = segment.size().min(start.saturating_add(max_bytes as u64));
        // Whole entries up to `limit`: from the last indexed entry start at or
        // below it (entries are at least 4 KiB apart there), head by head.
        let k = segment.index.partition_point(|&(_, p)| p <= limit);
        let mut end = match k {
            0 => start,
            k => segment.index[k - 1].1.max(start),
        };
        while end < segment.size() {
            let Some(h) = segment.head_at(end).map_err(io)? else {
                break;
            };
            if end + h.len as u64 > limit {
                if end == start && at_least_one {
                    end += h.len as u64; // KIP-74: the first batch whole
                }
                break;
            }
            end += h.len as u64;
        }
        let mut slice = empty(start);
        slice.len = (end - start) as usize;
        Ok(Some(slice))
    }

    /// The extent of the entry holding `offset` (to serve one that exceeds a fetch's max bytes).
    pub fn entry_at(&self, offset: i64) -> Option<EntryHead> {
        let slice = self.read(offset, HEAD_LEN).ok()?;
        head(&slice.load().ok()?)
    }

    /// The first offset whose record timestamp is at or after `ts`, with that
    /// timestamp (`None`: no record is that late; magic-0 entries have none).
    pub fn offset_for_time(&self, ts: i64) -> std::io::Result<Option<(i64, i64)>> {
        for segment in self.segments.iter().filter(|s| s.max_timestamp >= ts) {
            if let Some(offset) = segment.offset_for_time(ts)? {
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }

    /// Bytes on disk over all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }
}

/// What retention needs to know of one segment (see `PartitionLog::segments`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The offset of its first message.
    pub base: i64,
    /// Bytes of whole messages in it.
    pub size: u64,
    /// The largest record timestamp of its batches (ms since the epoch; -1
    /// when it holds none, as magic-0 segments do).
    pub max_timestamp: i64,
    /// When it was last written (the file's modification time): the newest
    /// message's age, as Kafka takes it for segments without timestamps.
    pub modified: std::time::SystemTime,
}

impl PartitionLog {
    /// Every segment, oldest first (the last one is the active segment).
    pub fn segments(&self) -> std::io::Result<Vec<SegmentInfo>> {
        self.segments
            .iter()
            .map(|s| {
                Ok(SegmentInfo {
                    base: s.base,
                    size: s.size(),
                    max_timestamp: s.max_timestamp,
                    modified: s.file.metadata()?.modified()?,
                })
            })
            .collect()
    }

    /// Deletes the `n` oldest segments, moving the log start offset to the
    /// next one's base. Deleting every segment first rolls an empty one at
    /// the high watermark, so offsets go on from where they were. Reads in
    /// flight keep their (unlinked) file open and finish.
    pub fn delete_oldest_segments(&mut self, n: usize) -> Result<()> {
        let mut n = n.min(self.segments.len());
        if n == self.segments.len() {
            if self.segments[n - 1].size() == 0 {
                n -= 1; // the active segment is empty already: it stays
            } else {
                let active = Segment::create(&self.dir, self.next_offset)?;
                self.segments.push(active);
            }
        }
        if n == 0 {
            return Ok(());
        }
        for segment in self.segments.drain(..n) {
            let path = Segment::path(&self.dir, segment.base);
            fs::remove_file(&path)
                .with_context(|| format!("cannot delete segment {}", path.display()))?;
        }
        Ok(())
    }
}

struct Recovered {
    segment: Segment,
    next_offset: i64,
}

#[cfg(test)]
mod batch_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::message::LOG_OVERHEAD;

    /// Builds an uncompressed magic-0 message set of `values` (offsets 0).
    fn set(values: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            let mut body = vec![0u8, 0u8];
            body.extend_from_slice(&(-1i32).to_be_bytes());
            body.extend_from_slice(&(v.len() as i32).to_be_bytes());
            body.extend_from_slice(v);
            let crc = crc32fast::hash(&body);
            out.extend_from_slice(&0i64.to_be_bytes());
            out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
            out.extend_from_slice(&crc.to_be_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    fn offsets(bytes: &[u8]) -> Vec<i64> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos + LOG_OVERHEAD <= bytes.len() {
            out.push(i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap()));
            let size = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            pos += LOG_OVERHEAD + size as usize;
        }
        out
    }

    #[test]
    fn append_assigns_offsets_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
        let mut a = set(&[b"a", b"bb", b"ccc"]);
        assert_eq!(log.append(&mut a, 3).unwrap(), 0);
        let mut b = set(&[b"d"]);
        assert_eq!(log.append(&mut b, 1).unwrap(), 3);
        assert_eq!(log.next_offset(), 4);
        let bytes = log.read(1, 1 << 20).unwrap().load().unwrap();
        assert_eq!(offsets(&bytes), vec![1, 2, 3]);
        assert!(log.read(4, 100).unwrap().is_empty());
        assert_eq!(log.read(5, 100).err(), Some(ReadError::OutOfRange));
    }

    #[test]
    fn rolls_segments_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let value = [7u8; 100];
        {
            let mut log = PartitionLog::open(dir.path(), 4096).unwrap();
            for _ in 0..200 {
                let mut s = set(&[&value, &value]);
                log.append(&mut s, 2).unwrap();
            }
            assert!(log.segments.len() > 5);
        }
        let log = PartitionLog::open(dir.path(), 4096).unwrap();
        assert_eq!(log.next_offset(), 400);
        for target in [0, 1, 37, 38, 199, 398, 399] {
            let bytes = log.read(target, 200).unwrap().load().unwrap();
            assert_eq!(offsets(&bytes)[0], target);
        }
    }

    #[test]
    fn recovery_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
            let mut s = set(&[b"one", b"two", b"three"]);
            log.append(&mut s, 3).unwrap();
        }
        let path = dir.path().join(format!("{:020}.log", 0));
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.next_offset(), 2);
        let mut s = set(&[b"four"]);
        assert_eq!(log.append(&mut s, 1).unwrap(), 2);
        let bytes = log.read(0, 1 << 20).unwrap().load().unwrap();
        assert_eq!(offsets(&bytes), vec![0, 1, 2]);
    }

    #[test]
    fn deleting_old_segments_moves_the_start_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let value = [7u8; 100];
        {
            let mut log = PartitionLog::open(dir.path(), 300).unwrap();
            for _ in 0..6 {
                let mut s = set(&[&value, &value]);
                log.append(&mut s, 2).unwrap();
            }
            let segments = log.segments().unwrap();
            assert_eq!(segments.len(), 6, "{segments:?}");
            log.delete_oldest_segments(2).unwrap();
            assert_eq!(log.start_offset(), 4);
            assert_eq!(log.read(3, 100).err(), Some(ReadError::OutOfRange));
            assert_eq!(offsets(&log.read(4, 1000).unwrap().load().unwrap())[0], 4);
        }
        let mut log = PartitionLog::open(dir.path(), 300).unwrap();
        assert_eq!((log.start_offset(), log.next_offset()), (4, 12));
        log.delete_oldest_segments(usize::MAX).unwrap();
        assert_eq!((log.start_offset(), log.next_offset()), (12, 12));
        log.delete_oldest_segments(usize::MAX).unwrap();
        assert_eq!(log.segments().unwrap().len(), 1);
        let mut s = set(&[b"after"]);
        assert_eq!(log.append(&mut s, 1).unwrap(), 12);
        let log = PartitionLog::open(dir.path(), 300).unwrap();
        assert_eq!((log.start_offset(), log.next_offset()), (12, 13));
    }

    #[test]
    fn recovery_rejects_a_corrupt_crc() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
            let mut s = set(&[b"one", b"two"]);
            log.append(&mut s, 2).unwrap();
        }
        let path = dir.path().join(format!("{:020}.log", 0));
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&path, &data).unwrap();
        let log = PartitionLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.next_offset(), 1);
    }
}
