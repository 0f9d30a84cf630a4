//! Confluent's documented Protobuf cases, each with the verdict Confluent's
//! registry gives for (original, update) under BACKWARD.

use super::{compare, compatible};
use crate::schema::proto::{compile, Source};

fn verdict(original: &str, update: &str, deps: (&[Source], &[Source])) -> (bool, Vec<String>) {
    let a = compile(original, deps.0).unwrap_or_else(|e| panic!("{e}: {original}"));
    let b = compile(update, deps.1).unwrap_or_else(|e| panic!("{e}: {update}"));
    let d = compare(&a, &b);
    (compatible(&d), d.iter().map(ToString::to_string).collect())
}

const STATUS: &str = "syntax = \"proto3\";\npackage foo;\nmessage TestMessage {\n  string test_string = 1;\n  .foo.TestMessage.Status test_int = 2;\n  message Status { string test_string = 1; }\n}";

#[test]
fn documented_cases_get_confluents_verdicts() {
    let p3 = |body: &str| format!("syntax = \"proto3\";\n{body}");
    let p2 = |body: &str| format!("syntax = \"proto2\";\n{body}");
    let cases: Vec<(&str, String, String, bool)> = vec![
        ("package changed", STATUS.into(), STATUS.replace("package foo;", "package bar;").replace(".foo.", ".bar."), true),
        ("name qualified", p3("message T { string s = 1; Status i = 2; message Status { string s = 1; } }"),
            p3("message T { string s = 1; .T.Status i = 2; message Status { string s = 1; } }"), true),
        ("field added", p3("message T { string a = 1; }"), p3("message T { string a = 1; string b = 2; }"), true),
        ("required field added", p2("message T { optional string a = 1; }"), p2("message T { optional string a = 1; required string b = 2; }"), false),
        ("field added to a nested type", p3("message W { int32 w = 1; message T { string a = 1; } }"),
            p3("message W { int32 w = 1; message T { string a = 1; string b = 2; } }"), true),
        ("field removed", p3("message T { string a = 1; string b = 2; }"), p3("message T { string a = 1; }"), true),
        ("required field removed", p2("message T { optional string a = 1; required string b = 2; }"), p2("message T { optional string a = 1; }"), false),
        ("field number changed", p3("message T { string a = 1; }"), p3("message T { string a = 2; }"), true),
        ("int32 to int64", p3("message T { string a = 1; int32 i = 2; }"), p3("message T { string a = 1; int64 i = 2; }"), true),
        ("string to bytes", p3("message T { string a = 1; string b = 2; }"), p3("message T { string a = 1; bytes b = 2; }"), true),
        ("number to enum", p3("message T { string a = 1; int32 i = 2; }"), p3("message T { string a = 1; Status i = 2; } enum Status { ACTIVE = 0; INACTIVE = 1; }"), true),
        ("enum to number", p3("message T { string a = 1; Status i = 2; } enum Status { ACTIVE = 0; INACTIVE = 1; }"), p3("message T { string a = 1; int32 i = 2; }"), true),
        ("number to message", p3("message T { string a = 1; int32 i = 2; }"),
            p3("message T { string a = 1; .T.Status i = 2; message Status { string s = 1; } } enum Status { ACTIVE = 0; }"), false),
        ("message to number", p3("message T { string a = 1; .T.Status i = 2; message Status { string s = 1; } } enum Status { ACTIVE = 0; }"),
            p3("message T { string a = 1; int32 i = 2; }"), false),
        ("enum constant renamed", p3("message T { Status i = 2; } enum Status { ACTIVE = 0; INACTIVE = 1; }"),
            p3("message T { Status i = 2; } enum Status { ACTIVE = 0; NOT_ACTIVE = 1; }"), true),
        ("one field moved into a new oneof", p3("message T { string a = 1; string b = 2; }"),
            p3("message T { string a = 1; oneof o { string b = 2; int32 c = 3; } }"), true),
        ("two fields moved into a new oneof", p3("message T { string a = 1; string b = 2; }"),
            p3("message T { oneof o { string a = 1; string b = 2; int32 c = 3; } }"), false),
        ("field added to a oneof", p3("message T { oneof o { string a = 1; string b = 2; } }"),
            p3("message T { oneof o { string a = 1; string b = 2; int32 c = 3; } }"), true),
        ("field removed from a oneof", p3("message T { oneof o { string a = 1; string b = 2; int32 c = 3; } }"),
            p3("message T { oneof o { string a = 1; string b = 2; } }"), false),
        ("scalar to message", p3("message T { string a = 1; int32 i = 2; }"),
            p3("message T { string a = 1; T2 i = 2; } message T2 { string s = 1; }"), false),
        ("int32 to string, renamed", p3("message T { string a = 1; int32 i = 2; }"), p3("message T { string a = 1; string b = 2; }"), false),
        ("another message type", p3("message T { string a = 1; T2 i = 2; } message T2 { string s = 1; }"),
            p3("message T { string a = 1; T3 i = 2; } message T3 { string s = 1; }"), false),
        ("map value type changed", p3("message T { string a = 1; map<string, int32> m = 2; }"),
            p3("message T { string a = 1; map<string, string> n = 2; }"), false),
        ("map value name qualified", p3("message T { map<string, Status> m = 2; message Status { string s = 1; } }"),
            p3("message T { map<string, T.Status> m = 2; message Status { string s = 1; } }"), true),
        ("optional message becomes repeated", p3("message T { optional Status s = 2; message Status { string s = 1; } }"),
            p3("message T { repeated Status s = 2; message Status { string s = 1; } }"), true),
        ("optional string becomes repeated", p3("message T { optional string a = 1; }"), p3("message T { repeated string a = 1; }"), true),
        ("optional bytes becomes repeated", p3("message T { optional bytes a = 1; }"), p3("message T { repeated bytes a = 1; }"), true),
        ("optional int32 becomes repeated", p3("message T { optional int32 a = 1; }"), p3("message T { repeated int32 a = 1; }"), false),
        ("message added", p3("message T { string a = 1; }"), p3("message T { string a = 1; } message T2 { string a = 1; }"), true),
        ("message index changed", p3("message T { string a = 1; }"), p3("message T2 { string a = 1; } message T { string a = 1; }"), true),
        ("messages swapped", p3("message T { string a = 1; } message T2 { string a = 1; }"), p3("message T2 { string a = 1; } message T { string a = 1; }"), true),
    ];
    let mut wrong = Vec::new();
    for (what, original, update, want) in cases {
        let (got, diffs) = verdict(&original, &update, (&[], &[]));
        if got != want {
            wrong.push(format!("{what}: want {want}, got {got} {diffs:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn documented_import_cases_get_confluents_verdicts() {
    let home = |pkg: &str, outer: bool, id: &str| Source {
        name: "google.proto".into(),
        text: if outer {
            format!("syntax = \"proto3\"; package {pkg}; message outer {{ message GoogleHome {{ {id} deviceID = 1; bool enabled = 2; }} }}")
        } else {
            format!("syntax = \"proto3\"; package {pkg}; message GoogleHome {{ {id} deviceID = 1; bool enabled = 2; }}")
        },
    };
    let root = |ty: &str| {
        format!("syntax = \"proto3\"; import \"google.proto\"; message TestMessage {{ {ty} test_string = 1; }}")
    };
    let local = "syntax = \"proto3\"; message TestMessage { GoogleHome test_string = 1; } message GoogleHome { int32 deviceID = 1; bool enabled = 2; }";
    let d = "io.confluent.demo.domain";
    let d2 = "io.confluent.demo.domain2";
    let t = |p: &str, outer: bool| {
        if outer {
            format!(".{p}.outer.GoogleHome")
        } else {
            format!(".{p}.GoogleHome")
        }
    };
    let cases: Vec<(&str, String, Source, String, Source, bool)> = vec![
        (
            "imported field type changed",
            root(&t(d, false)),
            home(d, false, "int32"),
            root(&t(d, false)),
            home(d, false, "string"),
            false,
        ),
        (
            "other package, same contents",
            root(&t(d, false)),
            home(d, false, "int32"),
            root(&t(d2, false)),
            home(d2, false, "int32"),
            true,
        ),
        (
            "other package, nested, same contents",
            root(&t(d, true)),
            home(d, true, "int32"),
            root(&t(d2, true)),
            home(d2, true, "int32"),
            true,
        ),
        (
            "other package, nested, changed",
            root(&t(d, true)),
            home(d, true, "int32"),
            root(&t(d2, true)),
            home(d2, true, "string"),
            false,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, a, da, b, db, want) in cases {
        let (got, diffs) = verdict(&a, &b, (&[da], &[db]));
        if got != want {
            wrong.push(format!("{what}: want {want}, got {got} {diffs:?}"));
        }
    }
    // A local message moved into an import is removed from the schema: incompatible;
    // moved back out of the import, it is added: compatible.
    let imported = Source {
        name: "google.proto".into(),
        text: "syntax = \"proto3\"; message GoogleHome { int32 deviceID = 1; bool enabled = 2; }"
            .into(),
    };
    let root_plain = "syntax = \"proto3\"; import \"google.proto\"; message TestMessage { GoogleHome test_string = 1; }";
    assert!(!verdict(local, root_plain, (&[], std::slice::from_ref(&imported))).0);
    assert!(verdict(root_plain, local, (std::slice::from_ref(&imported), &[])).0);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
