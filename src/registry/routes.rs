//! The REST API: one function maps a request to its handler, and each
//! handler answers with Confluent's bodies and error codes.
//!
//! Reads take the state's read lock only. Changes are serialized by the
//! log's mutex: plan under it (reading the state), append to `_schemas`
//! and wait for the acknowledgement, then apply the same records to the
//! state, then answer. Two registrations of one schema therefore never get
//! two ids, and nothing is answered that a restart would not replay.

use serde_json::{json, Value};
use std::sync::{Mutex, RwLock};

use super::compat::{self, Level, Parsed, SchemaError, SchemaType, LEVELS_HELP};
use super::http::{Request, Response};
use super::kafka_log::Append;
use super::records::Encoded;
use super::records::SchemaReference;
use super::store::{config_record, Plan, State};
use crate::sync::lock;

/// The registry: its state and the log its changes go to.
pub struct Registry {
    state: RwLock<State>,
    log: Mutex<Box<dyn Append>>,
}

/// A handler's result: the response, or an error response.
type Answer = Result<Response, Response>;

fn ok(value: Value) -> Answer {
    Ok(Response::json(200, &value))
}

fn subject_not_found(subject: &str) -> Response {
    Response::error(404, 40401, &format!("Subject '{subject}' not found."))
}

impl Registry {
    /// A registry serving `state` and appending its changes to `log`.
    pub fn new(state: State, log: Box<dyn Append>) -> Registry {
        Registry {
            state: RwLock::new(state),
            log: Mutex::new(log),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `records` (the caller holds the log's lock) and applies them.
    fn commit(&self, log: &mut dyn Append, records: &[Encoded]) -> Result<(), Response> {
        log.append(records).map_err(|e| {
            log::error!("store error: {e:#}");
            Response::error(
                500,
                50001,
                &format!("Error in the backend data store: {e:#}"),
            )
        })?;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        for r in records {
            state.apply(&r.key, r.value.as_deref());
        }
        Ok(())
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request) -> Response {
        let path: Vec<&str> = req.path.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        let answer = match (m, path.as_slice()) {
            ("GET", []) => ok(json!({})),
            ("GET", ["schemas", "types"]) => ok(json!(["AVRO", "JSON", "PROTOBUF"])),
            ("GET", ["schemas", "ids", id]) => self.schema_by_id(id, serialized(req)),
            ("GET", ["subjects"]) => ok(json!(self
                .read()
                .subjects(req.param("deleted") == Some("true")))),
            ("GET", ["subjects", s, "versions"]) => self.versions(s),
            ("GET", ["subjects", s, "versions", v]) => self.version(s, v, serialized(req)),
            ("POST", ["subjects", s, "versions"]) => self.register(s, &req.body),
            ("POST", ["subjects", s]) => self.lookup(s, &req.body),
            ("DELETE", ["subjects", s]) => self.delete(s, req.param("permanent") == Some("true")),
            ("POST", ["compatibility", "subjects", s, "versions", v]) => {
                self.compatibility(s, v, &req.body, req.param("verbose") == Some("true"))
            }
            ("GET", ["config"]) => {
                ok(json!({"compatibilityLevel": self.read().global_level().to_string()}))
            }
            ("GET", ["config", s]) => {
                self.subject_config(s, req.param("defaultToGlobal") == Some("true"))
            }
            ("PUT", ["config"]) => self.set_config(None, &req.body),
            ("PUT", ["config", s]) => self.set_config(Some(s), &req.body),
            ("GET", ["mode"]) => ok(json!({"mode": "READWRITE"})),
            (_, p) if known_path(p) => Err(Response::error(
                405,
                405,
                &format!("{m} is not allowed here"),
            )),
            _ => Err(Response::error(404, 404, "HTTP 404 Not Found")),
        };
        answer.unwrap_or_else(|e| e)
    }

    fn schema_by_id(&self, id: &str, serialized: bool) -> Answer {
        let not_found = || Response::error(404, 40403, &format!("Schema {id} not found"));
        let id: i32 = id.parse().map_err(|_| not_found())?;
        let state = self.read();
        let p = state.schema(id).ok_or_else(not_found)?;
        let mut body = json!({});
        describe_schema(&mut body, p, serialized);
        ok(body)
    }

    fn versions(&self, subject: &str) -> Answer {
        let vs = self.read().versions(subject);
        if vs.is_empty() {
            return Err(subject_not_found(subject));
        }
        ok(json!(vs.iter().map(|(n, _)| *n).collect::<Vec<_>>()))
    }

    /// The version `v` (a number or `latest`/-1) of `subject`: (version, id).
    fn resolve(&self, subject: &str, v: &str) -> Result<(i32, i32), Response> {
        let invalid = || {
            Response::error(
                422,
                42202,
                &format!("The specified version '{v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""),
            )
        };
        let wanted = match v {
            "latest" | "-1" => None,
            n => Some(
                n.parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(invalid)?,
            ),
        };
        let vs = self.read().versions(subject);
        if vs.is_empty() {
            return Err(subject_not_found(subject));
        }
        let found = match wanted {
            None => vs.last(),
            Some(n) => vs.iter().find(|(k, _)| *k == n),
        };
        found
            .map(|(n, ver)| (*n, ver.id))
            .ok_or_else(|| Response::error(404, 40402, &format!("Version {v} not found.")))
    }

    fn version(&self, subject: &str, v: &str, serialized: bool) -> Answer {
        let (version, id) = self.resolve(subject, v)?;
        ok(self.describe(subject, version, id, serialized))
    }

    /// `{"subject","version","id","schema"}` (+ `schemaType` unless Avro,
    /// `references` when there are some).
    fn describe(&self, subject: &str, version: i32, id: i32, serialized: bool) -> Value {
        let state = self.read();
        let mut body = json!({"subject": subject, "version": version, "id": id});
        if let Some(p) = state.schema(id) {
            describe_schema(&mut body, p, serialized);
        }
        body
    }

    fn register(&self, subject: &str, body: &[u8]) -> Answer {
        let schema = self.parse_schema_body(body)?;
        let mut log = lock(&self.log);
        let plan = self.read().plan_register(subject, &schema);
        match plan {
            Ok(Plan::Existing(id)) => ok(json!({"id": id})),
            Ok(Plan::New(id, record)) => {
                if let Err(refused) = self.commit(log.as_mut(), &[record]) {
                    // The write may still reach the log: its id is spent.
                    self.state
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .burn(id);
                    return Err(refused);
                }
                ok(json!({"id": id}))
            }
            Err(incompatible) => Err(Response::error(
                409,
                409,
                &format!(
                    "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{incompatible}]"
                ),
            )),
        }
    }

    fn lookup(&self, subject: &str, body: &[u8]) -> Answer {
        let schema = self.parse_schema_body(body)?;
        let found = {
            let state = self.read();
            if state.versions(subject).is_empty() {
                return Err(subject_not_found(subject));
            }
            state.find(subject, &schema)
        };
        let (version, id) = found.ok_or_else(|| Response::error(404, 40403, "Schema not found"))?;
        ok(self.describe(subject, version, id, false))
    }

    fn delete(&self, subject: &str, permanent: bool) -> Answer {
        if permanent {
            return Err(Response::error(501, 501, "braid registry does not delete permanently; DELETE without permanent=true deletes softly"));
        }
        let mut log = lock(&self.log);
        let plan = self.read().plan_delete(subject);
        let (versions, records) = plan.ok_or_else(|| subject_not_found(subject))?;
        self.commit(log.as_mut(), &records)?;
        ok(json!(versions))
    }

    fn compatibility(&self, subject: &str, v: &str, body: &[u8], verbose: bool) -> Answer {
        let schema = self.parse_schema_body(body)?;
        let (_, id) = self.resolve(subject, v)?;
        let state = self.read();
        let old = state
            .schema(id)
            .ok_or_else(|| Response::error(404, 40403, "Schema not found"))?;
        let level = state.effective_level(subject);
        let result = compat::check(level, &schema, &[old.as_ref()]);
        let mut body = json!({"is_compatible": result.is_ok()});
        if verbose {
            body["messages"] = json!(result.err().map(|e| e.messages()).unwrap_or_default());
        }
        ok(body)
    }

    fn subject_config(&self, subject: &str, default_to_global: bool) -> Answer {
        let state = self.read();
        match state.subject_level(subject) {
            Some(l) => ok(json!({"compatibilityLevel": l.to_string()})),
            None if default_to_global => {
                ok(json!({"compatibilityLevel": state.global_level().to_string()}))
            }
            None => Err(Response::error(
                404,
                40408,
                &format!(
                    "Subject '{subject}' does not have subject-level compatibility configured"
                ),
            )),
        }
    }

    fn set_config(&self, subject: Option<&str>, body: &[u8]) -> Answer {
        let v: Value = parse_json(body)?;
        let level = v
            .get("compatibility")
            .or_else(|| v.get("compatibilityLevel"))
            .and_then(Value::as_str)
            .and_then(Level::parse)
            .ok_or_else(|| Response::error(422, 42203, LEVELS_HELP))?;
        let mut log = lock(&self.log);
        self.commit(log.as_mut(), &[config_record(subject, level)])?;
        ok(json!({"compatibility": level.to_string()}))
    }
}

/// Whether a path names a resource (so a wrong method gets 405, not 404).
fn known_path(p: &[&str]) -> bool {
    matches!(
        p,
        ["subjects", ..] | ["schemas", ..] | ["config", ..] | ["compatibility", ..] | ["mode"]
    )
}

fn parse_json(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|e| Response::error(400, 400, &format!("Unexpected request body: {e}")))
}

/// Whether the request asks for `?format=serialized` (a Protobuf schema as
/// a base64 `FileDescriptorProto`, as confluent-kafka-python does).
fn serialized(req: &Request) -> bool {
    req.param("format") == Some("serialized")
}

/// Adds `schema`, `schemaType` (unless Avro) and `references` (when some) to `body`.
fn describe_schema(body: &mut Value, p: &Parsed, serialized: bool) {
    body["schema"] = json!(match p.serialized() {
        Some(b64) if serialized => b64,
        _ => p.canonical.clone(),
    });
    if p.kind != SchemaType::Avro {
        body["schemaType"] = json!(p.kind.name());
    }
    if !p.references.is_empty() {
        body["references"] = json!(p
            .references
            .iter()
            .map(|r| json!({"name": r.name, "subject": r.subject, "version": r.version}))
            .collect::<Vec<_>>());
    }
}

impl Registry {
    /// The schema of a `{"schema": ..., "schemaType": ..., "references": [...]}`
    /// body, its references resolved against the subjects registered.
    fn parse_schema_body(&self, body: &[u8]) -> Result<Parsed, Response> {
        let v = parse_json(body)?;
        let invalid = |e: &dyn std::fmt::Display| {
            Response::error(422, 42201, &format!("Invalid schema: {e}"))
        };
        let text = v
            .get("schema")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                Response::error(
                    422,
                    42201,
                    "Empty schema: the body needs a \"schema\" string",
                )
            })?;
        let references: Vec<SchemaReference> = match v.get("references") {
            None | Some(Value::Null) => Vec::new(),
            Some(r) => serde_json::from_value(r.clone()).map_err(|e| {
                invalid(&format!(
                    "references must be [{{\"name\",\"subject\",\"version\"}}]: {e}"
                ))
            })?,
        };
        let kind = SchemaType::parse(v.get("schemaType").and_then(Value::as_str))
            .map_err(|e| invalid(&e))?;
        if kind != SchemaType::Protobuf && !references.is_empty() {
            return Err(invalid(&SchemaError::References(kind.name())));
        }
        let deps = self.read().resolve(&references).map_err(|e| invalid(&e))?;
        compat::parse(kind, text, references, deps).map_err(|e| invalid(&e))
    }
}
