//! Parsing, canonical forms, levels and kinds of the registry's schemas.

use super::*;

fn avro(text: &str) -> Parsed {
    parse(SchemaType::Avro, text, vec![], vec![]).unwrap()
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
fn bad_schemas_are_refused_with_their_reason() {
    let p = |k, t: &str| parse(k, t, vec![], vec![]).unwrap_err();
    assert!(matches!(p(SchemaType::Avro, "{"), SchemaError::NotJson(_)));
    assert!(matches!(
        p(SchemaType::Avro, r#"{"type":"record"}"#),
        SchemaError::Avro(_)
    ));
    assert_eq!(p(SchemaType::Json, "[1]"), SchemaError::JsonSchema);
    assert!(matches!(
        p(SchemaType::Protobuf, "message E { int32 a = 1"),
        SchemaError::Protobuf(ProtoError::Invalid(_))
    ));
    assert_eq!(
        p(
            SchemaType::Protobuf,
            "syntax = \"proto2\"; message E { optional group G = 1 {} }"
        ),
        SchemaError::Group("g".into())
    );
    let reference = SchemaReference {
        name: "a.proto".into(),
        subject: "a".into(),
        version: 1,
    };
    assert_eq!(
        parse(SchemaType::Avro, "\"int\"", vec![reference], vec![]).unwrap_err(),
        SchemaError::References("AVRO")
    );
    assert_eq!(Level::parse("full_transitive"), Some(Level::FullTransitive));
    assert_eq!(
        SchemaType::parse(Some("protobuf")),
        Ok(SchemaType::Protobuf)
    );
    assert_eq!(
        SchemaType::parse(Some("XML")),
        Err(SchemaError::UnsupportedType("XML".into()))
    );
}

#[test]
fn protobuf_and_json_levels_and_kinds() {
    let pb = |t: &str| parse(SchemaType::Protobuf, t, vec![], vec![]).unwrap();
    let js = |t: &str| parse(SchemaType::Json, t, vec![], vec![]).unwrap();
    let (v1, v2, v3) = (
        pb(crate::schema::proto::EVENT_PROTO_V1),
        pb(crate::schema::proto::EVENT_PROTO_V2),
        pb(crate::schema::proto::EVENT_PROTO_V3),
    );
    assert!(check(Level::FullTransitive, &v2, &[&v1]).is_ok());
    let e = check(Level::Backward, &v3, &[&v1, &v2]).unwrap_err();
    assert!(
        matches!(
            &e.problems[0],
            Problem::Protobuf(Direction::Backward, d) if d.change == compat_proto::Change::FieldScalarKindChanged
        ),
        "{e}"
    );
    let (open, closed) = (js(r#"{"type":"object"}"#), js(r#"{"type":"string"}"#));
    let e = check(Level::Forward, &closed, &[&open]).unwrap_err();
    assert!(
        matches!(
            &e.problems[0],
            Problem::Json(Direction::Forward, d) if d.change == compat_json::Change::TypeChanged
        ),
        "{e}"
    );
    let e = check(Level::Backward, &open, &[&v1]).unwrap_err();
    assert_eq!(
        e.problems,
        [Problem::KindChanged {
            old: SchemaType::Protobuf,
            new: SchemaType::Json
        }]
    );
    // The canonical form of a .proto: comments and layout gone.
    let commented = format!(
        "// v1\n{}",
        crate::schema::proto::EVENT_PROTO_V1.replace("  ", "    ")
    );
    assert_eq!(pb(&commented).identity(), v1.identity());
}
