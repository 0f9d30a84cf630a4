//! `braid topic`: topic administration.
//!
//! - `create` encodes CreateTopics with `kafka-protocol` over a small
//!   blocking request/response connection ([`Conn`]): ApiVersions first (to
//!   pick the highest version both sides speak), Metadata v1+ for the
//!   controller id, then CreateTopics to the controller. This works on the
//!   embedded broker and on Kafka 3.9 (where KRaft brokers forward it).
//! - `list` and `describe` use the kafka crate: Metadata, ListOffsets
//!   (earliest and latest) and OffsetFetch (a group's committed offsets),
//!   like `kafka-consumer-groups --describe`.
//!
//! Errors (topic exists, unknown topic, unreachable brokers) come back as one
//! line and exit code 1; bad flags are clap's usage errors (exit 2).

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka::client::{FetchOffset, GroupOffsetStorage, KafkaClient};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, MetadataRequest, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::cli::{Format, TopicArgs, TopicCommand};
use crate::report;

/// How long to wait for a TCP connection to a broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a response (CreateTopics may take a while on a cluster).
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest response frame accepted.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// The highest CreateTopics version braid speaks (v5 returns the partition count).
const CREATE_TOPICS_MAX: i16 = 5;
/// The highest Metadata version braid asks for here (v1+ carries controller_id).
const METADATA_MAX: i16 = 9;

/// Runs `braid topic`; returns the exit code.
pub fn run(args: &TopicArgs) -> Result<i32> {
    match &args.command {
        TopicCommand::Create {
            name,
            partitions,
            replication,
        } => {
            let created = create(&args.brokers, name, *partitions, *replication)?;
            // On a cluster a partition's leader learns of it a moment after
            // CreateTopics returns: return once every leader answers for it,
            // so that a describe or produce right after works.
            wait_ready(
                &args.brokers,
                name,
                created.partitions.max(0) as usize,
                Duration::from_secs(30),
            )?;
            match args.format {
                Format::Json => report::emit_json(&TopicCreated {
                    name: "topic_created",
                    timestamp: report::now_ms(),
                    topic: name,
                    partitions: created.partitions,
                    replication_factor: created.replication,
                }),
                Format::Human => report::line(&format!(
                    "created topic '{name}' with {} partitions (replication factor {})",
                    created.partitions, created.replication
                )),
            }
        }
        TopicCommand::List => list(args)?,
        TopicCommand::Describe { name, group } => describe(args, name, group.as_deref())?,
    }
    Ok(0)
}

/// `braid topic create --format json`: the `topic_created` event.
#[derive(Debug, Serialize)]
pub struct TopicCreated<'a> {
    /// Always "topic_created".
    pub name: &'static str,
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// The topic.
    pub topic: &'a str,
    /// Partitions it has.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication_factor: i16,
}

/// `braid topic describe --format json`: the topic, per partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicDescription {
    /// The topic.
    pub topic: String,
    /// The group asked about, if any.
    pub group: Option<String>,
    /// Per partition: leader, offsets, the group's commit and lag.
    pub partitions: Vec<PartitionInfo>,
}

/// What the broker reports about a created topic.
#[derive(Debug, Clone, Copy)]
pub struct Created {
    /// Partitions it has.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication: i16,
}

/// Creates `name` with `partitions` partitions and `replication` replicas
/// on the cluster behind `brokers` (CreateTopics sent to the controller).
pub fn create(
    brokers: &[String],
    name: &str,
    partitions: i32,
    replication: i16,
) -> Result<Created> {
    create_with_configs(brokers, name, partitions, replication, &[])
}

/// [`create`] with topic configs (such as `cleanup.policy=compact`);
/// replication -1 asks for the cluster's default.
pub fn create_with_configs(
    brokers: &[String],
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> Result<Created> {
    let mut conn = Conn::connect_any(brokers)?;
    let versions = conn.api_versions()?;
    let create_v = pick_version(&versions, ApiKey::CreateTopics, CREATE_TOPICS_MAX)
        .ok_or_else(|| anyhow!("{} does not support CreateTopics", conn.addr))?;
    let meta_v = pick_version(&versions, ApiKey::Metadata, METADATA_MAX)
        .filter(|v| *v >= 1)
        .ok_or_else(|| anyhow!("{} does not support Metadata v1+", conn.addr))?;

    // Metadata with no topics: just the brokers and the controller.
    let mut meta = MetadataRequest::default();
    meta.topics = Some(Vec::new());
    meta.allow_auto_topic_creation = false;
    let meta = conn.call(&meta, meta_v)?;
    let controller = meta.controller_id.0;
    let mut target = conn;
    if controller >= 0 {
        if let Some(b) = meta.brokers.iter().find(|b| b.node_id.0 == controller) {
            let addr = format!("{}:{}", b.host.as_str(), b.port);
            if addr != target.addr {
                target = Conn::connect(&addr).with_context(|| {
                    format!("cannot reach the controller (broker {controller})")
                })?;
            }
        }
    }

    let mut topic = CreatableTopic::default();
    topic.name = TopicName(StrBytes::from_string(name.to_string()));
    topic.num_partitions = partitions;
    topic.replication_factor = replication;
    topic.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.value = Some(StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![topic];
    req.timeout_ms = 30_000;
    let resp = target.call(&req, create_v)?;
    let r = resp
        .topics
        .first()
        .ok_or_else(|| anyhow!("CreateTopics answered without a result for '{name}'"))?;
    if r.error_code != 0 {
        let message = r.error_message.as_ref().map(|m| m.as_str().to_string());
        bail!(
            "{}",
            create_error(name, partitions, replication, r.error_code, message)
        );
    }
    Ok(Created {
        partitions: if create_v >= 5 && r.num_partitions > 0 {
            r.num_partitions
        } else {
            partitions
        },
        replication: if create_v >= 5 && r.replication_factor > 0 {
            r.replication_factor
        } else {
            replication
        },
    })
}

/// The one-line message for a CreateTopics error code.
fn create_error(name: &str, partitions: i32, rf: i16, code: i16, msg: Option<String>) -> String {
    let detail = msg.filter(|m| !m.is_empty());
    let known = match ResponseError::try_from_code(code) {
        Some(ResponseError::TopicAlreadyExists) => format!("topic '{name}' already exists"),
        Some(ResponseError::InvalidPartitions) => {
            format!("cannot create '{name}' with {partitions} partitions")
        }
        Some(ResponseError::InvalidReplicationFactor) => {
            format!("cannot create '{name}' with replication factor {rf}")
        }
        Some(e) => format!("cannot create '{name}': {e}"),
        None => format!("cannot create '{name}': error code {code}"),
    };
    match detail {
        Some(d) => format!("{known} ({d})"),
        None => known,
    }
}

/// The highest version of `key` that the broker and braid (up to `ours`) both speak.
fn pick_version(versions: &BTreeMap<i16, (i16, i16)>, key: ApiKey, ours: i16) -> Option<i16> {
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
        })
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
        header.client_id = Some(StrBytes::from_static_str("braid"));
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

/// The partition ids of each of `topics` (a topic that does not exist has none).
pub fn partition_ids(brokers: &[String], topics: &[String]) -> Result<BTreeMap<String, Vec<i32>>> {
    let c = client(brokers)?;
    let all = c.topics();
    Ok(topics
        .iter()
        .map(|t| {
            let mut ids: Vec<i32> = all
                .partitions(t)
                .map(|ps| ps.iter().map(|p| p.id()).collect())
                .unwrap_or_default();
            ids.sort_unstable();
            (t.clone(), ids)
        })
        .collect())
}

/// A kafka crate client for `brokers` with its metadata loaded (all topics,
/// so that nothing is auto-created by asking).
fn client(brokers: &[String]) -> Result<KafkaClient> {
    // The kafka crate retries unreachable hosts for a long time; check first.
    drop(Conn::connect_any(brokers)?);
    let mut client = KafkaClient::new(brokers.to_vec());
    client.set_client_id("braid-topic".into());
    client.set_group_offset_storage(Some(GroupOffsetStorage::Kafka));
    client.set_retry_max_attempts(3);
    client
        .load_metadata_all()
        .with_context(|| format!("cannot load metadata from {}", brokers.join(",")))?;
    Ok(client)
}

/// Waits up to `timeout` until `name` shows `partitions` partitions, each
/// with a leader, in the metadata of `brokers`, and every leader answers
/// ListOffsets for them (a cluster propagates a new topic to every broker
/// shortly after CreateTopics returns).
pub fn wait_ready(
    brokers: &[String],
    name: &str,
    partitions: usize,
    timeout: Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut client = client(brokers)?;
        let ready = client
            .topics()
            .partitions(name)
            .is_some_and(|p| p.len() == partitions && p.available_ids().len() == partitions);
        if ready
            && client
                .fetch_topic_offsets(name, FetchOffset::Latest)
                .is_ok_and(|o| o.len() == partitions)
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("topic '{name}' has no leader for all {partitions} partitions after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One topic in `braid topic list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicSummary {
    /// Its name.
    pub topic: String,
    /// How many partitions it has.
    pub partitions: usize,
}

/// The topics of the cluster behind `brokers`, sorted by name.
pub fn topics(brokers: &[String]) -> Result<Vec<TopicSummary>> {
    let client = client(brokers)?;
    let mut out: Vec<TopicSummary> = client
        .topics()
        .iter()
        .map(|t| TopicSummary {
            topic: t.name().to_string(),
            partitions: t.partitions().len(),
        })
        .collect();
    out.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(out)
}

fn list(args: &TopicArgs) -> Result<()> {
    let topics = topics(&args.brokers)?;
    match args.format {
        Format::Json => {
            for t in &topics {
                report::emit_json(t);
            }
        }
        Format::Human => {
            let rows: Vec<Vec<String>> = topics
                .iter()
                .map(|t| vec![t.topic.clone(), t.partitions.to_string()])
                .collect();
            report::line(&report::table(&["topic", "partitions"], &rows));
        }
    }
    Ok(())
}

/// One partition in `braid topic describe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// The partition id.
    pub partition: i32,
    /// The leader's broker id (None: no leader).
    pub leader: Option<i32>,
    /// The leader's HOST:PORT.
    pub leader_host: Option<String>,
    /// The oldest offset in the log.
    pub earliest: i64,
    /// The high watermark (the next offset to be written).
    pub latest: i64,
    /// The group's committed offset (None: no group asked, or nothing committed).
    pub committed: Option<i64>,
    /// latest - committed (None without a commit).
    pub lag: Option<i64>,
}

/// Per-partition offsets of `topic`, and `group`'s committed offsets and lag.
pub fn partitions(
    brokers: &[String],
    topic: &str,
    group: Option<&str>,
) -> Result<Vec<PartitionInfo>> {
    let mut client = client(brokers)?;
    let mut out: Vec<PartitionInfo> = {
        let topics = client.topics();
        let parts = topics
            .partitions(topic)
            .ok_or_else(|| anyhow!("topic '{topic}' does not exist on {}", brokers.join(",")))?;
        parts
            .iter()
            .map(|p| PartitionInfo {
                partition: p.id(),
                leader: p.leader().map(|b| b.id()),
                leader_host: p.leader().map(|b| b.host().to_string()),
                earliest: -1,
                latest: -1,
                committed: None,
                lag: None,
            })
            .collect()
    };
    out.sort_by_key(|p| p.partition);
    let offsets = |client: &mut KafkaClient, which: FetchOffset| -> Result<BTreeMap<i32, i64>> {
        Ok(client
            .fetch_topic_offsets(topic, which)
            .with_context(|| format!("ListOffsets for '{topic}'"))?
            .into_iter()
            .map(|po| (po.partition, po.offset))
            .collect())
    };
    let earliest = offsets(&mut client, FetchOffset::Earliest)?;
    let latest = offsets(&mut client, FetchOffset::Latest)?;
    let committed: BTreeMap<i32, i64> = match group {
        Some(g) => client
            .fetch_group_topic_offset(g, topic)
            .with_context(|| format!("OffsetFetch for group '{g}'"))?
            .into_iter()
            .map(|po| (po.partition, po.offset))
            .collect(),
        None => BTreeMap::new(),
    };
    for p in &mut out {
        p.earliest = earliest.get(&p.partition).copied().unwrap_or(-1);
        p.latest = latest.get(&p.partition).copied().unwrap_or(-1);
        p.committed = committed.get(&p.partition).copied().filter(|o| *o >= 0);
        p.lag = p.committed.map(|c| (p.latest - c).max(0));
    }
    Ok(out)
}

fn describe(args: &TopicArgs, topic: &str, group: Option<&str>) -> Result<()> {
    let parts = partitions(&args.brokers, topic, group)?;
    if args.format == Format::Json {
        report::emit_json(&TopicDescription {
            topic: topic.to_string(),
            group: group.map(String::from),
            partitions: parts,
        });
        return Ok(());
    }
    let dash = |o: Option<i64>| o.map_or("-".to_string(), |v| v.to_string());
    let mut header = vec!["partition", "leader", "earliest", "latest", "messages"];
    if group.is_some() {
        header.extend(["committed", "lag"]);
    }
    let mut rows: Vec<Vec<String>> = parts
        .iter()
        .map(|p| {
            let leader = match (p.leader, &p.leader_host) {
                (Some(id), Some(h)) => format!("{id} ({h})"),
                _ => "none".to_string(),
            };
            let mut row = vec![
                p.partition.to_string(),
                leader,
                p.earliest.to_string(),
                p.latest.to_string(),
                (p.latest - p.earliest).max(0).to_string(),
            ];
            if group.is_some() {
                row.push(dash(p.committed));
                row.push(dash(p.lag));
            }
            row
        })
        .collect();
    let total: i64 = parts.iter().map(|p| (p.latest - p.earliest).max(0)).sum();
    let mut last = vec![
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        total.to_string(),
    ];
    if group.is_some() {
        // Unknown (`-`) when no partition has a commit, as in the rows.
        let lags: Vec<i64> = parts.iter().filter_map(|p| p.lag).collect();
        last.push(String::new());
        last.push(dash((!lags.is_empty()).then(|| lags.iter().sum())));
    }
    rows.push(last);
    let title = match group {
        Some(g) => format!("topic '{topic}', group '{g}'"),
        None => format!("topic '{topic}'"),
    };
    report::line(&title);
    report::line(&report::table(&header, &rows));
    Ok(())
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

    #[test]
    fn create_errors_are_one_line() {
        let m = create_error("t", 3, 1, 36, Some("Topic 't' already exists.".into()));
        assert!(m.starts_with("topic 't' already exists"), "{m}");
        assert!(!m.contains('\n'));
    }
}
