//! `braid produce` end to end, through the built binary, each test on its own
//! embedded broker (port 0, its own `--data`): exact counts and placement,
//! Ctrl+C, a broker killed and restarted mid-run, `--format json`, bad input.
//! Events are read back with the `kafka` crate.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use braid::event::{self, Event};
use braid::produce::events::{ProduceEvent, SendSuccess, ShutdownComplete};
use braid::produce::partitioner::{murmur2, partition_for_key};
use common::process::braid;
use common::*;
use kafka::client::{FetchOffset, KafkaClient};
use nix::sys::signal::Signal;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A `braid produce` child whose stdout and stderr are collected in the
/// background; killed and reaped on drop (also when a test panics).
struct Produce {
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// One message from each reader when its stream closed.
    closed: mpsc::Receiver<()>,
}

impl Produce {
    fn spawn(args: &[&str]) -> Produce {
        let mut child = braid()
            .arg("produce")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn braid produce");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, closed) = mpsc::channel();
        collect(
            child.stdout.take().unwrap(),
            Arc::clone(&stdout),
            tx.clone(),
        );
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr), tx);
        Produce {
            child: Some(child),
            stdout,
            stderr,
            closed,
        }
    }

    /// Whether the producer still runs.
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("check braid produce").is_none())
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .unwrap_or_else(|e| panic!("send {sig}: {e}"));
    }

    fn sigint(&self) {
        self.signal(Signal::SIGINT);
    }

    /// Waits for the exit, then for both output streams to close (so the
    /// output is complete); panics with the output after `timeout`, or if a
    /// stream stays open after the exit.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for braid produce") {
                self.child = None;
                for _ in 0..2 {
                    if self.closed.recv_timeout(PIPE_CLOSE_TIMEOUT).is_err() {
                        panic!(
                            "braid produce exited ({status}) but its output was still open \
                             {PIPE_CLOSE_TIMEOUT:?} later\nstdout:\n{}\nstderr:\n{}",
                            self.stdout(),
                            self.stderr()
                        );
                    }
                }
                return status;
            }
            if start.elapsed() > timeout {
                panic!(
                    "braid produce did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Produce {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- braid produce stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout(),
                self.stderr()
            );
        }
    }
}

/// Appends everything read from `src` to `into` on a thread; sends on
/// `closed` when the stream ends.
fn collect(
    mut src: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
    closed: mpsc::Sender<()>,
) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
        let _ = closed.send(());
    });
}

/// Runs `braid produce` to completion.
fn produce(args: &[&str]) -> RunOutput {
    let mut cmd = braid();
    cmd.arg("produce").args(args);
    run_with_timeout(&mut cmd, None, RUN_TIMEOUT)
}

/// Every message of `topic`, per partition, read from offset 0 to the end.
fn read_log(addr: &str, topic: &str) -> BTreeMap<i32, Vec<Msg>> {
    let mut client = kafka_client(addr);
    client.load_metadata(&[topic]).expect("metadata");
    let ends = list_offsets(&mut client, topic, FetchOffset::Latest);
    fetch_all(&mut client, topic, &ends, Duration::from_secs(60)).0
}

fn total(ends: &BTreeMap<i32, i64>) -> i64 {
    ends.values().sum()
}

fn latest(client: &mut KafkaClient, topic: &str) -> BTreeMap<i32, i64> {
    list_offsets(client, topic, FetchOffset::Latest)
}

fn decode(m: &Msg) -> Event {
    event::decode(&m.value).unwrap_or_else(|e| {
        panic!(
            "offset {}: {e}: {:?}",
            m.offset,
            String::from_utf8_lossy(&m.value)
        )
    })
}

/// The events of a `--format json` run, each parsed with the producer's
/// own type (panics on a line that is not one).
fn json_lines(stdout: &str) -> Vec<ProduceEvent> {
    stdout
        .lines()
        .map(|l| {
            ProduceEvent::parse(l).unwrap_or_else(|e| panic!("not a produce event ({e}): {l:?}"))
        })
        .collect()
}

/// The `shutdown_complete` events.
fn shutdowns(events: &[ProduceEvent]) -> Vec<ShutdownComplete> {
    events
        .iter()
        .filter_map(|e| match e {
            ProduceEvent::ShutdownComplete(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

/// The `producer_send_success` events.
fn successes(events: &[ProduceEvent]) -> Vec<SendSuccess> {
    events
        .iter()
        .filter_map(|e| match e {
            ProduceEvent::ProducerSendSuccess(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn murmur2_is_kafkas() {
    // Kafka's UtilsTest.testMurmur2 vectors, cross-checked from the outside.
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"abc"), 479_470_107);
    assert_eq!(partition_for_key(b"foobar", 6), 0);
}

#[test]
fn four_senders_into_six_partitions_exactly_once_in_order_where_murmur2_says() {
    let broker = Broker::start(&["--topic", "ev:6"]);
    let addr = broker.addr();
    let out = produce(&["-b", &addr, "-t", "ev", "-j", "4", "-n", "100000"]);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        out.stderr
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("100000 records sent (100000 acked, 0 failed)"),
        "{stdout}"
    );

    let mut client = kafka_client(&addr);
    client.load_metadata(&["ev"]).unwrap();
    let ends = latest(&mut client, "ev");
    assert_eq!(ends.len(), 6);
    assert_eq!(total(&ends), 100_000, "ListOffsets: {ends:?}");

    let log = read_log(&addr, "ev");
    let mut seen = HashSet::new();
    for (p, msgs) in &log {
        let mut last_seq: BTreeMap<u32, u64> = BTreeMap::new();
        for m in msgs {
            let e = decode(m);
            assert!(e.sender < 4 && e.seq < 25_000, "{e:?}");
            assert!((1..=100).contains(&e.value), "{e:?}");
            assert_eq!(m.key, e.sender.to_string().into_bytes(), "key of {e:?}");
            assert_eq!(partition_for_key(&m.key, 6), *p, "{e:?} in partition {p}");
            assert!(seen.insert((e.sender, e.seq)), "duplicate {e:?}");
            if let Some(prev) = last_seq.insert(e.sender, e.seq) {
                assert!(
                    prev < e.seq,
                    "partition {p}: sender {} seq {} after {prev}",
                    e.sender,
                    e.seq
                );
            }
        }
    }
    assert_eq!(seen.len(), 100_000);
}

#[test]
fn seq_keys_follow_murmur2_and_no_key_spreads_round_robin() {
    let broker = Broker::start(&["--topic", "ks:6", "--topic", "kn:6"]);
    let addr = broker.addr();
    let out = produce(&[
        "-b",
        &addr,
        "-t",
        "ks",
        "-j",
        "2",
        "-n",
        "6000",
        "--key",
        "seq",
        "--batch-size",
        "100",
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let log = read_log(&addr, "ks");
    let mut n = 0;
    for (p, msgs) in &log {
        for m in msgs {
            let e = decode(m);
            assert_eq!(m.key, e.seq.to_string().into_bytes());
            assert_eq!(partition_for_key(&m.key, 6), *p);
            n += 1;
        }
    }
    assert_eq!(n, 6000);

    let out = produce(&[
        "-b",
        &addr,
        "-t",
        "kn",
        "-j",
        "2",
        "-n",
        "6000",
        "--key",
        "none",
        "--value-range",
        "500..1000",
        "--size",
        "200",
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let log = read_log(&addr, "kn");
    for (p, msgs) in &log {
        // Round robin per sender: each partition gets its even share.
        assert_eq!(msgs.len(), 1000, "partition {p}");
        for m in msgs {
            assert!(m.key.is_empty());
            assert_eq!(m.value.len(), 200);
            let e = decode(m);
            assert!((500..=1000).contains(&e.value), "{e:?}");
        }
    }
}

#[test]
fn sigint_stops_cleanly_and_the_log_holds_exactly_what_was_acked() {
    stops_cleanly_on(Signal::SIGINT);
}

#[test]
fn sigterm_stops_cleanly_and_the_log_holds_exactly_what_was_acked() {
    stops_cleanly_on(Signal::SIGTERM);
}

/// The first SIGINT or SIGTERM: exit 130, the summary printed, the producer
/// gone, and the log holds exactly what the summary says was acked.
fn stops_cleanly_on(sig: Signal) {
    let broker = Broker::start(&["--topic", "int:6"]);
    let addr = broker.addr();
    let mut p = Produce::spawn(&[
        "-b", &addr, "-t", "int", "-j", "3", "-n", "0", "--rate", "20000",
    ]);
    let pid = p.pid();
    let mut client = kafka_client(&addr);
    client.load_metadata(&["int"]).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || total(&latest(
            &mut client,
            "int"
        )) > 2000),
        "nothing produced within 30 s"
    );
    p.signal(sig);
    let status = p.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(130), "{sig}: stderr: {}", p.stderr());
    assert!(
        common::process::proc_info(pid).is_none(),
        "braid produce (pid {pid}) is still there after its exit was reaped"
    );
    let stdout = p.stdout();
    assert!(stdout.contains("interrupted"), "{stdout}");
    // "N records sent (A acked, F failed)"
    let line = stdout
        .lines()
        .find(|l| l.contains("records sent"))
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .map(|s| s.parse().unwrap())
        .collect();
    let (sent, acked, failed) = (nums[0], nums[1], nums[2]);
    assert_eq!(failed, 0, "{line}");
    // The summary table's last row covers every sender.
    assert!(
        stdout.lines().any(|l| l.starts_with("all ")),
        "no per-sender summary table:\n{stdout}"
    );
    assert_eq!(sent, acked + failed, "{line}");
    assert!(acked > 2000, "{line}");
    assert_eq!(total(&latest(&mut client, "int")) as u64, acked, "{line}");
    // Each sender's acked events are exactly seq 0..n, once each.
    let log = read_log(&addr, "int");
    let mut per_sender: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for m in log.values().flatten() {
        let e = decode(m);
        per_sender.entry(e.sender).or_default().push(e.seq);
    }
    for (s, mut seqs) in per_sender {
        seqs.sort_unstable();
        let n = seqs.len() as u64;
        assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "sender {s}");
    }
}

#[test]
fn json_events_parse_line_by_line_and_agree_with_the_log() {
    let broker = Broker::start(&["--topic", "js:6"]);
    let addr = broker.addr();
    let out = produce(&[
        "-b",
        &addr,
        "-t",
        "js",
        "-j",
        "3",
        "-n",
        "30000",
        "--key",
        "seq",
        "--batch-size",
        "500",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let lines = json_lines(&String::from_utf8_lossy(&out.stdout));
    match lines.first().unwrap() {
        ProduceEvent::StartupComplete(s) => assert_eq!(s.partitions, 6),
        other => panic!("the first event is not startup_complete: {other:?}"),
    }
    assert!(
        matches!(lines.last().unwrap(), ProduceEvent::ShutdownComplete(_)),
        "{:?}",
        lines.last()
    );
    for l in &lines {
        assert!(
            matches!(
                l,
                ProduceEvent::StartupComplete(_)
                    | ProduceEvent::ProducerSendSuccess(_)
                    | ProduceEvent::ShutdownComplete(_)
            ),
            "unexpected event {l:?}"
        );
        assert!(l.timestamp() > 0, "{l:?}");
    }
    let done = shutdowns(&lines);
    let done = &done[0];
    assert_eq!((done.sent, done.acked, done.failed), (30_000, 30_000, 0));
    assert_eq!(done.threads.iter().map(|t| t.acked).sum::<u64>(), 30_000);

    // The success events tile every partition's log exactly: offsets 0..end.
    let successes = successes(&lines);
    assert_eq!(successes.iter().map(|s| s.count).sum::<u64>(), 30_000);
    let log = read_log(&addr, "js");
    let mut covered: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    for s in &successes {
        covered
            .entry(s.partition)
            .or_default()
            .push((s.offset, s.offset + s.count as i64));
        let msgs = &log[&s.partition];
        for o in s.offset..s.offset + s.count as i64 {
            let e = decode(&msgs[o as usize]);
            assert_eq!(e.sender, s.thread, "{s:?}");
            assert!((s.first_seq..=s.last_seq).contains(&e.seq), "{s:?}: {e:?}");
        }
    }
    for (p, mut ranges) in covered {
        ranges.sort_unstable();
        let mut next = 0;
        for (a, b) in ranges {
            assert_eq!(a, next, "partition {p}: gap or overlap at {a}");
            next = b;
        }
        assert_eq!(next, log[&p].len() as i64, "partition {p}");
    }
}

/// A broker that comes back on the port it first got, so that the producer
/// finds it again after `kill -9` (the shared guard restarts on a new port).
/// The first start is on port 0, so the port was free when the test took it.
struct FixedBroker {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
    log: Arc<Mutex<Vec<u8>>>,
}

impl FixedBroker {
    fn start(data: &Path, topic: &str) -> FixedBroker {
        let mut b = FixedBroker {
            child: None,
            port: 0,
            data: data.to_path_buf(),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        b.spawn(topic);
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on its port (port 0 the first time) and waits for
    /// its `listening on` line; retries a restart whose port is not free again
    /// yet until a deadline.
    fn spawn(&mut self, topic: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = braid()
                .args([
                    "broker",
                    "--listen",
                    &self.addr(),
                    "--topic",
                    topic,
                    "--data",
                ])
                .arg(&self.data)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn braid broker");
            let (tx, _closed) = mpsc::channel();
            collect(
                child.stderr.take().unwrap(),
                Arc::clone(&self.log),
                tx.clone(),
            );
            let first = first_line(child.stdout.take().unwrap(), Arc::clone(&self.log), tx);
            let line = first.recv_timeout(START_TIMEOUT).unwrap_or_default();
            if let Some(addr) = line.trim_end().strip_prefix("listening on ") {
                let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
                assert!(
                    self.port == 0 || port == Some(self.port),
                    "broker restarted on {addr}, not on port {}",
                    self.port
                );
                self.port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                self.port != 0 && Instant::now() < deadline,
                "broker did not start on {} (first line {line:?}): {}",
                self.addr(),
                String::from_utf8_lossy(&self.log.lock().unwrap())
            );
            // The port is not free again yet (a failed start): try again.
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends the first line of `stdout` (empty if it closes first) over the
/// returned channel, then appends the rest to `log`.
fn first_line(
    stdout: std::process::ChildStdout,
    log: Arc<Mutex<Vec<u8>>>,
    closed: mpsc::Sender<()>,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut out = BufReader::new(stdout);
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        let _ = tx.send(first);
        collect(out, log, closed);
    });
    rx
}

impl Drop for FixedBroker {
    fn drop(&mut self) {
        self.kill9();
        if thread::panicking() {
            eprintln!(
                "--- broker output ---\n{}",
                String::from_utf8_lossy(&self.log.lock().unwrap())
            );
        }
    }
}

#[test]
fn broker_killed_and_restarted_mid_run_loses_nothing_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = FixedBroker::start(dir.path(), "kill:6");
    let addr = broker.addr();
    let mut p = Produce::spawn(&[
        "-b",
        &addr,
        "-t",
        "kill",
        "-j",
        "4",
        "-n",
        "200000",
        "--rate",
        "50000",
        "--batch-size",
        "500",
        "--timeout",
        "60",
        "--format",
        "json",
    ]);
    let mut client = kafka_client(&addr);
    client.load_metadata(&["kill"]).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || total(&latest(
            &mut client,
            "kill"
        )) > 20_000),
        "nothing produced within 30 s"
    );
    broker.kill9();
    // The producer notices and starts retrying before the broker is back.
    assert!(
        wait_until(Duration::from_secs(30), || p
            .stdout()
            .contains("producer_send_retry")),
        "no retry reported"
    );
    broker.spawn("kill:6");
    let status = p.wait(RUN_TIMEOUT);
    assert!(status.success(), "exit {status:?}: {}", p.stderr());

    let lines = json_lines(&p.stdout());
    let done = shutdowns(&lines);
    let done = &done[0];
    assert_eq!(done.sent, done.acked + done.failed, "{done:?}");
    assert_eq!(done.sent, 200_000);
    assert_eq!(done.failed, 0, "{done:?}");
    assert!(done.retries > 0, "{done:?}");

    // Every acked event is in the log, at the offsets its confirm named.
    let log = read_log(&addr, "kill");
    let successes = successes(&lines);
    let mut acked = 0;
    for s in &successes {
        let msgs = &log[&s.partition];
        for (k, o) in (s.offset..s.offset + s.count as i64).enumerate() {
            let m = msgs
                .get(o as usize)
                .unwrap_or_else(|| panic!("{s:?}: offset {o} missing from the log"));
            let e = decode(m);
            assert_eq!(
                (e.sender, e.seq),
                (s.thread, s.first_seq + k as u64),
                "{s:?}"
            );
        }
        acked += s.count;
    }
    assert_eq!(acked, done.acked);
    // And every (sender, seq) at least once (a batch whose ack was lost in
    // the crash may be there twice: at-least-once).
    let seen: HashSet<(u32, u64)> = log
        .values()
        .flatten()
        .map(|m| {
            let e = decode(m);
            (e.sender, e.seq)
        })
        .collect();
    assert_eq!(seen.len(), 200_000);
}

#[test]
fn broker_gone_for_good_fails_after_timeout_and_counts_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = FixedBroker::start(dir.path(), "gone:6");
    let addr = broker.addr();
    let mut p = Produce::spawn(&[
        "-b",
        &addr,
        "-t",
        "gone",
        "-j",
        "2",
        "-n",
        "0",
        "--rate",
        "5000",
        "--batch-size",
        "100",
        "--timeout",
        "2",
        "--format",
        "json",
    ]);
    let mut client = kafka_client(&addr);
    client.load_metadata(&["gone"]).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || total(&latest(
            &mut client,
            "gone"
        )) > 1000),
        "nothing produced within 30 s"
    );
    broker.kill9();
    let status = p.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", p.stderr());
    let err = p.stderr();
    assert!(
        err.contains("records failed; last error: gave up after 2s"),
        "{err}"
    );

    let lines = json_lines(&p.stdout());
    let done = shutdowns(&lines);
    let done = &done[0];
    assert!(done.failed > 0, "{done:?}");
    assert_eq!(done.sent, done.acked + done.failed, "{done:?}");
    let failed: u64 = lines
        .iter()
        .map(|l| match l {
            ProduceEvent::ProducerSendError(e) => e.count,
            _ => 0,
        })
        .sum();
    assert_eq!(failed, done.failed);

    // Back up on the same data: every acked record is there.
    broker.spawn("gone:6");
    let log = read_log(&addr, "gone");
    let successes = successes(&lines);
    assert_eq!(successes.iter().map(|s| s.count).sum::<u64>(), done.acked);
    for s in &successes {
        for (k, o) in (s.offset..s.offset + s.count as i64).enumerate() {
            let e = decode(&log[&s.partition][o as usize]);
            assert_eq!(
                (e.sender, e.seq),
                (s.thread, s.first_seq + k as u64),
                "{s:?}"
            );
        }
    }
}

#[test]
fn a_second_sigint_exits_at_once_while_the_first_is_still_flushing() {
    let mut broker = Broker::start(&["--topic", "twice:2"]);
    let addr = broker.addr();
    let mut p = Produce::spawn(&[
        "-b",
        &addr,
        "-t",
        "twice",
        "-n",
        "0",
        "--rate",
        "2000",
        "--timeout",
        "300",
        "--format",
        "json",
    ]);
    let mut client = kafka_client(&addr);
    client.load_metadata(&["twice"]).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || total(&latest(
            &mut client,
            "twice"
        )) > 500),
        "nothing produced within 30 s"
    );
    // With the broker gone, the batch in flight cannot be flushed: the
    // first SIGINT's graceful stop keeps retrying (up to --timeout 300 s).
    broker.kill9();
    let retries = |p: &Produce| p.stdout().matches("producer_send_retry").count();
    assert!(
        wait_until(Duration::from_secs(30), || retries(&p) > 0),
        "no retry reported after the broker was killed"
    );
    p.sigint();
    let after_first = retries(&p);
    assert!(
        wait_until(Duration::from_secs(60), || retries(&p) > after_first),
        "no retry after the first SIGINT: the graceful stop should keep flushing"
    );
    assert!(p.running(), "braid produce exited on the first SIGINT");
    // At once: long before --timeout gives up on the batch (a generous
    // bound for a loaded machine).
    p.sigint();
    let status = p.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "stderr: {}", p.stderr());
}

#[test]
fn unreachable_brokers_fail_fast_with_one_line_of_advice() {
    let refused = RefusedPort::new();
    let addr = refused.addr();
    // Failing fast means not retrying for the 300 s of --timeout: a run that
    // waits for it fails in run_with_timeout.
    let mut cmd = braid();
    cmd.args([
        "produce",
        "-b",
        &addr,
        "-t",
        "x",
        "-n",
        "10",
        "--timeout",
        "300",
    ]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&addr), "{err}");
    assert!(
        err.contains("braid broker") && err.contains("docker compose up -d"),
        "{err}"
    );
}

#[test]
fn missing_topic_without_auto_create_says_how_to_create_it() {
    let broker = Broker::start(&["--no-auto-create"]);
    let out = produce(&["-b", &broker.addr(), "-t", "nope", "-n", "10"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("'nope' does not exist"), "{err}");
    assert!(
        err.contains("--topic nope:") && err.contains("kafka-topics.sh"),
        "{err}"
    );
}

#[test]
fn nonsense_flags_are_usage_errors() {
    for (args, needle) in [
        (vec!["-j", "0"], "--threads"),
        (vec!["--rate", "-1"], "--rate"),
        (vec!["--rate", "fast"], "--rate"),
        (vec!["--value-range", "9..1"], "--value-range"),
        (vec!["--size", "10", "-n", "100"], "--size"),
        (vec!["--acks", "2"], "--acks"),
        (vec!["--key", "random"], "--key"),
        (vec!["--batch-size", "0"], "--batch-size"),
    ] {
        let mut full = vec!["-b", "127.0.0.1:1"];
        full.extend(&args);
        let out = produce(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
