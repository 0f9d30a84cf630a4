//! Consumer groups of clients nobody here wrote, on the embedded broker's
//! coordinator: two kafka-python `KafkaConsumer(group_id=G)` members
//! (`tests/python/group_member.py`), and two `kcat -G G` balanced consumers.
//! They split a 6-partition topic with no overlap and together consume
//! every message exactly once; when one closes (SIGTERM: commit, LeaveGroup),
//! the other takes all 6 partitions at once and resumes at the commits.
//! Skipped (with a `SKIPPED:` line) where the peer is not installed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::consume::{collect_lines, high_watermarks, produce};
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const PARTITIONS: i32 = 6;
const FIRST: usize = 600;
const SECOND: usize = 300;
/// How long a rebalance, or consuming a batch, may take.
const DEADLINE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Python,
    Kcat,
}

/// One group member (a child process), its output collected in the
/// background; killed and reaped on drop.
struct Member {
    name: &'static str,
    peer: Peer,
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Member {
    fn start(peer: Peer, name: &'static str, addr: &str, topic: &str, group: &str) -> Member {
        let mut cmd = match peer {
            Peer::Python => {
                let mut c = Command::new("python3");
                c.arg(tests_dir().join("python").join("group_member.py"))
                    .args([addr, topic, group]);
                c
            }
            Peer::Kcat => {
                let mut c = Command::new("kcat");
                c.args(["-b", addr, "-G", group, "-u", "-f", "record %p %o\\n"])
                    .args(["-X", "auto.offset.reset=earliest"])
                    .args(["-X", "heartbeat.interval.ms=500"])
                    .args(["-X", &format!("client.id=kcat-{name}")])
                    .arg(topic);
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {peer:?} member {name}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let eof = || Arc::new(AtomicBool::new(false));
        collect_lines(child.stdout.take().unwrap(), Arc::clone(&stdout), eof());
        collect_lines(child.stderr.take().unwrap(), Arc::clone(&stderr), eof());
        Member {
            name,
            peer,
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// Its latest assignment, once it has one.
    fn assignment(&self) -> Option<BTreeSet<i32>> {
        let lines = match self.peer {
            Peer::Python => self.stdout.lock().unwrap().clone(),
            Peer::Kcat => self.stderr.lock().unwrap().clone(),
        };
        lines.iter().rev().find_map(|l| parse_assignment(l))
    }

    /// Every record it consumed: (partition, offset).
    fn records(&self) -> Vec<(i32, i64)> {
        let lines = self.stdout.lock().unwrap();
        lines
            .iter()
            .filter_map(|l| {
                let mut w = l.strip_prefix("record ")?.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
            })
            .collect()
    }

    /// SIGTERM (a clean close: commit and LeaveGroup), then waits for the exit.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        let exited = wait_until(Duration::from_secs(30), || {
            child.try_wait().expect("try_wait").is_some()
        });
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "member {} did not exit after SIGTERM\n{}",
                self.name,
                self.diagnostics()
            );
        }
    }

    fn diagnostics(&self) -> String {
        let out = self.stdout.lock().unwrap();
        let tail = out.len().saturating_sub(20);
        format!(
            "--- {} ({:?}) stdout (last 20 of {} lines) ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.peer,
            out.len(),
            out[tail..].join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `assigned 0,3` (the python member) or kcat's
/// `% Group G rebalanced (memberid M): assigned: t [0], t [3]` / `...: revoked: ...`.
fn parse_assignment(line: &str) -> Option<BTreeSet<i32>> {
    if let Some(list) = line.strip_prefix("assigned ") {
        return Some(list.split(',').filter_map(|p| p.parse().ok()).collect());
    }
    if line.contains("rebalanced") && line.contains("revoked:") {
        return Some(BTreeSet::new());
    }
    let list = line.split_once("rebalanced")?.1.split_once("assigned:")?.1;
    Some(
        list.split(',')
            .filter_map(|p| p.split_once('[')?.1.split_once(']')?.0.trim().parse().ok())
            .collect(),
    )
}

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

fn wait_or_fail(what: &str, members: &[&Member], cond: impl FnMut() -> bool) {
    if !wait_until(DEADLINE, cond) {
        let diag: Vec<String> = members.iter().map(|m| m.diagnostics()).collect();
        panic!("{what} within {DEADLINE:?}\n{}", diag.join("\n"));
    }
}

/// Every record exactly once: no (partition, offset) twice, and each
/// partition's offsets are exactly 0..high watermark.
fn assert_exactly_once(records: &[(i32, i64)], hw: &BTreeMap<i32, i64>, what: &str) {
    let distinct: BTreeSet<(i32, i64)> = records.iter().copied().collect();
    assert_eq!(distinct.len(), records.len(), "{what}: duplicates");
    let want: BTreeSet<(i32, i64)> = hw
        .iter()
        .flat_map(|(p, end)| (0..*end).map(move |o| (*p, o)))
        .collect();
    assert_eq!(distinct, want, "{what}: consumed differs from produced");
}

fn two_members_split_and_hand_over(test: &str, peer: Peer) {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let topic = unique(test);
    let group = unique("group");
    wait_for_topic(&mut kafka_client(&addr), &topic, PARTITIONS as usize);

    let a = Member::start(peer, "a", &addr, &topic, &group);
    wait_or_fail("a alone never got all 6 partitions", &[&a], || {
        a.assignment() == Some(all_partitions())
    });
    let mut b = Member::start(peer, "b", &addr, &topic, &group);
    let split = || match (a.assignment(), b.assignment()) {
        (Some(x), Some(y)) => {
            !x.is_empty() && !y.is_empty() && x.is_disjoint(&y) && x.len() + y.len() == 6
        }
        _ => false,
    };
    wait_or_fail("a and b never split the partitions", &[&a, &b], split);
    let (pa, pb) = (a.assignment().unwrap(), b.assignment().unwrap());

    produce(&addr, &topic, &["-n", &FIRST.to_string(), "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    assert_eq!(hw.values().sum::<i64>(), FIRST as i64);
    wait_or_fail("a and b never consumed everything", &[&a, &b], || {
        a.records().len() + b.records().len() >= FIRST
    });
    for (m, mine) in [(&a, &pa), (&b, &pb)] {
        let strays: Vec<_> = m
            .records()
            .into_iter()
            .filter(|(p, _)| !mine.contains(p))
            .collect();
        assert!(
            strays.is_empty(),
            "{} read outside {mine:?}: {strays:?}",
            m.name
        );
    }
    let mut all = a.records();
    all.extend(b.records());
    assert_exactly_once(&all, &hw, "two members");

    // a closes: b takes everything at once, and resumes at a's commits.
    let mut a = a;
    a.stop();
    wait_or_fail("b never took all 6 partitions", &[&a, &b], || {
        b.assignment() == Some(all_partitions())
    });
    produce(&addr, &topic, &["-n", &SECOND.to_string(), "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    assert_eq!(hw.values().sum::<i64>(), (FIRST + SECOND) as i64);
    wait_or_fail("b never consumed the second batch", &[&a, &b], || {
        a.records().len() + b.records().len() >= FIRST + SECOND
    });
    // A redelivery would come now, if at all.
    std::thread::sleep(Duration::from_secs(1));
    let mut all = a.records();
    all.extend(b.records());
    assert_exactly_once(&all, &hw, "after the handover");
    b.stop();
}

#[test]
fn kafka_python_group_members_split_and_hand_over() {
    let test = "kafka_python_group_members_split_and_hand_over";
    if python_kafka_available(test) {
        two_members_split_and_hand_over(test, Peer::Python);
    }
}

#[test]
fn kcat_group_members_split_and_hand_over() {
    let test = "kcat_group_members_split_and_hand_over";
    if kcat_available(test) {
        two_members_split_and_hand_over(test, Peer::Kcat);
    }
}
