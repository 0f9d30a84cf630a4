//! `braid registry` with PROTOBUF schemas and JSON Schema compatibility,
//! over raw HTTP:
//!
//! - a `.proto` is stored in a canonical form (comments, layout, relative
//!   names, or a base64 descriptor give the same id), served as text or
//!   `?format=serialized`; well-known imports resolve; `references` resolve
//!   to other subjects, are returned, and survive a restart;
//! - bad input is a 422 with one clear line;
//! - compatibility at each of the seven levels, for Protobuf and JSON
//!   Schema, on cases from Confluent's documented rules with the verdict
//!   Confluent's registry gives (the non-transitive levels through
//!   `/compatibility`, the transitive ones where they differ through
//!   registration).

mod common;

use base64::Engine as _;
use common::registry::{schema_body, Http, Registry, Reply};
use common::*;
use serde_json::{json, Value};

fn proto_body(text: &str, references: Value) -> String {
    json!({"schema": text, "schemaType": "PROTOBUF", "references": references}).to_string()
}

fn register(http: &mut Http, subject: &str, body: &str) -> Reply {
    http.call("POST", &format!("/subjects/{subject}/versions"), Some(body))
}

fn id_of(r: &Reply) -> i64 {
    r.json["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{} {:?}", r.status, r.json))
}

const EVENT: &str = braid::schema::proto::EVENT_PROTO_V1;

#[test]
fn protobuf_schemas_are_canonical_resolve_references_and_survive_a_restart() {
    let broker = Broker::start(&[]);
    let mut reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    assert_eq!(
        http.call("GET", "/schemas/types", None).json,
        json!(["AVRO", "JSON", "PROTOBUF"])
    );
    let id = id_of(&register(
        &mut http,
        "ev-value",
        &proto_body(EVENT, json!([])),
    ));
    // Comments, layout and a relative name make no new schema.
    let other_layout = format!(
        "// the event\n{}",
        EVENT.replace("\n  ", "\n\t\t").replace(" = ", "=")
    );
    assert_eq!(
        id_of(&register(
            &mut http,
            "ev-value",
            &proto_body(&other_layout, json!([]))
        )),
        id
    );
    // The descriptor, as confluent-kafka-python sends it, is the same schema too.
    let serialized = http.call("GET", &format!("/schemas/ids/{id}?format=serialized"), None);
    let b64 = serialized.json["schema"].as_str().unwrap().to_string();
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .is_ok(),
        "{b64}"
    );
    assert_eq!(
        id_of(&register(
            &mut http,
            "ev-value",
            &proto_body(&b64, json!([]))
        )),
        id
    );
    let text = http.call("GET", &format!("/schemas/ids/{id}"), None);
    assert_eq!(text.json["schemaType"], "PROTOBUF");
    assert!(text.json["schema"].as_str().unwrap().starts_with(
        "syntax = \"proto3\";\npackage braid;\nmessage Event {\n  uint32 sender = 1;"
    ));
    assert_eq!(
        http.call("GET", "/subjects/ev-value/versions", None).json,
        json!([1])
    );

    // Well-known imports, and references to other subjects.
    let money = "syntax = \"proto3\";\npackage common;\nmessage Money { int64 units = 1; string currency = 2; }";
    let money_id = id_of(&register(&mut http, "money", &proto_body(money, json!([]))));
    let order = "syntax = \"proto3\";\npackage shop;\nimport \"common/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\
                 message Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }";
    let refs = json!([{"name": "common/money.proto", "subject": "money", "version": 1}]);
    let order_id = id_of(&register(
        &mut http,
        "order-value",
        &proto_body(order, refs.clone()),
    ));
    assert_ne!(order_id, money_id);
    let got = http.call("GET", "/subjects/order-value/versions/1", None);
    assert_eq!(got.json["references"], refs);
    assert!(
        got.json["schema"]
            .as_str()
            .unwrap()
            .contains(".common.Money total = 1;"),
        "{:?}",
        got.json
    );
    let by_id = http.call("GET", &format!("/schemas/ids/{order_id}"), None);
    assert_eq!(by_id.json["references"], refs);
    // Looked up with its references; the same text without them is refused.
    let found = http.call(
        "POST",
        "/subjects/order-value",
        Some(&proto_body(order, refs.clone())),
    );
    assert_eq!(
        (found.status, found.json["version"].clone()),
        (200, json!(1))
    );

    // A restart replays _schemas: references resolve again, ids are kept.
    reg.kill9();
    reg.restart();
    let mut http = Http::connect(&reg.addr());
    let again = http.call("GET", &format!("/schemas/ids/{order_id}"), None);
    assert_eq!(
        (again.status, again.json["references"].clone()),
        (200, refs.clone())
    );
    assert_eq!(
        id_of(&register(
            &mut http,
            "order-value",
            &proto_body(order, refs)
        )),
        order_id
    );
}

#[test]
fn bad_protobuf_input_is_a_clear_422() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let refused = |http: &mut Http, body: &str| -> String {
        let r = register(http, "bad-value", body);
        assert_eq!(
            (r.status, r.error_code()),
            (422, Some(42201)),
            "{:?}",
            r.json
        );
        let m = r.json["message"].as_str().unwrap().to_string();
        assert!(!m.contains('\n'), "{m}");
        m
    };
    let m = refused(
        &mut http,
        &proto_body("syntax = \"proto3\";\nmessage E { int32 a = 1", json!([])),
    );
    assert!(
        m.starts_with("Invalid schema: not a valid Protobuf schema:"),
        "{m}"
    );
    let m = refused(
        &mut http,
        &proto_body(
            "syntax = \"proto3\"; message E { Missing a = 1; }",
            json!([]),
        ),
    );
    assert!(m.contains("Missing"), "{m}");
    let m = refused(
        &mut http,
        &proto_body(
            "syntax = \"proto3\"; import \"other.proto\"; message E {}",
            json!([]),
        ),
    );
    assert!(m.contains("imports \"other.proto\""), "{m}");
    let m = refused(
        &mut http,
        &proto_body(
            "syntax = \"proto3\"; import \"other.proto\"; message E {}",
            json!([{"name": "other.proto", "subject": "nowhere", "version": 1}]),
        ),
    );
    assert!(m.contains("nowhere version 1, which does not exist"), "{m}");
    let m = refused(
        &mut http,
        &proto_body(
            "syntax = \"proto3\"; message E { int32 a = 1; int32 b = 1; }",
            json!([]),
        ),
    );
    assert!(m.contains('1'), "{m}");
    let m = refused(
        &mut http,
        &json!({"schema": "\"int\"", "references": [{"name": "a", "subject": "b", "version": 1}]})
            .to_string(),
    );
    assert!(m.contains("PROTOBUF schemas only"), "{m}");
    let m = refused(
        &mut http,
        &json!({"schema": "x", "schemaType": "XML"}).to_string(),
    );
    assert!(m.contains("XML"), "{m}");
    // The registry carries on.
    assert_eq!(
        register(&mut http, "ok-value", &proto_body(EVENT, json!([]))).status,
        200
    );
}

/// (what, original, update, BACKWARD verdict, FORWARD verdict): FORWARD
/// compares the other way round, FULL needs both, NONE accepts all.
type Case = (&'static str, String, String, bool, bool);

fn proto_cases() -> Vec<Case> {
    let p3 = |b: &str| format!("syntax = \"proto3\";\n{b}");
    vec![
        (
            "a field added",
            p3("message E { uint64 seq = 1; }"),
            p3("message E { uint64 seq = 1; string host = 2; }"),
            true,
            true,
        ),
        (
            "a field's number changed",
            p3("message E { string a = 1; }"),
            p3("message E { string a = 2; }"),
            true,
            true,
        ),
        (
            "int32 becomes int64",
            p3("message E { int32 a = 1; }"),
            p3("message E { int64 a = 1; }"),
            true,
            true,
        ),
        (
            "a scalar becomes a string",
            p3("message E { int32 a = 1; }"),
            p3("message E { string a = 1; }"),
            false,
            false,
        ),
        (
            "a scalar becomes a message",
            p3("message E { int32 a = 1; }"),
            p3("message E { M a = 1; } message M { int32 x = 1; }"),
            false,
            false,
        ),
        (
            "a required field added",
            "syntax = \"proto2\"; message E { optional int32 a = 1; }".into(),
            "syntax = \"proto2\"; message E { optional int32 a = 1; required int32 b = 2; }".into(),
            false,
            false,
        ),
        (
            "a field added to a oneof",
            p3("message E { oneof o { int32 a = 1; } }"),
            p3("message E { oneof o { int32 a = 1; string b = 2; } }"),
            true,
            false,
        ),
        (
            "a message removed",
            p3("message E { int32 a = 1; } message F { int32 b = 1; }"),
            p3("message E { int32 a = 1; }"),
            false,
            true,
        ),
        (
            "a number becomes repeated",
            p3("message E { optional int32 a = 1; }"),
            p3("message E { repeated int32 a = 1; }"),
            false,
            false,
        ),
    ]
}

fn json_cases() -> Vec<Case> {
    let j = |v: Value| v.to_string();
    let s = |t: &str| json!({"type": t});
    vec![
        (
            "an optional property added to a closed model",
            j(json!({"properties": {"a": s("string")}, "additionalProperties": false})),
            j(
                json!({"properties": {"a": s("string"), "b": s("number")}, "additionalProperties": false}),
            ),
            true,
            false,
        ),
        (
            "a property removed from an open model",
            j(json!({"properties": {"a": s("string"), "b": s("number")}})),
            j(json!({"properties": {"a": s("string")}})),
            true,
            false,
        ),
        (
            "maxLength increased",
            j(json!({"type": "string", "maxLength": 5})),
            j(json!({"type": "string", "maxLength": 9})),
            true,
            false,
        ),
        (
            "integer becomes number",
            j(s("integer")),
            j(s("number")),
            true,
            false,
        ),
        (
            "string becomes object",
            j(s("string")),
            j(s("object")),
            false,
            false,
        ),
        (
            "description changed",
            j(json!({"type": "string", "description": "a"})),
            j(json!({"type": "string", "description": "b"})),
            true,
            true,
        ),
        (
            "enum extended",
            j(json!({"enum": ["red"]})),
            j(json!({"enum": ["red", "blue"]})),
            true,
            false,
        ),
        (
            "a required property added",
            j(json!({"properties": {"a": s("string")}})),
            j(json!({"properties": {"a": s("string")}, "required": ["a"]})),
            false,
            true,
        ),
    ]
}

const LEVELS: [&str; 7] = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

fn expected(level: &str, backward: bool, forward: bool) -> bool {
    match level.trim_end_matches("_TRANSITIVE") {
        "NONE" => true,
        "BACKWARD" => backward,
        "FORWARD" => forward,
        _ => backward && forward,
    }
}

/// Registers `original` under NONE, then for each level checks `update`
/// through `/compatibility` and by registering it (409 or a new version).
fn run_cases(http: &mut Http, kind: &str, cases: Vec<Case>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (n, (what, original, update, backward, forward)) in cases.into_iter().enumerate() {
        for level in LEVELS {
            let subject = format!("{}-{n}-{}", kind.to_lowercase(), level.to_lowercase());
            http.call(
                "PUT",
                &format!("/config/{subject}"),
                Some(r#"{"compatibility":"NONE"}"#),
            );
            let first = register(http, &subject, &schema_body(&original, Some(kind)));
            assert_eq!(first.status, 200, "{what}: {:?}", first.json);
            let set = http.call(
                "PUT",
                &format!("/config/{subject}"),
                Some(&json!({"compatibility": level}).to_string()),
            );
            assert_eq!(set.status, 200);
            let want = expected(level, backward, forward);
            let check = http.call(
                "POST",
                &format!("/compatibility/subjects/{subject}/versions/latest?verbose=true"),
                Some(&schema_body(&update, Some(kind))),
            );
            let got = check.json["is_compatible"].as_bool();
            let registered = register(http, &subject, &schema_body(&update, Some(kind)));
            let status = if want { 200 } else { 409 };
            if got != Some(want) || registered.status != status {
                wrong.push(format!(
                    "{kind} {what} under {level}: want {want}, /compatibility said {got:?} {}, register {} {}",
                    check.json["messages"], registered.status, registered.json
                ));
            }
        }
    }
    wrong
}

#[test]
fn compatibility_at_every_level_follows_confluents_protobuf_and_json_schema_rules() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let mut wrong = run_cases(&mut http, "PROTOBUF", proto_cases());
    wrong.extend(run_cases(&mut http, "JSON", json_cases()));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The message of a refusal names Confluent's difference and where it is.
    let subject = "named-value";
    register(&mut http, subject, &proto_body(EVENT, json!([])));
    let v3 = braid::schema::proto::EVENT_PROTO_V3;
    let r = register(&mut http, subject, &proto_body(v3, json!([])));
    assert_eq!(r.status, 409);
    let m = r.json["message"].as_str().unwrap();
    assert!(m.contains("FIELD_SCALAR_KIND_CHANGED #/Event/3"), "{m}");
}

/// Transitive levels check every earlier version: a field removed (v2) and
/// brought back with another type (v3) is compatible with v2 alone, not with v1.
#[test]
fn transitive_levels_check_every_earlier_version() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let v1 = "syntax = \"proto3\"; message E { int32 a = 1; uint64 seq = 2; }";
    let v2 = "syntax = \"proto3\"; message E { uint64 seq = 2; }";
    let v3 = "syntax = \"proto3\"; message E { string a = 1; uint64 seq = 2; }";
    for (level, accepted) in [
        ("BACKWARD", true),
        ("BACKWARD_TRANSITIVE", false),
        ("FORWARD", true),
        ("FORWARD_TRANSITIVE", false),
        ("FULL", true),
        ("FULL_TRANSITIVE", false),
    ] {
        let subject = format!("t-{}", level.to_lowercase());
        http.call(
            "PUT",
            &format!("/config/{subject}"),
            Some(&json!({"compatibility": level}).to_string()),
        );
        for v in [v1, v2] {
            assert_eq!(
                register(&mut http, &subject, &proto_body(v, json!([]))).status,
                200,
                "{level}"
            );
        }
        let r = register(&mut http, &subject, &proto_body(v3, json!([])));
        assert_eq!(
            r.status,
            if accepted { 200 } else { 409 },
            "{level}: {:?}",
            r.json
        );
    }
}
