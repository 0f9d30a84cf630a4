//! `braid produce`: one OS thread per sender.
//!
//! ```text
//! sender 0 ──Producer──> send_all ──┐
//! sender 1 ──Producer──> send_all ──┤── crossbeam channel ──> collector (progress, JSON events, histogram)
//! sender 2 ──Producer──> send_all ──┘
//! ```
//!
//! Before any thread starts, the brokers are checked for reachability and
//! the topic for existence (the kafka crate silently skips unknown topics).
//! Then `std::thread::scope` runs the senders ([`sender`]) and one collector ([`collector`]);
//! when they are done the summary ([`summary`]) follows
//! kafka-producer-perf-test, overall and per thread. Ctrl+C stops generating, lets the batches in flight
//! finish, prints the summary and exits 130.

pub mod collector;
pub mod encoding;
pub mod events;
pub mod options;
pub mod partitioner;
pub mod sender;
pub mod stats;
pub mod summary;

pub use options::{Acks, CompressionArg, KeyMode, Options, ValueRange};

use crate::report::{self, Format};
use crate::shutdown::{self, Stop};
use anyhow::bail;
use collector::Collector;
use crossbeam::channel;
use events::ProduceEvent;
use stats::{Tally, Update};
use std::time::{Duration, Instant};
use summary::Summary;

/// Runs `braid produce` with its checked options; returns the exit code (0,
/// 1 if records failed, 130 after Ctrl+C).
pub fn run(opts: &Options) -> anyhow::Result<i32> {
    let stop = Stop::new();
    shutdown::install_ctrlc(&stop)?;
    check_reachable(&opts.brokers)?;
    check_codec(opts)?;
    let partitions = check_topic(opts)?;
    log::info!(
        "producing to '{}' ({partitions} partitions) with {} senders, {} client",
        opts.topic,
        opts.threads,
        crate::client::protocol::current()
    );
    if opts.format == Format::Json {
        report::emit_json(&ProduceEvent::StartupComplete(events::StartupComplete {
            timestamp: report::now_ms(),
            command: "produce".into(),
            topic: opts.topic.clone(),
            partitions,
            brokers: opts.brokers.clone(),
            threads: opts.threads,
            messages: opts.messages.unwrap_or(0),
            key: format!("{:?}", opts.key).to_lowercase(),
            protocol: crate::client::protocol::current(),
        }));
    }
    let encodings = encoding::Encodings::register(opts)?;
    let start = Instant::now();
    let tallies = run_senders(opts, &encodings, &stop);
    let elapsed = start.elapsed();

    let mut all = Tally::default();
    for t in &tallies {
        all.merge(t);
    }
    let interrupted = stop.by_signal();
    let summary = Summary {
        topic: &opts.topic,
        tallies: &tallies,
        all: &all,
        elapsed,
        interrupted,
    };
    match opts.format {
        Format::Human => summary.print_human(),
        Format::Json => summary.emit_json(),
    }
    Ok(exit_code(&all, interrupted))
}

/// Runs the sender threads and the collector until every sender is done;
/// returns each sender's tally.
fn run_senders(opts: &Options, encodings: &encoding::Encodings, stop: &Stop) -> Vec<Tally> {
    let (tx, rx) = channel::unbounded::<Update>();
    std::thread::scope(|s| {
        let collector = s.spawn(move || Collector::new(opts).run(rx));
        for thread in 0..opts.threads {
            let quota = quota(opts.messages.unwrap_or(0), opts.threads, thread);
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("sender-{thread}"))
                .spawn_scoped(s, move || {
                    sender::Sender::new(opts, encodings, thread, stop, tx).run(quota)
                })
                .expect("cannot spawn a sender thread");
        }
        drop(tx);
        collector.join().expect("the collector thread panicked")
    })
}

/// 130 after Ctrl+C, 1 (with the last error) when records failed, else 0.
fn exit_code(all: &Tally, interrupted: bool) -> i32 {
    if all.acked + all.failed != all.attempted {
        // Cannot happen unless a sender thread died; say so rather than hide it.
        log::error!(
            "counts disagree: attempted {} but acked {} + failed {}",
            all.attempted,
            all.acked,
            all.failed
        );
    }
    if interrupted {
        shutdown::EXIT_INTERRUPTED
    } else if all.failed > 0 || all.acked + all.failed != all.attempted {
        report::error_line(&anyhow::anyhow!(
            "{} of {} records failed; last error: {}",
            all.failed,
            all.attempted,
            all.last_error.as_deref().unwrap_or("none reported")
        ));
        1
    } else {
        0
    }
}

/// This sender's share of `total` messages (None: until stopped).
fn quota(total: u64, threads: u32, thread: u32) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let (each, extra) = (total / threads as u64, total % threads as u64);
    Some(each + u64::from((thread as u64) < extra))
}

/// Fails within seconds, with one line saying what to do, when no broker
/// of the list accepts a TCP connection (the same line as every command).
fn check_reachable(brokers: &[String]) -> anyhow::Result<()> {
    crate::reach::check(brokers)
}

/// lz4 and zstd are record-batch codecs: the `kafka` crate's magic-0
/// messages have no such codec, so the legacy client refuses them up front.
fn check_codec(opts: &Options) -> anyhow::Result<()> {
    use crate::produce::options::CompressionArg;
    let batch_only = matches!(opts.compression, CompressionArg::Lz4 | CompressionArg::Zstd);
    if batch_only && crate::client::protocol::current() == crate::client::api::Path::Legacy {
        return Err(crate::usage::UsageError::new(
            format!(
                "--compression {:?} needs record batches: add --protocol modern (the kafka crate, \
             used on this broker, writes only none, gzip or snappy)",
                opts.compression
            )
            .to_lowercase(),
        )
        .into());
    }
    Ok(())
}

/// Checks that the topic exists (asking for its metadata creates it on a
/// broker that auto-creates topics) and returns its partition count.
fn check_topic(cfg: &Options) -> anyhow::Result<u32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let info = Some(sender::open(cfg, 0)?.topic().clone()).filter(|t| t.partitions > 0);
        match info {
            Some(t) if t.available.len() as u32 == t.partitions => return Ok(t.partitions),
            Some(t) if Instant::now() >= deadline => {
                log::warn!("topic '{}': some partitions have no leader", cfg.topic);
                return Ok(t.partitions);
            }
            None if Instant::now() >= deadline => bail!(
                "topic '{t}' does not exist on {b} and was not created on first use: \
                 create it, e.g. `braid broker --topic {t}:6` for the embedded broker, or \
                 `kafka-topics.sh --bootstrap-server {b} --create --topic {t} --partitions 6` on Kafka",
                t = cfg.topic,
                b = cfg.brokers.join(",")
            ),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_split_evenly_and_add_up() {
        let q: Vec<_> = (0..4).map(|t| quota(10, 4, t).unwrap()).collect();
        assert_eq!(q, vec![3, 3, 2, 2]);
        assert_eq!((0..3).map(|t| quota(2, 3, t).unwrap()).sum::<u64>(), 2);
        assert_eq!(quota(0, 4, 0), None);
    }

    #[test]
    fn unreachable_brokers_fail_fast_with_advice() {
        // A port where connections are refused, held for the whole test: the
        // client end of a connection keeps it, and nothing listens on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let held = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server_end = listener.accept().unwrap();
        drop(listener);
        let addr = held.local_addr().unwrap().to_string();
        let t = Instant::now();
        let e = check_reachable(std::slice::from_ref(&addr)).unwrap_err();
        // Refused, not retried: far below any retry timeout (generous for a
        // loaded machine).
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        let msg = e.to_string();
        assert!(msg.contains(&addr) && msg.contains("braid broker"), "{msg}");
        assert!(msg.contains("docker compose up -d"), "{msg}");
    }
}
