//! A guard around a `braid registry` child process, and a raw HTTP/1.1
//! client (std `TcpStream`, keep-alive) to talk to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::START_TIMEOUT;

/// A running `braid registry` on 127.0.0.1:0 against one broker; killed
/// (SIGKILL) and reaped when dropped, its output printed if the test panics.
pub struct Registry {
    child: Option<Child>,
    addr: String,
    log: Arc<Mutex<String>>,
    /// How it was started: the broker and the extra arguments (for `restart`).
    broker: String,
    extra: Vec<String>,
}

impl Registry {
    /// Starts `braid registry -b BROKER` with `extra` arguments and waits
    /// for its `listening on HOST:PORT` line.
    pub fn start(broker: &str, extra: &[&str]) -> Registry {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Registry::spawn(broker, "127.0.0.1:0", extra)
    }

    /// Starts it again after `kill9` on the same address, broker and
    /// arguments (so the same `_schemas` topic is replayed).
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart: the registry is still running"
        );
        let mut again = Registry::spawn(&self.broker, &self.addr, std::mem::take(&mut self.extra));
        assert_eq!(again.addr, self.addr, "restarted on another address");
        // `again` is left with no child, so dropping it stops nothing.
        self.child = again.child.take();
        self.log = again.log.clone();
        self.extra = std::mem::take(&mut again.extra);
    }

    fn spawn(broker: &str, listen: &str, extra: Vec<String>) -> Registry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
            .args(["registry", "--listen", listen, "-b", broker])
            .args(&extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn braid registry");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let l = log.clone();
        thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for line in lines.map_while(Result::ok) {
                l.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let l = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut reg = Registry {
            child: Some(child),
            addr: String::new(),
            log,
            broker: broker.to_string(),
            extra,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => match line.strip_prefix("listening on ") {
                Some(a) => reg.addr = a.to_string(),
                None => panic!("registry's first line is {line:?}"),
            },
            Err(e) => {
                reg.kill9();
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "registry printed no 'listening on' line ({e}):\n{}",
                    reg.log()
                );
            }
        }
        reg
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits up to `deadline` for the exit (kills and panics after).
    pub fn sigterm_and_wait(&mut self, deadline: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the registry is not running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let start = Instant::now();
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("registry did not exit within {deadline:?} after SIGTERM");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!(
                "--- registry {} output ---\n{}--- end ---",
                self.addr,
                self.log()
            );
        }
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (Null if it is not JSON).
    pub json: Value,
}

impl Reply {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's `error_code`.
    pub fn error_code(&self) -> Option<i64> {
        self.json["error_code"].as_i64()
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    /// Connects to `addr`, with 10 s timeouts.
    pub fn connect(addr: &str) -> Http {
        let s = TcpStream::connect(addr).expect("connect to the registry");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        Http {
            stream: BufReader::new(s),
        }
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).expect("write");
    }

    /// Sends a request with an optional JSON body and reads the reply.
    pub fn call(&mut self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: registry\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.send_raw(req.as_bytes());
        self.read_reply()
    }

    /// Reads one response (Content-Length framed).
    pub fn read_reply(&mut self) -> Reply {
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.stream.read_line(&mut h).expect("header");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header line");
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).expect("body");
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    /// Whether the server closed the connection (reads EOF within 5 s).
    pub fn closed_by_server(&mut self) -> bool {
        let s = self.stream.get_mut();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        matches!(s.read(&mut b), Ok(0))
    }
}

/// `{"schema": text}` (with `schemaType` unless None) as a JSON string.
pub fn schema_body(text: &str, kind: Option<&str>) -> String {
    let mut v = serde_json::json!({ "schema": text });
    if let Some(k) = kind {
        v["schemaType"] = Value::from(k);
    }
    v.to_string()
}

/// An Avro record `E` with the given fields, each `(name, type, default)`.
pub fn avro_record(fields: &[(&str, &str, Option<Value>)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(n, t, d)| {
            let mut f = serde_json::json!({"name": n, "type": t});
            if let Some(d) = d {
                f["default"] = d.clone();
            }
            f
        })
        .collect();
    serde_json::json!({"type": "record", "name": "E", "namespace": "braid", "fields": fields})
        .to_string()
}
