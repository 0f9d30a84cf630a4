//! Protobuf compatibility by Confluent's rules: the differences between an
//! original schema and an update, each of a [`Change`] kind that is either
//! compatible or not. The update is compatible when every difference is.
//!
//! Fields are matched by number. Adding or removing a field, renaming it,
//! adding or removing messages and enums, enum constants, moving a message
//! (its index changes), and changing a scalar within its wire-compatible
//! group (`int32`, `int64`, `uint32`, `uint64`, `bool` and enums; `sint32`,
//! `sint64`; `string`, `bytes`; `fixed32`, `sfixed32`; `fixed64`,
//! `sfixed64`) are compatible. A field whose kind changes (scalar, message,
//! map), whose scalar leaves its group, whose message type is another
//! (by name, or a referenced one that changed incompatibly), a numeric field
//! that becomes repeated or singular, a `required` field added or removed,
//! a field removed from a oneof, or several fields moved into one oneof,
//! are not. A changed field number is a removal and an addition: compatible
//! alone, as Confluent's registry answers; it breaks when another field
//! takes the old number with another type.
//!
//! BACKWARD compares (previous, new), FORWARD (new, previous).

use prost_reflect::{
    Cardinality, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A kind of difference, named as Confluent names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Change {
    PackageChanged,
    MessageAdded,
    MessageRemoved,
    MessageMoved,
    EnumAdded,
    EnumRemoved,
    EnumConstAdded,
    EnumConstChanged,
    EnumConstRemoved,
    FieldAdded,
    FieldRemoved,
    FieldNameChanged,
    FieldKindChanged,
    FieldScalarKindChanged,
    FieldNamedTypeChanged,
    FieldNumericLabelChanged,
    FieldStringOrBytesLabelChanged,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    OneofAdded,
    OneofRemoved,
    OneofFieldAdded,
    OneofFieldRemoved,
    MultipleFieldsMovedToOneof,
    FieldMovedToExistingOneof,
}

impl Change {
    /// Whether a reader of one schema still reads data of the other.
    pub fn compatible(self) -> bool {
        !matches!(
            self,
            Change::MessageRemoved
                | Change::FieldKindChanged
                | Change::FieldScalarKindChanged
                | Change::FieldNamedTypeChanged
                | Change::FieldNumericLabelChanged
                | Change::RequiredFieldAdded
                | Change::RequiredFieldRemoved
                | Change::OneofFieldRemoved
                | Change::MultipleFieldsMovedToOneof
                | Change::FieldMovedToExistingOneof
        )
    }

    /// Its name, `FIELD_SCALAR_KIND_CHANGED`.
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

/// One difference: what changed, and where (`#/Event/3`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difference {
    /// The kind.
    pub change: Change,
    /// The path: messages, then a field number or a oneof.
    pub path: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.change.name(), self.path)
    }
}

/// The differences from `original` to `update`, in a stable order.
pub fn compare(original: &FileDescriptor, update: &FileDescriptor) -> Vec<Difference> {
    let mut ctx = Ctx::default();
    if original.package_name() != update.package_name() {
        ctx.add(Change::PackageChanged, "#/".into());
    }
    ctx.types(
        "#",
        original.messages().collect(),
        original.enums().collect(),
        update.messages().collect(),
        update.enums().collect(),
    );
    ctx.out.into_iter().collect()
}

/// Whether every difference is compatible.
pub fn compatible(differences: &[Difference]) -> bool {
    differences.iter().all(|d| d.change.compatible())
}

#[derive(Default)]
struct Ctx {
    out: BTreeSet<Difference>,
    /// Message pairs being compared (recursive types stop here).
    seen: HashSet<(String, String)>,
}

/// A message's fields outside real oneofs, by number.
fn plain_fields(m: &MessageDescriptor) -> BTreeMap<u32, FieldDescriptor> {
    m.fields()
        .filter(|f| f.containing_oneof().is_none_or(|o| o.is_synthetic()))
        .map(|f| (f.number(), f))
        .collect()
}

/// A message's real oneofs: name -> fields by number.
type OneofFields = BTreeMap<String, BTreeMap<u32, FieldDescriptor>>;

/// The real oneofs of `m`.
fn oneofs(m: &MessageDescriptor) -> OneofFields {
    m.oneofs()
        .filter(|o| !o.is_synthetic())
        .map(|o| {
            (
                o.name().to_string(),
                o.fields().map(|f| (f.number(), f)).collect(),
            )
        })
        .collect()
}

impl Ctx {
    fn add(&mut self, change: Change, path: String) {
        self.out.insert(Difference { change, path });
    }

    /// Compares the messages and enums of one scope, matched by name.
    fn types(
        &mut self,
        path: &str,
        om: Vec<MessageDescriptor>,
        oe: Vec<EnumDescriptor>,
        um: Vec<MessageDescriptor>,
        ue: Vec<EnumDescriptor>,
    ) {
        let index = |ms: Vec<MessageDescriptor>| -> BTreeMap<String, (usize, MessageDescriptor)> {
            ms.into_iter()
                .filter(|m| !m.is_map_entry())
                .enumerate()
                .map(|(i, m)| (m.name().to_string(), (i, m)))
                .collect()
        };
        let (om, um) = (index(om), index(um));
        let names: BTreeSet<&String> = om.keys().chain(um.keys()).collect();
        for name in names {
            let p = format!("{path}/{name}");
            match (om.get(name), um.get(name)) {
                (Some(_), None) => self.add(Change::MessageRemoved, p),
                (None, Some(_)) => self.add(Change::MessageAdded, p),
                (Some((oi, o)), Some((ui, u))) => {
                    self.message(&p, o, u);
                    if oi != ui {
                        self.add(Change::MessageMoved, p);
                    }
                }
                (None, None) => {}
            }
        }
        let by_name = |es: Vec<EnumDescriptor>| -> BTreeMap<String, EnumDescriptor> {
            es.into_iter().map(|e| (e.name().to_string(), e)).collect()
        };
        let (oe, ue) = (by_name(oe), by_name(ue));
        let names: BTreeSet<&String> = oe.keys().chain(ue.keys()).collect();
        for name in names {
            let p = format!("{path}/{name}");
            match (oe.get(name), ue.get(name)) {
                (Some(_), None) => self.add(Change::EnumRemoved, p),
                (None, Some(_)) => self.add(Change::EnumAdded, p),
                (Some(o), Some(u)) => self.enumeration(&p, o, u),
                (None, None) => {}
            }
        }
    }

    fn enumeration(&mut self, path: &str, o: &EnumDescriptor, u: &EnumDescriptor) {
        let consts = |e: &EnumDescriptor| -> BTreeMap<i32, String> {
            e.values()
                .map(|v| (v.number(), v.name().to_string()))
                .collect()
        };
        let (oc, uc) = (consts(o), consts(u));
        let numbers: BTreeSet<&i32> = oc.keys().chain(uc.keys()).collect();
        for n in numbers {
            let p = format!("{path}/{n}");
            match (oc.get(n), uc.get(n)) {
                (Some(_), None) => self.add(Change::EnumConstRemoved, p),
                (None, Some(_)) => self.add(Change::EnumConstAdded, p),
                (Some(a), Some(b)) if a != b => self.add(Change::EnumConstChanged, p),
                _ => {}
            }
        }
    }

    fn message(&mut self, path: &str, o: &MessageDescriptor, u: &MessageDescriptor) {
        let key = (o.full_name().to_string(), u.full_name().to_string());
        if !self.seen.insert(key) {
            return;
        }
        let mut o_plain = plain_fields(o);
        let u_plain = plain_fields(u);
        let (o_oneofs, u_oneofs) = (oneofs(o), oneofs(u));
        let o_in_oneof: BTreeMap<u32, &String> = o_oneofs
            .iter()
            .flat_map(|(n, fs)| fs.keys().map(move |k| (*k, n)))
            .collect();
        let u_in_oneof: BTreeMap<u32, &String> = u_oneofs
            .iter()
            .flat_map(|(n, fs)| fs.keys().map(move |k| (*k, n)))
            .collect();
        for (name, fields) in &u_oneofs {
            let (mut moved, mut existing) = (0, 0);
            for n in fields.keys() {
                if o_plain.remove(n).is_some() {
                    moved += 1;
                } else if o_in_oneof.contains_key(n) {
                    existing += 1;
                }
            }
            let p = format!("{path}/{name}");
            if moved > 1 {
                self.add(Change::MultipleFieldsMovedToOneof, p);
            } else if moved == 1 && existing > 0 {
                self.add(Change::FieldMovedToExistingOneof, p);
            }
        }
        let u_all: BTreeSet<u32> = u.fields().map(|f| f.number()).collect();
        self.oneof_changes(path, &o_oneofs, &u_oneofs, &u_all);
        let numbers: BTreeSet<u32> = o_plain.keys().chain(u_plain.keys()).copied().collect();
        for n in numbers {
            let p = format!("{path}/{n}");
            match (o_plain.get(&n), u_plain.get(&n)) {
                (Some(f), None) if f.cardinality() == Cardinality::Required => {
                    self.add(Change::RequiredFieldRemoved, p)
                }
                (Some(_), None) => self.add(Change::FieldRemoved, p),
                (None, Some(f)) if f.cardinality() == Cardinality::Required => {
                    self.add(Change::RequiredFieldAdded, p)
                }
                (None, Some(_)) => self.add(Change::FieldAdded, p),
                (Some(a), Some(b)) => self.field(&p, a, b),
                (None, None) => {}
            }
        }
        // Fields that moved into, out of, or between oneofs: compared by number.
        for f in o.fields() {
            let n = f.number();
            let (a, b) = (o_in_oneof.get(&n), u_in_oneof.get(&n));
            if (a.is_none() && b.is_none()) || (a.is_some() && a == b) {
                continue;
            }
            if let Some(g) = u.get_field(n) {
                self.field(&format!("{path}/{n}"), &f, &g);
            }
        }
        self.types(
            path,
            o.child_messages().collect(),
            o.child_enums().collect(),
            u.child_messages().collect(),
            u.child_enums().collect(),
        );
    }

    /// Oneofs by name: added, removed, or compared field by field (a field
    /// that left a oneof but stays in the message was moved, not removed).
    fn oneof_changes(
        &mut self,
        path: &str,
        o: &OneofFields,
        u: &OneofFields,
        u_all: &BTreeSet<u32>,
    ) {
        let names: BTreeSet<&String> = o.keys().chain(u.keys()).collect();
        for name in names {
            let p = format!("{path}/{name}");
            match (o.get(name), u.get(name)) {
                (Some(_), None) => self.add(Change::OneofRemoved, p),
                (None, Some(_)) => self.add(Change::OneofAdded, p),
                (Some(of), Some(uf)) => {
                    let numbers: BTreeSet<&u32> = of.keys().chain(uf.keys()).collect();
                    for n in numbers {
                        let fp = format!("{p}/{n}");
                        match (of.get(n), uf.get(n)) {
                            (Some(_), None) if !u_all.contains(n) => {
                                self.add(Change::OneofFieldRemoved, fp)
                            }
                            (None, Some(_)) => self.add(Change::OneofFieldAdded, fp),
                            (Some(a), Some(b)) => self.field(&fp, a, b),
                            _ => {}
                        }
                    }
                }
                (None, None) => {}
            }
        }
    }

    fn field(&mut self, path: &str, o: &FieldDescriptor, u: &FieldDescriptor) {
        if o.name() != u.name() {
            self.add(Change::FieldNameChanged, path.into());
        }
        if !o.is_map() && !u.is_map() && o.is_list() != u.is_list() {
            match (scalar(&o.kind()), scalar(&u.kind())) {
                (Some(Scalar::StringOrBytes), _) => {
                    self.add(Change::FieldStringOrBytesLabelChanged, path.into())
                }
                (Some(_), _) => self.add(Change::FieldNumericLabelChanged, path.into()),
                (None, _) => {}
            }
        }
        self.types_of(path, o, u);
    }

    /// Compares the types of two fields (maps by key and value).
    fn types_of(&mut self, path: &str, o: &FieldDescriptor, u: &FieldDescriptor) {
        match (map_of(o), map_of(u)) {
            (Some((ok, ov)), Some((uk, uv))) => {
                self.kinds(path, &ok.kind(), &uk.kind());
                self.kinds(path, &ov.kind(), &uv.kind());
            }
            (None, None) => self.kinds(path, &o.kind(), &u.kind()),
            _ => self.add(Change::FieldKindChanged, path.into()),
        }
    }

    fn kinds(&mut self, path: &str, o: &Kind, u: &Kind) {
        match (o, u, scalar(o), scalar(u)) {
            (_, _, Some(a), Some(b)) => {
                if a != b {
                    self.add(Change::FieldScalarKindChanged, path.into());
                }
            }
            (Kind::Message(a), Kind::Message(b), None, None) => self.named(path, a, b),
            _ => self.add(Change::FieldKindChanged, path.into()),
        }
    }

    /// Two message types: the same local name, and compatible contents.
    fn named(&mut self, path: &str, o: &MessageDescriptor, u: &MessageDescriptor) {
        if local_name(o) != local_name(u) {
            self.add(Change::FieldNamedTypeChanged, path.into());
            return;
        }
        let mut sub = Ctx {
            out: BTreeSet::new(),
            seen: self.seen.clone(),
        };
        sub.message(&format!("#/{}", local_name(o)), o, u);
        let bad = sub.out.iter().any(|d| !d.change.compatible());
        self.out.extend(sub.out);
        if bad {
            self.add(Change::FieldNamedTypeChanged, path.into());
        }
    }
}

/// A message's full name without its file's package.
fn local_name(m: &MessageDescriptor) -> String {
    let pkg = m.package_name();
    let full = m.full_name();
    match full.strip_prefix(pkg).and_then(|r| r.strip_prefix('.')) {
        Some(local) if !pkg.is_empty() => local.to_string(),
        _ => full.to_string(),
    }
}

/// A map field's key and value fields.
fn map_of(f: &FieldDescriptor) -> Option<(FieldDescriptor, FieldDescriptor)> {
    match f.kind() {
        Kind::Message(entry) if f.is_map() => {
            Some((entry.map_entry_key_field(), entry.map_entry_value_field()))
        }
        _ => None,
    }
}

/// Groups of wire-compatible scalars (enums are numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Number,
    Signed,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

fn scalar(kind: &Kind) -> Option<Scalar> {
    Some(match kind {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool | Kind::Enum(_) => {
            Scalar::Number
        }
        Kind::Sint32 | Kind::Sint64 => Scalar::Signed,
        Kind::String | Kind::Bytes => Scalar::StringOrBytes,
        Kind::Fixed32 | Kind::Sfixed32 => Scalar::Fixed32,
        Kind::Fixed64 | Kind::Sfixed64 => Scalar::Fixed64,
        Kind::Float => Scalar::Float,
        Kind::Double => Scalar::Double,
        Kind::Message(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::proto::{compile, Source};

    fn diff(a: &str, b: &str) -> (Vec<String>, bool) {
        let (a, b) = (compile(a, &[]).unwrap(), compile(b, &[]).unwrap());
        let d = compare(&a, &b);
        (d.iter().map(ToString::to_string).collect(), compatible(&d))
    }

    const P3: &str = "syntax = \"proto3\";";

    #[test]
    fn names_changes_as_confluent_does() {
        assert_eq!(
            Change::FieldScalarKindChanged.name(),
            "FIELD_SCALAR_KIND_CHANGED"
        );
        let (d, ok) = diff(
            &format!("{P3} message M {{ string s = 1; int32 i = 2; }}"),
            &format!("{P3} message M {{ string s = 1; string t = 2; }}"),
        );
        assert_eq!(
            d,
            [
                "FIELD_NAME_CHANGED #/M/2",
                "FIELD_SCALAR_KIND_CHANGED #/M/2"
            ]
        );
        assert!(!ok);
    }

    #[test]
    fn referenced_types_are_compared_by_contents() {
        let dep = |t: &str| Source {
            name: "home.proto".into(),
            text: format!("{P3} package demo; message Home {{ {t} id = 1; bool on = 2; }}"),
        };
        let root = format!("{P3} import \"home.proto\"; message M {{ demo.Home h = 1; }}");
        let a = compile(&root, &[dep("int32")]).unwrap();
        let same = compile(&root, &[dep("int64")]).unwrap();
        let other = compile(&root, &[dep("string")]).unwrap();
        assert!(compatible(&compare(&a, &same)));
        let d = compare(&a, &other);
        assert!(!compatible(&d));
        assert!(
            d.iter()
                .any(|d| d.to_string() == "FIELD_NAMED_TYPE_CHANGED #/M/1"),
            "{d:?}"
        );
    }
}

#[cfg(test)]
#[path = "compat_proto_cases.rs"]
mod cases;
