//! `braid produce`: one OS thread per sender (DESIGN.md, Producer).
//!
//! ```text
//! sender 0 ──Producer──> send_all ──┐
//! sender 1 ──Producer──> send_all ──┤── crossbeam channel ──> reporter (progress, JSON events, histogram)
//! sender 2 ──Producer──> send_all ──┘
//! ```
//!
//! Before any thread starts, the brokers are checked for reachability and
//! the topic for existence (the kafka crate silently skips unknown topics).
//! Then `std::thread::scope` runs the senders ([`sender`]) and one reporter;
//! when they are done the summary follows kafka-producer-perf-test, overall
//! and per thread. Ctrl+C stops generating, lets the batches in flight
//! finish, prints the summary and exits 130.

pub mod events;
pub mod partitioner;
pub mod sender;
pub mod stats;

use crate::cli::{Format, ProduceArgs};
use crate::report;
use crate::shutdown::{self, Stop};
use anyhow::{bail, Context as _};
use crossbeam::channel::{self, RecvTimeoutError};
use kafka::client::KafkaClient;
use sender::SenderConfig;
use stats::{Report, Tally};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Runs `braid produce`; returns the exit code (0, 1 if records failed, 130
/// after Ctrl+C, 2 for flags that do not fit together).
pub fn run(args: &ProduceArgs) -> anyhow::Result<i32> {
    if let Err(e) = args.validate() {
        report::usage_error(&e);
        return Ok(2);
    }
    let stop = Stop::new();
    shutdown::install_ctrlc(&stop)?;

    let cfg = SenderConfig {
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        threads: args.threads,
        batch_size: args.batch_size as usize,
        key: args.key,
        values: args.value_range,
        size: args.size.map(|s| s as usize),
        compression: args.compression,
        acks: args.acks,
        timeout: Duration::from_secs(args.timeout),
        rate: (args.rate > 0.0).then_some(args.rate),
    };
    check_reachable(&cfg.brokers)?;
    let partitions = check_topic(&cfg)?;
    log::info!(
        "producing to '{}' ({partitions} partitions) with {} senders",
        cfg.topic,
        cfg.threads
    );
    if args.format == Format::Json {
        report::emit_json(&events::StartupComplete {
            name: "startup_complete".into(),
            timestamp: report::now_ms(),
            command: "produce".into(),
            topic: cfg.topic.clone(),
            partitions,
            brokers: cfg.brokers.clone(),
            threads: cfg.threads,
            messages: args.messages,
            key: format!("{:?}", cfg.key).to_lowercase(),
        });
    }

    let start = Instant::now();
    let (tx, rx) = channel::unbounded::<Report>();
    let tallies = std::thread::scope(|s| {
        let target = (args.messages > 0).then_some(args.messages);
        let (cfg, format) = (&cfg, args.format);
        let reporter = s.spawn(move || Reporter::new(cfg, format, target).run(rx));
        for thread in 0..cfg.threads {
            let quota = quota(args.messages, cfg.threads, thread);
            let (stop, tx) = (&stop, tx.clone());
            std::thread::Builder::new()
                .name(format!("sender-{thread}"))
                .spawn_scoped(s, move || {
                    sender::Sender::new(cfg, thread, stop, tx).run(quota)
                })
                .expect("cannot spawn a sender thread");
        }
        drop(tx);
        reporter.join().expect("the reporter thread panicked")
    });
    let elapsed = start.elapsed();

    let mut all = Tally::default();
    for t in &tallies {
        all.merge(t);
    }
    let interrupted = stop.by_signal();
    let summary = Summary {
        topic: &cfg.topic,
        tallies: &tallies,
        all: &all,
        elapsed,
        interrupted,
    };
    match args.format {
        Format::Human => summary.print_human(),
        Format::Json => summary.emit_json(),
    }
    if all.acked + all.failed != all.attempted {
        // Cannot happen unless a sender thread died; say so rather than hide it.
        log::error!(
            "counts disagree: attempted {} but acked {} + failed {}",
            all.attempted,
            all.acked,
            all.failed
        );
    }
    Ok(if interrupted {
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
    })
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
/// of the list accepts a TCP connection.
fn check_reachable(brokers: &[String]) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for b in brokers {
        let addrs = match b.to_socket_addrs() {
            Ok(a) => a,
            Err(e) => {
                errors.push(format!("{b}: {e}"));
                continue;
            }
        };
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            errors.push(format!("{b}: {e}"));
        }
    }
    bail!(
        "cannot reach a broker at {}: start one with `braid broker --listen {}`, \
         or the Kafka cluster with `docker compose up -d`",
        errors.join("; "),
        brokers
            .first()
            .map(String::as_str)
            .unwrap_or("127.0.0.1:9092")
    )
}

/// Checks that the topic exists (asking for its metadata creates it on a
/// broker that auto-creates topics) and returns its partition count.
fn check_topic(cfg: &SenderConfig) -> anyhow::Result<u32> {
    let mut client = KafkaClient::new(cfg.brokers.clone());
    client.set_client_id("braid-producer".to_string());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        client
            .load_metadata(&[&cfg.topic])
            .with_context(|| format!("cannot read metadata from {}", cfg.brokers.join(",")))?;
        let found = sender::topic_partitions(&client, &cfg.topic);
        match found {
            Some((n, available)) if available.len() as u32 == n => return Ok(n),
            Some((n, _)) if Instant::now() >= deadline => {
                log::warn!("topic '{}': some partitions have no leader", cfg.topic);
                return Ok(n);
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

/// The reporter thread: tallies reports, draws progress, emits JSON events.
struct Reporter<'a> {
    cfg: &'a SenderConfig,
    format: Format,
    target: Option<u64>,
    tallies: Vec<Tally>,
    done: u32,
}

impl<'a> Reporter<'a> {
    fn new(cfg: &'a SenderConfig, format: Format, target: Option<u64>) -> Self {
        Self {
            cfg,
            format,
            target,
            tallies: vec![Tally::default(); cfg.threads as usize],
            done: 0,
        }
    }

    fn run(mut self, rx: channel::Receiver<Report>) -> Vec<Tally> {
        let human = self.format == Format::Human;
        let terminal = human && report::progress_on_terminal();
        let tick = if terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(1)
        };
        let start = Instant::now();
        let mut next_tick = start + tick;
        let (mut last_acked, mut last_at) = (0u64, start);
        let mut drew = false;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(r) => self.handle(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + tick;
                if human {
                    let acked: u64 = self.tallies.iter().map(|t| t.acked).sum();
                    let rate = (acked - last_acked) as f64 / (now - last_at).as_secs_f64();
                    (last_acked, last_at) = (acked, now);
                    report::progress(&self.progress_text(acked, rate, start.elapsed()));
                    drew = true;
                }
            }
        }
        if drew {
            report::progress_done();
        }
        debug_assert_eq!(self.done, self.cfg.threads);
        self.tallies
    }

    fn progress_text(&self, acked: u64, rate: f64, elapsed: Duration) -> String {
        let failed: u64 = self.tallies.iter().map(|t| t.failed).sum();
        let retries: u64 = self.tallies.iter().map(|t| t.retries).sum();
        let target = self
            .target
            .map_or_else(|| "∞".to_string(), report::thousands);
        let mut text = format!(
            "produce {:>6.1}s  acked {} / {}  {} rec/s  failed {}",
            elapsed.as_secs_f64(),
            report::thousands(acked),
            target,
            report::thousands(rate as u64),
            report::thousands(failed)
        );
        if retries > 0 {
            text.push_str(&format!("  retries {retries}"));
        }
        text
    }

    fn handle(&mut self, r: Report) {
        let json = self.format == Format::Json;
        let topic = &self.cfg.topic;
        match r {
            Report::Started { thread } => log::debug!("sender {thread} connected"),
            Report::Acked {
                thread,
                partition,
                base_offset,
                records,
                bytes,
                latency,
                seqs,
            } => {
                let t = &mut self.tallies[thread as usize];
                t.acked += records;
                t.bytes += bytes;
                t.latency.record(latency.as_micros() as u64, records);
                if json {
                    report::emit_json(&events::SendSuccess {
                        name: "producer_send_success".into(),
                        timestamp: report::now_ms(),
                        thread,
                        topic: topic.clone(),
                        partition,
                        offset: base_offset,
                        count: records,
                        first_seq: seqs.0,
                        last_seq: seqs.1,
                    });
                }
            }
            Report::Failed {
                thread,
                partition,
                records,
                error,
            } => {
                let t = &mut self.tallies[thread as usize];
                t.failed += records;
                t.last_error = Some(error.clone());
                log::error!(
                    "sender {thread}: {records} records for partition {partition} failed: {error}"
                );
                if json {
                    report::emit_json(&events::SendError {
                        name: "producer_send_error".into(),
                        timestamp: report::now_ms(),
                        thread,
                        topic: topic.clone(),
                        partition,
                        count: records,
                        error,
                    });
                }
            }
            Report::Retrying {
                thread,
                attempt,
                error,
            } => {
                self.tallies[thread as usize].retries += 1;
                if json {
                    report::emit_json(&events::SendRetry {
                        name: "producer_send_retry".into(),
                        timestamp: report::now_ms(),
                        thread,
                        topic: topic.clone(),
                        attempt,
                        error,
                    });
                }
            }
            Report::Done { thread, attempted } => {
                self.tallies[thread as usize].attempted = attempted;
                self.done += 1;
            }
        }
    }
}

/// The final numbers, printed like kafka-producer-perf-test.
struct Summary<'a> {
    topic: &'a str,
    tallies: &'a [Tally],
    all: &'a Tally,
    elapsed: Duration,
    interrupted: bool,
}

const MB: f64 = 1024.0 * 1024.0;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Summary<'_> {
    fn rates(&self, t: &Tally) -> (f64, f64) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        (t.acked as f64 / secs, t.bytes as f64 / MB / secs)
    }

    fn print_human(&self) {
        let a = self.all;
        let (rps, mbps) = self.rates(a);
        let h = &a.latency;
        if self.interrupted {
            report::line("interrupted: stopped generating, batches in flight finished");
        }
        report::line(&format!(
            "{} records sent ({} acked, {} failed) to '{}' in {:.2} s, {:.1} records/sec ({:.2} MB/sec), \
             {:.2} ms avg latency, {:.2} ms max latency, {:.1} ms 50th, {:.1} ms 95th, {:.1} ms 99th, {:.1} ms 99.9th.",
            a.attempted,
            a.acked,
            a.failed,
            self.topic,
            self.elapsed.as_secs_f64(),
            rps,
            mbps,
            ms(h.mean() as u64),
            ms(h.max()),
            ms(h.quantile(0.5)),
            ms(h.quantile(0.95)),
            ms(h.quantile(0.99)),
            ms(h.quantile(0.999)),
        ));
        let header = [
            "thread",
            "sent",
            "acked",
            "failed",
            "retries",
            "records/s",
            "MB/s",
            "avg ms",
            "max ms",
            "p50",
            "p95",
            "p99",
            "p99.9",
        ];
        let row = |name: String, t: &Tally| {
            let (rps, mbps) = self.rates(t);
            let l = &t.latency;
            vec![
                name,
                report::thousands(t.attempted),
                report::thousands(t.acked),
                report::thousands(t.failed),
                t.retries.to_string(),
                format!("{rps:.0}"),
                format!("{mbps:.2}"),
                format!("{:.2}", ms(l.mean() as u64)),
                format!("{:.2}", ms(l.max())),
                format!("{:.1}", ms(l.quantile(0.5))),
                format!("{:.1}", ms(l.quantile(0.95))),
                format!("{:.1}", ms(l.quantile(0.99))),
                format!("{:.1}", ms(l.quantile(0.999))),
            ]
        };
        let mut rows: Vec<Vec<String>> = self
            .tallies
            .iter()
            .enumerate()
            .map(|(i, t)| row(i.to_string(), t))
            .collect();
        rows.push(row("all".to_string(), a));
        report::line(&report::table(&header, &rows));
    }

    fn emit_json(&self) {
        let a = self.all;
        let (rps, mbps) = self.rates(a);
        let h = &a.latency;
        let threads = self
            .tallies
            .iter()
            .zip(0..)
            .map(|(t, thread)| events::ThreadCounts {
                thread,
                sent: t.attempted,
                acked: t.acked,
                failed: t.failed,
                retries: t.retries,
            })
            .collect();
        report::emit_json(&events::ShutdownComplete {
            name: "shutdown_complete".into(),
            timestamp: report::now_ms(),
            command: "produce".into(),
            topic: self.topic.to_string(),
            sent: a.attempted,
            acked: a.acked,
            failed: a.failed,
            retries: a.retries,
            interrupted: self.interrupted,
            elapsed_ms: self.elapsed.as_millis() as u64,
            records_per_sec: rps,
            mb_per_sec: mbps,
            latency_ms: events::LatencyMs {
                avg: ms(h.mean() as u64),
                max: ms(h.max()),
                p50: ms(h.quantile(0.5)),
                p95: ms(h.quantile(0.95)),
                p99: ms(h.quantile(0.99)),
                p99_9: ms(h.quantile(0.999)),
            },
            threads,
        });
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
