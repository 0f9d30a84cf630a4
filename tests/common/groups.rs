//! Support for the consumer-group tests (`tests/consume_groups.rs`): where a
//! test runs (the embedded broker or the shared 3-node Kafka 3.9 or 4.4
//! cluster, one version at a time: `kafka_cluster::shared_compose`),
//! `--subscribe` supervisors and the waits on their typed `group_joined`
//! events, the completeness checks, and peer members (a kafka-python
//! `KafkaConsumer` or a `kcat -G` balanced consumer) with their output
//! collected. Every process is killed and reaped by its guard.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use braid::consume::events::ConsumeEvent;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::consume::*;
use super::kafka_cluster::{shared_compose, SharedCluster};
use super::*;

/// Where a test runs: the embedded broker or the real cluster.
pub enum Target {
    Embedded(Broker),
    Kafka(SharedCluster),
}

impl Target {
    /// The shared 3-node cluster of Kafka `version`, or `None` (SKIPPED)
    /// without Java.
    pub fn kafka(version: &str, test: &str) -> Option<Target> {
        shared_compose(version, test).map(Target::Kafka)
    }

    pub fn embedded() -> Target {
        Target::Embedded(Broker::start(&[]))
    }

    /// The bootstrap list braid is given.
    pub fn bootstrap(&self) -> String {
        match self {
            Target::Embedded(b) => b.addr(),
            Target::Kafka(c) => c.bootstrap(),
        }
    }

    /// One broker, for the test's own kafka crate client.
    pub fn one(&self) -> String {
        match self {
            Target::Embedded(b) => b.addr(),
            Target::Kafka(c) => c.read().addr(0),
        }
    }

    /// Creates a 6-partition topic (replication 3 on the cluster).
    pub fn create_topic(&self, topic: &str) {
        let rf = match self {
            Target::Embedded(_) => "1",
            Target::Kafka(_) => "3",
        };
        let out = run_with_timeout(
            braid().args([
                "topic",
                "create",
                topic,
                "-b",
                &self.bootstrap(),
                "--partitions",
                "6",
                "--replication",
                rf,
            ]),
            None,
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "topic create: {}", out.stderr);
    }
}

/// Starts a `--subscribe` supervisor (2 workers, echo, json).
pub fn member(t: &Target, topic: &str, group: &str, session_ms: &str) -> Consume {
    Consume::spawn(
        &t.bootstrap(),
        topic,
        &[
            "-g",
            group,
            "--subscribe",
            "--processes",
            "2",
            "--processor",
            "echo",
            "--session-timeout",
            session_ms,
            "--heartbeat-interval",
            "500",
            "--commit-interval",
            "300",
            "--format",
            "json",
        ],
    )
}

/// One `group_joined` event: generation, partitions, timestamp (ms).
pub type Joined = (i32, Vec<i32>, u64);

/// Every `group_joined` among `events`, read with the consumer's own type.
pub fn joins(events: &[ConsumeEvent]) -> Vec<Joined> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumeEvent::GroupJoined {
                generation,
                partitions,
                timestamp,
                ..
            } => Some((*generation, partitions.clone(), *timestamp)),
            _ => None,
        })
        .collect()
}

/// The member's latest `group_joined`.
pub fn latest_join(c: &mut Consume) -> Option<Joined> {
    joins(&c.events()).pop()
}

/// Waits until the members' latest assignments split 0..6 between them;
/// returns the generation.
pub fn wait_split(a: &mut Consume, b: &mut Consume, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let (Some((ga, pa, _)), Some((gb, pb, _))) = (latest_join(a), latest_join(b)) {
            if ga == gb && splits_six(&pa, &pb) {
                return ga;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{what}: the two members never split the 6 partitions\n{}\n{}",
            a.diagnostics(),
            b.diagnostics()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether two non-empty, disjoint assignments cover partitions 0..6.
pub fn splits_six(a: &[i32], b: &[i32]) -> bool {
    let all: BTreeSet<i32> = a.iter().chain(b).copied().collect();
    !a.is_empty() && !b.is_empty() && a.len() + b.len() == 6 && all == (0..6).collect()
}

/// Waits until `c` joins a generation newer than `after` holding all 6
/// partitions; returns the join's timestamp (ms).
pub fn wait_all_six(c: &mut Consume, after: i32, what: &str) -> u64 {
    let mut ts = 0;
    c.wait_events(Duration::from_secs(90), what, |evs| {
        joins(evs)
            .into_iter()
            .filter(|(g, _, _)| *g > after)
            .any(|(_, parts, at)| {
                ts = at;
                parts.len() == 6
            })
    });
    ts
}

/// Waits until the group's commits reach the end of every partition.
pub fn wait_committed_to_end(
    t: &Target,
    group: &str,
    topic: &str,
    what: &str,
) -> BTreeMap<i32, i64> {
    // The high watermark is read each time: with replication it trails an
    // acks=1 producer's acknowledgement a little.
    let mut hw = BTreeMap::new();
    let mut got = BTreeMap::new();
    let ok = wait_until(Duration::from_secs(90), || {
        hw = high_watermarks(&t.one(), topic);
        got = group_offsets(&t.one(), group, topic);
        got == hw
    });
    assert!(
        ok,
        "{what}: commits {got:?} never reached the end of the log {hw:?}"
    );
    hw
}

/// Every (partition, offset) in 0..end read at least once; returns the duplicates.
pub fn assert_all_read(read: &[(i32, i64)], end: &BTreeMap<i32, i64>, what: &str) -> usize {
    let distinct: BTreeSet<(i32, i64)> = read.iter().copied().collect();
    for (p, e) in end {
        for o in 0..*e {
            assert!(
                distinct.contains(&(*p, o)),
                "{what}: p{p}@{o} was never consumed"
            );
        }
    }
    read.len() - distinct.len()
}

/// The (partition, offset) of every record the member processed.
pub fn offsets_of(c: &mut Consume) -> Vec<(i32, i64)> {
    records(&c.events())
        .iter()
        .map(|r| (r.partition, r.offset))
        .collect()
}

/// Milliseconds since the Unix epoch (comparable with the events' timestamps).
pub fn now_ms() -> u64 {
    braid::report::now_ms()
}

/// Which peer client a [`PeerMember`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// kafka-python's `KafkaConsumer` (`tests/python/group_member.py`).
    Python,
    /// librdkafka's balanced consumer, `kcat -G`.
    Kcat,
}

/// A peer group member: lines `record P O` on stdout; its assignment from
/// `assigned P,...` (python, stdout) or kcat's rebalance lines (stderr).
/// SIGTERM closes it (commit and LeaveGroup); the guard kills it.
pub struct PeerMember {
    /// Its name in failure messages (and kcat's client id).
    pub name: &'static str,
    peer: Peer,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl PeerMember {
    /// Starts `peer` as member `name` of `group` on `topic`, from the earliest offset.
    pub fn start(
        peer: Peer,
        name: &'static str,
        bootstrap: &str,
        topic: &str,
        group: &str,
    ) -> PeerMember {
        let mut cmd = match peer {
            Peer::Python => {
                let mut c = Command::new("python3");
                c.arg(tests_dir().join("python/group_member.py"))
                    .args([bootstrap, topic, group]);
                c
            }
            Peer::Kcat => {
                let mut c = Command::new("kcat");
                c.args(["-b", bootstrap, "-G", group, "-u", "-f", "record %p %o\\n"])
                    .args(["-X", "auto.offset.reset=earliest"])
                    .args(["-X", "heartbeat.interval.ms=500"])
                    .args(["-X", "auto.commit.interval.ms=300"])
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
        PeerMember {
            name,
            peer,
            child,
            stdout,
            stderr,
        }
    }

    /// Its latest assignment, once it has one.
    pub fn assigned(&self) -> Option<Vec<i32>> {
        let lines = match self.peer {
            Peer::Python => self.stdout.lock().unwrap().clone(),
            Peer::Kcat => self.stderr.lock().unwrap().clone(),
        };
        lines.iter().rev().find_map(|l| parse_assignment(l))
    }

    /// Every record it consumed: (partition, offset).
    pub fn offsets(&self) -> Vec<(i32, i64)> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let mut f = l.strip_prefix("record ")?.split_whitespace();
                Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
            })
            .collect()
    }

    /// The tail of its stdout and its stderr, for failure messages.
    pub fn diagnostics(&self) -> String {
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

    /// SIGTERM: the member commits, leaves the group and exits.
    pub fn close(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGTERM).expect("SIGTERM the peer member");
        let ok = wait_until(Duration::from_secs(60), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        assert!(
            ok,
            "the {:?} member {} did not close within 60 s\n{}",
            self.peer,
            self.name,
            self.diagnostics()
        );
        if self.peer == Peer::Python {
            assert!(
                self.stdout.lock().unwrap().iter().any(|l| l == "closed"),
                "the kafka-python member did not report a clean close"
            );
        }
    }
}

impl Drop for PeerMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `assigned 0,3` (the python member) or kcat's
/// `% Group G rebalanced (memberid M): assigned: t [0], t [3]` / `...: revoked: ...`.
fn parse_assignment(line: &str) -> Option<Vec<i32>> {
    if let Some(list) = line.strip_prefix("assigned") {
        return Some(
            list.trim()
                .split(',')
                .filter_map(|p| p.parse().ok())
                .collect(),
        );
    }
    if line.contains("rebalanced") && line.contains("revoked:") {
        return Some(Vec::new());
    }
    let list = line.split_once("rebalanced")?.1.split_once("assigned:")?.1;
    Some(
        list.split(',')
            .filter_map(|p| p.split_once('[')?.1.split_once(']')?.0.trim().parse().ok())
            .collect(),
    )
}
