//! `braid registry` over raw HTTP: the REST API and its error codes,
//! compatibility levels, restarts (the `_schemas` topic replays) and
//! concurrent registrations. The HTTP server itself: `registry_server.rs`.

mod common;

use std::time::Duration;

use common::registry::{avro_record, schema_body, Http, Registry};
use common::*;
use serde_json::{json, Value};

fn v1() -> String {
    avro_record(&[("value", "int", None)])
}

fn v2() -> String {
    avro_record(&[("value", "int", None), ("host", "string", Some(json!("")))])
}

/// Registers `schema` under `subject`, asserting 200; returns the id.
fn register(http: &mut Http, subject: &str, schema: &str) -> i64 {
    let r = http.call(
        "POST",
        &format!("/subjects/{subject}/versions"),
        Some(&schema_body(schema, None)),
    );
    assert_eq!(r.status, 200, "register under {subject}: {:?}", r.json);
    r.json["id"].as_i64().expect("an id")
}

/// Asserts an error reply: HTTP status and Confluent error code.
fn assert_error(r: &common::registry::Reply, status: u16, code: i64) {
    assert_eq!(
        (r.status, r.error_code()),
        (status, Some(code)),
        "reply {:?}",
        r.json
    );
    assert!(r.json["message"].is_string(), "no message: {:?}", r.json);
}

/// A broker and a registry with `ev-value` at versions 1 (v1) and 2 (v2),
/// and v2 also under `other-value`: (broker, registry, connection, id of v1, id of v2).
fn setup() -> (Broker, Registry, Http, i64, i64) {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let id1 = register(&mut http, "ev-value", &v1());
    // The same schema with other whitespace: the same id, no new version.
    let spaced = v1().replace(',', " ,\n  ").replace(':', " : ");
    assert_eq!(register(&mut http, "ev-value", &spaced), id1);
    let id2 = register(&mut http, "ev-value", &v2());
    assert_ne!(id1, id2);
    // The same schema under another subject keeps its global id.
    assert_eq!(register(&mut http, "other-value", &v2()), id2);
    (broker, reg, http, id1, id2)
}

#[test]
/// Registration, the same schema again, lookups and reads.
fn register_and_read_back() {
    let (_broker, _reg, mut http, id1, id2) = setup();

    let r = http.call("GET", &format!("/schemas/ids/{id1}"), None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.schemaregistry.v1+json")
    );
    assert_eq!(r.json["schema"].as_str(), Some(v1().as_str()));
    assert_eq!(
        http.call("GET", "/subjects", None).json,
        json!(["ev-value", "other-value"])
    );
    assert_eq!(
        http.call("GET", "/subjects/ev-value/versions", None).json,
        json!([1, 2])
    );
    let latest = http
        .call("GET", "/subjects/ev-value/versions/latest", None)
        .json;
    assert_eq!(
        (latest["version"].clone(), latest["id"].clone()),
        (json!(2), json!(id2))
    );
    assert_eq!(
        http.call("GET", "/subjects/ev-value/versions/1", None).json["id"],
        json!(id1)
    );
    let found = http.call(
        "POST",
        "/subjects/ev-value",
        Some(&schema_body(&v1(), None)),
    );
    assert_eq!(
        (found.status, found.json["version"].clone()),
        (200, json!(1))
    );
}

#[test]
/// Every error code of the reads, the lookup and registration.
fn error_codes() {
    let (_broker, _reg, mut http, _, _) = setup();
    // Error codes.
    assert_error(
        &http.call("GET", "/subjects/nope/versions", None),
        404,
        40401,
    );
    assert_error(
        &http.call("GET", "/subjects/nope/versions/1", None),
        404,
        40401,
    );
    assert_error(
        &http.call("GET", "/subjects/ev-value/versions/9", None),
        404,
        40402,
    );
    assert_error(
        &http.call("GET", "/subjects/ev-value/versions/0", None),
        422,
        42202,
    );
    assert_error(
        &http.call("GET", "/subjects/ev-value/versions/x", None),
        422,
        42202,
    );
    assert_error(&http.call("GET", "/schemas/ids/999", None), 404, 40403);
    assert_error(&http.call("GET", "/schemas/ids/abc", None), 404, 40403);
    let other = avro_record(&[("x", "long", None)]);
    assert_error(
        &http.call(
            "POST",
            "/subjects/ev-value",
            Some(&schema_body(&other, None)),
        ),
        404,
        40403,
    );
    assert_error(
        &http.call("POST", "/subjects/nope", Some(&schema_body(&v1(), None))),
        404,
        40401,
    );
    let bad = [r#"{"type":"record","name":"E"}"#, "{nope", r#""notatype""#];
    for b in bad {
        assert_error(
            &http.call("POST", "/subjects/x/versions", Some(&schema_body(b, None))),
            422,
            42201,
        );
    }
    assert_error(
        &http.call(
            "POST",
            "/subjects/x/versions",
            Some(r#"{"schemaType":"AVRO"}"#),
        ),
        422,
        42201,
    );
    assert_error(
        &http.call(
            "POST",
            "/subjects/x/versions",
            Some(&schema_body("\"int\"", Some("PROTOBUF"))),
        ),
        422,
        42201,
    );
    assert_eq!(
        http.call("POST", "/subjects/x/versions", Some("{not json"))
            .status,
        400
    );
    let incompatible = avro_record(&[("value", "string", None)]);
    assert_error(
        &http.call(
            "POST",
            "/subjects/ev-value/versions",
            Some(&schema_body(&incompatible, None)),
        ),
        409,
        409,
    );
    assert_error(&http.call("GET", "/nowhere", None), 404, 404);
}

#[test]
/// `/compatibility` and `/config`, global and per subject.
fn compatibility_endpoint_and_config() {
    let (_broker, _reg, mut http, _, _) = setup();
    let incompatible = avro_record(&[("value", "string", None)]);
    let check = |http: &mut Http, s: &str| {
        http.call(
            "POST",
            "/compatibility/subjects/ev-value/versions/latest",
            Some(&schema_body(s, None)),
        )
    };
    assert_eq!(check(&mut http, &v2()).json, json!({"is_compatible": true}));
    assert_eq!(
        check(&mut http, &incompatible).json,
        json!({"is_compatible": false})
    );
    let verbose = http.call(
        "POST",
        "/compatibility/subjects/ev-value/versions/1?verbose=true",
        Some(&schema_body(&incompatible, None)),
    );
    assert!(
        !verbose.json["messages"].as_array().unwrap().is_empty(),
        "{:?}",
        verbose.json
    );
    assert_error(&check_at(&mut http, "nope", "latest"), 404, 40401);
    assert_error(&check_at(&mut http, "ev-value", "7"), 404, 40402);

    // Config.
    assert_eq!(
        http.call("GET", "/config", None).json,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    assert_error(&http.call("GET", "/config/ev-value", None), 404, 40408);
    let d = http.call("GET", "/config/ev-value?defaultToGlobal=true", None);
    assert_eq!(d.json, json!({"compatibilityLevel": "BACKWARD"}));
    let put = http.call(
        "PUT",
        "/config/ev-value",
        Some(r#"{"compatibility":"FULL"}"#),
    );
    assert_eq!(
        (put.status, put.json.clone()),
        (200, json!({"compatibility": "FULL"}))
    );
    assert_eq!(
        http.call("GET", "/config/ev-value", None).json,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_error(
        &http.call("PUT", "/config", Some(r#"{"compatibility":"SIDEWAYS"}"#)),
        422,
        42203,
    );
    assert_eq!(
        http.call("PUT", "/config", Some(r#"{"compatibility":"none"}"#))
            .json,
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        http.call("GET", "/config", None).json,
        json!({"compatibilityLevel": "NONE"})
    );
}

#[test]
/// JSON Schemas (compared by Confluent's JSON Schema rules) and a soft deletion.
fn json_schemas_and_soft_delete() {
    let (_broker, _reg, mut http, id1, _) = setup();
    // JSON Schema: an object becoming a string is a TYPE_CHANGED under BACKWARD.
    let js = |t: &str| schema_body(&json!({"type": t}).to_string(), Some("JSON"));
    http.call(
        "PUT",
        "/config/js-value",
        Some(r#"{"compatibility":"BACKWARD"}"#),
    );
    let r = http.call("POST", "/subjects/js-value/versions", Some(&js("object")));
    assert_eq!(r.status, 200, "{:?}", r.json);
    let jid = r.json["id"].as_i64().unwrap();
    let r = http.call("GET", &format!("/schemas/ids/{jid}"), None);
    assert_eq!(r.json["schemaType"], json!("JSON"));
    let refused = http.call("POST", "/subjects/js-value/versions", Some(&js("string")));
    assert_error(&refused, 409, 409);
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("TYPE_CHANGED #"),
        "{:?}",
        refused.json
    );
    assert_error(
        &http.call(
            "POST",
            "/subjects/js-value/versions",
            Some(&schema_body("[1]", Some("JSON"))),
        ),
        422,
        42201,
    );

    // Soft delete.
    assert_eq!(
        http.call("DELETE", "/subjects/ev-value", None).json,
        json!([1, 2])
    );
    assert_error(
        &http.call("GET", "/subjects/ev-value/versions", None),
        404,
        40401,
    );
    assert_error(&http.call("DELETE", "/subjects/ev-value", None), 404, 40401);
    assert_eq!(
        http.call("GET", "/subjects", None).json,
        json!(["js-value", "other-value"])
    );
    assert_eq!(
        http.call("GET", &format!("/schemas/ids/{id1}"), None)
            .status,
        200
    );
}

fn check_at(http: &mut Http, subject: &str, version: &str) -> common::registry::Reply {
    http.call(
        "POST",
        &format!("/compatibility/subjects/{subject}/versions/{version}"),
        Some(&schema_body(&v1(), None)),
    )
}

/// Registers `earlier` under NONE, sets `level`, then checks that `refused`
/// gets 409 and `accepted` gets an id.
fn level_case(http: &mut Http, level: &str, earlier: &[String], refused: &str, accepted: &str) {
    let subject = format!("lvl-{}", level.to_ascii_lowercase());
    let path = format!("/subjects/{subject}/versions");
    http.call(
        "PUT",
        &format!("/config/{subject}"),
        Some(r#"{"compatibility":"NONE"}"#),
    );
    for s in earlier {
        register(http, &subject, s);
    }
    let put = http.call(
        "PUT",
        &format!("/config/{subject}"),
        Some(&json!({"compatibility": level}).to_string()),
    );
    assert_eq!(put.status, 200);
    let r = http.call("POST", &path, Some(&schema_body(refused, None)));
    assert_eq!(
        (level, r.status, r.error_code()),
        (level, 409, Some(409)),
        "{:?}",
        r.json
    );
    let r = http.call("POST", &path, Some(&schema_body(accepted, None)));
    assert_eq!((level, r.status), (level, 200), "{:?}", r.json);
}

#[test]
fn incompatible_registration_is_409_in_each_mode() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let a = avro_record(&[("a", "int", None)]);
    let a_b = avro_record(&[("a", "int", None), ("b", "string", None)]);
    let a_bd = avro_record(&[("a", "int", None), ("b", "string", Some(json!("")))]);
    let b = avro_record(&[("b", "string", None)]);
    let b_cd = avro_record(&[("b", "string", None), ("c", "int", Some(json!(0)))]);
    let b_d = avro_record(&[("b", "string", None), ("d", "int", None)]);
    level_case(&mut http, "BACKWARD", std::slice::from_ref(&a), &a_b, &a_bd);
    level_case(&mut http, "FORWARD", std::slice::from_ref(&a), &b, &a_b);
    level_case(&mut http, "FULL", std::slice::from_ref(&a), &a_b, &a_bd);
    // Transitive: history a, then b (registered under NONE); the new
    // version suits b (the latest) but not a.
    let hist = [a.clone(), b.clone()];
    level_case(&mut http, "BACKWARD_TRANSITIVE", &hist, &b_cd, &b);
    level_case(&mut http, "FORWARD_TRANSITIVE", &hist, &b_d, &b);
    level_case(&mut http, "FULL_TRANSITIVE", &hist, &b_cd, &b);
    // The non-transitive levels accept those (checked against the latest only).
    for (level, s) in [("BACKWARD", &b_cd), ("FORWARD", &b_d), ("FULL", &b_cd)] {
        let subject = format!("plain-{}", level.to_ascii_lowercase());
        http.call(
            "PUT",
            &format!("/config/{subject}"),
            Some(r#"{"compatibility":"NONE"}"#),
        );
        register(&mut http, &subject, &a);
        register(&mut http, &subject, &b);
        http.call(
            "PUT",
            &format!("/config/{subject}"),
            Some(&json!({"compatibility": level}).to_string()),
        );
        register(&mut http, &subject, s);
    }
    // NONE accepts anything.
    http.call(
        "PUT",
        "/config/lvl-none",
        Some(r#"{"compatibility":"NONE"}"#),
    );
    register(&mut http, "lvl-none", &a);
    register(&mut http, "lvl-none", "\"string\"");
}

#[test]
fn restart_replays_schemas_topic() {
    let broker = Broker::start(&[]);
    let mut reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    let ids = [
        register(&mut http, "a-value", &v1()),
        register(&mut http, "a-value", &v2()),
        register(&mut http, "b-value", "\"string\""),
        register(&mut http, "c-value", "\"long\""),
    ];
    http.call("PUT", "/config", Some(r#"{"compatibility":"FULL"}"#));
    http.call(
        "PUT",
        "/config/b-value",
        Some(r#"{"compatibility":"NONE"}"#),
    );
    assert_eq!(http.call("DELETE", "/subjects/c-value", None).status, 200);
    drop(http);
    reg.kill9();

    let reg = Registry::start(&broker.addr(), &[]);
    let mut http = Http::connect(&reg.addr());
    assert_eq!(
        http.call("GET", "/subjects", None).json,
        json!(["a-value", "b-value"])
    );
    assert_eq!(
        http.call("GET", "/subjects/a-value/versions", None).json,
        json!([1, 2])
    );
    for (i, id) in ids.iter().enumerate() {
        let r = http.call("GET", &format!("/schemas/ids/{id}"), None);
        assert_eq!(r.status, 200, "id {id} (#{i}) after the restart");
    }
    assert_eq!(register(&mut http, "a-value", &v1()), ids[0]);
    assert_eq!(register(&mut http, "b-value", "\"string\""), ids[2]);
    assert_eq!(
        http.call("GET", "/config", None).json,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        http.call("GET", "/config/b-value", None).json,
        json!({"compatibilityLevel": "NONE"})
    );
    // A new schema gets the next id, never one already handed out.
    let next = register(&mut http, "d-value", "\"double\"");
    assert_eq!(next, ids.iter().max().unwrap() + 1);

    // The topic holds Confluent's records.
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, "_schemas", 1);
    let end = list_offsets(&mut client, "_schemas", kafka::client::FetchOffset::Latest);
    assert_eq!(
        end.keys().copied().collect::<Vec<_>>(),
        [0],
        "one partition"
    );
    let (msgs, _) = fetch_all(&mut client, "_schemas", &end, Duration::from_secs(20));
    let first_key: Value = serde_json::from_slice(&msgs[&0][0].key).unwrap();
    assert_eq!(
        first_key,
        json!({"keytype": "SCHEMA", "subject": "a-value", "version": 1, "magic": 1})
    );
    let first: Value = serde_json::from_slice(&msgs[&0][0].value).unwrap();
    assert_eq!(first["id"], json!(ids[0]));
    assert_eq!(first["deleted"], json!(false));
    let keytypes: Vec<String> = msgs[&0]
        .iter()
        .map(|m| {
            serde_json::from_slice::<Value>(&m.key).unwrap()["keytype"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        keytypes.contains(&"CONFIG".into()) && keytypes.contains(&"DELETE_SUBJECT".into()),
        "{keytypes:?}"
    );
}

#[test]
fn eight_threads_registering_one_schema_get_one_id() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let addr = reg.addr();
    let ids: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let addr = addr.clone();
                s.spawn(move || register(&mut Http::connect(&addr), "race-value", &v1()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|i| *i == ids[0]), "ids {ids:?}");
    let mut http = Http::connect(&reg.addr());
    assert_eq!(
        http.call("GET", "/subjects/race-value/versions", None).json,
        json!([1])
    );
}
