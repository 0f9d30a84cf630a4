//! Consumer groups of clients nobody here wrote, on the embedded broker's
//! coordinator: two kafka-python `KafkaConsumer(group_id=G)` members
//! (`tests/python/group_member.py`), and two `kcat -G G` balanced consumers.
//! They split a 6-partition topic with no overlap and together consume
//! every message exactly once; when one closes (SIGTERM: commit, LeaveGroup),
//! the other takes all 6 partitions at once and resumes at the commits.
//! Skipped (with a `SKIPPED:` line) where the peer is not installed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::consume::{high_watermarks, produce};
use common::groups::{Peer, PeerMember};
use common::*;

const PARTITIONS: i32 = 6;
const FIRST: usize = 600;
const SECOND: usize = 300;
/// How long a rebalance, or consuming a batch, may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// Its latest assignment as a set, once it has one.
fn assignment(m: &PeerMember) -> Option<BTreeSet<i32>> {
    m.assigned().map(|ps| ps.into_iter().collect())
}

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

fn wait_or_fail(what: &str, members: &[&PeerMember], cond: impl FnMut() -> bool) {
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

    let a = PeerMember::start(peer, "a", &addr, &topic, &group);
    wait_or_fail("a alone never got all 6 partitions", &[&a], || {
        assignment(&a) == Some(all_partitions())
    });
    let mut b = PeerMember::start(peer, "b", &addr, &topic, &group);
    let split = || match (assignment(&a), assignment(&b)) {
        (Some(x), Some(y)) => {
            !x.is_empty() && !y.is_empty() && x.is_disjoint(&y) && x.len() + y.len() == 6
        }
        _ => false,
    };
    wait_or_fail("a and b never split the partitions", &[&a, &b], split);
    let (pa, pb) = (assignment(&a).unwrap(), assignment(&b).unwrap());

    produce(&addr, &topic, &["-n", &FIRST.to_string(), "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    assert_eq!(hw.values().sum::<i64>(), FIRST as i64);
    wait_or_fail("a and b never consumed everything", &[&a, &b], || {
        a.offsets().len() + b.offsets().len() >= FIRST
    });
    for (m, mine) in [(&a, &pa), (&b, &pb)] {
        let strays: Vec<_> = m
            .offsets()
            .into_iter()
            .filter(|(p, _)| !mine.contains(p))
            .collect();
        assert!(
            strays.is_empty(),
            "{} read outside {mine:?}: {strays:?}",
            m.name
        );
    }
    let mut all = a.offsets();
    all.extend(b.offsets());
    assert_exactly_once(&all, &hw, "two members");

    // a closes: b takes everything at once, and resumes at a's commits.
    let mut a = a;
    a.close();
    wait_or_fail("b never took all 6 partitions", &[&a, &b], || {
        assignment(&b) == Some(all_partitions())
    });
    produce(&addr, &topic, &["-n", &SECOND.to_string(), "--key", "none"]);
    let hw = high_watermarks(&addr, &topic);
    assert_eq!(hw.values().sum::<i64>(), (FIRST + SECOND) as i64);
    wait_or_fail("b never consumed the second batch", &[&a, &b], || {
        a.offsets().len() + b.offsets().len() >= FIRST + SECOND
    });
    // A redelivery would come now, if at all.
    std::thread::sleep(Duration::from_secs(1));
    let mut all = a.offsets();
    all.extend(b.offsets());
    assert_exactly_once(&all, &hw, "after the handover");
    b.close();
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
