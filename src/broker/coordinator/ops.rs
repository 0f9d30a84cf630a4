//! The coordinator's operations: join, sync, heartbeat, leave, and the
//! timers (`tick`), with Kafka's classic GroupCoordinator semantics and
//! error codes.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use std::collections::HashMap;
use std::time::Instant;

use super::{
    Coordinator, Group, JoinRequest, JoinResult, Member, Outcome, Reply, State, SyncRequest,
    SyncResult, Ticket,
};

type Done = HashMap<Ticket, Reply>;

impl Coordinator {
    /// A JoinGroup.
    pub fn join(&mut self, now: Instant, req: JoinRequest) -> Outcome<JoinResult> {
        let fail = |e| Outcome::Done(JoinResult::error(&req.member_id, e));
        if req.session_timeout < self.min_session || req.session_timeout > self.max_session {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        if !self.groups.contains_key(&req.group) {
            if !req.member_id.is_empty() {
                return fail(ResponseError::UnknownMemberId);
            }
            self.groups.insert(req.group.clone(), Group::new());
        }
        let new_id = req
            .member_id
            .is_empty()
            .then(|| self.new_member_id(&req.client_id));
        let ticket = self.ticket();
        let g = self.groups.get_mut(&req.group).expect("inserted above");
        if !g.supports(&req.protocol_type, &req.protocols) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if let Some(id) = new_id {
            if req.require_known_id {
                g.pending.insert(id.clone(), now + req.session_timeout);
                return Outcome::Done(JoinResult::error(&id, ResponseError::MemberIdRequired));
            }
            add_member(g, &mut self.done, now, req, id, ticket);
            return Outcome::Wait(ticket);
        }
        if g.pending.remove(&req.member_id).is_some() {
            let id = req.member_id.clone();
            add_member(g, &mut self.done, now, req, id, ticket);
            return Outcome::Wait(ticket);
        }
        let Some(member) = g.member(&req.member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        let same = member.same_protocols(&req.protocols);
        let rebalance = match g.state {
            State::PreparingRebalance => true,
            State::CompletingRebalance => !same,
            State::Stable => !same || g.is_leader(&req.member_id),
            State::Empty => return fail(ResponseError::UnknownMemberId),
        };
        if !rebalance {
            let leader = g.is_leader(&req.member_id);
            return Outcome::Done(join_result(g, &req.member_id, leader));
        }
        let m = g.member_mut(&req.member_id).expect("checked above");
        m.protocols = req.protocols;
        m.session_timeout = req.session_timeout;
        m.rebalance_timeout = req.rebalance_timeout;
        m.last_seen = now;
        if let Some(old) = m.join.replace(ticket) {
            let e = JoinResult::error(&m.id, ResponseError::RebalanceInProgress);
            self.done.insert(old, Reply::Join(e));
        }
        maybe_prepare_rebalance(g, &mut self.done, now);
        try_complete_join(g, &mut self.done, now);
        Outcome::Wait(ticket)
    }

    /// A SyncGroup.
    pub fn sync(&mut self, now: Instant, req: SyncRequest) -> Outcome<SyncResult> {
        let fail = |e| Outcome::Done(SyncResult::error(e));
        let ticket = self.ticket();
        let Some(g) = self.groups.get_mut(&req.group) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if !g.has(&req.member_id) {
            return fail(ResponseError::UnknownMemberId);
        }
        if req.generation != g.generation {
            return fail(ResponseError::IllegalGeneration);
        }
        if req.protocol_type.is_some() && req.protocol_type != g.protocol_type
            || req.protocol.is_some() && req.protocol != g.protocol
        {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        match g.state {
            State::Empty => fail(ResponseError::UnknownMemberId),
            State::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            State::Stable => {
                let m = g.member_mut(&req.member_id).expect("checked above");
                m.last_seen = now;
                m.synced = true;
                let assignment = m.assignment.clone();
                Outcome::Done(sync_result(g, assignment))
            }
            State::CompletingRebalance => {
                let m = g.member_mut(&req.member_id).expect("checked above");
                m.synced = true;
                if let Some(old) = m.sync.replace(ticket) {
                    let e = SyncResult::error(ResponseError::RebalanceInProgress);
                    self.done.insert(old, Reply::Sync(e));
                }
                if g.is_leader(&req.member_id) {
                    let assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in &mut g.members {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                    }
                    g.state = State::Stable;
                    propagate(g, &mut self.done, now, None);
                }
                Outcome::Wait(ticket)
            }
        }
    }

    /// A Heartbeat: `None` when all is well.
    pub fn heartbeat(
        &mut self,
        now: Instant,
        group: &str,
        generation: i32,
        member_id: &str,
    ) -> Option<ResponseError> {
        let Some(g) = self.groups.get_mut(group) else {
            return Some(ResponseError::UnknownMemberId);
        };
        let state = g.state;
        let group_generation = g.generation;
        let Some(m) = g.member_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if generation != group_generation {
            return Some(ResponseError::IllegalGeneration);
        }
        match state {
            State::Empty => Some(ResponseError::UnknownMemberId),
            State::PreparingRebalance => {
                m.last_seen = now;
                Some(ResponseError::RebalanceInProgress)
            }
            State::CompletingRebalance | State::Stable => {
                m.last_seen = now;
                None
            }
        }
    }

    /// One member of a LeaveGroup: `None` when it left.
    pub fn leave(&mut self, now: Instant, group: &str, member_id: &str) -> Option<ResponseError> {
        let Some(g) = self.groups.get_mut(group) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if g.pending.remove(member_id).is_some() {
            try_complete_join(g, &mut self.done, now);
            return None;
        }
        if !g.has(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        remove_member(g, &mut self.done, now, member_id);
        None
    }

    /// Runs the timers up to `now`: pending member ids expire, members whose
    /// session is over are removed, a join phase past its rebalance timeout
    /// ends, members that never synced are removed.
    pub fn tick(&mut self, now: Instant) {
        for g in self.groups.values_mut() {
            let before = g.pending.len();
            g.pending.retain(|_, deadline| *deadline > now);
            if g.pending.len() != before {
                try_complete_join(g, &mut self.done, now);
            }
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|m| m.expired(now))
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                log::info!("member {id} missed its session timeout; removing it");
                remove_member(g, &mut self.done, now, &id);
            }
            try_complete_join(g, &mut self.done, now);
            if g.sync_deadline.is_some_and(|d| now >= d) {
                g.sync_deadline = None;
                let lazy: Vec<String> = g
                    .members
                    .iter()
                    .filter(|m| !m.synced)
                    .map(|m| m.id.clone())
                    .collect();
                for id in lazy {
                    log::info!(
                        "member {id} sent no SyncGroup within the rebalance timeout; removing it"
                    );
                    remove_member(g, &mut self.done, now, &id);
                }
            }
        }
    }
}

/// Adds a joining member (waiting on `ticket`) and starts a rebalance.
fn add_member(
    g: &mut Group,
    done: &mut Done,
    now: Instant,
    req: JoinRequest,
    id: String,
    ticket: Ticket,
) {
    g.members.push(Member {
        id,
        client_id: req.client_id,
        client_host: req.client_host,
        session_timeout: req.session_timeout,
        rebalance_timeout: req.rebalance_timeout,
        protocols: req.protocols,
        assignment: Bytes::new(),
        last_seen: now,
        join: Some(ticket),
        sync: None,
        synced: false,
    });
    if g.protocol_type.is_none() {
        g.protocol_type = Some(req.protocol_type);
    }
    maybe_prepare_rebalance(g, done, now);
    try_complete_join(g, done, now);
}

/// Removes a member: its waiting join gets UNKNOWN_MEMBER_ID, and the group rebalances.
fn remove_member(g: &mut Group, done: &mut Done, now: Instant, id: &str) {
    let Some(i) = g.members.iter().position(|m| m.id == id) else {
        return;
    };
    let m = g.members.remove(i);
    if let Some(t) = m.join {
        done.insert(
            t,
            Reply::Join(JoinResult::error("", ResponseError::UnknownMemberId)),
        );
    }
    if let Some(t) = m.sync {
        done.insert(
            t,
            Reply::Sync(SyncResult::error(ResponseError::UnknownMemberId)),
        );
    }
    if g.is_leader(id) {
        g.leader = None;
    }
    match g.state {
        State::Stable | State::CompletingRebalance => maybe_prepare_rebalance(g, done, now),
        State::PreparingRebalance => try_complete_join(g, done, now),
        State::Empty => {}
    }
    try_complete_join(g, done, now);
}

/// Starts a join phase (members waiting for an assignment are told to rejoin).
fn maybe_prepare_rebalance(g: &mut Group, done: &mut Done, now: Instant) {
    if g.state == State::PreparingRebalance {
        return;
    }
    if g.state == State::CompletingRebalance {
        for m in &mut g.members {
            m.assignment = Bytes::new();
        }
        propagate(g, done, now, Some(ResponseError::RebalanceInProgress));
    }
    g.state = State::PreparingRebalance;
    g.sync_deadline = None;
    g.join_deadline = Some(now + g.rebalance_timeout());
}

/// Ends the join phase if every member rejoined (and no new member id is
/// pending) or the rebalance timeout passed.
fn try_complete_join(g: &mut Group, done: &mut Done, now: Instant) {
    if g.state != State::PreparingRebalance {
        return;
    }
    let all_joined = g.members.iter().all(|m| m.join.is_some()) && g.pending.is_empty();
    let timed_out = g.join_deadline.is_some_and(|d| now >= d);
    if !all_joined && !timed_out {
        return;
    }
    for m in g.members.iter().filter(|m| m.join.is_none()) {
        log::info!("member {} did not rejoin in time; removing it", m.id);
    }
    g.members.retain(|m| m.join.is_some());
    if g.leader.as_ref().is_some_and(|l| !g.has(l)) {
        g.leader = None;
    }
    g.join_deadline = None;
    g.generation += 1;
    if g.members.is_empty() {
        g.state = State::Empty;
        g.protocol = None;
        g.protocol_type = None;
        g.leader = None;
        return;
    }
    if g.leader.is_none() {
        g.leader = Some(g.members[0].id.clone());
    }
    g.protocol = g.select_protocol();
    g.state = State::CompletingRebalance;
    g.sync_deadline = Some(now + g.rebalance_timeout());
    let ids: Vec<String> = g.members.iter().map(|m| m.id.clone()).collect();
    for id in ids {
        let leader = g.is_leader(&id);
        let result = join_result(g, &id, leader);
        let m = g.member_mut(&id).expect("listed above");
        m.last_seen = now;
        m.synced = false;
        if let Some(t) = m.join.take() {
            done.insert(t, Reply::Join(result));
        }
    }
}

/// The JoinGroup answer for member `id` in the current generation.
fn join_result(g: &Group, id: &str, with_members: bool) -> JoinResult {
    let protocol = g.protocol.clone().unwrap_or_default();
    JoinResult {
        error: None,
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol: g.protocol.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        member_id: id.to_string(),
        members: if with_members {
            g.members
                .iter()
                .map(|m| (m.id.clone(), m.metadata(&protocol)))
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn sync_result(g: &Group, assignment: Bytes) -> SyncResult {
    SyncResult {
        error: None,
        protocol_type: g.protocol_type.clone(),
        protocol: g.protocol.clone(),
        assignment,
    }
}

/// Answers every waiting SyncGroup: its assignment, or `error`.
fn propagate(g: &mut Group, done: &mut Done, now: Instant, error: Option<ResponseError>) {
    let template = sync_result(g, Bytes::new());
    for m in &mut g.members {
        if let Some(t) = m.sync.take() {
            let reply = match error {
                Some(e) => SyncResult::error(e),
                None => SyncResult {
                    assignment: m.assignment.clone(),
                    ..template.clone()
                },
            };
            done.insert(t, Reply::Sync(reply));
            m.last_seen = now;
        }
    }
}
