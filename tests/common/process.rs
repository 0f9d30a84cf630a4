//! Processes as `/proc` shows them: the `braid` command every test runs,
//! `/proc/PID/stat` parsing, the processes descending from a child the test
//! started (watched in the background, since a child may start and end
//! others between two looks), process groups, and the checks that none of
//! them is left once the test is done — leftovers are a failure, reported
//! with their command lines, then killed.
//!
//! Nothing here forks: it only reads `/proc` and sends signals.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::wait_until;

/// `braid` (the binary under test) with `RUST_LOG=warn`.
pub fn braid() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn");
    cmd
}

/// A process as `/proc/PID/stat` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its command name (`comm`, at most 15 bytes).
    pub comm: String,
    /// Its state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// Start time in clock ticks since boot: with the pid, identifies the
    /// process even if the pid is reused later.
    pub start: u64,
}

impl ProcInfo {
    /// Whether it has stopped running (a zombie or dead).
    pub fn exited(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    Some(ProcInfo {
        comm: text[open + 1..close].to_string(),
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        pgrp: rest.get(2)?.parse().ok()?,
        start: rest.get(19)?.parse().ok()?,
    })
}

/// Every process on the machine, by pid.
pub fn all_processes() -> BTreeMap<i32, ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, proc_info(pid)?)))
        .collect()
}

/// The command line of a process, its arguments joined by spaces (empty when
/// it is gone or a zombie).
pub fn cmdline(pid: i32) -> String {
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

/// Whether the process `pid` that started at `start` still runs (a zombie
/// has stopped running and counts as gone).
pub fn alive(pid: i32, start: u64) -> bool {
    proc_info(pid).is_some_and(|i| i.start == start && !i.exited())
}

/// The processes whose parent chain leads to `root` (not `root` itself), of
/// any command.
pub fn descendants(root: i32) -> Vec<(i32, ProcInfo)> {
    let procs = all_processes();
    procs
        .iter()
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

/// The running processes (zombies excluded) whose command line contains
/// `marker`, other than this test process: `(pid, command line)`.
pub fn running_with_marker(marker: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    all_processes()
        .into_iter()
        .filter(|(pid, info)| *pid != me && !info.exited())
        .filter_map(|(pid, _)| {
            let line = cmdline(pid);
            line.contains(marker).then_some((pid, line))
        })
        .collect()
}

/// Waits up to `deadline` for every process whose command line contains
/// `marker` to be gone; otherwise SIGKILLs what is left and panics, naming
/// each leftover and `what` should have stopped it.
pub fn assert_none_left_with(marker: &str, deadline: Duration, what: &str) {
    let mut left = Vec::new();
    if wait_until(deadline, || {
        left = running_with_marker(marker);
        left.is_empty()
    }) {
        return;
    }
    for (pid, _) in &left {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    panic!(
        "{what}: processes with {marker:?} in their command line still running {deadline:?} later \
         (killed now):\n  {}",
        left.iter()
            .map(|(pid, line)| format!("{pid}: {line}"))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The members of process group `pgid` that still run (zombies excluded).
pub fn group_members(pgid: i32) -> Vec<(i32, ProcInfo)> {
    all_processes()
        .into_iter()
        .filter(|(_, info)| info.pgrp == pgid && !info.exited())
        .collect()
}

/// A process seen descending from a tracked root.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// Its start time (see [`ProcInfo::start`]).
    pub start: u64,
    /// Its command line when last seen running.
    pub cmdline: String,
    /// Its parent when first seen.
    pub ppid: i32,
}

/// Watches, every 40 ms on a thread, the processes descending from one root
/// process (a child the test started), and remembers each one it saw, so a
/// test can check afterwards that all of them are gone — also those whose
/// parent exited first and left them to init.
///
/// Dropping it stops the watch and SIGKILLs every remembered process that
/// still runs.
pub struct Tracker {
    root: i32,
    tracked: Arc<Mutex<BTreeMap<i32, Tracked>>>,
    stop: Arc<AtomicBool>,
    scanner: Option<JoinHandle<()>>,
}

impl Tracker {
    /// Starts watching the descendants of `root`.
    pub fn new(root: i32) -> Tracker {
        let tracked = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let scanner = {
            let tracked = Arc::clone(&tracked);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    scan(root, &tracked);
                    thread::sleep(Duration::from_millis(40));
                }
            })
        };
        Tracker {
            root,
            tracked,
            stop,
            scanner: Some(scanner),
        }
    }

    /// Looks once more now (for example right before the root is signalled).
    pub fn scan_now(&self) {
        scan(self.root, &self.tracked);
    }

    /// Every process seen so far, by pid.
    pub fn seen(&self) -> BTreeMap<i32, Tracked> {
        self.tracked.lock().unwrap().clone()
    }

    /// The processes seen so far that still run: `(pid, command line)`.
    pub fn still_running(&self) -> Vec<(i32, String)> {
        self.seen()
            .into_iter()
            .filter(|(pid, t)| alive(*pid, t.start))
            .map(|(pid, t)| (pid, t.cmdline))
            .collect()
    }

    /// Waits up to `deadline` for every process seen to be gone; otherwise
    /// SIGKILLs them and panics, naming each and `context` (for example the
    /// output of the command that should have stopped them).
    pub fn assert_all_gone(&self, deadline: Duration, context: &str) {
        let mut left = Vec::new();
        if wait_until(deadline, || {
            left = self.still_running();
            left.is_empty()
        }) {
            return;
        }
        self.kill_all();
        panic!(
            "processes started under pid {} still running {deadline:?} after it exited \
             (killed now):\n  {}\n{context}",
            self.root,
            left.iter()
                .map(|(pid, line)| format!("{pid}: {line}"))
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }

    /// SIGKILLs every remembered process that still runs.
    pub fn kill_all(&self) {
        for (pid, t) in self.seen() {
            if alive(pid, t.start) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.scanner.take() {
            let _ = h.join();
        }
        self.kill_all();
    }
}

/// Records the processes descending from `root`, with their current command
/// line (a child seen between its fork and its exec still shows its
/// parent's; the next look corrects it).
fn scan(root: i32, tracked: &Mutex<BTreeMap<i32, Tracked>>) {
    for (pid, info) in descendants(root) {
        if info.exited() {
            continue;
        }
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
                        ppid: info.ppid,
                    },
                );
            }
        }
    }
}
