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
pub mod options;
pub mod results;

use anyhow::{Context as _, Result};
use std::time::Instant;

use crate::report;
use crate::shutdown::{Stop, EXIT_INTERRUPTED};
pub use options::{Options, Transport};
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
    /// The Kafka client of a kafka cell (auto for inproc).
    pub protocol: crate::client::protocol::Protocol,
}

impl Cell {
    /// The cell's series name: `inproc`, `kafka` (auto), `kafka-legacy` or
    /// `kafka-modern`; tables, exports and the chart group runs by it.
    pub fn series(&self) -> &'static str {
        use crate::client::protocol::Protocol;
        match (self.transport, self.protocol) {
            (Transport::Inproc, _) => "inproc",
            (Transport::Kafka, Protocol::Auto) => "kafka",
            (Transport::Kafka, Protocol::Legacy) => "kafka-legacy",
            (Transport::Kafka, Protocol::Modern) => "kafka-modern",
        }
    }

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

/// How the grid ended.
enum GridEnd {
    /// Every cell ran.
    Complete,
    /// Ctrl+C stopped it.
    Interrupted,
    /// A run failed (the finished cells are kept).
    Failed(anyhow::Error),
}

/// Runs `braid bench` with its checked options; returns the exit code.
pub fn run(args: &Options) -> Result<i32> {
    let stop = Stop::new();
    crate::shutdown::install_ctrlc_counting(&stop)?;
    let cells = grid(args);
    let mut results = Results::new(args);
    let mut runner = if args.transport == Transport::Kafka {
        Some(kafka::KafkaRunner::start(args, &stop)?)
    } else {
        None
    };
    if let Some(runner) = &runner {
        report::line_err(&format!(
            "braid bench: {} cells x ({} warmup + {} runs), {} events of {} bytes each, {} producer threads, brokers {}",
            cells.len(),
            args.warmup,
            args.runs,
            report::thousands(args.messages),
            args.size,
            args.threads,
            runner.brokers
        ));
    }
    let started = Instant::now();
    let end = run_grid(args, &cells, runner.as_mut(), &stop, &mut results)?;
    report::progress_done();
    if let Some(runner) = runner.take() {
        runner.stop();
    }
    finish(args, &mut results, started, end)
}

/// The cells to run: the inproc reference grid (unless `--no-reference`),
/// then the Kafka grid, each partitions × processes.
fn grid(args: &Options) -> Vec<Cell> {
    let mut transports = Vec::new();
    if args.transport == Transport::Inproc || args.reference {
        transports.push(Transport::Inproc);
    }
    if args.transport == Transport::Kafka {
        transports.push(Transport::Kafka);
    }
    let mut cells = Vec::new();
    for &transport in &transports {
        let protocols = match transport {
            Transport::Inproc => vec![Default::default()],
            Transport::Kafka => args.protocols.clone(),
        };
        for &protocol in &protocols {
            for &partitions in &args.partitions {
                for &processes in &args.processes {
                    cells.push(Cell {
                        transport,
                        partitions,
                        processes,
                        protocol,
                    });
                }
            }
        }
    }
    cells
}

/// Runs every cell (warmups, then measured runs), adding the measured runs
/// to `results` and writing the exports after each cell.
fn run_grid(
    args: &Options,
    cells: &[Cell],
    mut runner: Option<&mut kafka::KafkaRunner>,
    stop: &Stop,
    results: &mut Results,
) -> Result<GridEnd> {
    for (i, cell) in cells.iter().enumerate() {
        for k in 0..args.warmup + args.runs {
            let warm = k < args.warmup;
            let label = run_label(args, (i, cells.len()), cell, k);
            if !report::progress_on_terminal() {
                report::line_err(&label);
            }
            let end = match cell.transport {
                Transport::Inproc => {
                    if report::progress_on_terminal() {
                        report::progress(&label);
                    }
                    inproc::run_once(args, cell, stop)
                }
                Transport::Kafka => match runner.as_deref_mut() {
                    Some(runner) => runner.run_once(args, cell, &label),
                    None => Err(anyhow::anyhow!(
                        "internal error: no broker for a kafka cell"
                    )),
                },
            };
            // Keep what was measured: show and write it, then fail.
            match end {
                Err(e) => return Ok(GridEnd::Failed(e)),
                Ok(RunEnd::Interrupted) => return Ok(GridEnd::Interrupted),
                Ok(RunEnd::Measured(m)) if !warm => {
                    results.add(RunResult::new(args, cell, k - args.warmup + 1, &m))
                }
                Ok(RunEnd::Measured(_)) => {}
            }
            if stop.requested() {
                return Ok(GridEnd::Interrupted);
            }
        }
        results.set_status(if i + 1 == cells.len() {
            "complete"
        } else {
            "partial"
        });
        write_exports(args, results, false)?;
    }
    Ok(GridEnd::Complete)
}

/// `[3/8] kafka partitions=2 processes=4 run 1/3`: cell `i` of `n`, run `k`.
fn run_label(args: &Options, (i, n): (usize, usize), cell: &Cell, k: u32) -> String {
    format!(
        "[{}/{}] {} partitions={} processes={} {}",
        i + 1,
        n,
        cell.series(),
        cell.partitions,
        cell.processes,
        if k < args.warmup {
            format!("warmup {}/{}", k + 1, args.warmup)
        } else {
            format!("run {}/{}", k - args.warmup + 1, args.runs)
        }
    )
}

/// Shows the tables, writes the exports for the last time, and returns the
/// exit code (or the error that stopped the grid).
fn finish(args: &Options, results: &mut Results, started: Instant, end: GridEnd) -> Result<i32> {
    match &end {
        GridEnd::Failed(_) => results.set_status("failed"),
        GridEnd::Interrupted => {
            results.set_status("interrupted");
            report::line_err(&format!(
                "interrupted: keeping the {} finished cells",
                results.cells().len()
            ));
        }
        GridEnd::Complete => {}
    }
    let to_stdout = [
        &args.exports.json,
        &args.exports.csv,
        &args.exports.markdown,
    ]
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
    write_exports(args, results, true)?;
    match end {
        GridEnd::Failed(e) => Err(e.context(format!(
            "bench stopped after {} finished cells",
            results.cells().len()
        ))),
        GridEnd::Interrupted => Ok(EXIT_INTERRUPTED),
        GridEnd::Complete => Ok(0),
    }
}

/// The name of a transport as shown and exported.
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Kafka => "kafka",
        Transport::Inproc => "inproc",
    }
}

/// Writes the exports; stdout (`-`) only once, at the end (`last`).
fn write_exports(args: &Options, results: &Results, last: bool) -> Result<()> {
    type Render = fn(&Results) -> String;
    let targets: [(&Option<String>, Render); 3] = [
        (&args.exports.json, Results::to_json),
        (&args.exports.csv, Results::to_csv),
        (&args.exports.markdown, Results::to_markdown),
    ];
    for (target, render) in targets {
        match target.as_deref() {
            None => {}
            Some("-") if last => report::line(render(results).trim_end()),
            Some("-") => {}
            Some(path) => write_atomically(std::path::Path::new(path), &render(results))?,
        }
    }
    if let Some(path) = &args.exports.plot {
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
