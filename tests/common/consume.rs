//! Support for the `braid consume` tests: the consumer in its own process
//! group with its output collected (`Consume`), a background producer,
//! `/proc` process checks, and readers of the consumer's `--format json`
//! events (records, commits, assignments) with the completeness checks.
//!
//! The supervisor runs in its own process group (as a shell job would), so a
//! terminal's Ctrl+C can be imitated with `killpg`, and everything it forked
//! can be found (and killed, by the guard) through that group. Nothing here
//! forks.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use braid::consume::events::{ConsumeEvent, Shutdown};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

pub use super::process::braid;
use super::process::{all_processes, proc_info};
use super::*;

/// The longest any consume run in these tests may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a test waits for every process of a `braid consume` to be gone
/// after the signal (or the end of work) that ends it. A deadline for a
/// failure message, not a speed check: the shutdown latency (well under a
/// second) is measured by `benches/ctrl_c_latency.py`, not asserted on a loaded 2-core
/// machine.
pub const GONE_WITHIN: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Processes

/// Every process (zombies included) in process group `pgid`, with its state.
pub fn group_with_zombies(pgid: i32) -> Vec<(i32, char)> {
    all_processes()
        .into_iter()
        .filter(|(_, info)| info.pgrp == pgid)
        .map(|(pid, info)| (pid, info.state))
        .collect()
}

/// Whether `pid` is gone: no such process, or (after its parent died) a
/// zombie waiting for init. A zombie whose parent is `parent` is *not* gone:
/// that parent failed to reap it.
pub fn exited(pid: i32, parent: Option<i32>) -> bool {
    match proc_info(pid) {
        None => true,
        Some(s) if s.state == 'Z' || s.state == 'X' => Some(s.ppid) != parent,
        Some(_) => false,
    }
}

/// Waits up to `deadline` for the process group `pgid` to be empty; panics
/// with what is left otherwise. An orphaned zombie (parent init) has exited
/// and only waits for init, which here reaps with some delay: it does not
/// count. A zombie whose parent is a braid process does.
pub fn assert_group_gone(pgid: i32, deadline: Duration, what: &str) {
    let mut left = Vec::new();
    let ok = wait_until(deadline, || {
        left = group_left(pgid);
        left.is_empty()
    });
    assert!(
        ok,
        "{what}: processes of braid consume's group {pgid} still there after {deadline:?} \
         (pid, state): {left:?}"
    );
}

/// The processes of group `pgid` that are not gone: alive, or a zombie its
/// braid parent did not reap (an orphaned zombie waiting for init has exited).
pub fn group_left(pgid: i32) -> Vec<(i32, char)> {
    group_with_zombies(pgid)
        .into_iter()
        .filter(|(pid, state)| *state != 'Z' || proc_info(*pid).is_some_and(|s| s.ppid != 1))
        .collect()
}

/// Collects everything read from `src` into `into`, then raises `eof`.
pub fn collect_lines(
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
/// also when a test panics. A test that did not panic must have ended the
/// run: a process of the group still there at drop (after up to
/// [`GONE_WITHIN`] to settle) is a leftover, reported as a failure (the
/// guard panics naming it) rather than silently killed.
pub struct Consume {
    child: Option<Child>,
    pid: i32,
    status: Option<ExitStatus>,
    json: bool,
    stdout: Arc<Mutex<Vec<String>>>,
    stdout_eof: Arc<AtomicBool>,
    stderr: Arc<Mutex<Vec<String>>>,
    parsed: Vec<ConsumeEvent>,
    // Working directory (a crashing worker may leave a core file there).
    _dir: tempfile::TempDir,
}

impl Consume {
    /// Starts `braid consume -b ADDR -t TOPIC ARGS...`; `--format json`
    /// among `args` makes stdout parse as events.
    pub fn spawn(addr: &str, topic: &str, args: &[&str]) -> Consume {
        let dir = tempfile::Builder::new()
            .prefix("braid-consume-cwd-")
            .tempdir()
            .expect("temporary working directory");
        let json = args.windows(2).any(|w| w == ["--format", "json"]);
        let mut child = braid()
            .env(
                "RUST_LOG",
                std::env::var("BRAID_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
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
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Output for failure messages: stderr and stdout without the
    /// per-record lines (which can be thousands).
    pub fn diagnostics(&self) -> String {
        let out = self.stdout.lock().unwrap();
        let kept: Vec<&String> = out
            .iter()
            .filter(|l| {
                !l.starts_with("[worker ")
                    && !matches!(
                        ConsumeEvent::parse(l),
                        Ok(ConsumeEvent::RecordProcessed { .. })
                    )
            })
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

    /// Parses the stdout lines not parsed yet (json mode: each must be a
    /// [`ConsumeEvent`], read with the consumer's own type).
    pub fn parse_new(&mut self) {
        assert!(self.json, "events of a run without --format json");
        let lines: Vec<String> = {
            let out = self.stdout.lock().unwrap();
            out[self.parsed.len()..].to_vec()
        };
        for line in lines {
            match ConsumeEvent::parse(&line) {
                Ok(e) => self.parsed.push(e),
                Err(e) => panic!(
                    "a stdout line of --format json is not a braid consume event ({e}): \
                     {line:?}\n{}",
                    self.diagnostics()
                ),
            }
        }
    }

    /// Every event so far.
    pub fn events(&mut self) -> Vec<ConsumeEvent> {
        self.parse_new();
        self.parsed.clone()
    }

    /// The `worker_exited` events so far.
    pub fn exits(&mut self) -> Vec<Exit> {
        self.parse_new();
        exits(&self.parsed)
    }

    /// The `offsets_committed` events so far.
    pub fn commits(&mut self) -> Vec<Commit> {
        self.parse_new();
        commits(&self.parsed)
    }

    /// The `partitions_assigned` events so far.
    pub fn assignments(&mut self) -> Vec<Assigned> {
        self.parse_new();
        assignments(&self.parsed)
    }

    /// Whether the supervisor has exited (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
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
    pub fn wait_events(
        &mut self,
        deadline: Duration,
        what: &str,
        mut ok: impl FnMut(&[ConsumeEvent]) -> bool,
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

    /// Waits for the first event that `pick` takes (`Some`) and returns
    /// what it made of it.
    pub fn wait_event<T>(
        &mut self,
        deadline: Duration,
        what: &str,
        mut pick: impl FnMut(&ConsumeEvent) -> Option<T>,
    ) -> T {
        let mut found = None;
        self.wait_events(deadline, what, |evs| {
            found = evs.iter().find_map(&mut pick);
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits for the supervisor to exit, then (briefly) for its stdout to be
    /// closed by every process holding it; panics with the output after
    /// `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
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
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid), sig).expect("signal the supervisor");
    }

    /// Like Ctrl+C on a terminal: SIGINT to the whole process group.
    pub fn signal_group(&self, sig: Signal) {
        killpg(Pid::from_raw(self.pid), sig).expect("signal the process group");
    }

    /// Exit code of a finished run, with the output on mismatch.
    pub fn assert_code(&self, status: ExitStatus, code: i32, what: &str) {
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
        let panicking = thread::panicking();
        // A test that passed so far must have ended the run: whatever of the
        // group is still there once the supervisor is reaped is a leftover.
        // (Reaping first: an unreaped supervisor would count as one.)
        let mut left = Vec::new();
        if !panicking {
            let ended = wait_until(GONE_WITHIN, || self.has_exited());
            let gone = ended
                && wait_until(GONE_WITHIN, || {
                    left = group_left(self.pid);
                    left.is_empty()
                });
            if !ended {
                left = group_left(self.pid);
            }
            if gone {
                left.clear();
            }
        }
        // The group outlives its leader while any worker lives.
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if panicking {
            eprintln!("{}", self.diagnostics());
        } else if !left.is_empty() {
            eprintln!("{}", self.diagnostics());
            panic!(
                "braid consume (pid {}) left processes of its group behind at the end of the \
                 test (pid, state): {left:?}; killed now",
                self.pid
            );
        }
    }
}

/// A background child (a streaming producer) killed and reaped on drop.
pub struct Background {
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Background {
    pub fn produce(args: &[&str]) -> Background {
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
    pub fn stop(&mut self) {
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
pub fn produce(addr: &str, topic: &str, args: &[&str]) {
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

/// High watermark per partition, through braid's own admin client (so the
/// helper follows braid onto Kafka 4.x, where the `kafka` crate's
/// ListOffsets v0 is gone).
pub fn high_watermarks(addr: &str, topic: &str) -> BTreeMap<i32, i64> {
    braid::client::admin::partitions(&[addr.to_string()], topic, None)
        .expect("partitions")
        .into_iter()
        .map(|p| (p.partition, p.latest))
        .collect()
}

/// The group's committed offset per partition, as the broker has it (only
/// partitions with a commit), through braid's own admin client.
pub fn group_offsets(addr: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    braid::client::admin::partitions(&[addr.to_string()], topic, Some(group))
        .expect("partitions")
        .into_iter()
        .filter_map(|p| Some((p.partition, p.committed?)))
        .collect()
}

/// One processed event, from a `record_processed` event or a human echo line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub worker: u64,
    pub pid: i64,
    pub partition: i32,
    pub offset: i64,
    pub sender: u64,
    pub seq: u64,
}

impl Rec {
    /// The record of a `record_processed` event.
    pub fn of(e: &ConsumeEvent) -> Option<Rec> {
        match e {
            ConsumeEvent::RecordProcessed {
                worker,
                pid,
                partition,
                offset,
                sender,
                seq,
                ..
            } => Some(Rec {
                worker: *worker as u64,
                pid: *pid as i64,
                partition: *partition,
                offset: *offset,
                sender: *sender as u64,
                seq: *seq,
            }),
            _ => None,
        }
    }
}

/// The processed events, from `record_processed` events.
pub fn records(events: &[ConsumeEvent]) -> Vec<Rec> {
    events.iter().filter_map(Rec::of).collect()
}

/// A `worker_exited` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub timestamp: u64,
    pub worker: usize,
    pub pid: i32,
    pub status: String,
    pub respawned: bool,
}

impl Exit {
    /// The fields of a `worker_exited` event.
    pub fn of(e: &ConsumeEvent) -> Option<Exit> {
        match e {
            ConsumeEvent::WorkerExited {
                timestamp,
                worker,
                pid,
                status,
                respawned,
            } => Some(Exit {
                timestamp: *timestamp,
                worker: *worker,
                pid: *pid,
                status: status.clone(),
                respawned: *respawned,
            }),
            _ => None,
        }
    }
}

/// The `worker_exited` events, in order.
pub fn exits(events: &[ConsumeEvent]) -> Vec<Exit> {
    events.iter().filter_map(Exit::of).collect()
}

/// A `partitions_assigned` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub timestamp: u64,
    pub worker: usize,
    pub pid: i32,
    pub partitions: Vec<i32>,
    pub start_offsets: BTreeMap<i32, i64>,
}

impl Assigned {
    /// The fields of a `partitions_assigned` event.
    pub fn of(e: &ConsumeEvent) -> Option<Assigned> {
        match e {
            ConsumeEvent::PartitionsAssigned {
                timestamp,
                worker,
                pid,
                partitions,
                start_offsets,
                ..
            } => Some(Assigned {
                timestamp: *timestamp,
                worker: *worker,
                pid: *pid,
                partitions: partitions.clone(),
                start_offsets: start_offsets.clone(),
            }),
            _ => None,
        }
    }
}

/// The `partitions_assigned` events, in order.
pub fn assignments(events: &[ConsumeEvent]) -> Vec<Assigned> {
    events.iter().filter_map(Assigned::of).collect()
}

/// An `offsets_committed` event, its offsets as a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub timestamp: u64,
    pub worker: usize,
    pub pid: i32,
    pub offsets: BTreeMap<i32, i64>,
    pub success: bool,
    pub error: Option<String>,
}

impl Commit {
    /// The fields of an `offsets_committed` event.
    pub fn of(e: &ConsumeEvent) -> Option<Commit> {
        match e {
            ConsumeEvent::OffsetsCommitted {
                timestamp,
                worker,
                pid,
                offsets,
                success,
                error,
            } => Some(Commit {
                timestamp: *timestamp,
                worker: *worker,
                pid: *pid,
                offsets: offsets.iter().map(|o| (o.partition, o.offset)).collect(),
                success: *success,
                error: error.clone(),
            }),
            _ => None,
        }
    }
}

/// The `offsets_committed` events, in order.
pub fn commits(events: &[ConsumeEvent]) -> Vec<Commit> {
    events.iter().filter_map(Commit::of).collect()
}

/// The `workers` of the `startup_complete` event (which must be there).
pub fn startup_workers(events: &[ConsumeEvent]) -> usize {
    events
        .iter()
        .find_map(|e| match e {
            ConsumeEvent::StartupComplete { workers, .. } => Some(*workers),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no startup_complete among {events:?}"))
}

/// Parses `[worker W pid P] pPART@OFFSET sender=S seq=Q value=V ts_ms=T`.
pub fn human_record(line: &str) -> Option<Rec> {
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
pub fn shutdown(events: &[ConsumeEvent]) -> Shutdown {
    let list: Vec<&Shutdown> = events
        .iter()
        .filter_map(|e| match e {
            ConsumeEvent::ShutdownComplete(s) => Some(&**s),
            _ => None,
        })
        .collect();
    assert_eq!(list.len(), 1, "exactly one shutdown_complete: {list:?}");
    list[0].clone()
}

/// The sum of the counts of `records_consumed` events.
pub fn reported_count(events: &[ConsumeEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            ConsumeEvent::RecordsConsumed { count, .. } => *count,
            _ => 0,
        })
        .sum()
}

/// The sum of the invalid counts of `records_consumed` events.
pub fn reported_invalid(events: &[ConsumeEvent]) -> u64 {
    events
        .iter()
        .map(|e| match e {
            ConsumeEvent::RecordsConsumed { invalid, .. } => *invalid,
            _ => 0,
        })
        .sum()
}

/// Worker index → partitions, from `partitions_assigned` events (the first
/// assignment of each worker).
pub fn assigned(events: &[ConsumeEvent]) -> BTreeMap<u64, Vec<i32>> {
    let mut out = BTreeMap::new();
    for a in assignments(events) {
        out.entry(a.worker as u64).or_insert(a.partitions);
    }
    out
}

/// The pids of `partitions_assigned` events.
pub fn worker_pids(events: &[ConsumeEvent]) -> Vec<i32> {
    assignments(events).into_iter().map(|a| a.pid).collect()
}

/// Asserts that per partition the offsets of `recs` come in order, without
/// gaps or rewinds, from `from[p]` (0 when absent) up to `to[p]`, and
/// returns the number consumed per partition.
pub fn assert_contiguous(
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
pub fn assert_distinct_events(recs: &[Rec], what: &str) {
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
