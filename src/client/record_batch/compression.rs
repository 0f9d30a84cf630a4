//! The four codecs of Kafka's record batches (gzip, snappy, lz4, zstd), with
//! decompression bounded by a caller's limit: a small batch cannot expand
//! into more memory than the caller allows.
//!
//! Snappy comes raw (librdkafka, kafka-python) or in xerial's framing (Java's
//! snappy-java); both are read, and xerial's framing is written, which every
//! client reads. lz4 is the LZ4 frame format (Kafka's since magic 1).

use std::io::{Read, Write};

/// A batch's compression codec (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Uncompressed.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy, raw or xerial-framed.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// The codec of attribute bits 0-2, if it is one.
    pub fn from_attributes(attributes: i16) -> Option<Codec> {
        match attributes & 0x07 {
            0 => Some(Codec::None),
            1 => Some(Codec::Gzip),
            2 => Some(Codec::Snappy),
            3 => Some(Codec::Lz4),
            4 => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The attribute bits of the codec.
    pub fn bits(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
}

/// Why data could not be compressed or decompressed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The output would exceed the caller's limit.
    #[error("decompressed data exceeds {0} bytes")]
    TooLarge(usize),
    /// The compressed data is not valid for its codec.
    #[error("{codec:?}: {source}")]
    Invalid {
        /// The codec.
        codec: Codec,
        /// What the codec said.
        source: std::io::Error,
    },
}

const XERIAL_MAGIC: &[u8] = &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Uncompressed bytes per xerial block (snappy-java's default).
const XERIAL_BLOCK: usize = 32 * 1024;

fn invalid(codec: Codec) -> impl Fn(std::io::Error) -> CodecError {
    move |source| CodecError::Invalid { codec, source }
}

fn invalid_data(codec: Codec, why: impl std::fmt::Display) -> CodecError {
    CodecError::Invalid {
        codec,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
    }
}

/// Decompresses `data` into at most `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    match codec {
        Codec::None => {
            if data.len() > limit {
                return Err(CodecError::TooLarge(limit));
            }
            Ok(data.to_vec())
        }
        Codec::Gzip => read_bounded(flate2::read::GzDecoder::new(data), codec, limit),
        Codec::Snappy => snappy_decompress(data, limit),
        Codec::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(data), codec, limit),
        Codec::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(invalid(codec))?;
            read_bounded(decoder, codec, limit)
        }
    }
}

/// Reads a decoder to its end, refusing more than `limit` bytes.
fn read_bounded(reader: impl Read, codec: Codec, limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    reader
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(invalid(codec))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge(limit));
    }
    Ok(out)
}

/// Snappy as Kafka clients write it: raw, or in xerial's framing.
fn snappy_decompress(value: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), CodecError> {
        let n = snap::raw::decompress_len(block).map_err(|e| invalid_data(Codec::Snappy, e))?;
        if out.len() + n > limit {
            return Err(CodecError::TooLarge(limit));
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(|e| invalid_data(Codec::Snappy, e))?;
        Ok(())
    };
    let mut out = Vec::new();
    if value.starts_with(XERIAL_MAGIC) && value.len() >= 16 {
        let mut pos = 16;
        while pos < value.len() {
            let len = value
                .get(pos..pos + 4)
                .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or_else(|| invalid_data(Codec::Snappy, "truncated xerial block"))?;
            pos += 4;
            let block = value
                .get(pos..pos.saturating_add(len))
                .ok_or_else(|| invalid_data(Codec::Snappy, "truncated xerial block"))?;
            raw(block, &mut out)?;
            pos += len;
        }
    } else {
        raw(value, &mut out)?;
    }
    Ok(out)
}

/// Compresses `data` with `codec`.
pub fn compress(codec: Codec, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    match codec {
        Codec::None => Ok(data.to_vec()),
        Codec::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data).map_err(invalid(codec))?;
            enc.finish().map_err(invalid(codec))
        }
        Codec::Snappy => {
            let mut out = XERIAL_MAGIC.to_vec();
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for block in data.chunks(XERIAL_BLOCK) {
                let c = enc
                    .compress_vec(block)
                    .map_err(|e| invalid_data(codec, e))?;
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            Ok(out)
        }
        Codec::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).map_err(invalid(codec))?;
            enc.finish().map_err(|e| invalid_data(codec, e))
        }
        Codec::Zstd => zstd::stream::encode_all(data, 3).map_err(invalid(codec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    #[test]
    fn every_codec_round_trips_and_is_bounded() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in ALL {
            let c = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &c, data.len()).unwrap(),
                data,
                "{codec:?}"
            );
            assert!(
                matches!(
                    decompress(codec, &c, data.len() - 1),
                    Err(CodecError::TooLarge(_))
                ),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn raw_snappy_is_read_too() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"hello hello")
            .unwrap();
        assert_eq!(
            decompress(Codec::Snappy, &raw, 100).unwrap(),
            b"hello hello"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL[1..].iter().copied() {
            assert!(
                decompress(codec, b"\x00\x01garbage", 1000).is_err(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        for codec in ALL[1..].iter().copied() {
            let c = compress(codec, &zeros).unwrap();
            assert!(c.len() < zeros.len() / 10, "{codec:?}");
            assert!(matches!(
                decompress(codec, &c, 1 << 20),
                Err(CodecError::TooLarge(_))
            ));
        }
    }
}
