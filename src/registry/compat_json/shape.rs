//! How Confluent's registry reads a JSON Schema: a whole schema, or one
//! view of it (one of its `type`s, one constraint keyword), classified into
//! a [`Shape`] (string, number, object, array, enum, const, not, combined,
//! empty, false).

use serde_json::{Map, Value};

/// A part of a schema document: a whole schema, or one view of it (one of
/// its types, or one of its constraint keywords).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sub<'a> {
    pub(super) v: &'a Value,
    pub(super) view: View<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View<'a> {
    Whole,
    Type(&'a str),
    Keyword(&'a str),
    /// No `type`, but keywords of several types: any of them.
    Inferred,
}

impl<'a> Sub<'a> {
    pub(super) fn whole(v: &'a Value) -> Sub<'a> {
        Sub {
            v,
            view: View::Whole,
        }
    }

    pub(super) fn map(&self) -> Option<&'a Map<String, Value>> {
        self.v.as_object()
    }

    pub(super) fn key(&self) -> String {
        format!("{:p}{:?}", self.v, self.view)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Crit {
    All,
    Any,
    One,
}

/// What a part of a schema is, as Confluent's loader classifies it.
pub(super) enum Shape<'a> {
    Empty,
    False,
    Str(&'a Map<String, Value>),
    Num(&'a Map<String, Value>, bool),
    Bool,
    Null,
    Obj(&'a Map<String, Value>),
    Arr(&'a Map<String, Value>),
    Enum(&'a [Value]),
    Const(&'a Value),
    Not(&'a Value),
    Combined(Crit, Vec<Sub<'a>>),
}

impl Shape<'_> {
    pub(super) fn class(&self) -> u8 {
        match self {
            Shape::Empty => 0,
            Shape::False => 1,
            Shape::Str(_) => 2,
            Shape::Num(..) => 3,
            Shape::Bool => 4,
            Shape::Null => 5,
            Shape::Obj(_) => 6,
            Shape::Arr(_) => 7,
            Shape::Enum(_) => 8,
            Shape::Const(_) => 9,
            Shape::Not(_) => 10,
            Shape::Combined(..) => 11,
        }
    }
}

const STRING_KEYS: &[&str] = &["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const OBJECT_KEYS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "propertyNames",
];
const ARRAY_KEYS: &[&str] = &[
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
];

/// The shape of `s`.
pub(super) fn shape<'a>(s: Sub<'a>) -> Shape<'a> {
    let Some(m) = s.map() else {
        return if s.v == &Value::Bool(false) {
            Shape::False
        } else {
            Shape::Empty
        };
    };
    match s.view {
        View::Type(t) => typed(m, t),
        View::Inferred => Shape::Combined(Crit::Any, inferred(s.v, m)),
        View::Keyword("enum") => Shape::Enum(m["enum"].as_array().map_or(&[], Vec::as_slice)),
        View::Keyword("const") => Shape::Const(&m["const"]),
        View::Keyword("not") => Shape::Not(&m["not"]),
        View::Keyword("type") => match &m["type"] {
            Value::Array(ts) => Shape::Combined(
                Crit::Any,
                ts.iter()
                    .filter_map(Value::as_str)
                    .map(|t| Sub {
                        v: s.v,
                        view: View::Type(t),
                    })
                    .collect(),
            ),
            Value::String(t) => typed(m, t),
            _ => Shape::Empty,
        },
        View::Keyword(k) => {
            let crit = match k {
                "allOf" => Crit::All,
                "anyOf" => Crit::Any,
                _ => Crit::One,
            };
            let subs = m[k].as_array().map_or(&[][..], Vec::as_slice);
            Shape::Combined(crit, subs.iter().map(Sub::whole).collect())
        }
        View::Whole => {
            let mut parts: Vec<Sub> = Vec::new();
            let has = |k: &str| m.contains_key(k);
            if has("type") {
                parts.push(Sub {
                    v: s.v,
                    view: View::Keyword("type"),
                });
            } else {
                match inferred(s.v, m).as_slice() {
                    [] => {}
                    [one] => parts.push(*one),
                    _ => parts.push(Sub {
                        v: s.v,
                        view: View::Inferred,
                    }),
                }
            }
            for k in ["enum", "const", "not", "allOf", "anyOf", "oneOf"] {
                if has(k) {
                    parts.push(Sub {
                        v: s.v,
                        view: View::Keyword(k),
                    });
                }
            }
            match parts.len() {
                0 => Shape::Empty,
                1 => shape(parts[0]),
                _ => Shape::Combined(Crit::All, parts),
            }
        }
    }
}

/// The types a schema without `type` constrains, from its keywords.
fn inferred<'a>(v: &'a Value, m: &Map<String, Value>) -> Vec<Sub<'a>> {
    [
        (STRING_KEYS, "string"),
        (NUMBER_KEYS, "number"),
        (OBJECT_KEYS, "object"),
        (ARRAY_KEYS, "array"),
    ]
    .into_iter()
    .filter(|(keys, _)| keys.iter().any(|k| m.contains_key(*k)))
    .map(|(_, t)| Sub {
        v,
        view: View::Type(t),
    })
    .collect()
}

fn typed<'a>(m: &'a Map<String, Value>, t: &str) -> Shape<'a> {
    match t {
        "string" => Shape::Str(m),
        "number" => Shape::Num(m, false),
        "integer" => Shape::Num(m, true),
        "boolean" => Shape::Bool,
        "null" => Shape::Null,
        "object" => Shape::Obj(m),
        "array" => Shape::Arr(m),
        _ => Shape::Empty,
    }
}
