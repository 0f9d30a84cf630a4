//! braid shows, measures and survives concurrency around Kafka partitions.
//!
//! # How data flows
//!
//! `bin/braid.rs` parses the command line into [`cli`] types (raw flags
//! only) and calls [`run`], which turns the command's raw args into its
//! checked options, checks that a broker answers ([`reach`]), resolves
//! `--protocol` (which Kafka client this process speaks through,
//! `client::protocol`) and runs it. Each
//! command module owns its options type (`produce::Options`,
//! `consume::options::Options`, `demo::options::Options`, `bench::Options`,
//! `topic::Options`, `registry::Config`, `broker::Config`): durations as
//! `Duration`, defaults resolved, flags checked together. The conversions
//! live in `cli/<command>.rs`, so no command module imports [`cli`]: the
//! dependencies point one way, from `cli` to the commands to the shared
//! pieces below them. Flags that make no sense together are a
//! [`usage::UsageError`] (exit 2); any other error exits 1. Either is one
//! `braid: error: ...` line on stderr.
//!
//! ```text
//! braid demo / braid bench ──child::start──> braid broker   (listening on ADDR)
//!                          ──child::start──> braid produce --format json ──ProduceEvent lines──┐
//!                          ──child::start──> braid consume --format json ──ConsumeEvent lines──┤
//!                          <────────────── stdout, parsed with the same types ─────────────────┘
//! braid produce: sender threads ──stats::Update──> collector thread ──> progress / ProduceEvent
//! braid consume: supervisor ──fork──> workers ──status pipe──> supervisor ──> live view / ConsumeEvent
//! ```
//!
//! Every command writes its `--format json` events as a typed
//! `#[serde(tag = "name")]` enum ([`produce::events::ProduceEvent`],
//! [`consume::events::ConsumeEvent`]); `braid demo`, `braid bench` and the
//! tests read them back with the same types, never by string key.
//!
//! # The modules
//!
//! - [`cli`]: clap derive types for every command (one file per command,
//!   raw flags only) and the one place each becomes its command's options.
//! - [`usage`]: [`usage::UsageError`], the one usage error (exit 2).
//! - [`report`]: everything a person or a program reads: human lines and
//!   tables, the live area, `--format json` lines, and [`report::Format`].
//!   On a terminal (its size from TIOCGWINSZ, else `COLUMNS`/`LINES`), lines
//!   wrap at spaces, tables wrap their last column, and the live area is cut
//!   to the terminal's width and height so that it repaints in place.
//! - [`event`]: the JSON event every Kafka message carries (`sender`, `seq`,
//!   `value`, `ts_ms`, optional padding): a fast encoder for the producer's
//!   hot path and a strict decoder for whoever reads events back.
//! - [`histogram`]: the log-linear latency histogram (about 1% precision)
//!   of the producer's acknowledgements and the consumer's end-to-end
//!   latency, and its sparse form that crosses the worker → supervisor pipe.
//! - [`produce`]: `braid produce`, one OS thread per sender, each with its
//!   own producer from `client` (its own connections); Java-compatible murmur2 partitioning, rate
//!   limiting, retries until `--timeout`, one collector thread for progress,
//!   events and the perf-test style summary. Its flag types (`KeyMode`,
//!   `Acks`, `CompressionArg`, `ValueRange`) live in `produce::options`, its
//!   events in `produce::events`.
//! - [`client`]: every connection to a broker goes through here; no
//!   `kafka::` type is used outside it. `client::api` is the one interface
//!   (`Producer`, `Consumer`, their options and errors: records cross it as
//!   plain bytes); two implementations sit behind it: `client::legacy`, the
//!   `kafka` crate (Produce v0-2, Fetch v0-3; the embedded broker and Kafka
//!   up to 3.9; with `legacy::fetch_gap`, which gets back the events the
//!   crate drops before a compressed wrapper), and `client::modern`, braid's
//!   own client on `kafka-protocol` (record batches v2, idempotent by
//!   default, versions negotiated with ApiVersions; Kafka 4.x).
//!   `client::protocol` picks one per process from `--protocol
//!   auto|legacy|modern` and the broker's ApiVersions (auto: the `kafka`
//!   crate where the broker still serves its versions). Beside them:
//!   `client::Conn` (a blocking kafka-protocol connection), `client::admin`
//!   (CreateTopics, metadata, offsets and lag, waiting for leaders, a
//!   group's members), the ConsumerProtocol bytes of group members, and
//!   `client::record_batch`, the record batch v2 codec (checks, record walk,
//!   gzip/snappy/lz4/zstd) shared with the broker's log and fetches.
//! - [`consume`]: `braid consume`. `consume::options` is the checked
//!   `Options`; `consume::assignment` plans which worker reads which
//!   partitions (a plan that does not cover the topic is a usage error).
//!   `consume::supervisor` is two halves. `supervisor::machine` makes every
//!   decision and does no I/O: `Machine::on(input, now)` takes a worker's
//!   status line, a worker reaped, a stop signal, a group event or a tick, and
//!   returns actions (fork, signal, heartbeat, join, leave, an event, exit);
//!   it respawns with a doubling backoff, ends a crash loop, kills stragglers
//!   after `--grace`, leaves at once on a second Ctrl+C, and under
//!   `--subscribe` stops and re-forks its workers on a rebalance. Its unit
//!   tests run it on a fake clock. `supervisor::driver` does the I/O,
//!   single-threaded since it forks (`spawn`): one poll loop over the signal
//!   self-pipes and the workers' status pipes, `waitpid`, `kill`, the group
//!   membership through `consume::membership` (JoinGroup/SyncGroup/
//!   Heartbeat/LeaveGroup, the range and roundrobin assignors) and the live
//!   view. `consume::worker` runs in each child after the fork:
//!   `kafka_io` fetches and commits (exactly last processed + 1, with the
//!   group generation under `--subscribe`, retried through `consume::recover`
//!   while the cluster fails over), `processing` processes events in order so
//!   that a stop lands between two events and settles each one: a poison
//!   event is skipped, stops the run, or goes to the dead-letter topic
//!   (`dead_letter`) as `--on-invalid` says; one the schema registry cannot
//!   decode yet (down, 5xx) halts processing there until it can, or until
//!   `--registry-timeout` stops the run. `consume::view` draws the live
//!   view and the summary; `consume::events` are its `--format json` events.
//! - [`child`]: starting braid's own executable as a child (broker, produce,
//!   consume) in its own process group with PDEATHSIG, its stdout read line
//!   by line into one channel, its stderr (its log) too, for the parent to
//!   print above its live view; `child::start_broker` waits for the embedded
//!   broker's `listening on` line. Used by demo and bench.
//! - [`demo`]: `braid demo`, the orchestrator: runs `braid broker`,
//!   `braid consume` and `braid produce` as children, reads their events
//!   for one live view, and verifies the result (nothing missing or
//!   duplicated, offsets contiguous, committed == end of log).
//! - [`bench`](mod@bench): `braid bench`, a grid of partitions × processes run end to
//!   end (producer and consumer as children on a broker) or in one process
//!   over crossbeam channels (`--transport inproc`); pivot tables, JSON,
//!   CSV, Markdown and an SVG chart.
//! - [`topic`]: `braid topic`, the command only: create (then wait for the
//!   leaders), list and describe (leaders, earliest/latest offsets, a
//!   group's committed offsets and lag); `-g` adds the group's state and
//!   members. The calls it makes are `client::admin`'s.
//! - [`broker`]: the embedded Kafka-compatible broker (`braid broker`): a
//!   thread-per-connection server (`server` accepts, `connection` serves one
//!   client and watches for a stop), framing (`broker::wire`), the one table
//!   of supported APIs and their handlers (`apis`, `handlers`), the partition
//!   log on disk (`partition_log`: record batches v2 as sent and magic-0
//!   messages, `log_entry`, `message`), idempotent producers' state
//!   (`producer_state`, rebuilt from the log), format conversions for
//!   produce and fetch (`records`), topic lifecycle and configs (`topics`,
//!   `topic_config`: honoured or refused at create) with retention
//!   (`retention`), the committed-offset store (`offsets`) and the classic
//!   group coordinator (`coordinator`: a pure state machine, served by
//!   `handlers::membership`; `coordinator::Groups` is the broker's group
//!   state, that machine shared by the connection threads).
//! - [`registry`]: `braid registry`, a Confluent-compatible schema registry
//!   (REST API over a small HTTP/1.1 server) whose state is the `_schemas`
//!   topic, replayed at start. AVRO, JSON and PROTOBUF schemas (`.proto`
//!   text or a base64 descriptor, stored as canonical `.proto` text,
//!   `references` and well-known imports resolved, `?format=serialized`);
//!   compatibility at the seven levels: Avro through `apache-avro`, Protobuf
//!   and JSON Schema by Confluent's rules (`registry::compat_proto`,
//!   `registry::compat_json`).
//! - [`schema`]: events with a schema: Confluent's wire format (magic 0,
//!   schema id, and for Protobuf the message indexes), braid's own Avro and
//!   Protobuf encoders for the event, a registry client, and the consumer's
//!   decoder (schemas by id, cached after the fork, read with a reader
//!   schema by Avro's resolution rules, or Protobuf's field numbers and
//!   defaults; `.proto` compiled by `protox`, decoded by `prost-reflect`:
//!   no `protoc`). `braid produce --schema avro|json|protobuf --registry URL`
//!   and `braid consume --registry URL`.
//! - [`reach`]: the one check, wording and hint for a broker that cannot
//!   be reached (a name that does not resolve says so), run before every
//!   command that connects to `--brokers`.
//! - [`shutdown`]: the one module that handles signals: `ctrlc` for the
//!   threaded commands; for the forking consumer, `signal-hook` self-pipes
//!   in the supervisor (`shutdown::supervisor`, with the mask held across
//!   each fork) and flags with PDEATHSIG in its workers (`shutdown::worker`).
//! - [`accept`]: the accept loop the broker and the registry share (a
//!   thread per connection, `--max-connections`, stop and a bounded wait).
//! - [`sync`]: [`sync::lock`], the mutex lock the broker and the registry
//!   share (it carries on after a panic elsewhere poisoned the mutex).
//! - [`topic_name`]: Kafka's rule for topic names, for the broker and the
//!   command line.
//! - [`alloc`]: the global allocator: the system's, except that huge blocks
//!   are mapped without reserving memory, so a hostile count in a request
//!   cannot abort the broker.
//! - [`logging`]: `env_logger` set-up (`RUST_LOG`), with `tracing` from the
//!   kafka crate routed to `log`.

pub mod accept;
pub mod alloc;
pub mod bench;
pub mod broker;
pub mod child;
pub mod cli;
pub mod client;
pub mod consume;
pub mod demo;
pub mod event;
pub mod histogram;
pub mod logging;
pub mod produce;
pub mod reach;
pub mod registry;
pub mod report;
pub mod schema;
pub mod shutdown;
pub mod sync;
pub mod topic;
pub mod topic_name;
pub mod usage;

#[global_allocator]
static GLOBAL: alloc::Allocator = alloc::Allocator;

/// Runs one parsed command line and returns the process exit code.
/// A command's flags are checked first (a usage error wins over a broker
/// that cannot be reached), then the brokers it connects to ([`connects`]).
pub fn run(cli: cli::Cli) -> i32 {
    let target = target_of(&cli.command);
    let connect = || connects(target.as_ref());
    let result = match cli.command {
        cli::Command::Broker(args) => broker::run(args.into()),
        cli::Command::Produce(args) => checked(&args).and_then(|o| {
            connect()?;
            produce::run(&o)
        }),
        cli::Command::Consume(args) => connect().and_then(|()| consume::run(&(&args).into())),
        cli::Command::Demo(args) => checked(&args).and_then(|o| {
            connect()?;
            demo::run(&o)
        }),
        cli::Command::Topic(args) => connect().and_then(|()| topic::run(&(&args).into())),
        cli::Command::Bench(args) => checked(&args).and_then(|o| {
            connect()?;
            bench::run(&o)
        }),
        cli::Command::Registry(args) => connect().and_then(|()| registry::run(&(&args).into())),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is::<usage::UsageError>() => {
            report::error_line(&e);
            usage::EXIT_USAGE
        }
        Err(e) => {
            report::error_line(&e);
            1
        }
    }
}

/// A command's checked options from its raw args, or its usage error.
fn checked<'a, A, O>(args: &'a A) -> anyhow::Result<O>
where
    O: TryFrom<&'a A, Error = usage::UsageError>,
{
    O::try_from(args).map_err(anyhow::Error::from)
}

/// The brokers a command connects to and the `--protocol` it asks for.
struct Target {
    /// The brokers.
    brokers: Vec<String>,
    /// The clients asked for (bench compares several).
    protocols: Vec<client::protocol::Protocol>,
    /// Whether the path becomes this process's (bench's children resolve their own).
    for_process: bool,
}

/// What a command connects to (none for the embedded broker and for demo
/// and bench without `-b`, which start their own and pass `--protocol` on).
fn target_of(command: &cli::Command) -> Option<Target> {
    let one = |b: &Vec<String>, p| Target {
        brokers: b.clone(),
        protocols: vec![p],
        for_process: true,
    };
    match command {
        cli::Command::Produce(a) => Some(one(&a.brokers, a.protocol)),
        cli::Command::Consume(a) => Some(one(&a.brokers, a.protocol)),
        cli::Command::Topic(a) => Some(one(&a.brokers, a.protocol)),
        cli::Command::Registry(a) => Some(one(&a.brokers, a.protocol)),
        cli::Command::Demo(a) => a.brokers.as_ref().map(|b| one(b, a.protocol)),
        cli::Command::Bench(a) => a.brokers.as_ref().map(|b| Target {
            brokers: b.clone(),
            protocols: a.protocol.clone(),
            for_process: false,
        }),
        cli::Command::Broker(_) => None,
    }
}

/// Runs [`reach::check`] (one line when no broker answers), then resolves
/// `--protocol` on the brokers a command connects to: one line and exit 1
/// when the broker cannot serve the client asked for (every client of
/// bench's axis is checked).
fn connects(target: Option<&Target>) -> anyhow::Result<()> {
    let Some(t) = target else {
        return Ok(());
    };
    reach::check(&t.brokers)?;
    if t.for_process {
        client::protocol::resolve_for_process(&t.brokers, t.protocols[0])?;
    } else {
        for &p in &t.protocols {
            client::protocol::resolve(&t.brokers, p)?;
        }
    }
    Ok(())
}
