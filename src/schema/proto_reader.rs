//! The consumer's side of Protobuf events: a message's bytes read as the
//! reader's message sees them. Protobuf resolves by field number: a field
//! the reader knows is read by its number, one it does not know is skipped,
//! one missing on the wire takes the reader's default. So the reader's
//! message descriptor is all it takes.
//!
//! When the reader's message is made only of the event's fields
//! ([`proto_writer::event_field`](super::proto_writer)), [`ProtoReader`]
//! walks the bytes itself with no allocation but the host; any other
//! message is decoded with `prost-reflect`'s `DynamicMessage` and the
//! event's fields are taken by name. The unit tests check that both give
//! the same answer, events and errors alike.

use prost_reflect::{DynamicMessage, MessageDescriptor, Value};

use super::avro::Field;
use super::proto::read_varint;
use super::proto_writer::{event_field, field_name, Encoding, Num};
use crate::event::Event;

/// Why a message is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not a message of the schema (cut short, a bad wire type, bad UTF-8, ...).
    #[error("cannot decode the Protobuf message: {0}")]
    Decode(String),
    /// The reader's message has no such event field.
    #[error("the Protobuf message has no field '{0}'")]
    Missing(&'static str),
    /// The event field is not of a type that holds it.
    #[error("the Protobuf field '{0}' is not of the event's type")]
    Type(&'static str),
    /// A sender above u32.
    #[error("sender {0} is out of range")]
    Sender(u64),
}

/// One event field of the reader's message, for the fast path.
#[derive(Debug, Clone)]
struct Slot {
    number: u32,
    field: Field,
    encoding: Encoding,
}

/// Reads messages as one reader message sees them; see the module.
#[derive(Debug, Clone)]
pub struct ProtoReader {
    message: MessageDescriptor,
    /// The fast path's plan, when the message allows it.
    fast: Option<Vec<Slot>>,
    /// The reader's defaults: sender, seq, value, ts_ms.
    defaults: [u64; 4],
    /// The reader's `host` default, when it has a `host`.
    host: Option<String>,
}

impl ProtoReader {
    /// A reader of `message`, on the fast path when it can be.
    pub fn new(message: MessageDescriptor) -> ProtoReader {
        let mut r = ProtoReader::dynamic(message);
        r.fast = plan(&r.message);
        r
    }

    /// A reader that always decodes with `DynamicMessage`.
    pub fn dynamic(message: MessageDescriptor) -> ProtoReader {
        let by_name = |n: &str| message.get_field_by_name(n);
        let default = |n: &str| by_name(n).map_or(0, |f| int_of(&f.default_value()).unwrap_or(0));
        let defaults = [
            default("sender"),
            default("seq"),
            default("value"),
            default("ts_ms"),
        ];
        let host = by_name("host").map(|f| text_of(&f.default_value()).unwrap_or_default());
        ProtoReader {
            message,
            fast: None,
            defaults,
            host,
        }
    }

    /// The reader's message.
    pub fn message(&self) -> &MessageDescriptor {
        &self.message
    }

    /// Whether it takes the fast path.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// Reads one message: the event, and its host as the reader sees it.
    pub fn read(&self, bytes: &[u8]) -> Result<(Event, Option<String>), ReadError> {
        let (v, host) = match &self.fast {
            Some(slots) => self.read_fast(slots, bytes)?,
            None => self.read_dynamic(bytes)?,
        };
        let sender = u32::try_from(v[0]).map_err(|_| ReadError::Sender(v[0]))?;
        let event = Event {
            sender,
            seq: v[1],
            value: v[2],
            ts_ms: v[3],
        };
        Ok((event, host))
    }

    fn read_fast(
        &self,
        slots: &[Slot],
        mut bytes: &[u8],
    ) -> Result<([u64; 4], Option<String>), ReadError> {
        let cut = || ReadError::Decode("the message ends early".into());
        let mut v = self.defaults;
        let mut host: Option<&[u8]> = None;
        while !bytes.is_empty() {
            let key = read_varint(&mut bytes).ok_or_else(cut)?;
            let (number, wire) = (key >> 3, (key & 7) as u32);
            if number == 0 || number > u64::from(u32::MAX >> 3) {
                return Err(ReadError::Decode(format!("field number {number}")));
            }
            let Some(s) = slots.iter().find(|s| u64::from(s.number) == number) else {
                skip(wire, &mut bytes)?;
                continue;
            };
            match s.encoding {
                Encoding::Int(n) if wire == n.wire_type() => {
                    let x = read_int(n, &mut bytes).ok_or_else(cut)?;
                    if let Some(i) = slot_index(s.field) {
                        v[i] = x;
                    }
                }
                Encoding::Text { utf8 } if wire == 2 => {
                    let t = read_len(&mut bytes)?;
                    if utf8 && std::str::from_utf8(t).is_err() {
                        return Err(ReadError::Decode(format!(
                            "{} is not UTF-8",
                            field_name(s.field)
                        )));
                    }
                    if s.field == Field::Host {
                        host = Some(t);
                    }
                }
                _ => {
                    return Err(ReadError::Decode(format!(
                        "field {number} has wire type {wire}"
                    )))
                }
            }
        }
        let host = match host {
            Some(h) => Some(String::from_utf8_lossy(h).into_owned()),
            None => self.host.clone(),
        };
        Ok((v, host))
    }

    fn read_dynamic(&self, bytes: &[u8]) -> Result<([u64; 4], Option<String>), ReadError> {
        let msg = DynamicMessage::decode(self.message.clone(), bytes)
            .map_err(|e| ReadError::Decode(e.to_string()))?;
        let mut v = [0u64; 4];
        for (i, name) in ["sender", "seq", "value", "ts_ms"].into_iter().enumerate() {
            let value = msg
                .get_field_by_name(name)
                .ok_or(ReadError::Missing(name))?;
            v[i] = int_of(&value).ok_or(ReadError::Type(name))?;
        }
        let host = match msg.get_field_by_name("host") {
            Some(h) => Some(text_of(&h).ok_or(ReadError::Type("host"))?),
            None => None,
        };
        Ok((v, host))
    }
}

/// The fast path's plan for `m`: every field one of the event's (sender,
/// seq, value and ts_ms present), none in a oneof; None otherwise.
fn plan(m: &MessageDescriptor) -> Option<Vec<Slot>> {
    let mut slots = Vec::new();
    for f in m.fields() {
        if f.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
            return None;
        }
        let (field, encoding) = event_field(&f).ok()?;
        slots.push(Slot {
            number: f.number(),
            field,
            encoding,
        });
    }
    let has = |x: Field| slots.iter().any(|s| s.field == x);
    [Field::Sender, Field::Seq, Field::Value, Field::TsMs]
        .into_iter()
        .all(has)
        .then_some(slots)
}

fn slot_index(f: Field) -> Option<usize> {
    match f {
        Field::Sender => Some(0),
        Field::Seq => Some(1),
        Field::Value => Some(2),
        Field::TsMs => Some(3),
        Field::Pad | Field::Host => None,
    }
}

/// An integer value as the event's u64 (signed values keep their bits).
fn int_of(v: &Value) -> Option<u64> {
    Some(match v {
        Value::U32(x) => u64::from(*x),
        Value::U64(x) => *x,
        Value::I32(x) => i64::from(*x) as u64,
        Value::I64(x) => *x as u64,
        _ => return None,
    })
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Reads an integer written as `n`.
fn read_int(n: Num, bytes: &mut &[u8]) -> Option<u64> {
    let fixed = |bytes: &mut &[u8], k: usize| -> Option<u64> {
        if bytes.len() < k {
            return None;
        }
        let (b, rest) = bytes.split_at(k);
        *bytes = rest;
        let mut buf = [0u8; 8];
        buf[..k].copy_from_slice(b);
        Some(u64::from_le_bytes(buf))
    };
    Some(match n {
        Num::U32 => u64::from(read_varint(bytes)? as u32),
        Num::I32 => i64::from(read_varint(bytes)? as i32) as u64,
        Num::V64 => read_varint(bytes)?,
        Num::S32 => {
            let z = read_varint(bytes)? as u32;
            i64::from((z >> 1) as i32 ^ -((z & 1) as i32)) as u64
        }
        Num::S64 => {
            let z = read_varint(bytes)?;
            ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
        }
        Num::F32 => fixed(bytes, 4)?,
        Num::F64 => fixed(bytes, 8)?,
    })
}

/// Reads a length-delimited value.
fn read_len<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], ReadError> {
    let cut = || ReadError::Decode("the message ends early".into());
    let n = read_varint(bytes).ok_or_else(cut)?;
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n <= bytes.len())
        .ok_or_else(cut)?;
    let (v, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(v)
}

/// Skips a field the reader does not know, by its wire type.
fn skip(wire: u32, bytes: &mut &[u8]) -> Result<(), ReadError> {
    let cut = || ReadError::Decode("the message ends early".into());
    match wire {
        0 => {
            read_varint(bytes).ok_or_else(cut)?;
        }
        1 | 5 => {
            let k = if wire == 1 { 8 } else { 4 };
            if bytes.len() < k {
                return Err(cut());
            }
            *bytes = &bytes[k..];
        }
        2 => {
            read_len(bytes)?;
        }
        3 => {
            // A group: fields up to its end-group key.
            loop {
                let key = read_varint(bytes).ok_or_else(cut)?;
                if key & 7 == 4 {
                    return Ok(());
                }
                skip((key & 7) as u32, bytes)?;
            }
        }
        w => return Err(ReadError::Decode(format!("wire type {w}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::proto::{compile, first_message, EVENT_PROTO_V1, EVENT_PROTO_V2};
    use crate::schema::proto_writer::ProtoWriter;

    fn message(text: &str) -> MessageDescriptor {
        first_message(&compile(text, &[]).unwrap()).unwrap()
    }

    fn agree(
        reader: &MessageDescriptor,
        bytes: &[u8],
    ) -> Result<(Event, Option<String>), ReadError> {
        let fast = ProtoReader::new(reader.clone());
        assert!(fast.is_fast());
        let slow = ProtoReader::dynamic(reader.clone());
        let (a, b) = (fast.read(bytes), slow.read(bytes));
        assert_eq!(a.is_ok(), b.is_ok(), "{bytes:?}: {a:?} / {b:?}");
        if let (Ok(a), Ok(b)) = (&a, &b) {
            assert_eq!(a, b, "{bytes:?}");
        }
        a
    }

    #[test]
    fn agrees_with_prost_reflect_on_events_and_damaged_messages() {
        let (v1, v2) = (message(EVENT_PROTO_V1), message(EVENT_PROTO_V2));
        let e = Event {
            sender: 7,
            seq: 123_456,
            value: 42,
            ts_ms: 1_763_700_000_123,
        };
        let mut cases = 0;
        for (writer, size) in [
            (EVENT_PROTO_V1, None),
            (EVENT_PROTO_V1, Some(60)),
            (EVENT_PROTO_V2, None),
        ] {
            let mut good = Vec::new();
            ProtoWriter::new(writer, "vm-1")
                .unwrap()
                .encode_into(&e, size, &mut good);
            let mut variants = vec![
                good[..good.len() - 1].to_vec(),
                [good.as_slice(), b"\x00"].concat(),
            ];
            variants.extend((0..good.len()).map(|i| {
                let mut b = good.clone();
                b[i] ^= 0xff;
                b
            }));
            for reader in [&v1, &v2] {
                let (got, host) = agree(reader, &good).unwrap();
                assert_eq!(got, e);
                let want_host = match (reader == &v2, writer == EVENT_PROTO_V2) {
                    (false, _) => None,
                    (true, true) => Some("vm-1".to_string()),
                    (true, false) => Some(String::new()),
                };
                assert_eq!(host, want_host);
                for b in &variants {
                    cases += usize::from(agree(reader, b).is_err());
                }
            }
        }
        assert!(cases >= 10, "{cases} damaged messages refused");
    }

    #[test]
    fn fields_are_matched_by_number_and_defaults_fill_the_rest() {
        // A reader that renamed nothing but numbers its fields its own way
        // reads by number: a proto2 reader with a default for host.
        let reader = message(
            r#"syntax = "proto2"; message Event {
            optional uint32 sender = 1; optional uint64 seq = 2; optional uint64 value = 3;
            optional uint64 ts_ms = 4; optional string host = 6 [default = "unknown"]; }"#,
        );
        let mut bytes = Vec::new();
        let e = Event {
            sender: 1,
            seq: 2,
            value: 3,
            ts_ms: 4,
        };
        ProtoWriter::new(EVENT_PROTO_V1, "")
            .unwrap()
            .encode_into(&e, Some(50), &mut bytes);
        assert_eq!(agree(&reader, &bytes).unwrap(), (e, Some("unknown".into())));
        // Other fields take the dynamic path, and still read the event.
        let wide = message(
            "syntax = \"proto3\"; message E { uint32 sender = 1; uint64 seq = 2; \
                            uint64 value = 3; uint64 ts_ms = 4; repeated string tags = 7; }",
        );
        let r = ProtoReader::new(wide);
        assert!(!r.is_fast());
        assert_eq!(r.read(&bytes).unwrap(), (e, None));
        let no_value = message("syntax = \"proto3\"; message E { uint32 sender = 1; uint64 seq = 2; uint64 ts_ms = 4; }");
        assert_eq!(
            ProtoReader::new(no_value).read(&bytes).unwrap_err(),
            ReadError::Missing("value")
        );
        // A sender beyond u32 written by a wider writer.
        let wide_sender = message("syntax = \"proto3\"; message E { uint64 sender = 1; uint64 seq = 2; uint64 value = 3; uint64 ts_ms = 4; }");
        let too_big = [0x08, 0x80, 0x80, 0x80, 0x80, 0x10];
        assert_eq!(
            agree(&wide_sender, &too_big).unwrap_err(),
            ReadError::Sender(1 << 32)
        );
    }
}
