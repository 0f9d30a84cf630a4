//! Schemas and compatibility: parsing and canonicalizing a schema, the
//! compatibility levels, and the check a new version must pass.
//!
//! - Avro schemas are parsed with `apache-avro` and checked with its
//!   `SchemaCompatibility` (Avro's resolution rules; a "partial" result,
//!   such as a reader enum missing a writer symbol, counts as incompatible).
//! - JSON Schemas (`schemaType: JSON`) must be an object or a boolean; they
//!   are compared by Confluent's JSON Schema rules ([`compat_json`](super::compat_json)).
//! - Protobuf schemas (`schemaType: PROTOBUF`), `.proto` text or a base64
//!   `FileDescriptorProto`, are compiled with their references and the
//!   well-known `google/protobuf` imports, and compared by Confluent's
//!   Protobuf rules ([`compat_proto`](super::compat_proto)).
//!
//! The canonical form, stored and returned: for Avro and JSON the schema's
//! JSON without whitespace outside strings (keys keep their order, as
//! written); for Protobuf the descriptor printed back as `.proto` text
//! ([`proto_text`](super::proto_text)). The same schema written with other
//! whitespace (or, for Protobuf, comments, or as a descriptor) gets the
//! same id.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema as AvroSchema;
use prost_reflect::FileDescriptor;
use std::fmt;

use super::records::SchemaReference;
use super::{compat_json, compat_proto, proto_text};
use crate::schema::proto::{self, ProtoError, Source};

/// The kinds of schema the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaType {
    /// Apache Avro (the default when a request names no type).
    Avro,
    /// JSON Schema.
    Json,
    /// Protocol Buffers.
    Protobuf,
}

/// Why a schema is refused (422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A `schemaType` other than the three.
    #[error("schemaType {0} is not supported (AVRO, JSON and PROTOBUF are)")]
    UnsupportedType(String),
    /// Avro or JSON Schema text that is not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON that is not an Avro schema.
    #[error("Avro: {0}")]
    Avro(String),
    /// JSON that cannot be a JSON Schema.
    #[error("a JSON Schema is an object or a boolean")]
    JsonSchema,
    /// `.proto` text that does not compile, or an unresolved import.
    #[error("{0}")]
    Protobuf(#[from] ProtoError),
    /// proto2 groups (braid cannot print them canonically).
    #[error("proto2 groups are not supported by braid registry (field '{0}')")]
    Group(String),
    /// References on a schema type that does not take them here.
    #[error("schema references are supported for PROTOBUF schemas only, not {0}")]
    References(&'static str),
    /// A reference to a subject version that does not exist.
    #[error("the reference '{name}' names {subject} version {version}, which does not exist")]
    MissingReference {
        /// The import name.
        name: String,
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
    },
    /// A reference to a schema of another type.
    #[error("the reference '{0}' is not a PROTOBUF schema")]
    ReferenceType(String),
}

impl SchemaType {
    /// Parses a request's `schemaType` (None: Avro).
    pub fn parse(name: Option<&str>) -> Result<SchemaType, SchemaError> {
        match name.map(str::to_ascii_uppercase).as_deref() {
            None | Some("AVRO") => Ok(SchemaType::Avro),
            Some("JSON") => Ok(SchemaType::Json),
            Some("PROTOBUF") => Ok(SchemaType::Protobuf),
            Some(other) => Err(SchemaError::UnsupportedType(other.to_string())),
        }
    }

    /// The name in requests and records.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

/// A compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No check.
    None,
    /// The new schema reads data written with the latest.
    Backward,
    /// ... with every earlier version.
    BackwardTransitive,
    /// The latest schema reads data written with the new one.
    Forward,
    /// ... every earlier version does.
    ForwardTransitive,
    /// Backward and forward with the latest.
    Full,
    /// Backward and forward with every earlier version.
    FullTransitive,
}

/// What a refused level name is told.
pub const LEVELS_HELP: &str = "Invalid compatibility level. Valid values are none, backward, \
     forward, full, backward_transitive, forward_transitive, and full_transitive";

impl Level {
    /// Parses a level name, case-insensitively.
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name.to_ascii_uppercase().as_str() {
            "NONE" => Level::None,
            "BACKWARD" => Level::Backward,
            "BACKWARD_TRANSITIVE" => Level::BackwardTransitive,
            "FORWARD" => Level::Forward,
            "FORWARD_TRANSITIVE" => Level::ForwardTransitive,
            "FULL" => Level::Full,
            "FULL_TRANSITIVE" => Level::FullTransitive,
            _ => return None,
        })
    }

    /// Whether every earlier version is checked, not only the latest.
    fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        })
    }
}

/// A parsed, valid schema.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Its kind.
    pub kind: SchemaType,
    /// Its canonical text (what is stored and returned).
    pub canonical: String,
    /// The schemas it imports (Protobuf), as given.
    pub references: Vec<SchemaReference>,
    /// Every file its imports resolve to (references of references too).
    deps: Vec<Source>,
    /// The parsed form, for compatibility checks.
    form: Form,
}

#[derive(Debug, Clone)]
enum Form {
    Avro(AvroSchema),
    Json(serde_json::Value),
    Protobuf(FileDescriptor),
}

impl Parsed {
    /// What makes two registrations the same schema: its canonical text and references.
    pub fn identity(&self) -> String {
        let refs: Vec<String> = self
            .references
            .iter()
            .map(|r| format!("{}={}@{}", r.name, r.subject, r.version))
            .collect();
        format!("{}\u{0}{}", self.canonical, refs.join(","))
    }

    /// The files a schema that imports this one as `name` needs.
    pub fn sources_as(&self, name: &str) -> Vec<Source> {
        let mut v = vec![Source {
            name: name.to_string(),
            text: self.canonical.clone(),
        }];
        v.extend(self.deps.iter().cloned());
        v
    }

    /// The base64 `FileDescriptorProto` of a Protobuf schema (`?format=serialized`).
    pub fn serialized(&self) -> Option<String> {
        match &self.form {
            Form::Protobuf(f) => Some(proto::serialized(f)),
            _ => None,
        }
    }
}

/// Parses and validates `text` as a schema of `kind`, whose `references`
/// resolve to the files `deps`; the error says why it is invalid.
pub fn parse(
    kind: SchemaType,
    text: &str,
    references: Vec<SchemaReference>,
    deps: Vec<Source>,
) -> Result<Parsed, SchemaError> {
    if kind != SchemaType::Protobuf && !references.is_empty() {
        return Err(SchemaError::References(kind.name()));
    }
    let (canonical, form) = match kind {
        SchemaType::Avro => {
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| SchemaError::NotJson(e.to_string()))?;
            let avro = AvroSchema::parse_str(text).map_err(|e| SchemaError::Avro(e.to_string()))?;
            (minify(text), Form::Avro(avro))
        }
        SchemaType::Json => {
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|e| SchemaError::NotJson(e.to_string()))?;
            if !(json.is_object() || json.is_boolean()) {
                return Err(SchemaError::JsonSchema);
            }
            (minify(text), Form::Json(json))
        }
        SchemaType::Protobuf => {
            let file = proto::compile(text, &deps)?;
            if let Some(g) = group_field(&file) {
                return Err(SchemaError::Group(g));
            }
            (proto_text::print(&file), Form::Protobuf(file))
        }
    };
    Ok(Parsed {
        kind,
        canonical,
        references,
        deps,
        form,
    })
}

/// The first proto2 group field of `file`, if any.
fn group_field(file: &FileDescriptor) -> Option<String> {
    fn in_message(m: &prost_reflect::MessageDescriptor) -> Option<String> {
        m.fields()
            .find(|f| f.is_group())
            .map(|f| f.name().to_string())
            .or_else(|| m.child_messages().find_map(|c| in_message(&c)))
    }
    file.messages().find_map(|m| in_message(&m))
}

/// `text` (valid JSON) without the whitespace between tokens.
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Which way a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The new schema cannot read data written with an earlier one.
    Backward,
    /// An earlier schema cannot read data written with the new one.
    Forward,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Backward => "the new schema cannot read data written with an earlier one",
            Direction::Forward => "an earlier schema cannot read data written with the new one",
        })
    }
}

/// One reason a new version is incompatible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A schema of another type than the earlier version's.
    KindChanged {
        /// The earlier version's type.
        old: SchemaType,
        /// The new one's.
        new: SchemaType,
    },
    /// Avro's resolution fails.
    Avro(Direction, String),
    /// An incompatible Protobuf difference.
    Protobuf(Direction, compat_proto::Difference),
    /// An incompatible JSON Schema difference.
    Json(Direction, compat_json::Difference),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::KindChanged { old, new } => write!(
                f,
                "a schema of type {} cannot follow one of type {}",
                new.name(),
                old.name()
            ),
            Problem::Avro(d, why) => write!(f, "{d}: {why}"),
            Problem::Protobuf(d, diff) => write!(f, "{d}: {diff}"),
            Problem::Json(d, diff) => write!(f, "{d}: {diff}"),
        }
    }
}

/// A new version's incompatibilities with the versions it was checked against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.messages().join("; "))]
pub struct Incompatible {
    /// Each reason.
    pub problems: Vec<Problem>,
}

impl Incompatible {
    /// Each reason as text.
    pub fn messages(&self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }
}

/// Checks `new` against a subject's live versions (`previous`, oldest
/// first) under `level`.
pub fn check(level: Level, new: &Parsed, previous: &[&Parsed]) -> Result<(), Incompatible> {
    if level == Level::None || previous.is_empty() {
        return Ok(());
    }
    let against: &[&Parsed] = if level.transitive() {
        previous
    } else {
        &previous[previous.len() - 1..]
    };
    let mut problems = Vec::new();
    for old in against.iter().rev() {
        pair(level, new, old, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Incompatible { problems })
    }
}

/// One pairwise check of `new` against `old` under `level` (not NONE).
fn pair(level: Level, new: &Parsed, old: &Parsed, problems: &mut Vec<Problem>) {
    let backward = matches!(
        level,
        Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
    );
    let forward = matches!(
        level,
        Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
    );
    let mut ways = Vec::new();
    if backward {
        ways.push(Direction::Backward);
    }
    if forward {
        ways.push(Direction::Forward);
    }
    for d in ways {
        // Backward: the new schema reads what the old one wrote; Confluent
        // compares (old, new). Forward: the other way round.
        let (original, update) = match d {
            Direction::Backward => (old, new),
            Direction::Forward => (new, old),
        };
        match (&original.form, &update.form) {
            (Form::Avro(w), Form::Avro(r)) => {
                if let Err(why) = can_read(w, r) {
                    problems.push(Problem::Avro(d, why.to_string()));
                }
            }
            (Form::Protobuf(a), Form::Protobuf(b)) => problems.extend(
                compat_proto::compare(a, b)
                    .into_iter()
                    .filter(|x| !x.change.compatible())
                    .map(|x| Problem::Protobuf(d, x)),
            ),
            (Form::Json(a), Form::Json(b)) => problems.extend(
                compat_json::compare(a, b)
                    .into_iter()
                    .filter(|x| !x.change.compatible())
                    .map(|x| Problem::Json(d, x)),
            ),
            _ => {
                problems.push(Problem::KindChanged {
                    old: old.kind,
                    new: new.kind,
                });
                return;
            }
        }
    }
}

/// Why a reader cannot always read what a writer wrote.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    /// Some values would fail to resolve.
    #[error("only partially (some values would fail)")]
    Partially,
    /// Avro's resolution rules refuse the pair.
    #[error("{0}")]
    Refused(String),
}

/// Whether `reader` always reads what `writer` wrote.
fn can_read(writer: &AvroSchema, reader: &AvroSchema) -> Result<(), Unreadable> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => Err(Unreadable::Partially),
        Err(e) => Err(Unreadable::Refused(e.to_string())),
    }
}

#[cfg(test)]
#[path = "compat_tests.rs"]
mod tests;
