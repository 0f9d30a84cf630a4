//! `braid consume` end to end, through the built binary, each test on its own
//! embedded broker (port 0, its own `--data`): completeness for every
//! assignment strategy, Ctrl+C (to the process group and to the supervisor),
//! a second Ctrl+C during a slow graceful stop, `kill -9` of a worker and of
//! the supervisor, a crash loop, invalid messages and bad input.
//!
//! The supervisor runs in its own process group (as a shell job would), so a
//! terminal's Ctrl+C can be imitated with `killpg`, and everything it forked
//! can be found (and killed, by the guard) through that group. The harness
//! itself never forks.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use braid::event::Event;
use common::*;
use kafka::client::{FetchGroupOffset, FetchOffset};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// The longest any consume run in these tests may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long every process of a `braid consume` may take to be gone after the
/// signal that ends it (DESIGN.md asks for well under a second; this leaves
/// room for a loaded 2-core machine).
const GONE_WITHIN: Duration = Duration::from_secs(5);

fn braid() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn");
    cmd
}

// ---------------------------------------------------------------------------
// Processes

/// One line of `/proc/PID/stat`: state, parent, process group, CPU ticks.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    state: char,
    ppid: i32,
    pgrp: i32,
    cpu_ticks: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        cpu_ticks: f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
    })
}

/// Every process (zombies included) in process group `pgid`, with its state.
fn group_members(pgid: i32) -> Vec<(i32, char)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| proc_stat(pid).map(|s| (pid, s)))
        .filter(|(_, s)| s.pgrp == pgid)
        .map(|(pid, s)| (pid, s.state))
        .collect()
}

/// Whether `pid` is gone: no such process, or (after its parent died) a
/// zombie waiting for init. A zombie whose parent is `parent` is *not* gone:
/// that parent failed to reap it.
fn exited(pid: i32, parent: Option<i32>) -> bool {
    match proc_stat(pid) {
        None => true,
        Some(s) if s.state == 'Z' || s.state == 'X' => Some(s.ppid) != parent,
        Some(_) => false,
    }
}

/// Waits up to `deadline` for the process group `pgid` to be empty; panics
/// with what is left otherwise. An orphaned zombie (parent init) has exited
/// and only waits for init, which here reaps with some delay: it does not
/// count. A zombie whose parent is a braid process does.
fn assert_group_gone(pgid: i32, deadline: Duration, what: &str) {
    let mut left = Vec::new();
    let ok = wait_until(deadline, || {
        left = group_members(pgid)
            .into_iter()
            .filter(|(pid, state)| *state != 'Z' || proc_stat(*pid).is_some_and(|s| s.ppid != 1))
            .collect();
        left.is_empty()
    });
    assert!(
        ok,
        "{what}: processes of braid consume's group {pgid} still there after {deadline:?} \
         (pid, state): {left:?}"
    );
}

/// Collects everything read from `src` into `into`, then raises `eof`.
fn collect_lines(
    src: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
    eof: Arc<AtomicBool>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(src);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    into.lock()
                        .unwrap()
                        .push(text.trim_end_matches('\n').to_string());
                }
            }
        }
        eof.store(true, Ordering::SeqCst);
    });
}

/// A `braid consume` supervisor in its own process group, with its stdout
/// (as lines) and stderr collected in the background. Dropping it SIGKILLs
/// the whole group (supervisor and every worker) and reaps the supervisor,
/// also when a test panics.
struct Consume {
    child: Option<Child>,
    pid: i32,
    status: Option<ExitStatus>,
    json: bool,
    stdout: Arc<Mutex<Vec<String>>>,
    stdout_eof: Arc<AtomicBool>,
    stderr: Arc<Mutex<Vec<String>>>,
    parsed: Vec<Value>,
    // Working directory (a crashing worker may leave a core file there).
    _dir: tempfile::TempDir,
}

impl Consume {
    /// Starts `braid consume -b ADDR -t TOPIC ARGS...`; `--format json`
    /// among `args` makes stdout parse as events.
    fn spawn(addr: &str, topic: &str, args: &[&str]) -> Consume {
        let dir = tempfile::Builder::new()
            .prefix("braid-consume-cwd-")
            .tempdir()
            .expect("temporary working directory");
        let json = args.windows(2).any(|w| w == ["--format", "json"]);
        let mut child = braid()
            .arg("consume")
            .args(["-b", addr, "-t", topic])
            .args(args)
            .current_dir(dir.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn braid consume");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout_eof = Arc::new(AtomicBool::new(false));
        collect_lines(
            child.stdout.take().unwrap(),
            Arc::clone(&stdout),
            Arc::clone(&stdout_eof),
        );
        collect_lines(
            child.stderr.take().unwrap(),
            Arc::clone(&stderr),
            Arc::new(AtomicBool::new(false)),
        );
        Consume {
            pid: child.id() as i32,
            child: Some(child),
            status: None,
            json,
            stdout,
            stdout_eof,
            stderr,
            parsed: Vec::new(),
            _dir: dir,
        }
    }

    /// The supervisor's pid, which is also its process group id.
    fn pid(&self) -> i32 {
        self.pid
    }

    fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Output for failure messages: stderr and stdout without the
    /// per-record lines (which can be thousands).
    fn diagnostics(&self) -> String {
        let out = self.stdout.lock().unwrap();
        let kept: Vec<&String> = out
            .iter()
            .filter(|l| !l.contains("\"record_processed\"") && !l.starts_with("[worker "))
            .collect();
        let skipped = out.len() - kept.len();
        format!(
            "--- braid consume (pid {}) stdout ({skipped} record lines left out) ---\n{}\n\
             --- stderr ---\n{}\n--- end ---",
            self.pid,
            kept.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            self.stderr()
        )
    }

    /// Parses the stdout lines not parsed yet (json mode: each must be an event).
    fn parse_new(&mut self) {
        assert!(self.json, "events of a run without --format json");
        let lines: Vec<String> = {
            let out = self.stdout.lock().unwrap();
            out[self.parsed.len()..].to_vec()
        };
        for line in lines {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) if v.get("name").and_then(Value::as_str).is_some() => self.parsed.push(v),
                _ => panic!(
                    "a stdout line of --format json is not a named JSON event: {line:?}\n{}",
                    self.diagnostics()
                ),
            }
        }
    }

    /// Every event so far.
    fn events(&mut self) -> Vec<Value> {
        self.parse_new();
        self.parsed.clone()
    }

    /// Events named `name` so far.
    fn named(&mut self, name: &str) -> Vec<Value> {
        self.parse_new();
        self.parsed
            .iter()
            .filter(|v| v["name"] == name)
            .cloned()
            .collect()
    }

    /// Whether the supervisor has exited (reaping it if so).
    fn has_exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let child = self.child.as_mut().expect("spawned");
        if let Some(st) = child.try_wait().expect("try_wait") {
            self.status = Some(st);
            true
        } else {
            false
        }
    }

    /// Waits until `ok` holds for the events so far; panics (with the output)
    /// after `deadline` or when the run ends without it.
    fn wait_events(
        &mut self,
        deadline: Duration,
        what: &str,
        mut ok: impl FnMut(&[Value]) -> bool,
    ) {
        let start = Instant::now();
        loop {
            self.parse_new();
            if ok(&self.parsed) {
                return;
            }
            let ended = self.has_exited() && self.stdout_eof.load(Ordering::SeqCst);
            if ended || start.elapsed() > deadline {
                panic!(
                    "waiting for {what}: {} after {:?}\n{}",
                    if ended {
                        format!("braid consume ended ({:?})", self.status)
                    } else {
                        "timed out".to_string()
                    },
                    start.elapsed(),
                    self.diagnostics()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the first event satisfying `pred` and returns it.
    fn wait_event(
        &mut self,
        deadline: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut found = None;
        self.wait_events(deadline, what, |evs| {
            found = evs.iter().find(|v| pred(v)).cloned();
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits for the supervisor to exit, then (briefly) for its stdout to be
    /// closed by every process holding it; panics with the output after
    /// `deadline`.
    fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let start = Instant::now();
        while !self.has_exited() {
            if start.elapsed() > deadline {
                panic!(
                    "braid consume did not exit within {deadline:?}\n{}",
                    self.diagnostics()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
        // Workers write records to the same stdout; once every process is
        // gone the reader sees EOF. (A worker left behind would keep it open:
        // the process checks of the tests report that.)
        wait_until(Duration::from_secs(5), || {
            self.stdout_eof.load(Ordering::SeqCst)
        });
        self.status.unwrap()
    }

    /// Like `kill -SIG <supervisor>`.
    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid), sig).expect("signal the supervisor");
    }

    /// Like Ctrl+C on a terminal: SIGINT to the whole process group.
    fn signal_group(&self, sig: Signal) {
        killpg(Pid::from_raw(self.pid), sig).expect("signal the process group");
    }

    /// Exit code of a finished run, with the output on mismatch.
    fn assert_code(&self, status: ExitStatus, code: i32, what: &str) {
        assert_eq!(
            status.code(),
            Some(code),
            "{what}: braid consume exited with {status}, expected {code}\n{}",
            self.diagnostics()
        );
    }
}

impl Drop for Consume {
    fn drop(&mut self) {
        // The group outlives its leader while any worker lives.
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
    }
}

/// A background child (a streaming producer) killed and reaped on drop.
struct Background {
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Background {
    fn produce(args: &[&str]) -> Background {
        let mut child = braid()
            .arg("produce")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn braid produce");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect_lines(
            child.stderr.take().unwrap(),
            Arc::clone(&stderr),
            Arc::new(AtomicBool::new(false)),
        );
        Background {
            child: Some(child),
            stderr,
        }
    }

    /// Ctrl+C, then waits for the exit.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT the producer");
        let ok = wait_until(Duration::from_secs(30), || {
            child.try_wait().expect("try_wait").is_some()
        });
        if !ok {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the producer did not stop within 30 s of SIGINT; stderr:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Data

/// `braid produce -b ADDR -t TOPIC ARGS...`, which must succeed.
fn produce(addr: &str, topic: &str, args: &[&str]) {
    let out = run_with_timeout(
        braid()
            .args(["produce", "-b", addr, "-t", topic])
            .args(args),
        None,
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "braid produce {args:?} failed with {}: {}",
        out.status,
        out.stderr
    );
}

/// High watermark per partition.
fn high_watermarks(addr: &str, topic: &str) -> BTreeMap<i32, i64> {
    let mut client = kafka_client(addr);
    client.load_metadata(&[topic]).expect("metadata");
    list_offsets(&mut client, topic, FetchOffset::Latest)
}

/// The group's committed offset per partition, as the broker has it (only
/// partitions with a commit).
fn group_offsets(addr: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let mut client = kafka_client(addr);
    client.load_metadata(&[topic]).expect("metadata");
    let parts: Vec<i32> = client
        .topics()
        .partitions(topic)
        .expect("topic known")
        .iter()
        .map(|p| p.id())
        .collect();
    let wanted: Vec<FetchGroupOffset> = parts
        .iter()
        .map(|p| FetchGroupOffset::new(topic, *p))
        .collect();
    client
        .fetch_group_offsets(group, &wanted)
        .expect("OffsetFetch")
        .remove(topic)
        .unwrap_or_default()
        .into_iter()
        .filter(|po| po.offset >= 0)
        .map(|po| (po.partition, po.offset))
        .collect()
}

/// One processed event, from a `record_processed` event or a human echo line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rec {
    worker: u64,
    pid: i64,
    partition: i32,
    offset: i64,
    sender: u64,
    seq: u64,
}

fn records(events: &[Value]) -> Vec<Rec> {
    events
        .iter()
        .filter(|v| v["name"] == "record_processed")
        .map(|v| Rec {
            worker: v["worker"].as_u64().expect("worker"),
            pid: v["pid"].as_i64().expect("pid"),
            partition: v["partition"].as_i64().expect("partition") as i32,
            offset: v["offset"].as_i64().expect("offset"),
            sender: v["sender"].as_u64().expect("sender"),
            seq: v["seq"].as_u64().expect("seq"),
        })
        .collect()
}

/// Parses `[worker W pid P] pPART@OFFSET sender=S seq=Q value=V ts_ms=T`.
fn human_record(line: &str) -> Option<Rec> {
    let rest = line.strip_prefix("[worker ")?;
    let (worker, rest) = rest.split_once(" pid ")?;
    let (pid, rest) = rest.split_once("] p")?;
    let (partition, rest) = rest.split_once('@')?;
    let (offset, rest) = rest.split_once(' ')?;
    let mut fields = HashMap::new();
    for kv in rest.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        fields.insert(k, v.parse::<u64>().ok()?);
    }
    for k in ["value", "ts_ms"] {
        fields.get(k)?;
    }
    Some(Rec {
        worker: worker.parse().ok()?,
        pid: pid.parse().ok()?,
        partition: partition.parse().ok()?,
        offset: offset.parse().ok()?,
        sender: *fields.get("sender")?,
        seq: *fields.get("seq")?,
    })
}

/// The one `shutdown_complete` event.
fn shutdown(events: &[Value]) -> Value {
    let list: Vec<&Value> = events
        .iter()
        .filter(|v| v["name"] == "shutdown_complete")
        .collect();
    assert_eq!(list.len(), 1, "exactly one shutdown_complete: {list:?}");
    list[0].clone()
}

/// `{"0": 10, ...}` → map.
fn offset_map(v: &Value) -> BTreeMap<i32, i64> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object of offsets: {v}"))
        .iter()
        .map(|(k, o)| {
            (
                k.parse().expect("partition key"),
                o.as_i64().expect("offset"),
            )
        })
        .collect()
}

/// The sum of the counts of `records_consumed` events.
fn reported_count(events: &[Value]) -> u64 {
    events
        .iter()
        .filter(|v| v["name"] == "records_consumed")
        .map(|v| v["count"].as_u64().expect("count"))
        .sum()
}

/// The offsets of an `offsets_committed` event.
fn commit_offsets(v: &Value) -> BTreeMap<i32, i64> {
    v["offsets"]
        .as_array()
        .unwrap_or_else(|| panic!("no offsets in {v}"))
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().expect("partition") as i32,
                o["offset"].as_i64().expect("offset"),
            )
        })
        .collect()
}

/// Worker index → partitions, from `partitions_assigned` events (the first
/// assignment of each worker).
fn assigned(events: &[Value]) -> BTreeMap<u64, Vec<i32>> {
    let mut out = BTreeMap::new();
    for v in events.iter().filter(|v| v["name"] == "partitions_assigned") {
        let parts: Vec<i32> = v["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .map(|p| p.as_i64().unwrap() as i32)
            .collect();
        out.entry(v["worker"].as_u64().unwrap()).or_insert(parts);
    }
    out
}

/// The pids of `partitions_assigned` events.
fn worker_pids(events: &[Value]) -> Vec<i32> {
    events
        .iter()
        .filter(|v| v["name"] == "partitions_assigned")
        .map(|v| v["pid"].as_i64().unwrap() as i32)
        .collect()
}

/// Asserts that per partition the offsets of `recs` come in order, without
/// gaps or rewinds, from `from[p]` (0 when absent) up to `to[p]`, and
/// returns the number consumed per partition.
fn assert_contiguous(
    recs: &[Rec],
    from: &BTreeMap<i32, i64>,
    to: Option<&BTreeMap<i32, i64>>,
    what: &str,
) -> BTreeMap<i32, i64> {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for r in recs {
        let want = next
            .entry(r.partition)
            .or_insert_with(|| from.get(&r.partition).copied().unwrap_or(0));
        assert_eq!(
            r.offset, *want,
            "{what}: partition {} gave offset {} where {} was next ({r:?})",
            r.partition, r.offset, want
        );
        *want += 1;
    }
    if let Some(to) = to {
        for (p, end) in to {
            let got = next
                .get(p)
                .copied()
                .unwrap_or_else(|| from.get(p).copied().unwrap_or(0));
            assert_eq!(
                got, *end,
                "{what}: partition {p} consumed up to {got}, its end is {end}"
            );
        }
    }
    recs.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.partition).or_default() += 1;
        m
    })
}

/// Asserts that every `(sender, seq)` occurs once.
fn assert_distinct_events(recs: &[Rec], what: &str) {
    let mut seen = HashMap::new();
    for r in recs {
        if let Some(first) = seen.insert((r.sender, r.seq), *r) {
            panic!(
                "{what}: event sender={} seq={} consumed twice: {first:?} and {r:?}",
                r.sender, r.seq
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Completeness

/// 60,000 events from 4 senders without keys (so every partition gets a
/// share); then, per process count, a consume with `--exit-at-end --processor
/// echo` in a fresh group: every (sender, seq) exactly once, each partition
/// read in order from 0 to its end by the worker the plan gives it, and the
/// committed offsets (event and broker) equal to the high watermarks.
fn completeness(runs: &[(u32, &str, &str, Vec<Vec<i32>>)]) {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("complete");
    produce(&addr, &topic, &["-j", "4", "-n", "60000", "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    assert_eq!(hw.len(), 6, "six partitions: {hw:?}");
    assert_eq!(hw.values().sum::<i64>(), 60_000, "produced: {hw:?}");
    assert!(
        hw.values().all(|n| *n > 0),
        "every partition has data: {hw:?}"
    );

    for (w, strategy, format, plan) in runs {
        let what = format!("--processes {w} --assignment {strategy} --format {format}");
        let group = unique("g");
        let w_arg = w.to_string();
        let mut c = Consume::spawn(
            &addr,
            &topic,
            &[
                "--processes",
                &w_arg,
                "-g",
                &group,
                "-o",
                "earliest",
                "--assignment",
                *strategy,
                "--exit-at-end",
                "--processor",
                "echo",
                "--format",
                format,
            ],
        );
        let status = c.wait_exit(RUN_TIMEOUT);
        c.assert_code(status, 0, &what);
        let plan_of: BTreeMap<u64, Vec<i32>>;
        let recs: Vec<Rec>;
        if *format == "json" {
            let events = c.events();
            let start = &c.named("startup_complete")[0];
            assert_eq!(
                start["workers"],
                plan.len(),
                "{what}: startup_complete {start}"
            );
            plan_of = assigned(&events);
            recs = records(&events);
            let done = shutdown(&events);
            assert_eq!(done["status"], "done", "{what}: {done}");
            assert_eq!(done["consumed"], 60_000, "{what}: {done}");
            assert_eq!(
                reported_count(&events),
                60_000,
                "{what}: records_consumed counts"
            );
            assert_eq!(done["invalid"], 0, "{what}: {done}");
            assert_eq!(
                offset_map(&done["committed"]),
                hw,
                "{what}: committed in shutdown_complete"
            );
            let exits = c.named("worker_exited");
            assert_eq!(
                exits.len(),
                plan.len(),
                "{what}: worker_exited events {exits:?}"
            );
            assert!(
                exits
                    .iter()
                    .all(|e| e["respawned"] == false && e["status"] == "exited 0"),
                "{what}: {exits:?}"
            );
        } else {
            // Human output: echo lines on stdout, notes on stderr.
            recs = c
                .stdout_lines()
                .iter()
                .filter(|l| l.starts_with("[worker "))
                .map(|l| human_record(l).unwrap_or_else(|| panic!("{what}: echo line {l:?}")))
                .collect();
            let mut m: BTreeMap<u64, BTreeSet<i32>> = BTreeMap::new();
            for r in &recs {
                m.entry(r.worker).or_default().insert(r.partition);
            }
            plan_of = m
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect();
            if *w as usize > plan.len() {
                let err = c.stderr();
                assert!(
                    err.contains(&format!("{w} processes"))
                        && err.contains(&format!("forking {}", plan.len())),
                    "{what}: no note that only {} of {w} processes are forked; stderr:\n{err}",
                    plan.len()
                );
            }
        }
        let want_plan: BTreeMap<u64, Vec<i32>> = plan
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, p)| (i as u64, p))
            .collect();
        assert_eq!(plan_of, want_plan, "{what}: partitions per worker");
        for r in &recs {
            assert!(
                want_plan[&r.worker].contains(&r.partition),
                "{what}: worker {} read partition {} outside its share",
                r.worker,
                r.partition
            );
        }
        assert_eq!(recs.len(), 60_000, "{what}: records processed");
        assert_contiguous(&recs, &BTreeMap::new(), Some(&hw), &what);
        assert_distinct_events(&recs, &what);
        let mut per_sender: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for r in &recs {
            per_sender.entry(r.sender).or_default().insert(r.seq);
        }
        assert_eq!(
            per_sender.len(),
            4,
            "{what}: senders {:?}",
            per_sender.keys()
        );
        for (s, seqs) in &per_sender {
            assert!(
                seqs.len() == 15_000 && seqs.iter().copied().eq(0..15_000),
                "{what}: sender {s} has {} distinct seqs, not 0..15000",
                seqs.len()
            );
        }
        assert_eq!(
            group_offsets(&addr, &group, &topic),
            hw,
            "{what}: committed offsets on the broker"
        );
        assert_group_gone(c.pid(), GONE_WITHIN, &what);
    }
}

fn singles() -> Vec<Vec<i32>> {
    (0..6).map(|p| vec![p]).collect()
}

#[test]
fn completeness_range_for_1_2_3_and_8_processes() {
    completeness(&[
        (1, "range", "json", vec![vec![0, 1, 2, 3, 4, 5]]),
        (2, "range", "json", vec![vec![0, 1, 2], vec![3, 4, 5]]),
        (3, "range", "json", vec![vec![0, 1], vec![2, 3], vec![4, 5]]),
        // Human output here: echo lines and the note about too many processes.
        (8, "range", "human", singles()),
    ]);
}

#[test]
fn completeness_roundrobin_for_1_2_3_and_8_processes() {
    completeness(&[
        (1, "roundrobin", "json", vec![vec![0, 1, 2, 3, 4, 5]]),
        (2, "roundrobin", "json", vec![vec![0, 2, 4], vec![1, 3, 5]]),
        (
            3,
            "roundrobin",
            "json",
            vec![vec![0, 3], vec![1, 4], vec![2, 5]],
        ),
        (8, "roundrobin", "json", singles()),
    ]);
}

/// Explicit plans name one list per worker, so 8 workers over 6 partitions
/// cannot be written: 1, 2, 3 and 6 workers, in uneven shapes.
#[test]
fn completeness_explicit_plans_for_1_2_3_and_6_processes() {
    completeness(&[
        (1, "5,4,3,2,1,0", "json", vec![vec![5, 4, 3, 2, 1, 0]]),
        (2, "0,1,5:2,3,4", "json", vec![vec![0, 1, 5], vec![2, 3, 4]]),
        (
            3,
            "0,5:1,2:3,4",
            "json",
            vec![vec![0, 5], vec![1, 2], vec![3, 4]],
        ),
        (
            6,
            "5:4:3:2:1:0",
            "json",
            vec![vec![5], vec![4], vec![3], vec![2], vec![1], vec![0]],
        ),
    ]);
}

// ---------------------------------------------------------------------------
// Ctrl+C

/// A producer streams events; `braid consume` (3 workers, echo) reads the
/// stream; then SIGINT — to the whole process group as a terminal's Ctrl+C
/// does, or with `kill -INT <supervisor>`. Every process of the consumer is
/// gone within a few seconds, the exit code is 130, the committed offsets are
/// exactly the processed positions (their sum is the count consumed, from 0),
/// and a second run with `-o committed` consumes exactly the rest.
fn interrupt_mid_stream_then_resume(to_group: bool) {
    let what = if to_group {
        "SIGINT to the process group"
    } else {
        "kill -INT <supervisor>"
    };
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("stream");
    let group = unique("g");
    let mut producer = Background::produce(&[
        "-b", &addr, "-t", &topic, "-j", "2", "-n", "0", "--rate", "4000", "--key", "none",
    ]);
    let mut last = BTreeMap::new();
    let flowing = wait_until(Duration::from_secs(30), || {
        let mut client = kafka_client(&addr);
        if client.load_metadata(&[topic.as_str()]).is_err() {
            return false;
        }
        last = client
            .fetch_topic_offsets(topic.as_str(), FetchOffset::Latest)
            .map(|v| v.into_iter().map(|po| (po.partition, po.offset)).collect())
            .unwrap_or_default();
        last.len() == 6 && last.values().sum::<i64>() >= 1000
    });
    assert!(flowing, "the producer did not fill the topic: {last:?}");

    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "echo",
            "--commit-interval",
            "300",
            "--format",
            "json",
        ],
    );
    // Consuming a live stream: every worker has read, and some time passed
    // with the producer still running.
    c.wait_events(Duration::from_secs(60), "3 workers consuming", |evs| {
        let recs = evs.iter().filter(|v| v["name"] == "record_processed");
        let workers: BTreeSet<u64> = recs.clone().filter_map(|v| v["worker"].as_u64()).collect();
        workers.len() == 3 && recs.count() >= 3000
    });
    let before = high_watermarks(&addr, &topic).values().sum::<i64>();
    c.wait_events(Duration::from_secs(30), "the stream to advance", |evs| {
        evs.iter()
            .filter(|v| v["name"] == "record_processed")
            .count() as i64
            > before
    });
    let pids = worker_pids(&c.events());
    assert_eq!(pids.len(), 3, "{what}: three workers, no respawn: {pids:?}");

    let sent = Instant::now();
    if to_group {
        c.signal_group(Signal::SIGINT);
    } else {
        c.signal(Signal::SIGINT);
    }
    let status = c.wait_exit(GONE_WITHIN);
    c.assert_code(status, 130, what);
    assert_group_gone(c.pid(), GONE_WITHIN.saturating_sub(sent.elapsed()), what);
    for pid in &pids {
        assert!(exited(*pid, None), "{what}: worker {pid} still there");
    }
    let took = sent.elapsed();

    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done["status"], "interrupted", "{what}: {done}");
    let recs1 = records(&events);
    let counts = assert_contiguous(&recs1, &BTreeMap::new(), None, what);
    assert_distinct_events(&recs1, what);
    assert_eq!(
        done["consumed"],
        recs1.len(),
        "{what}: consumed vs records printed"
    );
    assert_eq!(
        reported_count(&events),
        recs1.len() as u64,
        "{what}: records_consumed counts vs records printed"
    );
    let committed = offset_map(&done["committed"]);
    assert_eq!(
        committed, counts,
        "{what}: committed offsets must be the processed positions (counted from 0)"
    );
    assert_eq!(committed.values().sum::<i64>(), recs1.len() as i64);
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        committed,
        "{what}: on the broker"
    );
    let exits = c.named("worker_exited");
    assert!(
        exits.len() == 3 && exits.iter().all(|e| e["respawned"] == false),
        "{what}: workers must stop without respawn: {exits:?}"
    );

    // The rest, after the producer stops.
    producer.stop();
    let hw = high_watermarks(&addr, &topic);
    assert!(
        hw.values().sum::<i64>() > recs1.len() as i64,
        "{what}: the producer went on after the interrupt: {hw:?}"
    );
    let mut c2 = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "committed",
            "--exit-at-end",
            "--processor",
            "echo",
            "--format",
            "json",
        ],
    );
    let status = c2.wait_exit(RUN_TIMEOUT);
    c2.assert_code(status, 0, "resume with -o committed");
    let events2 = c2.events();
    let mut starts = BTreeMap::new();
    for v in events2
        .iter()
        .filter(|v| v["name"] == "partitions_assigned")
    {
        starts.extend(offset_map(&v["start_offsets"]));
    }
    assert_eq!(
        starts, committed,
        "the second run starts at the committed offsets"
    );
    let recs2 = records(&events2);
    assert_contiguous(&recs2, &committed, Some(&hw), "second run");
    let all: Vec<Rec> = recs1.iter().chain(&recs2).copied().collect();
    assert_eq!(
        all.len() as i64,
        hw.values().sum::<i64>(),
        "{what}: both runs together read every offset once"
    );
    assert_distinct_events(&all, "both runs together");
    assert_eq!(offset_map(&shutdown(&events2)["committed"]), hw);
    assert_eq!(group_offsets(&addr, &group, &topic), hw);
    eprintln!(
        "{what}: {} then {} events; gone {took:?} after the signal",
        recs1.len(),
        recs2.len()
    );
}

#[test]
fn ctrl_c_to_the_process_group_stops_everything_and_resume_reads_the_rest_once() {
    interrupt_mid_stream_then_resume(true);
}

#[test]
fn sigint_to_the_supervisor_stops_everything_and_resume_reads_the_rest_once() {
    interrupt_mid_stream_then_resume(false);
}

/// `--processor prime` on a value whose primality takes about a second per
/// event to establish (10^18 + 3 is prime: trial division to 10^9), in
/// batches: the graceful stop after the first SIGINT would take many minutes
/// (`--grace 120`). The second SIGINT ends everything at once with 130; no
/// partial batch is committed.
fn second_interrupt_during_slow_graceful_stop(to_group: bool) {
    let what = if to_group {
        "two SIGINTs to the process group"
    } else {
        "two SIGINTs to the supervisor"
    };
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("slow");
    let group = unique("g");
    produce(
        &addr,
        &topic,
        &[
            "-j",
            "2",
            "-n",
            "600",
            "--key",
            "none",
            "--value-range",
            "1000000000000000003..1000000000000000003",
        ],
    );
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "prime",
            "--batch-size",
            "5000",
            "--batch-timeout",
            "100",
            "--grace",
            "120",
            "--format",
            "json",
        ],
    );
    c.wait_events(Duration::from_secs(30), "2 workers assigned", |evs| {
        evs.iter()
            .filter(|v| v["name"] == "partitions_assigned")
            .count()
            == 2
    });
    let pids = worker_pids(&c.events());
    // Both workers are busy in a batch (CPU time accumulates).
    let mut ticks = Vec::new();
    let busy = wait_until(Duration::from_secs(30), || {
        ticks = pids
            .iter()
            .map(|p| proc_stat(*p).map_or(0, |s| s.cpu_ticks))
            .collect();
        ticks.iter().all(|t| *t >= 20)
    });
    assert!(
        busy,
        "{what}: workers {pids:?} never got busy: ticks {ticks:?}"
    );

    let send = |c: &Consume| {
        if to_group {
            c.signal_group(Signal::SIGINT)
        } else {
            c.signal(Signal::SIGINT)
        }
    };
    send(&c);
    // The graceful stop is under way and slow: nothing exits for a while.
    let first = Instant::now();
    let early = wait_until(Duration::from_secs(1), || c.has_exited());
    assert!(
        !early,
        "{what}: the first SIGINT ended the run in {:?}, yet each batch needs minutes \
         (this test needs a slow graceful stop)\n{}",
        first.elapsed(),
        c.diagnostics()
    );
    assert!(
        pids.iter().all(|p| !exited(*p, Some(c.pid()))),
        "{what}: a worker stopped before finishing its batch"
    );

    let second = Instant::now();
    send(&c);
    let status = c.wait_exit(Duration::from_secs(3));
    let took = second.elapsed();
    c.assert_code(status, 130, what);
    assert_group_gone(c.pid(), Duration::from_secs(3), what);
    assert!(took < Duration::from_secs(3), "{what}: exit took {took:?}");
    // Nothing finished, so nothing was committed: all of it is redelivered.
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        BTreeMap::new(),
        "{what}: no offsets may be committed for batches not finished"
    );
    eprintln!("{what}: exited {took:?} after the second SIGINT");
}

#[test]
fn second_ctrl_c_to_the_group_during_a_slow_graceful_stop_exits_at_once() {
    second_interrupt_during_slow_graceful_stop(true);
}

#[test]
fn second_sigint_to_the_supervisor_during_a_slow_graceful_stop_exits_at_once() {
    second_interrupt_during_slow_graceful_stop(false);
}

// ---------------------------------------------------------------------------
// Faults

/// `kill -9` of one worker mid-run: the supervisor reaps it and a new pid
/// takes the same partitions from their committed offsets; at the end
/// (`--exit-at-end`) every offset is consumed, and the only duplicates are
/// what the killed worker processed after its last commit.
#[test]
fn kill9_of_a_worker_respawns_it_on_its_partitions_without_loss() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("kill-worker");
    let group = unique("g");
    // 999999999989 is prime: each event costs trial division up to 10^6,
    // which makes the run last a few seconds.
    produce(
        &addr,
        &topic,
        &[
            "-j",
            "3",
            "-n",
            "6000",
            "--key",
            "none",
            "--value-range",
            "999999999989..999999999989",
        ],
    );
    let hw = high_watermarks(&addr, &topic);
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "prime",
            "--print",
            "--fetch-max-bytes",
            "4096",
            "--commit-interval",
            "1000",
            "--respawn-backoff",
            "100",
            "--exit-at-end",
            "--format",
            "json",
        ],
    );
    let victim = 1u64;
    let commit = c.wait_event(RUN_TIMEOUT, "a commit by worker 1", |v| {
        v["name"] == "offsets_committed" && v["worker"] == victim && v["success"] == true
    });
    let old = commit["pid"].as_i64().unwrap() as i32;
    let mut at = commit_offsets(&commit);
    // Kill it once it has processed events past its last commit, so that
    // some work is redelivered. The worker commits right after printing a
    // set, so it is frozen (SIGSTOP) first and the broker asked what is
    // committed; if a commit slipped in, it goes on and the test tries again.
    let mut frozen = None;
    for _ in 0..20 {
        let rec = c.wait_event(RUN_TIMEOUT, "worker 1 working past its commit", |v| {
            v["name"] == "record_processed"
                && v["pid"] == old
                && at
                    .get(&(v["partition"].as_i64().unwrap() as i32))
                    .is_some_and(|o| v["offset"].as_i64().unwrap() >= o + 10)
        });
        let exits = c.named("worker_exited");
        assert!(
            !exits.iter().any(|v| v["worker"] == victim),
            "worker 1 finished before it could be killed; the test needs a longer run\n{}",
            c.diagnostics()
        );
        kill(Pid::from_raw(old), Signal::SIGSTOP).expect("SIGSTOP the worker");
        let committed = group_offsets(&addr, &group, &topic);
        let p = rec["partition"].as_i64().unwrap() as i32;
        if committed.get(&p).copied().unwrap_or(0) <= rec["offset"].as_i64().unwrap() {
            frozen = Some(committed);
            break;
        }
        kill(Pid::from_raw(old), Signal::SIGCONT).expect("SIGCONT the worker");
        at = committed;
    }
    let committed_at_kill = frozen.expect("worker 1 always committed before it could be frozen");
    kill(Pid::from_raw(old), Signal::SIGKILL).expect("kill -9 the worker");

    let exit = c.wait_event(Duration::from_secs(30), "worker 1's exit", |v| {
        v["name"] == "worker_exited" && v["pid"] == old
    });
    assert_eq!(exit["worker"], victim, "{exit}");
    assert_eq!(exit["respawned"], true, "{exit}");
    assert!(
        exit["status"].as_str().unwrap().contains("SIGKILL"),
        "{exit}"
    );
    assert!(
        exited(old, Some(c.pid())),
        "the killed worker {old} was not reaped"
    );
    let again = c.wait_event(Duration::from_secs(30), "worker 1 respawned", |v| {
        v["name"] == "partitions_assigned" && v["worker"] == victim && v["pid"] != old
    });
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "after a worker was killed");
    let events = c.events();
    let parts = assigned(&events)[&victim].clone();
    let new_parts: Vec<i32> = again["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap() as i32)
        .collect();
    assert_eq!(new_parts, parts, "the new pid takes the same partitions");

    // What the old pid committed last, per partition.
    let start = offset_map(&again["start_offsets"]);
    let want_start: BTreeMap<i32, i64> = parts
        .iter()
        .map(|p| (*p, committed_at_kill.get(p).copied().unwrap_or(0)))
        .collect();
    assert_eq!(
        start, want_start,
        "the new pid resumes from the old one's last commit"
    );

    // Every pid reads its partitions in order, without gaps.
    let recs = records(&events);
    let pids: BTreeSet<i64> = recs.iter().map(|r| r.pid).collect();
    for pid in &pids {
        let mine: Vec<Rec> = recs.iter().filter(|r| r.pid == *pid).copied().collect();
        // The new pid of the victim starts at the commit, the others at 0.
        let from = if *pid != old as i64 && mine[0].worker == victim {
            start.clone()
        } else {
            BTreeMap::new()
        };
        assert_contiguous(&mine, &from, None, &format!("pid {pid}"));
    }
    // Nothing missing; duplicates only from the killed worker after its commit.
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    for r in &recs {
        *seen.entry((r.partition, r.offset)).or_default() += 1;
    }
    for (p, end) in &hw {
        for o in 0..*end {
            assert!(
                seen.contains_key(&(*p, o)),
                "partition {p} offset {o} never consumed"
            );
        }
    }
    let dups: Vec<(i32, i64)> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    assert!(
        seen.values().all(|n| *n <= 2),
        "an offset consumed three times"
    );
    let since_commit: Vec<(i32, i64)> = recs
        .iter()
        .filter(|r| r.pid == old as i64 && r.offset >= want_start[&r.partition])
        .map(|r| (r.partition, r.offset))
        .collect();
    for d in &dups {
        assert!(
            since_commit.contains(d),
            "duplicate {d:?} was not processed by the killed worker after its last commit"
        );
    }
    // The new pid reads from the commit to the end: all of it comes again.
    assert_eq!(
        dups.len(),
        since_commit.len(),
        "duplicates are exactly what the killed worker processed after its last commit"
    );
    assert!(
        !dups.is_empty(),
        "the worker was killed after working past its commit"
    );
    let done = shutdown(&events);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(offset_map(&done["committed"]), hw);
    assert_eq!(group_offsets(&addr, &group, &topic), hw);
    let row = &done["workers"][victim as usize];
    assert_eq!(row["respawns"], 1, "{row}");
    assert_eq!(row["pids"].as_array().unwrap().len(), 2, "{row}");
    assert_group_gone(c.pid(), GONE_WITHIN, "after the run");
    eprintln!(
        "kill -9 worker: {} records, {} duplicates, {} processed since the last commit",
        recs.len(),
        dups.len(),
        since_commit.len()
    );
}

/// `kill -9` of the supervisor: the workers notice (PDEATHSIG), stop
/// gracefully on their own — committing what they processed, although the
/// periodic commit is 10 minutes away — and are gone within seconds.
#[test]
fn kill9_of_the_supervisor_ends_every_worker_on_its_own() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("kill-sup");
    let group = unique("g");
    produce(&addr, &topic, &["-j", "2", "-n", "6000", "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "3",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "count",
            "--commit-interval",
            "600000",
            "--format",
            "json",
        ],
    );
    c.wait_events(RUN_TIMEOUT, "all 6000 events consumed", |evs| {
        evs.iter()
            .filter(|v| v["name"] == "records_consumed")
            .filter_map(|v| v["count"].as_u64())
            .sum::<u64>()
            == 6000
    });
    let pids = worker_pids(&c.events());
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(
        c.named("offsets_committed").is_empty(),
        "no periodic commit yet"
    );
    let sup = c.pid();
    let killed = Instant::now();
    c.signal(Signal::SIGKILL);
    let mut left = Vec::new();
    let gone = wait_until(GONE_WITHIN, || {
        left = pids
            .iter()
            .copied()
            .filter(|p| !exited(*p, Some(sup)))
            .collect();
        left.is_empty()
    });
    assert!(
        gone,
        "workers {left:?} still alive {GONE_WITHIN:?} after the supervisor was killed"
    );
    eprintln!(
        "workers gone {:?} after kill -9 of the supervisor",
        killed.elapsed()
    );
    // Reap the killed supervisor (it is the test's child).
    let status = c.wait_exit(Duration::from_secs(5));
    assert!(status.code().is_none(), "killed: {status}");
    assert_group_gone(sup, GONE_WITHIN, "after kill -9 of the supervisor");
    assert_eq!(
        group_offsets(&addr, &group, &topic),
        hw,
        "workers stopping on PDEATHSIG commit what they processed"
    );
}

/// A worker that always crashes (`--fault-crash-after 10`, test-only) with a
/// short backoff: the supervisor gives up with exit 1 and the crash-loop
/// message; every worker pid was reaped (no zombie), nothing is left.
#[test]
fn a_worker_that_always_crashes_ends_in_a_crash_loop_with_no_process_left() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique("crash");
    produce(&addr, &topic, &["-j", "2", "-n", "1000", "--key", "none"]);

    // json: the events tell the pids and the outcome.
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &unique("g"),
            "-o",
            "earliest",
            "--fault-crash-after",
            "10",
            "--respawn-backoff",
            "50",
            "--format",
            "json",
        ],
    );
    let sup = c.pid();
    let mut zombies = Vec::new();
    // While the supervisor runs, every pid it reported as exited is reaped.
    c.wait_events(Duration::from_secs(60), "the crash loop", |evs| {
        for v in evs.iter().filter(|v| v["name"] == "worker_exited") {
            let pid = v["pid"].as_i64().unwrap() as i32;
            if proc_stat(pid).is_some_and(|s| s.state == 'Z' && s.ppid == sup) {
                zombies.push(pid);
            }
        }
        evs.iter().any(|v| v["name"] == "shutdown_complete")
    });
    let status = c.wait_exit(Duration::from_secs(30));
    c.assert_code(status, 1, "crash loop");
    assert!(
        zombies.is_empty(),
        "reported exited but left as zombies: {zombies:?}"
    );
    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done["status"], "crash_loop", "{done}");
    let msg = done["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("crashed") && msg.contains("worker") && msg.contains("--fault-crash-after"),
        "crash-loop message names the worker and its last error: {msg:?}"
    );
    let exits = c.named("worker_exited");
    assert!(exits.len() >= 6, "{exits:?}");
    assert!(exits.iter().any(|e| e["respawned"] == true));
    let mut all_pids: Vec<i32> = worker_pids(&events);
    for w in done["workers"].as_array().unwrap() {
        all_pids.extend(
            w["pids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_i64().unwrap() as i32),
        );
    }
    assert_group_gone(sup, GONE_WITHIN, "crash loop (json)");
    for pid in &all_pids {
        assert!(
            proc_stat(*pid).is_none(),
            "worker {pid} left behind: {:?}",
            proc_stat(*pid)
        );
    }

    // human: the message on stderr.
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &unique("g"),
            "-o",
            "earliest",
            "--fault-crash-after",
            "10",
            "--respawn-backoff",
            "50",
        ],
    );
    let status = c.wait_exit(Duration::from_secs(60));
    c.assert_code(status, 1, "crash loop (human)");
    let err = c.stderr();
    assert!(
        err.lines()
            .any(|l| l.contains("error") && l.contains("crashed") && l.contains("worker")),
        "no crash-loop error line on stderr:\n{err}"
    );
    assert_group_gone(c.pid(), GONE_WITHIN, "crash loop (human)");
}

// ---------------------------------------------------------------------------
// Invalid messages

/// Payloads that are not events: not JSON, JSON of the wrong shape.
const BAD: &[&str] = &[
    "this is not json",
    "{\"sender\":1,\"seq\":2}",
    "{\"sender\":\"one\",\"seq\":2,\"value\":3,\"ts_ms\":4}",
    "[1,2,3]",
    "{\"sender\":1,\"seq\":2,\"value\":3,\"ts_ms\":4,\"extra\":5}",
    "{\"sender\":-1,\"seq\":2,\"value\":3,\"ts_ms\":4}",
    "{\"sender\":1,\"seq\":2,\"value\":3,\"ts_ms\":4} trailing",
    "{\"sender\":1,\"seq\":2,\"value\":3,",
];

fn kcat_installed() -> bool {
    Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Non-JSON and wrong-schema messages between good events (written with
/// kcat, or with the kafka crate when kcat is missing): counted invalid,
/// skipped, and every good event processed exactly once; offsets committed to
/// the end.
#[test]
fn invalid_messages_are_counted_and_skipped_and_the_rest_processed() {
    let topic = unique("bad");
    let spec = format!("{topic}:6");
    let broker = Broker::start(&["--topic", &spec]);
    let addr = broker.addr();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // Message i goes to partition i % 6; every fifth is bad.
    let mut msgs: Vec<(i32, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut good = BTreeSet::new();
    for i in 0..600u64 {
        let value = if i % 5 == 2 {
            BAD[(i / 5) as usize % BAD.len()].as_bytes().to_vec()
        } else {
            let e = Event {
                sender: (i % 3) as u32,
                seq: i,
                value: i + 2,
                ts_ms: now,
            };
            good.insert((e.sender as u64, e.seq));
            serde_json::to_vec(&e).unwrap()
        };
        msgs.push(((i % 6) as i32, Vec::new(), value));
    }
    if kcat_installed() {
        for p in 0..6 {
            let mut input = Vec::new();
            for (_, _, v) in msgs.iter().filter(|m| m.0 == p) {
                input.extend_from_slice(v);
                input.push(b'\n');
            }
            let out = run_with_timeout(
                Command::new("kcat").args(["-P", "-b", &addr, "-t", &topic, "-p", &p.to_string()]),
                Some(input),
                Duration::from_secs(60),
            );
            assert!(out.status.success(), "kcat -P failed: {}", out.stderr);
        }
    } else {
        eprintln!("kcat not installed: writing the messages with the kafka crate");
        let mut producer = new_producer(&addr, &topic, 6, kafka::client::Compression::NONE);
        send_pinned(&mut producer, &topic, &msgs, 50);
    }
    // The log holds exactly what was written, in order.
    let want: BTreeMap<i32, i64> = (0..6).map(|p| (p, 100)).collect();
    let mut client = kafka_client(&addr);
    wait_for_topic(&mut client, &topic, 6);
    let (log, _) = fetch_all(&mut client, &topic, &want, Duration::from_secs(30));
    for (p, list) in &log {
        let sent: Vec<&Vec<u8>> = msgs.iter().filter(|m| m.0 == *p).map(|m| &m.2).collect();
        let got: Vec<&Vec<u8>> = list.iter().map(|m| &m.value).collect();
        assert_eq!(got, sent, "partition {p} holds what was written");
    }
    assert_eq!(high_watermarks(&addr, &topic), want);

    let group = unique("g");
    let mut c = Consume::spawn(
        &addr,
        &topic,
        &[
            "--processes",
            "2",
            "-g",
            &group,
            "-o",
            "earliest",
            "--processor",
            "echo",
            "--exit-at-end",
            "--format",
            "json",
        ],
    );
    let status = c.wait_exit(RUN_TIMEOUT);
    c.assert_code(status, 0, "invalid messages never stop a worker");
    let events = c.events();
    let done = shutdown(&events);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["invalid"], 120, "{done}");
    assert_eq!(done["consumed"], 600, "{done}");
    let invalid_reported: u64 = c
        .named("records_consumed")
        .iter()
        .filter_map(|v| v["invalid"].as_u64())
        .sum();
    assert_eq!(invalid_reported, 120, "records_consumed invalid counts");
    let recs = records(&events);
    assert_distinct_events(&recs, "good events");
    let got: BTreeSet<(u64, u64)> = recs.iter().map(|r| (r.sender, r.seq)).collect();
    assert_eq!(got, good, "every good event processed");
    for r in &recs {
        assert_eq!(
            (r.offset * 6 + r.partition as i64) as u64,
            r.seq,
            "event {r:?} reported at the wrong place"
        );
    }
    assert_eq!(offset_map(&done["committed"]), want);
    assert_eq!(group_offsets(&addr, &group, &topic), want);
    let err = c.stderr();
    assert!(
        err.contains("not a valid event") && err.contains("offset"),
        "invalid messages are logged with their partition and offset:\n{err}"
    );
    let logged = err
        .lines()
        .filter(|l| l.contains("not a valid event"))
        .count();
    assert!(
        logged < 120,
        "the log of invalid messages is rate-limited ({logged} lines)"
    );
}

// ---------------------------------------------------------------------------
// Bad input

fn consume_fails(args: &[&str], code: i32, timeout: Duration) -> String {
    let start = Instant::now();
    let out = run_with_timeout(braid().arg("consume").args(args), None, timeout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "braid consume {args:?}: {}; stderr:\n{}",
        out.status,
        out.stderr
    );
    assert!(
        start.elapsed() < timeout,
        "braid consume {args:?} took {:?}",
        start.elapsed()
    );
    out.stderr
}

#[test]
fn bad_input_fails_with_a_clear_message_and_the_right_exit_code() {
    // Unreachable brokers: exit 1 quickly, one line naming the address.
    let err = consume_fails(
        &["-b", "127.0.0.1:1", "-t", "x"],
        1,
        Duration::from_secs(10),
    );
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
    assert!(err.contains("127.0.0.1:1"), "names the address:\n{err}");

    let broker = Broker::start(&["--no-auto-create", "--topic", "present:6"]);
    let addr = broker.addr();
    // Unknown topic.
    let err = consume_fails(&["-b", &addr, "-t", "absent"], 1, Duration::from_secs(20));
    assert!(
        err.contains("'absent'") && err.contains("does not exist"),
        "says the topic does not exist:\n{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");

    // --processes 0: a usage error.
    let err = consume_fails(
        &["-b", &addr, "-t", "present", "--processes", "0"],
        2,
        Duration::from_secs(20),
    );
    assert!(err.contains("--processes"), "{err}");

    // An explicit plan naming a partition that does not exist.
    for format in ["human", "json"] {
        let err = consume_fails(
            &[
                "-b",
                &addr,
                "-t",
                "present",
                "--assignment",
                "0,9:1,2",
                "--format",
                format,
            ],
            2,
            Duration::from_secs(20),
        );
        assert_eq!(err.trim().lines().count(), 1, "one line:\n{err}");
        assert!(
            err.contains("partition 9") && err.contains("0-5"),
            "names the partition and lists the real ones:\n{err}"
        );
    }

    // --member 3/2: there is no fourth of two hosts.
    let err = consume_fails(
        &["-b", &addr, "-t", "present", "--member", "3/2"],
        2,
        Duration::from_secs(20),
    );
    assert!(err.contains("3/2"), "{err}");
}
