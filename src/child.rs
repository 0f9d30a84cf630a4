//! braid's own children, for `braid demo` and `braid bench`: its own
//! executable run as `braid broker`, `braid consume` and `braid produce`,
//! each in its own process group (so a terminal's Ctrl+C reaches only the
//! parent, which forwards it exactly once per press), each with PDEATHSIG set
//! (so none outlives a killed parent), their stdout read line by line on a
//! thread into one channel. [`start_broker`] starts the embedded broker and
//! waits for its `listening on` line.

use anyhow::{anyhow, bail, Context, Result};
use crossbeam::channel::{Receiver, Sender};
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
    /// One line the child wrote on stderr (its log): the parent prints it,
    /// above its live view rather than through it.
    Stderr(usize, String),
}

/// One running child.
pub struct Proc {
    /// Its label in the parent's output (`broker`, `consume`, `produce`, ...).
    pub label: String,
    child: Child,
    /// The command line, as printed for the user.
    pub command_line: String,
    exited: Option<ExitStatus>,
}

/// braid's own executable.
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
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only calls
    // prctl(2) (`shutdown::die_with_parent`), which is async-signal-safe; it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(crate::shutdown::die_with_parent);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {command_line}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout from {label}"))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow!("no stderr from {label}"))?;
    let err_tx = tx.clone();
    std::thread::Builder::new()
        .name(format!("stderr-{label}"))
        .spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(l) => {
                        if err_tx.send(Line::Stderr(id, l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
        })?;
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

/// How long the embedded broker may take to print `listening on`.
const BROKER_START: Duration = Duration::from_secs(30);

/// Starts the embedded broker, `braid broker --listen 127.0.0.1:0 EXTRA...`,
/// as child `id`, and waits for its `listening on ADDR` line on `rx`. Calls
/// `announce` with it once started (to print its command line); returns it
/// and ADDR. On failure (it exits, does not listen within 30 s, or `stop`
/// is requested) it is stopped before the error returns.
pub fn start_broker(
    extra: &[&str],
    id: usize,
    channel: (&Sender<Line>, &Receiver<Line>),
    stop: &crate::shutdown::Stop,
    announce: impl FnOnce(&Proc),
) -> Result<(Proc, String)> {
    let mut args = vec!["broker", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    start_listening(
        "broker",
        "the embedded broker",
        &args,
        id,
        channel,
        stop,
        announce,
    )
}

/// Starts `braid registry --listen 127.0.0.1:0 -b BROKERS` as child `id`
/// and waits for its `listening on ADDR` line, as [`start_broker`] does.
pub fn start_registry(
    brokers: &str,
    id: usize,
    channel: (&Sender<Line>, &Receiver<Line>),
    stop: &crate::shutdown::Stop,
    announce: impl FnOnce(&Proc),
) -> Result<(Proc, String)> {
    let mut args: Vec<String> = ["registry", "--listen", "127.0.0.1:0", "-b", brokers]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend(protocol_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start_listening(
        "registry",
        "the schema registry",
        &args,
        id,
        channel,
        stop,
        announce,
    )
}

/// Starts the server child `braid ARGS...` labelled `label` and waits for
/// its `listening on ADDR` line; a child that fails to get there is stopped
/// before the error returns.
fn start_listening(
    label: &str,
    what: &str,
    args: &[&str],
    id: usize,
    (tx, rx): (&Sender<Line>, &Receiver<Line>),
    stop: &crate::shutdown::Stop,
    announce: impl FnOnce(&Proc),
) -> Result<(Proc, String)> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut server = start(label, &args, id, tx.clone())?;
    announce(&server);
    match wait_listening(id, rx, stop, what) {
        Ok(addr) => Ok((server, addr)),
        Err(e) => {
            server.signal(Signal::SIGTERM);
            server.wait_or_kill(Duration::from_secs(10));
            Err(e)
        }
    }
}

/// Reads child `id`'s lines until `listening on ADDR`; returns ADDR.
fn wait_listening(
    id: usize,
    rx: &Receiver<Line>,
    stop: &crate::shutdown::Stop,
    what: &str,
) -> Result<String> {
    let deadline = Instant::now() + BROKER_START;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Line::Text(i, l)) if i == id => {
                if let Some(addr) = l.strip_prefix("listening on ") {
                    return Ok(addr.trim().to_string());
                }
            }
            Ok(Line::Closed(i)) if i == id => {
                bail!("{what} exited before listening")
            }
            Ok(Line::Stderr(_, l)) => crate::report::line_err(&l),
            _ => {}
        }
        if stop.requested() {
            bail!("interrupted while starting {what}");
        }
    }
    bail!("{what} did not start within 30 s")
}

/// The `--protocol` this process's children get (auto when never set).
static PROTOCOL: std::sync::OnceLock<crate::client::protocol::Protocol> =
    std::sync::OnceLock::new();

/// Passes `--protocol` on to every producer, consumer and registry child
/// started from now on (the first call wins).
pub fn pass_protocol(p: crate::client::protocol::Protocol) {
    let _ = PROTOCOL.set(p);
}

/// `--protocol NAME` for a child, unless it is auto.
fn protocol_args() -> Vec<String> {
    match PROTOCOL.get().copied().unwrap_or_default() {
        crate::client::protocol::Protocol::Auto => Vec::new(),
        p => vec!["--protocol".into(), p.name().into()],
    }
}

/// `braid produce` as the demo and bench run it: JSON events, round-robin
/// keys (so every partition, and every worker, gets its share), plus `extra`.
pub fn produce_args(
    brokers: &str,
    topic: &str,
    threads: u32,
    messages: u64,
    value_range: crate::produce::ValueRange,
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
    v.extend(protocol_args());
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
    v.extend(protocol_args());
    v.extend_from_slice(extra);
    v
}
