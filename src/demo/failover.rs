//! The failover scenario: two `braid consume --subscribe` supervisors,
//! "host a" and "host b" (2 workers each), in one consumer group; a producer
//! at a steady rate; after `--kill-after` events host a's supervisor is
//! SIGKILLed (its workers stop on PDEATHSIG: they finish the event in hand,
//! commit and exit). The group's coordinator notices after the session
//! timeout and hands a's partitions to b; the live view shows it from the
//! hosts' `group_joined` events.
//!
//! What was consumed is counted from the workers' own `record_processed`
//! lines (`--processor echo`), which a's workers still print after their
//! supervisor is gone. The verdict: nothing missing, the duplicates no more
//! than what host a processed after its last commit, and the time from the
//! kill to the takeover.

use anyhow::{bail, Result};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::state::ConsumerState;
use super::verdict::{check_rows, produced_row};
use super::verify::{self, Consumed, Verdict};
use super::{Demo, FAILOVER_GROUP};
use crate::report;
use crate::report::partition_list;

/// Host a's end, as the demo saw it.
struct Kill {
    /// When the demo sent SIGKILL (ms since the Unix epoch).
    at_ms: u64,
    /// The generation host a was in.
    generation: i32,
    /// The partitions host a had.
    partitions: Vec<i32>,
    /// When host b joined a generation holding all of them (ms since the epoch).
    taken_over_ms: Option<u64>,
}

/// Events consumed by a host, counted from its records.
fn records(c: &ConsumerState) -> u64 {
    c.consumed.values().map(Consumed::count).sum()
}

impl Demo<'_> {
    /// Runs the failover scenario; returns the exit code.
    pub(super) fn failover(&mut self) -> Result<i32> {
        let o = self.opts;
        let a = self.add_host("host a")?;
        let Some(all) = self.wait_split(&[a])? else {
            return self.finish_interrupted();
        };
        let b = self.add_host("host b")?;
        if self.wait_split(&[a, b])?.is_none() {
            return self.finish_interrupted();
        }
        let pid = self.add_producer("produce", self.produce_args(1, o.messages, o.rate))?;
        let kill = self.failover_loop(a, b, pid)?;
        report::clear_live_area(self.drawn);
        self.drawn = 0;
        if self.interrupted {
            return self.finish_interrupted();
        }
        if let Some(why) = &self.broker_died {
            bail!("{why}; see its messages above");
        }
        let Some(kill) = kill else {
            bail!("host a was never killed: fewer than --kill-after events were consumed");
        };
        let (end, committed) = self.log_state()?;
        let (start, consumed) = self.merged(a, b, &all);
        let v = verify::verify(&start, &end, &consumed, Some(&committed));
        Ok(self.print_failover_verdict(a, b, pid, &v, &kill, &end, &committed))
    }

    /// Starts one host: `braid consume --subscribe` with 2 workers that echo
    /// each record (so their own lines tell what they processed).
    fn add_host(&mut self, label: &str) -> Result<usize> {
        let session = self.opts.session_timeout.as_millis().max(1);
        let heartbeat = (session / 10).clamp(100, 3000);
        let args = self.consume_args(
            FAILOVER_GROUP,
            "committed",
            2,
            &[
                "--subscribe",
                "--processor",
                "echo",
                "--session-timeout",
                &session.to_string(),
                "--heartbeat-interval",
                &heartbeat.to_string(),
                "--commit-interval",
                "500",
            ],
        );
        let id = self.add_consumer(label, args)?;
        if let Some(c) = self.consumers.get_mut(&id) {
            c.by_record = true;
        }
        Ok(id)
    }

    /// Waits until `hosts` are in one generation and split the topic's
    /// partitions between them; returns them all (`None` on Ctrl+C).
    fn wait_split(&mut self, hosts: &[usize]) -> Result<Option<Vec<i32>>> {
        let deadline = Instant::now() + Duration::from_secs(60) + 2 * self.opts.session_timeout;
        loop {
            let latest: Vec<_> = hosts
                .iter()
                .filter_map(|h| self.consumers[h].joins.last())
                .collect();
            if latest.len() == hosts.len()
                && latest.iter().all(|j| j.generation == latest[0].generation)
                && latest.iter().all(|j| !j.partitions.is_empty())
            {
                let mut all: Vec<i32> = latest.iter().flat_map(|j| j.partitions.clone()).collect();
                all.sort_unstable();
                return Ok(Some(all));
            }
            if hosts.iter().any(|h| self.consumers[h].exited) {
                bail!("a host exited before it joined the group (see its error above)");
            }
            if Instant::now() > deadline {
                bail!("the hosts did not split the partitions in time");
            }
            if self.stop.signals() > 0 {
                return Ok(None);
            }
            self.pump(Duration::from_millis(100))?;
        }
    }

    /// Runs until host b has consumed everything produced after host a was
    /// killed; returns the kill (if it came to that).
    fn failover_loop(&mut self, a: usize, b: usize, pid: usize) -> Result<Option<Kill>> {
        let o = self.opts;
        let mut kill: Option<Kill> = None;
        let mut end: Option<BTreeMap<i32, i64>> = None;
        loop {
            self.pump(Duration::from_millis(100))?;
            self.check_signals();
            self.render(Some(o.messages));
            if self.children_done() {
                return Ok(kill);
            }
            if self.stopping {
                continue;
            }
            let consumed = records(&self.consumers[&a]) + records(&self.consumers[&b]);
            if kill.is_none() && consumed >= o.kill_after {
                kill = Some(self.kill_host(a, consumed));
            }
            if let Some(k) = kill.as_mut().filter(|k| k.taken_over_ms.is_none()) {
                self.watch_takeover(b, k);
            }
            if self.producers[&pid].exited && self.procs[pid].poll_exit().is_some() && end.is_none()
            {
                end = self.end_to_reach();
            }
            let taken_over = kill.as_ref().is_some_and(|k| k.taken_over_ms.is_some());
            if let (Some(end), true) = (&end, taken_over) {
                if self.caught_up(a, b, end) {
                    self.stop_all();
                }
            }
            if self.last_activity.elapsed() > o.stall_timeout {
                self.note(&format!(
                    "[demo] nothing happened for {} s; stopping",
                    o.stall_timeout.as_secs()
                ));
                self.stop_all();
            }
            if self.consumers[&b].exited {
                self.note("[demo] host b exited early");
                self.stop_all();
            }
        }
    }

    /// SIGKILLs host a's supervisor (not its process group: its workers
    /// stop on PDEATHSIG, as they would if the host's supervisor crashed).
    fn kill_host(&mut self, a: usize, consumed: u64) -> Kill {
        let last = self.consumers[&a].joins.last().cloned();
        // Its worker lines leave the live view; its workers' records still count.
        if let Some(c) = self.consumers.get_mut(&a) {
            c.workers.clear();
        }
        let pid = self.procs[a].pid();
        self.procs[a].signal(Signal::SIGKILL);
        let kill = Kill {
            at_ms: report::now_ms(),
            generation: last.as_ref().map_or(-1, |j| j.generation),
            partitions: last.map(|j| j.partitions).unwrap_or_default(),
            taken_over_ms: None,
        };
        self.note(&format!(
            "[demo] {consumed} events consumed: killed host a's supervisor (pid {pid}) with SIGKILL; its workers stop on PDEATHSIG; the group hands its partitions {} to host b after the session timeout ({} ms)",
            partition_list(&kill.partitions),
            self.opts.session_timeout.as_millis()
        ));
        kill
    }

    /// Notes when host b joins a newer generation holding host a's partitions.
    fn watch_takeover(&mut self, b: usize, k: &mut Kill) {
        let joined = self.consumers[&b].joins.iter().find(|j| {
            j.generation > k.generation && k.partitions.iter().all(|p| j.partitions.contains(p))
        });
        if let Some(j) = joined {
            k.taken_over_ms = Some(j.at_ms);
            let took = j.at_ms.saturating_sub(k.at_ms);
            self.note(&format!(
                "[demo] host b took over host a's partitions {} {:.1} s after the kill",
                partition_list(&k.partitions),
                took as f64 / 1000.0
            ));
        }
    }

    /// Whether hosts a and b together reached `end` in every partition.
    fn caught_up(&self, a: usize, b: usize, end: &BTreeMap<i32, i64>) -> bool {
        let (ca, cb) = (&self.consumers[&a], &self.consumers[&b]);
        end.iter().all(|(p, e)| {
            let start = ca.start.get(p).or(cb.start.get(p)).copied().unwrap_or(0);
            let next = |c: &ConsumerState| c.consumed.get(p).map_or(0, Consumed::next);
            *e <= start || next(ca).max(next(cb)) >= *e
        })
    }

    /// Where the group started (the earliest start either host reported)
    /// and what both consumed, per partition of `all`.
    fn merged(
        &self,
        a: usize,
        b: usize,
        all: &[i32],
    ) -> (BTreeMap<i32, i64>, BTreeMap<i32, Consumed>) {
        let (ca, cb) = (&self.consumers[&a], &self.consumers[&b]);
        let mut start = BTreeMap::new();
        let mut consumed = BTreeMap::new();
        for p in all {
            let s = [ca.start.get(p), cb.start.get(p)]
                .into_iter()
                .flatten()
                .min();
            if let Some(s) = s {
                start.insert(*p, *s);
            }
            let mut c = Consumed::default();
            for host in [ca, cb] {
                if let Some(x) = host.consumed.get(p) {
                    c.merge(x);
                }
            }
            consumed.insert(*p, c);
        }
        (start, consumed)
    }

    /// What host a processed after its last commit, per partition it had:
    /// from where host b started them to host a's last record.
    fn uncommitted_of_a(&self, a: usize, b: usize, k: &Kill) -> BTreeMap<i32, u64> {
        let (ca, cb) = (&self.consumers[&a], &self.consumers[&b]);
        k.partitions
            .iter()
            .map(|p| {
                let a_next = ca.consumed.get(p).map_or(0, Consumed::next);
                let b_start = cb.last_start.get(p).copied().unwrap_or(a_next);
                (*p, (a_next - b_start).max(0) as u64)
            })
            .collect()
    }

    /// Prints the failover verdict; returns the exit code.
    #[allow(clippy::too_many_arguments)]
    fn print_failover_verdict(
        &self,
        a: usize,
        b: usize,
        pid: usize,
        v: &Verdict,
        k: &Kill,
        end: &BTreeMap<i32, i64>,
        committed: &BTreeMap<i32, i64>,
    ) -> i32 {
        let uncommitted = self.uncommitted_of_a(a, b, k);
        let owed: u64 = uncommitted.values().sum();
        let mut rows = vec![produced_row(&self.producers[&pid])];
        for (label, id) in [("host a", a), ("host b", b)] {
            let c = &self.consumers[&id];
            let parts: Vec<String> = c
                .joins
                .iter()
                .map(|j| format!("g{} {}", j.generation, partition_list(&j.partitions)))
                .collect();
            rows.push(vec![
                format!("{label} consumed"),
                report::thousands(records(c)),
                format!("partitions by generation: {}", parts.join(", ")),
            ]);
        }
        for mut row in check_rows(v, end, committed) {
            if row[0] == "duplicated" {
                row[2] = format!(
                    "what host a processed after its last commit: {owed} ({})",
                    uncommitted
                        .iter()
                        .map(|(p, n)| format!("{p}:{n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            rows.push(row);
        }
        let took = k.taken_over_ms.map(|t| t.saturating_sub(k.at_ms));
        rows.push(vec![
            "takeover".to_string(),
            took.map_or("never".to_string(), |t| {
                format!("{:.1} s after the kill", t as f64 / 1000.0)
            }),
            format!(
                "host b joined a generation with partitions {} (session timeout {} ms)",
                partition_list(&k.partitions),
                self.opts.session_timeout.as_millis()
            ),
        ]);
        report::line("");
        report::line(&report::table_fit(
            &["check", "result", "details"],
            &rows,
            report::stdout_width(),
        ));
        for (part, lo, hi) in v.missing.iter().take(20) {
            report::line(&format!("  missing: partition {part} offsets {lo}..={hi}"));
        }
        let ok = v.missing.is_empty()
            && v.gaps == 0
            && v.commit_mismatch.is_empty()
            && v.duplicated <= owed
            && took.is_some();
        if ok {
            report::line(&format!(
                "verified: missing 0; duplicated {} (host a's work after its last commit); host b took over in {:.1} s",
                v.duplicated,
                took.unwrap_or(0) as f64 / 1000.0
            ));
            0
        } else {
            report::line("NOT verified: see above");
            1
        }
    }
}
