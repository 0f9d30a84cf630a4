//! [`BrokerConn`]: one blocking connection to one broker, with the versions
//! its ApiVersions answer advertised, reused request and response buffers,
//! and sending split from receiving so that one request per leader can be
//! in flight on every connection at once.

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::client::api::ClientError;
use crate::client::pick_version;

/// How long to wait for a TCP connection to a broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response frame accepted.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// One broker connection speaking `kafka-protocol` messages.
pub(crate) struct BrokerConn {
    stream: TcpStream,
    /// The broker's address, `HOST:PORT`.
    pub addr: String,
    correlation: i32,
    client_id: StrBytes,
    versions: BTreeMap<i16, (i16, i16)>,
    /// The request being written (the 4-byte size first).
    pub out: Vec<u8>,
    input: BytesMut,
}

fn broken(what: impl std::fmt::Display, addr: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Broken(format!("{what} to {addr}: {e}"))
}

impl BrokerConn {
    /// Connects to `addr`, responses awaited up to `io_timeout`, and asks
    /// for its ApiVersions.
    pub fn connect(
        addr: &str,
        client_id: &str,
        io_timeout: Duration,
    ) -> Result<BrokerConn, ClientError> {
        let sock = addr
            .to_socket_addrs()
            .map_err(|e| broken("cannot resolve", addr, e))?
            .next()
            .ok_or_else(|| ClientError::Broken(format!("{addr} resolves to no address")))?;
        let stream = TcpStream::connect_timeout(&sock, CONNECT_TIMEOUT)
            .map_err(|e| broken("cannot connect", addr, e))?;
        stream
            .set_read_timeout(Some(io_timeout))
            .and_then(|_| stream.set_write_timeout(Some(io_timeout)))
            .map_err(|e| broken("socket options", addr, e))?;
        let _ = stream.set_nodelay(true);
        let mut conn = BrokerConn {
            stream,
            addr: addr.to_string(),
            correlation: 0,
            client_id: StrBytes::from_string(client_id.to_string()),
            versions: BTreeMap::new(),
            out: Vec::with_capacity(64 * 1024),
            input: BytesMut::new(),
        };
        let resp: ApiVersionsResponse = conn.call(&ApiVersionsRequest::default(), 0)?;
        if resp.error_code != 0 {
            return Err(ClientError::Kafka {
                what: format!("ApiVersions to {addr}"),
                code: crate::client::api::ErrorCode(resp.error_code),
            });
        }
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// The highest version of `key` both speak, braid speaking `min..=max`.
    pub fn version(&self, key: ApiKey, min: i16, max: i16) -> Result<i16, ClientError> {
        match pick_version(&self.versions, key, max) {
            Some(v) if v >= min => Ok(v),
            _ => Err(ClientError::Other(format!(
                "{} serves no version of {key:?} braid speaks ({min}-{max}; it serves {:?})",
                self.addr,
                self.versions.get(&(key as i16))
            ))),
        }
    }

    /// Starts a request of `key` at `version` in [`BrokerConn::out`]: size
    /// placeholder and header. Returns its correlation id.
    pub fn begin(&mut self, key: ApiKey, version: i16) -> Result<i32, ClientError> {
        self.correlation = self.correlation.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = key as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(self.client_id.clone());
        self.out.clear();
        self.out.extend_from_slice(&[0; 4]);
        header
            .encode(&mut self.out, key.request_header_version(version))
            .map_err(|e| ClientError::Other(format!("cannot encode a {key:?} header: {e}")))?;
        Ok(self.correlation)
    }

    /// Sends the request in [`BrokerConn::out`].
    pub fn flush(&mut self, what: &str) -> Result<(), ClientError> {
        let size = i32::try_from(self.out.len() - 4)
            .map_err(|_| ClientError::Other(format!("{what}: request too large")))?;
        self.out[..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .write_all(&self.out)
            .map_err(|e| broken(what, &self.addr, e))
    }

    /// Sends `req` at `version`; returns the correlation id to receive with.
    pub fn send<R: Request>(&mut self, req: &R, version: i16) -> Result<i32, ClientError> {
        let key = api_key(R::KEY)?;
        let corr = self.begin(key, version)?;
        req.encode(&mut self.out, version)
            .map_err(|e| ClientError::Other(format!("cannot encode {key:?} v{version}: {e}")))?;
        self.flush(&format!("{key:?}"))?;
        Ok(corr)
    }

    /// Reads the response of correlation id `corr` to a `key` request at `version`.
    pub fn receive<T: Decodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        corr: i32,
    ) -> Result<T, ClientError> {
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .map_err(|e| broken(format!("{key:?} v{version} (no response)"), &self.addr, e))?;
        let len = i32::from_be_bytes(len);
        if len < 4 || len as usize > MAX_RESPONSE {
            return Err(ClientError::Broken(format!(
                "{key:?} to {}: bad response size {len}",
                self.addr
            )));
        }
        self.input.clear();
        self.input.resize(len as usize, 0);
        self.stream
            .read_exact(&mut self.input)
            .map_err(|e| broken(format!("{key:?}"), &self.addr, e))?;
        let mut body = self.input.split().freeze();
        let header =
            kafka_protocol::messages::ResponseHeader::decode(&mut body, T::header_version(version))
                .map_err(|e| bad(key, &self.addr, e))?;
        if header.correlation_id != corr {
            return Err(ClientError::Broken(format!(
                "{key:?} to {}: response for correlation id {} instead of {corr}",
                self.addr, header.correlation_id
            )));
        }
        let resp = T::decode(&mut body, version).map_err(|e| bad(key, &self.addr, e))?;
        if body.has_remaining() {
            log::debug!("{key:?} response: {} trailing bytes", body.remaining());
        }
        Ok(resp)
    }

    /// Sends `req` at `version` and reads its response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, ClientError> {
        let corr = self.send(req, version)?;
        self.receive(api_key(R::KEY)?, version, corr)
    }
}

fn api_key(key: i16) -> Result<ApiKey, ClientError> {
    ApiKey::try_from(key).map_err(|_| ClientError::Other(format!("unknown API key {key}")))
}

fn bad(key: ApiKey, addr: &str, e: impl std::fmt::Display) -> ClientError {
    // The stream may be out of step after a response it could not read.
    ClientError::Other(format!("bad {key:?} response from {addr}: {e}"))
}
