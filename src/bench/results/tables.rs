//! The pivot tables of the human report and the Markdown export: consume
//! events/s per cell for each transport, kafka as a share of inproc, and
//! produce records/s per partition count.

use super::{CellSummary, Results, Stat, Table};
use crate::report;

impl Results {
    /// The tables as rows: (title, header, rows, notes).
    pub(super) fn tables(&self) -> Vec<Table> {
        let cells = self.cells();
        let mut out = Vec::new();
        // Once a table marks idle capacity, the tables after it carry the note too.
        let mut idle_used = false;
        let series = self.series();
        for &t in &series {
            if let Some(table) = self.consume_table(&cells, t, &mut idle_used) {
                out.push(table);
            }
        }
        for &t in series.iter().filter(|t| **t != "inproc") {
            if let Some(table) = self.share_table(&cells, t) {
                out.push(table);
            }
        }
        out.push(self.produce_table());
        out
    }

    /// `first`, then one column per partition count.
    fn header(&self, first: &str) -> Vec<String> {
        let mut header = vec![first.to_string()];
        header.extend(
            self.config
                .partitions
                .iter()
                .map(|p| format!("{p} partitions")),
        );
        header
    }

    /// Consume events/s of transport `t` per cell, with the speedup over the
    /// fewest processes (None when `t` has no cells).
    fn consume_table(&self, cells: &[CellSummary], t: &str, idle_used: &mut bool) -> Option<Table> {
        let (parts, procs) = (&self.config.partitions, &self.config.processes);
        if !cells.iter().any(|c| c.transport == t) {
            return None;
        }
        let mut rows = Vec::new();
        for &w in procs {
            let mut row = vec![w.to_string()];
            for &p in parts {
                let base = procs
                    .iter()
                    .find_map(|&w0| self.cell(cells, t, p, w0))
                    .map(|c| c.consume_events_per_sec.median);
                row.push(match self.cell(cells, t, p, w) {
                    None => "-".into(),
                    Some(c) => {
                        let m = c.consume_events_per_sec.median;
                        let speedup = base
                            .filter(|b| *b > 0.0)
                            .map_or(String::new(), |b| format!(" ({:.2}x)", m / b));
                        let idle = if w > p {
                            *idle_used = true;
                            " *"
                        } else {
                            ""
                        };
                        format!("{}{speedup}{idle}", report::thousands(m.round() as u64))
                    }
                });
            }
            rows.push(row);
        }
        let title = match t {
            "inproc" => {
                "consume events/s, inproc: no broker, crossbeam channels (the ceiling)".to_string()
            }
            kafka => {
                format!("consume events/s, {kafka} (median; speedup over the fewest processes)")
            }
        };
        let mut notes = Vec::new();
        if *idle_used {
            notes.push(
                "* more processes than partitions: only as many as there are partitions get work (idle capacity)"
                    .to_string(),
            );
        }
        Some((title, self.header("processes"), rows, notes))
    }

    /// Kafka series `kafka` as a share of inproc per cell (None unless both ran).
    fn share_table(&self, cells: &[CellSummary], kafka: &str) -> Option<Table> {
        let has_both = [kafka, "inproc"]
            .iter()
            .all(|t| cells.iter().any(|c| c.transport == *t));
        if !has_both {
            return None;
        }
        let mut rows = Vec::new();
        for &w in &self.config.processes {
            let mut row = vec![w.to_string()];
            for &p in &self.config.partitions {
                let k = self.cell(cells, kafka, p, w);
                let i = self.cell(cells, "inproc", p, w);
                row.push(match (k, i) {
                    (Some(k), Some(i)) if i.consume_events_per_sec.median > 0.0 => format!(
                        "{:.1}%",
                        100.0 * k.consume_events_per_sec.median / i.consume_events_per_sec.median
                    ),
                    _ => "-".into(),
                });
            }
            rows.push(row);
        }
        Some((
            format!("{kafka} as a share of inproc (consume events/s)"),
            self.header("processes"),
            rows,
            Vec::new(),
        ))
    }

    /// Produce records/s per partition count: median over all runs of the column.
    fn produce_table(&self) -> Table {
        let mut rows = Vec::new();
        for name in self.series() {
            let mut row = vec![name.to_string()];
            for &p in &self.config.partitions {
                let xs: Vec<f64> = self
                    .runs
                    .iter()
                    .filter(|r| r.transport == name && r.partitions == p)
                    .map(|r| r.produce_records_per_sec)
                    .collect();
                row.push(if xs.is_empty() {
                    "-".into()
                } else {
                    let s = Stat::of(&xs);
                    format!(
                        "{} ({}-{})",
                        report::thousands(s.median.round() as u64),
                        report::thousands(s.min.round() as u64),
                        report::thousands(s.max.round() as u64)
                    )
                });
            }
            rows.push(row);
        }
        (
            format!(
                "produce records/s, {} threads (median, min-max over all runs of the column)",
                self.config.threads
            ),
            self.header("transport"),
            rows,
            Vec::new(),
        )
    }
}
