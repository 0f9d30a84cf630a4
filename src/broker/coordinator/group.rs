//! One consumer group as the coordinator keeps it: its state, generation,
//! members in join order, and the protocol choice Kafka makes for it.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Ticket;

/// The states of a classic Kafka group, named as Kafka names them on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No members (it may still have committed offsets).
    Empty,
    /// A rebalance began: waiting for the members to (re)join.
    PreparingRebalance,
    /// The join phase is over: waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
}

impl State {
    /// The name Kafka gives the state in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
        }
    }
}

/// One member of a group.
#[derive(Clone, Debug)]
pub struct Member {
    /// The id the coordinator gave it.
    pub id: String,
    /// The client id of its JoinGroup request.
    pub client_id: String,
    /// The address it joined from (`/IP`, as Kafka shows it).
    pub client_host: String,
    /// Without a heartbeat (or commit, or join/sync) for this long, it is removed.
    pub session_timeout: Duration,
    /// How long a rebalance waits for it to rejoin.
    pub rebalance_timeout: Duration,
    /// The protocols it supports, in its preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// What the leader assigned to it in the current generation.
    pub assignment: Bytes,
    /// When it was last heard from.
    pub last_seen: Instant,
    /// Its JoinGroup waiting for the join phase to end, if any.
    pub join: Option<Ticket>,
    /// Its SyncGroup waiting for the leader's assignment, if any.
    pub sync: Option<Ticket>,
    /// Whether it sent SyncGroup in the current generation.
    pub synced: bool,
}

impl Member {
    /// Its metadata for `protocol` (empty when it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether it joins again with exactly the protocols it has.
    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Whether its session is over at `now` (a member waiting in a join or a
    /// sync is kept alive, as Kafka does).
    pub fn expired(&self, now: Instant) -> bool {
        self.join.is_none()
            && self.sync.is_none()
            && now.saturating_duration_since(self.last_seen) >= self.session_timeout
    }
}

/// One group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Where it is in the protocol.
    pub state: State,
    /// The generation: +1 at the end of each join phase.
    pub generation: i32,
    /// The protocol type its members share (`consumer` for consumers).
    pub protocol_type: Option<String>,
    /// The protocol (assignor) chosen for the current generation.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members, in the order they joined.
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until their deadline.
    pub pending: BTreeMap<String, Instant>,
    /// When the join phase ends at the latest (PreparingRebalance).
    pub join_deadline: Option<Instant>,
    /// When members that have not sent SyncGroup are removed (after a join phase).
    pub sync_deadline: Option<Instant>,
}

impl Group {
    /// A new group with no members.
    pub fn new() -> Group {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: BTreeMap::new(),
            join_deadline: None,
            sync_deadline: None,
        }
    }

    /// The member with `id`.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The member with `id`, to change.
    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Whether `id` is a member.
    pub fn has(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    /// Whether `id` leads the group.
    pub fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// Kafka's check for a joining member: an empty group takes any
    /// non-empty protocol type and protocol list; otherwise the type must be
    /// the group's and one of the protocols must be supported by every member.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    /// Kafka's protocol choice: among the protocols every member supports,
    /// each member votes for the first in its own preference order; the most
    /// votes wins, a tie goes to the leader's preference order.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let leader = self
            .leader
            .as_deref()
            .and_then(|l| self.member(l))
            .unwrap_or(first);
        let candidates: Vec<&str> = leader
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n))
            })
            .collect();
        let votes = |name: &str| {
            self.members
                .iter()
                .filter(|m| {
                    m.protocols
                        .iter()
                        .find(|(p, _)| candidates.contains(&p.as_str()))
                        .is_some_and(|(p, _)| p == name)
                })
                .count()
        };
        let mut best: Option<(&str, usize)> = None;
        for c in &candidates {
            let v = votes(c);
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((c, v));
            }
        }
        best.map(|(name, _)| name.to_string())
    }

    /// The largest rebalance timeout of its members (Kafka's group rebalance timeout).
    pub fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}
