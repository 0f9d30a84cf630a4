//! `braid consume`'s validated options: built once from the command line
//! (milliseconds become durations, flags become the types that own them),
//! then taken by the supervisor, the forked workers and the views.

use std::time::Duration;

use super::assignment::{Assignment, Member};
use super::processor::ProcessorKind;
use crate::report::Format;

/// Where a consumer worker starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// The oldest offset still in the log.
    Earliest,
    /// The end of the log: only what arrives after the start.
    Latest,
    /// The group's committed offset (earliest when there is none).
    Committed,
    /// This exact offset in every assigned partition.
    At(i64),
    /// This many messages before the end of each assigned partition (kcat's
    /// `-o -N`; the start of the log where it holds fewer).
    FromEnd(i64),
}

/// A `-o/--offset` that is none of `earliest|latest|committed|N|-N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not earliest (beginning), latest (end), committed (stored), \
     an offset N >= 0, or -N (N before the end of each partition)"
)]
pub struct StartOffsetError(pub String);

/// Parses `earliest|latest|committed|N|-N`, with kcat's names
/// `beginning`/`end`/`stored` for the first three; `-N` is N messages before
/// the end of each partition, as in kcat.
pub fn parse_start_offset(s: &str) -> Result<StartOffset, StartOffsetError> {
    if let Some(n) = s.strip_prefix('-') {
        return n
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(StartOffset::FromEnd)
            .ok_or_else(|| StartOffsetError(s.to_string()));
    }
    match s {
        "earliest" | "beginning" | "oldest" => Ok(StartOffset::Earliest),
        "latest" | "end" | "newest" => Ok(StartOffset::Latest),
        "committed" | "stored" => Ok(StartOffset::Committed),
        n => n
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(StartOffset::At)
            .ok_or_else(|| StartOffsetError(s.to_string())),
    }
}

/// What a worker does with a poison event: a message that is not a valid
/// event and never will be (not JSON, a schema id the registry does not
/// know, a cut datum). A message the registry cannot decode *yet* is not
/// one: it is waited for (see `Options::registry_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnInvalid {
    /// Count it, log it with its partition and offset, go on.
    Skip,
    /// Stop the run at it (exit 1), with everything before it committed.
    Stop,
    /// Write it to the dead-letter topic, acknowledged, then go on.
    DeadLetter,
}

/// Faults injected on purpose, for tests (hidden flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// A worker aborts after this many events.
    pub crash_after: Option<u64>,
    /// A worker hangs (deaf to SIGTERM) after this many events.
    pub hang_after: Option<u64>,
    /// Worker 0's first process SIGKILLs itself right after this many events.
    pub kill_after: Option<u64>,
}

/// `--subscribe`: how the supervisor takes part in its consumer group.
#[derive(Debug, Clone, Copy)]
pub struct Subscription {
    /// Without a heartbeat for this long, the coordinator drops the member.
    pub session_timeout: Duration,
    /// How often the supervisor heartbeats.
    pub heartbeat_interval: Duration,
    /// How long the coordinator waits for members to rejoin.
    pub rebalance_timeout: Duration,
    /// The assignor this member prefers.
    pub assignor: super::membership::assignor::Assignor,
}

/// Everything `braid consume` was asked to do, checked and in its own types.
#[derive(Debug, Clone)]
pub struct Options {
    /// Brokers to bootstrap from (HOST:PORT).
    pub brokers: Vec<String>,
    /// The topic.
    pub topic: String,
    /// Worker processes asked for.
    pub processes: usize,
    /// The consumer group whose offsets are committed.
    pub group: String,
    /// Where workers start.
    pub offset: StartOffset,
    /// How partitions are split among workers.
    pub assignment: Assignment,
    /// This host's share when several hosts split the topic.
    pub member: Option<Member>,
    /// What a worker does with each event.
    pub processor: ProcessorKind,
    /// Print each processed event.
    pub print: bool,
    /// Events per batch (0: no batching).
    pub batch_size: usize,
    /// How long a partial batch may wait.
    pub batch_timeout: Duration,
    /// Threads processing a batch in each worker (1: the worker's own thread).
    pub work_threads: usize,
    /// Events to consume in total (0: no limit).
    pub max_messages: u64,
    /// Stop once every partition is read to its end.
    pub exit_at_end: bool,
    /// How long stopping workers get before they are killed.
    pub grace: Duration,
    /// How often workers commit.
    pub commit_interval: Duration,
    /// Most bytes fetched per partition per request.
    pub fetch_max_bytes: i32,
    /// Verify message CRCs on fetch.
    pub check_crcs: bool,
    /// The modern client's transactional isolation.
    pub isolation: crate::client::api::Isolation,
    /// How long a fetch waits for data.
    pub fetch_wait: Duration,
    /// Human tables or JSON events.
    pub format: Format,
    /// The first respawn delay (it doubles per crash).
    pub respawn_backoff: Duration,
    /// The window in which more than 5 crashes of one worker stop the run.
    pub crash_window: Duration,
    /// Faults injected for tests.
    pub faults: Faults,
    /// Join the group through Kafka's group protocol (None: manual assignment only).
    pub subscribe: Option<Subscription>,
    /// The schema registry that decodes messages in Confluent's wire format.
    pub registry: Option<String>,
    /// The Avro reader schema's file (None: the subject's latest version).
    pub reader_schema: Option<std::path::PathBuf>,
    /// What to do with a poison event.
    pub on_invalid: OnInvalid,
    /// Where `--on-invalid dead-letter` writes (`<topic>.dlq` by default).
    pub dead_letter_topic: String,
    /// How long a worker waits out an unreachable or failing registry
    /// before the run stops (exit 1, what was processed committed).
    pub registry_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offsets() {
        assert_eq!(parse_start_offset("beginning"), Ok(StartOffset::Earliest));
        assert_eq!(parse_start_offset("end"), Ok(StartOffset::Latest));
        assert_eq!(parse_start_offset("stored"), Ok(StartOffset::Committed));
        assert_eq!(parse_start_offset("42"), Ok(StartOffset::At(42)));
        assert_eq!(parse_start_offset("-10"), Ok(StartOffset::FromEnd(10)));
        assert_eq!(parse_start_offset("-0"), Err(StartOffsetError("-0".into())));
        assert!(parse_start_offset("soon").is_err());
    }
}
