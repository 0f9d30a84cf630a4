//! The consumer's side: one message in, one event out, whatever its
//! format. A message that does not start with the magic byte is a plain
//! JSON event ([`crate::event::decode`]). One that does names its writer
//! schema by id: fetched from the registry once and cached (an unknown id
//! is asked again after [`RETRY_MISSING`]), with the schemas it references
//! for Protobuf. The reader schema is `--reader-schema FILE` (Avro JSON or
//! `.proto`), else the subject's latest version when the worker first needs
//! it, else the writer's own schema; it applies to writers of its kind.
//! An Avro datum is decoded by Avro's resolution rules (`apache-avro`'s
//! resolving reader, or [`FastReader`] for the event's own schemas); a
//! Protobuf message (after its message indexes) as the reader's message of
//! the same name sees it (else the reader's first message), fields matched
//! by number ([`ProtoReader`]).
//!
//! A message that cannot be decoded is a [`DecodeError::Invalid`] (a poison
//! event: not JSON, an id the registry answers 404 for, a cut datum, an
//! unknown message index); one
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

use super::client::{Client, Registered, RegistryError};
use super::fast::FastReader;
use super::proto::{self, ProtoError};
use super::proto_reader::{ProtoReader, ReadError};
use super::{avro, split, value_subject, SchemaKind};
use crate::event::{self, Event};
use prost_reflect::{FileDescriptor, MessageDescriptor};

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

impl From<ProtoError> for DecodeError {
    fn from(e: ProtoError) -> Self {
        DecodeError::Invalid(e.to_string())
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
    /// A Protobuf schema: its file (to find the message an index names),
    /// the reader schema's file if any, and the reader of message [0].
    Proto {
        file: FileDescriptor,
        reader: Option<FileDescriptor>,
        first: Option<ProtoReader>,
    },
}

/// A cached answer of the registry.
enum Entry {
    Known(Arc<Writer>),
    Missing(Instant),
}

/// A reader schema. Avro schemas are leaked (`&'static`) so that the
/// cached datum readers can borrow them: one per schema id a worker meets.
#[derive(Clone)]
enum ReaderSchema {
    Avro(&'static Schema),
    Proto(FileDescriptor),
}

/// The reader schema.
enum Reader {
    /// `--reader-schema`.
    Fixed(ReaderSchema),
    /// The subject's latest version, asked once (None: read with the writer's schema).
    Latest(String, OnceLock<Option<ReaderSchema>>),
}

/// Decodes plain JSON and schema-framed messages; see the module.
pub struct Decoder {
    client: Option<Client>,
    reader: Reader,
    writers: Mutex<HashMap<u32, Entry>>,
}

impl Decoder {
    /// A decoder for `topic`'s messages; without `registry`, schema-framed
    /// messages are invalid. `reader_schema` is Avro JSON or `.proto` text.
    pub fn new(
        registry: Option<&str>,
        reader_schema: Option<&str>,
        topic: &str,
    ) -> Result<Decoder> {
        let client = registry.map(Client::new).transpose()?;
        let reader = match reader_schema {
            Some(text) => Reader::Fixed(parse_reader(text)?),
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
        read_with(&writer, id, datum)
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
            SchemaKind::Protobuf => {
                let file = compile_registered(client, &reg)
                    .map_err(|e| e.about(&format!("schema id {id}")))?;
                let reader = match self.reader_schema()? {
                    Some(ReaderSchema::Proto(f)) => Some(f),
                    _ => None,
                };
                let first = proto::message_at(&file, &[0])
                    .ok()
                    .map(|w| ProtoReader::new(reader_message(reader.as_ref(), &w)));
                Writer::Proto {
                    file,
                    reader,
                    first,
                }
            }
            SchemaKind::Avro => {
                let schema = Schema::parse_str(&reg.schema)
                    .map_err(|e| format!("schema id {id} is not valid Avro: {e}"))?;
                let reader = match self.reader_schema()? {
                    Some(ReaderSchema::Avro(s)) => Some(s),
                    _ => None,
                };
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
    fn reader_schema(&self) -> Result<Option<ReaderSchema>, DecodeError> {
        let (subject, cell) = match &self.reader {
            Reader::Fixed(s) => return Ok(Some(s.clone())),
            Reader::Latest(subject, cell) => (subject, cell),
        };
        if let Some(known) = cell.get() {
            return Ok(known.clone());
        }
        let Some(client) = self.client.as_ref() else {
            return Ok(None);
        };
        let latest = match client.latest(subject) {
            Ok(Some(r)) => match r.kind {
                SchemaKind::Avro => Schema::parse_str(&r.schema)
                    .inspect_err(|e| log::warn!("{subject} latest is not Avro: {e}"))
                    .ok()
                    .map(|s| ReaderSchema::Avro(leak(s))),
                SchemaKind::Protobuf => match compile_registered(client, &r) {
                    Ok(f) => Some(ReaderSchema::Proto(f)),
                    Err(DecodeError::Unavailable(why)) => {
                        return Err(DecodeError::Unavailable(why))
                    }
                    Err(e) => {
                        log::warn!("{subject} latest: {e}: reading with each writer's schema");
                        None
                    }
                },
                SchemaKind::Json => None,
            },
            Ok(None) => None,
            Err(e) if e.is_transient() => return Err(registry_fault(&e)),
            Err(e) => {
                log::warn!(
                    "cannot read the latest {subject} ({e}): reading with each writer's schema"
                );
                None
            }
        };
        Ok(cell.get_or_init(|| latest).clone())
    }
}

/// Compiles a registered Protobuf schema with the schemas it references
/// (fetched from the registry).
fn compile_registered(client: &Client, reg: &Registered) -> Result<FileDescriptor, DecodeError> {
    let deps = client
        .sources(&reg.references)
        .map_err(|e| registry_fault(&e))?;
    Ok(proto::compile(&reg.schema, &deps)?)
}

/// The message a reader schema reads `writer` messages as: its message of
/// the same full name, else its first message; the writer's own without one.
fn reader_message(
    reader: Option<&FileDescriptor>,
    writer: &MessageDescriptor,
) -> MessageDescriptor {
    let Some(file) = reader else {
        return writer.clone();
    };
    file.parent_pool()
        .get_message_by_name(writer.full_name())
        .filter(|m| m.parent_file() == *file)
        .or_else(|| proto::first_message(file).ok())
        .unwrap_or_else(|| writer.clone())
}

impl DecodeError {
    /// The same error, saying what it was about.
    fn about(self, what: &str) -> DecodeError {
        match self {
            DecodeError::Invalid(why) => DecodeError::Invalid(format!("{what}: {why}")),
            DecodeError::Unavailable(why) => DecodeError::Unavailable(format!("{what}: {why}")),
        }
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
fn read_with(writer: &Writer, id: u32, datum: &[u8]) -> Result<Decoded, DecodeError> {
    let (event, host) = match writer {
        Writer::Json => (event::decode(datum).map_err(|e| e.to_string())?, None),
        Writer::Proto {
            file,
            reader,
            first,
        } => read_proto(file, reader.as_ref(), first.as_ref(), datum)
            .map_err(|e| e.about(&format!("schema id {id}")))?,
        Writer::Fast(f) => f.read(datum).map_err(|e| format!("schema id {id}: {e}"))?,
        Writer::Avro(reader) => {
            let mut rest = datum;
            let value = reader
                .read_value(&mut rest)
                .map_err(|e| format!("schema id {id}: cannot decode the Avro datum: {e}"))?;
            if !rest.is_empty() {
                return Err(DecodeError::Invalid(format!(
                    "schema id {id}: {} bytes after the Avro datum",
                    rest.len()
                )));
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

/// Reads a Protobuf message: its indexes, then the message as the reader sees it.
fn read_proto(
    file: &FileDescriptor,
    reader: Option<&FileDescriptor>,
    first: Option<&ProtoReader>,
    datum: &[u8],
) -> Result<(Event, Option<String>), DecodeError> {
    let invalid = |e: ReadError| DecodeError::Invalid(e.to_string());
    // The first message, [0], is the single byte 0: no allocation.
    if let (Some(r), [0, message @ ..]) = (first, datum) {
        return r.read(message).map_err(invalid);
    }
    let mut rest = datum;
    let indexes = proto::read_indexes(&mut rest)?;
    let writer = proto::message_at(file, &indexes)?;
    ProtoReader::new(reader_message(reader, &writer))
        .read(rest)
        .map_err(invalid)
}

/// Parses `--reader-schema`'s text: Avro JSON, or `.proto` text.
fn parse_reader(text: &str) -> Result<ReaderSchema> {
    if looks_like_json(text) {
        let s = Schema::parse_str(text).context("the reader schema is not an Avro schema")?;
        return Ok(ReaderSchema::Avro(leak(s)));
    }
    let file = proto::compile(text, &[]).context("the reader schema is not a .proto")?;
    proto::first_message(&file).context("the reader schema")?;
    Ok(ReaderSchema::Proto(file))
}

/// Whether a schema's text is JSON (Avro, JSON Schema) rather than `.proto`.
fn looks_like_json(text: &str) -> bool {
    matches!(
        text.trim_start().as_bytes().first(),
        Some(b'{' | b'[' | b'"')
    )
}

/// A schema that lives as long as the process (see [`Reader`]).
fn leak(schema: Schema) -> &'static Schema {
    Box::leak(Box::new(schema))
}

/// Reads `--reader-schema FILE` and checks that it is an Avro schema or a
/// `.proto` with a message.
pub fn read_reader_schema(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the reader schema {}", path.display()))?;
    parse_reader(&text).with_context(|| format!("--reader-schema {}", path.display()))?;
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
