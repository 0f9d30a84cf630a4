//! Every advertised API and version through encode → handle → decode.
use super::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::messages::{
    ApiVersionsResponse, CreatePartitionsResponse, CreateTopicsResponse, DeleteGroupsResponse,
    DeleteTopicsResponse, DescribeClusterResponse, DescribeConfigsResponse, DescribeGroupsResponse,
    FetchResponse, FindCoordinatorResponse, GroupId, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupResponse, ListGroupsResponse, ListOffsetsResponse, MetadataResponse,
    OffsetCommitResponse, OffsetDeleteResponse, OffsetFetchResponse, ProduceResponse,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

fn broker(dir: &std::path::Path) -> Broker {
    let config = crate::broker::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise: None,
        data: None,
        topics: Vec::new(),
        auto_create_partitions: Some(3),
        max_connections: 10,
        max_request_size: 1 << 20,
        max_message_size: 1 << 20,
        segment_bytes: 1 << 20,
    };
    Broker::open(config, ("127.0.0.1".into(), 9092), dir).unwrap()
}

fn records(version: i8) -> Bytes {
    let r = Record {
        transactional: false,
        control: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(b"hello")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [r].iter(), &options).unwrap();
    buf.freeze()
}

fn produce_request(version: i16) -> ProduceRequest {
    let mut p = PartitionProduceData::default();
    p.records = Some(records(if version >= 3 { 2 } else { 0 }));
    let mut t = TopicProduceData::default();
    t.name = TopicName("t".into());
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = 1;
    r.timeout_ms = 1000;
    r.topic_data = vec![t];
    r
}

fn fetch_request() -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition_max_bytes = 1 << 16;
    let mut t = FetchTopic::default();
    t.topic = TopicName("t".into());
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.max_wait_ms = 10;
    r.min_bytes = 1;
    r.max_bytes = 1 << 20;
    r.topics = vec![t];
    r
}

fn request(key: ApiKey, version: i16) -> BytesMut {
    let name = || TopicName("t".into());
    let mut body = BytesMut::new();
    match key {
        ApiKey::Produce => produce_request(version).encode(&mut body, version).unwrap(),
        ApiKey::Fetch => fetch_request().encode(&mut body, version).unwrap(),
        ApiKey::ListOffsets => {
            let mut p = ListOffsetsPartition::default();
            p.timestamp = -1;
            if version == 0 {
                p.max_num_offsets = 1;
            }
            let mut t = ListOffsetsTopic::default();
            t.name = name();
            t.partitions = vec![p];
            let mut r = ListOffsetsRequest::default();
            r.topics = vec![t];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::Metadata => {
            let mut t = MetadataRequestTopic::default();
            t.name = Some(name());
            let mut r = MetadataRequest::default();
            r.topics = Some(vec![t]);
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::OffsetCommit => {
            let mut p = OffsetCommitRequestPartition::default();
            p.committed_offset = 1;
            let mut t = OffsetCommitRequestTopic::default();
            t.name = name();
            t.partitions = vec![p];
            let mut r = OffsetCommitRequest::default();
            r.group_id = GroupId("g".into());
            r.topics = vec![t];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::OffsetFetch => {
            let mut t = OffsetFetchRequestTopic::default();
            t.name = name();
            t.partition_indexes = vec![0];
            let mut r = OffsetFetchRequest::default();
            r.group_id = GroupId("g".into());
            r.topics = Some(vec![t]);
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            r.key = "g".into();
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::ApiVersions => ApiVersionsRequest::default()
            .encode(&mut body, version)
            .unwrap(),
        ApiKey::CreateTopics => {
            let mut t = CreatableTopic::default();
            t.name = TopicName(format!("c{version}").into());
            t.num_partitions = 2;
            t.replication_factor = 1;
            let mut r = CreateTopicsRequest::default();
            r.topics = vec![t];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::JoinGroup => {
            let mut p = JoinGroupRequestProtocol::default();
            p.name = "range".into();
            p.metadata = Bytes::from_static(b"\0\0garbage");
            let mut r = JoinGroupRequest::default();
            r.group_id = GroupId(format!("j{version}").into());
            r.session_timeout_ms = 10_000;
            r.rebalance_timeout_ms = 10_000;
            r.protocol_type = "consumer".into();
            r.protocols = vec![p];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::SyncGroup => {
            let mut a = SyncGroupRequestAssignment::default();
            a.member_id = "m".into();
            let mut r = SyncGroupRequest::default();
            r.group_id = GroupId("g".into());
            r.member_id = "m".into();
            r.assignments = vec![a];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default();
            r.group_id = GroupId("g".into());
            r.member_id = "m".into();
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupRequest::default();
            r.group_id = GroupId("g".into());
            if version < 3 {
                r.member_id = "m".into();
            } else {
                let mut m = MemberIdentity::default();
                m.member_id = "m".into();
                r.members = vec![m];
            }
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![GroupId("g".into()), GroupId("none".into())];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::ListGroups => ListGroupsRequest::default()
            .encode(&mut body, version)
            .unwrap(),
        ApiKey::DeleteTopics => {
            // CreateTopics v0-5 made c0-c5 (it comes first in the table).
            let name = TopicName(format!("c{version}").into());
            let mut r = DeleteTopicsRequest::default();
            if version >= 6 {
                let mut t = DeleteTopicState::default();
                t.name = Some(name);
                r.topics = vec![t];
            } else {
                r.topic_names = vec![name];
            }
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::DescribeConfigs => {
            let resource = |kind, name: &str| {
                let mut d = DescribeConfigsResource::default();
                d.resource_type = kind;
                d.resource_name = name.to_string().into();
                d
            };
            let mut r = DescribeConfigsRequest::default();
            r.resources = vec![resource(2, "t"), resource(4, "0"), resource(2, "none")];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::CreatePartitions => {
            let mut t = CreatePartitionsTopic::default();
            t.name = TopicName("t".into());
            t.count = 5;
            let mut r = CreatePartitionsRequest::default();
            r.topics = vec![t];
            r.validate_only = true;
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::DeleteGroups => {
            let mut r = DeleteGroupsRequest::default();
            r.groups_names = vec![GroupId("none".into())];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::OffsetDelete => {
            let mut p = OffsetDeleteRequestPartition::default();
            p.partition_index = 0;
            let mut t = OffsetDeleteRequestTopic::default();
            t.name = TopicName("t".into());
            t.partitions = vec![p];
            let mut r = OffsetDeleteRequest::default();
            r.group_id = GroupId("g".into());
            r.topics = vec![t];
            r.encode(&mut body, version).unwrap();
        }
        ApiKey::DescribeCluster => DescribeClusterRequest::default()
            .encode(&mut body, version)
            .unwrap(),
        ApiKey::InitProducerId => {
            let mut r = kafka_protocol::messages::InitProducerIdRequest::default();
            r.transactional_id = None;
            r.transaction_timeout_ms = 60_000;
            r.encode(&mut body, version).unwrap();
        }
        other => panic!("no test request for {other:?}"),
    }
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = 42;
    header.client_id = Some("test".into());
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, key.request_header_version(version))
        .unwrap();
    frame.extend_from_slice(&body);
    frame
}

/// Every advertised version of every API answers with a response that decodes.
#[test]
fn every_advertised_version_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    for api in APIS {
        for version in api.min..=api.max {
            let frame = request(api.key, version).freeze();
            let mut out = BytesMut::new();
            let written = handle(&broker, frame, &mut out)
                .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", api.key));
            assert!(written, "{:?} v{version}: no response", api.key);
            let mut resp = out.freeze();
            let size = resp.get_i32() as usize;
            assert_eq!(size, resp.len());
            let hv = api.key.response_header_version(version);
            let header = ResponseHeader::decode(&mut resp, hv).unwrap();
            assert_eq!(header.correlation_id, 42);
            let what = format!("{:?} v{version}", api.key);
            let r = &mut resp;
            let v = version;
            match api.key {
                ApiKey::Produce => {
                    let p = ProduceResponse::decode(r, v).expect(&what);
                    assert_eq!(
                        p.responses[0].partition_responses[0].error_code, 0,
                        "{what}"
                    );
                }
                ApiKey::Fetch => {
                    let f = FetchResponse::decode(r, v).expect(&what);
                    let pd = &f.responses[0].partitions[0];
                    assert_eq!(pd.error_code, 0, "{what}");
                    assert!(!pd.records.as_ref().unwrap().is_empty(), "{what}");
                }
                ApiKey::ListOffsets => drop(ListOffsetsResponse::decode(r, v).expect(&what)),
                ApiKey::Metadata => {
                    let m = MetadataResponse::decode(r, v).expect(&what);
                    assert_eq!(m.topics[0].partitions.len(), 3, "{what}");
                }
                ApiKey::OffsetCommit => {
                    let c = OffsetCommitResponse::decode(r, v).expect(&what);
                    assert_eq!(c.topics[0].partitions[0].error_code, 0, "{what}");
                }
                ApiKey::OffsetFetch => {
                    let f = OffsetFetchResponse::decode(r, v).expect(&what);
                    assert_eq!(f.topics[0].partitions[0].committed_offset, 1, "{what}");
                }
                ApiKey::FindCoordinator => {
                    drop(FindCoordinatorResponse::decode(r, v).expect(&what))
                }
                ApiKey::ApiVersions => drop(ApiVersionsResponse::decode(r, v).expect(&what)),
                ApiKey::CreateTopics => {
                    let c = CreateTopicsResponse::decode(r, v).expect(&what);
                    assert_eq!(c.topics[0].error_code, 0, "{what}");
                }
                ApiKey::JoinGroup => {
                    let j = JoinGroupResponse::decode(r, v).expect(&what);
                    // v4+ asks a new member to come back with the id it is given.
                    let want = if v >= 4 { 79 } else { 0 };
                    assert_eq!(j.error_code, want, "{what}");
                    assert!(!j.member_id.is_empty(), "{what}");
                }
                ApiKey::SyncGroup => {
                    let s = SyncGroupResponse::decode(r, v).expect(&what);
                    assert_eq!(s.error_code, 25, "{what}: UNKNOWN_MEMBER_ID");
                }
                ApiKey::Heartbeat => {
                    let h = HeartbeatResponse::decode(r, v).expect(&what);
                    assert_eq!(h.error_code, 25, "{what}: UNKNOWN_MEMBER_ID");
                }
                ApiKey::LeaveGroup => {
                    let l = LeaveGroupResponse::decode(r, v).expect(&what);
                    let e = if v < 3 {
                        l.error_code
                    } else {
                        l.members[0].error_code
                    };
                    assert_eq!(e, 25, "{what}: UNKNOWN_MEMBER_ID");
                }
                ApiKey::DescribeGroups => {
                    let d = DescribeGroupsResponse::decode(r, v).expect(&what);
                    // "g" has the offsets committed above; "none" has nothing.
                    assert_eq!(d.groups[0].group_state.as_str(), "Empty", "{what}");
                    assert_eq!(d.groups[1].group_state.as_str(), "Dead", "{what}");
                }
                ApiKey::ListGroups => {
                    let l = ListGroupsResponse::decode(r, v).expect(&what);
                    assert!(
                        l.groups.iter().any(|g| g.group_id.0.as_str() == "g"),
                        "{what}"
                    );
                }
                ApiKey::DeleteTopics => {
                    let d = DeleteTopicsResponse::decode(r, v).expect(&what);
                    let want = if v <= 5 { 0 } else { 3 };
                    assert_eq!(d.responses[0].error_code, want, "{what}");
                }
                ApiKey::DescribeConfigs => {
                    let d = DescribeConfigsResponse::decode(r, v).expect(&what);
                    let topic = &d.results[0];
                    assert_eq!(topic.error_code, 0, "{what}");
                    assert!(
                        topic
                            .configs
                            .iter()
                            .any(|c| c.name.as_str() == "retention.ms"
                                && c.value.as_deref() == Some("-1")),
                        "{what}: {topic:?}"
                    );
                    assert!(!d.results[1].configs.is_empty(), "{what}");
                    assert_eq!(d.results[2].error_code, 3, "{what}");
                }
                ApiKey::CreatePartitions => {
                    let c = CreatePartitionsResponse::decode(r, v).expect(&what);
                    assert_eq!(c.results[0].error_code, 0, "{what}");
                }
                ApiKey::DeleteGroups => {
                    let d = DeleteGroupsResponse::decode(r, v).expect(&what);
                    assert_eq!(d.results[0].error_code, 69, "{what}: GROUP_ID_NOT_FOUND");
                }
                ApiKey::OffsetDelete => {
                    let o = OffsetDeleteResponse::decode(r, v).expect(&what);
                    assert_eq!(o.error_code, 0, "{what}");
                    assert_eq!(o.topics[0].partitions[0].error_code, 0, "{what}");
                }
                ApiKey::DescribeCluster => {
                    let d = DescribeClusterResponse::decode(r, v).expect(&what);
                    assert_eq!(d.brokers.len(), 1, "{what}");
                    assert_eq!(d.cluster_id.as_str(), crate::broker::CLUSTER_ID);
                }
                ApiKey::InitProducerId => {
                    let i = kafka_protocol::messages::InitProducerIdResponse::decode(r, v)
                        .expect(&what);
                    assert_eq!((i.error_code, i.producer_epoch), (0, 0), "{what}");
                    assert!(i.producer_id.0 >= 0, "{what}");
                }
                other => panic!("no check for {other:?}"),
            }
            assert!(!resp.has_remaining(), "{what}: trailing bytes");
        }
    }
}

#[test]
fn unknown_key_and_bad_version_close_but_api_versions_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    let mut out = BytesMut::new();
    let mut frame = request(ApiKey::Metadata, 1);
    frame[0..2].copy_from_slice(&999i16.to_be_bytes());
    assert!(handle(&broker, frame.freeze(), &mut out).is_err());
    let mut frame = request(ApiKey::Metadata, 1);
    frame[2..4].copy_from_slice(&99i16.to_be_bytes());
    assert!(handle(&broker, frame.freeze(), &mut out).is_err());
    let mut frame = request(ApiKey::ApiVersions, 0);
    frame[2..4].copy_from_slice(&99i16.to_be_bytes());
    assert!(handle(&broker, frame.freeze(), &mut out).unwrap());
    let mut resp = out.freeze();
    resp.advance(4 + 4);
    let body = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, 35);
    assert_eq!(body.api_keys.len(), APIS.len());
}

/// The README's "Supported APIs" paragraph names exactly the APIs and version
/// ranges of [`APIS`], so it cannot go stale.
#[test]
fn the_readme_lists_exactly_the_served_apis() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("Supported APIs (advertised truthfully in ApiVersions):")
        .expect("the README's supported-API paragraph");
    let para = &readme[start..];
    let para = &para[para.find(':').unwrap() + 1..para.find(". Version 0").expect("end")];
    let listed: std::collections::BTreeSet<String> = para
        .split(',')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let served: std::collections::BTreeSet<String> = APIS
        .iter()
        .map(|a| format!("{:?} {}-{}", a.key, a.min, a.max))
        .collect();
    assert_eq!(
        listed, served,
        "README.md's supported APIs differ from the broker's table"
    );
}

mod arbitrary_frames;

/// Fetch v4-v11 is encoded by hand around batches sent from the files: the
/// bytes on the wire are exactly those of the `kafka-protocol` encoder, with
/// the records read into the response or spliced in by the connection.
#[test]
fn fetch_v4_direct_answers_the_bytes_of_the_generic_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path());
    // Two batches in partition 0, one in partition 1, none in 2.
    for (partition, n) in [(0, 2), (1, 1)] {
        for _ in 0..n {
            let mut req = produce_request(8);
            req.topic_data[0].partition_data[0].index = partition;
            let mut body = BytesMut::new();
            req.encode(&mut body, 8).unwrap();
            let mut header = RequestHeader::default();
            header.request_api_key = ApiKey::Produce as i16;
            header.request_api_version = 8;
            let mut frame = BytesMut::new();
            header
                .encode(&mut frame, ApiKey::Produce.request_header_version(8))
                .unwrap();
            frame.extend_from_slice(&body);
            assert!(handle(&broker, frame.freeze(), &mut BytesMut::new()).unwrap());
        }
    }
    let mut req = fetch_request();
    req.topics[0].partitions = [(0, 0), (1, 0), (2, 0), (0, 1), (9, 0)]
        .iter()
        .map(|&(partition, fetch_offset)| {
            let mut p = FetchPartition::default();
            p.partition = partition;
            p.fetch_offset = fetch_offset;
            p.partition_max_bytes = 1 << 16;
            p
        })
        .collect();
    req.max_wait_ms = 0;
    for version in 4..=crate::broker::handlers::fetch::DIRECT_MAX_VERSION {
        let mut header = RequestHeader::default();
        header.request_api_key = ApiKey::Fetch as i16;
        header.request_api_version = version;
        header.correlation_id = 7;
        let mut body = BytesMut::new();
        req.encode(&mut body, version).unwrap();
        let mut generic = BytesMut::new();
        serve::<FetchRequest>(
            &broker,
            &header,
            &mut body.clone().freeze(),
            version,
            &mut generic,
        )
        .unwrap();
        let mut frame = BytesMut::new();
        header
            .encode(&mut frame, ApiKey::Fetch.request_header_version(version))
            .unwrap();
        frame.extend_from_slice(&body);
        let frame = frame.freeze();
        let mut direct = BytesMut::new();
        assert!(handle(&broker, frame.clone(), &mut direct).unwrap());
        assert_eq!(direct, generic, "Fetch v{version}");
        // As the connection sends it: the slices spliced in at their places.
        let mut out = BytesMut::new();
        let mut files = Vec::new();
        assert!(handle_spliced(&broker, frame, &mut out, Some(&mut files)).unwrap());
        assert_eq!(
            files.len(),
            3,
            "Fetch v{version}: the three partitions with data"
        );
        let mut wire = Vec::new();
        let mut at = 0;
        for (pos, slice) in &files {
            wire.extend_from_slice(&out[at..*pos]);
            let mut bytes = vec![0u8; slice.len()];
            slice.read_into(&mut bytes).unwrap();
            wire.extend_from_slice(&bytes);
            at = *pos;
        }
        wire.extend_from_slice(&out[at..]);
        assert_eq!(wire, generic.to_vec(), "Fetch v{version}, spliced");
        let resp = FetchResponse::decode(&mut Bytes::from(wire).slice(8..), version).unwrap();
        let parts = &resp.responses[0].partitions;
        assert_eq!(parts.len(), 5);
        assert!(parts[..2]
            .iter()
            .all(|p| p.records.as_ref().unwrap().len() > 61));
        assert_eq!(parts[4].error_code, 3, "unknown partition");
    }
}
