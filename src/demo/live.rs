//! The demo's live view: one line of totals (produced, consumed, lag), and
//! on a terminal one line per worker redrawn in place.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::state::ConsumerState;
use super::Demo;
use crate::report;

impl Demo<'_> {
    /// Records acknowledged to the producer but not yet consumed, over all
    /// partitions (the consumers' own lag only looks as far as their last fetch).
    pub(super) fn acked_end(&self) -> BTreeMap<i32, i64> {
        let mut end: BTreeMap<i32, i64> = BTreeMap::new();
        for p in self.producers.values() {
            for (part, e) in &p.acked_end {
                let x = end.entry(*part).or_insert(0);
                *x = (*x).max(*e);
            }
        }
        end
    }

    /// Lag of `partitions` (all when None) for one consumer.
    fn lag_of(c: &ConsumerState, end: &BTreeMap<i32, i64>, partitions: Option<&[i32]>) -> u64 {
        end.iter()
            .filter(|(p, _)| partitions.is_none_or(|ps| ps.contains(p)))
            .map(|(part, e)| {
                let at = c
                    .consumed
                    .get(part)
                    .map(|x| x.next())
                    .unwrap_or(0)
                    .max(c.start.get(part).copied().unwrap_or(0));
                (e - at).max(0) as u64
            })
            .sum()
    }

    /// Records acknowledged but not yet consumed, over all consumers; the
    /// hosts of one group (counted by record) share the partitions, so
    /// their lag is where the furthest of them got.
    fn lag(&self) -> u64 {
        let end = self.acked_end();
        if !self.consumers.values().all(|c| c.by_record) {
            return self
                .consumers
                .values()
                .map(|c| Self::lag_of(c, &end, None))
                .sum();
        }
        end.iter()
            .map(|(part, e)| {
                let at = self
                    .consumers
                    .values()
                    .map(|c| {
                        let next = c.consumed.get(part).map_or(0, |x| x.next());
                        next.max(c.start.get(part).copied().unwrap_or(0))
                    })
                    .max()
                    .unwrap_or(0);
                (e - at).max(0) as u64
            })
            .sum()
    }

    /// Events consumed so far (a host counted by record includes what its
    /// workers did after their supervisor was killed).
    fn consumed(&self) -> u64 {
        self.consumers
            .values()
            .map(|c| {
                if c.by_record {
                    c.consumed.values().map(|x| x.count()).sum()
                } else {
                    c.total
                }
            })
            .sum()
    }

    /// Redraws the view (4 times a second on a terminal, else a line a second).
    pub(super) fn render(&mut self, produce_total: Option<u64>) {
        let period = if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let dt = self.last_draw.elapsed();
        if dt < period {
            return;
        }
        self.last_draw = Instant::now();
        let acked: u64 = self.producers.values().map(|p| p.acked).sum();
        let consumed = self.consumed();
        let lag = self.lag();
        let head = format!(
            "{:>6.1}s  produced {}{}  consumed {}  lag {}{}",
            self.started.elapsed().as_secs_f64(),
            report::thousands(acked),
            produce_total
                .map(|t| format!("/{}", report::thousands(t)))
                .unwrap_or_default(),
            report::thousands(consumed),
            report::thousands(lag),
            if self.stopping { "  (stopping)" } else { "" }
        );
        if !self.terminal {
            report::line_err(&head);
            return;
        }
        let end = self.acked_end();
        // One row per worker, columns aligned and narrow enough for 80
        // columns; live_area cuts whatever is still wider than the terminal.
        let mut rows = Vec::new();
        for c in self.consumers.values_mut() {
            let lags: Vec<u64> = c
                .workers
                .values()
                .map(|w| Self::lag_of(c, &end, Some(&w.partitions)))
                .collect();
            for ((i, w), lag) in c.workers.iter_mut().zip(lags) {
                let rate = (w.consumed - w.last_count) as f64 / dt.as_secs_f64();
                w.last_count = w.consumed;
                rows.push(vec![
                    format!("  [{}] worker {i}", c.label),
                    w.pid.to_string(),
                    crate::report::partition_list(&w.partitions),
                    report::thousands(w.consumed),
                    format!("{rate:.0}"),
                    report::thousands(lag),
                    if w.waiting { "waiting on registry" } else { "" }.to_string(),
                ]);
            }
        }
        let mut lines = vec![head];
        if !rows.is_empty() {
            let table = report::table(
                &["", "pid", "partitions", "consumed", "/s", "lag", ""],
                &rows,
            );
            lines.extend(table.lines().map(String::from));
        }
        self.drawn = report::live_area(&lines, self.drawn);
    }
}
