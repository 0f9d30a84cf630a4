//! A small synchronous HTTP/1.1 server side: reading requests (keep-alive,
//! pipelining, `Content-Length` or chunked bodies, `Expect: 100-continue`)
//! with bounded head and body sizes, and writing JSON responses. It knows
//! nothing of schemas.
//!
//! The socket has a short read timeout so that an idle connection notices a
//! stop; a request must arrive whole within `REQUEST_TIMEOUT` and an idle
//! keep-alive connection is closed after `IDLE_TIMEOUT`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::shutdown::Stop;

/// The content type of every response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// How often a blocked read looks at the stop flag.
pub const POLL: Duration = Duration::from_millis(100);
/// How long one request may take to arrive once it has begun.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a keep-alive connection may stay idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;

/// One request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path's segments, percent-decoded (empty segments dropped).
    pub path: Vec<String>,
    /// The query's parameters, percent-decoded.
    pub query: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

impl Request {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One response: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `value` as its JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            body: value.to_string().into_bytes(),
        }
    }

    /// Confluent's error body: `{"error_code":code,"message":message}`.
    pub fn error(status: u16, code: u32, message: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({"error_code": code, "message": message}),
        )
    }
}

/// Why no request was read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection, or it stayed idle too long.
    Closed,
    /// The registry is stopping.
    Stopped,
    /// The request is malformed or too large: answer this, then close.
    Bad(Response),
    /// The socket failed.
    Io(io::Error),
}

/// The server side of one connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    max_body: usize,
}

impl Conn {
    /// Wraps an accepted connection; bodies are limited to `max_body` bytes.
    pub fn new(stream: TcpStream, max_body: usize) -> io::Result<Conn> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
            max_body,
        })
    }

    /// Reads more bytes into the buffer; `idle` while no request has begun.
    fn fill(&mut self, deadline: Instant, idle: bool, stop: &Stop) -> Result<(), ReadError> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) if idle && self.buf.is_empty() => return Err(ReadError::Closed),
                Ok(0) => return Err(ReadError::Bad(bad(400, "the request ended early"))),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.requested() {
                        return Err(ReadError::Stopped);
                    }
                    if Instant::now() >= deadline {
                        return Err(if idle {
                            ReadError::Closed
                        } else {
                            ReadError::Bad(bad(408, "the request took too long to arrive"))
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Reads the next request.
    pub fn next_request(&mut self, stop: &Stop) -> Result<Request, ReadError> {
        let idle_deadline = Instant::now() + IDLE_TIMEOUT;
        while self.buf.is_empty() {
            self.fill(idle_deadline, true, stop)?;
        }
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(bad(431, "request head too large")));
            }
            self.fill(deadline, false, stop)?;
        };
        if head_end > MAX_HEAD {
            return Err(ReadError::Bad(bad(431, "request head too large")));
        }
        let head = parse_head(&self.buf[..head_end - 4]).map_err(ReadError::Bad)?;
        self.buf.drain(..head_end);
        if head.expect_continue {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(ReadError::Io)?;
        }
        let body = match head.body {
            BodyKind::Length(n) if n > self.max_body => {
                return Err(ReadError::Bad(too_large(self.max_body)))
            }
            BodyKind::Length(n) => {
                while self.buf.len() < n {
                    self.fill(deadline, false, stop)?;
                }
                self.buf.drain(..n).collect()
            }
            BodyKind::Chunked => self.read_chunked(deadline, stop)?,
        };
        Ok(Request {
            method: head.method,
            path: head.path,
            query: head.query,
            body,
            keep_alive: head.keep_alive,
        })
    }

    /// Reads a chunked body (trailers are read and ignored).
    fn read_chunked(&mut self, deadline: Instant, stop: &Stop) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.line(deadline, stop)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| ReadError::Bad(bad(400, "bad chunk size")))?;
            if size == 0 {
                while !self.line(deadline, stop)?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > self.max_body {
                return Err(ReadError::Bad(too_large(self.max_body)));
            }
            while self.buf.len() < size + 2 {
                self.fill(deadline, false, stop)?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    fn line(&mut self, deadline: Instant, stop: &Stop) -> Result<String, ReadError> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(bad(400, "chunk line too long")));
            }
            self.fill(deadline, false, stop)?;
        }
    }

    /// Writes `resp`, announcing whether the connection stays open.
    pub fn respond(&mut self, resp: &Response, keep_alive: bool) -> io::Result<()> {
        let mut out = Vec::with_capacity(160 + resp.body.len());
        write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            resp.status,
            reason(resp.status),
            resp.body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        )?;
        out.extend_from_slice(&resp.body);
        self.stream.write_all(&out)?;
        self.stream.flush()
    }
}

/// How a request's body is delimited.
#[derive(Debug)]
enum BodyKind {
    Length(usize),
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
struct Head {
    method: String,
    path: Vec<String>,
    query: Vec<(String, String)>,
    keep_alive: bool,
    expect_continue: bool,
    body: BodyKind,
}

fn bad(status: u16, message: &str) -> Response {
    Response::error(status, status as u32, message)
}

fn too_large(max: usize) -> Response {
    bad(413, &format!("request body larger than {max} bytes"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request line and headers.
fn parse_head(head: &[u8]) -> Result<Head, Response> {
    let text = std::str::from_utf8(head).map_err(|_| bad(400, "request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(400, "malformed request line"));
    };
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(bad(505, "only HTTP/1.0 and HTTP/1.1 are served")),
    };
    let (mut length, mut chunked, mut expect_continue) = (None, false, false);
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(400, "malformed header line"))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n: usize = value.parse().map_err(|_| bad(400, "bad Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad(400, "conflicting Content-Length headers"));
                }
                length = Some(n);
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().ends_with("chunked"),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    let (path, query) = parse_target(target)?;
    Ok(Head {
        method: method.to_string(),
        path,
        query,
        keep_alive,
        expect_continue,
        body: if chunked {
            BodyKind::Chunked
        } else {
            BodyKind::Length(length.unwrap_or(0))
        },
    })
}

/// Query parameters, in order.
type Query = Vec<(String, String)>;

/// Splits a request target into decoded path segments and query parameters.
fn parse_target(target: &str) -> Result<(Vec<String>, Query), Response> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err(bad(400, "the request target must be a path"));
    }
    let decode = |s: &str, plus: bool| {
        percent_decode(s, plus).ok_or_else(|| bad(400, "bad percent-encoding in the URL"))
    };
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode(s, false))
        .collect::<Result<Vec<_>, _>>()?;
    let params = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((decode(k, true)?, decode(v, true)?))
        })
        .collect::<Result<Vec<_>, Response>>()?;
    Ok((segments, params))
}

/// Decodes `%XX` escapes (and `+` as a space in a query); None if malformed.
fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The reason phrase of a status.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let (p, q) = parse_target("/subjects/a%2Fb/versions/?deleted=true&x=a+b").unwrap();
        assert_eq!(p, ["subjects", "a/b", "versions"]);
        assert_eq!(
            q,
            [
                ("deleted".into(), "true".into()),
                ("x".into(), "a b".into())
            ]
        );
        assert!(parse_target("/a%zz").is_err());
        assert!(parse_target("/a%").is_err());
        assert!(parse_target("http://x/").is_err());
    }

    #[test]
    fn heads() {
        let h =
            parse_head(b"POST /x HTTP/1.0\r\nContent-Length: 5\r\nConnection: keep-alive").unwrap();
        assert!(h.keep_alive);
        assert!(matches!(h.body, BodyKind::Length(5)));
        assert_eq!(parse_head(b"GET /x HTTP/2\r\n").unwrap_err().status, 505);
        assert_eq!(parse_head(b"GET /x\r\n").unwrap_err().status, 400);
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: -1")
                .unwrap_err()
                .status,
            400
        );
    }
}
