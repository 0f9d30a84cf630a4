//! Raw Kafka protocol over a `TcpStream`: framed requests encoded with the
//! `kafka-protocol` crate, hand-made bytes for what no client would send, and
//! checks of how the broker answers (a response, or a closed connection).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// How long a test waits for the broker to answer or close.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `addr` with read and write timeouts of [`IO_TIMEOUT`].
pub fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// The frame (length prefix included) of request `req` at `version`.
pub fn frame<R: Request>(req: &R, version: i16, correlation_id: i32) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("braid-raw-test")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, R::header_version(version))
        .expect("encode header");
    req.encode(&mut body, version).expect("encode request");
    with_length(&body)
}

/// `body` with its i32 length prefix.
pub fn with_length(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A request header v1 (api key, version, correlation id, client id) by hand,
/// for API keys and versions the codec refuses to encode.
pub fn header_v1(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&api_key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    let client = b"braid-raw-test";
    h.extend_from_slice(&(client.len() as i16).to_be_bytes());
    h.extend_from_slice(client);
    h
}

/// Reads one response frame; `None` if the broker closed the connection
/// before a whole frame arrived. Panics on a timeout.
pub fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let mut len = [0u8; 4];
    if !read_exact_or_closed(s, &mut len) {
        return None;
    }
    let len = i32::from_be_bytes(len);
    assert!(
        (4..=256 * 1024 * 1024).contains(&len),
        "response length {len}"
    );
    let mut buf = vec![0u8; len as usize];
    if !read_exact_or_closed(s, &mut buf) {
        return None;
    }
    Some(Bytes::from(buf))
}

fn read_exact_or_closed(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        match s.read(&mut buf[done..]) {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no answer from the broker within {IO_TIMEOUT:?}")
            }
            // Reset / aborted: the broker closed the connection.
            Err(_) => return false,
        }
    }
    true
}

/// Sends `req` at `version` and decodes the response, checking the
/// correlation id. The response header version comes from the codec (v0 for
/// every ApiVersions response).
pub fn call<R: Request>(s: &mut TcpStream, req: &R, version: i16) -> R::Response {
    let correlation_id = 0x0b0a_0000 + version as i32;
    s.write_all(&frame(req, version, correlation_id))
        .expect("write request");
    let mut buf = read_frame(s).unwrap_or_else(|| {
        panic!(
            "the broker closed the connection instead of answering api {} v{version}",
            R::KEY
        )
    });
    let header = ResponseHeader::decode(&mut buf, R::Response::header_version(version))
        .expect("decode response header");
    assert_eq!(header.correlation_id, correlation_id, "correlation id");
    let resp = R::Response::decode(&mut buf, version)
        .unwrap_or_else(|e| panic!("decode response to api {} v{version}: {e}", R::KEY));
    assert!(
        buf.is_empty(),
        "{} bytes left after the response to api {} v{version}",
        buf.len(),
        R::KEY
    );
    resp
}

/// Waits until the broker closes `s` (EOF or reset), discarding whatever it
/// sends first; panics if the connection is still open after `deadline`.
pub fn assert_closed_within(s: &mut TcpStream, deadline: Duration, what: &str) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: the broker kept the connection open for {deadline:?}"
        );
    }
}
