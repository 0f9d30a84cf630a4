//! Support for the `braid demo` tests: the demo in its own process group
//! with its output collected (`Demo`), a `Tracker` of every process it
//! starts (all SIGKILLed on drop, also when a test fails), and readers of
//! its verdict table.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{Tracked, Tracker};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The longest any one demo run may take here (they take seconds).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// How long the demo's processes may take to disappear after it exited.
pub const GONE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a finished demo run left: its exit status and output.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Both streams, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?} after {:.1?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A running `braid demo` and everything it started.
pub struct Demo {
    args: Vec<String>,
    child: Option<Child>,
    started: Instant,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    stdout_eof: Arc<AtomicBool>,
    stderr_eof: Arc<AtomicBool>,
    /// The processes seen descending from the demo.
    tracker: Tracker,
}

/// Reads a child's stream into `buf` line by line; sets `eof` at its end.
pub fn collect(
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
    pub fn start(args: &[&str]) -> Demo {
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
        Demo {
            args: args.iter().map(|s| s.to_string()).collect(),
            child: Some(child),
            started,
            stdout,
            stderr,
            stdout_eof,
            stderr_eof,
            tracker: Tracker::new(pid),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `cond(stdout, stderr)` holds; panics at the deadline or if
    /// the demo exits first.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, cond: impl Fn(&str, &str) -> bool) {
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
    pub fn signal_group(&self, sig: Signal) {
        killpg(Pid::from_raw(self.pid()), sig).expect("signal the demo's process group");
    }

    /// Waits for the demo to exit (panics after `RUN_TIMEOUT`), then for its
    /// output streams to close.
    pub fn wait(&mut self) -> Outcome {
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

    /// Every process seen descending from the demo.
    pub fn tracked(&self) -> BTreeMap<i32, Tracked> {
        self.tracker.seen()
    }

    /// Asserts that none of the demo's processes is left (waiting a little,
    /// since the last of them may still be exiting).
    pub fn assert_nothing_left(&self, out: &Outcome) {
        self.tracker.assert_all_gone(GONE_TIMEOUT, &out.dump());
    }

    /// The running processes descending from the demo whose command line
    /// contains `word` (` produce `, ` consume `, ...).
    pub fn running(&self, word: &str) -> Vec<(i32, String)> {
        self.tracker
            .still_running()
            .into_iter()
            .filter(|(_, line)| line.contains(word))
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // One last look, while the demo may still be the parent of its children.
        if let Some(child) = self.child.as_mut() {
            let running = matches!(child.try_wait(), Ok(None));
            if running {
                self.tracker.scan_now();
                // Not yet reaped, so the group id cannot have been reused.
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // The children run in process groups of their own.
        self.tracker.kill_all();
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
pub fn run_demo(args: &[&str]) -> Outcome {
    let mut demo = Demo::start(args);
    let out = demo.wait();
    demo.assert_nothing_left(&out);
    out
}

/// The rest of the verdict row called `name` (`missing`, `duplicated`, ...),
/// with the padding trimmed.
pub fn row<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(name)).then(|| l.trim_start()[name.len()..].trim())
    })
}

/// A number as the demo prints it (`20,000`).
pub fn number(s: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("not a number: {s:?}: {e}"))
}

/// The first number of the verdict row `name`.
pub fn row_count(out: &Outcome, name: &str) -> u64 {
    let rest = row(&out.stdout, name)
        .unwrap_or_else(|| panic!("no `{name}` row in the verdict\n{}", out.dump()));
    number(rest.split_whitespace().next().unwrap_or(""))
}

/// The number just before `word` in `text` (`... 1 respawns)` → 1).
pub fn number_before(text: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words.iter().position(|w| w.starts_with(word))?;
    let n = words.get(i.checked_sub(1)?)?.trim_start_matches('(');
    n.replace(',', "").parse().ok()
}

/// The number just after `word` in `text` (`consumed 9,000,` → 9000).
pub fn number_after(text: &str, word: &str) -> Option<u64> {
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
pub fn assert_verified(out: &Outcome) {
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
