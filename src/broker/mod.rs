//! The embedded Kafka-compatible broker (`braid broker`).
//!
//! A real server, not a mock: the `kafka` crate, kcat (librdkafka) and
//! kafka-python use it as they would Apache Kafka.
//!
//! - `options`: the [`Config`] `braid broker` runs with (built from the CLI).
//! - `server`: accepts connections (one thread each) and stops them on Ctrl+C;
//!   `connection`: one connection's request loop, and how it ends at a stop.
//! - `wire`: size-prefixed frames, the frame limit, why a connection ends.
//! - `apis`: the one table of supported API keys, version ranges and
//!   handlers; it drives dispatch and the ApiVersions answer.
//! - `handlers`: the request logic, one module per API family.
//! - `partition_log`: the partition log on disk (record batches v2 as sent,
//!   and magic-0 messages from legacy producers and older segments);
//!   `log_entry`: an entry's extent and checks; `producer_ids`: ids for
//!   InitProducerId, never handed out twice; `message`: the magic-0
//!   message's layout and checks; `producer_state`: idempotent producers'
//!   sequences and epochs per partition; `records`: what produce stores and
//!   what each fetch version gets; `append`: all of a write or none of it (a
//!   full disk may take part of one), for the log and the offset store.
//! - `topics`: topic create (with configs), added partitions, delete, and
//!   the retention sweep; `topic_config`: the topic configs honoured (any
//!   other is refused); `retention`: which old segments retention deletes.
//! - `offsets`: committed offsets of consumer groups; `coordinator`: group
//!   membership (Kafka's classic group protocol), a pure state machine that
//!   `handlers::membership` drives, and `coordinator::Groups`, the broker's
//!   group state (that machine behind a mutex, and what waiters wait on).
//!
//! A request flows `server` → `wire` (a frame) → `apis` (decoded, dispatched)
//! → a handler (which reads or appends through [`Broker`]) → `wire` (the
//! response frame) → `server`. This module holds the broker's shared state:
//! topics, logs, the offset store, group membership, and the "data
//! appended" signal fetches wait on.

pub mod apis;
pub mod append;
pub mod connection;
pub mod coordinator;
pub mod handlers;
pub mod log_entry;
pub mod message;
pub mod offsets;
pub mod options;
pub mod partition_log;
pub mod producer_ids;
pub mod producer_state;
pub mod records;
pub mod retention;
pub mod server;
pub mod topic_config;
pub mod topics;
pub mod wire;

use anyhow::{Context, Result};
use kafka_protocol::error::ResponseError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::sync::lock;
use crate::topic_name;
use offsets::OffsetStore;
pub use options::Config;
use partition_log::{PartitionLog, SharedLog};
use topic_config::TopicConfig;

/// The node id this broker gives itself in metadata.
pub const NODE_ID: i32 = 0;
/// The cluster id it reports.
pub const CLUSTER_ID: &str = "braid-embedded";

/// One topic: its partition logs.
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// One log per partition, index = partition id.
    pub partitions: Vec<SharedLog>,
    /// The configs it was created with (retention, segment size).
    pub config: TopicConfig,
}

impl Topic {
    /// The log of `partition`, if it exists.
    pub fn partition(&self, partition: i32) -> Option<&SharedLog> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
    }
}

/// The broker's shared state, used by every connection thread.
pub struct Broker {
    /// Settings.
    pub config: Config,
    /// Host and port clients are told to connect to (metadata, coordinator).
    pub advertised: (String, u16),
    data_dir: PathBuf,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    create_lock: Mutex<()>,
    /// Committed offsets of consumer groups.
    pub offsets: Mutex<OffsetStore>,
    /// Consumer-group membership (JoinGroup, SyncGroup, ...).
    pub groups: coordinator::Groups,
    /// Ids for idempotent producers (InitProducerId).
    pub producer_ids: Mutex<producer_ids::ProducerIds>,
    appended: Mutex<u64>,
    appended_cv: Condvar,
    stopped_at: OnceLock<Instant>,
}

impl Broker {
    /// Opens the broker's state in `data_dir`: recovers every partition log and the offsets.
    pub fn open(config: Config, advertised: (String, u16), data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
        let mut found: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for entry in std::fs::read_dir(data_dir)
            .with_context(|| format!("cannot read data directory {}", data_dir.display()))?
        {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some((topic, p)) = name.rsplit_once('-') {
                if let Ok(p) = p.parse::<i32>() {
                    if topic_name::validate(topic).is_ok() && p >= 0 {
                        found.entry(topic.to_string()).or_default().push(p);
                    }
                }
            }
        }
        let mut topics = BTreeMap::new();
        for (name, mut parts) in found {
            parts.sort_unstable();
            let count = parts.len() as i32;
            if parts.iter().copied().ne(0..count) {
                log::warn!("topic {name}: partition directories {parts:?} are not 0..{count}; using them as found");
            }
            let n = parts.last().map_or(0, |p| p + 1);
            let topic_config = TopicConfig::load(data_dir, &name)?;
            let partitions = Self::open_topic(data_dir, &name, 0..n, &config, &topic_config)?;
            let topic = Topic {
                name: name.clone(),
                partitions,
                config: topic_config,
            };
            topics.insert(name, Arc::new(topic));
        }
        let offsets = OffsetStore::open(data_dir)?;
        let floor = topics
            .values()
            .flat_map(|t: &Arc<Topic>| t.partitions.iter())
            .filter_map(|log| lock(log).max_producer_id())
            .max()
            .map_or(0, |id| id + 1);
        let producer_ids = producer_ids::ProducerIds::open(data_dir, floor)?;
        Ok(Broker {
            config,
            advertised,
            data_dir: data_dir.to_path_buf(),
            topics: RwLock::new(topics),
            create_lock: Mutex::new(()),
            offsets: Mutex::new(offsets),
            groups: coordinator::Groups::default(),
            producer_ids: Mutex::new(producer_ids),
            appended: Mutex::new(0),
            appended_cv: Condvar::new(),
            stopped_at: OnceLock::new(),
        })
    }

    /// Opens (or creates) the logs of partitions `range` of topic `name`.
    fn open_topic(
        data_dir: &Path,
        name: &str,
        range: std::ops::Range<i32>,
        config: &Config,
        topic_config: &TopicConfig,
    ) -> Result<Vec<SharedLog>> {
        let segment_bytes = topic_config.segment_bytes.unwrap_or(config.segment_bytes);
        let mut logs = Vec::with_capacity(range.len());
        for p in range {
            let dir = data_dir.join(format!("{name}-{p}"));
            let log = PartitionLog::open(&dir, segment_bytes)
                .with_context(|| format!("cannot open partition {name}-{p}"))?;
            logs.push(Arc::new(Mutex::new(log)));
        }
        Ok(logs)
    }

    /// The topic, if it exists.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The topic, created with the auto-create partition count when `auto` and allowed.
    pub fn topic_or_auto_create(&self, name: &str, auto: bool) -> Option<Arc<Topic>> {
        if let Some(t) = self.topic(name) {
            return Some(t);
        }
        let partitions = self.config.auto_create_partitions.filter(|_| auto)?;
        if topic_name::validate(name).is_err() {
            return None;
        }
        match self.create_topic(name, partitions) {
            Ok(t) => {
                log::info!("auto-created topic {name} with {partitions} partitions");
                Some(t)
            }
            Err(ResponseError::TopicAlreadyExists) => self.topic(name),
            Err(e) => {
                log::warn!("cannot auto-create topic {name}: {e}");
                None
            }
        }
    }

    /// Every topic, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Wakes fetches waiting for data (call after appending).
    pub fn notify_appended(&self) {
        let mut n = lock(&self.appended);
        *n = n.wrapping_add(1);
        self.appended_cv.notify_all();
    }

    /// The current "data appended" generation, read before looking for data.
    pub fn appended_generation(&self) -> u64 {
        *lock(&self.appended)
    }

    /// Waits until data is appended after `seen`, the deadline passes, or the broker stops.
    pub fn wait_appended(&self, seen: u64, deadline: Instant) {
        let mut n = lock(&self.appended);
        while *n == seen && !self.is_stopping() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            n = self
                .appended_cv
                .wait_timeout(n, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Marks the broker as stopping and wakes every waiting fetch.
    pub fn begin_stop(&self) {
        let _ = self.stopped_at.set(Instant::now());
        self.notify_appended();
        self.groups.wake();
    }

    /// Whether the broker is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopped_at.get().is_some()
    }

    /// How long ago the stop began, once it has.
    pub fn stopping_for(&self) -> Option<Duration> {
        self.stopped_at.get().map(Instant::elapsed)
    }
}

/// `braid broker`: runs the broker until Ctrl+C / SIGTERM; returns the exit code.
pub fn run(config: Config) -> Result<i32> {
    let stop = crate::shutdown::Stop::new();
    crate::shutdown::install_ctrlc(&stop)?;
    let (data_dir, _temp) = match &config.data {
        Some(dir) => (dir.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("braid-broker-")
                .tempdir()
                .context("cannot create a temporary data directory")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let listener = std::net::TcpListener::bind(config.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another broker running there? pick another with --listen HOST:PORT, or port 0 for any free one)",
            config.listen
        )
    })?;
    let bound = listener.local_addr()?;
    let advertised = config
        .advertise
        .clone()
        .unwrap_or_else(|| (bound.ip().to_string(), bound.port()));
    let broker = Arc::new(Broker::open(config, advertised, &data_dir)?);
    create_start_topics(&broker)?;
    broker
        .spawn_retention()
        .context("cannot start the retention thread")?;
    crate::report::line(&format!("listening on {bound}"));
    log::info!("data in {}", data_dir.display());
    server::serve(broker, listener, &stop)?;
    Ok(0)
}

/// Creates the topics asked for with `--topic`; one that exists already is kept as it is.
fn create_start_topics(broker: &Broker) -> Result<()> {
    for (name, partitions) in &broker.config.topics {
        match broker.create_topic(name, *partitions) {
            Ok(_) => {}
            Err(ResponseError::TopicAlreadyExists) => {
                let have = broker.topic(name).map_or(0, |t| t.partitions.len());
                if have as i32 != *partitions {
                    log::warn!("topic {name} already exists with {have} partitions (asked for {partitions})");
                }
            }
            Err(e) => anyhow::bail!("cannot create topic {name}: {e}"),
        }
    }
    Ok(())
}
