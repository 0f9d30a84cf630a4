//! [`Conn`]: a small blocking request/response connection speaking
//! `kafka-protocol` messages (ApiVersions, then whatever the caller sends),
//! and [`pick_version`], the highest version both sides speak.

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long to wait for a TCP connection to a broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a response (CreateTopics may take a while on a cluster).
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest response frame accepted.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// The highest version of `key` that the broker and braid (up to `ours`) both speak.
pub fn pick_version(versions: &BTreeMap<i16, (i16, i16)>, key: ApiKey, ours: i16) -> Option<i16> {
    let (min, max) = *versions.get(&(key as i16))?;
    let v = max.min(ours);
    (v >= min).then_some(v)
}

/// A blocking request/response connection speaking `kafka-protocol` messages.
pub struct Conn {
    stream: TcpStream,
    /// The broker's address.
    pub addr: String,
    correlation: i32,
    /// The client id its requests carry (shown by DescribeGroups and
    /// `kafka-consumer-groups --describe --members`).
    client_id: StrBytes,
}

impl Conn {
    /// Connects to the first reachable broker of `brokers`.
    pub fn connect_any(brokers: &[String]) -> Result<Conn> {
        let mut last = None;
        for b in brokers {
            match Conn::connect(b) {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        let why = last.map(|e| format!(": {e:#}")).unwrap_or_default();
        bail!("cannot reach any broker of {}{why}", brokers.join(","))
    }

    /// Wraps an open connection to `addr` (its timeouts already set).
    pub fn from_stream(stream: TcpStream, addr: &str) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            addr: addr.to_string(),
            correlation: 0,
            client_id: StrBytes::from_static_str("braid"),
        }
    }

    /// Connects to `addr` (HOST:PORT) with timeouts.
    pub fn connect(addr: &str) -> Result<Conn> {
        let sock = addr
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("{addr} resolves to no address"))?;
        let stream = TcpStream::connect_timeout(&sock, CONNECT_TIMEOUT)
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            addr: addr.to_string(),
            correlation: 0,
            client_id: StrBytes::from_static_str("braid"),
        })
    }

    /// The client id of its requests from now on (`braid` until set).
    pub fn set_client_id(&mut self, id: &str) {
        self.client_id = StrBytes::from_string(id.to_string());
    }

    /// How long a response may take from now on (JoinGroup waits for the
    /// other members of a group).
    pub fn set_read_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.stream
            .set_read_timeout(Some(timeout))
            .with_context(|| format!("connection to {}", self.addr))
    }

    /// ApiVersions v0 (understood by every broker): key → (min, max) version.
    pub fn api_versions(&mut self) -> Result<BTreeMap<i16, (i16, i16)>> {
        let resp = self.call(&ApiVersionsRequest::default(), 0)?;
        if resp.error_code != 0 {
            bail!(
                "{} answered ApiVersions with error {}",
                self.addr,
                resp.error_code
            );
        }
        Ok(resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect())
    }

    /// Sends `req` as `version` and reads its response; header versions
    /// come from `kafka-protocol`.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| anyhow!("unknown API key {}", R::KEY))?;
        self.correlation = self.correlation.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(self.client_id.clone());
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .and_then(|_| req.encode(&mut buf, version))
            .map_err(|e| anyhow!("cannot encode {key:?} v{version}: {e}"))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        let ctx = || format!("{key:?} to {}", self.addr);
        self.stream.write_all(&buf).with_context(ctx)?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).with_context(|| {
            format!(
                "{key:?} v{version} to {}: no response (connection closed?)",
                self.addr
            )
        })?;
        let len = i32::from_be_bytes(len);
        if len < 4 || len as usize > MAX_RESPONSE {
            bail!("{key:?} to {}: bad response size {len}", self.addr);
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body).with_context(ctx)?;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| anyhow!("bad {key:?} response header from {}: {e}", self.addr))?;
        if rh.correlation_id != self.correlation {
            bail!(
                "{key:?} to {}: response for correlation id {} instead of {}",
                self.addr,
                rh.correlation_id,
                self.correlation
            );
        }
        let resp = R::Response::decode(&mut body, version)
            .map_err(|e| anyhow!("bad {key:?} v{version} response from {}: {e}", self.addr))?;
        if body.has_remaining() {
            log::debug!("{key:?} response: {} trailing bytes", body.remaining());
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_picking() {
        let mut v = BTreeMap::new();
        v.insert(ApiKey::CreateTopics as i16, (0, 7));
        v.insert(ApiKey::Metadata as i16, (4, 12));
        assert_eq!(pick_version(&v, ApiKey::CreateTopics, 5), Some(5));
        assert_eq!(pick_version(&v, ApiKey::Metadata, 3), None);
        assert_eq!(pick_version(&v, ApiKey::Fetch, 3), None);
    }
}
