//! `braid consume --subscribe`: the supervisor as one member of a Kafka
//! consumer group (the classic protocol: FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup; protocol type `consumer` with the
//! standard assignors), so that Java, kafka-python and librdkafka members can
//! share the group with it.
//!
//! The supervisor stays single-threaded: it calls [`GroupMember::heartbeat`]
//! from its poll loop and, when the group rebalances, stops its workers (each
//! commits what it processed with the generation it was given), then calls
//! [`GroupMember::join`] again. Workers commit with the generation and member
//! id handed down at fork ([`Generation`], [`commit::GroupCommitter`]): the
//! kafka crate cannot send them, and Kafka refuses generation −1 from a
//! group with live members and fences an old generation.

pub mod assignor;
pub mod commit;

use anyhow::{anyhow, bail, Context, Result};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use self::assignor::Assignor;
use crate::client::{consumer_protocol, Conn, IO_TIMEOUT};

/// Kafka error codes the membership reacts to.
mod code {
    pub(crate) const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub(crate) const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub(crate) const NOT_COORDINATOR: i16 = 16;
    pub(crate) const ILLEGAL_GENERATION: i16 = 22;
    pub(crate) const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub(crate) const UNKNOWN_MEMBER_ID: i16 = 25;
    pub(crate) const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub(crate) const REBALANCE_IN_PROGRESS: i16 = 27;
    pub(crate) const MEMBER_ID_REQUIRED: i16 = 79;
}

/// How this member takes part in its group.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// Bootstrap brokers.
    pub brokers: Vec<String>,
    /// The group.
    pub group: String,
    /// The one topic this member subscribes to.
    pub topic: String,
    /// Without a heartbeat for this long, the coordinator drops the member.
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin in a rebalance.
    pub rebalance_timeout: Duration,
    /// How often the supervisor heartbeats.
    pub heartbeat_interval: Duration,
    /// The assignor this member prefers (the other standard one is offered too).
    pub assignor: Assignor,
}

/// A generation of the group as a worker needs it to commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Generation {
    /// The generation id.
    pub id: i32,
    /// This member's id in it.
    pub member_id: String,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulse {
    /// All is well: keep going.
    Steady,
    /// The group is rebalancing (or dropped us): stop the workers, then rejoin.
    Rejoin,
}

/// This process as a member of its group.
pub struct GroupMember {
    cfg: GroupConfig,
    conn: Option<Conn>,
    versions: Versions,
    generation: Generation,
    next_heartbeat: Instant,
}

/// The newest version of `key` both we (up to `ours`) and the broker speak.
fn version(versions: &BTreeMap<i16, (i16, i16)>, key: ApiKey, ours: i16) -> Result<i16> {
    let (lo, hi) = versions
        .get(&(key as i16))
        .copied()
        .ok_or_else(|| anyhow!("the broker does not support {key:?} (consumer groups)"))?;
    let v = hi.min(ours);
    if v < lo {
        bail!("the broker needs {key:?} v{lo}+, braid speaks up to v{ours}");
    }
    Ok(v)
}

/// A broker's API versions: key → (min, max).
type Versions = BTreeMap<i16, (i16, i16)>;

/// Asks any of `brokers` for `group`'s coordinator (FindCoordinator) and
/// connects to it; returns the connection and the coordinator's API versions.
pub(crate) fn find_coordinator(brokers: &[String], group: &str) -> Result<(Conn, Versions)> {
    let mut any = Conn::connect_any(brokers)?;
    let versions = any.api_versions()?;
    let mut req = FindCoordinatorRequest::default();
    req.key = str_bytes(group);
    let resp = any.call(&req, version(&versions, ApiKey::FindCoordinator, 3)?)?;
    if resp.error_code != 0 {
        bail!(
            "FindCoordinator for group '{group}' failed with error {}",
            resp.error_code
        );
    }
    let addr = format!("{}:{}", resp.host, resp.port);
    let mut conn = Conn::connect(&addr).with_context(|| format!("group coordinator {addr}"))?;
    conn.set_client_id(&crate::client::group_client_id());
    let versions = conn.api_versions()?;
    Ok((conn, versions))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl GroupMember {
    /// A member of `cfg.group` that has not joined yet.
    pub fn new(cfg: GroupConfig) -> GroupMember {
        GroupMember {
            cfg,
            conn: None,
            versions: BTreeMap::new(),
            generation: Generation {
                id: -1,
                member_id: String::new(),
            },
            next_heartbeat: Instant::now(),
        }
    }

    /// The current generation (id −1 before the first join).
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// When the next heartbeat is due.
    pub fn next_heartbeat(&self) -> Instant {
        self.next_heartbeat
    }

    /// Finds the group coordinator and connects to it.
    fn coordinator(&mut self) -> Result<&mut Conn> {
        if self.conn.is_none() {
            let (conn, versions) = find_coordinator(&self.cfg.brokers, &self.cfg.group)?;
            self.versions = versions;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Joins (or rejoins) the group and returns this member's partitions of
    /// the topic. Retries what Kafka says to retry until `deadline`.
    pub fn join(&mut self, deadline: Instant) -> Result<Vec<i32>> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.join_once() {
                Ok(Some(partitions)) => {
                    self.next_heartbeat = Instant::now() + self.cfg.heartbeat_interval;
                    return Ok(partitions);
                }
                Ok(None) => continue,
                Err(e) if Instant::now() + backoff < deadline => {
                    log::warn!("group '{}': {e:#}; retrying", self.cfg.group);
                    self.conn = None;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One JoinGroup + SyncGroup round; `None` when it must be repeated at
    /// once (a member id to use, or a rebalance that started meanwhile).
    fn join_once(&mut self) -> Result<Option<Vec<i32>>> {
        let join = self.send_join()?;
        match join.error_code {
            0 => {}
            code::MEMBER_ID_REQUIRED | code::UNKNOWN_MEMBER_ID | code::ILLEGAL_GENERATION => {
                self.generation.member_id = if join.error_code == code::MEMBER_ID_REQUIRED {
                    join.member_id.to_string()
                } else {
                    String::new()
                };
                return Ok(None);
            }
            code::INCONSISTENT_GROUP_PROTOCOL => bail!(
                "group '{}' is used by members of another kind (not consumers using range or roundrobin); use another group (-g)",
                self.cfg.group
            ),
            code::INVALID_SESSION_TIMEOUT => bail!(
                "the broker refuses --session-timeout {:?} (Kafka allows group.min.session.timeout.ms..group.max.session.timeout.ms, 6 s..30 min by default)",
                self.cfg.session_timeout
            ),
            code::COORDINATOR_LOAD_IN_PROGRESS
            | code::COORDINATOR_NOT_AVAILABLE
            | code::NOT_COORDINATOR => bail!("JoinGroup: coordinator not ready (error {})", join.error_code),
            other => bail!("JoinGroup for group '{}' failed with error {other}", self.cfg.group),
        }
        self.generation = Generation {
            id: join.generation_id,
            member_id: join.member_id.to_string(),
        };
        let assignments = if join.leader == join.member_id {
            self.lead(&join)?
        } else {
            Vec::new()
        };
        self.sync(&join, assignments)
    }

    fn send_join(&mut self) -> Result<JoinGroupResponse> {
        let cfg = self.cfg.clone();
        let member_id = self.generation.member_id.clone();
        self.coordinator()?;
        let v = version(&self.versions, ApiKey::JoinGroup, 7)?;
        let meta = consumer_protocol::encode_subscription(std::slice::from_ref(&cfg.topic))?;
        let other = match cfg.assignor {
            Assignor::Range => Assignor::RoundRobin,
            Assignor::RoundRobin => Assignor::Range,
        };
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(str_bytes(&cfg.group));
        req.session_timeout_ms = cfg.session_timeout.as_millis() as i32;
        if v >= 1 {
            req.rebalance_timeout_ms = cfg.rebalance_timeout.as_millis() as i32;
        }
        req.member_id = str_bytes(&member_id);
        req.protocol_type = StrBytes::from_static_str("consumer");
        req.protocols = [cfg.assignor, other]
            .iter()
            .map(|a| {
                let mut p = JoinGroupRequestProtocol::default();
                p.name = StrBytes::from_static_str(a.name());
                p.metadata = meta.clone();
                p
            })
            .collect();
        let conn = self.conn.as_mut().expect("connected");
        // JoinGroup waits for the other members, up to the rebalance timeout.
        conn.set_read_timeout(cfg.rebalance_timeout + Duration::from_secs(5))?;
        let resp = conn.call(&req, v);
        conn.set_read_timeout(IO_TIMEOUT)?;
        resp
    }

    /// As the leader: run the group's chosen assignor over every member.
    fn lead(&mut self, join: &JoinGroupResponse) -> Result<Vec<SyncGroupRequestAssignment>> {
        let protocol = join
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let assignor = Assignor::by_name(&protocol).ok_or_else(|| {
            anyhow!("the group chose assignor '{protocol}', which braid does not implement")
        })?;
        let mut members = BTreeMap::new();
        for m in &join.members {
            let topics =
                consumer_protocol::decode_subscription(m.metadata.clone()).unwrap_or_else(|e| {
                    log::warn!("group member {}: {e}; assigning it nothing", m.member_id);
                    Vec::new()
                });
            members.insert(m.member_id.to_string(), topics);
        }
        let topics: Vec<String> = {
            let mut t: Vec<String> = members.values().flatten().cloned().collect();
            t.sort();
            t.dedup();
            t
        };
        let partitions = crate::client::admin::partition_ids(&self.cfg.brokers, &topics)?;
        let plan = assignor.assign(&partitions, &members);
        log::info!(
            "group '{}' generation {}: leader's plan {plan:?}",
            self.cfg.group,
            join.generation_id
        );
        plan.iter()
            .map(|(m, topics)| {
                let mut a = SyncGroupRequestAssignment::default();
                a.member_id = str_bytes(m);
                a.assignment = consumer_protocol::encode_assignment(topics)?;
                Ok(a)
            })
            .collect()
    }

    fn sync(
        &mut self,
        join: &JoinGroupResponse,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> Result<Option<Vec<i32>>> {
        let v = version(&self.versions, ApiKey::SyncGroup, 5)?;
        let mut req = SyncGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.cfg.group));
        req.generation_id = join.generation_id;
        req.member_id = join.member_id.clone();
        if v >= 5 {
            req.protocol_type = Some(StrBytes::from_static_str("consumer"));
            req.protocol_name = join.protocol_name.clone();
        }
        req.assignments = assignments;
        let rebalance = self.cfg.rebalance_timeout;
        let conn = self.coordinator()?;
        conn.set_read_timeout(rebalance + Duration::from_secs(5))?;
        let resp = conn.call(&req, v);
        conn.set_read_timeout(IO_TIMEOUT)?;
        let resp = resp?;
        match resp.error_code {
            0 => {}
            code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION => return Ok(None),
            code::UNKNOWN_MEMBER_ID => {
                self.generation.member_id.clear();
                return Ok(None);
            }
            other => bail!(
                "SyncGroup for group '{}' failed with error {other}",
                self.cfg.group
            ),
        }
        let mine = consumer_protocol::decode_assignment(resp.assignment)?;
        let mut partitions = mine.get(&self.cfg.topic).cloned().unwrap_or_default();
        partitions.sort_unstable();
        log::info!(
            "group '{}' generation {}: member {} has partitions {partitions:?}",
            self.cfg.group,
            self.generation.id,
            self.generation.member_id
        );
        Ok(Some(partitions))
    }

    /// Sends a heartbeat if one is due; says whether to rejoin.
    pub fn heartbeat(&mut self) -> Result<Pulse> {
        if Instant::now() < self.next_heartbeat {
            return Ok(Pulse::Steady);
        }
        self.next_heartbeat = Instant::now() + self.cfg.heartbeat_interval;
        let group = self.cfg.group.clone();
        let generation = self.generation.clone();
        if let Err(e) = self.coordinator() {
            log::warn!("group '{group}': heartbeat: {e:#}");
            return Ok(Pulse::Rejoin);
        }
        let v = version(&self.versions, ApiKey::Heartbeat, 4)?;
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(str_bytes(&group));
        req.generation_id = generation.id;
        req.member_id = str_bytes(&generation.member_id);
        let resp = match self.conn.as_mut().expect("connected").call(&req, v) {
            Ok(r) => r,
            Err(e) => {
                log::warn!("group '{group}': heartbeat failed: {e:#}");
                self.conn = None;
                return Ok(Pulse::Rejoin);
            }
        };
        match resp.error_code {
            0 => Ok(Pulse::Steady),
            code::UNKNOWN_MEMBER_ID => {
                self.generation.member_id.clear();
                Ok(Pulse::Rejoin)
            }
            code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION => Ok(Pulse::Rejoin),
            code::NOT_COORDINATOR | code::COORDINATOR_NOT_AVAILABLE => {
                self.conn = None;
                Ok(Pulse::Rejoin)
            }
            other => {
                log::warn!("group '{group}': heartbeat error {other}; rejoining");
                Ok(Pulse::Rejoin)
            }
        }
    }

    /// Leaves the group so that the others take over at once (not after the
    /// session timeout). Best effort: a failure is only logged.
    pub fn leave(&mut self) {
        if self.generation.member_id.is_empty() {
            return;
        }
        let group = self.cfg.group.clone();
        let member = self.generation.member_id.clone();
        let result = (|| -> Result<()> {
            self.coordinator()?;
            let v = version(&self.versions, ApiKey::LeaveGroup, 4)?;
            let mut req = LeaveGroupRequest::default();
            req.group_id = GroupId(str_bytes(&group));
            if v >= 3 {
                let mut m = MemberIdentity::default();
                m.member_id = str_bytes(&member);
                req.members = vec![m];
            } else {
                req.member_id = str_bytes(&member);
            }
            let resp = self.conn.as_mut().expect("connected").call(&req, v)?;
            if resp.error_code != 0 {
                bail!("error {}", resp.error_code);
            }
            Ok(())
        })();
        match result {
            Ok(()) => log::info!("group '{group}': member {member} left"),
            Err(e) => log::warn!("group '{group}': LeaveGroup failed: {e:#}"),
        }
        self.generation = Generation {
            id: -1,
            member_id: String::new(),
        };
    }
}
