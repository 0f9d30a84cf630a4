//! `braid consume --subscribe`: supervisors as members of one Kafka consumer
//! group, on the embedded broker and on a real Kafka 3.9 cluster (the three
//! nodes of `docker-compose.yml`, started once for this file).
//!
//! - two supervisors split the partitions; a SIGKILLed one's partitions go to
//!   the other after the session timeout, with nothing missing and nothing
//!   left running;
//! - Ctrl+C of one hands its partitions over at once (LeaveGroup), with no
//!   duplicates;
//! - a braid supervisor and a kafka-python member share a group: no overlap,
//!   every event once, and braid takes over when the python member leaves.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::consume::*;
use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_3};
use common::*;
use nix::sys::signal::Signal;

/// Where a test runs: the embedded broker or the real cluster.
enum Target {
    Embedded(Broker),
    Kafka(&'static KafkaCluster),
}

impl Target {
    /// The shared 3-node Kafka 3.9 cluster, or `None` (SKIPPED) without Java.
    fn kafka(test: &str) -> Option<Target> {
        static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
        if !kafka_available(test, KAFKA_3) {
            return None;
        }
        Some(Target::Kafka(CLUSTER.get_or_init(KafkaCluster::compose)))
    }

    fn embedded() -> Target {
        Target::Embedded(Broker::start(&[]))
    }

    /// The bootstrap list braid is given.
    fn bootstrap(&self) -> String {
        match self {
            Target::Embedded(b) => b.addr(),
            Target::Kafka(c) => c.bootstrap(),
        }
    }

    /// One broker, for the test's own kafka crate client.
    fn one(&self) -> String {
        match self {
            Target::Embedded(b) => b.addr(),
            Target::Kafka(c) => c.addr(0),
        }
    }

    /// Creates a 6-partition topic (replication 3 on the cluster).
    fn create_topic(&self, topic: &str) {
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
fn member(t: &Target, topic: &str, group: &str, session_ms: &str) -> Consume {
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
type Joined = (i32, Vec<i32>, u64);

/// Every `group_joined` among `events`.
fn joins(events: &[ConsumeEvent]) -> Vec<Joined> {
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

/// The partitions of the member's latest `group_joined`, with its generation.
fn latest_join(c: &mut Consume) -> Option<Joined> {
    joins(&c.events()).pop()
}

/// Waits until the members' latest assignments split 0..6 between them.
fn wait_split(a: &mut Consume, b: &mut Consume, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        if let (Some((ga, pa, _)), Some((gb, pb, _))) = (latest_join(a), latest_join(b)) {
            let all: BTreeSet<i32> = pa.iter().chain(&pb).copied().collect();
            if ga == gb
                && !pa.is_empty()
                && !pb.is_empty()
                && pa.len() + pb.len() == 6
                && all.len() == 6
            {
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

/// Waits until `c` joins a generation newer than `after` holding all 6
/// partitions; returns the join's timestamp (ms).
fn wait_all_six(c: &mut Consume, after: i32, what: &str) -> u64 {
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
fn wait_committed_to_end(t: &Target, group: &str, topic: &str, what: &str) -> BTreeMap<i32, i64> {
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
fn assert_all_read(read: &[(i32, i64)], end: &BTreeMap<i32, i64>, what: &str) -> usize {
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

fn offsets_of(c: &mut Consume) -> Vec<(i32, i64)> {
    records(&c.events())
        .iter()
        .map(|r| (r.partition, r.offset))
        .collect()
}

fn split_then_kill9(t: Target) {
    let what = "SIGKILL of one member";
    let (addr, topic, group) = (t.bootstrap(), unique("grp"), unique("g"));
    t.create_topic(&topic);
    produce(&addr, &topic, &["-n", "3000", "-j", "2", "--key", "seq"]);
    let mut a = member(&t, &topic, &group, "6000");
    a.wait_events(Duration::from_secs(60), "a joined alone", |evs| {
        !joins(evs).is_empty()
    });
    let mut b = member(&t, &topic, &group, "6000");
    let split = wait_split(&mut a, &mut b, what);
    produce(&addr, &topic, &["-n", "3000", "-j", "2", "--key", "seq"]);
    b.wait_events(Duration::from_secs(60), "b consuming", |evs| {
        !records(evs).is_empty()
    });
    b.signal(Signal::SIGKILL);
    let killed = report_now_ms();
    let took_ms = wait_all_six(&mut a, split, "a takes over b's partitions").saturating_sub(killed);
    produce(&addr, &topic, &["-n", "2000", "-j", "2", "--key", "seq"]);
    let end = wait_committed_to_end(&t, &group, &topic, what);
    a.signal(Signal::SIGINT);
    let st = a.wait_exit(Duration::from_secs(30));
    a.assert_code(st, 130, "a after Ctrl+C");
    let st = b.wait_exit(Duration::from_secs(30));
    assert_eq!(st.code(), None, "b was killed by a signal");
    let mut read = offsets_of(&mut a);
    read.extend(offsets_of(&mut b));
    let dups = assert_all_read(&read, &end, what);
    // b's workers stopped on PDEATHSIG and committed what they processed.
    assert_eq!(dups, 0, "{what}: no duplicates expected");
    eprintln!(
        "{what}: takeover {took_ms} ms after the kill (session timeout 6000 ms), {} events",
        read.len()
    );
}

fn ctrl_c_hands_over_at_once(t: Target) {
    let what = "Ctrl+C of one member";
    let (addr, topic, group) = (t.bootstrap(), unique("grp"), unique("g"));
    t.create_topic(&topic);
    produce(&addr, &topic, &["-n", "3000", "-j", "2", "--key", "seq"]);
    let mut a = member(&t, &topic, &group, "30000");
    a.wait_events(Duration::from_secs(60), "a joined alone", |evs| {
        !joins(evs).is_empty()
    });
    let mut b = member(&t, &topic, &group, "30000");
    let split = wait_split(&mut a, &mut b, what);
    produce(&addr, &topic, &["-n", "3000", "-j", "2", "--key", "seq"]);
    b.wait_events(Duration::from_secs(60), "b consuming", |evs| {
        !records(evs).is_empty()
    });
    let sent = report_now_ms();
    b.signal_group(Signal::SIGINT);
    let st = b.wait_exit(Duration::from_secs(30));
    b.assert_code(st, 130, "b after Ctrl+C");
    let took_ms = wait_all_six(&mut a, split, "a takes over at once").saturating_sub(sent);
    assert!(
        took_ms < 20_000,
        "{what}: the takeover took {took_ms} ms: it waited for the 30 s session timeout instead of LeaveGroup"
    );
    produce(&addr, &topic, &["-n", "2000", "-j", "2", "--key", "seq"]);
    let end = wait_committed_to_end(&t, &group, &topic, what);
    a.signal(Signal::SIGINT);
    let st = a.wait_exit(Duration::from_secs(30));
    a.assert_code(st, 130, "a after Ctrl+C");
    let mut read = offsets_of(&mut a);
    read.extend(offsets_of(&mut b));
    assert_eq!(
        assert_all_read(&read, &end, what),
        0,
        "{what}: a clean hand-over duplicates nothing"
    );
    eprintln!("{what}: takeover {took_ms} ms after Ctrl+C (session timeout 30000 ms)");
}

/// A kafka-python group member running `tests/python/group_member.py`
/// (lines `assigned P,P,...`, `record P O`, `closed`; SIGTERM closes it).
struct PyMember {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PyMember {
    fn start(bootstrap: &str, topic: &str, group: &str) -> PyMember {
        let mut child = Command::new("python3")
            .arg(tests_dir().join("python/group_member.py"))
            .args([bootstrap, topic, group])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let into = Arc::clone(&lines);
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                into.lock().unwrap().push(line);
            }
        });
        PyMember { child, lines }
    }

    fn assigned(&self) -> Option<Vec<i32>> {
        self.lines.lock().unwrap().iter().rev().find_map(|l| {
            l.strip_prefix("assigned").map(|rest| {
                rest.trim()
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse().unwrap())
                    .collect()
            })
        })
    }

    fn offsets(&self) -> Vec<(i32, i64)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let mut f = l.strip_prefix("record ")?.split_whitespace();
                Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
            })
            .collect()
    }

    /// SIGTERM: the member commits, leaves the group and exits.
    fn close(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, Signal::SIGTERM).expect("SIGTERM the python member");
        let ok = wait_until(Duration::from_secs(60), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        assert!(ok, "the kafka-python member did not close within 60 s");
        assert!(
            self.lines.lock().unwrap().iter().any(|l| l == "closed"),
            "the kafka-python member did not report a clean close"
        );
    }
}

impl Drop for PyMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shared_with_kafka_python(t: Target, test: &str) {
    if !python_kafka_available(test) {
        return;
    }
    let what = "braid + kafka-python in one group";
    let (addr, topic, group) = (t.bootstrap(), unique("grp"), unique("g"));
    t.create_topic(&topic);
    produce(&addr, &topic, &["-n", "3000", "-j", "2", "--key", "seq"]);
    let mut a = member(&t, &topic, &group, "10000");
    let mut py = PyMember::start(&addr, &topic, &group);
    let start = Instant::now();
    let split = loop {
        if let (Some((g, pa, _)), Some(pp)) = (latest_join(&mut a), py.assigned()) {
            let all: BTreeSet<i32> = pa.iter().chain(&pp).copied().collect();
            if !pa.is_empty() && !pp.is_empty() && pa.len() + pp.len() == 6 && all.len() == 6 {
                break g;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{what}: no split\n{}",
            a.diagnostics()
        );
        thread::sleep(Duration::from_millis(100));
    };
    let end = wait_committed_to_end(&t, &group, &topic, what);
    let mut read = offsets_of(&mut a);
    read.extend(py.offsets());
    assert_eq!(
        assert_all_read(&read, &end, what),
        0,
        "{what}: every event exactly once"
    );
    py.close();
    wait_all_six(
        &mut a,
        split,
        "braid takes over the python member's partitions",
    );
    produce(&addr, &topic, &["-n", "1000", "-j", "2", "--key", "seq"]);
    let end = wait_committed_to_end(&t, &group, &topic, what);
    a.signal(Signal::SIGINT);
    let st = a.wait_exit(Duration::from_secs(30));
    a.assert_code(st, 130, "braid after Ctrl+C");
    let mut read = offsets_of(&mut a);
    read.extend(py.offsets());
    assert_eq!(
        assert_all_read(&read, &end, what),
        0,
        "{what}: the hand-over duplicates nothing"
    );
}

/// Milliseconds since the Unix epoch (comparable with the events' timestamps).
fn report_now_ms() -> u64 {
    braid::report::now_ms()
}

#[test]
fn kafka_two_members_split_and_a_killed_ones_partitions_move_to_the_other() {
    if let Some(t) = Target::kafka("kafka_two_members_kill9") {
        split_then_kill9(t);
    }
}

#[test]
fn kafka_ctrl_c_of_one_member_hands_over_at_once() {
    if let Some(t) = Target::kafka("kafka_ctrl_c_hands_over") {
        ctrl_c_hands_over_at_once(t);
    }
}

#[test]
fn kafka_braid_and_kafka_python_share_a_group() {
    if let Some(t) = Target::kafka("kafka_braid_and_kafka_python") {
        shared_with_kafka_python(t, "kafka_braid_and_kafka_python");
    }
}

#[test]
fn usage_errors_of_subscribe() {
    let t = Target::embedded();
    let out = run_with_timeout(
        braid().args([
            "consume",
            "-b",
            &t.bootstrap(),
            "-t",
            "x",
            "--subscribe",
            "--member",
            "0/2",
        ]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--member"), "{}", out.stderr);
    t.create_topic("x");
    let out = run_with_timeout(
        braid().args([
            "consume",
            "-b",
            &t.bootstrap(),
            "-t",
            "x",
            "--subscribe",
            "--assignment",
            "0,1:2",
        ]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("explicit --assignment plan cannot be combined"),
        "{}",
        out.stderr
    );
    let _ = Write::flush(&mut std::io::stderr());
}

#[test]
fn embedded_two_members_split_and_a_killed_ones_partitions_move_to_the_other() {
    split_then_kill9(Target::embedded());
}

#[test]
fn embedded_ctrl_c_of_one_member_hands_over_at_once() {
    ctrl_c_hands_over_at_once(Target::embedded());
}

#[test]
fn embedded_braid_and_kafka_python_share_a_group() {
    shared_with_kafka_python(Target::embedded(), "embedded_braid_and_kafka_python");
}
