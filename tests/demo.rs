//! `braid demo`, end to end, through the built binary (issue 5, "Tests"):
//!
//! - the parallel scenario finishes with a verdict of nothing missing and
//!   nothing duplicated;
//! - SIGINT to the demo's process group mid-run exits 130, prints the partial
//!   summary and leaves no process behind; a second run on the same `--data`
//!   resumes from the committed offsets and finds nothing missing;
//! - `--kill-worker-after`: a worker is SIGKILLed, the supervisor respawns it,
//!   and still nothing is missing;
//! - the `offsets` and `processors` scenarios print their labelled lines; the
//!   oldest consumer sees the first burst, the newest only what came after;
//! - the README's two commands are the ones these tests and `.ci/run` use.
//!
//! The harness never forks: the demo is started with `std::process::Command`
//! in its own process group (so a test can signal it as a terminal would),
//! and a thread watches `/proc` for the `braid` processes descending from it.
//! The guard's `Drop` SIGKILLs the demo's group and every such process still
//! alive, also when a test fails. Every wait has a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// The longest any one demo run may take here (they take seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// How long the demo's processes may take to disappear after it exited.
const GONE_TIMEOUT: Duration = Duration::from_secs(10);

/// A process as `/proc/PID/stat` describes it.
#[derive(Clone, Debug)]
struct ProcInfo {
    ppid: i32,
    state: char,
    /// Start time in clock ticks since boot: with the pid, identifies the
    /// process even if the pid is reused later.
    start: u64,
    comm: String,
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
fn proc_info(pid: i32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID ...": COMM may contain spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    Some(ProcInfo {
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        start: rest.get(19)?.parse().ok()?,
        comm,
    })
}

/// Every process on the machine, by pid.
fn all_processes() -> BTreeMap<i32, ProcInfo> {
    let mut procs = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return procs;
    };
    for entry in dir.flatten() {
        if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            if let Some(info) = proc_info(pid) {
                procs.insert(pid, info);
            }
        }
    }
    procs
}

/// The `braid` processes whose parent chain leads to `root` (not `root` itself).
fn braid_descendants(root: i32) -> Vec<(i32, ProcInfo)> {
    let procs = all_processes();
    procs
        .iter()
        .filter(|(_, info)| info.comm == "braid")
        .filter(|(&pid, _)| {
            let mut cur = pid;
            // Bounded walk: a chain is short, and this guards against a loop
            // seen through an inconsistent snapshot.
            for _ in 0..64 {
                let Some(info) = procs.get(&cur) else {
                    return false;
                };
                if info.ppid == root {
                    return true;
                }
                if info.ppid <= 1 {
                    return false;
                }
                cur = info.ppid;
            }
            false
        })
        .map(|(&pid, info)| (pid, info.clone()))
        .collect()
}

/// Whether the process `pid` that started at `start` still runs (a zombie
/// has stopped running and counts as gone).
fn alive(pid: i32, start: u64) -> bool {
    proc_info(pid).is_some_and(|i| i.start == start && i.state != 'Z' && i.state != 'X')
}

/// The command line of a process, for messages.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// A process seen descending from the demo.
#[derive(Clone, Debug)]
struct Tracked {
    start: u64,
    cmdline: String,
}

/// What a finished demo run left: its exit status and output.
struct Outcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Both streams, for failure messages.
    fn dump(&self) -> String {
        format!(
            "exit {:?} after {:.1?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A running `braid demo` and everything it started.
struct Demo {
    args: Vec<String>,
    child: Option<Child>,
    started: Instant,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    stdout_eof: Arc<AtomicBool>,
    stderr_eof: Arc<AtomicBool>,
    /// pid → the braid processes seen descending from the demo.
    tracked: Arc<Mutex<BTreeMap<i32, Tracked>>>,
    stop_scan: Arc<AtomicBool>,
    scanner: Option<JoinHandle<()>>,
}

/// Reads a child's stream into `buf` line by line; sets `eof` at its end.
fn collect(
    stream: impl std::io::Read + Send + 'static,
    buf: Arc<Mutex<String>>,
    eof: Arc<AtomicBool>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => buf
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&line)),
            }
        }
        eof.store(true, Ordering::SeqCst);
    });
}

impl Demo {
    /// Starts `braid demo ARGS...` in its own process group, stdin closed,
    /// stdout and stderr piped (not a terminal).
    fn start(args: &[&str]) -> Demo {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
        cmd.arg("demo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG")
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start braid demo");
        let pid = child.id() as i32;
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout_eof = Arc::new(AtomicBool::new(false));
        let stderr_eof = Arc::new(AtomicBool::new(false));
        collect(
            child.stdout.take().unwrap(),
            stdout.clone(),
            stdout_eof.clone(),
        );
        collect(
            child.stderr.take().unwrap(),
            stderr.clone(),
            stderr_eof.clone(),
        );
        let tracked = Arc::new(Mutex::new(BTreeMap::new()));
        let stop_scan = Arc::new(AtomicBool::new(false));
        let scanner = {
            let tracked = tracked.clone();
            let stop = stop_scan.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    track_descendants(pid, &tracked);
                    thread::sleep(Duration::from_millis(40));
                }
            })
        };
        Demo {
            args: args.iter().map(|s| s.to_string()).collect(),
            child: Some(child),
            started,
            stdout,
            stderr,
            stdout_eof,
            stderr_eof,
            tracked,
            stop_scan,
            scanner: Some(scanner),
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `cond(stdout, stderr)` holds; panics at the deadline or if
    /// the demo exits first.
    fn wait_for(&mut self, what: &str, timeout: Duration, cond: impl Fn(&str, &str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.stdout(), &self.stderr()) {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if let Some(st) = exited {
                panic!(
                    "braid demo {:?} exited ({st}) before {what}\n--- stdout\n{}\n--- stderr\n{}",
                    self.args,
                    self.stdout(),
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "braid demo {:?}: no {what} within {timeout:?}\n--- stdout\n{}\n--- stderr\n{}",
                    self.args,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to the demo's process group, as a terminal's Ctrl+C does.
    fn signal_group(&self, sig: Signal) {
        killpg(Pid::from_raw(self.pid()), sig).expect("signal the demo's process group");
    }

    /// Waits for the demo to exit (panics after `RUN_TIMEOUT`), then for its
    /// output streams to close.
    fn wait(&mut self) -> Outcome {
        let deadline = self.started + RUN_TIMEOUT;
        let status = loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                panic!(
                    "braid demo {:?} still running after {RUN_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                    self.args,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        // The demo's children inherit its stderr: the stream closes when the
        // last of them is gone.
        let eof_deadline = Instant::now() + GONE_TIMEOUT;
        while !(self.stdout_eof.load(Ordering::SeqCst) && self.stderr_eof.load(Ordering::SeqCst))
            && Instant::now() < eof_deadline
        {
            thread::sleep(Duration::from_millis(20));
        }
        Outcome {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed,
        }
    }

    /// Every braid process seen descending from the demo.
    fn tracked(&self) -> BTreeMap<i32, Tracked> {
        self.tracked.lock().unwrap().clone()
    }

    /// Asserts that none of the demo's processes is left (waiting a little,
    /// since the last of them may still be exiting).
    fn assert_nothing_left(&self, out: &Outcome) {
        let deadline = Instant::now() + GONE_TIMEOUT;
        loop {
            let left: Vec<String> = self
                .tracked()
                .iter()
                .filter(|(&pid, t)| alive(pid, t.start))
                .map(|(pid, t)| format!("{pid}: {}", t.cmdline))
                .collect();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "braid processes of the demo still running {GONE_TIMEOUT:?} after it exited:\n  {}\n{}",
                    left.join("\n  "),
                    out.dump()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Records the braid processes descending from `root` in `tracked`, with
/// their current command line (a child seen between its fork and its exec
/// still shows the demo's; the next look corrects it).
fn track_descendants(root: i32, tracked: &Mutex<BTreeMap<i32, Tracked>>) {
    for (pid, info) in braid_descendants(root) {
        let line = cmdline(pid);
        let mut t = tracked.lock().unwrap();
        match t.get_mut(&pid) {
            Some(x) if x.start == info.start => {
                if !line.is_empty() {
                    x.cmdline = line;
                }
            }
            _ => {
                t.insert(
                    pid,
                    Tracked {
                        start: info.start,
                        cmdline: line,
                    },
                );
            }
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // One last look, while the demo may still be the parent of its children.
        if let Some(child) = self.child.as_mut() {
            let running = matches!(child.try_wait(), Ok(None));
            if running {
                track_descendants(child.id() as i32, &self.tracked);
                // Not yet reaped, so the group id cannot have been reused.
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stop_scan.store(true, Ordering::SeqCst);
        if let Some(h) = self.scanner.take() {
            let _ = h.join();
        }
        for (pid, t) in self.tracked.lock().unwrap().iter() {
            if alive(*pid, t.start) {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        if thread::panicking() {
            eprintln!(
                "braid demo {:?}\n--- stdout\n{}\n--- stderr\n{}",
                self.args,
                self.stdout(),
                self.stderr()
            );
        }
        // The reader threads end by themselves once the pipes close.
    }
}

/// Runs `braid demo ARGS...` to its end; checks that nothing of it is left.
fn run_demo(args: &[&str]) -> Outcome {
    let mut demo = Demo::start(args);
    let out = demo.wait();
    demo.assert_nothing_left(&out);
    out
}

/// The rest of the verdict row called `name` (`missing`, `duplicated`, ...),
/// with the padding trimmed.
fn row<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(name)).then(|| l.trim_start()[name.len()..].trim())
    })
}

/// A number as the demo prints it (`20,000`).
fn number(s: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("not a number: {s:?}: {e}"))
}

/// The first number of the verdict row `name`.
fn row_count(out: &Outcome, name: &str) -> u64 {
    let rest = row(&out.stdout, name)
        .unwrap_or_else(|| panic!("no `{name}` row in the verdict\n{}", out.dump()));
    number(rest.split_whitespace().next().unwrap_or(""))
}

/// The number just before `word` in `text` (`... 1 respawns)` → 1).
fn number_before(text: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words.iter().position(|w| w.starts_with(word))?;
    let n = words.get(i.checked_sub(1)?)?.trim_start_matches('(');
    n.replace(',', "").parse().ok()
}

/// The number just after `word` in `text` (`consumed 9,000,` → 9000).
fn number_after(text: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words.iter().position(|w| *w == word)?;
    words
        .get(i + 1)?
        .trim_end_matches([',', ';'])
        .replace(',', "")
        .parse()
        .ok()
}

/// Checks a finished parallel run: exit 0 and a verdict of nothing missing,
/// offsets contiguous, committed == end of log.
fn assert_verified(out: &Outcome) {
    assert_eq!(out.code(), Some(0), "demo not verified\n{}", out.dump());
    assert_eq!(row_count(out, "missing"), 0, "{}", out.dump());
    let committed = row(&out.stdout, "committed").unwrap_or_default();
    assert!(
        committed.starts_with("== end of log"),
        "committed != end of log\n{}",
        out.dump()
    );
    let offsets = row(&out.stdout, "offsets").unwrap_or_default();
    assert!(
        offsets.starts_with("contiguous"),
        "offsets not contiguous\n{}",
        out.dump()
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("verified: missing 0")),
        "no `verified:` line\n{}",
        out.dump()
    );
}

#[test]
fn demo_verifies_nothing_missing_or_duplicated() {
    let out = run_demo(&["--messages", "20000"]);
    assert_verified(&out);
    assert_eq!(row_count(&out, "duplicated"), 0, "{}", out.dump());
    assert_eq!(row_count(&out, "expected"), 20_000, "{}", out.dump());
    let produced = row(&out.stdout, "produced").unwrap_or_default();
    assert!(
        produced.contains("20,000 acked, 0 failed"),
        "producer did not ack everything\n{}",
        out.dump()
    );
    assert_eq!(
        row_count(&out, "consumed"),
        20_000,
        "consumed != produced\n{}",
        out.dump()
    );
    // The exact command lines, for a user to copy.
    for label in ["broker", "consume", "produce"] {
        let prefix = format!("[{label}] {} {label} ", env!("CARGO_BIN_EXE_braid"));
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&prefix)),
            "no `{prefix}...` command line\n{}",
            out.dump()
        );
    }
}

#[test]
fn sigint_stops_everything_then_a_rerun_resumes() {
    let dir = tempfile::Builder::new()
        .prefix("braid-demo-test-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let mut demo = Demo::start(&["--messages", "2000000", "--data", data]);
    // Off a terminal the live view prints `... consumed N ...` lines on
    // stderr about once a second: wait until one shows consumption.
    demo.wait_for(
        "consumption in the live lines",
        Duration::from_secs(60),
        |_, err| {
            err.lines()
                .any(|l| number_after(l, "consumed").is_some_and(|n| n > 0))
        },
    );
    let seen = demo.tracked();
    demo.signal_group(Signal::SIGINT);
    let out = demo.wait();
    assert_eq!(
        out.code(),
        Some(130),
        "SIGINT should exit 130\n{}",
        out.dump()
    );
    demo.assert_nothing_left(&out);

    // The processes checked above are the whole pipeline: broker, the
    // consume supervisor and its workers, the producer.
    let count = |cmd: &str| {
        seen.values()
            .filter(|t| t.cmdline.contains(&format!(" {cmd} ")))
            .count()
    };
    assert!(
        count("broker") == 1 && count("consume") >= 2 && count("produce") == 1,
        "expected a broker, a consume supervisor with workers and a producer among {seen:#?}"
    );

    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("interrupted after"))
        .unwrap_or_else(|| panic!("no partial summary\n{}", out.dump()));
    let acked = number_after(summary, "(acked)").expect("acked count in the summary");
    let consumed = number_after(summary, "consumed").expect("consumed count in the summary");
    let committed = number_after(summary, "sum").expect("committed sum in the summary");
    assert!(
        consumed > 0 && acked >= consumed && committed <= acked,
        "implausible partial summary: {summary}"
    );
    assert!(
        out.stdout.contains("--data"),
        "the summary should say how to resume\n{}",
        out.dump()
    );

    // Same directory: resumes from the committed offsets.
    let out = run_demo(&["--messages", "5000", "--data", data]);
    assert_verified(&out);
    assert_eq!(row_count(&out, "duplicated"), 0, "{}", out.dump());
    // What was left unconsumed plus the 5,000 new events: nothing consumed
    // before the interrupt comes again.
    let expected = row_count(&out, "expected");
    assert_eq!(
        expected,
        acked - committed + 5000,
        "expected = acked {acked} - committed {committed} + 5000\n{}",
        out.dump()
    );
}

#[test]
fn killed_worker_is_respawned_and_nothing_is_missing() {
    let out = run_demo(&["--kill-worker-after", "5000", "--messages", "60000"]);
    assert_verified(&out);
    assert!(
        out.stdout.contains("respawn"),
        "no respawn reported\n{}",
        out.dump()
    );
    let consumed = row(&out.stdout, "consumed").unwrap_or_default();
    assert!(
        number_before(consumed, "respawns").is_some_and(|n| n >= 1),
        "the verdict counts no respawn\n{}",
        out.dump()
    );
    assert!(
        out.stdout.contains("killed worker pid"),
        "the demo did not say which worker it killed\n{}",
        out.dump()
    );
    assert_eq!(row_count(&out, "expected"), 60_000, "{}", out.dump());
}

/// `[label    ] worker W pid P pN@O ...` lines: label → (partition, offset, rest).
fn labelled(stdout: &str) -> BTreeMap<String, Vec<(i32, i64, String)>> {
    let mut by_label: BTreeMap<String, Vec<(i32, i64, String)>> = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((label, rest)) = rest.split_once(']') else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.first() != Some(&"worker") || words.get(2) != Some(&"pid") {
            continue;
        }
        let Some((p, o)) = words
            .get(4)
            .and_then(|w| w.strip_prefix('p')?.split_once('@'))
        else {
            continue;
        };
        let (Ok(p), Ok(o)) = (p.parse(), o.parse()) else {
            continue;
        };
        by_label
            .entry(label.trim().to_string())
            .or_default()
            .push((p, o, words[5..].join(" ")));
    }
    by_label
}

/// The `ts_ms=` of an echoed event.
fn ts_ms(rest: &str) -> u64 {
    rest.split_whitespace()
        .find_map(|w| w.strip_prefix("ts_ms="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no ts_ms in {rest:?}"))
}

#[test]
fn offsets_scenario_oldest_newest_and_batch() {
    const BURST: usize = 20;
    let out = run_demo(&[
        "--scenario",
        "offsets",
        "--duration",
        "4",
        "--messages",
        "20",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    for label in ["[oldest", "[newest", "[batch"] {
        assert!(
            out.stdout.contains(label),
            "no `{label}` lines\n{}",
            out.dump()
        );
    }
    let lines = labelled(&out.stdout);
    let oldest = lines.get("oldest").cloned().unwrap_or_default();
    let newest = lines.get("newest").cloned().unwrap_or_default();
    assert!(
        oldest.len() > BURST && !newest.is_empty(),
        "both consumers should see the live stream\n{}",
        out.dump()
    );

    // The first burst went in before any consumer started: it is the BURST
    // events of oldest timestamp, at offsets 0.. of their partitions.
    let mut by_time = oldest.clone();
    by_time.sort_by_key(|(p, o, rest)| (ts_ms(rest), *p, *o));
    let mut history: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for (p, o, _) in &by_time[..BURST] {
        history.entry(*p).or_default().insert(*o);
    }
    for (p, offsets) in &history {
        let want: BTreeSet<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets,
            &want,
            "the oldest consumer should see partition {p}'s history from offset 0\n{}",
            out.dump()
        );
    }
    // The newest consumer starts at the end of the log: none of the history.
    for (p, o, rest) in &newest {
        let below = history.get(p).map_or(0, |h| h.len() as i64);
        assert!(
            *o >= below,
            "the newest consumer saw p{p}@{o} ({rest}), below where it started ({below})\n{}",
            out.dump()
        );
    }
    // What the newest saw, the oldest saw too (same log, same offsets).
    let oldest_set: BTreeSet<(i32, i64)> = oldest.iter().map(|(p, o, _)| (*p, *o)).collect();
    for (p, o, _) in &newest {
        assert!(
            oldest_set.contains(&(*p, *o)),
            "p{p}@{o} seen by the newest consumer but not by the oldest\n{}",
            out.dump()
        );
    }
    // The batch consumer reads from the oldest offset too.
    let batch = lines.get("batch").cloned().unwrap_or_default();
    assert!(
        batch.len() >= BURST,
        "the batch consumer should see the history\n{}",
        out.dump()
    );
}

#[test]
fn processors_scenario_prime_sqrt_square() {
    let out = run_demo(&[
        "--scenario",
        "processors",
        "--duration",
        "4",
        "--rate",
        "20",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.dump());
    let lines = labelled(&out.stdout);
    for (label, looks_right) in [
        ("prime", (|r: &str| r.contains("prime")) as fn(&str) -> bool),
        ("sqrt", |r: &str| r.starts_with("sqrt(")),
        ("square", |r: &str| r.contains("^2 = ")),
    ] {
        assert!(
            out.stdout.contains(&format!("[{label}")),
            "no `[{label}` lines\n{}",
            out.dump()
        );
        let seen = lines.get(label).cloned().unwrap_or_default();
        assert!(!seen.is_empty(), "no `{label}` results\n{}", out.dump());
        if let Some((p, o, r)) = seen.iter().find(|(_, _, r)| !looks_right(r)) {
            panic!(
                "[{label}] p{p}@{o}: unexpected result {r:?}\n{}",
                out.dump()
            );
        }
    }
    // Three groups on the same stream: each sees the same events.
    let sets: Vec<BTreeSet<(i32, i64)>> = ["prime", "sqrt", "square"]
        .iter()
        .map(|l| lines[*l].iter().map(|(p, o, _)| (*p, *o)).collect())
        .collect();
    let common = sets[0]
        .intersection(&sets[1])
        .filter(|x| sets[2].contains(x))
        .count();
    assert!(
        common > 0,
        "the three groups share no event\n{}",
        out.dump()
    );
}

#[test]
fn readme_commands_are_the_ones_tests_and_ci_use() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for cmd in ["cargo run --release -- demo", "cargo test"] {
        assert!(readme.contains(cmd), "README.md does not show `{cmd}`");
    }
    // The two commands come first: before any other section of the README.
    let first_section = readme
        .lines()
        .position(|l| l.starts_with("## "))
        .unwrap_or(usize::MAX);
    let line_of = |cmd: &str| readme.lines().position(|l| l.trim() == cmd);
    for cmd in ["cargo run --release -- demo", "cargo test"] {
        assert!(
            line_of(cmd).is_some_and(|i| i < first_section),
            "README.md should show `{cmd}` on a line of its own before its first section"
        );
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test"),
        ".ci/run does not run `cargo test`"
    );
}
