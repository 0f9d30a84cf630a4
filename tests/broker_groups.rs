//! The embedded broker's group coordinator from raw requests (kafka-protocol
//! over a `TcpStream`): join, sync, heartbeat, leave, describe and list, and
//! the errors Kafka gives a client that lies or lags: wrong generation,
//! unknown member, expired session, commit during a rebalance, garbage
//! metadata, static membership.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::{self, call};
use common::*;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    DescribeGroupsRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest, SyncGroupRequest, SyncGroupResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const UNSUPPORTED_VERSION: i16 = 35;
const MEMBER_ID_REQUIRED: i16 = 79;

/// The versions librdkafka 2.x and kafka-python 3.x use.
const JOIN_V: i16 = 5;
const SYNC_V: i16 = 3;
const HB_V: i16 = 3;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn join_req(group: &str, member: &str, session_ms: i32, metadata: &[u8]) -> JoinGroupRequest {
    let mut p = JoinGroupRequestProtocol::default();
    p.name = s("range");
    p.metadata = Bytes::copy_from_slice(metadata);
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(s(group));
    r.member_id = s(member);
    r.session_timeout_ms = session_ms;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = s("consumer");
    r.protocols = vec![p];
    r
}

/// Joins as a new member at [`JOIN_V`]: MEMBER_ID_REQUIRED first, then the join.
fn join_new(conn: &mut TcpStream, group: &str, session_ms: i32, meta: &[u8]) -> JoinGroupResponse {
    let first = call(conn, &join_req(group, "", session_ms, meta), JOIN_V);
    assert_eq!(
        first.error_code, MEMBER_ID_REQUIRED,
        "a new member first gets an id"
    );
    assert!(!first.member_id.is_empty());
    let again = join_req(group, &first.member_id, session_ms, meta);
    let r = call(conn, &again, JOIN_V);
    assert_eq!(r.error_code, 0, "join with the given id");
    assert_eq!(r.member_id, first.member_id);
    r
}

fn sync(
    conn: &mut TcpStream,
    group: &str,
    generation: i32,
    member: &str,
    assign: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let mut r = SyncGroupRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id = generation;
    r.member_id = s(member);
    r.assignments = assign
        .iter()
        .map(|(m, a)| {
            let mut x = SyncGroupRequestAssignment::default();
            x.member_id = s(m);
            x.assignment = Bytes::copy_from_slice(a);
            x
        })
        .collect();
    call(conn, &r, SYNC_V)
}

fn heartbeat(conn: &mut TcpStream, group: &str, generation: i32, member: &str) -> i16 {
    let mut r = HeartbeatRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id = generation;
    r.member_id = s(member);
    call(conn, &r, HB_V).error_code
}

/// Commits offset 1 of `topic`-0 at OffsetCommit v2; returns the partition's error.
fn commit(conn: &mut TcpStream, group: &str, topic: &str, generation: i32, member: &str) -> i16 {
    let mut p = OffsetCommitRequestPartition::default();
    p.committed_offset = 1;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = vec![p];
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id_or_member_epoch = generation;
    r.member_id = s(member);
    r.topics = vec![t];
    call(conn, &r, 2).topics[0].partitions[0].error_code
}

/// A broker with an auto-created (6-partition) topic, and a connection to it.
fn setup(test: &str) -> (Broker, TcpStream, String) {
    let broker = Broker::start(&[]);
    let topic = unique(test);
    let mut client = kafka_client(&broker.addr());
    wait_for_topic(&mut client, &topic, 6);
    let conn = raw::connect(&broker.addr());
    (broker, conn, topic)
}

#[test]
fn join_sync_heartbeat_describe_and_the_generation_checks() {
    let (broker, mut a, topic) = setup("groups_basic");
    let group = unique("g");
    // The manual path: no members, generation -1.
    assert_eq!(commit(&mut a, &group, &topic, -1, ""), 0);
    let j = join_new(&mut a, &group, 10_000, b"meta-a");
    let (gen, me) = (j.generation_id, j.member_id.to_string());
    assert_eq!(j.leader.as_str(), me, "the first joiner leads");
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.members[0].metadata, Bytes::from_static(b"meta-a"));
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    let sy = sync(&mut a, &group, gen, &me, &[(&me, b"assign-a")]);
    assert_eq!(sy.error_code, 0);
    assert_eq!(sy.assignment, Bytes::from_static(b"assign-a"));

    assert_eq!(heartbeat(&mut a, &group, gen, &me), 0);
    assert_eq!(heartbeat(&mut a, &group, gen + 7, &me), ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut a, &group, gen, "liar"), UNKNOWN_MEMBER_ID);
    assert_eq!(
        heartbeat(&mut a, "no-such-group", 1, &me),
        UNKNOWN_MEMBER_ID
    );
    // Commits: only the current generation's members.
    assert_eq!(commit(&mut a, &group, &topic, -1, ""), UNKNOWN_MEMBER_ID);
    assert_eq!(
        commit(&mut a, &group, &topic, gen - 1, &me),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(&mut a, &group, &topic, gen, "liar"),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(commit(&mut a, &group, &topic, gen, &me), 0);
    assert_eq!(
        sync(&mut a, &group, gen + 1, &me, &[]).error_code,
        ILLEGAL_GENERATION
    );

    let mut d = DescribeGroupsRequest::default();
    d.groups = vec![GroupId(s(&group)), GroupId(s("never-seen"))];
    let desc = call(&mut a, &d, 4);
    let g = &desc.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.protocol_type.as_str(), "consumer");
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_id.as_str(), me);
    assert_eq!(g.members[0].client_id.as_str(), "braid-raw-test");
    assert_eq!(g.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(g.members[0].member_metadata, Bytes::from_static(b"meta-a"));
    assert_eq!(
        g.members[0].member_assignment,
        Bytes::from_static(b"assign-a")
    );
    assert_eq!(desc.groups[1].group_state.as_str(), "Dead");

    // Leave: the group is Empty, and the manual path works again.
    let mut l = LeaveGroupRequest::default();
    l.group_id = GroupId(s(&group));
    l.member_id = s(&me);
    assert_eq!(call(&mut a, &l, 1).error_code, 0);
    assert_eq!(call(&mut a, &l, 1).error_code, UNKNOWN_MEMBER_ID);
    assert_eq!(heartbeat(&mut a, &group, gen, &me), UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut a, &group, &topic, -1, ""), 0);

    let offsets_only = unique("offsets-only");
    assert_eq!(commit(&mut a, &offsets_only, &topic, -1, ""), 0);
    let list = call(&mut a, &ListGroupsRequest::default(), 4);
    let find = |id: &str| {
        list.groups
            .iter()
            .find(|g| g.group_id.0.as_str() == id)
            .map(|g| (g.protocol_type.to_string(), g.group_state.to_string()))
    };
    assert_eq!(find(&group), Some(("".into(), "Empty".into())));
    assert_eq!(find(&offsets_only), Some(("".into(), "Empty".into())));
    drop(broker);
}

#[test]
fn a_waiting_join_holds_up_no_one_and_commits_follow_the_rebalance() {
    let (broker, mut a, topic) = setup("groups_rebalance");
    let group = unique("g");
    let ja = join_new(&mut a, &group, 10_000, b"a");
    let (gen, ida) = (ja.generation_id, ja.member_id.to_string());
    assert_eq!(
        sync(&mut a, &group, gen, &ida, &[(&ida, b"A")]).error_code,
        0
    );

    // b joins from another connection and waits for a to rejoin.
    let addr = broker.addr();
    let g2 = group.clone();
    let b = thread::spawn(move || {
        let mut conn = raw::connect(&addr);
        let j = join_new(&mut conn, &g2, 10_000, b"b");
        (conn, j)
    });
    // Meanwhile a's connection is served: the rebalance shows in heartbeats,
    // and commits of the current generation are still taken (PreparingRebalance).
    let told = wait_until(Duration::from_secs(10), || {
        heartbeat(&mut a, &group, gen, &ida) == REBALANCE_IN_PROGRESS
    });
    assert!(told, "a was never told of the rebalance");
    assert_eq!(commit(&mut a, &group, &topic, gen, &ida), 0);
    let ja = call(&mut a, &join_req(&group, &ida, 10_000, b"a"), JOIN_V);
    let (mut bconn, jb) = b.join().expect("b's join");
    assert_eq!(ja.error_code, 0);
    assert_eq!(ja.generation_id, gen + 1);
    assert_eq!(jb.generation_id, gen + 1);
    assert_eq!(ja.leader, ja.member_id, "the first joiner still leads");
    assert_eq!(ja.members.len(), 2);
    assert!(jb.members.is_empty(), "followers get no member list");
    let idb = jb.member_id.to_string();
    // Generation gen+1, waiting for the leader: commits are refused.
    assert_eq!(
        commit(&mut a, &group, &topic, gen + 1, &ida),
        REBALANCE_IN_PROGRESS
    );
    assert_eq!(
        commit(&mut a, &group, &topic, gen, &ida),
        ILLEGAL_GENERATION
    );
    // b's sync waits for the leader's, on its own connection.
    let g2 = group.clone();
    let idb2 = idb.clone();
    let bsync = thread::spawn(move || {
        let r = sync(&mut bconn, &g2, gen + 1, &idb2, &[]);
        (bconn, r)
    });
    // Either order is correct; a head start makes b's sync the one that waits.
    thread::sleep(Duration::from_millis(200));
    let sa = sync(
        &mut a,
        &group,
        gen + 1,
        &ida,
        &[(&ida, b"A2"), (&idb, b"B2")],
    );
    let (mut bconn, sb) = bsync.join().expect("b's sync");
    assert_eq!((sa.error_code, sb.error_code), (0, 0));
    assert_eq!(sa.assignment, Bytes::from_static(b"A2"));
    assert_eq!(sb.assignment, Bytes::from_static(b"B2"));
    assert_eq!(commit(&mut bconn, &group, &topic, gen + 1, &idb), 0);

    // LeaveGroup v3 (batch): b leaves; a rebalances at once.
    let mut l = LeaveGroupRequest::default();
    l.group_id = GroupId(s(&group));
    l.members = [idb.as_str(), "ghost"]
        .iter()
        .map(|m| {
            let mut x = MemberIdentity::default();
            x.member_id = s(m);
            x
        })
        .collect();
    let left = call(&mut bconn, &l, 3);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![0, UNKNOWN_MEMBER_ID]);
    assert_eq!(
        heartbeat(&mut a, &group, gen + 1, &ida),
        REBALANCE_IN_PROGRESS
    );
    let ja = call(&mut a, &join_req(&group, &ida, 10_000, b"a"), JOIN_V);
    assert_eq!((ja.error_code, ja.generation_id), (0, gen + 2));
}

#[test]
fn an_expired_session_is_removed_and_the_group_rebalances() {
    let (broker, mut a, topic) = setup("groups_expiry");
    let group = unique("g");
    let mut b = raw::connect(&broker.addr());
    // Kafka's smallest session timeout (group.min.session.timeout.ms).
    let session = 6_000;
    let ja = join_new(&mut a, &group, session, b"a");
    let ida = ja.member_id.to_string();
    let g2 = group.clone();
    let bt = thread::spawn(move || {
        let j = join_new(&mut b, &g2, session, b"b");
        (b, j)
    });
    let told = wait_until(Duration::from_secs(10), || {
        heartbeat(&mut a, &group, ja.generation_id, &ida) == REBALANCE_IN_PROGRESS
    });
    assert!(told);
    let ja = call(&mut a, &join_req(&group, &ida, session, b"a"), JOIN_V);
    let (mut b, jb) = bt.join().unwrap();
    let gen = ja.generation_id;
    let idb = jb.member_id.to_string();
    assert_eq!(jb.generation_id, gen);
    let bsync = {
        let g2 = group.clone();
        let idb = idb.clone();
        thread::spawn(move || {
            let r = sync(&mut b, &g2, gen, &idb, &[]);
            (b, r)
        })
    };
    assert_eq!(sync(&mut a, &group, gen, &ida, &[]).error_code, 0);
    let (mut b, _) = bsync.join().unwrap();
    // b falls silent; a keeps heartbeating and learns of the rebalance.
    let start = Instant::now();
    let rebalanced = wait_until(Duration::from_secs(15), || {
        thread::sleep(Duration::from_millis(500));
        heartbeat(&mut a, &group, gen, &ida) == REBALANCE_IN_PROGRESS
    });
    assert!(rebalanced, "b's session never expired");
    assert!(
        start.elapsed() >= Duration::from_millis(session as u64 - 1_000),
        "b was removed after {:?}, before its session timeout",
        start.elapsed()
    );
    let ja = call(&mut a, &join_req(&group, &ida, session, b"a"), JOIN_V);
    assert_eq!((ja.error_code, ja.generation_id), (0, gen + 1));
    assert_eq!(ja.members.len(), 1, "b is gone");
    // The expired member is fenced everywhere.
    assert_eq!(heartbeat(&mut b, &group, gen, &idb), UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut b, &group, &topic, gen, &idb), UNKNOWN_MEMBER_ID);
    assert_eq!(
        sync(&mut b, &group, gen + 1, &idb, &[]).error_code,
        UNKNOWN_MEMBER_ID
    );
    let rejoin = call(&mut b, &join_req(&group, &idb, session, b"b"), JOIN_V);
    assert_eq!(rejoin.error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn lies_get_kafkas_errors_and_garbage_metadata_is_passed_on() {
    let (broker, mut a, _topic) = setup("groups_lies");
    let group = unique("g");
    let garbage: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
    let j = join_new(&mut a, &group, 10_000, &garbage);
    assert_eq!(
        j.members[0].metadata,
        Bytes::from(garbage.clone()),
        "metadata is opaque to the coordinator: the leader gets it as sent"
    );
    let mut no_type = join_req(&group, "", 10_000, b"x");
    no_type.protocol_type = s("");
    assert_eq!(
        call(&mut a, &no_type, JOIN_V).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let mut other = join_req(&group, "", 10_000, b"x");
    other.protocols[0].name = s("sticky");
    assert_eq!(
        call(&mut a, &other, JOIN_V).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    for session in [1, -5, i32::MAX] {
        let r = call(&mut a, &join_req(&group, "", session, b"x"), JOIN_V);
        assert_eq!(r.error_code, INVALID_SESSION_TIMEOUT, "session {session}");
    }
    let r = call(
        &mut a,
        &join_req(&group, "made-up-id", 10_000, b"x"),
        JOIN_V,
    );
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID);
    let r = call(&mut a, &join_req("", "", 10_000, b"x"), JOIN_V);
    assert_eq!(r.error_code, INVALID_GROUP_ID);
    let mut static_member = join_req(&group, "", 10_000, b"x");
    static_member.group_instance_id = Some(s("instance-1"));
    let r = call(&mut a, &static_member, JOIN_V);
    assert_eq!(r.error_code, UNSUPPORTED_VERSION, "static membership");
    // v0 gets an id at once; a sync for another member's generation is refused.
    let r = call(&mut a, &join_req(&unique("g0"), "", 10_000, b"x"), 0);
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    // An assignment for members that do not exist is ignored.
    let me = j.member_id.to_string();
    let sy = sync(&mut a, &group, j.generation_id, &me, &[("ghost", b"x")]);
    assert_eq!(sy.error_code, 0);
    assert!(sy.assignment.is_empty());
    // Still serving.
    assert_eq!(heartbeat(&mut a, &group, j.generation_id, &me), 0);
    let mut broker = broker;
    broker.assert_running();
}

#[test]
fn a_stopping_broker_answers_a_waiting_join_and_exits_promptly() {
    let (mut broker, mut a, _topic) = setup("groups_stop");
    let group = unique("g");
    let ja = join_new(&mut a, &group, 10_000, b"a");
    assert_eq!(ja.error_code, 0);
    // b's join waits for a, which never rejoins (rebalance timeout 10 s).
    let addr = broker.addr();
    let g2 = group.clone();
    let b = thread::spawn(move || {
        let mut conn = raw::connect(&addr);
        let first = call(&mut conn, &join_req(&g2, "", 10_000, b"b"), JOIN_V);
        let again = join_req(&g2, &first.member_id, 10_000, b"b");
        call(&mut conn, &again, JOIN_V).error_code
    });
    let waiting = wait_until(Duration::from_secs(10), || {
        heartbeat(&mut a, &group, ja.generation_id, &ja.member_id) == REBALANCE_IN_PROGRESS
    });
    assert!(waiting);
    let start = Instant::now();
    let status = broker.sigterm_and_wait(Duration::from_secs(5));
    assert!(status.success(), "broker exit: {status}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        start.elapsed()
    );
    const NOT_COORDINATOR: i16 = 16;
    assert_eq!(b.join().expect("b's join"), NOT_COORDINATOR);
}
