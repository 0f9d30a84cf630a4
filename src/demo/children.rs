//! The demo's child processes: its own executable run as `braid broker`,
//! `braid consume` and `braid produce`, each in its own process group (so a
//! terminal's Ctrl+C reaches only the demo, which forwards it exactly once per
//! press), each with PDEATHSIG set (so none outlives a killed demo), their
//! stdout read line by line on a thread into one channel.

use anyhow::{anyhow, Context, Result};
use crossbeam::channel::Sender;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A line from a child's stdout, or the end of it.
pub enum Line {
    /// One line of output.
    Text(usize, String),
    /// The child closed its stdout.
    Closed(usize),
}

/// One running child.
pub struct Proc {
    /// Its label in the demo's output (`broker`, `consume`, `produce`, ...).
    pub label: String,
    child: Child,
    /// The command line, as printed for the user.
    pub command_line: String,
    exited: Option<ExitStatus>,
}

/// The demo's own executable.
pub fn exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("cannot find the braid executable")
}

/// Starts `braid ARGS...`; stdout lines go to `tx` tagged with `id`.
pub fn start(label: &str, args: &[String], id: usize, tx: Sender<Line>) -> Result<Proc> {
    let exe = exe()?;
    let command_line = format!("{} {}", exe.display(), args.join(" "));
    // After a rebuild replaced the file (a long bench), current_exe() names
    // "... (deleted)": /proc/self/exe still runs this very binary then.
    let program = if exe.exists() {
        exe.clone()
    } else {
        std::path::PathBuf::from("/proc/self/exe")
    };
    let mut cmd = Command::new(&program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only calls
    // prctl(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {command_line}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout from {label}"))?;
    std::thread::Builder::new()
        .name(format!("read-{label}"))
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Line::Text(id, l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(Line::Closed(id));
        })?;
    Ok(Proc {
        label: label.to_string(),
        child,
        command_line,
        exited: None,
    })
}

impl Proc {
    /// The child's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Sends a signal (ignored once it has exited).
    pub fn signal(&mut self, sig: Signal) {
        if self.poll_exit().is_none() {
            let _ = kill(self.pid(), sig);
        }
    }

    /// Its exit status, if it has exited (reaps it).
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st);
            }
        }
        self.exited
    }

    /// Waits up to `timeout` for it to exit; then kills it.
    pub fn wait_or_kill(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(st) = self.poll_exit() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        log::warn!("{} did not stop in {timeout:?}; killing it", self.label);
        let _ = kill(self.pid(), Signal::SIGKILL);
        self.exited = self.child.wait().ok();
        self.exited
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// `braid produce` as the demo and bench run it: JSON events, round-robin
/// keys (so every partition, and every worker, gets its share), plus `extra`.
pub fn produce_args(
    brokers: &str,
    topic: &str,
    threads: u32,
    messages: u64,
    value_range: crate::cli::ValueRange,
    extra: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "produce",
        "-b",
        brokers,
        "-t",
        topic,
        "-j",
        &threads.to_string(),
        "-n",
        &messages.to_string(),
        "--value-range",
        &format!("{}..{}", value_range.lo, value_range.hi),
        "--key",
        "none",
        "--format",
        "json",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    v.extend_from_slice(extra);
    v
}

/// `braid consume` as the demo and bench run it: JSON events, plus `extra`.
pub fn consume_args(
    brokers: &str,
    topic: &str,
    processes: u32,
    group: &str,
    offset: &str,
    extra: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "consume",
        "-b",
        brokers,
        "-t",
        topic,
        "--processes",
        &processes.to_string(),
        "-g",
        group,
        "-o",
        offset,
        "--format",
        "json",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    v.extend_from_slice(extra);
    v
}
