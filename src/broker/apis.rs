//! The one table of supported APIs: key, version range, handler. It drives
//! both dispatch and the ApiVersions answer, so what is advertised is exactly
//! what is served. Header and body versions come from `kafka-protocol`.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, FetchRequest,
    FindCoordinatorRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request};

use super::wire::{write_response, ConnError};
use super::Broker;

/// A request type the broker serves: its handler returns the response, or
/// `None` when none is sent (Produce with acks=0).
pub trait Handler: Request {
    /// Handles one decoded request of `version`.
    fn handle(
        broker: &Broker,
        header: &RequestHeader,
        req: Self,
        version: i16,
    ) -> Option<Self::Response>;
}

type Serve = fn(&Broker, &RequestHeader, &mut Bytes, i16, &mut BytesMut) -> Result<bool, ConnError>;

/// One supported API: key, version range, and the function that serves it.
pub struct Api {
    /// The API key.
    pub key: ApiKey,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served.
    pub max: i16,
    serve: Serve,
}

/// Every API the broker serves, and the versions it serves of each.
pub const APIS: &[Api] = &[
    Api {
        key: ApiKey::Produce,
        min: 0,
        max: 8,
        serve: serve::<ProduceRequest>,
    },
    Api {
        key: ApiKey::Fetch,
        min: 0,
        max: 11,
        serve: serve::<FetchRequest>,
    },
    Api {
        key: ApiKey::ListOffsets,
        min: 0,
        max: 5,
        serve: serve::<ListOffsetsRequest>,
    },
    Api {
        key: ApiKey::Metadata,
        min: 0,
        max: 9,
        serve: serve::<MetadataRequest>,
    },
    Api {
        key: ApiKey::OffsetCommit,
        min: 0,
        max: 8,
        serve: serve::<OffsetCommitRequest>,
    },
    Api {
        key: ApiKey::OffsetFetch,
        min: 0,
        max: 7,
        serve: serve::<OffsetFetchRequest>,
    },
    Api {
        key: ApiKey::FindCoordinator,
        min: 0,
        max: 3,
        serve: serve::<FindCoordinatorRequest>,
    },
    Api {
        key: ApiKey::ApiVersions,
        min: 0,
        max: 3,
        serve: serve::<ApiVersionsRequest>,
    },
    Api {
        key: ApiKey::CreateTopics,
        min: 0,
        max: 5,
        serve: serve::<CreateTopicsRequest>,
    },
];

/// The ApiVersions answer: every API of the table with its range, and `error_code`.
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = error_code;
    resp.api_keys = APIS
        .iter()
        .map(|a| {
            let mut v = ApiVersion::default();
            v.api_key = a.key as i16;
            v.min_version = a.min;
            v.max_version = a.max;
            v
        })
        .collect();
    resp
}

impl Handler for ApiVersionsRequest {
    fn handle(_: &Broker, _: &RequestHeader, _: Self, _: i16) -> Option<ApiVersionsResponse> {
        Some(api_versions_response(0))
    }
}

/// Decodes a request of type `R`, runs its handler, encodes the response into `out`.
fn serve<R: Handler>(
    broker: &Broker,
    header: &RequestHeader,
    body: &mut Bytes,
    version: i16,
    out: &mut BytesMut,
) -> Result<bool, ConnError> {
    let req = R::decode(body, version).map_err(|e| {
        ConnError::Protocol(format!(
            "cannot decode {:?} v{version}: {e}",
            header.request_api_key
        ))
    })?;
    match R::handle(broker, header, req, version) {
        Some(resp) => {
            let hv = R::Response::header_version(version);
            write_response(out, header.correlation_id, &resp, version, hv)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Handles one request frame, writing the response (if any) to `out`.
/// Returns whether a response was written; an error closes the connection.
pub fn handle(broker: &Broker, mut frame: Bytes, out: &mut BytesMut) -> Result<bool, ConnError> {
    if frame.len() < 8 {
        return Err(ConnError::Protocol(format!(
            "request of {} bytes is too short",
            frame.len()
        )));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Some(api) = APIS.iter().find(|a| a.key as i16 == key) else {
        return Err(ConnError::Protocol(format!("unsupported API key {key}")));
    };
    if version < api.min || version > api.max {
        if api.key == ApiKey::ApiVersions {
            // Kafka answers with a v0 response carrying UNSUPPORTED_VERSION and
            // the version list, so the client can retry with one it shares.
            let resp = api_versions_response(35);
            write_response(out, correlation_id, &resp, 0, 0)?;
            return Ok(true);
        }
        return Err(ConnError::Protocol(format!(
            "{:?} v{version} is not supported (v{}-{})",
            api.key, api.min, api.max
        )));
    }
    let hv = api.key.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, hv)
        .map_err(|e| ConnError::Protocol(format!("bad request header: {e}")))?;
    let written = (api.serve)(broker, &header, &mut frame, version, out)?;
    if frame.has_remaining() {
        log::debug!(
            "{:?} v{version}: {} trailing bytes ignored",
            api.key,
            frame.remaining()
        );
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ResponseHeader;
    use kafka_protocol::messages::{
        ApiVersionsResponse, CreateTopicsResponse, FetchResponse, FindCoordinatorResponse, GroupId,
        ListOffsetsResponse, MetadataResponse, OffsetCommitResponse, OffsetFetchResponse,
        ProduceResponse, TopicName,
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
}
