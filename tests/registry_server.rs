//! `braid registry`'s HTTP server: malformed or oversized requests get a
//! 4xx and a closed connection while the registry carries on; chunked
//! bodies, `Expect: 100-continue`, pipelining, `Connection: close`; SIGTERM
//! with open connections; unreachable brokers.

mod common;

use std::time::{Duration, Instant};

use common::registry::{schema_body, Http, Registry};
use common::*;
use serde_json::json;

#[test]
fn bad_http_gets_4xx_and_the_registry_carries_on() {
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &["--max-request-size", "4096"]);
    let cases: [(&[u8], u16); 5] = [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /subjects HTTP/9.9\r\n\r\n", 505),
        (
            b"POST /subjects/x/versions HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
            413,
        ),
        (b"GET /subjects HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET /a%zz HTTP/1.1\r\n\r\n", 400),
    ];
    for (raw, status) in cases {
        let mut http = Http::connect(&reg.addr());
        http.send_raw(raw);
        let r = http.read_reply();
        assert_eq!(r.status, status, "for {:?}", String::from_utf8_lossy(raw));
        assert!(
            http.closed_by_server(),
            "still open after {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    // A head larger than the limit.
    let mut http = Http::connect(&reg.addr());
    http.send_raw(format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000)).as_bytes());
    assert_eq!(http.read_reply().status, 431);
    // Chunked body, Expect: 100-continue, and two pipelined requests.
    let mut http = Http::connect(&reg.addr());
    let body = schema_body("\"int\"", None);
    let chunked = format!(
        "POST /subjects/c/versions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\nGET /subjects HTTP/1.1\r\n\r\n",
        body.len()
    );
    http.send_raw(chunked.as_bytes());
    assert_eq!(http.read_reply().json, json!({"id": 1}));
    assert_eq!(http.read_reply().json, json!(["c"]));
    http.send_raw(
        format!(
            "POST /subjects/c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(http.read_reply().status, 100);
    http.send_raw(body.as_bytes());
    assert_eq!(http.read_reply().json["version"], json!(1));
    // HTTP/1.0 closes after the answer; Connection: close too.
    http.send_raw(b"GET /subjects HTTP/1.1\r\nConnection: close\r\n\r\n");
    let r = http.read_reply();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(http.closed_by_server());
}

#[test]
fn sigterm_stops_the_registry_with_open_connections() {
    let broker = Broker::start(&[]);
    let mut reg = Registry::start(&broker.addr(), &[]);
    let mut idle = Http::connect(&reg.addr());
    assert_eq!(idle.call("GET", "/subjects", None).status, 200);
    let start = Instant::now();
    let status = reg.sigterm_and_wait(Duration::from_secs(5));
    assert!(status.success(), "exit status {status}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert!(idle.closed_by_server());
}

#[test]
fn unreachable_brokers_are_one_line_and_exit_1() {
    let refused = RefusedPort::new();
    let out = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_braid")).args([
            "registry",
            "--listen",
            "127.0.0.1:0",
            "-b",
            &refused.addr(),
        ]),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", out.stderr);
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "stderr: {}",
        out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "it never listened: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}
