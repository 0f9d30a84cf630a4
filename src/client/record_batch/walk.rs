//! Walking a batch's records in place: each record's fields are slices of
//! the batch (or of its decompressed body), read with bounds checks only.

use std::borrow::Cow;

use super::{compression, BatchError, BatchHeader, Codec, HEADER_LEN};

/// One record of a batch, borrowed from the batch's (decompressed) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's attributes (unused by Kafka today).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// The key (`None`: null).
    pub key: Option<&'a [u8]>,
    /// The value (`None`: null).
    pub value: Option<&'a [u8]>,
    /// The headers' bytes, `header_count` of them (see [`RecordView::headers`]).
    headers: &'a [u8],
    header_count: usize,
}

/// One header of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's key (UTF-8 by Kafka's rules, not checked here).
    pub key: &'a [u8],
    /// The header's value (`None`: null).
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordView<'a> {
    /// The record's headers, in order.
    pub fn headers(&self) -> Vec<Header<'a>> {
        let mut cursor = Cursor {
            data: self.headers,
            pos: 0,
        };
        (0..self.header_count)
            .map_while(|_| {
                let key = cursor.bytes().ok()??;
                let value = cursor.bytes().ok()?;
                Some(Header { key, value })
            })
            .collect()
    }
}

/// The records of one batch: its body, decompressed when it was compressed.
pub struct Records<'a> {
    body: Cow<'a, [u8]>,
    count: usize,
}

/// The records of the whole batch `batch` (checked with `check_batch`),
/// decompressing at most `limit` bytes; every record is walked once here, so
/// a batch whose records do not frame exactly as its header says is refused.
pub fn records<'a>(
    batch: &'a [u8],
    header: &BatchHeader,
    limit: usize,
) -> Result<Records<'a>, BatchError> {
    let raw = &batch[HEADER_LEN..header.size()];
    let count = header.record_count.max(0) as usize;
    let body = match header.codec()? {
        Codec::None => Cow::Borrowed(raw),
        codec => Cow::Owned(compression::decompress(codec, raw, limit)?),
    };
    // Every record takes at least MIN_RECORD_LEN bytes: a count the body
    // cannot hold is a lie, refused before anything is walked.
    if count > body.len() / super::MIN_RECORD_LEN + 1 {
        return Err(BatchError::Count {
            count: header.record_count,
            last_delta: header.last_offset_delta,
        });
    }
    let records = Records { body, count };
    let mut n = 0;
    for (index, r) in records.iter().enumerate() {
        let r = r?;
        if r.offset_delta != index as i32 {
            return Err(BatchError::Record {
                index,
                why: "offset delta out of order",
            });
        }
        n += 1;
    }
    if n != count {
        return Err(BatchError::Count {
            count: header.record_count,
            last_delta: header.last_offset_delta,
        });
    }
    Ok(records)
}

impl Records<'_> {
    /// How many records there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records in order (each already checked by [`records`]).
    pub fn iter(&self) -> impl Iterator<Item = Result<RecordView<'_>, BatchError>> + '_ {
        let mut cursor = Cursor {
            data: &self.body,
            pos: 0,
        };
        let count = self.count;
        let mut index = 0;
        std::iter::from_fn(move || {
            if index == count {
                if cursor.pos != cursor.data.len() {
                    index += 1;
                    return Some(Err(BatchError::Record {
                        index: count,
                        why: "bytes after the last record",
                    }));
                }
                return None;
            }
            if index > count {
                return None;
            }
            let r = cursor
                .record()
                .map_err(|why| BatchError::Record { index, why });
            index = if r.is_ok() { index + 1 } else { count + 1 };
            Some(r)
        })
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn varlong(&mut self) -> Result<i64, &'static str> {
        // Most fields of a record (lengths, deltas of small batches, header
        // counts) fit in one byte.
        if let Some(&b) = self.data.get(self.pos) {
            if b & 0x80 == 0 {
                self.pos += 1;
                let raw = u64::from(b);
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        let mut raw = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self.data.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            raw |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err("varint too long")
    }

    #[inline]
    fn varint(&mut self) -> Result<i32, &'static str> {
        i32::try_from(self.varlong()?).map_err(|_| "varint out of range")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("length overflows")?;
        let s = self.data.get(self.pos..end).ok_or("field overruns")?;
        self.pos = end;
        Ok(s)
    }

    /// A varint-length-prefixed byte string (-1: null).
    fn bytes(&mut self) -> Result<Option<&'a [u8]>, &'static str> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < -1 => Err("negative length"),
            n => self.take(n as usize).map(Some),
        }
    }

    fn record(&mut self) -> Result<RecordView<'a>, &'static str> {
        let len = self.varint()?;
        if len < 0 {
            return Err("negative record length");
        }
        let body = self.take(len as usize)?;
        let mut c = Cursor { data: body, pos: 0 };
        let attributes = *c.take(1)?.first().expect("one byte") as i8;
        let timestamp_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        let key = c.bytes()?;
        let value = c.bytes()?;
        let header_count = c.varint()?;
        if header_count < 0 {
            return Err("negative header count");
        }
        let headers_start = c.pos;
        for _ in 0..header_count {
            if c.bytes()?.is_none() {
                return Err("null header key");
            }
            c.bytes()?;
        }
        if c.pos != body.len() {
            return Err("record length does not match its fields");
        }
        Ok(RecordView {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers: &body[headers_start..],
            header_count: header_count as usize,
        })
    }
}
