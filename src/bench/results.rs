//! `braid bench` results: every measured run, the per-cell medians with min
//! and max, and their renderings: pivot tables (text and Markdown), JSON, CSV.

use serde::Serialize;
use std::collections::BTreeMap;

use super::Options;
use super::{transport_name, Cell, Measure};
use crate::report;

/// One measured run (warmup runs are not kept).
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// `kafka` or `inproc`.
    pub transport: &'static str,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Consumer processes asked for.
    pub processes: u32,
    /// Consumer processes that had work (no more than partitions).
    pub workers: u32,
    /// Producer threads.
    pub threads: u32,
    /// Events per run.
    pub messages: u64,
    /// Bytes per message.
    pub size: u32,
    /// The consumers' processor.
    pub processor: String,
    /// The run's number within its cell, from 1.
    pub run: u32,
    /// Producer throughput.
    pub produce_records_per_sec: f64,
    /// Consumer throughput (first fetched event to last processed).
    pub consume_events_per_sec: f64,
    /// Producer run time.
    pub produce_ms: u64,
    /// Consumer run time (first fetched event to last processed).
    pub consume_ms: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Events consumed.
    pub consumed: u64,
}

impl RunResult {
    /// The result of run `run` of `cell`.
    pub fn new(args: &Options, cell: &Cell, run: u32, m: &Measure) -> Self {
        RunResult {
            transport: cell.series(),
            partitions: cell.partitions,
            processes: cell.processes,
            workers: cell.workers(),
            threads: args.threads,
            messages: args.messages,
            size: args.size,
            processor: format!("{:?}", args.processor).to_lowercase(),
            run,
            produce_records_per_sec: round1(m.produce_rate),
            consume_events_per_sec: round1(m.consume_rate),
            produce_ms: m.produce_ms,
            consume_ms: m.consume_ms,
            acked: m.acked,
            consumed: m.consumed,
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Median, min and max of some runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stat {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Stat {
    /// The statistics of `xs` (all zero when empty).
    pub fn of(xs: &[f64]) -> Stat {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Stat {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stat {
            median: round1(median),
            min: round1(v[0]),
            max: round1(v[n - 1]),
        }
    }
}

/// One cell's summary over its measured runs.
#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    /// `kafka` or `inproc`.
    pub transport: &'static str,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Consumer processes asked for.
    pub processes: u32,
    /// Consumer processes that had work.
    pub workers: u32,
    /// Measured runs.
    pub runs: usize,
    /// Producer records/s.
    pub produce_records_per_sec: Stat,
    /// Consumer events/s.
    pub consume_events_per_sec: Stat,
}

/// The configuration part of the JSON export.
#[derive(Debug, Clone, Serialize)]
struct Config {
    partitions: Vec<u32>,
    processes: Vec<u32>,
    threads: u32,
    messages: u64,
    size: u32,
    processor: String,
    value_range: String,
    runs: u32,
    warmup: u32,
    transport: &'static str,
    cores: usize,
}

/// A rendered table: title, header, rows, notes under it.
type Table = (String, Vec<String>, Vec<Vec<String>>, Vec<String>);

/// The JSON export (`--export-json`), keys in alphabetical order.
#[derive(Serialize)]
struct Export<'a> {
    /// Per cell: medians with min and max.
    cells: Vec<CellSummary>,
    /// The bench's settings.
    config: &'a Config,
    /// Every measured run.
    runs: &'a [RunResult],
    /// `running`, `partial`, `complete`, `interrupted` or `failed`.
    status: &'a str,
}

mod tables;

/// Everything measured so far.
pub struct Results {
    config: Config,
    status: &'static str,
    runs: Vec<RunResult>,
}

impl Results {
    /// No results yet, for a bench with `args`.
    pub fn new(args: &Options) -> Self {
        Results {
            config: Config {
                partitions: args.partitions.clone(),
                processes: args.processes.clone(),
                threads: args.threads,
                messages: args.messages,
                size: args.size,
                processor: format!("{:?}", args.processor).to_lowercase(),
                value_range: format!("{}..{}", args.value_range.lo, args.value_range.hi),
                runs: args.runs,
                warmup: args.warmup,
                transport: transport_name(args.transport),
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
            status: "running",
            runs: Vec::new(),
        }
    }

    /// The chart's subtitle: what each cell measured (events, their size,
    /// runs and warm-ups, producer threads, processor) and on how many cores.
    pub fn subtitle(&self) -> String {
        let c = &self.config;
        format!(
            "{} events of {} B per run, median of {} run{} (+{} warm-up), {} producer thread{}, processor {}, {} cores",
            crate::report::thousands(c.messages),
            c.size,
            c.runs,
            if c.runs == 1 { "" } else { "s" },
            c.warmup,
            c.threads,
            if c.threads == 1 { "" } else { "s" },
            c.processor,
            c.cores
        )
    }

    /// Adds one measured run.
    pub fn add(&mut self, r: RunResult) {
        self.runs.push(r);
    }

    /// Sets the status written with the results (`partial`, `complete`, `interrupted`).
    pub fn set_status(&mut self, status: &'static str) {
        self.status = status;
    }

    /// Every measured run.
    pub fn runs(&self) -> &[RunResult] {
        &self.runs
    }

    /// The per-cell summaries, in grid order.
    pub fn cells(&self) -> Vec<CellSummary> {
        let mut order: Vec<(&'static str, u32, u32)> = Vec::new();
        let mut by: BTreeMap<(&'static str, u32, u32), Vec<&RunResult>> = BTreeMap::new();
        for r in &self.runs {
            let key = (r.transport, r.partitions, r.processes);
            if !by.contains_key(&key) {
                order.push(key);
            }
            by.entry(key).or_default().push(r);
        }
        order
            .into_iter()
            .map(|key| {
                let rs = &by[&key];
                let p: Vec<f64> = rs.iter().map(|r| r.produce_records_per_sec).collect();
                let c: Vec<f64> = rs.iter().map(|r| r.consume_events_per_sec).collect();
                CellSummary {
                    transport: key.0,
                    partitions: key.1,
                    processes: key.2,
                    workers: rs[0].workers,
                    runs: rs.len(),
                    produce_records_per_sec: Stat::of(&p),
                    consume_events_per_sec: Stat::of(&c),
                }
            })
            .collect()
    }

    /// The series measured, kafka's first (`kafka`, `kafka-legacy`,
    /// `kafka-modern`, then `inproc`), in grid order.
    fn series(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for r in &self.runs {
            if !out.contains(&r.transport) {
                out.push(r.transport);
            }
        }
        out.sort_by_key(|s| *s == "inproc");
        out
    }

    /// The cell of series `name` at (`partitions`, `processes`), if measured.
    fn cell(&self, cells: &[CellSummary], name: &str, p: u32, w: u32) -> Option<CellSummary> {
        cells
            .iter()
            .find(|c| c.transport == name && c.partitions == p && c.processes == w)
            .cloned()
    }

    /// The JSON export: configuration, status, every run and the cell summaries.
    pub fn to_json(&self) -> String {
        let v = Export {
            cells: self.cells(),
            config: &self.config,
            runs: &self.runs,
            status: self.status,
        };
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }

    /// The CSV export: one row per measured run.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "transport,partitions,processes,workers,threads,messages,size,processor,run,\
             produce_records_per_sec,consume_events_per_sec,produce_ms,consume_ms,acked,consumed\n",
        );
        for r in &self.runs {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{:.1},{:.1},{},{},{},{}\n",
                r.transport,
                r.partitions,
                r.processes,
                r.workers,
                r.threads,
                r.messages,
                r.size,
                r.processor,
                r.run,
                r.produce_records_per_sec,
                r.consume_events_per_sec,
                r.produce_ms,
                r.consume_ms,
                r.acked,
                r.consumed
            ));
        }
        s
    }

    /// The human report: the pivot tables with titles and notes.
    pub fn render_text(&self) -> String {
        if self.runs.is_empty() {
            return "no finished runs".to_string();
        }
        let mut s = format!(
            "braid bench: {} events of {} bytes, processor {}, {} measured runs per cell ({})\n",
            report::thousands(self.config.messages),
            self.config.size,
            self.config.processor,
            self.config.runs,
            self.status
        );
        for (title, header, rows, notes) in self.tables() {
            s.push('\n');
            s.push_str(&title);
            s.push('\n');
            let h: Vec<&str> = header.iter().map(String::as_str).collect();
            s.push_str(&report::table(&h, &rows));
            s.push('\n');
            for n in notes {
                s.push_str(&n);
                s.push('\n');
            }
        }
        s.trim_end().to_string()
    }

    /// The Markdown export: the same tables, plus every cell with min and max.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "## braid bench\n\n{} events of {} bytes, {} producer threads, processor `{}`, {} measured runs per cell after {} warmup, {} cores ({}).\n",
            self.config.messages,
            self.config.size,
            self.config.threads,
            self.config.processor,
            self.config.runs,
            self.config.warmup,
            self.config.cores,
            self.status
        );
        let row = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        for (title, header, rows, notes) in self.tables() {
            s.push_str(&format!("\n### {title}\n\n"));
            s.push_str(&row(&header));
            let mut sep = vec!["---".to_string()];
            sep.extend(header.iter().skip(1).map(|_| "---:".to_string()));
            s.push_str(&row(&sep));
            for r in &rows {
                let escaped: Vec<String> = r.iter().map(|c| c.replace('*', "\\*")).collect();
                s.push_str(&row(&escaped));
            }
            for n in notes {
                s.push_str(&format!("\n{}\n", n.replacen('*', "\\*", 1)));
            }
        }
        s.push_str("\n### every cell\n\n");
        s.push_str(&row(&[
            "transport".into(),
            "partitions".into(),
            "processes".into(),
            "workers".into(),
            "runs".into(),
            "produce records/s (min-max)".into(),
            "consume events/s (min-max)".into(),
        ]));
        s.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        let st = |x: &Stat| {
            format!(
                "{} ({}-{})",
                report::thousands(x.median.round() as u64),
                report::thousands(x.min.round() as u64),
                report::thousands(x.max.round() as u64)
            )
        };
        for c in self.cells() {
            s.push_str(&row(&[
                c.transport.to_string(),
                c.partitions.to_string(),
                c.processes.to_string(),
                c.workers.to_string(),
                c.runs.to_string(),
                st(&c.produce_records_per_sec),
                st(&c.consume_events_per_sec),
            ]));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats() {
        let s = Stat::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stat::of(&[1.0, 2.0, 3.0, 10.0]).median, 2.5);
        assert_eq!(Stat::of(&[]).median, 0.0);
    }
}
