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

mod change;
mod content;
mod shape;

pub use change::Change;
use serde_json::{Map, Value};
use shape::{shape, Crit, Shape, Sub, View};
use std::collections::{BTreeSet, HashSet};

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
        if self.one_side_combined(path, (o, &os), (u, &us)) {
            return;
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
            self.annotations(path, om, um);
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

    /// A combined schema against a plain one: a branch of the update that
    /// takes the original (a sum type extended), or a part of the original
    /// that the update keeps (an allOf narrowed). True when that settled it.
    fn one_side_combined(
        &mut self,
        path: &str,
        (o, os): (Sub<'a>, &Shape<'a>),
        (u, us): (Sub<'a>, &Shape<'a>),
    ) -> bool {
        let (subs, into_update, change) = match (os, us) {
            (Shape::Combined(..), Shape::Combined(..)) => return false,
            (_, Shape::Combined(crit, subs)) if subs.len() == 1 || *crit != Crit::All => (
                subs,
                true,
                (subs.len() > 1).then_some(Change::SumTypeExtended),
            ),
            (Shape::Combined(crit, subs), _) if subs.len() == 1 || *crit == Crit::All => (
                subs,
                false,
                (subs.len() > 1).then_some(Change::ProductTypeNarrowed),
            ),
            _ => return false,
        };
        for sub in subs {
            let mut t = self.sub();
            if into_update {
                t.compare(path, o, *sub);
            } else {
                t.compare(path, *sub, u);
            }
            if t.compatible() {
                self.out.extend(t.out);
                if let Some(c) = change {
                    self.add(path, c);
                }
                return true;
            }
        }
        false
    }

    /// `$id`/`id`, `title`, `description` and `default` of two whole schemas.
    fn annotations(&mut self, path: &str, om: &'a Map<String, Value>, um: &'a Map<String, Value>) {
        let get = |m: &'a Map<String, Value>, k: &str| m.get(k);
        let id = |m: &'a Map<String, Value>| get(m, "$id").or_else(|| get(m, "id"));
        let pairs = [
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
        ];
        for (a, b, change) in pairs {
            if a != b {
                self.add(path, change);
            }
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
