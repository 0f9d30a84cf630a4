//! The consumer's fast path for the event's own schemas. When the writer
//! and the reader schema are records of the same name made only of the
//! event's fields (`sender`, `seq`, `value`, `ts_ms` as `long`, `pad`,
//! `host`), Avro's resolution rules come down to: read the writer's fields
//! in its order, keep what the reader has, and take the reader's default
//! for `host` when the writer has none. [`FastReader`] does exactly that on
//! the bytes, with no allocation but the host; any other pair of schemas
//! goes through `apache-avro`'s resolving reader. The unit tests check that
//! both give the same answer, events and errors alike.

use apache_avro::schema::RecordSchema;
use apache_avro::Schema;

use super::avro::{field_kind, AvroError, Field};
use crate::event::Event;

/// Where the reader's `host` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// The reader has no `host`.
    Absent,
    /// The writer's.
    Written,
    /// The reader's default (the writer has none).
    Default(String),
}

/// A resolution plan for one (writer, reader) pair of the event's schemas.
#[derive(Debug, Clone)]
pub struct FastReader {
    writer: Vec<(Field, bool)>,
    host: Host,
}

impl FastReader {
    /// The plan for `writer` read as `reader` (None: as itself), or None when
    /// the pair is not one this path covers.
    pub fn new(writer: &Schema, reader: Option<&Schema>) -> Option<FastReader> {
        let (Schema::Record(w), Schema::Record(r)) = (writer, reader.unwrap_or(writer)) else {
            return None;
        };
        if w.name != r.name {
            return None;
        }
        let (wk, rk) = (kinds(w)?, kinds(r)?);
        let in_writer = |k: Field| wk.iter().find(|(f, _)| *f == k).map(|(_, s)| *s);
        let mut host = Host::Absent;
        for (i, (k, schema)) in rk.iter().enumerate() {
            match (in_writer(*k), k) {
                (Some(ws), _) if ws == *schema => {
                    if *k == Field::Host {
                        host = Host::Written;
                    }
                }
                (None, Field::Host) => match &r.fields[i].default {
                    Some(serde_json::Value::String(d)) => host = Host::Default(d.clone()),
                    _ => return None,
                },
                (None, Field::Pad) if r.fields[i].default.is_some() => {}
                _ => return None,
            }
        }
        for needed in [Field::Sender, Field::Seq, Field::Value, Field::TsMs] {
            in_writer(needed)?;
            rk.iter().find(|(f, _)| *f == needed)?;
        }
        let writer = wk
            .iter()
            .map(|(k, s)| (*k, matches!(s, Schema::String)))
            .collect();
        Some(FastReader { writer, host })
    }

    /// Reads one datum: the event, and its host as the reader sees it.
    pub fn read(&self, mut bytes: &[u8]) -> Result<(Event, Option<String>), AvroError> {
        let mut v = [0i64; 4];
        let mut host = None;
        for (field, utf8) in &self.writer {
            match field {
                Field::Sender => v[0] = read_long(&mut bytes)?,
                Field::Seq => v[1] = read_long(&mut bytes)?,
                Field::Value => v[2] = read_long(&mut bytes)?,
                Field::TsMs => v[3] = read_long(&mut bytes)?,
                Field::Pad | Field::Host => {
                    let s = read_bytes(&mut bytes)?;
                    if *utf8 && std::str::from_utf8(s).is_err() {
                        return Err(AvroError::NotUtf8(field.name()));
                    }
                    if *field == Field::Host && self.host == Host::Written {
                        host = Some(String::from_utf8_lossy(s).into_owned());
                    }
                }
            }
        }
        if !bytes.is_empty() {
            return Err(AvroError::Trailing(bytes.len()));
        }
        if let Host::Default(d) = &self.host {
            host = Some(d.clone());
        }
        let sender = u32::try_from(v[0]).map_err(|_| AvroError::SenderRange(v[0]))?;
        let event = Event {
            sender,
            seq: v[1] as u64,
            value: v[2] as u64,
            ts_ms: v[3] as u64,
        };
        Ok((event, host))
    }
}

/// A record's fields as the event's fields, with their types (None: some
/// field is not one of the event's).
fn kinds(rec: &RecordSchema) -> Option<Vec<(Field, &Schema)>> {
    rec.fields
        .iter()
        .map(|f| field_kind(&f.name, &f.schema).ok().map(|k| (k, &f.schema)))
        .collect()
}

/// Reads an Avro `long` (zig-zag varint, at most 10 bytes).
fn read_long(bytes: &mut &[u8]) -> Result<i64, AvroError> {
    let mut z = 0u64;
    for i in 0..10 {
        let (&b, rest) = bytes.split_first().ok_or(AvroError::Truncated)?;
        *bytes = rest;
        z |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    Err(AvroError::LongTooLong)
}

/// Reads Avro `bytes` or `string`: a length, then that many bytes.
fn read_bytes<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], AvroError> {
    let n = read_long(bytes)?;
    let n = usize::try_from(n).map_err(|_| AvroError::NegativeLength(n))?;
    if n > bytes.len() {
        return Err(AvroError::Truncated);
    }
    let (s, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::avro::{to_event, Writer};
    use crate::schema::decoder::read_datum;
    use crate::schema::{EVENT_V1, EVENT_V2, EVENT_V3};

    fn general(w: &Schema, r: Option<&Schema>, b: &[u8]) -> Result<(Event, Option<String>), ()> {
        let mut rest = b;
        let v = read_datum(w, r, &mut rest).map_err(|_| ())?;
        if !rest.is_empty() {
            return Err(());
        }
        to_event(v).map_err(|_| ())
    }

    #[test]
    fn agrees_with_apache_avro_on_events_and_damaged_datums() {
        let v1 = Schema::parse_str(EVENT_V1).unwrap();
        let v2 = Schema::parse_str(EVENT_V2).unwrap();
        let e = Event {
            sender: 7,
            seq: 123_456,
            value: 42,
            ts_ms: 1_763_700_000_123,
        };
        let mut datums = Vec::new();
        for (text, size) in [(EVENT_V1, None), (EVENT_V1, Some(90)), (EVENT_V2, None)] {
            let mut out = Vec::new();
            Writer::new(text, "vm-1")
                .unwrap()
                .encode_into(&e, size, &mut out);
            datums.push((text == EVENT_V1, out));
        }
        let mut cases = 0;
        for (written_v1, good) in &datums {
            let w = if *written_v1 { &v1 } else { &v2 };
            let mut variants = vec![
                good.clone(),
                good[..good.len() - 1].to_vec(),
                [good.as_slice(), b"\x00"].concat(),
            ];
            variants.extend((0..good.len()).map(|i| {
                let mut b = good.clone();
                b[i] ^= 0xff;
                b
            }));
            for reader in [None, Some(&v1), Some(&v2)] {
                let fast =
                    FastReader::new(w, reader).expect("the event's schemas take the fast path");
                assert_eq!(fast.read(good).map_err(|_| ()), general(w, reader, good));
                for b in &variants {
                    // What the fast path accepts, apache-avro reads alike. It
                    // refuses a little more: apache-avro 0.22 reads a string
                    // whose length overruns the datum as null.
                    if let Ok(got) = fast.read(b) {
                        assert_eq!(Ok(got), general(w, reader, b), "{b:?}");
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases >= 5, "{cases} damaged datums still read");
        let got = FastReader::new(&v1, Some(&v2))
            .unwrap()
            .read(&datums[0].1)
            .unwrap();
        assert_eq!(got, (e, Some("unknown".into())));
    }

    #[test]
    fn other_pairs_take_the_general_path() {
        let v1 = Schema::parse_str(EVENT_V1).unwrap();
        let v3 = Schema::parse_str(EVENT_V3).unwrap();
        assert!(FastReader::new(&v1, Some(&v3)).is_none());
        let renamed = EVENT_V1.replace("\"Event\"", "\"Other\"");
        assert!(FastReader::new(&v1, Some(&Schema::parse_str(&renamed).unwrap())).is_none());
        let no_default = EVENT_V1.replace(
            r#"{"name":"pad","type":"string","default":""}"#,
            r#"{"name":"host","type":"string"}"#,
        );
        assert!(FastReader::new(&v1, Some(&Schema::parse_str(&no_default).unwrap())).is_none());
    }
}
