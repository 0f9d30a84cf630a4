//! Schemas and compatibility: parsing and canonicalizing a schema, the
//! compatibility levels, and the check a new version must pass.
//!
//! Avro schemas are parsed with `apache-avro` and checked with its
//! `SchemaCompatibility` (Avro's resolution rules; a "partial" result, such
//! as a reader enum missing a writer symbol, counts as incompatible).
//! JSON Schemas (`schemaType: JSON`) are validated as JSON documents (an
//! object or a boolean) but not compared: for them only the level NONE
//! accepts a new version, and the refusal says so.
//!
//! The canonical form, stored and returned, is the schema's JSON without
//! whitespace outside strings (keys keep their order, as written): the same
//! schema written with other whitespace gets the same id.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema as AvroSchema;
use std::fmt;

/// The kinds of schema the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaType {
    /// Apache Avro (the default when a request names no type).
    Avro,
    /// JSON Schema.
    Json,
}

impl SchemaType {
    /// Parses a request's `schemaType` (None: Avro).
    pub fn parse(name: Option<&str>) -> Result<SchemaType, String> {
        match name.map(str::to_ascii_uppercase).as_deref() {
            None | Some("AVRO") => Ok(SchemaType::Avro),
            Some("JSON") => Ok(SchemaType::Json),
            Some(other) => Err(format!(
                "schemaType {other} is not supported (AVRO and JSON are)"
            )),
        }
    }

    /// The name in requests and records.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
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
    /// The Avro schema, for compatibility checks.
    avro: Option<AvroSchema>,
}

/// Parses and validates `text` as a schema of `kind`; the error says why it is invalid.
pub fn parse(kind: SchemaType, text: &str) -> Result<Parsed, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("Invalid schema: not JSON: {e}"))?;
    let canonical = minify(text);
    let avro = match kind {
        SchemaType::Avro => {
            Some(AvroSchema::parse_str(text).map_err(|e| format!("Invalid schema: Avro: {e}"))?)
        }
        SchemaType::Json => {
            if !(json.is_object() || json.is_boolean()) {
                return Err("Invalid schema: a JSON Schema is an object or a boolean".into());
            }
            None
        }
    };
    Ok(Parsed {
        kind,
        canonical,
        avro,
    })
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

/// Checks `new` against a subject's live versions (`previous`, oldest
/// first) under `level`; the error lists why it is incompatible.
pub fn check(level: Level, new: &Parsed, previous: &[&Parsed]) -> Result<(), Vec<String>> {
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
        if let Err(why) = pair(level, new, old) {
            problems.push(why);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// One pairwise check of `new` against `old` under `level` (not NONE).
fn pair(level: Level, new: &Parsed, old: &Parsed) -> Result<(), String> {
    let (Some(n), Some(o)) = (&new.avro, &old.avro) else {
        if new.kind != old.kind {
            return Err(format!(
                "a {} schema cannot follow a {} schema under {level}",
                new.kind.name(),
                old.kind.name()
            ));
        }
        return Err(format!(
            "compatibility of JSON schemas is not checked by braid registry: only level NONE \
             accepts a new version (this subject's level is {level})"
        ));
    };
    let backward = matches!(
        level,
        Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
    );
    let forward = matches!(
        level,
        Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
    );
    if backward {
        can_read(o, n).map_err(|e| {
            format!("the new schema cannot read data written with an earlier one: {e}")
        })?;
    }
    if forward {
        can_read(n, o).map_err(|e| {
            format!("an earlier schema cannot read data written with the new one: {e}")
        })?;
    }
    Ok(())
}

/// Whether `reader` always reads what `writer` wrote.
fn can_read(writer: &AvroSchema, reader: &AvroSchema) -> Result<(), String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => Err("only partially (some values would fail)".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(text: &str) -> Parsed {
        parse(SchemaType::Avro, text).unwrap()
    }

    const V1: &str = r#"{"type":"record","name":"E","fields":[{"name":"value","type":"int"}]}"#;
    const V2_DEFAULT: &str = r#"{"type":"record","name":"E","fields":[{"name":"value","type":"int"},{"name":"host","type":"string","default":""}]}"#;
    const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"E","fields":[{"name":"value","type":"int"},{"name":"host","type":"string"}]}"#;

    #[test]
    fn canonical_ignores_whitespace() {
        let a = avro(V1);
        let b = avro(
            "{ \"type\": \"record\", \"name\" : \"E\",\n\t\"fields\": [ {\"name\":\"value\", \"type\":\"int\"} ] }",
        );
        assert_eq!(a.canonical, b.canonical);
        assert_eq!(a.canonical, V1);
        let doc = avro(r#"{"type": "enum", "name": "S", "doc": "a \" b\\ c", "symbols": ["A"]}"#);
        assert_eq!(
            doc.canonical,
            r#"{"type":"enum","name":"S","doc":"a \" b\\ c","symbols":["A"]}"#
        );
    }

    #[test]
    fn levels() {
        let (v1, d, nd) = (avro(V1), avro(V2_DEFAULT), avro(V2_NO_DEFAULT));
        assert!(check(Level::Backward, &d, &[&v1]).is_ok());
        assert!(check(Level::Backward, &nd, &[&v1]).is_err());
        assert!(check(Level::Forward, &nd, &[&v1]).is_ok());
        assert!(check(Level::Full, &d, &[&v1]).is_ok());
        assert!(check(Level::Full, &nd, &[&v1]).is_err());
        assert!(check(Level::None, &nd, &[&v1]).is_ok());
        // Transitive: v1 -> v2 (no default) under FORWARD, then back to v1-like
        // without host: backward with the latest only, not with all.
        assert!(check(Level::BackwardTransitive, &nd, &[&d, &v1]).is_err());
        assert!(check(Level::Backward, &nd, &[&v1, &d]).is_ok());
    }

    #[test]
    fn bad_schemas_and_json() {
        assert!(parse(SchemaType::Avro, "{").is_err());
        assert!(parse(SchemaType::Avro, r#"{"type":"record"}"#).is_err());
        assert!(parse(SchemaType::Json, "[1]").is_err());
        let j = parse(SchemaType::Json, r#"{"type":"object"}"#).unwrap();
        let msg = check(Level::Backward, &j, &[&j]).unwrap_err().join(" ");
        assert!(msg.contains("only level NONE"), "{msg}");
        assert!(check(Level::None, &j, &[&j]).is_ok());
        assert_eq!(Level::parse("full_transitive"), Some(Level::FullTransitive));
        assert!(SchemaType::parse(Some("PROTOBUF")).is_err());
    }
}
