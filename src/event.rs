//! The JSON event: one object per Kafka message.
//!
//! ```json
//! {"sender":3,"seq":1042,"value":57,"ts_ms":1763700000123}
//! ```
//!
//! `sender` and `seq` identify an event (loss and duplication are checked on
//! them), `value` is what processors work on and `ts_ms` (milliseconds since
//! the Unix epoch) gives end-to-end latency. An optional `pad` string of `x`
//! brings a message up to a requested size for benchmarks.
//!
//! Encoding is a hand-rolled writer for this fixed shape (the producer's hot
//! path: no allocation, integers through `itoa`); the output is exactly what
//! serde_json would write for the same [`Event`]. Decoding is real, strict
//! JSON through serde_json: a single object with exactly these fields, each of
//! the right type, nothing unknown, duplicated or trailing. The consumer's hot
//! path first tries the exact layout the encoder writes (a byte scan, no
//! allocation) and hands anything else to serde_json, so both accept exactly
//! the same messages.

use serde::{Deserialize, Serialize};

/// The name of the optional padding field.
pub const PAD_FIELD: &str = "pad";

/// One event, as carried by one Kafka message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The sending thread (0-based).
    pub sender: u32,
    /// The event's number within its sender, from 0.
    pub seq: u64,
    /// The payload processors work on.
    pub value: u64,
    /// Creation time, milliseconds since the Unix epoch.
    pub ts_ms: u64,
}

/// Why a message is not a valid event.
#[derive(Debug, thiserror::Error)]
#[error("not a valid event: {0}")]
pub struct InvalidEvent(#[from] serde_json::Error);

/// The wire shape decoded by [`decode`]: the four fields plus optional padding.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    sender: u32,
    seq: u64,
    value: u64,
    ts_ms: u64,
    #[serde(borrow, default)]
    pad: Option<std::borrow::Cow<'a, str>>,
}

/// Decodes and validates one message: a JSON object with exactly `sender`,
/// `seq`, `value`, `ts_ms` (non-negative integers; `sender` fits in u32) and
/// optionally `pad` (a string). Anything else is an [`InvalidEvent`].
pub fn decode(bytes: &[u8]) -> Result<Event, InvalidEvent> {
    if let Some(e) = decode_canonical(bytes) {
        return Ok(e);
    }
    let w: Wire<'_> = serde_json::from_slice(bytes)?;
    let _ = w.pad;
    Ok(Event {
        sender: w.sender,
        seq: w.seq,
        value: w.value,
        ts_ms: w.ts_ms,
    })
}

/// The event in `bytes` if they are exactly what [`encode_into`] writes
/// (`{"sender":S,"seq":Q,"value":V,"ts_ms":T}`, optionally with
/// `,"pad":"xx..."` before the brace); `None` for anything else, valid or
/// not, which [`decode`] then gives to serde_json.
fn decode_canonical(bytes: &[u8]) -> Option<Event> {
    let mut rest = bytes.strip_prefix(br#"{"sender":"#)?;
    let sender = u32::try_from(number(&mut rest)?).ok()?;
    rest = rest.strip_prefix(br#","seq":"#)?;
    let seq = number(&mut rest)?;
    rest = rest.strip_prefix(br#","value":"#)?;
    let value = number(&mut rest)?;
    rest = rest.strip_prefix(br#","ts_ms":"#)?;
    let ts_ms = number(&mut rest)?;
    if let Some(pad) = rest.strip_prefix(br#","pad":""#) {
        let end = pad.iter().position(|b| *b != b'x')?;
        rest = pad[end..].strip_prefix(b"\"")?;
    }
    (rest == b"}").then_some(Event {
        sender,
        seq,
        value,
        ts_ms,
    })
}

/// A JSON non-negative integer that fits in u64 at the start of `rest`
/// (no leading zero, no sign, fraction or exponent), consumed from it.
fn number(rest: &mut &[u8]) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &rest[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    *rest = &rest[digits..];
    // A fraction or an exponent makes it a float: serde_json's call.
    match rest.first() {
        Some(b'.' | b'e' | b'E') => None,
        _ => Some(n),
    }
}

/// Length in bytes of `{"sender":S,"seq":Q,"value":V,"ts_ms":T}` without padding.
pub fn unpadded_len(e: &Event) -> usize {
    // {"sender": , "seq": , "value": , "ts_ms": }
    const FIXED: usize = r#"{"sender":,"seq":,"value":,"ts_ms":}"#.len();
    FIXED + digits(e.sender as u64) + digits(e.seq) + digits(e.value) + digits(e.ts_ms)
}

/// Bytes the padding field adds around its content: `,"pad":""`.
pub const PAD_OVERHEAD: usize = r#","pad":"""#.len();

/// The smallest `--size` that every event with fields up to these bounds can
/// be padded to exactly (the unpadded event plus an empty `pad` field).
pub fn min_padded_size(max_sender: u32, max_seq: u64, max_value: u64) -> usize {
    let widest = Event {
        sender: max_sender,
        seq: max_seq,
        value: max_value,
        ts_ms: 9_999_999_999_999, // 13 digits: until the year 2286
    };
    unpadded_len(&widest) + PAD_OVERHEAD
}

/// Appends the JSON of `e` to `out`. With `size = Some(n)` a `pad` field of
/// `x` brings the message to exactly `n` bytes when it fits (an event that is
/// already larger is written unpadded rather than truncated).
pub fn encode_into(e: &Event, size: Option<usize>, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(br#"{"sender":"#);
    out.extend_from_slice(buf.format(e.sender).as_bytes());
    out.extend_from_slice(br#","seq":"#);
    out.extend_from_slice(buf.format(e.seq).as_bytes());
    out.extend_from_slice(br#","value":"#);
    out.extend_from_slice(buf.format(e.value).as_bytes());
    out.extend_from_slice(br#","ts_ms":"#);
    out.extend_from_slice(buf.format(e.ts_ms).as_bytes());
    if let Some(size) = size {
        let len = unpadded_len(e);
        if size >= len + PAD_OVERHEAD {
            let n = size - len - PAD_OVERHEAD;
            out.extend_from_slice(br#","pad":""#);
            out.resize(out.len() + n, b'x');
            out.push(b'"');
        }
    }
    out.push(b'}');
}

/// The JSON of `e` as a new vector (see [`encode_into`]).
pub fn encode(e: &Event, size: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(size.unwrap_or(64));
    encode_into(e, size, &mut out);
    out
}

fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Event = Event {
        sender: 3,
        seq: 1042,
        value: 57,
        ts_ms: 1_763_700_000_123,
    };

    #[test]
    fn encodes_the_design_example_like_serde_json() {
        let bytes = encode(&E, None);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"sender":3,"seq":1042,"value":57,"ts_ms":1763700000123}"#
        );
        assert_eq!(bytes, serde_json::to_vec(&E).unwrap());
        assert_eq!(bytes.len(), unpadded_len(&E));
    }

    #[test]
    fn round_trips_including_extremes() {
        for e in [
            E,
            Event {
                sender: 0,
                seq: 0,
                value: 0,
                ts_ms: 0,
            },
            Event {
                sender: u32::MAX,
                seq: u64::MAX,
                value: u64::MAX,
                ts_ms: u64::MAX,
            },
        ] {
            assert_eq!(decode(&encode(&e, None)).unwrap(), e);
            assert_eq!(decode(&encode(&e, Some(200))).unwrap(), e);
        }
    }

    #[test]
    fn pads_to_the_exact_size() {
        for size in [unpadded_len(&E) + PAD_OVERHEAD, 100, 1000] {
            let bytes = encode(&E, Some(size));
            assert_eq!(bytes.len(), size);
            assert_eq!(decode(&bytes).unwrap(), E);
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap();
        }
        // Too small to pad: written whole, never truncated.
        assert_eq!(encode(&E, Some(10)), encode(&E, None));
    }

    #[test]
    fn min_padded_size_fits_every_event_within_bounds() {
        let min = min_padded_size(3, 24_999, 100);
        let widest = Event {
            sender: 3,
            seq: 24_999,
            value: 100,
            ts_ms: 1_763_700_000_123,
        };
        assert_eq!(encode(&widest, Some(min)).len(), min);
    }

    /// What serde_json alone makes of `bytes`.
    fn by_serde(bytes: &[u8]) -> Option<Event> {
        let w: Wire<'_> = serde_json::from_slice(bytes).ok()?;
        Some(Event {
            sender: w.sender,
            seq: w.seq,
            value: w.value,
            ts_ms: w.ts_ms,
        })
    }

    #[test]
    fn the_fast_path_agrees_with_serde_json() {
        let mut cases: Vec<Vec<u8>> = vec![
            encode(&E, None),
            encode(&E, Some(200)),
            encode(&E, Some(unpadded_len(&E) + PAD_OVERHEAD)),
        ];
        for text in [
            r#"{"sender":4294967295,"seq":18446744073709551615,"value":0,"ts_ms":0}"#,
            r#"{"sender":4294967296,"seq":1,"value":0,"ts_ms":0}"#,
            r#"{"sender":1,"seq":18446744073709551616,"value":0,"ts_ms":0}"#,
            r#"{"sender":01,"seq":1,"value":0,"ts_ms":0}"#,
            r#"{"sender":1,"seq":1.0,"value":0,"ts_ms":0}"#,
            r#"{"sender":1,"seq":1e3,"value":0,"ts_ms":0}"#,
            r#"{"sender":1,"seq":-1,"value":0,"ts_ms":0}"#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":0,"pad":"xxy"}"#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":0,"pad":"x"x"}"#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":0,"pad":""}"#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":0} "#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":0}}"#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":0,"seq":2}"#,
            r#"{"sender":1,"seq":1,"value":0}"#,
            r#"{"sender":1,"seq":1,"value":0,"ts_ms":}"#,
            r#"{"seq":1,"sender":1,"value":0,"ts_ms":0}"#,
        ] {
            cases.push(text.as_bytes().to_vec());
        }
        for c in &cases {
            let fast = decode_canonical(c);
            if let Some(e) = fast {
                assert_eq!(Some(e), by_serde(c), "{}", String::from_utf8_lossy(c));
            }
            assert_eq!(
                decode(c).ok(),
                by_serde(c),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        assert!(decode_canonical(&encode(&E, Some(200))).is_some());
    }

    #[test]
    fn rejects_what_is_not_exactly_an_event() {
        let bad: &[&str] = &[
            "",
            "null",
            "[]",
            "not json",
            r#"{"sender":3,"seq":1,"value":5}"#,
            r#"{"sender":3,"seq":1,"value":5,"ts_ms":1,"extra":1}"#,
            r#"{"sender":"3","seq":1,"value":5,"ts_ms":1}"#,
            r#"{"sender":-1,"seq":1,"value":5,"ts_ms":1}"#,
            r#"{"sender":4294967296,"seq":1,"value":5,"ts_ms":1}"#,
            r#"{"sender":3,"seq":1.5,"value":5,"ts_ms":1}"#,
            r#"{"sender":3,"seq":1,"value":5,"ts_ms":1,"pad":7}"#,
            r#"{"sender":3,"sender":3,"seq":1,"value":5,"ts_ms":1}"#,
            r#"{"sender":3,"seq":1,"value":5,"ts_ms":1} x"#,
            r#"{"sender":3,"seq":1,"value":5,"ts_ms":1"#,
        ];
        for b in bad {
            assert!(decode(b.as_bytes()).is_err(), "accepted {b:?}");
        }
        // Whitespace and field order are JSON's business, not ours.
        let ok = r#" { "ts_ms":1, "value":5, "seq":1, "sender":3, "pad":"\u0078" } "#;
        assert_eq!(
            decode(ok.as_bytes()).unwrap(),
            Event {
                sender: 3,
                seq: 1,
                value: 5,
                ts_ms: 1
            }
        );
    }
}
