//! `--subscribe`: the machine's part in its consumer group. A join gives
//! this host its share, which is split among its workers (manual assignment
//! inside the host, as without a group); a rebalance stops every worker the
//! fast, exact way (each commits what it processed, with the generation it
//! was given), and once none is left the machine asks to rejoin.

use std::time::Instant;

use super::{Action, GroupEvent, Machine};
use crate::consume::assignment;
use crate::consume::events::ConsumeEvent;

impl Machine {
    /// News from the group.
    pub(super) fn on_group(&mut self, event: GroupEvent, now: Instant, out: &mut Vec<Action>) {
        match event {
            GroupEvent::Joined { generation, share } => self.joined(generation, share, now, out),
            GroupEvent::Rebalance => self.rebalance(now, out),
        }
    }

    /// Since when workers are being stopped for a rebalance.
    pub(super) fn rebalancing_since(&self) -> Option<Instant> {
        self.group.as_ref().and_then(|g| g.rebalancing)
    }

    /// Joined `generation` with `share`: a worker per share of it.
    fn joined(
        &mut self,
        generation: crate::consume::membership::Generation,
        share: Vec<i32>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let plan = if share.is_empty() {
            Vec::new()
        } else {
            let o = &self.opts;
            match assignment::plan(&o.topic, &share, o.processes, &o.assignment, None) {
                Ok(plan) => plan,
                Err(e) => {
                    self.over = true;
                    out.push(Action::Fail(e));
                    return;
                }
            }
        };
        if self.json() {
            self.emit(
                out,
                ConsumeEvent::GroupJoined {
                    timestamp: self.ms(now),
                    group: self.opts.group.clone(),
                    generation: generation.id,
                    member_id: generation.member_id.clone(),
                    partitions: share.clone(),
                    plan: plan.clone(),
                },
            );
        } else {
            out.push(Action::Note(format!(
                "group '{}' generation {}: this host has partitions {} -> {} workers",
                self.opts.group,
                generation.id,
                crate::report::partition_list(&share),
                plan.len()
            )));
        }
        let first = self.add_workers(plan, now);
        let count = self.workers.len() - first;
        if let Some(g) = self.group.as_mut() {
            g.joining = false;
            g.rebalancing = None;
            g.generation = Some(generation);
            g.generation_workers = count;
        }
        for i in first..self.workers.len() {
            self.fork(i, true, out);
        }
    }

    /// The group rebalances: stop every worker (they commit), then rejoin.
    fn rebalance(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.stopping.is_some() || self.rebalancing_since().is_some() {
            return;
        }
        let Some(g) = self.group.as_mut() else { return };
        g.rebalancing = Some(now);
        let generation = g.generation.as_ref().map_or(-1, |g| g.id);
        log::info!("group '{}' rebalancing: stopping workers", self.opts.group);
        if self.json() {
            self.emit(
                out,
                ConsumeEvent::GroupRebalancing {
                    timestamp: self.ms(now),
                    group: self.opts.group.clone(),
                    generation,
                },
            );
        } else {
            out.push(Action::Note(format!(
                "group '{}' rebalancing: stopping this host's workers, then rejoining",
                self.opts.group
            )));
        }
        self.stop_workers(out);
    }
}
