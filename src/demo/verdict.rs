//! How the demo ends: the verdict table of the parallel scenario (produced,
//! consumed, expected, missing, duplicated, offsets, committed), or where
//! things stood when Ctrl+C stopped it.

use anyhow::Result;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::state::{ConsumerState, ProducerState};
use super::verify::Verdict;
use super::Demo;
use crate::report;
use crate::shutdown::EXIT_INTERRUPTED;

/// One row of the verdict table: check, result, details.
type Row = Vec<String>;

impl Demo<'_> {
    /// Prints the verdict of producer `pid` and consumer `cid` against the
    /// log's `end` and the group's `committed` offsets; returns the exit code.
    pub(super) fn print_verdict(
        &self,
        cid: usize,
        pid: usize,
        v: &Verdict,
        end: &BTreeMap<i32, i64>,
        committed: &BTreeMap<i32, i64>,
    ) -> i32 {
        let mut rows = vec![
            produced_row(&self.producers[&pid]),
            consumed_row(&self.consumers[&cid]),
        ];
        let bound = self.redelivery_bound(cid);
        for mut row in check_rows(v, end, committed) {
            if let (true, Some(b)) = (row[0] == "duplicated", bound) {
                row[2] = format!(
                    "read again after the kill: what worker 0 processed since its last commit \
                     ({} events, the most there can be)",
                    report::thousands(b)
                );
            }
            rows.push(row);
        }
        report::line("");
        report::line(&report::table_fit(
            &["check", "result", "details"],
            &rows,
            report::stdout_width(),
        ));
        for (part, lo, hi) in v.missing.iter().take(20) {
            report::line(&format!("  missing: partition {part} offsets {lo}..={hi}"));
        }
        for (part, got, want) in &v.commit_mismatch {
            report::line(&format!(
                "  committed offset of partition {part} is {got}, end of log is {want}"
            ));
        }
        // A killed worker redelivers what it processed since its last commit:
        // duplicates are expected then, no more than that, and loss never.
        let dup_ok = v.duplicated == 0 || bound.is_some_and(|b| v.duplicated <= b);
        // A producer that stopped on an error (or never started) leaves
        // nothing to verify against: that is a failed demo, not a clean one.
        let producer = &self.producers[&pid];
        let produced_ok = producer.shutdown.is_some() && producer.failed == 0;
        if !produced_ok {
            report::line("  the producer did not finish its run: see its error above");
        }
        let ok = produced_ok
            && v.missing.is_empty()
            && v.gaps == 0
            && v.commit_mismatch.is_empty()
            && dup_ok;
        if ok {
            report::line("verified: missing 0, nothing lost; every partition consumed to its end and committed");
            0
        } else {
            report::line("NOT verified: see above");
            1
        }
    }

    /// After `--kill-worker-after`: how many events the killed worker had
    /// processed since its last commit, per partition from where it got to
    /// down to where its respawn started (the group's committed offset).
    fn redelivery_bound(&self, cid: usize) -> Option<u64> {
        let pid = self.killed_worker?;
        let c = self.consumers.get(&cid)?;
        let reached = c.reached.get(&pid)?;
        Some(
            reached
                .iter()
                .map(|(p, next)| {
                    let resumed = c.last_start.get(p).copied().unwrap_or(*next);
                    (next - resumed).max(0) as u64
                })
                .sum(),
        )
    }

    /// After Ctrl+C: lets the children finish their graceful stop, then
    /// reports where things stand; returns 130.
    pub(super) fn finish_interrupted(&mut self) -> Result<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.children_done() && Instant::now() < deadline {
            self.pump(Duration::from_millis(100))?;
            self.check_signals();
            if self.signals_handled >= 2 {
                break;
            }
        }
        report::clear_live_area(self.drawn);
        self.drawn = 0;
        let acked: u64 = self.producers.values().map(|p| p.acked).sum();
        let consumed: u64 = self.consumers.values().map(|c| c.total).sum();
        let committed: i64 = self
            .consumers
            .values()
            .filter_map(|c| c.shutdown.as_ref())
            .flat_map(|s| s.committed.values())
            .sum();
        report::line(&format!(
            "interrupted after {:.1}s: produced (acked) {}, consumed {}, committed offsets sum {}; {}",
            self.started.elapsed().as_secs_f64(),
            report::thousands(acked),
            report::thousands(consumed),
            report::thousands(committed.max(0) as u64),
            if self.opts.data.is_some() {
                "run again with the same --data to resume"
            } else {
                "the log was in a temporary directory (use --data DIR to keep it and resume)"
            }
        ));
        Ok(EXIT_INTERRUPTED)
    }
}

/// What the producer sent and how fast (its summary, or what the demo counted).
pub(super) fn produced_row(p: &ProducerState) -> Row {
    let ps = p.shutdown.as_deref();
    let (rate, p50, p99) = ps.map_or((0.0, 0.0, 0.0), |s| {
        (s.records_per_sec, s.latency_ms.p50, s.latency_ms.p99)
    });
    vec![
        "produced".to_string(),
        format!(
            "{} sent, {} acked, {} failed",
            report::thousands(ps.map_or(p.acked, |s| s.sent)),
            report::thousands(ps.map_or(p.acked, |s| s.acked)),
            ps.map_or(p.failed, |s| s.failed)
        ),
        format!("{rate:.0} records/s, latency p50 {p50:.1} ms p99 {p99:.1} ms"),
    ]
}

/// What the consumer consumed and how fast.
fn consumed_row(c: &ConsumerState) -> Row {
    let (c_rate, c_p50, c_p99) = c.shutdown.as_ref().map_or((0.0, 0.0, 0.0), |s| {
        (s.events_per_sec, s.latency_p50_ms, s.latency_p99_ms)
    });
    vec![
        "consumed".to_string(),
        format!(
            "{} by {} processes ({} invalid{}{}, {} respawns)",
            report::thousands(c.total),
            c.workers.len(),
            c.invalid,
            if c.dead_letters > 0 {
                format!(", {} dead letters", c.dead_letters)
            } else {
                String::new()
            },
            if c.registry_waits > 0 {
                format!(", {} registry waits", c.registry_waits)
            } else {
                String::new()
            },
            c.respawns
        ),
        format!("{c_rate:.0} events/s, event age (end to end) p50 {c_p50:.1} ms p99 {c_p99:.1} ms"),
    ]
}

/// The checks: expected, missing, duplicated, offsets, committed.
pub(super) fn check_rows(
    v: &Verdict,
    end: &BTreeMap<i32, i64>,
    committed: &BTreeMap<i32, i64>,
) -> Vec<Row> {
    let s = |x: &str| x.to_string();
    vec![
        vec![
            s("expected"),
            report::thousands(v.expected),
            s("from the group's start to the end of the log"),
        ],
        vec![s("missing"), v.missing_count().to_string(), String::new()],
        vec![
            s("duplicated"),
            v.duplicated.to_string(),
            if v.duplicated > 0 {
                s("redelivered after a worker was killed (at-least-once)")
            } else {
                String::new()
            },
        ],
        vec![
            s("offsets"),
            if v.gaps == 0 {
                s("contiguous in every partition")
            } else {
                format!("{} runs with gaps", v.gaps)
            },
            String::new(),
        ],
        vec![
            s("committed"),
            if v.commit_mismatch.is_empty() {
                format!("== end of log in all {} partitions", end.len())
            } else {
                format!("differs in {} partitions", v.commit_mismatch.len())
            },
            committed
                .iter()
                .map(|(p, o)| format!("{p}:{o}"))
                .collect::<Vec<_>>()
                .join(" "),
        ],
    ]
}
