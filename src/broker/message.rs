//! The magic-0 message as the partition log stores it, and the checks every
//! stored or produced legacy message passes.
//!
//! A message is `offset i64 | size i32 | crc u32 | magic i8 | attributes i8 |
//! key | value` (big-endian, key and value as i32-length-prefixed bytes,
//! -1 = null); magic 1 adds a timestamp i64 after the attributes.

use std::ops::Range;

/// Bytes of a message before its CRC-covered part: offset (8) and size (4).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest valid magic-0 message body: crc, magic, attributes, key and value lengths.
pub const MIN_MESSAGE_SIZE: usize = 4 + 1 + 1 + 4 + 4;

/// Why a stored or produced legacy message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Fewer bytes left than the 12-byte log header.
    #[error("{0} bytes left, a header needs 12")]
    NoHeader(usize),
    /// The message carries another offset than the one expected there.
    #[error("offset {found}, expected {expected}")]
    Offset {
        /// The offset in the message.
        found: i64,
        /// The offset expected at its place in the log.
        expected: i64,
    },
    /// The size field is below the smallest message.
    #[error("message size {0} is too small")]
    TooSmall(i32),
    /// The data ends inside the message.
    #[error("message of {size} bytes cut after {have}")]
    Cut {
        /// The message's size field.
        size: i32,
        /// The bytes there are after the log header.
        have: usize,
    },
    /// The CRC does not match the message.
    #[error("CRC mismatch")]
    Crc,
    /// Too short to hold a magic byte.
    #[error("message too short")]
    TooShort,
    /// A magic byte other than 0 or 1.
    #[error("magic {0} where a legacy message (0 or 1) belongs")]
    Magic(u8),
    /// The message ends before the length of `.0` ("its key", "its value", "a").
    #[error("message ends before {0} length")]
    NoLength(&'static str),
    /// A length below -1 (null).
    #[error("{field} length {len}")]
    Length {
        /// "key" or "value".
        field: &'static str,
        /// The length found.
        len: i32,
    },
    /// A key or value longer than the rest of the message.
    #[error("{field} of {len} bytes overruns the message")]
    Overrun {
        /// "key", "value" or "a field".
        field: &'static str,
        /// Its length.
        len: i32,
    },
    /// Bytes after the value that the size counts but no field holds.
    #[error("{0} stray bytes after the value")]
    Stray(usize),
}

/// Checks one stored message at the start of `data`: whole, right offset, valid CRC.
/// Returns its length on disk.
pub fn check_message(data: &[u8], expected_offset: i64) -> Result<usize, MessageError> {
    if data.len() < LOG_OVERHEAD {
        return Err(MessageError::NoHeader(data.len()));
    }
    let offset = i64::from_be_bytes(data[0..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
    if offset != expected_offset {
        return Err(MessageError::Offset {
            found: offset,
            expected: expected_offset,
        });
    }
    if size < MIN_MESSAGE_SIZE as i32 {
        return Err(MessageError::TooSmall(size));
    }
    let end = LOG_OVERHEAD + size as usize;
    if data.len() < end {
        return Err(MessageError::Cut {
            size,
            have: data.len() - LOG_OVERHEAD,
        });
    }
    let stored = u32::from_be_bytes(data[12..16].try_into().expect("4 bytes"));
    if crc32fast::hash(&data[16..end]) != stored {
        return Err(MessageError::Crc);
    }
    check_layout(&data[..end])?;
    Ok(end)
}

/// Checks the layout of one legacy message (magic 0 or 1, with its 12-byte
/// log header): the key and value lengths must account for exactly its size.
/// A message whose CRC is right but whose lengths lie would break every reader.
pub fn check_layout(msg: &[u8]) -> Result<(), MessageError> {
    let magic = *msg.get(16).ok_or(MessageError::TooShort)?;
    let mut cursor = LOG_OVERHEAD + 4 + 1 + 1;
    match magic {
        0 => {}
        1 => cursor += 8,
        m => return Err(MessageError::Magic(m)),
    }
    for (field, its) in [("key", "its key"), ("value", "its value")] {
        let len = msg
            .get(cursor..cursor + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or(MessageError::NoLength(its))?;
        cursor += 4;
        if len < -1 {
            return Err(MessageError::Length { field, len });
        }
        cursor += len.max(0) as usize;
        if cursor > msg.len() {
            return Err(MessageError::Overrun { field, len });
        }
    }
    if cursor != msg.len() {
        return Err(MessageError::Stray(msg.len() - cursor));
    }
    Ok(())
}

/// Where a key or a value lies within its message (`None`: null).
pub type Field = Option<Range<usize>>;

/// Where the key and the value of one legacy message (with its 12-byte log
/// header) lie within it; `None` for a null one. Reads only the lengths (the
/// log's messages were checked with [`check_message`] or on ingest), but never
/// reads out of bounds: lengths that overrun the message are an error.
pub fn key_value(msg: &[u8]) -> Result<(Field, Field), MessageError> {
    let mut cursor = LOG_OVERHEAD + 4 + 1 + 1;
    if msg.get(16) == Some(&1) {
        cursor += 8;
    }
    let mut field = || -> Result<Field, MessageError> {
        let len = msg
            .get(cursor..cursor + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or(MessageError::NoLength("a"))?;
        cursor += 4;
        if len < 0 {
            return Ok(None);
        }
        let range = cursor..cursor + len as usize;
        if range.end > msg.len() {
            return Err(MessageError::Overrun {
                field: "a field",
                len,
            });
        }
        cursor = range.end;
        Ok(Some(range))
    };
    Ok((field()?, field()?))
}

/// Appends one uncompressed legacy message of `magic` (0 or 1; magic 1
/// carries `timestamp`, marked as the broker's append time when
/// `log_append_time`) with its log header, at `offset`.
pub fn write_message(
    out: &mut Vec<u8>,
    magic: u8,
    offset: i64,
    timestamp: i64,
    log_append_time: bool,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let ts_len = if magic == 1 { 8 } else { 0 };
    let body =
        MIN_MESSAGE_SIZE + ts_len + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(body as i32).to_be_bytes());
    let crc_at = out.len();
    let attributes = if magic == 1 && log_append_time {
        0x08
    } else {
        0
    };
    // CRC (filled below), magic, attributes (uncompressed).
    out.extend_from_slice(&[0, 0, 0, 0, magic, attributes]);
    if magic == 1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let crc = crc32fast::hash(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The timestamp of a legacy message (with its log header): magic 1 carries
/// one, magic 0 none (-1).
pub fn timestamp(msg: &[u8]) -> i64 {
    match (msg.get(16), msg.get(18..26)) {
        (Some(1), Some(ts)) => i64::from_be_bytes(ts.try_into().expect("8 bytes")),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A magic-0 message with its log header, encoded by hand.
    fn magic0(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
        let mut body = vec![0, 0];
        for field in [key, value] {
            match field {
                Some(b) => {
                    body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    body.extend_from_slice(b);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut out = offset.to_be_bytes().to_vec();
        out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn a_whole_message_passes_and_gives_its_fields() {
        let m = magic0(7, None, Some(b"hello"));
        assert_eq!(check_message(&m, 7), Ok(m.len()));
        let (key, value) = key_value(&m).unwrap();
        assert_eq!(key, None);
        assert_eq!(&m[value.unwrap()], b"hello");
    }

    #[test]
    fn each_fault_has_its_kind() {
        let m = magic0(7, Some(b"k"), Some(b"v"));
        assert_eq!(check_message(&m[..5], 7), Err(MessageError::NoHeader(5)));
        assert_eq!(
            check_message(&m, 8),
            Err(MessageError::Offset {
                found: 7,
                expected: 8
            })
        );
        assert!(matches!(
            check_message(&m[..m.len() - 1], 7),
            Err(MessageError::Cut { .. })
        ));
        let mut bad = m.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(check_message(&bad, 7), Err(MessageError::Crc));
        let mut magic = m.clone();
        magic[16] = 5;
        assert_eq!(check_layout(&magic), Err(MessageError::Magic(5)));
        let mut stray = m.clone();
        stray.push(0);
        assert_eq!(check_layout(&stray), Err(MessageError::Stray(1)));
        let mut lying = m.clone();
        lying[18..22].copy_from_slice(&100i32.to_be_bytes());
        assert_eq!(
            check_layout(&lying),
            Err(MessageError::Overrun {
                field: "key",
                len: 100
            })
        );
        assert!(matches!(
            key_value(&lying),
            Err(MessageError::Overrun { len: 100, .. })
        ));
    }

    #[test]
    fn messages_read_as_before() {
        let e = MessageError::Cut { size: 30, have: 4 };
        assert_eq!(e.to_string(), "message of 30 bytes cut after 4");
        let e = MessageError::NoLength("its value");
        assert_eq!(e.to_string(), "message ends before its value length");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn field() -> impl Strategy<Value = Option<Vec<u8>>> {
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))
        }

        proptest! {
                    #![proptest_config(ProptestConfig::with_cases(256))]

                    /// A message encoded by hand passes every check, whole, and its
                    /// key and value read back as they were (null stays null).
                    #[test]
                    fn a_message_round_trips(offset in 0i64..i64::MAX, key in field(), value in field()) {
                        let m = magic0(offset, key.as_deref(), value.as_deref());
                        prop_assert_eq!(check_message(&m, offset), Ok(m.len()));
                        prop_assert_eq!(check_layout(&m), Ok(()));
                        let (k, v) = key_value(&m).unwrap();
                        prop_assert_eq!(k.map(|r| m[r].to_vec()), key);
                        prop_assert_eq!(v.map(|r| m[r].to_vec()), value);
                    }

                    /// A message cut anywhere is refused, never read past its end.
                    #[test]
                    fn a_cut_message_is_refused(key in field(), value in field(), cut in any::<prop::sample::Index>()) {
                        let m = magic0(3, key.as_deref(), value.as_deref());
                        let at = cut.index(m.len());
        let refused = check_message(&m[..at], 3);
                        prop_assert!(
                            matches!(refused, Err(MessageError::NoHeader(_) | MessageError::Cut { .. })),
                            "cut at {}: {:?}", at, refused
                        );
                    }

                    /// One flipped bit in the offset, the CRC or what the CRC covers
                    /// is always caught (CRC-32 catches every single-bit error).
                    #[test]
                    fn a_flipped_bit_is_caught(
                        key in field(),
                        value in field(),
                        at in any::<prop::sample::Index>(),
                        bit in 0u8..8,
                    ) {
                        let mut m = magic0(3, key.as_deref(), value.as_deref());
                        let checked: Vec<usize> = (0..8).chain(12..m.len()).collect();
                        let pos = checked[at.index(checked.len())];
                        m[pos] ^= 1 << bit;
                        prop_assert!(check_message(&m, 3).is_err());
                    }

                    /// Arbitrary bytes never panic; what passes is a whole message
                    /// inside the data whose fields lie within it.
                    #[test]
                    fn arbitrary_bytes_are_checked_without_panic(
                        data in proptest::collection::vec(any::<u8>(), 0..128),
                        offset in any::<i64>(),
                    ) {
                        if let Ok(n) = check_message(&data, offset) {
                            prop_assert!(n <= data.len() && n >= LOG_OVERHEAD + MIN_MESSAGE_SIZE);
                            let (k, v) = key_value(&data[..n]).unwrap();
                            prop_assert!(k.into_iter().chain(v).all(|r| r.end <= n));
                        }
                        let _ = check_layout(&data);
                        let _ = key_value(&data);
                    }
                }
    }
}
