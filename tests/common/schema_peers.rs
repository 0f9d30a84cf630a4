//! Helpers of the schema peer tests (`tests/schemas*.rs`): running braid,
//! and reading back what `braid consume --registry --print` read.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use braid::consume::events::{ConsumeEvent, Shutdown};

use super::{run_with_timeout, unique};

/// The longest any one command of these tests may take.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// One event as braid's consumer read it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Read {
    /// The sender.
    pub sender: u64,
    /// Its seq.
    pub seq: u64,
    /// The value.
    pub value: u64,
    /// The writer schema id.
    pub schema_id: Option<u32>,
}

/// Runs braid with `args`; its stdout, after checking it succeeded.
pub fn braid_ok(args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args(args);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    assert!(
        out.status.success(),
        "braid {args:?}: {}\n{}",
        out.status,
        out.stderr
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `braid consume --registry` of the whole topic with `--print`: the
/// events it read, after checking that none was invalid.
pub fn braid_reads(addr: &str, registry: &str, topic: &str) -> Vec<Read> {
    let group = unique("g");
    let out = braid_ok(&[
        "consume",
        "-b",
        addr,
        "-t",
        topic,
        "--registry",
        registry,
        "-g",
        &group,
        "-o",
        "earliest",
        "--exit-at-end",
        "--print",
        "--format",
        "json",
        "--processes",
        "2",
    ]);
    let mut reads = Vec::new();
    let mut invalid = None;
    for line in out.lines() {
        match ConsumeEvent::parse(line).unwrap_or_else(|e| panic!("{e}: {line}")) {
            ConsumeEvent::RecordProcessed {
                sender,
                seq,
                value,
                schema_id,
                ..
            } => reads.push(Read {
                sender: sender as u64,
                seq,
                value,
                schema_id,
            }),
            ConsumeEvent::ShutdownComplete(s) => invalid = Some(s.invalid),
            _ => {}
        }
    }
    assert_eq!(invalid, Some(0), "invalid events, or no summary:\n{out}");
    reads
}

/// Every (sender, seq) of `reads` once, with its value.
pub fn exactly_once(reads: &[Read]) -> BTreeMap<(u64, u64), u64> {
    let mut seen = BTreeMap::new();
    for r in reads {
        let before = seen.insert((r.sender, r.seq), r.value);
        assert!(before.is_none(), "({}, {}) read twice", r.sender, r.seq);
    }
    seen
}

/// `braid consume --registry URL -o earliest --exit-at-end --format json
/// --processes 1` over `topic` with a fresh group, which must succeed;
/// returns its `shutdown_complete` summary and its stderr.
pub fn consume_to_end(addr: &str, url: &str, topic: &str) -> (Shutdown, String) {
    let group = unique("g");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.env("RUST_LOG", "warn").args([
        "consume",
        "-b",
        addr,
        "-t",
        topic,
        "--registry",
        url,
        "-g",
        &group,
        "-o",
        "earliest",
        "--exit-at-end",
        "--format",
        "json",
        "--processes",
        "1",
    ]);
    let out = run_with_timeout(&mut cmd, None, TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        out.stderr
    );
    let summary = stdout
        .lines()
        .find_map(|l| match ConsumeEvent::parse(l) {
            Ok(ConsumeEvent::ShutdownComplete(s)) => Some(*s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    (summary, out.stderr)
}
