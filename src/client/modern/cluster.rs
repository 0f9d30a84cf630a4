//! [`Cluster`]: what a modern client knows of the cluster: the bootstrap
//! brokers, every broker's address, one topic's partitions with their
//! leaders and leader epochs (Metadata), one pooled [`BrokerConn`] per
//! broker (ApiVersions asked once per connection), and group coordinators
//! (FindCoordinator). A connection that failed is dropped and made again on
//! next use.

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::wire::BrokerConn;
use crate::client::api::{ClientError, ErrorCode, TopicInfo};

/// The pool key of the connection to the `i`-th bootstrap address (no broker id is negative).
fn bootstrap_key(i: usize) -> i32 {
    -1 - i as i32
}

/// A partition's leader: broker id and leader epoch (-1: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leader {
    /// The broker id.
    pub node: i32,
    /// Its leader epoch.
    pub epoch: i32,
}

/// The cluster as one client sees it.
pub(crate) struct Cluster {
    bootstrap: Vec<String>,
    client_id: String,
    io_timeout: Duration,
    /// The topic.
    pub topic_name: String,
    /// Whether asking for the topic's metadata may create it (a producer's,
    /// as Kafka's Java producer asks).
    auto_create: bool,
    /// The topic's partitions as of the last metadata.
    pub info: TopicInfo,
    leaders: BTreeMap<i32, Leader>,
    nodes: HashMap<i32, String>,
    conns: HashMap<i32, BrokerConn>,
    coordinators: HashMap<String, i32>,
}

impl Cluster {
    /// Bootstraps from `brokers` and loads `topic`'s metadata.
    pub fn connect(
        brokers: &[String],
        client_id: &str,
        topic: &str,
        io_timeout: Duration,
        auto_create: bool,
    ) -> Result<Cluster, ClientError> {
        if brokers.is_empty() {
            return Err(ClientError::Other("no bootstrap broker given".into()));
        }
        let mut c = Cluster {
            bootstrap: brokers.to_vec(),
            client_id: client_id.to_string(),
            io_timeout,
            topic_name: topic.to_string(),
            auto_create,
            info: TopicInfo::default(),
            leaders: BTreeMap::new(),
            nodes: HashMap::new(),
            conns: HashMap::new(),
            coordinators: HashMap::new(),
        };
        c.load_metadata()?;
        Ok(c)
    }

    /// Reloads the metadata; when `broken`, closes every connection first.
    pub fn refresh(&mut self, broken: bool) -> Result<(), ClientError> {
        if broken {
            self.conns.clear();
            self.coordinators.clear();
        }
        self.load_metadata()
    }

    /// The leader of `partition`, if one is known.
    pub fn leader(&self, partition: i32) -> Option<Leader> {
        self.leaders.get(&partition).copied()
    }

    /// The connection to broker `node` (made if there is none).
    pub fn conn(&mut self, node: i32) -> Result<&mut BrokerConn, ClientError> {
        if !self.conns.contains_key(&node) {
            let addr = self
                .nodes
                .get(&node)
                .ok_or_else(|| {
                    ClientError::Broken(format!("broker {node} is not in the metadata"))
                })?
                .clone();
            let conn = BrokerConn::connect(&addr, &self.client_id, self.io_timeout)?;
            self.conns.insert(node, conn);
        }
        self.conns
            .get_mut(&node)
            .ok_or_else(|| ClientError::Other("connection vanished".into()))
    }

    /// Forgets the connection to `node` after it failed.
    pub fn drop_conn(&mut self, node: i32) {
        if self.conns.remove(&node).is_some() {
            log::debug!("dropped the connection to broker {node}");
        }
    }

    /// Runs `f` on `node`'s connection, dropping it if `f` fails.
    pub fn with_conn<T>(
        &mut self,
        node: i32,
        f: impl FnOnce(&mut BrokerConn) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let r = self.conn(node).and_then(f);
        if r.is_err() {
            self.drop_conn(node);
        }
        r
    }

    /// Runs `f` on any live connection: a pooled one, else a bootstrap broker.
    /// Runs `f` on any reachable broker (pooled ones first, then the bootstrap list).
    pub fn with_any_conn<T>(
        &mut self,
        mut f: impl FnMut(&mut BrokerConn) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut keys: Vec<i32> = self.conns.keys().copied().collect();
        keys.sort_unstable();
        let mut last = None;
        for key in keys {
            match self.with_conn(key, &mut f) {
                Err(e) if e.is_broken() => last = Some(e),
                r => return r,
            }
        }
        for i in 0..self.bootstrap.len() {
            let key = bootstrap_key(i);
            self.nodes.insert(key, self.bootstrap[i].clone());
            match self.with_conn(key, &mut f) {
                Err(e) if e.is_broken() => last = Some(e),
                r => return r,
            }
        }
        let why = last.map(|e| format!(": {e}")).unwrap_or_default();
        Err(ClientError::Broken(format!(
            "cannot reach any broker of {}{why}",
            self.bootstrap.join(",")
        )))
    }

    fn load_metadata(&mut self) -> Result<(), ClientError> {
        let topic = self.topic_name.clone();
        let auto_create = self.auto_create;
        let resp = self.with_any_conn(|conn| {
            let v = conn.version(ApiKey::Metadata, 1, 12)?;
            let mut t = MetadataRequestTopic::default();
            t.name = Some(TopicName(StrBytes::from_string(topic.clone())));
            let mut req = MetadataRequest::default();
            req.topics = Some(vec![t]);
            req.allow_auto_topic_creation = auto_create;
            conn.call(&req, v)
        })?;
        self.apply_metadata(&resp)
    }

    fn apply_metadata(&mut self, resp: &MetadataResponse) -> Result<(), ClientError> {
        for b in &resp.brokers {
            let addr = format!("{}:{}", b.host.as_str(), b.port);
            if self.nodes.get(&b.node_id.0) != Some(&addr) {
                self.conns.remove(&b.node_id.0);
                self.nodes.insert(b.node_id.0, addr);
            }
        }
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(self.topic_name.as_str()))
            .ok_or_else(|| ClientError::Other(format!("no metadata for '{}'", self.topic_name)))?;
        match t.error_code {
            0 => {}
            // A producer's topic being created on first use (or not
            // created: the broker refuses auto-creation): no partitions yet.
            3 | 5 if self.auto_create => {
                self.info = TopicInfo::default();
                self.leaders.clear();
                return Ok(());
            }
            3 => {
                return Err(ClientError::Other(format!(
                    "topic '{}' does not exist",
                    self.topic_name
                )))
            }
            code => {
                return Err(ClientError::Kafka {
                    what: format!("metadata of '{}'", self.topic_name),
                    code: ErrorCode(code),
                })
            }
        }
        let mut info = TopicInfo::default();
        self.leaders.clear();
        for p in &t.partitions {
            info.partitions += 1;
            let leader = p.leader_id.0;
            if leader < 0 {
                continue;
            }
            let Some(addr) = self.nodes.get(&leader) else {
                continue;
            };
            info.available.push(p.partition_index);
            info.leaders.insert(p.partition_index, addr.clone());
            self.leaders.insert(
                p.partition_index,
                Leader {
                    node: leader,
                    epoch: p.leader_epoch,
                },
            );
        }
        info.available.sort_unstable();
        self.info = info;
        Ok(())
    }

    /// The broker id of `group`'s coordinator (FindCoordinator, cached).
    pub fn coordinator(&mut self, group: &str) -> Result<i32, ClientError> {
        if let Some(node) = self.coordinators.get(group) {
            return Ok(*node);
        }
        let resp: FindCoordinatorResponse = self.with_any_conn(|conn| {
            let v = conn.version(ApiKey::FindCoordinator, 0, 6)?;
            let mut req = FindCoordinatorRequest::default();
            if v >= 4 {
                req.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
            } else {
                req.key = StrBytes::from_string(group.to_string());
            }
            conn.call(&req, v)
        })?;
        let (code, node, host, port) = match resp.coordinators.first() {
            Some(c) => (c.error_code, c.node_id.0, c.host.as_str(), c.port),
            None => (
                resp.error_code,
                resp.node_id.0,
                resp.host.as_str(),
                resp.port,
            ),
        };
        if code != 0 {
            return Err(ClientError::Kafka {
                what: format!("FindCoordinator for group '{group}'"),
                code: ErrorCode(code),
            });
        }
        let addr = format!("{host}:{port}");
        if self.nodes.get(&node) != Some(&addr) {
            self.conns.remove(&node);
            self.nodes.insert(node, addr);
        }
        self.coordinators.insert(group.to_string(), node);
        Ok(node)
    }

    /// Forgets `group`'s coordinator (after NOT_COORDINATOR and the like).
    pub fn forget_coordinator(&mut self, group: &str) {
        self.coordinators.remove(group);
    }

    /// The partitions of `partitions` grouped by their leader (those
    /// without one are left out), in order of first appearance.
    pub fn by_leader(&self, partitions: impl IntoIterator<Item = i32>) -> Vec<(i32, Vec<i32>)> {
        let mut groups: Vec<(i32, Vec<i32>)> = Vec::new();
        for p in partitions {
            let Some(l) = self.leader(p) else { continue };
            match groups.iter_mut().find(|(n, _)| *n == l.node) {
                Some((_, ps)) => {
                    if !ps.contains(&p) {
                        ps.push(p)
                    }
                }
                None => groups.push((l.node, vec![p])),
            }
        }
        groups
    }
}
