//! Shared support for the integration tests: a guard around a `braid broker`
//! child process, deadline-based waiting, running peer tools (kcat, python)
//! with a time limit, and a few `kafka` crate helpers.
//!
//! Every process started here is killed and reaped when its guard drops, also
//! when a test panics. Nothing here forks: child processes are started with
//! `std::process::Command`.

// Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod braid_io;
pub mod consume;
pub mod demo;
pub mod groups;
pub mod kafka_cluster;
pub mod peer;
pub mod process;
pub mod raw;
pub mod registry;
pub mod schema_peers;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka::client::{
    Compression, FetchOffset, FetchPartition, GroupOffsetStorage, KafkaClient, RequiredAcks,
};
use kafka::producer::{Producer, Record};
use tempfile::TempDir;

/// How long a broker may take to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The most broker output kept for failure messages (the tail is kept).
const LOG_LIMIT: usize = 64 * 1024;

/// A running `braid broker` child process with its own data directory.
///
/// Dropping the guard kills the broker (SIGKILL), reaps it and removes the
/// data directory (unless the test gave one, see [`Broker::start_on`]); if
/// the test is panicking, the broker's output is printed first so the
/// failure can be understood.
pub struct Broker {
    child: Option<Child>,
    addr: String,
    args: Vec<String>,
    listen: String,
    log: Arc<Mutex<String>>,
    data: PathBuf,
    // Dropped after the child is killed (fields drop after `Drop::drop`).
    _dir: Option<TempDir>,
}

impl Broker {
    /// Starts a broker on `127.0.0.1:0` with a fresh temporary data directory
    /// and the given extra arguments (for example `["--no-auto-create"]`).
    pub fn start(extra_args: &[&str]) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("braid-test-")
            .tempdir()
            .expect("create a temporary data directory");
        Broker::spawn_new(dir.path().to_path_buf(), Some(dir), extra_args)
    }

    /// Starts a broker on `127.0.0.1:0` with `--data DATA` (which the test
    /// owns: the guard leaves it in place) and the given extra arguments.
    pub fn start_on(data: &Path, extra_args: &[&str]) -> Broker {
        Broker::spawn_new(data.to_path_buf(), None, extra_args)
    }

    fn spawn_new(data: PathBuf, dir: Option<TempDir>, extra_args: &[&str]) -> Broker {
        let mut broker = Broker {
            child: None,
            addr: String::new(),
            args: extra_args.iter().map(|s| s.to_string()).collect(),
            listen: "127.0.0.1:0".to_string(),
            log: Arc::new(Mutex::new(String::new())),
            data,
            _dir: dir,
        };
        broker.spawn();
        broker
    }

    /// The address clients connect to, as printed by the broker (`HOST:PORT`).
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The broker's `--data` directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// What the broker wrote to stderr (and to stdout after its first line),
    /// over all its runs, for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Creates `topic` with `partitions` partitions on this broker
    /// ([`create_topic_on`]).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        create_topic_on(&self.addr(), topic, partitions, &self.log());
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Panics (with the broker's output) if the broker process has exited.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("the broker was stopped");
        if let Some(status) = child.try_wait().expect("check the broker") {
            self.child = None;
            panic!(
                "the broker exited with {status}; its output:\n{}",
                self.log()
            );
        }
    }

    /// Kills the broker with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the broker with SIGKILL (if it still runs) and starts it again on
    /// the same data directory with the same arguments. The port may change:
    /// use [`Broker::addr`] afterwards.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Kills the broker with SIGKILL (if it still runs) and starts it again on
    /// the same data directory, arguments and port, as an operator restarts a
    /// broker that clients keep trying to reach.
    pub fn restart_same_port(&mut self) {
        self.kill9();
        self.listen = self.addr.clone();
        self.spawn();
    }

    /// Sends SIGTERM and waits up to `deadline` for the broker to exit,
    /// returning its exit status. Panics (after killing it) if it does not
    /// exit in time.
    pub fn sigterm_and_wait(&mut self, deadline: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the broker is not running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for the broker") {
                return status;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "broker did not exit within {deadline:?} after SIGTERM; its output:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "spawn while a broker runs");
        let data = self.data.clone();
        let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
            .arg("broker")
            .arg("--listen")
            .arg(&self.listen)
            .arg("--data")
            .arg(&data)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn braid broker");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        drain_into(stderr, Arc::clone(&self.log));
        let first = first_line_then_drain(stdout, Arc::clone(&self.log));
        self.child = Some(child);
        match first.recv_timeout(START_TIMEOUT) {
            Ok(line) => match line.trim_end().strip_prefix("listening on ") {
                Some(addr) if !addr.is_empty() => self.addr = addr.to_string(),
                _ => {
                    self.kill9();
                    panic!(
                        "broker's first stdout line is {line:?}, expected 'listening on HOST:PORT'; \
                         its output:\n{}",
                        self.log()
                    );
                }
            },
            Err(e) => {
                self.kill9();
                // Give the stderr reader a moment to collect the last words.
                wait_until(Duration::from_secs(2), || !self.log().is_empty());
                panic!(
                    "broker printed no 'listening on' line ({e}); args {:?}; its output:\n{}",
                    self.args,
                    self.log()
                );
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!(
                "--- output of the broker at {} (data {}) ---\n{}\n--- end of broker output ---",
                self.addr,
                self.data.display(),
                self.log()
            );
        }
    }
}

/// Appends everything read from `src` to `log` (keeping its tail) in a thread.
fn drain_into(src: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(src);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => append_log(&log, &String::from_utf8_lossy(&line)),
            }
        }
    });
}

fn append_log(log: &Mutex<String>, text: &str) {
    let mut log = log.lock().unwrap();
    log.push_str(text);
    if log.len() > 2 * LOG_LIMIT {
        let mut cut = log.len() - LOG_LIMIT;
        while !log.is_char_boundary(cut) {
            cut += 1;
        }
        log.drain(..cut);
    }
}

/// Sends the first line of `stdout` over the returned channel, then keeps
/// draining the rest into `log` so the child never blocks on a full pipe.
fn first_line_then_drain(stdout: ChildStdout, log: Arc<Mutex<String>>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = Vec::new();
        match reader.read_until(b'\n', &mut first) {
            Ok(n) if n > 0 => {
                let _ = tx.send(String::from_utf8_lossy(&first).into_owned());
            }
            _ => return, // closed: the receiver sees a disconnect
        }
        drop(tx);
        drain_into(reader, log);
    });
    rx
}

/// Polls `cond` every 10 ms until it holds or `deadline` has passed; returns
/// whether it held.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// True when the tests run in CI (`CI=true`), where every tool must be present.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether the peer tool needed by `test` is usable. When it is not, prints
/// `SKIPPED: <test>: <what> not installed` and returns false so the test can
/// return early; under `CI=true` a missing tool fails the test instead, since
/// `.ci/run` installs every tool.
pub fn peer_available(test: &str, what: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(test, &format!("{what} not installed"));
    }
    ok
}

/// Reports that `test` cannot run here because of `why`: prints
/// `SKIPPED: <test>: <why>` so the test can return early; under `CI=true`
/// it fails the test instead, since `.ci/run` provides everything.
pub fn skip(test: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: {why}, but CI=true (.ci/run should have provided it)"
    );
    // Written to the real stderr: the test harness captures `println!`
    // and `eprintln!` of passing tests, and this line must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
    record_skip(test, why);
}

/// The file where this `cargo test` run records its skipped tests, one
/// `<binary>/<test>\t<why>` line each, for `tests/zz_skipped_summary.rs`
/// (the last test binary cargo runs) to count at the end of the run.
///
/// A run is keyed by the test binary's parent, the `cargo test` process
/// (cargo runs each test binary as its child): its pid and its start time
/// (from `/proc`, so a reused pid is another run).
pub fn skips_file() -> PathBuf {
    let ppid = std::os::unix::process::parent_id();
    // Field 22 of /proc/PID/stat (the 20th after the `)` closing the
    // command name, which may hold spaces) is the start time in ticks.
    let started = std::fs::read_to_string(format!("/proc/{ppid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_string();
            rest.split_whitespace().nth(19).map(str::to_string)
        })
        .unwrap_or_default();
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("skipped-tests")
        .join(format!("run-{ppid}-{started}"))
}

/// Appends `test`'s skip to [`skips_file`] (one `write` per line, with
/// `O_APPEND`: the tests of a binary run in parallel threads).
pub fn record_skip(test: &str, why: &str) {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_string(),
            _ => stem,
        })
        .unwrap_or_default();
    // libtest runs each test on a thread named after it: that name tells
    // apart tests that pass the same `test` label (else the label is used).
    let name = match std::thread::current().name() {
        Some(n) if n != "main" => format!("{n} ({test})"),
        _ => test.to_string(),
    };
    let file = skips_file();
    let line = format!("{binary}/{name}\t{}\n", why.replace(['\t', '\n'], " "));
    let written = std::fs::create_dir_all(file.parent().expect("a parent"))
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
        })
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr(),
            "note: could not record the skip in {}: {e}",
            file.display()
        );
    }
}

/// Whether `kcat` is installed (see [`peer_available`] for what a miss does).
pub fn kcat_available(test: &str) -> bool {
    peer_available(test, "kcat", Command::new("kcat").arg("-V"))
}

/// The kafka-python version the peer tests target (and `.ci/run` installs).
pub const KAFKA_PYTHON_VERSION: &str = "3.0.12";

/// Whether `python3` with kafka-python [`KAFKA_PYTHON_VERSION`] is installed
/// (another version counts as missing: the tests target that one).
pub fn python_kafka_available(test: &str) -> bool {
    peer_available(
        test,
        &format!("python3 with kafka-python {KAFKA_PYTHON_VERSION}"),
        Command::new("python3").args([
            "-c",
            &format!("import sys, kafka; sys.exit(kafka.__version__ != {KAFKA_PYTHON_VERSION:?})"),
        ]),
    )
}

/// What a command run by [`run_with_timeout`] left behind.
pub struct RunOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr, lossily decoded.
    pub stderr: String,
}

/// Kills and reaps a child process when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` with `stdin` fed to it, collecting its output; kills it and
/// panics if it has not exited within `timeout`.
pub fn run_with_timeout(cmd: &mut Command, stdin: Option<Vec<u8>>, timeout: Duration) -> RunOutput {
    let description = format!("{cmd:?}");
    let mut child = ChildGuard(
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {description}: {e}")),
    );
    let writer = match (stdin, child.0.stdin.take()) {
        (Some(data), Some(mut pipe)) => Some(thread::spawn(move || {
            // An early exit of the child shows in its status; ignore EPIPE here.
            let _ = pipe.write_all(&data);
        })),
        _ => None,
    };
    let out = read_all_in_background(child.0.stdout.take().expect("piped stdout"));
    let err = read_all_in_background(child.0.stderr.take().expect("piped stderr"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for child") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.0.kill();
            let _ = child.0.wait();
            let stderr = err
                .recv_timeout(PIPE_CLOSE_TIMEOUT)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| "(still open: a process it started holds it)".into());
            panic!("{description} did not exit within {timeout:?}; its stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    // A process the command started and left running holds its pipes open:
    // that is a failure to report, not a reason to wait forever.
    let stderr = err.recv_timeout(PIPE_CLOSE_TIMEOUT).unwrap_or_else(|_| {
        panic!(
            "{description} exited ({status}) but its stderr was still open {PIPE_CLOSE_TIMEOUT:?} \
             later: a process it started is still running"
        )
    });
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let stdout = out.recv_timeout(PIPE_CLOSE_TIMEOUT).unwrap_or_else(|_| {
        panic!(
            "{description} exited ({status}) but its stdout was still open {PIPE_CLOSE_TIMEOUT:?} \
             later: a process it started is still running; its stderr:\n{stderr}"
        )
    });
    RunOutput {
        status,
        stdout,
        stderr,
    }
}

/// How long a child's pipes may stay open after it exited (the reader
/// threads need a moment to see the end of them).
pub const PIPE_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads `src` to its end on a thread; the returned channel yields
/// everything read once the stream closes (a read error ends it early).
pub fn read_all_in_background(mut src: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = src.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// A TCP port on 127.0.0.1 where connections are refused, for as long as the
/// guard lives: the port is held by one end of a connection the guard keeps
/// open (so nothing else can listen on it), while nothing listens there.
pub struct RefusedPort {
    addr: String,
    // Held, not used: they keep the port taken.
    _client: std::net::TcpStream,
    _server: std::net::TcpStream,
}

impl RefusedPort {
    /// Takes a port: connects to a listener on port 0, keeps the connection
    /// and closes the listener; the connection's client end holds a port
    /// that nothing listens on.
    pub fn new() -> RefusedPort {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        drop(listener);
        let addr = client.local_addr().expect("local address").to_string();
        // The point of the guard: a connection there is refused.
        let probe =
            std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5));
        assert!(
            probe.is_err(),
            "a connection to {addr} was accepted: it cannot stand for a dead broker"
        );
        RefusedPort {
            addr,
            _client: client,
            _server: server,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }
}

// ---------------------------------------------------------------------------
// kafka crate helpers

/// A message as produced or fetched: offset (or -1 before it has one), key, value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The offset in its partition.
    pub offset: i64,
    /// The key (empty for none: the kafka crate cannot tell them apart).
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

impl From<braid::client::legacy::fetch_gap::Fetched> for Msg {
    fn from(m: braid::client::legacy::fetch_gap::Fetched) -> Msg {
        Msg {
            offset: m.offset,
            key: m.key,
            value: m.value,
        }
    }
}

impl From<&kafka::client::fetch::Message<'_>> for Msg {
    fn from(m: &kafka::client::fetch::Message<'_>) -> Msg {
        Msg {
            offset: m.offset,
            key: m.key.to_vec(),
            value: m.value.to_vec(),
        }
    }
}

/// A `KafkaClient` for `addr` with settings the tests rely on: fetches of up
/// to 4 MiB per partition, short fetch waits, offsets stored in Kafka.
pub fn kafka_client(addr: &str) -> KafkaClient {
    let mut client = KafkaClient::new(vec![addr.to_string()]);
    client.set_client_id("braid-tests".into());
    client.set_fetch_max_bytes_per_partition(4 * 1024 * 1024);
    client.set_fetch_min_bytes(1);
    client
        .set_fetch_max_wait_time(Duration::from_millis(100))
        .expect("fetch wait");
    client.set_group_offset_storage(Some(GroupOffsetStorage::Kafka));
    client.set_retry_max_attempts(20);
    client
}

/// Loads metadata for `topic` (which auto-creates it unless the broker runs
/// with `--no-auto-create`) until it shows `partitions` partitions, each with
/// a leader. Panics after 20 s.
pub fn wait_for_topic(client: &mut KafkaClient, topic: &str, partitions: usize) {
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(20), || {
        match client.load_metadata(&[topic]) {
            Ok(()) => {
                let topics = client.topics();
                let (all, avail) = topics
                    .partitions(topic)
                    .map_or((0, 0), |p| (p.len(), p.available_ids().len()));
                last = format!("{all} partitions, {avail} with a leader");
                all == partitions && avail == partitions
            }
            Err(e) => {
                last = format!("metadata error: {e}");
                false
            }
        }
    });
    assert!(
        ok,
        "topic {topic} never showed {partitions} partitions with leaders; last: {last}"
    );
}

/// A producer (acks=1) on `addr` for `topic`, which is created first (through
/// metadata) and awaited with `partitions` partitions.
pub fn new_producer(
    addr: &str,
    topic: &str,
    partitions: usize,
    compression: Compression,
) -> Producer {
    let mut client = kafka_client(addr);
    wait_for_topic(&mut client, topic, partitions);
    Producer::from_client(client)
        .with_compression(compression)
        .with_required_acks(RequiredAcks::One)
        .with_ack_timeout(Duration::from_secs(10))
        .create()
        .expect("create producer")
}

/// Sends `msgs` (partition, key, value) with `send_all` in batches of
/// `batch`, and checks every confirm: no error, and the first offset of each
/// partition's set equals the number of messages sent to that partition
/// before it (the broker assigns offsets contiguously from 0 on a new topic).
/// Returns the number of messages sent per partition.
pub fn send_pinned(
    producer: &mut Producer,
    topic: &str,
    msgs: &[(i32, Vec<u8>, Vec<u8>)],
    batch: usize,
) -> BTreeMap<i32, i64> {
    send_pinned_from(producer, topic, msgs, batch, BTreeMap::new())
}

/// [`send_pinned`] on partitions that already hold `start[p]` messages;
/// returns the new end offset per partition.
pub fn send_pinned_from(
    producer: &mut Producer,
    topic: &str,
    msgs: &[(i32, Vec<u8>, Vec<u8>)],
    batch: usize,
    start: BTreeMap<i32, i64>,
) -> BTreeMap<i32, i64> {
    let mut sent = start;
    for chunk in msgs.chunks(batch) {
        let records: Vec<_> = chunk
            .iter()
            .map(|(p, k, v)| {
                Record::from_key_value(topic, k.as_slice(), v.as_slice()).with_partition(*p)
            })
            .collect();
        let confirms = producer.send_all(&records).expect("send_all");
        let mut in_chunk: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, _, _) in chunk {
            *in_chunk.entry(*p).or_default() += 1;
        }
        let mut confirmed: BTreeMap<i32, i64> = BTreeMap::new();
        for c in &confirms {
            assert_eq!(c.topic, topic, "confirm for another topic");
            for pc in &c.partition_confirms {
                let first = pc.offset.unwrap_or_else(|code| {
                    panic!("produce to {topic}/{} failed: {code:?}", pc.partition)
                });
                confirmed.insert(pc.partition, first);
            }
        }
        for (p, n) in &in_chunk {
            let before = sent.get(p).copied().unwrap_or(0);
            assert_eq!(
                confirmed.get(p).copied(),
                Some(before),
                "first offset of a set of {n} sent to {topic}/{p} after {before} messages"
            );
            sent.insert(*p, before + n);
        }
    }
    sent
}

/// Fetches partitions of `topic` from offset 0 until each holds at least
/// `expected[p]` messages, asserting that offsets come contiguously from 0 and
/// in order. Returns the messages per partition and the last high watermark
/// seen per partition. Panics after `timeout`.
pub fn fetch_all(
    client: &mut KafkaClient,
    topic: &str,
    expected: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> (BTreeMap<i32, Vec<Msg>>, BTreeMap<i32, i64>) {
    let start = Instant::now();
    let mut got: BTreeMap<i32, Vec<Msg>> = expected.keys().map(|p| (*p, Vec::new())).collect();
    let mut hw: BTreeMap<i32, i64> = BTreeMap::new();
    loop {
        let pending: Vec<FetchPartition> = expected
            .iter()
            .filter(|(p, n)| (got[p].len() as i64) < **n)
            .map(|(p, _)| FetchPartition::new(topic, *p, got[p].len() as i64))
            .collect();
        if pending.is_empty() {
            return (got, hw);
        }
        assert!(
            start.elapsed() < timeout,
            "fetch of {topic} incomplete after {timeout:?}: have {:?}, expected {expected:?}",
            got.iter()
                .map(|(p, v)| (*p, v.len()))
                .collect::<BTreeMap<_, _>>()
        );
        let resps = client.fetch_messages(&pending).expect("fetch_messages");
        for resp in &resps {
            for t in resp.topics() {
                assert_eq!(t.topic(), topic);
                for p in t.partitions() {
                    let data = p
                        .data()
                        .unwrap_or_else(|e| panic!("fetch {topic}/{}: {e}", p.partition()));
                    hw.insert(p.partition(), data.highwatermark_offset());
                    let list = got.get_mut(&p.partition()).expect("unrequested partition");
                    let from = list.len() as i64;
                    // The kafka crate drops plain messages before a
                    // compressed wrapper; braid's consumer gets them back
                    // the same way (see braid::client::fetch_gap).
                    let msgs: Vec<Msg> = match braid::client::legacy::fetch_gap::check(
                        client,
                        topic,
                        p.partition(),
                        from,
                        data.messages(),
                        4 * 1024 * 1024,
                    )
                    .expect("refetch")
                    {
                        Some(again) => again.into_iter().map(Msg::from).collect(),
                        None => data.messages().iter().map(Msg::from).collect(),
                    };
                    for m in msgs {
                        let want = list.len() as i64;
                        assert_eq!(
                            m.offset,
                            want,
                            "{topic}/{}: offset {} where {want} was next",
                            p.partition(),
                            m.offset
                        );
                        list.push(m);
                    }
                }
            }
        }
    }
}

/// Earliest or latest offset per partition of `topic` (ListOffsets).
pub fn list_offsets(
    client: &mut KafkaClient,
    topic: &str,
    which: FetchOffset,
) -> BTreeMap<i32, i64> {
    client
        .fetch_topic_offsets(topic, which)
        .unwrap_or_else(|e| panic!("ListOffsets {which:?} for {topic}: {e}"))
        .into_iter()
        .map(|po| (po.partition, po.offset))
        .collect()
}

/// `n` test messages spread round robin over `partitions` partitions, with
/// keys and values that name their index (values of varying length).
pub fn make_messages(n: usize, partitions: i32, tag: &str) -> Vec<(i32, Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let p = (i % partitions as usize) as i32;
            let key = format!("key-{i}").into_bytes();
            let pad = "x".repeat(i % 37);
            let value = format!(
                "{{\"tag\":\"{tag}\",\"seq\":{i},\"value\":{},\"pad\":\"{pad}\"}}",
                i % 100 + 1
            )
            .into_bytes();
            (p, key, value)
        })
        .collect()
}

/// What `msgs` (as made by [`make_messages`]) should look like per partition
/// once fetched: offsets from 0 in the order sent.
pub fn expected_by_partition(msgs: &[(i32, Vec<u8>, Vec<u8>)]) -> BTreeMap<i32, Vec<Msg>> {
    let mut by: BTreeMap<i32, Vec<Msg>> = BTreeMap::new();
    for (p, k, v) in msgs {
        let list = by.entry(*p).or_default();
        list.push(Msg {
            offset: list.len() as i64,
            key: k.clone(),
            value: v.clone(),
        });
    }
    by
}

/// Per-partition message counts of `by`.
pub fn counts(by: &BTreeMap<i32, Vec<Msg>>) -> BTreeMap<i32, i64> {
    by.iter().map(|(p, v)| (*p, v.len() as i64)).collect()
}

/// Asserts that two per-partition message lists are equal, reporting the
/// first difference rather than dumping thousands of messages.
pub fn assert_same_messages(got: &BTreeMap<i32, Vec<Msg>>, want: &BTreeMap<i32, Vec<Msg>>) {
    assert_eq!(counts(got), counts(want), "messages per partition");
    for (p, w) in want {
        let g = &got[p];
        if let Some(i) = (0..w.len()).find(|&i| g[i] != w[i]) {
            panic!(
                "partition {p}, index {i}: got {:?} / {:?} at offset {}, expected {:?} / {:?}",
                String::from_utf8_lossy(&g[i].key),
                String::from_utf8_lossy(&g[i].value),
                g[i].offset,
                String::from_utf8_lossy(&w[i].key),
                String::from_utf8_lossy(&w[i].value),
            );
        }
    }
}

/// A unique-enough suffix for names (topics, groups) within one test run.
pub fn unique(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The directory holding this crate's test helpers (`tests/`).
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Creates `topic` with `partitions` partitions (replication 1) on the
/// brokers `addr` through `braid topic create`; panics if that fails, with
/// `context` (a broker's log) in the message.
pub fn create_topic_on(addr: &str, topic: &str, partitions: i32, context: &str) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args([
        "topic",
        "create",
        topic,
        "--partitions",
        &partitions.to_string(),
        "--replication",
        "1",
        "-b",
        addr,
    ]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "topic create {topic}: {}\n{}\n{context}",
        out.status,
        out.stderr,
    );
}
