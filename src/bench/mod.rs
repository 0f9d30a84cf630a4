//! `braid bench`: compares partition parallelism.
//!
//! A grid of partition counts × consumer process counts. Every cell runs
//! `--warmup` unmeasured and `--runs` measured runs; each run is, on the
//! Kafka path ([`kafka`]), a fresh topic, `braid produce` and then
//! `braid consume --exit-at-end` as child processes on one broker (the
//! embedded one, started once, unless `-b`); on the in-process path
//! ([`inproc`]) the same event encoder and processors over crossbeam
//! channels, no broker: the ceiling the Kafka path is compared with (run as a
//! reference grid by default). Results ([`results`]) are medians with min and
//! max, shown as pivot tables and written as JSON, CSV and Markdown after
//! every cell; [`chart`] draws the SVG. Ctrl+C stops the children, keeps
//! the finished cells and exits 130.

pub mod chart;
pub mod inproc;
pub mod kafka;
pub mod results;

use anyhow::{Context as _, Result};
use std::time::Instant;

use crate::cli::{BenchArgs, ProcessorKind, Transport};
use crate::report;
use crate::shutdown::{Stop, EXIT_INTERRUPTED};
use crate::usage::UsageError;
use results::{Results, RunResult};

/// One cell of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Which pipeline.
    pub transport: Transport,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Consumer processes asked for.
    pub processes: u32,
}

impl Cell {
    /// Consumer processes that get work: no more than there are partitions.
    pub fn workers(&self) -> u32 {
        self.processes.min(self.partitions)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    /// Records acknowledged by the broker (inproc: sent into the channels).
    pub acked: u64,
    /// Events consumed and processed.
    pub consumed: u64,
    /// Producer throughput, records/s.
    pub produce_rate: f64,
    /// Consumer throughput, events/s (first fetched event to last processed).
    pub consume_rate: f64,
    /// Producer run time in ms.
    pub produce_ms: u64,
    /// Consumer run time in ms.
    pub consume_ms: u64,
}

/// How a run ended.
pub enum RunEnd {
    /// It finished and measured this.
    Measured(Measure),
    /// Ctrl+C stopped it.
    Interrupted,
}

/// Runs `braid bench`; returns the exit code.
pub fn run(args: &BenchArgs) -> Result<i32> {
    validate(args)?;
    let stop = Stop::new();
    crate::shutdown::install_ctrlc_counting(&stop)?;

    let mut cells = Vec::new();
    let mut transports = Vec::new();
    if args.transport == Transport::Inproc || !args.no_reference {
        transports.push(Transport::Inproc);
    }
    if args.transport == Transport::Kafka {
        transports.push(Transport::Kafka);
    }
    for &transport in &transports {
        for &partitions in &args.partitions {
            for &processes in &args.processes {
                cells.push(Cell {
                    transport,
                    partitions,
                    processes,
                });
            }
        }
    }

    let mut results = Results::new(args);
    let mut env = if args.transport == Transport::Kafka {
        Some(kafka::KafkaRunner::start(args, &stop)?)
    } else {
        None
    };
    if let Some(env) = &env {
        report::line_err(&format!(
            "braid bench: {} cells x ({} warmup + {} runs), {} events of {} bytes each, {} producer threads, brokers {}",
            cells.len(),
            args.warmup,
            args.runs,
            report::thousands(args.messages),
            args.size,
            args.threads,
            env.brokers
        ));
    }

    let started = Instant::now();
    let mut interrupted = false;
    let mut failed: Option<anyhow::Error> = None;
    'cells: for (i, cell) in cells.iter().enumerate() {
        let total = args.warmup + args.runs;
        for k in 0..total {
            let warm = k < args.warmup;
            let label = format!(
                "[{}/{}] {} partitions={} processes={} {}",
                i + 1,
                cells.len(),
                transport_name(cell.transport),
                cell.partitions,
                cell.processes,
                if warm {
                    format!("warmup {}/{}", k + 1, args.warmup)
                } else {
                    format!("run {}/{}", k - args.warmup + 1, args.runs)
                }
            );
            if !report::progress_on_terminal() {
                report::line_err(&label);
            }
            let outcome = match cell.transport {
                Transport::Inproc => {
                    if report::progress_on_terminal() {
                        report::progress(&label);
                    }
                    inproc::run_once(args, cell, &stop)
                }
                Transport::Kafka => match env.as_mut() {
                    Some(env) => env.run_once(args, cell, &label),
                    None => Err(anyhow::anyhow!(
                        "internal error: no broker for a kafka cell"
                    )),
                },
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    // Keep what was measured: show and write it, then fail.
                    failed = Some(e);
                    break 'cells;
                }
            };
            match outcome {
                RunEnd::Interrupted => {
                    interrupted = true;
                    break 'cells;
                }
                RunEnd::Measured(m) if !warm => {
                    results.add(RunResult::new(args, cell, k - args.warmup + 1, &m))
                }
                RunEnd::Measured(_) => {}
            }
            if stop.requested() {
                interrupted = true;
                break 'cells;
            }
        }
        results.set_status(if i + 1 == cells.len() {
            "complete"
        } else {
            "partial"
        });
        write_exports(args, &results, false)?;
    }
    report::progress_done();
    if let Some(env) = env.take() {
        env.stop();
    }
    if failed.is_some() {
        results.set_status("failed");
    }
    if interrupted {
        results.set_status("interrupted");
        report::line_err(&format!(
            "interrupted: keeping the {} finished cells",
            results.cells().len()
        ));
    }
    let to_stdout = [&args.export_json, &args.export_csv, &args.export_markdown]
        .iter()
        .any(|e| e.as_deref() == Some("-"));
    let text = results.render_text();
    if to_stdout {
        report::line_err(&text);
    } else {
        report::line(&text);
    }
    report::line_err(&format!(
        "bench took {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    write_exports(args, &results, true)?;
    if let Some(e) = failed {
        return Err(e.context(format!(
            "bench stopped after {} finished cells",
            results.cells().len()
        )));
    }
    Ok(if interrupted { EXIT_INTERRUPTED } else { 0 })
}

/// The name of a transport as shown and exported.
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Kafka => "kafka",
        Transport::Inproc => "inproc",
    }
}

/// Writes the exports; stdout (`-`) only once, at the end (`last`).
fn write_exports(args: &BenchArgs, results: &Results, last: bool) -> Result<()> {
    type Render = fn(&Results) -> String;
    let targets: [(&Option<String>, Render); 3] = [
        (&args.export_json, Results::to_json),
        (&args.export_csv, Results::to_csv),
        (&args.export_markdown, Results::to_markdown),
    ];
    for (target, render) in targets {
        match target.as_deref() {
            None => {}
            Some("-") if last => report::line(render(results).trim_end()),
            Some("-") => {}
            Some(path) => write_atomically(std::path::Path::new(path), &render(results))?,
        }
    }
    if let Some(path) = &args.plot {
        if !results.cells().is_empty() {
            let svg = chart::svg(results)?;
            write_atomically(path, &svg)?;
        }
    }
    Ok(())
}

/// Writes `text` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("braid-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Checks what clap cannot check flag by flag; a usage error exits 2.
fn validate(args: &BenchArgs) -> Result<(), UsageError> {
    let err = |msg: String| UsageError::new("bench", msg);
    if args.processor == ProcessorKind::Echo {
        return Err(err(
            "--processor echo prints every event; bench takes count, prime, sqrt or square".into(),
        ));
    }
    let per_sender = args.messages.div_ceil(args.threads as u64);
    let min = crate::event::min_padded_size(
        args.threads - 1,
        per_sender.saturating_sub(1),
        args.value_range.hi,
    );
    if (args.size as usize) < min {
        return Err(err(format!(
            "--size {} is smaller than an event with these flags: use --size {min} or more",
            args.size
        )));
    }
    if args.transport == Transport::Inproc && args.brokers.is_some() {
        return Err(err("--transport inproc uses no broker: drop -b".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &args.partitions {
        if !seen.insert(("p", *p)) {
            return Err(err(format!("--partitions lists {p} twice")));
        }
    }
    for p in &args.processes {
        if !seen.insert(("w", *p)) {
            return Err(err(format!("--processes lists {p} twice")));
        }
    }
    Ok(())
}
