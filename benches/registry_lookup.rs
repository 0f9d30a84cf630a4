//! Requests/s of `braid registry` for `GET /schemas/ids/{id}`, the lookup
//! every consumer makes for a schema id it has not cached yet.
//!
//! Starts the built `braid broker` and `braid registry` on port 0, registers
//! `BRAID_BENCH_SCHEMAS` schemas (default 100), then runs
//! `BRAID_BENCH_CONNECTIONS` client threads (default 1,4,16: one run each),
//! each with one keep-alive connection asking for ids round robin for
//! `BRAID_BENCH_SECONDS` (default 5). Prints requests/s and latency
//! percentiles per run.
//!
//! Run by hand: `cargo bench --bench registry_lookup`. Nothing here is
//! asserted by `cargo test`.

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `braid ARGS` and returns it with the address of its `listening on` line.
fn start(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn braid");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Proc(child), addr)
}

/// A keep-alive connection that sends one request at a time.
struct Conn(BufReader<TcpStream>);

impl Conn {
    fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: r\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.0.get_mut().write_all(req.as_bytes()).expect("write");
        let mut line = String::new();
        self.0.read_line(&mut line).expect("status");
        let status = line[9..12].parse().expect("status code");
        let mut len = 0;
        loop {
            line.clear();
            self.0.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).expect("body");
        (status, body)
    }
}

fn connect(addr: &str) -> Conn {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    Conn(BufReader::new(s))
}

fn env_num(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let schemas = env_num("BRAID_BENCH_SCHEMAS", 100) as usize;
    let seconds = env_num("BRAID_BENCH_SECONDS", 5);
    let conns: Vec<usize> = env::var("BRAID_BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "1,4,16".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("BRAID_BENCH_CONNECTIONS: a list of counts")
        })
        .collect();
    let (_broker, broker_addr) = start(&["broker", "--listen", "127.0.0.1:0"]);
    let (_registry, addr) = start(&["registry", "--listen", "127.0.0.1:0", "-b", &broker_addr]);
    let mut c = connect(&addr);
    let ids: Vec<u32> = (0..schemas)
        .map(|i| {
            let schema = format!(
                r#"{{"type":"record","name":"E{i}","fields":[{{"name":"value","type":"int"}},{{"name":"ts_ms","type":"long"}}]}}"#
            );
            let body = serde_json::json!({ "schema": schema }).to_string();
            let (status, body) = c.call("POST", &format!("/subjects/s{i}-value/versions"), &body);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            v["id"].as_u64().expect("id") as u32
        })
        .collect();
    println!("registry {addr}: {schemas} schemas; GET /schemas/ids/{{id}}, {seconds} s per run, keep-alive");
    println!(
        "{:>11} {:>12} {:>9} {:>9} {:>9}",
        "connections", "requests/s", "p50 µs", "p99 µs", "max µs"
    );
    for n in conns {
        run(&addr, &ids, n, Duration::from_secs(seconds));
    }
}

/// One run with `n` connections; prints its line.
fn run(addr: &str, ids: &[u32], n: usize, length: Duration) {
    let start = Instant::now();
    let mut lat: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|t| {
                s.spawn(move || {
                    let mut c = connect(addr);
                    let mut lat = Vec::new();
                    let mut i = t;
                    while start.elapsed() < length {
                        let t0 = Instant::now();
                        let (status, _) =
                            c.call("GET", &format!("/schemas/ids/{}", ids[i % ids.len()]), "");
                        lat.push(t0.elapsed().as_micros() as u32);
                        assert_eq!(status, 200);
                        i += 1;
                    }
                    lat
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{n:>11} {:>12.0} {:>9} {:>9} {:>9}",
        lat.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
}
