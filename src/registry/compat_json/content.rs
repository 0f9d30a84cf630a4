//! Objects and arrays: their content models (open, partially open through
//! `patternProperties` or a schema for additional properties/items, closed),
//! properties, required names, dependencies, items and size limits.

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

use super::{limit, num, Change, Ctx, Sub};

type Obj = Map<String, Value>;

/// `additionalProperties` / `additionalItems`: whether more is allowed, and under which schema.
fn additional<'a>(m: &'a Obj, key: &str) -> (bool, Option<&'a Value>) {
    match m.get(key) {
        None | Some(Value::Bool(true)) => (true, None),
        Some(Value::Bool(false)) => (false, None),
        Some(s) => (true, Some(s)),
    }
}

fn properties(m: &Obj) -> BTreeMap<&str, &Value> {
    m.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn required(m: &Obj) -> BTreeSet<&str> {
    m.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn patterns(m: &Obj) -> Vec<(&str, &Value)> {
    m.get("patternProperties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

/// Open: anything goes for names it does not list.
fn open_object(m: &Obj) -> bool {
    patterns(m).is_empty() && additional(m, "additionalProperties") == (true, None)
}

/// The schema a partially open object gives `key`: a matching pattern's, else its additional one.
fn partial<'a>(m: &'a Obj, key: &str) -> Option<&'a Value> {
    for (p, s) in patterns(m) {
        if Regex::new(p).is_ok_and(|r| r.is_match(key)) {
            return Some(s);
        }
    }
    additional(m, "additionalProperties").1
}

fn has_default(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key("default"))
}

fn is_empty_schema(v: &Value) -> bool {
    v == &Value::Bool(true) || v.as_object().is_some_and(Map::is_empty)
}

impl<'a> Ctx<'a> {
    pub(super) fn objects(&mut self, path: &str, a: &'a Obj, b: &'a Obj) {
        let (pa, pb) = (properties(a), properties(b));
        let (ra, rb) = (required(a), required(b));
        for k in pa.keys().filter(|k| pb.contains_key(*k)) {
            let p = format!("{path}/required/{k}");
            match (ra.contains(k), rb.contains(k)) {
                (true, false) => self.add(&p, Change::RequiredAttributeRemoved),
                (false, true) if has_default(pb[k]) => {
                    self.add(&p, Change::RequiredAttributeWithDefaultAdded)
                }
                (false, true) => self.add(&p, Change::RequiredAttributeAdded),
                _ => {}
            }
        }
        let keys: BTreeSet<&str> = pa.keys().chain(pb.keys()).copied().collect();
        for k in keys {
            let p = format!("{path}/properties/{k}");
            match (pa.get(k), pb.get(k)) {
                (Some(o), None) => self.property_removed(&p, b, k, o),
                (None, Some(u)) => self.property_added(&p, a, (b, &rb), k, u),
                (Some(o), Some(u)) => self.compare(&p, Sub::whole(o), Sub::whole(u)),
                (None, None) => {}
            }
        }
        self.dependencies(path, a, b);
        let p = format!("{path}/additionalProperties");
        let (xa, xb) = (
            additional(a, "additionalProperties"),
            additional(b, "additionalProperties"),
        );
        if xa.0 != xb.0 {
            let c = if xb.0 {
                Change::AdditionalPropertiesAdded
            } else {
                Change::AdditionalPropertiesRemoved
            };
            self.add(&p, c);
        } else {
            match (xa.1, xb.1) {
                (None, Some(_)) => self.add(&p, Change::AdditionalPropertiesNarrowed),
                (Some(_), None) => self.add(&p, Change::AdditionalPropertiesExtended),
                (o, u) => self.maybe(&p, o, u),
            }
        }
        use Change::*;
        limit(
            self,
            path,
            "maxProperties",
            num(a, "maxProperties"),
            num(b, "maxProperties"),
            [
                MaxPropertiesAdded,
                MaxPropertiesRemoved,
                MaxPropertiesIncreased,
                MaxPropertiesDecreased,
            ],
        );
        limit(
            self,
            path,
            "minProperties",
            num(a, "minProperties"),
            num(b, "minProperties"),
            [
                MinPropertiesAdded,
                MinPropertiesRemoved,
                MinPropertiesIncreased,
                MinPropertiesDecreased,
            ],
        );
    }

    /// Property `k` (schema `o`) is gone from the update `b`.
    fn property_removed(&mut self, p: &str, b: &'a Obj, k: &str, o: &'a Value) {
        if open_object(b) {
            return self.add(p, Change::PropertyRemovedFromOpenContentModel);
        }
        if let Some(s) = partial(b, k) {
            let mut t = self.sub();
            t.compare(p, Sub::whole(o), Sub::whole(s));
            let ok = t.compatible();
            self.out.extend(t.out);
            let c = if ok {
                Change::PropertyRemovedIsCoveredByPartiallyOpenContentModel
            } else {
                Change::PropertyRemovedNotCoveredByPartiallyOpenContentModel
            };
            return self.add(p, c);
        }
        let c = if o == &Value::Bool(false) {
            Change::PropertyWithFalseRemovedFromClosedContentModel
        } else {
            Change::PropertyRemovedFromClosedContentModel
        };
        self.add(p, c);
    }

    /// Property `k` (schema `u`) is new in the update `b`.
    fn property_added(
        &mut self,
        p: &str,
        a: &'a Obj,
        (b, rb): (&'a Obj, &BTreeSet<&str>),
        k: &str,
        u: &'a Value,
    ) {
        let _ = b;
        if open_object(a) {
            let c = if is_empty_schema(u) {
                Change::PropertyWithEmptySchemaAddedToOpenContentModel
            } else {
                Change::PropertyAddedToOpenContentModel
            };
            return self.add(p, c);
        }
        if let Some(s) = partial(a, k) {
            let mut t = self.sub();
            t.compare(p, Sub::whole(s), Sub::whole(u));
            let ok = t.compatible();
            self.out.extend(t.out);
            let c = if ok {
                Change::PropertyAddedIsCoveredByPartiallyOpenContentModel
            } else {
                Change::PropertyAddedNotCoveredByPartiallyOpenContentModel
            };
            self.add(p, c);
        }
        let c = match (rb.contains(k), has_default(u)) {
            (true, true) => Change::RequiredPropertyWithDefaultAddedToUnopenContentModel,
            (true, false) => Change::RequiredPropertyAddedToUnopenContentModel,
            (false, _) => Change::OptionalPropertyAddedToUnopenContentModel,
        };
        self.add(p, c);
    }

    fn dependencies(&mut self, path: &str, a: &'a Obj, b: &'a Obj) {
        let deps = |m: &'a Obj| -> BTreeMap<&'a str, &'a Value> {
            m.get("dependencies")
                .and_then(Value::as_object)
                .map(|d| d.iter().map(|(k, v)| (k.as_str(), v)).collect())
                .unwrap_or_default()
        };
        let (da, db) = (deps(a), deps(b));
        let names = |v: &Value| -> Option<BTreeSet<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
        };
        let keys: BTreeSet<&str> = da.keys().chain(db.keys()).copied().collect();
        for k in keys {
            let p = format!("{path}/dependencies/{k}");
            let (o, u) = (da.get(k).copied(), db.get(k).copied());
            let (oa, ua) = (o.and_then(names), u.and_then(names));
            match (o, u) {
                (Some(_), None) if oa.is_some() => self.add(&p, Change::DependencyArrayRemoved),
                (Some(_), None) => self.add(&p, Change::DependencySchemaRemoved),
                (None, Some(_)) if ua.is_some() => self.add(&p, Change::DependencyArrayAdded),
                (None, Some(_)) => self.add(&p, Change::DependencySchemaAdded),
                (Some(x), Some(y)) => match (oa, ua) {
                    (Some(x), Some(y)) if x != y => {
                        let c = if y.is_superset(&x) {
                            Change::DependencyArrayExtended
                        } else if x.is_superset(&y) {
                            Change::DependencyArrayNarrowed
                        } else {
                            Change::DependencyArrayChanged
                        };
                        self.add(&p, c);
                    }
                    (None, None) => self.compare(&p, Sub::whole(x), Sub::whole(y)),
                    (Some(_), Some(_)) => {}
                    _ => self.add(&p, Change::DependencyArrayChanged),
                },
                (None, None) => {}
            }
        }
    }

    pub(super) fn arrays(&mut self, path: &str, a: &'a Obj, b: &'a Obj) {
        let all = |m: &'a Obj| m.get("items").filter(|i| !i.is_array());
        let list = |m: &'a Obj| {
            m.get("items")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
        };
        self.maybe(&format!("{path}/items"), all(a), all(b));
        self.tuple_items(path, (a, list(a)), (b, list(b)));
        let p = format!("{path}/additionalItems");
        let (xa, xb) = (
            additional(a, "additionalItems"),
            additional(b, "additionalItems"),
        );
        if xa.0 != xb.0 {
            let c = if xa.0 {
                Change::AdditionalItemsRemoved
            } else {
                Change::AdditionalItemsAdded
            };
            self.add(&p, c);
        } else {
            match (xa.1, xb.1) {
                (None, Some(_)) => self.add(&p, Change::AdditionalItemsNarrowed),
                (Some(_), None) => self.add(&p, Change::AdditionalItemsExtended),
                (o, u) => self.maybe(&p, o, u),
            }
        }
        use Change::*;
        limit(
            self,
            path,
            "maxItems",
            num(a, "maxItems"),
            num(b, "maxItems"),
            [
                MaxItemsAdded,
                MaxItemsRemoved,
                MaxItemsIncreased,
                MaxItemsDecreased,
            ],
        );
        limit(
            self,
            path,
            "minItems",
            num(a, "minItems"),
            num(b, "minItems"),
            [
                MinItemsAdded,
                MinItemsRemoved,
                MinItemsIncreased,
                MinItemsDecreased,
            ],
        );
        let unique = |m: &Obj| m.get("uniqueItems") == Some(&Value::Bool(true));
        match (unique(a), unique(b)) {
            (true, false) => self.add(&format!("{path}/uniqueItems"), UniqueItemsRemoved),
            (false, true) => self.add(&format!("{path}/uniqueItems"), UniqueItemsAdded),
            _ => {}
        }
    }

    /// The schemas of a tuple's positions, against each other or the content model.
    fn tuple_items(
        &mut self,
        path: &str,
        (a, la): (&'a Obj, &'a [Value]),
        (b, lb): (&'a Obj, &'a [Value]),
    ) {
        let open = |m: &Obj| additional(m, "additionalItems") == (true, None);
        for i in 0..la.len().max(lb.len()) {
            let p = format!("{path}/items/{i}");
            match (la.get(i), lb.get(i)) {
                (Some(o), Some(u)) => self.compare(&p, Sub::whole(o), Sub::whole(u)),
                (Some(o), None) => {
                    if open(b) {
                        self.add(&p, Change::ItemRemovedFromOpenContentModel);
                    } else if let Some(s) = additional(b, "additionalItems").1 {
                        self.covered(
                            &p,
                            (o, s),
                            [
                                Change::ItemRemovedIsCoveredByPartiallyOpenContentModel,
                                Change::ItemRemovedNotCoveredByPartiallyOpenContentModel,
                            ],
                        );
                    } else if o == &Value::Bool(false) {
                        self.add(&p, Change::ItemWithFalseRemovedFromClosedContentModel);
                    } else {
                        self.add(&p, Change::ItemRemovedFromClosedContentModel);
                    }
                }
                (None, Some(u)) => {
                    if open(a) {
                        let c = if is_empty_schema(u) {
                            Change::ItemWithEmptySchemaAddedToOpenContentModel
                        } else {
                            Change::ItemAddedToOpenContentModel
                        };
                        self.add(&p, c);
                    } else if let Some(s) = additional(a, "additionalItems").1 {
                        self.covered(
                            &p,
                            (s, u),
                            [
                                Change::ItemAddedIsCoveredByPartiallyOpenContentModel,
                                Change::ItemAddedNotCoveredByPartiallyOpenContentModel,
                            ],
                        );
                    } else {
                        self.add(&p, Change::ItemAddedToClosedContentModel);
                    }
                }
                (None, None) => {}
            }
        }
    }

    /// A trial comparison of `o` with `u`: its differences, then `c[0]` if compatible, else `c[1]`.
    fn covered(&mut self, p: &str, (o, u): (&'a Value, &'a Value), c: [Change; 2]) {
        let mut t = self.sub();
        t.compare(p, Sub::whole(o), Sub::whole(u));
        let ok = t.compatible();
        self.out.extend(t.out);
        self.add(p, if ok { c[0] } else { c[1] });
    }
}
