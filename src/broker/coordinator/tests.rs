//! The state machine with a fake clock: join, sync, heartbeat, leave,
//! expiry and the generation checks.

use super::*;
use kafka_protocol::error::ResponseError as E;

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);

fn join_req(member: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        group: "g".into(),
        member_id: member.into(),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        require_known_id: false,
    }
}

fn sync_req(member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        group: "g".into(),
        generation,
        member_id: member.into(),
        protocol_type: None,
        protocol: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn joined(c: &mut Coordinator, t: Ticket) -> JoinResult {
    match c.take(t) {
        Some(Reply::Join(r)) => r,
        other => panic!("expected a join answer for ticket {t}, got {other:?}"),
    }
}

fn synced(c: &mut Coordinator, t: Ticket) -> SyncResult {
    match c.take(t) {
        Some(Reply::Sync(r)) => r,
        other => panic!("expected a sync answer for ticket {t}, got {other:?}"),
    }
}

fn wait<T: std::fmt::Debug>(o: Outcome<T>) -> Ticket {
    match o {
        Outcome::Wait(t) => t,
        Outcome::Done(r) => panic!("expected to wait, got {r:?}"),
    }
}

fn done<T: std::fmt::Debug>(o: Outcome<T>) -> T {
    match o {
        Outcome::Done(r) => r,
        Outcome::Wait(t) => panic!("expected an answer, got ticket {t}"),
    }
}

/// Two members joined and synced (a leads); returns their ids and the clock.
fn stable_pair(c: &mut Coordinator, t0: Instant) -> (String, String) {
    let ta = wait(c.join(t0, join_req("", &["range"])));
    let a = joined(c, ta);
    assert_eq!((a.generation, a.leader.as_str()), (1, a.member_id.as_str()));
    let a_id = a.member_id;
    let tb = wait(c.join(t0, join_req("", &["range"])));
    assert!(c.take(tb).is_none(), "b waits for a to rejoin");
    assert_eq!(c.group("g").unwrap().state, State::PreparingRebalance);
    assert_eq!(c.heartbeat(t0, "g", 1, &a_id), Some(E::RebalanceInProgress));
    let ta = wait(c.join(t0, join_req(&a_id, &["range"])));
    let a = joined(c, ta);
    let b = joined(c, tb);
    assert_eq!((a.generation, b.generation), (2, 2));
    assert_eq!(a.leader, a_id);
    assert_eq!(
        a.members.len(),
        2,
        "the leader gets every member's metadata"
    );
    assert!(b.members.is_empty());
    let b_id = b.member_id;
    let tb = wait(c.sync(t0, sync_req(&b_id, 2, &[])));
    let ta = wait(c.sync(t0, sync_req(&a_id, 2, &[(&a_id, "A"), (&b_id, "B")])));
    assert_eq!(synced(c, ta).assignment, Bytes::from("A"));
    assert_eq!(synced(c, tb).assignment, Bytes::from("B"));
    assert_eq!(c.group("g").unwrap().state, State::Stable);
    (a_id, b_id)
}

#[test]
fn join_sync_and_a_second_member_rebalances() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut c, t0);
    assert_eq!(c.heartbeat(t0, "g", 2, &a), None);
    assert_eq!(c.heartbeat(t0, "g", 1, &a), Some(E::IllegalGeneration));
    assert_eq!(c.heartbeat(t0, "g", 2, "nobody"), Some(E::UnknownMemberId));
    assert_eq!(c.heartbeat(t0, "h", 2, &a), Some(E::UnknownMemberId));
    let d = c.describe("g").unwrap();
    assert_eq!((d.state, d.protocol.as_str()), ("Stable", "range"));
    assert_eq!(d.members[1].assignment, Bytes::from("B"));
    assert_eq!(d.members[1].metadata, Bytes::from("meta-range"));
    assert_eq!(d.members[1].id, b);
}

#[test]
fn member_id_required_first_from_v4() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let mut req = join_req("", &["range"]);
    req.require_known_id = true;
    let r = done(c.join(t0, req.clone()));
    assert_eq!(r.error, Some(E::MemberIdRequired));
    assert!(!r.member_id.is_empty());
    req.member_id = r.member_id.clone();
    let t = wait(c.join(t0, req));
    assert_eq!(joined(&mut c, t).member_id, r.member_id);
    // A pending id that never comes back expires after the session timeout.
    let mut other = join_req("", &["range"]);
    other.require_known_id = true;
    let pending = done(c.join(t0, other)).member_id;
    c.tick(t0 + SESSION);
    let mut late = join_req(&pending, &["range"]);
    late.require_known_id = true;
    assert_eq!(
        done(c.join(t0 + SESSION, late)).error,
        Some(E::UnknownMemberId)
    );
}

#[test]
fn protocol_choice_and_inconsistent_protocols() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let ta = wait(c.join(t0, join_req("", &["roundrobin", "range"])));
    let a = joined(&mut c, ta);
    assert_eq!(a.protocol.as_deref(), Some("roundrobin"));
    let r = done(c.join(t0, join_req("", &["sticky"])));
    assert_eq!(r.error, Some(E::InconsistentGroupProtocol));
    let mut other_type = join_req("", &["range"]);
    other_type.protocol_type = "connect".into();
    assert_eq!(
        done(c.join(t0, other_type)).error,
        Some(E::InconsistentGroupProtocol)
    );
    // b prefers range, a prefers roundrobin: a tie goes to the leader's order.
    let tb = wait(c.join(t0, join_req("", &["range", "roundrobin"])));
    let ta = wait(c.join(t0, join_req(&a.member_id, &["roundrobin", "range"])));
    assert_eq!(joined(&mut c, ta).protocol.as_deref(), Some("roundrobin"));
    assert_eq!(joined(&mut c, tb).protocol.as_deref(), Some("roundrobin"));
    let mut bad = join_req("", &["range"]);
    bad.session_timeout = Duration::from_millis(10);
    assert_eq!(done(c.join(t0, bad)).error, Some(E::InvalidSessionTimeout));
    assert_eq!(
        done(c.join(t0, join_req("made-up", &["range"]))).error,
        Some(E::UnknownMemberId)
    );
}

#[test]
fn session_expiry_removes_a_member_and_rebalances() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut c, t0);
    let t1 = t0 + SESSION / 2;
    assert_eq!(c.heartbeat(t1, "g", 2, &a), None);
    c.tick(t0 + SESSION);
    let g = c.group("g").unwrap();
    assert_eq!(g.state, State::PreparingRebalance, "b expired");
    assert!(!g.has(&b) && g.has(&a));
    assert_eq!(
        c.heartbeat(t0 + SESSION, "g", 2, &b),
        Some(E::UnknownMemberId)
    );
    let ta = wait(c.join(t0 + SESSION, join_req(&a, &["range"])));
    let r = joined(&mut c, ta);
    assert_eq!((r.generation, r.members.len()), (3, 1));
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut c, t0);
    let tc = wait(c.join(t0, join_req("", &["range"])));
    // a rejoins, b keeps heartbeating but never rejoins.
    let ta = wait(c.join(t0, join_req(&a, &["range"])));
    let step = Duration::from_secs(5);
    let mut now = t0;
    while now < t0 + REBALANCE - step {
        now += step;
        assert_eq!(c.heartbeat(now, "g", 2, &b), Some(E::RebalanceInProgress));
        c.tick(now);
        assert!(c.take(ta).is_none());
    }
    c.tick(t0 + REBALANCE);
    let r = joined(&mut c, ta);
    assert_eq!((r.generation, r.members.len()), (3, 2));
    assert!(joined(&mut c, tc).error.is_none());
    assert!(!c.group("g").unwrap().has(&b));
}

#[test]
fn leave_rebalances_at_once_and_a_leaderless_sync_is_fenced() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let (a, b) = stable_pair(&mut c, t0);
    assert_eq!(c.leave(t0, "g", "ghost"), Some(E::UnknownMemberId));
    assert_eq!(c.leave(t0, "g", &a), None);
    assert_eq!(c.group("g").unwrap().state, State::PreparingRebalance);
    let tb = wait(c.join(t0, join_req(&b, &["range"])));
    let r = joined(&mut c, tb);
    assert_eq!((r.generation, r.leader.as_str()), (3, b.as_str()));
    // a stale generation, an unknown member, a sync during the join phase
    assert_eq!(
        done(c.sync(t0, sync_req(&b, 2, &[]))).error,
        Some(E::IllegalGeneration)
    );
    assert_eq!(
        done(c.sync(t0, sync_req(&a, 3, &[]))).error,
        Some(E::UnknownMemberId)
    );
    assert_eq!(c.leave(t0, "g", &b), None);
    let g = c.group("g").unwrap();
    assert_eq!((g.state, g.generation), (State::Empty, 4));
}

#[test]
fn waiting_followers_are_told_to_rejoin_when_the_leader_dies() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let ta = wait(c.join(t0, join_req("", &["range"])));
    let a = joined(&mut c, ta).member_id;
    let tb = wait(c.join(t0, join_req("", &["range"])));
    let ta = wait(c.join(t0, join_req(&a, &["range"])));
    let _ = joined(&mut c, ta);
    let b = joined(&mut c, tb).member_id;
    let tb = wait(c.sync(t0, sync_req(&b, 2, &[])));
    // The leader never syncs: its session ends, the follower rejoins.
    c.tick(t0 + SESSION);
    assert_eq!(synced(&mut c, tb).error, Some(E::RebalanceInProgress));
    let tb = wait(c.join(t0 + SESSION, join_req(&b, &["range"])));
    let r = joined(&mut c, tb);
    assert_eq!(r.leader, b);
}

#[test]
fn a_leader_that_heartbeats_but_never_syncs_is_removed() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    let ta = wait(c.join(t0, join_req("", &["range"])));
    let a = joined(&mut c, ta).member_id;
    let tb = wait(c.join(t0, join_req("", &["range"])));
    let ta = wait(c.join(t0, join_req(&a, &["range"])));
    let _ = joined(&mut c, ta);
    let b = joined(&mut c, tb).member_id;
    let tb = wait(c.sync(t0, sync_req(&b, 2, &[])));
    let mut now = t0;
    while now < t0 + REBALANCE {
        now += Duration::from_secs(3);
        assert_eq!(c.heartbeat(now, "g", 2, &a), None, "CompletingRebalance");
        c.tick(now);
    }
    assert_eq!(synced(&mut c, tb).error, Some(E::RebalanceInProgress));
    assert!(!c.group("g").unwrap().has(&a));
    assert_eq!(c.heartbeat(now, "g", 2, &a), Some(E::UnknownMemberId));
}

#[test]
fn commit_checks_follow_kafka() {
    let mut c = Coordinator::default();
    let t0 = Instant::now();
    // No membership: the manual path.
    assert_eq!(c.check_commit(t0, "g", -1, "", || false), None);
    assert_eq!(
        c.check_commit(t0, "g", 3, "x", || false),
        Some(E::IllegalGeneration)
    );
    assert_eq!(
        c.check_commit(t0, "g", 3, "x", || true),
        Some(E::UnknownMemberId)
    );
    let (a, _b) = stable_pair(&mut c, t0);
    assert_eq!(
        c.check_commit(t0, "g", -1, "", || true),
        Some(E::UnknownMemberId)
    );
    assert_eq!(
        c.check_commit(t0, "g", 1, &a, || true),
        Some(E::IllegalGeneration)
    );
    assert_eq!(c.check_commit(t0, "g", 2, &a, || true), None);
    // A new member: PreparingRebalance still takes commits of generation 2.
    let tc = wait(c.join(t0, join_req("", &["range"])));
    assert_eq!(c.check_commit(t0, "g", 2, &a, || true), None);
    c.tick(t0 + REBALANCE);
    let r = joined(&mut c, tc);
    assert_eq!(r.generation, 3);
    assert_eq!(
        c.check_commit(t0, "g", 3, &a, || true),
        Some(E::UnknownMemberId)
    );
    let cid = r.member_id;
    assert_eq!(
        c.check_commit(t0, "g", 3, &cid, || true),
        Some(E::RebalanceInProgress)
    );
    assert_eq!(c.leave(t0, "g", &cid), None);
    c.tick(t0 + REBALANCE);
    assert_eq!(c.group("g").unwrap().state, State::Empty);
    assert_eq!(c.check_commit(t0, "g", -1, "", || true), None);
}
