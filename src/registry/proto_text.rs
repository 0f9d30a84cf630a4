//! The canonical form of a Protobuf schema: its compiled descriptor
//! printed back as `.proto` text, one declaration per line, types fully
//! qualified (`.braid.Event`), comments and layout gone. The same schema
//! written with other whitespace, comments, relative type names, or sent
//! as a base64 `FileDescriptorProto` (as confluent-kafka-python does)
//! prints the same, so it keeps its id; and what is printed compiles back
//! to the same descriptor (the unit tests check both).
//!
//! Declarations keep their order: message indexes count messages in file
//! order. Options are printed from the descriptor's option messages, custom
//! options (extensions) included; `json_name` only where it is not the
//! default. Groups (proto2) are refused by the registry before this.

use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    Syntax, Value,
};
use std::fmt::Write as _;

/// The canonical text of `file`.
pub fn print(file: &FileDescriptor) -> String {
    let mut out = String::new();
    let proto = file.file_descriptor_proto();
    let syntax = match file.syntax() {
        Syntax::Proto2 => "proto2",
        Syntax::Proto3 => "proto3",
    };
    let _ = writeln!(out, "syntax = \"{syntax}\";");
    if !file.package_name().is_empty() {
        let _ = writeln!(out, "package {};", file.package_name());
    }
    for (i, dep) in proto.dependency.iter().enumerate() {
        let i = i as i32;
        let kind = if proto.public_dependency.contains(&i) {
            "public "
        } else if proto.weak_dependency.contains(&i) {
            "weak "
        } else {
            ""
        };
        let _ = writeln!(out, "import {kind}{};", quote(dep));
    }
    options(&mut out, 0, &file.options(), &[]);
    for m in file.messages() {
        message(&mut out, 0, &m);
    }
    for e in file.enums() {
        enumeration(&mut out, 0, &e);
    }
    extensions(
        &mut out,
        0,
        file.extensions().map(|x| {
            (
                x.containing_message(),
                x.field_descriptor_proto().clone(),
                x.options(),
            )
        }),
    );
    for s in file.services() {
        let _ = writeln!(out, "service {} {{", s.name());
        options(&mut out, 1, &s.options(), &[]);
        for m in s.methods() {
            let stream = |yes: bool| if yes { "stream " } else { "" };
            let _ = write!(
                out,
                "  rpc {}({}.{}) returns ({}.{})",
                m.name(),
                stream(m.is_client_streaming()),
                m.input().full_name(),
                stream(m.is_server_streaming()),
                m.output().full_name()
            );
            let opts = m.options();
            if opts.fields().next().is_none() && opts.extensions().next().is_none() {
                out.push_str(";\n");
            } else {
                out.push_str(" {\n");
                options(&mut out, 2, &opts, &[]);
                out.push_str("  }\n");
            }
        }
        out.push_str("}\n");
    }
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// `option NAME = VALUE;` for each set option but those in `skip`.
fn options(out: &mut String, depth: usize, opts: &DynamicMessage, skip: &[&str]) {
    for (name, value) in option_values(opts) {
        if skip.contains(&name.as_str()) {
            continue;
        }
        indent(out, depth);
        let _ = writeln!(out, "option {name} = {value};");
    }
}

/// The set options of `opts`, as (name, value) text pairs; repeated options once per value.
fn option_values(opts: &DynamicMessage) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (f, value) in opts.fields() {
        push_values(&mut v, f.name().to_string(), &f.kind(), value);
    }
    for (x, value) in opts.extensions() {
        push_values(&mut v, format!("({})", x.full_name()), &x.kind(), value);
    }
    v
}

fn push_values(v: &mut Vec<(String, String)>, name: String, kind: &Kind, value: &Value) {
    match value {
        Value::List(items) => {
            for item in items {
                v.push((name.clone(), literal(kind, item)));
            }
        }
        other => v.push((name, literal(kind, other))),
    }
}

/// An option value as `.proto` text.
fn literal(kind: &Kind, value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::F32(x) => float(f64::from(*x)),
        Value::F64(x) => float(*x),
        Value::String(s) => quote(s),
        Value::Bytes(b) => quote_bytes(b),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_string()),
            _ => n.to_string(),
        },
        Value::Message(m) => format!("{{ {} }}", m.to_text_format()),
        Value::List(_) | Value::Map(_) => String::new(),
    }
}

fn float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x:?}")
    }
}

/// A string literal.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(q, "\\{:03o}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// A bytes literal: printable ASCII as is, the rest octal-escaped.
fn quote_bytes(b: &[u8]) -> String {
    let mut q = String::from("\"");
    for &c in b {
        match c {
            b'"' => q.push_str("\\\""),
            b'\\' => q.push_str("\\\\"),
            0x20..=0x7e => q.push(c as char),
            _ => {
                let _ = write!(q, "\\{c:03o}");
            }
        }
    }
    q.push('"');
    q
}

fn message(out: &mut String, depth: usize, m: &MessageDescriptor) {
    indent(out, depth);
    let _ = writeln!(out, "message {} {{", m.name());
    options(out, depth + 1, &m.options(), &["map_entry"]);
    let mut oneofs_done = Vec::new();
    for f in m.fields() {
        match f.containing_oneof().filter(|o| !o.is_synthetic()) {
            None => field(out, depth + 1, &f, true),
            Some(o) if !oneofs_done.contains(&o.name().to_string()) => {
                oneofs_done.push(o.name().to_string());
                indent(out, depth + 1);
                let _ = writeln!(out, "oneof {} {{", o.name());
                options(out, depth + 2, &o.options(), &[]);
                for f in o.fields() {
                    field(out, depth + 2, &f, false);
                }
                indent(out, depth + 1);
                out.push_str("}\n");
            }
            Some(_) => {}
        }
    }
    for child in m.child_messages().filter(|c| !c.is_map_entry()) {
        message(out, depth + 1, &child);
    }
    for e in m.child_enums() {
        enumeration(out, depth + 1, &e);
    }
    extensions(
        out,
        depth + 1,
        m.child_extensions().map(|x| {
            (
                x.containing_message(),
                x.field_descriptor_proto().clone(),
                x.options(),
            )
        }),
    );
    reserved(
        out,
        depth + 1,
        m.reserved_ranges()
            .map(|r| (i64::from(r.start), i64::from(r.end) - 1)),
        m.reserved_names(),
    );
    for r in m.extension_ranges() {
        indent(out, depth + 1);
        let _ = writeln!(
            out,
            "extensions {};",
            range(i64::from(r.start), i64::from(r.end) - 1)
        );
    }
    indent(out, depth);
    out.push_str("}\n");
}

/// `reserved` lines: ranges (inclusive), then names.
fn reserved<'a>(
    out: &mut String,
    depth: usize,
    ranges: impl Iterator<Item = (i64, i64)>,
    names: impl Iterator<Item = &'a str>,
) {
    let ranges: Vec<String> = ranges.map(|(a, b)| range(a, b)).collect();
    if !ranges.is_empty() {
        indent(out, depth);
        let _ = writeln!(out, "reserved {};", ranges.join(", "));
    }
    let names: Vec<String> = names.map(quote).collect();
    if !names.is_empty() {
        indent(out, depth);
        let _ = writeln!(out, "reserved {};", names.join(", "));
    }
}

fn range(a: i64, b: i64) -> String {
    match (a == b, b) {
        (true, _) => a.to_string(),
        (false, 536_870_911) => format!("{a} to max"),
        _ => format!("{a} to {b}"),
    }
}

/// The type of a field as written in `.proto` text.
fn type_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => format!(".{}", m.full_name()),
        Kind::Enum(e) => format!(".{}", e.full_name()),
    }
}

fn field(out: &mut String, depth: usize, f: &FieldDescriptor, labelled: bool) {
    let p = f.field_descriptor_proto();
    let ty = match f.kind() {
        Kind::Message(entry) if f.is_map() => {
            let (k, v) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            format!("map<{}, {}>", type_name(&k.kind()), type_name(&v.kind()))
        }
        kind => type_name(&kind),
    };
    let label = match (labelled, f.is_map(), p.label()) {
        (false, _, _) | (_, true, _) => "",
        (_, _, prost_types::field_descriptor_proto::Label::Repeated) => "repeated ",
        (_, _, prost_types::field_descriptor_proto::Label::Required) => "required ",
        _ if p.proto3_optional() || f.parent_file().syntax() == Syntax::Proto2 => "optional ",
        _ => "",
    };
    let mut opts: Vec<String> = Vec::new();
    if let Some(d) = &p.default_value {
        let value = match f.kind() {
            Kind::String => quote(d),
            Kind::Bytes => format!("\"{d}\""),
            _ => d.clone(),
        };
        opts.push(format!("default = {value}"));
    }
    if p.json_name
        .as_deref()
        .is_some_and(|j| j != default_json_name(f.name()))
    {
        opts.push(format!("json_name = {}", quote(f.json_name())));
    }
    opts.extend(
        option_values(&f.options())
            .into_iter()
            .map(|(n, v)| format!("{n} = {v}")),
    );
    indent(out, depth);
    let _ = write!(out, "{label}{ty} {} = {}", f.name(), f.number());
    if !opts.is_empty() {
        let _ = write!(out, " [{}]", opts.join(", "));
    }
    out.push_str(";\n");
}

/// The `json_name` protoc gives a field: its name in lowerCamelCase.
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `extend` blocks, one per extended message, in order.
fn extensions(
    out: &mut String,
    depth: usize,
    xs: impl Iterator<
        Item = (
            MessageDescriptor,
            prost_types::FieldDescriptorProto,
            DynamicMessage,
        ),
    >,
) {
    let xs: Vec<_> = xs.collect();
    let mut done: Vec<String> = Vec::new();
    for (target, _, _) in &xs {
        if done.contains(&target.full_name().to_string()) {
            continue;
        }
        done.push(target.full_name().to_string());
        indent(out, depth);
        let _ = writeln!(out, "extend .{} {{", target.full_name());
        for (t, p, opts) in xs
            .iter()
            .filter(|(t, _, _)| t.full_name() == target.full_name())
        {
            let _ = t;
            extension_field(out, depth + 1, p, opts);
        }
        indent(out, depth);
        out.push_str("}\n");
    }
}

fn extension_field(
    out: &mut String,
    depth: usize,
    p: &prost_types::FieldDescriptorProto,
    opts: &DynamicMessage,
) {
    use prost_types::field_descriptor_proto::{Label, Type};
    let label = match p.label() {
        Label::Repeated => "repeated ",
        Label::Required => "required ",
        Label::Optional => "optional ",
    };
    let ty = match p.r#type() {
        Type::Message | Type::Enum | Type::Group => p.type_name().to_string(),
        t => t
            .as_str_name()
            .trim_start_matches("TYPE_")
            .to_ascii_lowercase(),
    };
    let opts: Vec<String> = option_values(opts)
        .into_iter()
        .map(|(n, v)| format!("{n} = {v}"))
        .collect();
    indent(out, depth);
    let _ = write!(out, "{label}{ty} {} = {}", p.name(), p.number());
    if !opts.is_empty() {
        let _ = write!(out, " [{}]", opts.join(", "));
    }
    out.push_str(";\n");
}

fn enumeration(out: &mut String, depth: usize, e: &EnumDescriptor) {
    indent(out, depth);
    let _ = writeln!(out, "enum {} {{", e.name());
    options(out, depth + 1, &e.options(), &[]);
    // Declaration order (values() is by number, aliases reordered).
    for name in e.enum_descriptor_proto().value.iter().map(|v| v.name()) {
        let Some(v) = e.get_value_by_name(name) else {
            continue;
        };
        let opts: Vec<String> = option_values(&v.options())
            .into_iter()
            .map(|(n, v)| format!("{n} = {v}"))
            .collect();
        indent(out, depth + 1);
        let _ = write!(out, "{} = {}", v.name(), v.number());
        if !opts.is_empty() {
            let _ = write!(out, " [{}]", opts.join(", "));
        }
        out.push_str(";\n");
    }
    reserved(
        out,
        depth + 1,
        e.reserved_ranges()
            .map(|r| (i64::from(*r.start()), i64::from(*r.end()))),
        e.reserved_names(),
    );
    indent(out, depth);
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::proto::{compile, EVENT_PROTO_V2};

    const RICH: &str = r#"
        syntax = "proto2";
        package shop.v1;
        import "google/protobuf/timestamp.proto";
        import "google/protobuf/descriptor.proto";
        option java_package = "com.example.shop";
        option optimize_for = SPEED;
        extend google.protobuf.FieldOptions { optional string pii = 50001; }
        // An order.
        message Order {
          option deprecated = true;
          required int64 id = 1;
          optional string note = 2 [default = "a \"quoted\"\nline", deprecated = true];
          repeated int32 lines = 3 [packed = true];
          map<string, Item> items = 4;
          optional google.protobuf.Timestamp at = 5;
          oneof pay { string card = 6 [(pii) = "yes"]; Cash cash = 7; }
          optional Status status = 8 [default = OPEN];
          optional bytes raw = 9 [default = "\001\377x"];
          optional int32 odd_name = 10 [json_name = "weird"];
          message Item { optional double price = 1 [default = -inf]; }
          enum Status { option allow_alias = true; OPEN = 0; ALSO_OPEN = 0; CLOSED = 2 [deprecated = true]; reserved 5 to 9, 20; reserved "GONE"; }
          reserved 100 to 199, 3000 to max; reserved "old";
          extensions 1000 to 1999;
        }
        message Cash { optional uint32 cents = 1; }
        extend Order { optional string tag = 1000; }
        service Shop { rpc Place(Order) returns (stream Cash) { option deprecated = true; } rpc Get(Cash) returns (Order); }
    "#;

    #[test]
    fn prints_text_that_compiles_to_the_same_descriptor() {
        for text in [RICH, EVENT_PROTO_V2] {
            let file = compile(text, &[]).unwrap();
            let printed = print(&file);
            let again = compile(&printed, &[]).unwrap_or_else(|e| panic!("{e}\n{printed}"));
            let bare = |f: &FileDescriptor| {
                let mut p = f.file_descriptor_proto().clone();
                p.source_code_info = None;
                p
            };
            assert_eq!(bare(&again), bare(&file), "{printed}");
            assert_eq!(print(&again), printed, "printing is stable");
        }
    }

    #[test]
    fn whitespace_comments_and_relative_names_do_not_change_the_text() {
        let a = "syntax=\"proto3\";package p;message A{B b=1;message B{}}";
        let b = "// a comment\nsyntax = \"proto3\";\n\npackage p;\n\nmessage A {\n  .p.A.B b = 1; // the B\n  message B {}\n}\n";
        let (pa, pb) = (
            print(&compile(a, &[]).unwrap()),
            print(&compile(b, &[]).unwrap()),
        );
        assert_eq!(pa, pb);
        assert_eq!(pa, "syntax = \"proto3\";\npackage p;\nmessage A {\n  .p.A.B b = 1;\n  message B {\n  }\n}\n");
    }
}
