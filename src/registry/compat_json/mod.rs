//! JSON Schema compatibility by Confluent's rules: the differences between
//! an original schema and an update, each compatible or not; the update is
//! compatible when every difference is. BACKWARD compares (previous, new),
//! FORWARD (new, previous).
//!
//! A schema is read as Confluent's registry reads it: `type` (an array of
//! types is an `anyOf`), `enum`, `const`, `not`, `allOf`/`anyOf`/`oneOf`
//! side by side make an `allOf`; no constraint at all (`{}`, `true`) is the
//! empty schema that accepts anything; local `$ref`s (`#/definitions/..`,
//! `#/$defs/..`) are followed. Then, in short: loosening is compatible
//! (a larger maximum, a removed pattern, an `integer` that becomes a
//! `number`, a larger `enum`, another branch in an `anyOf`), narrowing is
//! not; a property may be added to a closed content model
//! (`additionalProperties: false`) and removed from an open one, an
//! optional property added to an open model breaks unless its schema is
//! empty, a required property added breaks unless it has a default; a
//! combined schema's branches are matched pairwise (a maximum matching) and
//! every branch of the smaller side must find a compatible partner.

mod content;

use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

/// A kind of difference, named as Confluent names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Change {
    IdChanged,
    DescriptionChanged,
    TitleChanged,
    DefaultChanged,
    SchemaAdded,
    SchemaRemoved,
    TypeExtended,
    TypeNarrowed,
    TypeChanged,
    MaxLengthAdded,
    MaxLengthRemoved,
    MaxLengthIncreased,
    MaxLengthDecreased,
    MinLengthAdded,
    MinLengthRemoved,
    MinLengthIncreased,
    MinLengthDecreased,
    PatternAdded,
    PatternRemoved,
    PatternChanged,
    MaximumAdded,
    MaximumRemoved,
    MaximumIncreased,
    MaximumDecreased,
    MinimumAdded,
    MinimumRemoved,
    MinimumIncreased,
    MinimumDecreased,
    ExclusiveMaximumAdded,
    ExclusiveMaximumRemoved,
    ExclusiveMaximumIncreased,
    ExclusiveMaximumDecreased,
    ExclusiveMinimumAdded,
    ExclusiveMinimumRemoved,
    ExclusiveMinimumIncreased,
    ExclusiveMinimumDecreased,
    MultipleOfAdded,
    MultipleOfRemoved,
    MultipleOfReduced,
    MultipleOfExpanded,
    MultipleOfChanged,
    RequiredAttributeAdded,
    RequiredAttributeWithDefaultAdded,
    RequiredAttributeRemoved,
    MaxPropertiesAdded,
    MaxPropertiesRemoved,
    MaxPropertiesIncreased,
    MaxPropertiesDecreased,
    MinPropertiesAdded,
    MinPropertiesRemoved,
    MinPropertiesIncreased,
    MinPropertiesDecreased,
    AdditionalPropertiesAdded,
    AdditionalPropertiesRemoved,
    AdditionalPropertiesExtended,
    AdditionalPropertiesNarrowed,
    DependencyArrayAdded,
    DependencyArrayRemoved,
    DependencyArrayExtended,
    DependencyArrayNarrowed,
    DependencyArrayChanged,
    DependencySchemaAdded,
    DependencySchemaRemoved,
    PropertyAddedToOpenContentModel,
    PropertyWithEmptySchemaAddedToOpenContentModel,
    RequiredPropertyAddedToUnopenContentModel,
    RequiredPropertyWithDefaultAddedToUnopenContentModel,
    OptionalPropertyAddedToUnopenContentModel,
    PropertyRemovedFromOpenContentModel,
    PropertyWithFalseRemovedFromClosedContentModel,
    PropertyRemovedFromClosedContentModel,
    PropertyAddedIsCoveredByPartiallyOpenContentModel,
    PropertyAddedNotCoveredByPartiallyOpenContentModel,
    PropertyRemovedIsCoveredByPartiallyOpenContentModel,
    PropertyRemovedNotCoveredByPartiallyOpenContentModel,
    MaxItemsAdded,
    MaxItemsRemoved,
    MaxItemsIncreased,
    MaxItemsDecreased,
    MinItemsAdded,
    MinItemsRemoved,
    MinItemsIncreased,
    MinItemsDecreased,
    UniqueItemsAdded,
    UniqueItemsRemoved,
    AdditionalItemsAdded,
    AdditionalItemsRemoved,
    AdditionalItemsExtended,
    AdditionalItemsNarrowed,
    ItemAddedToOpenContentModel,
    ItemWithEmptySchemaAddedToOpenContentModel,
    ItemAddedToClosedContentModel,
    ItemRemovedFromOpenContentModel,
    ItemWithFalseRemovedFromClosedContentModel,
    ItemRemovedFromClosedContentModel,
    ItemAddedIsCoveredByPartiallyOpenContentModel,
    ItemAddedNotCoveredByPartiallyOpenContentModel,
    ItemRemovedIsCoveredByPartiallyOpenContentModel,
    ItemRemovedNotCoveredByPartiallyOpenContentModel,
    EnumArrayExtended,
    EnumArrayNarrowed,
    EnumArrayChanged,
    ConstChanged,
    CombinedTypeExtended,
    CombinedTypeChanged,
    CombinedTypeSubschemasChanged,
    ProductTypeExtended,
    ProductTypeNarrowed,
    SumTypeExtended,
    SumTypeNarrowed,
    NotTypeExtended,
    NotTypeNarrowed,
}

impl Change {
    /// Whether data valid under one schema stays valid under the other.
    pub fn compatible(self) -> bool {
        use Change::*;
        matches!(
            self,
            IdChanged
                | DescriptionChanged
                | TitleChanged
                | DefaultChanged
                | SchemaRemoved
                | TypeExtended
                | MaxLengthIncreased
                | MaxLengthRemoved
                | MinLengthDecreased
                | MinLengthRemoved
                | PatternRemoved
                | MaximumIncreased
                | MaximumRemoved
                | MinimumDecreased
                | MinimumRemoved
                | ExclusiveMaximumIncreased
                | ExclusiveMaximumRemoved
                | ExclusiveMinimumDecreased
                | ExclusiveMinimumRemoved
                | MultipleOfReduced
                | MultipleOfRemoved
                | RequiredAttributeWithDefaultAdded
                | RequiredAttributeRemoved
                | DependencyArrayNarrowed
                | DependencyArrayRemoved
                | DependencySchemaRemoved
                | MaxPropertiesIncreased
                | MaxPropertiesRemoved
                | MinPropertiesDecreased
                | MinPropertiesRemoved
                | AdditionalPropertiesAdded
                | AdditionalPropertiesExtended
                | PropertyWithEmptySchemaAddedToOpenContentModel
                | RequiredPropertyWithDefaultAddedToUnopenContentModel
                | OptionalPropertyAddedToUnopenContentModel
                | PropertyWithFalseRemovedFromClosedContentModel
                | PropertyRemovedFromOpenContentModel
                | PropertyAddedIsCoveredByPartiallyOpenContentModel
                | PropertyRemovedIsCoveredByPartiallyOpenContentModel
                | MaxItemsIncreased
                | MaxItemsRemoved
                | MinItemsDecreased
                | MinItemsRemoved
                | UniqueItemsRemoved
                | AdditionalItemsAdded
                | AdditionalItemsExtended
                | ItemWithEmptySchemaAddedToOpenContentModel
                | ItemAddedToClosedContentModel
                | ItemWithFalseRemovedFromClosedContentModel
                | ItemRemovedFromOpenContentModel
                | ItemAddedIsCoveredByPartiallyOpenContentModel
                | ItemRemovedIsCoveredByPartiallyOpenContentModel
                | EnumArrayExtended
                | CombinedTypeExtended
                | ProductTypeNarrowed
                | SumTypeExtended
                | NotTypeNarrowed
        )
    }

    /// Its name, `TYPE_CHANGED`.
    pub fn name(self) -> String {
        let mut out = String::new();
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }
}

/// One difference: what changed, and where (`#/properties/seq`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difference {
    /// The kind.
    pub change: Change,
    /// The JSON pointer-like path in the original.
    pub path: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.change.name(), self.path)
    }
}

/// The differences from `original` to `update` (two JSON Schema documents).
pub fn compare(original: &Value, update: &Value) -> Vec<Difference> {
    let mut ctx = Ctx {
        roots: (original, update),
        out: Vec::new(),
        seen: HashSet::new(),
    };
    ctx.compare("#", Sub::whole(original), Sub::whole(update));
    let set: BTreeSet<Difference> = ctx.out.into_iter().collect();
    set.into_iter().collect()
}

/// Whether every difference is compatible.
pub fn compatible(differences: &[Difference]) -> bool {
    differences.iter().all(|d| d.change.compatible())
}

/// A part of a schema document: a whole schema, or one view of it (one of
/// its types, or one of its constraint keywords).
#[derive(Debug, Clone, Copy)]
struct Sub<'a> {
    v: &'a Value,
    view: View<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View<'a> {
    Whole,
    Type(&'a str),
    Keyword(&'a str),
    /// No `type`, but keywords of several types: any of them.
    Inferred,
}

impl<'a> Sub<'a> {
    fn whole(v: &'a Value) -> Sub<'a> {
        Sub {
            v,
            view: View::Whole,
        }
    }

    fn map(&self) -> Option<&'a Map<String, Value>> {
        self.v.as_object()
    }

    fn key(&self) -> String {
        format!("{:p}{:?}", self.v, self.view)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crit {
    All,
    Any,
    One,
}

/// What a part of a schema is, as Confluent's loader classifies it.
enum Shape<'a> {
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
    fn class(&self) -> u8 {
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
fn shape<'a>(s: Sub<'a>) -> Shape<'a> {
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

struct Ctx<'a> {
    roots: (&'a Value, &'a Value),
    out: Vec<Difference>,
    seen: HashSet<(String, String)>,
}

impl<'a> Ctx<'a> {
    fn add(&mut self, path: &str, change: Change) {
        self.out.push(Difference {
            change,
            path: path.to_string(),
        });
    }

    fn compatible(&self) -> bool {
        self.out.iter().all(|d| d.change.compatible())
    }

    /// A fresh context for a trial comparison.
    fn sub(&self) -> Ctx<'a> {
        Ctx {
            roots: self.roots,
            out: Vec::new(),
            seen: self.seen.clone(),
        }
    }

    /// Follows a local `$ref` of a whole schema (in the original's or the update's document).
    fn resolve(&self, s: Sub<'a>, original: bool) -> Sub<'a> {
        let mut s = s;
        for _ in 0..32 {
            let Some(r) = s
                .map()
                .filter(|_| s.view == View::Whole)
                .and_then(|m| m.get("$ref"))
                .and_then(Value::as_str)
            else {
                return s;
            };
            let root = if original { self.roots.0 } else { self.roots.1 };
            let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else {
                return s;
            };
            s = Sub::whole(target);
        }
        s
    }

    /// Compares two optional schemas (absent: none).
    fn maybe(&mut self, path: &str, o: Option<&'a Value>, u: Option<&'a Value>) {
        match (o, u) {
            (None, None) => {}
            (None, Some(_)) => self.add(path, Change::SchemaAdded),
            (Some(_), None) => self.add(path, Change::SchemaRemoved),
            (Some(o), Some(u)) => self.compare(path, Sub::whole(o), Sub::whole(u)),
        }
    }

    fn compare(&mut self, path: &str, o: Sub<'a>, u: Sub<'a>) {
        let (o, u) = (self.resolve(o, true), self.resolve(u, false));
        let (os, us) = (shape(o), shape(u));
        match (&os, &us) {
            (Shape::Combined(..), Shape::Combined(..)) => {}
            (_, Shape::Combined(crit, subs)) => {
                if subs.len() == 1 {
                    let mut t = self.sub();
                    t.compare(path, o, subs[0]);
                    if t.compatible() {
                        self.out.extend(t.out);
                        return;
                    }
                } else if *crit != Crit::All {
                    for sub in subs {
                        let mut t = self.sub();
                        t.compare(path, o, *sub);
                        if t.compatible() {
                            self.out.extend(t.out);
                            self.add(path, Change::SumTypeExtended);
                            return;
                        }
                    }
                }
            }
            (Shape::Combined(crit, subs), _) => {
                if subs.len() == 1 || *crit == Crit::All {
                    for sub in subs {
                        let mut t = self.sub();
                        t.compare(path, *sub, u);
                        if t.compatible() {
                            self.out.extend(t.out);
                            if subs.len() > 1 {
                                self.add(path, Change::ProductTypeNarrowed);
                            }
                            return;
                        }
                    }
                }
            }
            _ => {}
        }
        if os.class() != us.class() {
            if !matches!(os, Shape::False) && !matches!(us, Shape::Empty) {
                self.add(path, Change::TypeChanged);
            }
            return;
        }
        if !self.seen.insert((o.key(), u.key())) {
            return;
        }
        if let (View::Whole, View::Whole, Some(om), Some(um)) = (o.view, u.view, o.map(), u.map()) {
            let get = |m: &'a Map<String, Value>, k: &str| m.get(k);
            let id = |m: &'a Map<String, Value>| get(m, "$id").or_else(|| get(m, "id"));
            for (a, b, change) in [
                (id(om), id(um), Change::IdChanged),
                (get(om, "title"), get(um, "title"), Change::TitleChanged),
                (
                    get(om, "description"),
                    get(um, "description"),
                    Change::DescriptionChanged,
                ),
                (
                    get(om, "default"),
                    get(um, "default"),
                    Change::DefaultChanged,
                ),
            ] {
                if a != b {
                    self.add(path, change);
                }
            }
        }
        match (os, us) {
            (Shape::Str(a), Shape::Str(b)) => strings(self, path, a, b),
            (Shape::Num(a, ai), Shape::Num(b, bi)) => numbers(self, path, (a, ai), (b, bi)),
            (Shape::Obj(a), Shape::Obj(b)) => self.objects(path, a, b),
            (Shape::Arr(a), Shape::Arr(b)) => self.arrays(path, a, b),
            (Shape::Enum(a), Shape::Enum(b)) => {
                let within = |x: &[Value], y: &[Value]| x.iter().all(|v| y.contains(v));
                if !(within(a, b) && within(b, a)) {
                    let p = format!("{path}/enum");
                    if within(a, b) {
                        self.add(&p, Change::EnumArrayExtended);
                    } else if within(b, a) {
                        self.add(&p, Change::EnumArrayNarrowed);
                    } else {
                        self.add(&p, Change::EnumArrayChanged);
                    }
                }
            }
            (Shape::Const(a), Shape::Const(b)) if a != b => self.add(path, Change::ConstChanged),
            (Shape::Not(a), Shape::Not(b)) => {
                let p = format!("{path}/not");
                let mut t = self.sub();
                t.compare(&p, Sub::whole(b), Sub::whole(a));
                let change = if t.compatible() {
                    Change::NotTypeNarrowed
                } else {
                    Change::NotTypeExtended
                };
                self.add(&p, change);
            }
            (Shape::Combined(oc, osubs), Shape::Combined(uc, usubs)) => {
                self.combined(path, (oc, osubs), (uc, usubs));
            }
            _ => {}
        }
    }

    fn combined(
        &mut self,
        path: &str,
        (oc, o): (Crit, Vec<Sub<'a>>),
        (uc, u): (Crit, Vec<Sub<'a>>),
    ) {
        let criterion = if oc == uc {
            None
        } else if uc == Crit::Any || (uc == Crit::One && o.len() == 1) {
            Some(Change::CombinedTypeExtended)
        } else {
            Some(Change::CombinedTypeChanged)
        };
        if let Some(c) = criterion {
            self.add(path, c);
            if c == Change::CombinedTypeChanged {
                return;
            }
        }
        let dedupe = |subs: Vec<Sub<'a>>| {
            let mut out: Vec<Sub<'a>> = Vec::new();
            for s in subs {
                if !out.iter().any(|x| x.v == s.v && x.view == s.view) {
                    out.push(s);
                }
            }
            out
        };
        let (o, u) = (dedupe(o), dedupe(u));
        if o.len() != u.len() {
            let change = match (o.len() < u.len(), uc == Crit::All) {
                (true, true) => Change::ProductTypeExtended,
                (true, false) => Change::SumTypeExtended,
                (false, true) => Change::ProductTypeNarrowed,
                (false, false) => Change::SumTypeNarrowed,
            };
            self.add(path, change);
        }
        let name = match oc {
            Crit::All => "allOf",
            Crit::Any => "anyOf",
            Crit::One => "oneOf",
        };
        // Compatible pairs, then a maximum matching (augmenting paths).
        let mut edges: Vec<Vec<(usize, Vec<Difference>)>> = Vec::new();
        for (i, a) in o.iter().enumerate() {
            let mut row = Vec::new();
            for (j, b) in u.iter().enumerate() {
                let mut t = self.sub();
                t.compare(&format!("{path}/{name}/{i}"), *a, *b);
                if t.compatible() {
                    row.push((j, t.out));
                }
            }
            edges.push(row);
        }
        let mut owner: Vec<Option<usize>> = vec![None; u.len()];
        for i in 0..o.len() {
            let mut visited = vec![false; u.len()];
            augment(i, &edges, &mut owner, &mut visited);
        }
        let mut matched = 0;
        for (j, who) in owner.iter().enumerate() {
            if let Some(i) = who {
                matched += 1;
                if let Some((_, d)) = edges[*i].iter().find(|(k, _)| *k == j) {
                    self.out.extend(d.iter().cloned());
                }
            }
        }
        if matched < o.len().min(u.len()) {
            self.add(path, Change::CombinedTypeSubschemasChanged);
        }
    }
}

/// Kuhn's augmenting path from left vertex `i`.
fn augment(
    i: usize,
    edges: &[Vec<(usize, Vec<Difference>)>],
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for (j, _) in &edges[i] {
        if visited[*j] {
            continue;
        }
        visited[*j] = true;
        if owner[*j].is_none_or(|k| augment(k, edges, owner, visited)) {
            owner[*j] = Some(i);
            return true;
        }
    }
    false
}

/// Compares an optional number limit: added, removed, increased, decreased.
fn limit(ctx: &mut Ctx, path: &str, key: &str, a: Option<f64>, b: Option<f64>, c: [Change; 4]) {
    let p = format!("{path}/{key}");
    match (a, b) {
        (None, Some(_)) => ctx.add(&p, c[0]),
        (Some(_), None) => ctx.add(&p, c[1]),
        (Some(x), Some(y)) if x < y => ctx.add(&p, c[2]),
        (Some(x), Some(y)) if x > y => ctx.add(&p, c[3]),
        _ => {}
    }
}

fn num(m: &Map<String, Value>, k: &str) -> Option<f64> {
    m.get(k).and_then(Value::as_f64)
}

fn strings(ctx: &mut Ctx, path: &str, a: &Map<String, Value>, b: &Map<String, Value>) {
    use Change::*;
    limit(
        ctx,
        path,
        "maxLength",
        num(a, "maxLength"),
        num(b, "maxLength"),
        [
            MaxLengthAdded,
            MaxLengthRemoved,
            MaxLengthIncreased,
            MaxLengthDecreased,
        ],
    );
    limit(
        ctx,
        path,
        "minLength",
        num(a, "minLength"),
        num(b, "minLength"),
        [
            MinLengthAdded,
            MinLengthRemoved,
            MinLengthIncreased,
            MinLengthDecreased,
        ],
    );
    let p = format!("{path}/pattern");
    match (a.get("pattern"), b.get("pattern")) {
        (None, Some(_)) => ctx.add(&p, PatternAdded),
        (Some(_), None) => ctx.add(&p, PatternRemoved),
        (Some(x), Some(y)) if x != y => ctx.add(&p, PatternChanged),
        _ => {}
    }
}

fn numbers(
    ctx: &mut Ctx,
    path: &str,
    (a, ai): (&Map<String, Value>, bool),
    (b, bi): (&Map<String, Value>, bool),
) {
    use Change::*;
    limit(
        ctx,
        path,
        "maximum",
        num(a, "maximum"),
        num(b, "maximum"),
        [
            MaximumAdded,
            MaximumRemoved,
            MaximumIncreased,
            MaximumDecreased,
        ],
    );
    limit(
        ctx,
        path,
        "minimum",
        num(a, "minimum"),
        num(b, "minimum"),
        [
            MinimumAdded,
            MinimumRemoved,
            MinimumIncreased,
            MinimumDecreased,
        ],
    );
    limit(
        ctx,
        path,
        "exclusiveMaximum",
        num(a, "exclusiveMaximum"),
        num(b, "exclusiveMaximum"),
        [
            ExclusiveMaximumAdded,
            ExclusiveMaximumRemoved,
            ExclusiveMaximumIncreased,
            ExclusiveMaximumDecreased,
        ],
    );
    limit(
        ctx,
        path,
        "exclusiveMinimum",
        num(a, "exclusiveMinimum"),
        num(b, "exclusiveMinimum"),
        [
            ExclusiveMinimumAdded,
            ExclusiveMinimumRemoved,
            ExclusiveMinimumIncreased,
            ExclusiveMinimumDecreased,
        ],
    );
    let p = format!("{path}/multipleOf");
    match (num(a, "multipleOf"), num(b, "multipleOf")) {
        (None, Some(_)) => ctx.add(&p, MultipleOfAdded),
        (Some(_), None) => ctx.add(&p, MultipleOfRemoved),
        (Some(x), Some(y)) if x != y => {
            let (x, y) = (x as i64, y as i64);
            if x != 0 && y % x == 0 {
                ctx.add(&p, MultipleOfExpanded);
            } else if y != 0 && x % y == 0 {
                ctx.add(&p, MultipleOfReduced);
            } else {
                ctx.add(&p, MultipleOfChanged);
            }
        }
        _ => {}
    }
    if ai != bi {
        ctx.add(path, if ai { TypeExtended } else { TypeNarrowed });
    }
}

#[cfg(test)]
mod tests;
