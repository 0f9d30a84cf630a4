//! Kafka's record batch v2 (magic 2): the one codec the broker and braid's
//! own client code share. A batch is
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 (2)
//! | crc u32 (CRC-32C of attributes..end) | attributes i16 | lastOffsetDelta i32
//! | baseTimestamp i64 | maxTimestamp i64 | producerId i64 | producerEpoch i16
//! | baseSequence i32 | recordCount i32 | records (compressed as a whole)
//! ```
//!
//! and a record is `length varint | attributes i8 | timestampDelta varlong |
//! offsetDelta varint | key | value | headers`, lengths as zigzag varints
//! (-1 = null). [`BatchHeader`] reads the fixed header; [`check_batch`]
//! checks a whole batch's framing and CRC; [`records`] walks the records of
//! a batch (decompressed with a bound, see [`compression`]) without copying
//! them; [`encode_batch`] writes one (through `kafka-protocol`'s encoder,
//! with this module's codecs) and [`write_batch`] is the producer's fast
//! encoder (no allocation per record, the same bytes).

pub mod compression;
mod encode;
mod walk;

use bytes::BytesMut;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};

pub use compression::{Codec, CodecError};
pub use encode::{write_batch, BatchSpec};
pub use walk::{records, Header, RecordView, Records};

/// Bytes of a batch's fixed header, before its records.
pub const HEADER_LEN: usize = 61;
/// Bytes before a batch's CRC-covered part.
const CRC_START: usize = 21;
/// The smallest a record can be on the wire (length, attributes, timestamp
/// delta, offset delta, key and value lengths, header count).
pub const MIN_RECORD_LEN: usize = 7;

/// Attribute bit: the batch's timestamps are the broker's append time.
pub const LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit: the batch belongs to a transaction.
pub const TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: the batch holds control records (transaction markers).
pub const CONTROL: i16 = 0x20;

/// Why a batch is refused.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the fixed header or than the batch length says.
    #[error("record batch truncated: {have} of {need} bytes")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// A batch length that cannot hold the header.
    #[error("record batch length {0}")]
    Length(i32),
    /// Not magic 2.
    #[error("magic {0} where a record batch v2 belongs")]
    Magic(i8),
    /// The CRC-32C does not match.
    #[error("record batch CRC mismatch")]
    Crc,
    /// A compression codec Kafka does not define.
    #[error("unknown compression codec {0}")]
    Codec(i16),
    /// The record count is negative, does not fit the data or the limit, or
    /// disagrees with the last offset delta.
    #[error("record batch claims {count} records (last offset delta {last_delta})")]
    Count {
        /// The claimed count.
        count: i32,
        /// The header's last offset delta.
        last_delta: i32,
    },
    /// A record's framing is wrong.
    #[error("record {index}: {why}")]
    Record {
        /// Its index in the batch.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// Decompression failed or exceeded its bound.
    #[error(transparent)]
    Compression(#[from] CodecError),
    /// The encoder refused the records.
    #[error("cannot encode a record batch: {0}")]
    Encode(String),
}

/// The fixed header of a record batch v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// The leader epoch the broker stamped.
    pub partition_leader_epoch: i32,
    /// The CRC-32C as stored.
    pub crc: u32,
    /// Compression, timestamp type, transactional, control bits.
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Producer epoch (-1: none).
    pub producer_epoch: i16,
    /// Sequence of the first record (-1: none).
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

fn be<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    data[at..at + N].try_into().expect("length checked")
}

impl BatchHeader {
    /// Reads the header at the start of `data` (no CRC check).
    pub fn parse(data: &[u8]) -> Result<BatchHeader, BatchError> {
        if data.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: data.len(),
            });
        }
        let magic = data[16] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        Ok(BatchHeader {
            base_offset: i64::from_be_bytes(be(data, 0)),
            batch_length: i32::from_be_bytes(be(data, 8)),
            partition_leader_epoch: i32::from_be_bytes(be(data, 12)),
            crc: u32::from_be_bytes(be(data, 17)),
            attributes: i16::from_be_bytes(be(data, 21)),
            last_offset_delta: i32::from_be_bytes(be(data, 23)),
            base_timestamp: i64::from_be_bytes(be(data, 27)),
            max_timestamp: i64::from_be_bytes(be(data, 35)),
            producer_id: i64::from_be_bytes(be(data, 43)),
            producer_epoch: i16::from_be_bytes(be(data, 51)),
            base_sequence: i32::from_be_bytes(be(data, 53)),
            record_count: i32::from_be_bytes(be(data, 57)),
        })
    }

    /// The whole batch's size: the length field plus the 12 bytes before it.
    pub fn size(&self) -> usize {
        12 + self.batch_length.max(0) as usize
    }

    /// The offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The batch's compression codec.
    pub fn codec(&self) -> Result<Codec, BatchError> {
        Codec::from_attributes(self.attributes).ok_or(BatchError::Codec(self.attributes & 7))
    }

    /// Whether the timestamps are the broker's append time.
    pub fn log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME != 0
    }

    /// Whether the batch holds control records.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL != 0
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL != 0
    }

    /// The sequence of the last record (sequences wrap at `i32::MAX`).
    pub fn last_sequence(&self) -> i32 {
        add_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `seq + delta`, wrapping from `i32::MAX` to 0 as Kafka's sequences do.
pub fn add_sequence(seq: i32, delta: i32) -> i32 {
    let sum = i64::from(seq) + i64::from(delta);
    if sum > i64::from(i32::MAX) {
        (sum - i64::from(i32::MAX) - 1) as i32
    } else {
        sum as i32
    }
}

/// Checks the batch at the start of `data`: whole, magic 2, a length that
/// holds the header, a known codec, a plausible count and a CRC-32C that
/// matches. Returns its header (the batch is `data[..header.size()]`).
pub fn check_batch(data: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(data)?;
    if (h.batch_length as i64) < (HEADER_LEN - 12) as i64 {
        return Err(BatchError::Length(h.batch_length));
    }
    if data.len() < h.size() {
        return Err(BatchError::Truncated {
            need: h.size(),
            have: data.len(),
        });
    }
    h.codec()?;
    let count_ok = h.record_count >= 0
        && (h.record_count == 0 || h.last_offset_delta == h.record_count - 1)
        && h.last_offset_delta >= 0;
    if !count_ok {
        return Err(BatchError::Count {
            count: h.record_count,
            last_delta: h.last_offset_delta,
        });
    }
    if crc32c::crc32c(&data[CRC_START..h.size()]) != h.crc {
        return Err(BatchError::Crc);
    }
    Ok(h)
}

/// Writes `base` as the batch's base offset (outside the CRC: no recomputation).
pub fn set_base_offset(batch: &mut [u8], base: i64) {
    batch[0..8].copy_from_slice(&base.to_be_bytes());
}

/// Appends `records` as record batches v2 compressed with `codec` (the
/// encoder starts a new batch where producer or transaction fields change).
pub fn encode_batch(
    out: &mut BytesMut,
    records: &[Record],
    codec: Codec,
) -> Result<(), BatchError> {
    let compression = match codec {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    };
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    let compressor = |plain: &mut BytesMut, dst: &mut BytesMut, _: Compression| {
        let c = compression::compress(codec, plain)?;
        dst.extend_from_slice(&c);
        Ok(())
    };
    RecordBatchEncoder::encode_with_custom_compression(
        out,
        records.iter(),
        &options,
        Some(compressor),
    )
    .map_err(|e| BatchError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests;
