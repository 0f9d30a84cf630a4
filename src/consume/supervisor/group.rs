//! `--subscribe`: the supervisor's part in its consumer group. It joins,
//! splits the partitions the group gave it among its workers (manual
//! assignment inside the host, as without a group), heartbeats from the poll
//! loop, and on a rebalance stops every worker the fast, exact way (each
//! commits what it processed, with the generation it was given) before it
//! rejoins. A clean stop leaves the group so that the others take over at once.

use super::*;
use crate::consume::membership::{GroupConfig, GroupMember, Pulse};

/// The group membership of a `--subscribe` supervisor.
pub(super) struct Membership {
    pub(super) member: GroupMember,
    /// Since when the workers are being stopped for a rebalance.
    pub(super) rebalancing: Option<Instant>,
    /// Workers forked for the current generation.
    pub(super) generation_workers: usize,
    rebalance_timeout: Duration,
}

impl Membership {
    /// A member of the group `opts` names, not joined yet.
    pub(super) fn new(opts: &Options, sub: &crate::consume::options::Subscription) -> Membership {
        Membership {
            member: GroupMember::new(GroupConfig {
                brokers: opts.brokers.clone(),
                group: opts.group.clone(),
                topic: opts.topic.clone(),
                session_timeout: sub.session_timeout,
                rebalance_timeout: sub.rebalance_timeout,
                heartbeat_interval: sub.heartbeat_interval,
                assignor: sub.assignor,
            }),
            rebalancing: None,
            generation_workers: 0,
            rebalance_timeout: sub.rebalance_timeout,
        }
    }
}

impl Supervisor<'_> {
    /// Joins (or rejoins) the group, then forks a worker per share of the
    /// partitions it got.
    pub(super) fn join_group(&mut self) -> Result<()> {
        let Some(m) = self.group.as_mut() else {
            return Ok(());
        };
        let deadline = Instant::now() + m.rebalance_timeout + Duration::from_secs(30);
        let share = m.member.join(deadline)?;
        m.rebalancing = None;
        let generation = m.member.generation().clone();
        let plan = if share.is_empty() {
            Vec::new()
        } else {
            crate::consume::assignment::plan(
                &self.opts.topic,
                &share,
                self.opts.processes,
                &self.opts.assignment,
                None,
            )
            .map_err(|e| anyhow::anyhow!(e))?
        };
        if self.opts.format == crate::report::Format::Json {
            crate::report::emit_json(&ConsumeEvent::GroupJoined {
                timestamp: crate::report::now_ms(),
                group: self.opts.group.clone(),
                generation: generation.id,
                member_id: generation.member_id.clone(),
                partitions: share.clone(),
                plan: plan.clone(),
            });
        } else {
            self.view.note(&format!(
                "group '{}' generation {}: this host has partitions {} -> {} workers",
                self.opts.group,
                generation.id,
                crate::report::partition_list(&share),
                plan.len()
            ));
        }
        let first = self.add_workers(plan);
        if let Some(m) = self.group.as_mut() {
            m.generation_workers = self.workers.len() - first;
        }
        for i in first..self.workers.len() {
            self.spawn(i, true)?;
        }
        Ok(())
    }

    /// Heartbeats when due; a rebalance stops the workers before rejoining.
    pub(super) fn group_tick(&mut self) -> Result<()> {
        if self.stopping.is_some() {
            return Ok(());
        }
        let Some(m) = self.group.as_mut() else {
            return Ok(());
        };
        if m.rebalancing.is_some() {
            return Ok(());
        }
        if m.member.heartbeat()? == Pulse::Rejoin {
            self.begin_rebalance();
        }
        Ok(())
    }

    fn begin_rebalance(&mut self) {
        let Some(m) = self.group.as_mut() else {
            return;
        };
        m.rebalancing = Some(Instant::now());
        let generation = m.member.generation().id;
        log::info!("group '{}' rebalancing: stopping workers", self.opts.group);
        if self.opts.format == crate::report::Format::Json {
            crate::report::emit_json(&ConsumeEvent::GroupRebalancing {
                timestamp: crate::report::now_ms(),
                group: self.opts.group.clone(),
                generation,
            });
        } else {
            self.view.note(&format!(
                "group '{}' rebalancing: stopping this host's workers, then rejoining",
                self.opts.group
            ));
        }
        for w in &mut self.workers {
            match w.run {
                Incarnation::Running { pid, .. } => {
                    let _ = kill(pid, Signal::SIGTERM);
                }
                Incarnation::Waiting { .. } => w.run = Incarnation::Finished,
                Incarnation::Finished => {}
            }
        }
    }

    /// Every worker has finished: whether the run goes on (a rebalance to
    /// complete, or a member with nothing assigned that keeps its place).
    pub(super) fn group_goes_on(&mut self) -> Result<bool> {
        if self.stopping.is_some() {
            return Ok(false);
        }
        let Some(m) = self.group.as_ref() else {
            return Ok(false);
        };
        if m.rebalancing.is_some() {
            self.join_group()?;
            return Ok(true);
        }
        Ok(m.generation_workers == 0)
    }

    /// Since when workers are being stopped for a rebalance.
    pub(super) fn rebalancing_since(&self) -> Option<Instant> {
        self.group.as_ref().and_then(|m| m.rebalancing)
    }

    /// When the next heartbeat is due (group members only).
    pub(super) fn next_heartbeat(&self) -> Option<Instant> {
        self.group.as_ref().map(|m| m.member.next_heartbeat())
    }

    /// Leaves the group after the workers have committed and exited.
    pub(super) fn leave_group(&mut self) {
        if let Some(m) = self.group.as_mut() {
            m.member.leave();
        }
    }
}
