//! The one table of supported APIs: key, version range, handler. It drives
//! both dispatch and the ApiVersions answer, so what is advertised is exactly
//! what is served. Header and body versions come from `kafka-protocol`.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, ProduceRequest, RequestHeader, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request};

use super::handlers::fetch;
use super::partition_log::ReadSlice;
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
        key: ApiKey::JoinGroup,
        min: 0,
        max: 9,
        serve: serve::<JoinGroupRequest>,
    },
    Api {
        key: ApiKey::Heartbeat,
        min: 0,
        max: 4,
        serve: serve::<HeartbeatRequest>,
    },
    Api {
        key: ApiKey::LeaveGroup,
        min: 0,
        max: 5,
        serve: serve::<LeaveGroupRequest>,
    },
    Api {
        key: ApiKey::SyncGroup,
        min: 0,
        max: 5,
        serve: serve::<SyncGroupRequest>,
    },
    Api {
        key: ApiKey::DescribeGroups,
        min: 0,
        max: 5,
        serve: serve::<DescribeGroupsRequest>,
    },
    Api {
        key: ApiKey::ListGroups,
        min: 0,
        max: 5,
        serve: serve::<ListGroupsRequest>,
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
    Api {
        key: ApiKey::DeleteTopics,
        min: 0,
        max: 6,
        serve: serve::<DeleteTopicsRequest>,
    },
    Api {
        key: ApiKey::DescribeConfigs,
        min: 0,
        max: 4,
        serve: serve::<DescribeConfigsRequest>,
    },
    Api {
        key: ApiKey::CreatePartitions,
        min: 0,
        max: 3,
        serve: serve::<CreatePartitionsRequest>,
    },
    Api {
        key: ApiKey::DeleteGroups,
        min: 0,
        max: 2,
        serve: serve::<DeleteGroupsRequest>,
    },
    Api {
        key: ApiKey::OffsetDelete,
        min: 0,
        max: 0,
        serve: serve::<OffsetDeleteRequest>,
    },
    Api {
        key: ApiKey::DescribeCluster,
        min: 0,
        max: 1,
        serve: serve::<DescribeClusterRequest>,
    },
    Api {
        key: ApiKey::InitProducerId,
        min: 0,
        max: 4,
        serve: serve::<InitProducerIdRequest>,
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
pub fn handle(broker: &Broker, frame: Bytes, out: &mut BytesMut) -> Result<bool, ConnError> {
    handle_spliced(broker, frame, out, None)
}

/// As [`handle`], but the record bytes Fetch v4+ serves straight from the
/// log are left out of `out`: their places in it and their file slices are
/// pushed to `files`, for the connection to send from the files (`sendfile`).
pub fn handle_spliced(
    broker: &Broker,
    mut frame: Bytes,
    out: &mut BytesMut,
    files: Option<&mut Vec<(usize, ReadSlice)>>,
) -> Result<bool, ConnError> {
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
    let written = if api.key == ApiKey::Fetch && (4..=fetch::DIRECT_MAX_VERSION).contains(&version)
    {
        let req = FetchRequest::decode(&mut frame, version)
            .map_err(|e| ConnError::Protocol(format!("cannot decode Fetch v{version}: {e}")))?;
        fetch::respond_v4(broker, &req, version, header.correlation_id, out, files)?;
        true
    } else {
        (api.serve)(broker, &header, &mut frame, version, out)?
    };
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
mod tests;
