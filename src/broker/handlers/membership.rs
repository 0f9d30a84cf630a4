//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: decode, run the
//! coordinator's state machine (`coordinator`), encode. A JoinGroup or
//! SyncGroup that must wait (for the other members, for the leader) blocks
//! its own connection thread on the condition variable of
//! `coordinator::Groups`, waking every `coordinator::TICK` to run the
//! coordinator's timers; other connections are not held up. Static membership (`group.instance.id`) is answered
//! UNSUPPORTED_VERSION, as Kafka does where it cannot support it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, RequestHeader, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

use super::code;
use crate::broker::apis::Handler;
use crate::broker::coordinator::{
    JoinRequest, JoinResult, Outcome, Reply, SyncRequest, SyncResult,
};
use crate::broker::{connection, Broker};

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

fn text(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

impl Handler for JoinGroupRequest {
    fn handle(
        broker: &Broker,
        header: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<JoinGroupResponse> {
        let fail = |e| JoinResult {
            error: Some(e),
            generation: -1,
            member_id: req.member_id.to_string(),
            ..JoinResult::default()
        };
        let result = if req.group_id.0.is_empty() {
            fail(ResponseError::InvalidGroupId)
        } else if req.group_instance_id.is_some() {
            fail(ResponseError::UnsupportedVersion)
        } else {
            let session = millis(req.session_timeout_ms);
            let join = JoinRequest {
                group: req.group_id.0.to_string(),
                member_id: req.member_id.to_string(),
                client_id: header.client_id.as_deref().unwrap_or("").to_string(),
                client_host: connection::peer_ip().map_or(String::new(), |ip| format!("/{ip}")),
                session_timeout: session,
                rebalance_timeout: if version == 0 {
                    session
                } else {
                    millis(req.rebalance_timeout_ms)
                },
                protocol_type: req.protocol_type.to_string(),
                protocols: req
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                require_known_id: version >= 4,
            };
            match broker.groups.with(|c, now| c.join(now, join)) {
                Outcome::Done(r) => r,
                Outcome::Wait(t) => match broker.groups.wait(t, || broker.is_stopping()) {
                    Some(Reply::Join(r)) => r,
                    _ => fail(ResponseError::NotCoordinator),
                },
            }
        };
        Some(join_response(result, version))
    }
}

fn join_response(r: JoinResult, version: i16) -> JoinGroupResponse {
    let mut resp = JoinGroupResponse::default();
    resp.error_code = code(r.error);
    resp.generation_id = r.generation;
    resp.protocol_type = text(r.protocol_type);
    // Before v7 the protocol name is not nullable: Kafka sends "".
    resp.protocol_name = match (version >= 7, r.protocol) {
        (true, p) => text(p),
        (false, p) => Some(StrBytes::from_string(p.unwrap_or_default())),
    };
    resp.leader = StrBytes::from_string(r.leader);
    resp.member_id = StrBytes::from_string(r.member_id);
    resp.members = r
        .members
        .into_iter()
        .map(|(id, metadata)| {
            let mut m = JoinGroupResponseMember::default();
            m.member_id = StrBytes::from_string(id);
            m.metadata = metadata;
            m
        })
        .collect();
    resp
}

impl Handler for SyncGroupRequest {
    fn handle(broker: &Broker, _: &RequestHeader, req: Self, _: i16) -> Option<SyncGroupResponse> {
        let fail = |e| SyncResult {
            error: Some(e),
            ..SyncResult::default()
        };
        let result = if req.group_id.0.is_empty() {
            fail(ResponseError::InvalidGroupId)
        } else if req.group_instance_id.is_some() {
            fail(ResponseError::UnsupportedVersion)
        } else {
            let sync = SyncRequest {
                group: req.group_id.0.to_string(),
                generation: req.generation_id,
                member_id: req.member_id.to_string(),
                protocol_type: req.protocol_type.map(|s| s.to_string()),
                protocol: req.protocol_name.map(|s| s.to_string()),
                assignments: req
                    .assignments
                    .into_iter()
                    .map(|a| (a.member_id.to_string(), a.assignment))
                    .collect(),
            };
            match broker.groups.with(|c, now| c.sync(now, sync)) {
                Outcome::Done(r) => r,
                Outcome::Wait(t) => match broker.groups.wait(t, || broker.is_stopping()) {
                    Some(Reply::Sync(r)) => r,
                    _ => fail(ResponseError::NotCoordinator),
                },
            }
        };
        let mut resp = SyncGroupResponse::default();
        resp.error_code = code(result.error);
        resp.protocol_type = text(result.protocol_type);
        resp.protocol_name = text(result.protocol);
        resp.assignment = result.assignment;
        Some(resp)
    }
}

impl Handler for HeartbeatRequest {
    fn handle(broker: &Broker, _: &RequestHeader, req: Self, _: i16) -> Option<HeartbeatResponse> {
        let error = if req.group_id.0.is_empty() {
            Some(ResponseError::InvalidGroupId)
        } else if req.group_instance_id.is_some() {
            Some(ResponseError::UnsupportedVersion)
        } else {
            broker
                .groups
                .with(|c, now| c.heartbeat(now, &req.group_id.0, req.generation_id, &req.member_id))
        };
        let mut resp = HeartbeatResponse::default();
        resp.error_code = code(error);
        Some(resp)
    }
}

impl Handler for LeaveGroupRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<LeaveGroupResponse> {
        let mut resp = LeaveGroupResponse::default();
        if req.group_id.0.is_empty() {
            resp.error_code = code(Some(ResponseError::InvalidGroupId));
            return Some(resp);
        }
        let group = req.group_id.0.to_string();
        if version < 3 {
            let error = broker
                .groups
                .with(|c, now| c.leave(now, &group, &req.member_id));
            resp.error_code = code(error);
            return Some(resp);
        }
        resp.members = broker.groups.with(|c, now| {
            req.members
                .iter()
                .map(|m| {
                    let error = if m.group_instance_id.is_some() {
                        Some(ResponseError::UnsupportedVersion)
                    } else {
                        c.leave(now, &group, &m.member_id)
                    };
                    let mut r = MemberResponse::default();
                    r.member_id = m.member_id.clone();
                    r.group_instance_id = m.group_instance_id.clone();
                    r.error_code = code(error);
                    r
                })
                .collect()
        });
        Some(resp)
    }
}
