//! A consumer group's state and members, as `kafka-consumer-groups
//! --describe --members` shows them: FindCoordinator, then DescribeGroups to
//! the coordinator (over [`Conn`]), each member's ConsumerProtocol
//! assignment decoded with [`decode_assignment`].

use anyhow::{anyhow, bail, Context as _, Result};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, GroupId,
};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::client::consumer_protocol::decode_assignment;
use crate::client::{pick_version, Conn};

/// The highest FindCoordinator version asked for (v4+ batches keys).
const FIND_COORDINATOR_MAX: i16 = 3;
/// The highest DescribeGroups version asked for.
const DESCRIBE_GROUPS_MAX: i16 = 5;
/// How long to retry while the coordinator loads or moves.
const RETRY_FOR: Duration = Duration::from_secs(15);

/// What DescribeGroups says of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDescription {
    /// The group.
    pub group: String,
    /// Empty, PreparingRebalance, CompletingRebalance, Stable or Dead.
    pub state: String,
    /// `consumer` for consumer groups ("" for a group with only commits).
    pub protocol_type: String,
    /// The assignor the group chose (`range`, `roundrobin`, ...).
    pub protocol: String,
    /// Its members, sorted by member id.
    pub members: Vec<GroupMemberInfo>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberInfo {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The client id it connected with.
    pub client_id: String,
    /// The host it connected from.
    pub host: String,
    /// Its assigned partitions per topic (empty while rebalancing).
    pub assignment: BTreeMap<String, Vec<i32>>,
}

impl GroupMemberInfo {
    /// Its partitions of `topic`.
    pub fn partitions_of(&self, topic: &str) -> &[i32] {
        self.assignment.get(topic).map_or(&[], |p| p.as_slice())
    }
}

/// Kafka error codes retried while the coordinator loads or moves.
fn retriable(code: i16) -> bool {
    matches!(code, 14..=16)
}

/// Describes `group` on the cluster behind `brokers`.
pub fn describe_group(brokers: &[String], group: &str) -> Result<GroupDescription> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        match describe_once(brokers, group)? {
            Ok(d) => return Ok(d),
            Err(code) if Instant::now() < deadline => {
                log::debug!("group '{group}': error {code}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(code) => bail!("cannot describe group '{group}': coordinator error {code}"),
        }
    }
}

/// One attempt: the description, or a retriable error code.
fn describe_once(brokers: &[String], group: &str) -> Result<Result<GroupDescription, i16>> {
    let mut any = Conn::connect_any(brokers)?;
    let versions = any.api_versions()?;
    let find_v = pick_version(&versions, ApiKey::FindCoordinator, FIND_COORDINATOR_MAX)
        .ok_or_else(|| anyhow!("{} does not support FindCoordinator", any.addr))?;
    let mut req = FindCoordinatorRequest::default();
    req.key = StrBytes::from_string(group.to_string());
    let found = any.call(&req, find_v)?;
    if retriable(found.error_code) {
        return Ok(Err(found.error_code));
    }
    if found.error_code != 0 {
        bail!(
            "FindCoordinator for group '{group}' failed with error {}",
            found.error_code
        );
    }
    let addr = format!("{}:{}", found.host, found.port);
    let mut conn = if addr == any.addr {
        any
    } else {
        Conn::connect(&addr).with_context(|| format!("group coordinator {addr}"))?
    };
    let versions = conn.api_versions()?;
    let v = pick_version(&versions, ApiKey::DescribeGroups, DESCRIBE_GROUPS_MAX)
        .ok_or_else(|| anyhow!("{addr} does not support DescribeGroups"))?;
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(StrBytes::from_string(group.to_string()))];
    let resp = conn.call(&req, v)?;
    from_response(group, resp)
}

/// The description in a DescribeGroups response.
fn from_response(
    group: &str,
    resp: DescribeGroupsResponse,
) -> Result<Result<GroupDescription, i16>> {
    let g = resp
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("DescribeGroups answered without group '{group}'"))?;
    if retriable(g.error_code) {
        return Ok(Err(g.error_code));
    }
    if g.error_code != 0 {
        bail!(
            "DescribeGroups for '{group}' failed with error {}",
            g.error_code
        );
    }
    let mut members: Vec<GroupMemberInfo> = g
        .members
        .into_iter()
        .map(|m| GroupMemberInfo {
            assignment: decode_assignment(m.member_assignment).unwrap_or_else(|e| {
                log::warn!("member {}: {e:#}", m.member_id.as_str());
                BTreeMap::new()
            }),
            member_id: m.member_id.to_string(),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
        })
        .collect();
    members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    Ok(Ok(GroupDescription {
        group: group.to_string(),
        state: g.group_state.to_string(),
        protocol_type: g.protocol_type.to_string(),
        protocol: g.protocol_data.to_string(),
        members,
    }))
}
