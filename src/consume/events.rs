//! The consumer's `--format json` events, one JSON object per line on
//! stdout, named by their `name` field. Whoever reads them back (`braid
//! demo`, `braid bench`, the tests) parses them with this same type, so a
//! field cannot be misspelled on one side only.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One event of `braid consume --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ConsumeEvent {
    /// The topic was found and the plan made; workers are being forked.
    StartupComplete {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The topic.
        topic: String,
        /// The consumer group.
        group: String,
        /// Every partition of the topic.
        partitions: Vec<i32>,
        /// Worker processes forked.
        workers: usize,
        /// The partitions of each worker.
        plan: Vec<Vec<i32>>,
        /// The Kafka client the workers speak through (legacy or modern).
        #[serde(default = "crate::client::api::Path::legacy")]
        protocol: crate::client::api::Path,
    },
    /// A worker (process) is connected and knows where it starts.
    PartitionsAssigned {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The worker's number (stable across respawns).
        worker: usize,
        /// Its process id.
        pid: i32,
        /// The topic.
        topic: String,
        /// Its partitions.
        partitions: Vec<i32>,
        /// The offset it starts from, per partition.
        #[serde(deserialize_with = "partition_keys")]
        start_offsets: BTreeMap<i32, i64>,
    },
    /// A worker's progress since its previous report.
    RecordsConsumed {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The worker.
        worker: usize,
        /// Its process id.
        pid: i32,
        /// Events processed (valid or not).
        count: u64,
        /// Invalid messages among them.
        invalid: u64,
        /// Of those, the ones written to the dead-letter topic.
        #[serde(default)]
        dead_letters: u64,
        /// Messages between its positions and the ends of its partitions.
        lag: i64,
        /// Per partition: how many, and the offsets they spanned.
        partitions: Vec<PartitionSpan>,
    },
    /// A worker's offset commit, successful or not.
    OffsetsCommitted {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The worker.
        worker: usize,
        /// Its process id.
        pid: i32,
        /// The committed positions (next offset to read).
        offsets: Vec<TopicOffset>,
        /// Whether the broker accepted the commit.
        success: bool,
        /// Why not, when it failed.
        error: Option<String>,
    },
    /// One processed event (`--print`, or the `echo` processor).
    RecordProcessed {
        /// The worker.
        worker: usize,
        /// Its process id.
        pid: u32,
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
        /// The event's sender.
        sender: u32,
        /// The event's sequence number.
        seq: u64,
        /// The event's value.
        value: u64,
        /// What the processor made of it.
        result: String,
        /// The writer's schema id (absent for a plain JSON message).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema_id: Option<u32>,
        /// The record's `host` as the reader schema sees it (absent when it has none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// The schema registry cannot decode a worker's next message yet
    /// (unreachable, timed out, 5xx): it processes and commits nothing past
    /// it, and asks again with a bounded backoff until `--registry-timeout`.
    RegistryUnavailable {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The worker.
        worker: usize,
        /// Its process id.
        pid: i32,
        /// The partition it waits in.
        partition: i32,
        /// The offset it waits at.
        offset: i64,
        /// What the registry did.
        error: String,
    },
    /// The registry answered again: the worker goes on where it stopped.
    RegistryRecovered {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The worker.
        worker: usize,
        /// Its process id.
        pid: i32,
        /// How long it waited.
        waited_ms: u64,
    },
    /// A worker process ended.
    WorkerExited {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The worker.
        worker: usize,
        /// The process id that ended.
        pid: i32,
        /// How: `exited 0`, `killed by SIGKILL`, ...
        status: String,
        /// Whether a new process will take its partitions.
        respawned: bool,
    },
    /// `--subscribe`: this host joined a generation of its group and got
    /// these partitions, split among its workers as `plan`.
    GroupJoined {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The group.
        group: String,
        /// The generation joined.
        generation: i32,
        /// This host's member id.
        member_id: String,
        /// The partitions the group gave this host.
        partitions: Vec<i32>,
        /// How they are split among this host's workers.
        plan: Vec<Vec<i32>>,
    },
    /// `--subscribe`: the group is rebalancing; this host stops its workers
    /// (each commits what it processed) and rejoins.
    GroupRebalancing {
        /// When, in ms since the Unix epoch.
        timestamp: u64,
        /// The group.
        group: String,
        /// The generation being left.
        generation: i32,
    },
    /// The run is over: the final counts.
    ShutdownComplete(Box<Shutdown>),
}

/// Events consumed from one partition in one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSpan {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Events consumed.
    pub count: u64,
    /// The lowest offset among them.
    #[serde(rename = "minOffset")]
    pub min_offset: i64,
    /// The highest offset among them.
    #[serde(rename = "maxOffset")]
    pub max_offset: i64,
    /// Times an offset was not above the previous one.
    pub rewinds: u64,
}

/// A committed position of one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to read.
    pub offset: i64,
}

/// The body of `shutdown_complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    /// When, in ms since the Unix epoch.
    pub timestamp: u64,
    /// `done`, `interrupted` or `crash_loop`.
    pub status: String,
    /// What went wrong (crash loop).
    pub error: Option<String>,
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// Events consumed over all workers.
    pub consumed: u64,
    /// Invalid messages among them.
    pub invalid: u64,
    /// Of those, the ones written to the dead-letter topic.
    #[serde(default)]
    pub dead_letters: u64,
    /// Registry outages the workers waited out (one per worker and outage).
    #[serde(default)]
    pub registry_waits: u64,
    /// How long workers waited on the registry in all.
    #[serde(default)]
    pub registry_wait_ms: u64,
    /// The last committed position per partition.
    #[serde(deserialize_with = "partition_keys")]
    pub committed: BTreeMap<i32, i64>,
    /// The run's wall-clock time.
    pub elapsed_ms: u64,
    /// Events per second, first event fetched to last processed.
    pub events_per_sec: f64,
    /// Median end-to-end latency.
    pub latency_p50_ms: f64,
    /// 99th percentile end-to-end latency.
    pub latency_p99_ms: f64,
    /// One entry per worker.
    pub workers: Vec<WorkerSummary>,
}

/// One worker's final counts in `shutdown_complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// The worker.
    pub worker: usize,
    /// Every process id it ran as.
    pub pids: Vec<i32>,
    /// Its partitions.
    pub partitions: Vec<i32>,
    /// Events consumed.
    pub consumed: u64,
    /// Invalid messages.
    pub invalid: u64,
    /// Of those, the ones written to the dead-letter topic.
    #[serde(default)]
    pub dead_letters: u64,
    /// Primes found (prime processor).
    pub primes: u64,
    /// The last committed position per partition.
    #[serde(deserialize_with = "partition_keys")]
    pub committed: BTreeMap<i32, i64>,
    /// Times it was respawned.
    pub respawns: u32,
    /// Killed because it did not stop within `--grace`.
    pub killed: bool,
    /// Offsets reported processed but not committed, `[from, to)` per partition.
    #[serde(deserialize_with = "partition_keys")]
    pub uncommitted: BTreeMap<i32, [i64; 2]>,
}

/// Reads a map keyed by partition id. JSON object keys are strings; inside
/// an internally tagged enum serde no longer parses them as numbers itself.
fn partition_keys<'de, D, T>(d: D) -> Result<BTreeMap<i32, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    BTreeMap::<String, T>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| {
            k.parse::<i32>()
                .map(|p| (p, v))
                .map_err(|_| serde::de::Error::custom(format!("partition id expected, got {k:?}")))
        })
        .collect()
}

impl ConsumeEvent {
    /// Parses one line of `braid consume --format json`.
    pub fn parse(line: &str) -> Result<ConsumeEvent, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_their_wire_names() {
        let e = ConsumeEvent::RecordsConsumed {
            timestamp: 1,
            worker: 2,
            pid: 3,
            count: 4,
            invalid: 0,
            dead_letters: 0,
            lag: 5,
            partitions: vec![PartitionSpan {
                topic: "t".into(),
                partition: 1,
                count: 4,
                min_offset: 10,
                max_offset: 13,
                rewinds: 0,
            }],
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.starts_with(r#"{"name":"records_consumed""#), "{line}");
        assert!(line.contains(r#""minOffset":10"#), "{line}");
        assert_eq!(ConsumeEvent::parse(&line).unwrap(), e);
        let shutdown = r#"{"name":"shutdown_complete","timestamp":1,"status":"done","error":null,
            "topic":"t","group":"g","consumed":1,"invalid":0,"committed":{"0":1},"elapsed_ms":1,
            "events_per_sec":1.0,"latency_p50_ms":0.5,"latency_p99_ms":0.9,"workers":[]}"#;
        match ConsumeEvent::parse(shutdown).unwrap() {
            ConsumeEvent::ShutdownComplete(s) => assert_eq!(s.committed[&0], 1),
            other => panic!("{other:?}"),
        }
        assert!(ConsumeEvent::parse(r#"{"name":"records_consumd"}"#).is_err());
    }
}
