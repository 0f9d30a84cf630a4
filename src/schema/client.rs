//! A client for a Confluent-compatible schema registry: the few calls
//! braid needs, over plain HTTP/1.1 on std's `TcpStream` (one connection
//! per call, `Connection: close`; bodies framed by `Content-Length`,
//! chunked, or the end of the connection). `https://` is not supported.
//!
//! Create it where it is used: in a consumer, in the worker after the fork.
//!
//! Its errors are a [`RegistryError`]: [`RegistryError::is_transient`] tells
//! a registry that is down, slow or failing (unreachable, timed out, 5xx:
//! wait and ask again) from one that answered (a refusal, a bad reply).

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::SchemaKind;

/// How long connecting, and each read or write, may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body read.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why a call to the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No answer: the connection was refused, timed out or broke midway.
    #[error("registry {host} unreachable ({what}): {reason}")]
    Unreachable {
        /// `HOST:PORT`.
        host: String,
        /// The call, `GET /schemas/ids/7`.
        what: String,
        /// The I/O error, as text.
        reason: String,
    },
    /// An answer with an error status.
    #[error("{what}: {status} {message}")]
    Status {
        /// What was asked, in words.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's message.
        message: String,
    },
    /// A 200 whose body is not what the API promises, or a bad URL.
    #[error("{0}")]
    Bad(String),
}

impl RegistryError {
    /// Whether the fault may pass: the registry is unreachable or answered
    /// 5xx. A transient fault is waited out, never a reason to skip an event.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500,
            RegistryError::Bad(_) => false,
        }
    }
}

/// Whether `e` holds a transient [`RegistryError`].
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<RegistryError>()
            .is_some_and(RegistryError::is_transient)
    })
}

type Reply<T> = std::result::Result<T, RegistryError>;

/// A schema as the registry returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its global id.
    pub id: u32,
    /// Its version in the subject (0 when fetched by id).
    pub version: i64,
    /// Avro, JSON or Protobuf.
    pub kind: SchemaKind,
    /// Its text.
    pub schema: String,
    /// The schemas it imports (Protobuf), by name.
    pub references: Vec<Reference>,
}

/// A schema reference: the name a schema imports, and the subject version that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The import's name (`common/money.proto`).
    pub name: String,
    /// The subject holding it.
    pub subject: String,
    /// Its version there.
    pub version: i64,
}

/// The registry at one `http://HOST:PORT[/PREFIX]`.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    prefix: String,
}

impl Client {
    /// Parses `http://HOST:PORT[/PREFIX]` (port 80 when omitted).
    pub fn new(url: &str) -> Result<Client> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            anyhow!("registry URL '{url}' must start with http:// (https is not supported)")
        })?;
        let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(anyhow!("registry URL '{url}' has no host"));
        }
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let prefix = prefix.trim_end_matches('/');
        Ok(Client {
            host,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            },
        })
    }

    /// `POST /subjects/{subject}/versions`: registers `schema` (or finds it
    /// registered) and returns its id. A refusal (409 incompatible, 422
    /// invalid) is an error that quotes the registry's message.
    pub fn register(&self, subject: &str, schema: &str, kind: SchemaKind) -> Reply<u32> {
        let mut body = json!({ "schema": schema });
        match kind {
            SchemaKind::Avro => {}
            SchemaKind::Json => body["schemaType"] = Value::from("JSON"),
            SchemaKind::Protobuf => body["schemaType"] = Value::from("PROTOBUF"),
        }
        let path = format!("/subjects/{subject}/versions");
        let (status, reply) = self.call("POST", &path, Some(&body))?;
        if status != 200 {
            return Err(RegistryError::Status {
                what: format!("the registry refused the schema for {subject}"),
                status,
                message: message(&reply),
            });
        }
        id_of(&reply)
    }

    /// `GET /schemas/ids/{id}`; None when the registry has no such id.
    pub fn by_id(&self, id: u32) -> Reply<Option<Registered>> {
        let (status, reply) = self.call("GET", &format!("/schemas/ids/{id}"), None)?;
        match status {
            200 => Ok(Some(Registered {
                id,
                version: 0,
                kind: kind_of(&reply),
                schema: schema_of(&reply)?,
                references: references_of(&reply),
            })),
            404 => Ok(None),
            _ => Err(RegistryError::Status {
                what: format!("schema id {id}"),
                status,
                message: message(&reply),
            }),
        }
    }

    /// `GET /subjects/{subject}/versions/latest`; None for an unknown subject.
    pub fn latest(&self, subject: &str) -> Reply<Option<Registered>> {
        self.version(subject, "latest")
    }

    /// `GET /subjects/{subject}/versions/{version}`; None when there is no such version.
    pub fn version(&self, subject: &str, version: &str) -> Reply<Option<Registered>> {
        let path = format!("/subjects/{subject}/versions/{version}");
        let (status, reply) = self.call("GET", &path, None)?;
        match status {
            200 => Ok(Some(Registered {
                id: id_of(&reply)?,
                version: reply["version"].as_i64().unwrap_or(0),
                kind: kind_of(&reply),
                schema: schema_of(&reply)?,
                references: references_of(&reply),
            })),
            404 => Ok(None),
            _ => Err(RegistryError::Status {
                what: format!("{subject} version {version}"),
                status,
                message: message(&reply),
            }),
        }
    }

    /// Every file `refs` name, and the files they import in turn, each
    /// once: what [`proto::compile`](super::proto::compile) needs beside the schema.
    pub fn sources(&self, refs: &[Reference]) -> Reply<Vec<super::proto::Source>> {
        let mut out: Vec<super::proto::Source> = Vec::new();
        let mut todo: Vec<Reference> = refs.to_vec();
        while let Some(r) = todo.pop() {
            if out.iter().any(|s| s.name == r.name) {
                continue;
            }
            let found = self.version(&r.subject, &r.version.to_string())?;
            let reg = found.ok_or_else(|| RegistryError::Status {
                what: format!(
                    "the reference {} ({} version {})",
                    r.name, r.subject, r.version
                ),
                status: 404,
                message: "not found".into(),
            })?;
            todo.extend(reg.references);
            out.push(super::proto::Source {
                name: r.name,
                text: reg.schema,
            });
        }
        Ok(out)
    }

    /// `GET /subjects/{subject}/versions`: the subject's versions, as JSON.
    pub fn versions(&self, subject: &str) -> Reply<Value> {
        let (status, reply) = self.call("GET", &format!("/subjects/{subject}/versions"), None)?;
        if status != 200 {
            return Err(RegistryError::Status {
                what: format!("{subject} versions"),
                status,
                message: message(&reply),
            });
        }
        Ok(reply)
    }

    /// One request; returns the status and the body as JSON (Null if not JSON).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply<(u16, Value)> {
        let unreachable = |e: &dyn std::fmt::Display| RegistryError::Unreachable {
            host: self.host.clone(),
            what: format!("{method} {}{path}", self.prefix),
            reason: e.to_string(),
        };
        let body = body.map(Value::to_string).unwrap_or_default();
        let addr = self
            .host
            .to_socket_addrs()
            .map_err(|e| unreachable(&e))?
            .next()
            .ok_or_else(|| unreachable(&"the name has no address"))?;
        let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| unreachable(&e))?;
        s.set_read_timeout(Some(TIMEOUT))
            .and_then(|()| s.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| unreachable(&e))?;
        let request = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.schemaregistry.v1+json, application/json\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.prefix,
            self.host,
            body.len()
        );
        s.write_all(request.as_bytes())
            .map_err(|e| unreachable(&e))?;
        let (status, bytes) = read_response(BufReader::new(s)).map_err(|e| unreachable(&e))?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

/// Reads a status line, headers and a body.
fn read_response(mut r: impl BufRead) -> Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP response: {:?}", line.trim_end()))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            bail!("the connection closed in the headers");
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = Some(v.parse::<usize>().context("bad Content-Length")?);
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        read_chunked(&mut r, &mut body)?;
    } else if let Some(n) = length {
        if n > MAX_BODY {
            bail!("a response of {n} bytes is too large");
        }
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else {
        r.take(MAX_BODY as u64).read_to_end(&mut body)?;
    }
    Ok((status, body))
}

/// Reads a chunked body into `body`.
fn read_chunked(r: &mut impl BufRead, body: &mut Vec<u8>) -> Result<()> {
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let hex = size.trim().split(';').next().unwrap_or("");
        let n = usize::from_str_radix(hex, 16).context("bad chunk size")?;
        if body.len() + n > MAX_BODY {
            bail!("the response is too large");
        }
        if n == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + n, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

fn message(reply: &Value) -> String {
    match reply["message"].as_str() {
        Some(m) => m.to_string(),
        None => reply.to_string(),
    }
}

fn id_of(reply: &Value) -> Reply<u32> {
    reply["id"]
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| RegistryError::Bad(format!("the registry's answer has no id: {reply}")))
}

fn schema_of(reply: &Value) -> Reply<String> {
    reply["schema"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| RegistryError::Bad(format!("the registry's answer has no schema: {reply}")))
}

fn kind_of(reply: &Value) -> SchemaKind {
    match reply["schemaType"].as_str() {
        Some(t) if t.eq_ignore_ascii_case("JSON") => SchemaKind::Json,
        Some(t) if t.eq_ignore_ascii_case("PROTOBUF") => SchemaKind::Protobuf,
        _ => SchemaKind::Avro,
    }
}

fn references_of(reply: &Value) -> Vec<Reference> {
    let refs = reply["references"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    refs.iter()
        .filter_map(|r| {
            Some(Reference {
                name: r["name"].as_str()?.to_string(),
                subject: r["subject"].as_str()?.to_string(),
                version: r["version"].as_i64()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let c = Client::new("http://127.0.0.1:8081").unwrap();
        assert_eq!((c.host.as_str(), c.prefix.as_str()), ("127.0.0.1:8081", ""));
        let c = Client::new("http://reg/api/").unwrap();
        assert_eq!((c.host.as_str(), c.prefix.as_str()), ("reg:80", "/api"));
        assert!(Client::new("https://reg").is_err());
        assert!(Client::new("reg:8081").is_err());
    }

    #[test]
    fn a_registry_that_is_down_or_failing_is_transient_and_a_refusal_is_not() {
        // Nothing listens on port 1: the connection is refused.
        let e = Client::new("http://127.0.0.1:1")
            .unwrap()
            .by_id(1)
            .unwrap_err();
        assert!(matches!(e, RegistryError::Unreachable { .. }), "{e}");
        assert!(e.is_transient());
        assert!(is_transient(&anyhow::Error::from(e).context("decoding")));
        let status = |status| RegistryError::Status {
            what: "schema id 1".into(),
            status,
            message: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(status(500).is_transient());
        assert!(!status(409).is_transient());
        assert!(!status(422).is_transient());
        assert!(!RegistryError::Bad("no id".into()).is_transient());
    }

    #[test]
    fn reads_every_framing() {
        let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"id\":1}";
        assert_eq!(
            read_response(&cl[..]).unwrap(),
            (200, b"{\"id\":1}".to_vec())
        );
        let ch = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3;x=y\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(
            read_response(&ch[..]).unwrap(),
            (404, b"{\"a\":1}".to_vec())
        );
        let eof = b"HTTP/1.0 200 OK\r\n\r\n[1,2]";
        assert_eq!(read_response(&eof[..]).unwrap(), (200, b"[1,2]".to_vec()));
        assert!(read_response(&b"garbage\r\n\r\n"[..]).is_err());
    }
}
