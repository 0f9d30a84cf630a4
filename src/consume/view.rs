//! What the supervisor shows: a live view (per worker: pid, partitions,
//! consumed, rate, invalid, lag) redrawn on a terminal, plain periodic lines
//! otherwise, and the summary table or `shutdown_complete` event at the end.
//! All output goes through `report`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::events::{ConsumeEvent, Shutdown, WorkerSummary};
use super::options::Options;
use super::status::Span;
use super::Ending;
use crate::histogram::Histogram;
use crate::report;
use crate::report::partition_list;
use crate::report::Format;

/// One worker as the live view shows it.
pub struct WorkerView {
    /// The worker's number.
    pub index: usize,
    /// Its current (or last) pid.
    pub pid: i32,
    /// Whether a process is running for it.
    pub alive: bool,
    /// Its partitions.
    pub partitions: Vec<i32>,
    /// Events consumed so far (all incarnations).
    pub consumed: u64,
    /// Invalid messages so far.
    pub invalid: u64,
    /// Waiting for the schema registry to answer.
    pub waiting: bool,
    /// Messages behind the end of its partitions.
    pub lag: i64,
    /// Times it was respawned.
    pub respawns: u32,
}

/// One worker's line in the summary.
pub struct SummaryRow {
    /// The worker's number.
    pub worker: usize,
    /// Every pid it ran as.
    pub pids: Vec<i32>,
    /// Its partitions.
    pub partitions: Vec<i32>,
    /// Events consumed.
    pub consumed: u64,
    /// Invalid messages.
    pub invalid: u64,
    /// Of those, the ones written to the dead-letter topic.
    pub dead_letters: u64,
    /// Registry outages it waited out.
    pub registry_waits: u32,
    /// How long it waited on the registry in all.
    pub registry_waited: Duration,
    /// Primes found (prime processor).
    pub primes: u64,
    /// Last committed position per partition.
    pub committed: BTreeMap<i32, i64>,
    /// Offsets consumed per partition.
    pub spans: BTreeMap<i32, Span>,
    /// From its first to its last event.
    pub elapsed: Duration,
    /// End-to-end latency (microseconds).
    pub latency: Histogram,
    /// Times it was respawned.
    pub respawns: u32,
    /// Killed because it did not stop within `--grace`.
    pub killed: bool,
}

impl SummaryRow {
    /// Per partition, the offsets it reported processed but had not
    /// committed when it ended: `(committed, processed up to)`, half-open.
    /// It may have processed more after its last report.
    pub fn uncommitted(&self) -> BTreeMap<i32, (i64, i64)> {
        self.spans
            .iter()
            .filter(|(_, s)| s.count > 0)
            .filter_map(|(p, s)| {
                let done = s.max + 1;
                let from = self.committed.get(p).copied().unwrap_or(s.min);
                (done > from).then_some((*p, (from, done)))
            })
            .collect()
    }

    /// The line saying that this worker was killed after `--grace`, and what
    /// it leaves to be redelivered.
    fn killed_line(&self, grace: Duration) -> String {
        let pid = self.pids.last().copied().unwrap_or(0);
        let lost = self.uncommitted();
        let what = if lost.is_empty() {
            "everything it reported processed was committed".to_string()
        } else {
            let parts: Vec<String> = lost
                .iter()
                .map(|(p, (from, to))| format!("p{p} {from}..{to}"))
                .collect();
            let n: i64 = lost.values().map(|(from, to)| to - from).sum();
            format!(
                "not committed: {} ({n} events, redelivered on the next run)",
                parts.join(", ")
            )
        };
        format!(
            "worker {} (pid {pid}) did not stop within --grace {}s and was killed; {what}",
            self.worker,
            grace.as_secs()
        )
    }
}

/// The live view's state.
pub struct Live {
    format: Format,
    terminal: bool,
    drawn: usize,
    last: Instant,
    last_counts: Vec<u64>,
}

fn rate(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

impl Live {
    /// A view for `format` (JSON shows no live view).
    pub fn new(format: Format) -> Self {
        Live {
            format,
            terminal: report::progress_on_terminal(),
            drawn: 0,
            last: Instant::now(),
            last_counts: Vec::new(),
        }
    }

    /// Redraws (terminal, 4 times a second) or prints a plain line (once a second).
    pub fn render(&mut self, workers: &[WorkerView], started: Instant, stopping: bool) {
        if self.format == Format::Json {
            return;
        }
        let period = if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let dt = self.last.elapsed();
        if dt < period {
            return;
        }
        self.last = Instant::now();
        self.last_counts.resize(workers.len(), 0);
        let rates: Vec<f64> = workers
            .iter()
            .zip(&self.last_counts)
            .map(|(w, before)| rate(w.consumed.saturating_sub(*before), dt))
            .collect();
        for (c, w) in self.last_counts.iter_mut().zip(workers) {
            *c = w.consumed;
        }
        let total: u64 = workers.iter().map(|w| w.consumed).sum();
        let lag: i64 = workers.iter().map(|w| w.lag).sum();
        let total_rate: f64 = rates.iter().sum();
        let waiting = workers.iter().filter(|w| w.waiting && w.alive).count();
        let head = format!(
            "{:>6.1}s  consumed {}  {:.0}/s  lag {}{}{}",
            started.elapsed().as_secs_f64(),
            report::thousands(total),
            total_rate,
            report::thousands(lag.max(0) as u64),
            if waiting > 0 {
                format!("  ({waiting} waiting on the schema registry)")
            } else {
                String::new()
            },
            if stopping { "  (stopping)" } else { "" }
        );
        if !self.terminal {
            report::line_err(&head);
            return;
        }
        // One row per worker, columns aligned and narrow enough for 80
        // columns; live_area cuts whatever is still wider than the terminal.
        let rows: Vec<Vec<String>> = workers
            .iter()
            .zip(&rates)
            .map(|(w, r)| {
                let mut notes = Vec::new();
                if w.invalid > 0 {
                    notes.push(format!("invalid {}", w.invalid));
                }
                if w.respawns > 0 {
                    notes.push(format!("respawned {}x", w.respawns));
                }
                vec![
                    format!("  worker {}", w.index),
                    w.pid.to_string(),
                    match (w.alive, w.waiting) {
                        (true, true) => "waiting",
                        (true, false) => "running",
                        (false, _) => "stopped",
                    }
                    .to_string(),
                    partition_list(&w.partitions),
                    report::thousands(w.consumed),
                    format!("{r:.0}"),
                    report::thousands(w.lag.max(0) as u64),
                    notes.join(", "),
                ]
            })
            .collect();
        let table = report::table(
            &[
                "",
                "pid",
                "state",
                "partitions",
                "consumed",
                "/s",
                "lag",
                "",
            ],
            &rows,
        );
        let mut lines = vec![head];
        lines.extend(table.lines().map(String::from));
        self.drawn = report::live_area(&lines, self.drawn);
    }

    /// Shows a one-off note (a worker died, ...) above the live view.
    pub fn note(&mut self, text: &str) {
        if self.format == Format::Json {
            return;
        }
        self.clear();
        report::line_err(text);
    }

    /// Erases the live view.
    pub fn clear(&mut self) {
        report::clear_live_area(self.drawn);
        self.drawn = 0;
    }

    /// The summary: a table (human) or the `shutdown_complete` event (json); `span` is
    /// the consuming time, first event fetched to last processed, over all workers.
    pub fn summary(
        mut self,
        opts: &Options,
        rows: &[SummaryRow],
        ending: &Ending,
        elapsed: Duration,
        span: Duration,
    ) {
        self.clear();
        let totals = Totals::of(rows, span);
        if let Ending::CrashLoop(m) | Ending::Failed(m) = ending {
            report::error_line(&anyhow::anyhow!("{m}"));
        }
        if self.format == Format::Json {
            summary_json(opts, rows, ending, elapsed, totals);
        } else {
            summary_table(rows, &totals);
            summary_lines(opts, rows, ending, elapsed, &totals);
        }
    }
}

/// The whole run's figures, over every worker.
struct Totals {
    consumed: u64,
    invalid: u64,
    dead_letters: u64,
    registry_waits: u64,
    registry_waited: Duration,
    latency: Histogram,
    committed: BTreeMap<i32, i64>,
    /// Events per second from the first event any worker fetched to the last
    /// one any worker processed.
    rate: f64,
}

impl Totals {
    fn of(rows: &[SummaryRow], span: Duration) -> Totals {
        let consumed: u64 = rows.iter().map(|r| r.consumed).sum();
        let mut latency = Histogram::default();
        for r in rows {
            latency.merge(&r.latency);
        }
        Totals {
            consumed,
            invalid: rows.iter().map(|r| r.invalid).sum(),
            dead_letters: rows.iter().map(|r| r.dead_letters).sum(),
            registry_waits: rows.iter().map(|r| u64::from(r.registry_waits)).sum(),
            registry_waited: rows.iter().map(|r| r.registry_waited).sum(),
            latency,
            committed: rows.iter().flat_map(|r| r.committed.clone()).collect(),
            rate: rate(consumed, span),
        }
    }
}

/// `shutdown_complete`.
fn summary_json(
    opts: &Options,
    rows: &[SummaryRow],
    ending: &Ending,
    elapsed: Duration,
    t: Totals,
) {
    let (status, error) = match ending {
        Ending::Done => ("done", None),
        Ending::Interrupted => ("interrupted", None),
        Ending::CrashLoop(m) => ("crash_loop", Some(m.clone())),
        Ending::Failed(m) => ("failed", Some(m.clone())),
    };
    let workers = rows
        .iter()
        .map(|r| WorkerSummary {
            worker: r.worker,
            pids: r.pids.clone(),
            partitions: r.partitions.clone(),
            consumed: r.consumed,
            invalid: r.invalid,
            dead_letters: r.dead_letters,
            primes: r.primes,
            committed: r.committed.clone(),
            respawns: r.respawns,
            killed: r.killed,
            uncommitted: r
                .uncommitted()
                .into_iter()
                .map(|(p, (from, to))| (p, [from, to]))
                .collect(),
        })
        .collect();
    report::emit_json(&ConsumeEvent::ShutdownComplete(Box::new(Shutdown {
        timestamp: report::now_ms(),
        status: status.to_string(),
        error,
        topic: opts.topic.clone(),
        group: opts.group.clone(),
        consumed: t.consumed,
        invalid: t.invalid,
        dead_letters: t.dead_letters,
        registry_waits: t.registry_waits,
        registry_wait_ms: t.registry_waited.as_millis() as u64,
        committed: t.committed,
        elapsed_ms: elapsed.as_millis() as u64,
        events_per_sec: t.rate,
        latency_p50_ms: t.latency.quantile(0.50) as f64 / 1000.0,
        latency_p99_ms: t.latency.quantile(0.99) as f64 / 1000.0,
        workers,
    })));
}

/// The per-worker table with its total row.
fn summary_table(rows: &[SummaryRow], t: &Totals) {
    let ms = |h: &Histogram, q: f64| format!("{:.1}", h.quantile(q) as f64 / 1000.0);
    let join = |parts: Vec<String>, sep: &str| parts.join(sep);
    let mut table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.worker.to_string(),
                join(r.pids.iter().map(|p| p.to_string()).collect(), ","),
                partition_list(&r.partitions),
                report::thousands(r.consumed),
                r.invalid.to_string(),
                join(
                    r.committed
                        .iter()
                        .map(|(p, o)| format!("{p}:{o}"))
                        .collect(),
                    " ",
                ),
                format!("{:.0}", rate(r.consumed, r.elapsed)),
                ms(&r.latency, 0.5),
                ms(&r.latency, 0.99),
            ]
        })
        .collect();
    table_rows.push(vec![
        "total".into(),
        String::new(),
        String::new(),
        report::thousands(t.consumed),
        t.invalid.to_string(),
        String::new(),
        format!("{:.0}", t.rate),
        ms(&t.latency, 0.5),
        ms(&t.latency, 0.99),
    ]);
    let header = [
        "worker",
        "pids",
        "partitions",
        "consumed",
        "invalid",
        "committed",
        "events/s",
        "age p50 ms",
        "age p99 ms",
    ];
    report::line(&report::table_fit(
        &header,
        &table_rows,
        report::stdout_width(),
    ));
    report::line(
        "age: from when an event was produced (its ts_ms) to when it was processed; \
         for live events the end-to-end latency, for events read from the log's history how old they were",
    );
}

/// The lines under the table: killed workers, primes, how the run ended.
fn summary_lines(
    opts: &Options,
    rows: &[SummaryRow],
    ending: &Ending,
    elapsed: Duration,
    t: &Totals,
) {
    for r in rows.iter().filter(|r| r.killed) {
        report::line(&r.killed_line(opts.grace));
    }
    if opts.processor == super::processor::ProcessorKind::Prime {
        let primes: u64 = rows.iter().map(|r| r.primes).sum();
        report::line(&format!("primes found: {}", report::thousands(primes)));
    }
    if t.invalid > 0 {
        report::line(&format!(
            "invalid events: {} ({})",
            report::thousands(t.invalid),
            match opts.on_invalid {
                super::options::OnInvalid::DeadLetter => format!(
                    "{} written to {}",
                    report::thousands(t.dead_letters),
                    opts.dead_letter_topic
                ),
                _ => "skipped, each logged with its partition and offset".to_string(),
            },
        ));
    }
    if t.registry_waits > 0 {
        report::line(&format!(
            "waited on the schema registry: {} outage{} over the workers, {:.1} s in all; nothing was skipped for it",
            t.registry_waits,
            if t.registry_waits == 1 { "" } else { "s" },
            t.registry_waited.as_secs_f64()
        ));
    }
    let consumed = report::thousands(t.consumed);
    match ending {
        Ending::Done => report::line(&format!(
            "consumed {consumed} events in {:.1}s",
            elapsed.as_secs_f64()
        )),
        Ending::Interrupted if rows.iter().any(|r| r.killed) => report::line(&format!(
            "interrupted: consumed {consumed} events; workers killed after --grace left work uncommitted (see above)"
        )),
        Ending::Interrupted => report::line(&format!(
            "interrupted: consumed {consumed} events, processed offsets committed"
        )),
        Ending::CrashLoop(_) => {}
        Ending::Failed(_) => report::line(&format!(
            "stopped: consumed {consumed} events, processed offsets committed"
        )),
    }
}
