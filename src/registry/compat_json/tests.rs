//! Confluent's documented JSON Schema cases, each with the verdict
//! Confluent's registry gives for (original, update): compatible means the
//! update can follow the original under BACKWARD.

use super::{compare, compatible, Change};
use serde_json::{json, Value};

fn verdict(original: Value, update: Value) -> (bool, Vec<String>) {
    let d = compare(&original, &update);
    (compatible(&d), d.iter().map(ToString::to_string).collect())
}

#[test]
fn documented_cases_get_confluents_verdicts() {
    let s = |t: &str| json!({"type": t});
    let cases: Vec<(&str, Value, Value, bool)> = vec![
        (
            "anything can become the empty schema",
            json!({"properties": {}}),
            json!({}),
            true,
        ),
        ("id changed", json!({"id": "a"}), json!({"id": "b"}), true),
        (
            "title changed",
            json!({"title": "a"}),
            json!({"title": "b"}),
            true,
        ),
        (
            "description changed",
            json!({"description": "a"}),
            json!({"description": "b"}),
            true,
        ),
        ("object becomes array", s("object"), s("array"), false),
        (
            "minLength increased",
            json!({"type": "string", "minLength": 10}),
            json!({"type": "string", "minLength": 11}),
            false,
        ),
        (
            "minLength decreased",
            json!({"type": "string", "minLength": 11}),
            json!({"type": "string", "minLength": 10}),
            true,
        ),
        (
            "maxLength increased",
            json!({"type": "string", "maxLength": 10}),
            json!({"type": "string", "maxLength": 12}),
            true,
        ),
        (
            "maxLength decreased",
            json!({"type": "string", "maxLength": 12}),
            json!({"type": "string", "maxLength": 10}),
            false,
        ),
        (
            "pattern removed",
            json!({"type": "string", "pattern": "uuid"}),
            s("string"),
            true,
        ),
        (
            "pattern changed",
            json!({"type": "string", "pattern": "date-time"}),
            json!({"type": "string", "pattern": "uuid"}),
            false,
        ),
        (
            "maximum removed",
            json!({"type": "number", "maximum": 10}),
            s("number"),
            true,
        ),
        (
            "maximum increased",
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number", "maximum": 11}),
            true,
        ),
        (
            "maximum decreased",
            json!({"type": "number", "maximum": 11}),
            json!({"type": "number", "maximum": 10}),
            false,
        ),
        (
            "minimum increased",
            json!({"type": "number", "minimum": 10}),
            json!({"type": "number", "minimum": 11}),
            false,
        ),
        (
            "minimum decreased",
            json!({"type": "number", "minimum": 11}),
            json!({"type": "number", "minimum": 10}),
            true,
        ),
        (
            "multipleOf removed",
            json!({"type": "number", "multipleOf": 10}),
            s("number"),
            true,
        ),
        (
            "multipleOf reduced",
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number", "multipleOf": 2}),
            true,
        ),
        (
            "multipleOf changed",
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number", "multipleOf": 11}),
            false,
        ),
        (
            "number narrowed to integer",
            s("number"),
            s("integer"),
            false,
        ),
        (
            "integer extended to number",
            s("integer"),
            s("number"),
            true,
        ),
        (
            "not narrowed",
            json!({"not": s("number")}),
            json!({"not": s("integer")}),
            true,
        ),
        (
            "not extended",
            json!({"not": s("integer")}),
            json!({"not": s("number")}),
            false,
        ),
        (
            "enum removed",
            json!({"type": "string", "enum": ["red"]}),
            s("string"),
            true,
        ),
        (
            "enum changed in allOf",
            json!({"allOf": [s("string"), {"enum": ["red"]}]}),
            json!({"allOf": [s("string"), {"enum": ["blue"]}]}),
            false,
        ),
        (
            "enum extended in allOf",
            json!({"allOf": [s("string"), {"enum": ["red"]}]}),
            json!({"allOf": [{"enum": ["red", "blue"]}, s("string")]}),
            true,
        ),
        (
            "type array extended",
            json!({"type": ["object"]}),
            json!({"type": ["object", "array"]}),
            true,
        ),
        (
            "oneOf branch changed",
            json!({"oneOf": [s("string")]}),
            json!({"oneOf": [s("number")]}),
            false,
        ),
        (
            "oneOf branch added",
            json!({"oneOf": [s("string")]}),
            json!({"oneOf": [s("number"), s("string")]}),
            true,
        ),
        (
            "oneOf becomes allOf",
            json!({"oneOf": [s("string")]}),
            json!({"allOf": [s("string")]}),
            false,
        ),
        (
            "property renamed in an open model",
            json!({"properties": {"foo": s("string")}}),
            json!({"properties": {"bar": s("string")}}),
            false,
        ),
        (
            "property type changed",
            json!({"properties": {"foo": s("string")}}),
            json!({"properties": {"foo": s("number")}}),
            false,
        ),
        (
            "property added to an open model",
            json!({"properties": {"foo": s("string")}}),
            json!({"properties": {"foo": s("string"), "bar": s("number")}}),
            false,
        ),
        (
            "optional property added to a closed model",
            json!({"properties": {"foo": s("string")}, "additionalProperties": false}),
            json!({"properties": {"foo": s("string"), "bar": s("number")}, "additionalProperties": false}),
            true,
        ),
        (
            "property added, covered by a pattern",
            json!({"properties": {"foo": s("string")}, "additionalProperties": false, "patternProperties": {"^S_": s("string"), "^I_": s("integer")}}),
            json!({"properties": {"foo": s("string"), "I_123": s("number")}, "additionalProperties": false, "patternProperties": {"^S_": s("string"), "^I_": s("integer")}}),
            true,
        ),
        (
            "property added, covered by additionalProperties",
            json!({"properties": {"foo": s("string")}, "additionalProperties": s("string")}),
            json!({"properties": {"foo": s("string"), "bar": s("string")}, "additionalProperties": s("string")}),
            true,
        ),
        (
            "property added, not covered by additionalProperties",
            json!({"properties": {"foo": s("string")}, "additionalProperties": s("string")}),
            json!({"properties": {"foo": s("string"), "bar": s("number")}, "additionalProperties": s("string")}),
            false,
        ),
        (
            "required property added to a partially open model",
            json!({"properties": {"foo": s("string")}, "additionalProperties": s("string")}),
            json!({"properties": {"foo": s("string"), "bar": s("string")}, "required": ["bar"], "additionalProperties": s("string")}),
            false,
        ),
        (
            "property removed, covered by a pattern",
            json!({"properties": {"foo": s("string"), "I_123": s("integer")}, "additionalProperties": false}),
            json!({"properties": {"foo": s("string")}, "additionalProperties": false, "patternProperties": {"^S_": s("string"), "^I_": s("number")}}),
            true,
        ),
        (
            "property removed, covered by additionalProperties",
            json!({"properties": {"foo": s("string"), "bar": s("string")}, "additionalProperties": false}),
            json!({"properties": {"foo": s("string")}, "additionalProperties": s("string")}),
            true,
        ),
        (
            "property removed, not covered",
            json!({"properties": {"foo": s("string"), "bar": s("number")}, "additionalProperties": false}),
            json!({"properties": {"foo": s("string")}, "additionalProperties": s("string")}),
            false,
        ),
        (
            "property removed, covered by a oneOf",
            json!({"properties": {"foo": s("string"), "bar": s("string")}, "additionalProperties": false}),
            json!({"properties": {"foo": s("string")}, "additionalProperties": {"oneOf": [s("null"), s("string")]}}),
            true,
        ),
        (
            "dependencies moved",
            json!({"properties": {"foo": s("number"), "bar": s("string")}, "dependencies": {"foo": ["bar"]}}),
            json!({"properties": {"foo": s("number"), "bar": s("string")}, "dependencies": {"bar": ["foo"]}}),
            false,
        ),
        (
            "dependency schema removed",
            json!({"dependencies": {"foo": s("string"), "bar": s("string")}}),
            json!({"dependencies": {"foo": s("string")}}),
            true,
        ),
        (
            "dependency schema changed",
            json!({"dependencies": {"foo": s("string")}}),
            json!({"dependencies": {"foo": s("number")}}),
            false,
        ),
        (
            "required removed",
            json!({"properties": {"foo": s("string")}, "required": ["foo"]}),
            json!({"properties": {"foo": s("string")}}),
            true,
        ),
        (
            "required added",
            json!({"properties": {"foo": s("string")}}),
            json!({"properties": {"foo": s("string")}, "required": ["foo"]}),
            false,
        ),
        (
            "required added with a default",
            json!({"properties": {"foo": s("string")}}),
            json!({"properties": {"foo": {"type": "string", "default": "x"}}, "required": ["foo"]}),
            true,
        ),
        (
            "maxProperties decreased",
            json!({"maxProperties": 2}),
            json!({"maxProperties": 1}),
            false,
        ),
        (
            "minProperties decreased",
            json!({"minProperties": 2}),
            json!({"minProperties": 1}),
            true,
        ),
        (
            "items schema added",
            s("array"),
            json!({"type": "array", "items": s("string")}),
            false,
        ),
        (
            "items schema removed",
            json!({"type": "array", "items": s("string")}),
            s("array"),
            true,
        ),
        (
            "tuple items removed from an open model",
            json!({"type": "array", "items": [s("string"), s("number")]}),
            s("array"),
            true,
        ),
        (
            "tuple item added, covered by additionalItems",
            json!({"type": "array", "items": [s("string"), s("number")], "additionalItems": s("string")}),
            json!({"type": "array", "items": [s("string"), s("number"), s("string")], "additionalItems": s("string")}),
            true,
        ),
        (
            "tuple item added, not covered",
            json!({"type": "array", "items": [s("string"), s("number")], "additionalItems": s("string")}),
            json!({"type": "array", "items": [s("string"), s("number"), s("number")], "additionalItems": s("string")}),
            false,
        ),
        (
            "tuple item type changed",
            json!({"type": "array", "items": [s("string")]}),
            json!({"type": "array", "items": [s("number")]}),
            false,
        ),
        (
            "maxItems decreased",
            json!({"type": "array", "maxItems": 2}),
            json!({"type": "array", "maxItems": 1}),
            false,
        ),
        (
            "minItems decreased",
            json!({"type": "array", "minItems": 2}),
            json!({"type": "array", "minItems": 1}),
            true,
        ),
        (
            "uniqueItems removed",
            json!({"type": "array", "uniqueItems": true}),
            s("array"),
            true,
        ),
        (
            "a referenced definition changes type",
            json!({"type": "array", "items": {"$ref": "#/definitions/r"}, "definitions": {"r": s("string")}}),
            json!({"type": "array", "items": {"$ref": "#/definitions/r"}, "definitions": {"r": s("number")}}),
            false,
        ),
        (
            "moved into a definition",
            s("string"),
            json!({"$ref": "#/definitions/r", "definitions": {"r": s("string")}}),
            true,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, original, update, want) in cases {
        let (got, diffs) = verdict(original, update);
        if got != want {
            wrong.push(format!("{what}: want {want}, got {got} {diffs:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn differences_are_named_and_placed() {
    let (ok, d) = verdict(
        json!({"properties": {"foo": {"type": "string"}}}),
        json!({"properties": {"bar": {"type": "string"}}}),
    );
    assert!(!ok);
    assert_eq!(
        d,
        [
            "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/bar",
            "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/foo"
        ]
    );
    assert_eq!(Change::TypeNarrowed.name(), "TYPE_NARROWED");
    // A recursive schema terminates.
    let rec = json!({"$ref": "#/definitions/n", "definitions": {"n": {"type": "object", "properties": {"next": {"$ref": "#/definitions/n"}}}}});
    assert!(verdict(rec.clone(), rec).0);
}
