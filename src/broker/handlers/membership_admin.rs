//! DescribeGroups and ListGroups: what the coordinator knows of each group.
//! As in Kafka, a group that only has committed offsets is a group too
//! (state Empty, protocol type ""), and an unknown group is described as Dead.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    RequestHeader,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

use crate::broker::apis::Handler;
use crate::broker::Broker;
use crate::sync::lock;

/// The group type ListGroups v5 reports for every group here.
const CLASSIC: &str = "classic";

impl Handler for DescribeGroupsRequest {
    fn handle(
        broker: &Broker,
        _: &RequestHeader,
        req: Self,
        _: i16,
    ) -> Option<DescribeGroupsResponse> {
        let mut resp = DescribeGroupsResponse::default();
        for id in req.groups {
            let has_offsets = lock(&broker.offsets).has_group(&id.0);
            let summary = broker.groups.with(|c, _| c.describe(&id.0));
            let mut d = DescribedGroup::default();
            d.authorized_operations = i32::MIN;
            match summary {
                Some(s) => {
                    d.group_state = StrBytes::from_static_str(s.state);
                    d.protocol_type = StrBytes::from_string(s.protocol_type);
                    d.protocol_data = StrBytes::from_string(s.protocol);
                    d.members = s
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut dm = DescribedGroupMember::default();
                            dm.member_id = StrBytes::from_string(m.id);
                            dm.client_id = StrBytes::from_string(m.client_id);
                            dm.client_host = StrBytes::from_string(m.client_host);
                            dm.member_metadata = m.metadata;
                            dm.member_assignment = m.assignment;
                            dm
                        })
                        .collect();
                }
                None if has_offsets => d.group_state = StrBytes::from_static_str("Empty"),
                None => d.group_state = StrBytes::from_static_str("Dead"),
            }
            d.group_id = id;
            resp.groups.push(d);
        }
        Some(resp)
    }
}

impl Handler for ListGroupsRequest {
    fn handle(broker: &Broker, _: &RequestHeader, req: Self, _: i16) -> Option<ListGroupsResponse> {
        let mut all: BTreeMap<String, (String, &'static str)> = lock(&broker.offsets)
            .groups()
            .into_iter()
            .map(|g| (g, (String::new(), "Empty")))
            .collect();
        for (id, ptype, state) in broker.groups.with(|c, _| c.list()) {
            all.insert(id, (ptype, state));
        }
        let wanted = |filter: &[StrBytes], value: &str| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
        };
        let mut resp = ListGroupsResponse::default();
        resp.error_code = super::code(None::<ResponseError>);
        for (id, (ptype, state)) in all {
            if !wanted(&req.states_filter, state) || !wanted(&req.types_filter, CLASSIC) {
                continue;
            }
            let mut g = ListedGroup::default();
            g.group_id = GroupId(StrBytes::from_string(id));
            g.protocol_type = StrBytes::from_string(ptype);
            g.group_state = StrBytes::from_static_str(state);
            g.group_type = StrBytes::from_static_str(CLASSIC);
            resp.groups.push(g);
        }
        Some(resp)
    }
}
