//! Appending to a file all of a write or none of it.
//!
//! The partition log and the offset store append whole records to the end
//! of a file. A full disk can take part of a write (the kernel writes what
//! fits, then answers ENOSPC). Those bytes must not stay: the next append
//! would land after a torn record, which the partition log would serve and
//! the offset store would glue to the next line (losing a commit that is
//! acknowledged later). So a failed write is cut back to the last whole
//! record; when even the cut fails, the file is marked torn and the next
//! append cuts it first, writing nothing until that works.

use std::fs::File;
use std::io::{self, Write};

/// A file that grows at its end and can be cut back.
pub trait Tail {
    /// Writes (some of) `buf` at the end of the file; returns how much.
    fn write_end(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Sets the file's length to `len`.
    fn cut(&mut self, len: u64) -> io::Result<()>;
}

/// A file opened for appending (`O_APPEND`: every write lands at its end).
impl Tail for &File {
    fn write_end(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write(buf)
    }

    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// How much of a file is whole records, and whether bytes of a failed write
/// still follow them.
#[derive(Debug, Default)]
pub struct Whole {
    len: u64,
    torn: bool,
}

impl Whole {
    /// A file that holds `len` bytes of whole records and nothing after them.
    pub fn new(len: u64) -> Whole {
        Whole { len, torn: false }
    }

    /// Bytes of whole records.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends all of `buf` right after the whole records and returns the
    /// position it starts at; or, on an error, leaves the file as it was
    /// (cut back, or marked torn when the cut fails too, to be cut before
    /// the next write) and returns the error.
    pub fn append(&mut self, mut file: impl Tail, buf: &[u8]) -> io::Result<u64> {
        if self.torn {
            file.cut(self.len)?;
            self.torn = false;
        }
        let start = self.len;
        let mut done = 0;
        while done < buf.len() {
            let err = match file.write_end(&buf[done..]) {
                Ok(0) => io::Error::new(io::ErrorKind::WriteZero, "the file took no bytes"),
                Ok(n) => {
                    done += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            if done > 0 {
                if let Err(cut) = file.cut(start) {
                    log::error!(
                        "cannot cut {done} bytes of a failed write ({cut}); cutting before the next write"
                    );
                    self.torn = true;
                }
            }
            return Err(err);
        }
        self.len += buf.len() as u64;
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file on a disk with `room` bytes left, whose cuts fail on demand.
    struct Disk {
        data: Vec<u8>,
        room: usize,
        cut_fails: bool,
    }

    impl Tail for &mut Disk {
        fn write_end(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room).min(5);
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.data.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn cut(&mut self, len: u64) -> io::Result<()> {
            if self.cut_fails {
                return Err(io::Error::other("cut refused"));
            }
            let len = len as usize;
            self.room += self.data.len().saturating_sub(len);
            self.data.truncate(len);
            Ok(())
        }
    }

    #[test]
    fn a_partial_write_is_cut_back() {
        let mut disk = Disk {
            data: Vec::new(),
            room: 15,
            cut_fails: false,
        };
        let mut whole = Whole::new(0);
        assert_eq!(whole.append(&mut disk, b"first-line\n").unwrap(), 0);
        let err = whole.append(&mut disk, b"second-line\n").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28));
        assert_eq!(disk.data, b"first-line\n");
        assert_eq!(whole.len(), 11);
        disk.room += 100;
        assert_eq!(whole.append(&mut disk, b"third\n").unwrap(), 11);
        assert_eq!(disk.data, b"first-line\nthird\n");
    }

    #[test]
    fn a_failed_cut_is_retried_before_the_next_write() {
        let mut disk = Disk {
            data: b"ok\n".to_vec(),
            room: 4,
            cut_fails: true,
        };
        let mut whole = Whole::new(3);
        assert!(whole.append(&mut disk, b"torn line\n").is_err());
        assert_eq!(disk.data, b"ok\ntorn");
        // Still cannot cut: nothing is written after the torn bytes.
        disk.room = 100;
        assert!(whole.append(&mut disk, b"next\n").is_err());
        assert_eq!(disk.data, b"ok\ntorn");
        disk.cut_fails = false;
        assert_eq!(whole.append(&mut disk, b"next\n").unwrap(), 3);
        assert_eq!(disk.data, b"ok\nnext\n");
        assert_eq!(whole.len(), 8);
    }
}
