//! The group coordinator: Kafka's classic group protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup) as a pure state machine. Every call takes
//! the time (`now`), so tests drive it with a fake clock; nothing but
//! [`Groups`] blocks, and nothing spawns.
//!
//! A group goes Empty → PreparingRebalance (members join) →
//! CompletingRebalance (the leader assigns) → Stable, and back to
//! PreparingRebalance whenever a member joins, changes its protocols, leaves
//! or misses its session timeout. The join phase ends when every known member
//! has rejoined, or when the rebalance timeout passes (members that did not
//! rejoin are removed); then the generation goes up, the first joiner leads
//! and receives every member's metadata.
//!
//! A JoinGroup or SyncGroup that must wait gets a [`Ticket`]; its answer
//! appears in [`Coordinator::take`] once the state machine has it. The
//! handlers (`handlers::membership`) wait for it on the condition variable
//! of [`Groups`] (`shared`), the coordinator as the connection threads share
//! it: the one part of this module that blocks.
//!
//! Membership lives in memory only: unlike Kafka, which writes it to
//! `__consumer_offsets`, a restarted broker starts with no members (the
//! clients rejoin); committed offsets are durable (`offsets`).
//! Static membership (`group.instance.id`) is not supported.

pub mod group;
mod ops;
pub mod shared;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

pub use group::{Group, Member, State};
pub use shared::{Groups, TICK};

/// Identifies a JoinGroup or SyncGroup waiting for its answer.
pub type Ticket = u64;

/// Kafka's `group.min.session.timeout.ms` default.
pub const MIN_SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// Kafka's `group.max.session.timeout.ms` default.
pub const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A JoinGroup, decoded.
#[derive(Clone, Debug, Default)]
pub struct JoinRequest {
    /// The group.
    pub group: String,
    /// The member id; empty for a new member.
    pub member_id: String,
    /// The client id of the request header.
    pub client_id: String,
    /// The client's address (`/IP`).
    pub client_host: String,
    /// The session timeout asked for.
    pub session_timeout: Duration,
    /// The rebalance timeout asked for.
    pub rebalance_timeout: Duration,
    /// The protocol type (`consumer`).
    pub protocol_type: String,
    /// Protocol names and metadata, in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Whether a new member first gets MEMBER_ID_REQUIRED (JoinGroup v4+).
    pub require_known_id: bool,
}

/// The answer to a JoinGroup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JoinResult {
    /// The error, if any.
    pub error: Option<ResponseError>,
    /// The generation the member is in.
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The member's id.
    pub member_id: String,
    /// Every member's id and metadata (for the leader only).
    pub members: Vec<(String, Bytes)>,
}

impl JoinResult {
    fn error(member_id: &str, e: ResponseError) -> JoinResult {
        JoinResult {
            error: Some(e),
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinResult::default()
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncResult {
    /// The error, if any.
    pub error: Option<ResponseError>,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(e: ResponseError) -> SyncResult {
        SyncResult {
            error: Some(e),
            ..SyncResult::default()
        }
    }
}

/// A SyncGroup, decoded.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    /// The group.
    pub group: String,
    /// The member's generation.
    pub generation: i32,
    /// The member id.
    pub member_id: String,
    /// The protocol type the member believes in (v5+).
    pub protocol_type: Option<String>,
    /// The protocol the member believes in (v5+).
    pub protocol: Option<String>,
    /// The leader's assignment per member id (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

/// Either an answer now, or a ticket to wait on.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T> {
    /// The answer.
    Done(T),
    /// The answer comes later, through [`Coordinator::take`].
    Wait(Ticket),
}

/// An answer a waiting request receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// To a JoinGroup.
    Join(JoinResult),
    /// To a SyncGroup.
    Sync(SyncResult),
}

/// What DescribeGroups shows of a member.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberSummary {
    /// Member id.
    pub id: String,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Its metadata for the chosen protocol (Stable only, as Kafka).
    pub metadata: Bytes,
    /// Its assignment (Stable only, as Kafka).
    pub assignment: Bytes,
}

/// What DescribeGroups and ListGroups show of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The state's name.
    pub state: &'static str,
    /// The protocol type ("" when none).
    pub protocol_type: String,
    /// The chosen protocol ("" unless Stable, as Kafka).
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberSummary>,
}

/// Every group's membership.
pub struct Coordinator {
    groups: BTreeMap<String, Group>,
    done: HashMap<Ticket, Reply>,
    next_ticket: Ticket,
    next_member: u64,
    nonce: u64,
    min_session: Duration,
    max_session: Duration,
}

impl Default for Coordinator {
    fn default() -> Self {
        Coordinator::new(MIN_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT)
    }
}

impl Coordinator {
    /// A coordinator accepting session timeouts in `min..=max`.
    pub fn new(min_session: Duration, max_session: Duration) -> Coordinator {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Coordinator {
            groups: BTreeMap::new(),
            done: HashMap::new(),
            next_ticket: 1,
            next_member: 1,
            nonce,
            min_session,
            max_session,
        }
    }

    /// The answer for `ticket`, once there is one (taken: asked once).
    pub fn take(&mut self, ticket: Ticket) -> Option<Reply> {
        self.done.remove(&ticket)
    }

    /// How many answers wait to be taken (grows when waiting requests are answered).
    pub fn answers_waiting(&self) -> usize {
        self.done.len()
    }

    /// Gives up waiting on `ticket` (the broker stops): the member no longer
    /// counts as waiting, and a later answer is dropped.
    pub fn abandon(&mut self, ticket: Ticket) {
        self.done.remove(&ticket);
        for g in self.groups.values_mut() {
            for m in &mut g.members {
                if m.join == Some(ticket) {
                    m.join = None;
                }
                if m.sync == Some(ticket) {
                    m.sync = None;
                }
            }
        }
    }

    /// The group, if it has ever had a member since the broker started.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// What DescribeGroups shows of a group the coordinator knows.
    pub fn describe(&self, id: &str) -> Option<Summary> {
        let g = self.groups.get(id)?;
        let stable = g.state == State::Stable;
        let protocol = g.protocol.clone().filter(|_| stable).unwrap_or_default();
        let members = g
            .members
            .iter()
            .map(|m| MemberSummary {
                id: m.id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        Some(Summary {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        })
    }

    /// Every group: id, protocol type ("" when none), state name.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        self.groups
            .iter()
            .map(|(id, g)| {
                let ptype = g.protocol_type.clone().unwrap_or_default();
                (id.clone(), ptype, g.state.name())
            })
            .collect()
    }

    /// Forgets a group that has no members (DeleteGroups): NON_EMPTY_GROUP
    /// while it has some. Returns whether the coordinator knew it.
    pub fn remove_group(&mut self, id: &str) -> Result<bool, ResponseError> {
        match self.groups.get(id) {
            Some(g) if !g.members.is_empty() => Err(ResponseError::NonEmptyGroup),
            Some(_) => Ok(self.groups.remove(id).is_some()),
            None => Ok(false),
        }
    }

    /// Whose offsets OffsetDelete may not delete: `Ok(topics)` the members of
    /// a consumer group subscribe to (none when it has no members); for a
    /// group with members of another protocol type, NON_EMPTY_GROUP.
    pub fn subscribed_topics(&self, id: &str) -> Result<BTreeSet<String>, ResponseError> {
        let Some(g) = self.groups.get(id).filter(|g| !g.members.is_empty()) else {
            return Ok(BTreeSet::new());
        };
        if g.protocol_type.as_deref() != Some("consumer") {
            return Err(ResponseError::NonEmptyGroup);
        }
        let mut topics = BTreeSet::new();
        for m in &g.members {
            for (_, metadata) in &m.protocols {
                topics.extend(subscription_topics(metadata).unwrap_or_default());
            }
        }
        Ok(topics)
    }

    /// Whether commits to `group` with `generation` and `member_id` are
    /// accepted now (Kafka's checks); `has_offsets` tells whether the group
    /// has committed offsets (for Kafka, such a group exists, Empty).
    pub fn check_commit(
        &mut self,
        now: Instant,
        group: &str,
        generation: i32,
        member_id: &str,
        has_offsets: impl FnOnce() -> bool,
    ) -> Option<ResponseError> {
        let Some(g) = self.groups.get_mut(group) else {
            return if generation < 0 {
                None
            } else if has_offsets() {
                Some(ResponseError::UnknownMemberId)
            } else {
                Some(ResponseError::IllegalGeneration)
            };
        };
        if generation < 0 && g.state == State::Empty {
            return None;
        }
        let state = g.state;
        let group_generation = g.generation;
        let Some(m) = g.member_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        if generation != group_generation {
            return Some(ResponseError::IllegalGeneration);
        }
        match state {
            State::CompletingRebalance => Some(ResponseError::RebalanceInProgress),
            _ => {
                m.last_seen = now;
                None
            }
        }
    }

    fn ticket(&mut self) -> Ticket {
        let t = self.next_ticket;
        self.next_ticket += 1;
        t
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        let n = self.next_member;
        self.next_member += 1;
        let mixed = (self.nonce ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).rotate_left(17);
        format!("{client_id}-{n:04}-{mixed:016x}")
    }
}

/// The topics of a consumer's subscription (Kafka's ConsumerProtocolSubscription:
/// version i16, then the topics as an i32-counted array of i16-length strings,
/// in every version); `None` when the bytes are not one.
pub fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut rest = metadata.get(2..)?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        rest = tail;
        Some(head)
    };
    let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let name = take(usize::try_from(len).ok()?)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
    }
    Some(topics)
}
