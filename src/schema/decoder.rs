//! The consumer's side: one message in, one event out, whatever its
//! format. A message that does not start with the magic byte is a plain
//! JSON event ([`crate::event::decode`]). One that does names its writer
//! schema by id: fetched from the registry once and cached (an unknown id
//! is asked again after [`RETRY_MISSING`]), then the datum is decoded with
//! the reader schema by Avro's resolution rules (`apache-avro`'s
//! `from_avro_datum`, or [`FastReader`] for the event's own schemas):
//! `--reader-schema FILE`, else the subject's latest
//! version when the worker first needs it, else the writer's own schema.
//!
//! A message that cannot be decoded is a [`DecodeError::Invalid`] (a poison
//! event: not JSON, an id the registry answers 404 for, a cut datum); one
//! that cannot be decoded *yet* because the registry is unreachable or
//! answers 5xx is a [`DecodeError::Unavailable`], which the worker waits
//! out: a transient fault is never a reason to skip an event.
//!
//! A [`Decoder`] holds a registry client and a cache: build it in the
//! worker, after the fork. It is `Sync` (the rayon pool shares it).

use anyhow::{Context as _, Result};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::Schema;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::client::{Client, RegistryError};
use super::fast::FastReader;
use super::{avro, split, value_subject, SchemaKind};
use crate::event::{self, Event};

/// How long an id the registry did not know stays unknown before it is asked again.
pub const RETRY_MISSING: Duration = Duration::from_secs(5);

/// Why a message gave no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// It is not a valid event, and asking again will not change that.
    #[error("{0}")]
    Invalid(String),
    /// The registry could not say (unreachable, timed out, 5xx): ask again later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<String> for DecodeError {
    fn from(why: String) -> Self {
        DecodeError::Invalid(why)
    }
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The event.
    pub event: Event,
    /// The writer's schema id (None: a plain JSON message).
    pub schema_id: Option<u32>,
    /// The record's `host` as the reader schema sees it (its default when the writer had none).
    pub host: Option<String>,
}

/// A writer schema, by id: for Avro, a datum reader built once (resolving
/// names costs more than decoding a small event).
enum Writer {
    /// A pair of the event's own schemas ([`FastReader`]).
    Fast(FastReader),
    Avro(GenericDatumReader<'static>),
    Json,
}

/// A cached answer of the registry.
enum Entry {
    Known(Arc<Writer>),
    Missing(Instant),
}

/// The reader schema. Schemas are leaked (`&'static`) so that the cached
/// datum readers can borrow them: one per schema id a worker meets.
enum Reader {
    /// `--reader-schema`.
    Fixed(&'static Schema),
    /// The subject's latest version, asked once (None: read with the writer's schema).
    Latest(String, OnceLock<Option<&'static Schema>>),
}

/// Decodes plain JSON and schema-framed messages; see the module.
pub struct Decoder {
    client: Option<Client>,
    reader: Reader,
    writers: Mutex<HashMap<u32, Entry>>,
}

impl Decoder {
    /// A decoder for `topic`'s messages; without `registry`, schema-framed
    /// messages are invalid. `reader_schema` is Avro JSON text.
    pub fn new(
        registry: Option<&str>,
        reader_schema: Option<&str>,
        topic: &str,
    ) -> Result<Decoder> {
        let client = registry.map(Client::new).transpose()?;
        let reader = match reader_schema {
            Some(text) => Reader::Fixed(leak(
                Schema::parse_str(text).context("the reader schema is not an Avro schema")?,
            )),
            None => Reader::Latest(value_subject(topic), OnceLock::new()),
        };
        Ok(Decoder {
            client,
            reader,
            writers: Mutex::new(HashMap::new()),
        })
    }

    /// Decodes one message; the error says why it is not a valid event, or
    /// that the registry cannot tell yet.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let Some((id, datum)) = split(bytes) else {
            let event = event::decode(bytes).map_err(|e| e.to_string())?;
            return Ok(Decoded {
                event,
                schema_id: None,
                host: None,
            });
        };
        let writer = self.writer(id)?;
        Ok(read_with(&writer, id, datum)?)
    }

    /// The writer schema `id`, from the cache or the registry.
    fn writer(&self, id: u32) -> Result<Arc<Writer>, DecodeError> {
        let Some(client) = &self.client else {
            return Err(DecodeError::Invalid(format!(
                "a message in the schema registry's wire format (schema id {id}): consume with --registry URL to decode it"
            )));
        };
        let mut cache = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(&id) {
            Some(Entry::Known(w)) => return Ok(w.clone()),
            Some(Entry::Missing(at)) if at.elapsed() < RETRY_MISSING => {
                return Err(DecodeError::Invalid(format!("unknown schema id {id}")))
            }
            _ => {}
        }
        let found = client.by_id(id).map_err(|e| registry_fault(&e))?;
        let Some(reg) = found else {
            cache.insert(id, Entry::Missing(Instant::now()));
            return Err(DecodeError::Invalid(format!("unknown schema id {id}")));
        };
        let writer = match reg.kind {
            SchemaKind::Json => Writer::Json,
            SchemaKind::Avro => {
                let schema = Schema::parse_str(&reg.schema)
                    .map_err(|e| format!("schema id {id} is not valid Avro: {e}"))?;
                let reader = self.reader_schema()?;
                if let Some(fast) = FastReader::new(&schema, reader) {
                    let writer = Arc::new(Writer::Fast(fast));
                    cache.insert(id, Entry::Known(writer.clone()));
                    return Ok(writer);
                }
                let reader = GenericDatumReader::builder(leak(schema))
                    .maybe_reader_schema(reader)
                    .build()
                    .map_err(|e| format!("schema id {id}: {e}"))?;
                Writer::Avro(reader)
            }
        };
        let writer = Arc::new(writer);
        cache.insert(id, Entry::Known(writer.clone()));
        Ok(writer)
    }

    /// The reader schema, if any. The subject's latest is asked once; a
    /// registry that cannot answer is asked again on the next message.
    fn reader_schema(&self) -> Result<Option<&'static Schema>, DecodeError> {
        let (subject, cell) = match &self.reader {
            Reader::Fixed(s) => return Ok(Some(*s)),
            Reader::Latest(subject, cell) => (subject, cell),
        };
        if let Some(known) = cell.get() {
            return Ok(*known);
        }
        let Some(client) = self.client.as_ref() else {
            return Ok(None);
        };
        let latest = match client.latest(subject) {
            Ok(Some(r)) if r.kind == SchemaKind::Avro => Schema::parse_str(&r.schema)
                .inspect_err(|e| log::warn!("{subject} latest is not Avro: {e}"))
                .ok()
                .map(leak),
            Ok(_) => None,
            Err(e) if e.is_transient() => return Err(registry_fault(&e)),
            Err(e) => {
                log::warn!(
                    "cannot read the latest {subject} ({e}): reading with each writer's schema"
                );
                None
            }
        };
        Ok(*cell.get_or_init(|| latest))
    }
}

/// A registry error while decoding: transient faults are waited out, any
/// other answer makes the message invalid.
fn registry_fault(e: &RegistryError) -> DecodeError {
    if e.is_transient() {
        DecodeError::Unavailable(e.to_string())
    } else {
        DecodeError::Invalid(e.to_string())
    }
}

/// Reads the datum of a message written with the writer schema `id`.
fn read_with(writer: &Writer, id: u32, datum: &[u8]) -> Result<Decoded, String> {
    let (event, host) = match writer {
        Writer::Json => (event::decode(datum).map_err(|e| e.to_string())?, None),
        Writer::Fast(f) => f.read(datum).map_err(|e| format!("schema id {id}: {e}"))?,
        Writer::Avro(reader) => {
            let mut rest = datum;
            let value = reader
                .read_value(&mut rest)
                .map_err(|e| format!("schema id {id}: cannot decode the Avro datum: {e}"))?;
            if !rest.is_empty() {
                return Err(format!(
                    "schema id {id}: {} bytes after the Avro datum",
                    rest.len()
                ));
            }
            avro::to_event(value).map_err(|e| format!("schema id {id}: {e}"))?
        }
    };
    Ok(Decoded {
        event,
        schema_id: Some(id),
        host,
    })
}

/// A schema that lives as long as the process (see [`Reader`]).
fn leak(schema: Schema) -> &'static Schema {
    Box::leak(Box::new(schema))
}

/// Reads `--reader-schema FILE` and checks that it is an Avro schema.
pub fn read_reader_schema(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the reader schema {}", path.display()))?;
    Schema::parse_str(&text)
        .with_context(|| format!("{} is not an Avro schema", path.display()))?;
    Ok(text)
}

/// Reads one Avro datum written with `writer` as `reader` sees it (Avro's
/// resolution rules): what `apache_avro::from_avro_datum` does, through
/// the reader type that replaces it.
pub fn read_datum(
    writer: &Schema,
    reader: Option<&Schema>,
    bytes: &mut &[u8],
) -> apache_avro::AvroResult<apache_avro::types::Value> {
    apache_avro::reader::datum::GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()?
        .read_value(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_json_needs_no_registry_and_framed_messages_do() {
        let d = Decoder::new(None, None, "t").unwrap();
        let e = Event {
            sender: 1,
            seq: 2,
            value: 3,
            ts_ms: 4,
        };
        let got = d.decode(&event::encode(&e, None)).unwrap();
        assert_eq!((got.event, got.schema_id, got.host), (e, None, None));
        let mut framed = Vec::new();
        super::super::put_header(7, &mut framed);
        framed.extend_from_slice(b"\x02\x04\x06\x08\x00");
        assert!(matches!(
            d.decode(&framed),
            Err(DecodeError::Invalid(why)) if why.contains("--registry")
        ));
        assert!(d.decode(b"\x00\x00").is_err());
    }

    #[test]
    fn a_registry_that_is_down_makes_framed_messages_wait_not_invalid() {
        // Nothing listens on port 1: the registry is unreachable.
        let d = Decoder::new(Some("http://127.0.0.1:1"), None, "t").unwrap();
        let mut framed = Vec::new();
        super::super::put_header(7, &mut framed);
        framed.extend_from_slice(b"\x02\x04\x06\x08\x00");
        assert!(matches!(
            d.decode(&framed),
            Err(DecodeError::Unavailable(_))
        ));
        // Asked again, not remembered as unknown.
        assert!(matches!(
            d.decode(&framed),
            Err(DecodeError::Unavailable(_))
        ));
        // Plain JSON needs no registry; garbage is invalid whatever the registry does.
        assert!(matches!(d.decode(b"nope"), Err(DecodeError::Invalid(_))));
    }

    #[test]
    fn a_bad_reader_schema_is_refused() {
        assert!(Decoder::new(None, Some("{"), "t").is_err());
    }
}
