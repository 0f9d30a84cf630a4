//! The supervisor's decisions, as a state machine that does no I/O.
//!
//! The driver (`supervisor::driver`) turns what happens into [`Input`]s (a
//! worker's report, a worker reaped, a stop signal, a group event, a turn of
//! its loop) and carries out the [`Action`]s that [`Machine::on`] returns
//! (fork, signal, heartbeat, join, leave, write an event or a note, exit).
//! Every input comes with the time; the machine reads no clock, so its tests
//! drive it with a fake one, in milliseconds of test time. Its only side
//! effect is `log` diagnostics.
//!
//! The rules it keeps:
//! - a worker that dies is respawned with the same partitions after a delay
//!   that doubles per crash (`--respawn-backoff`, 1 s, up to 30 s) and starts
//!   over after a process that ran longer than the crash window; more than 5
//!   crashes of one worker within the window (`--crash-window`, 60 s) stop
//!   the run (exit 1, naming the worker and its last error);
//! - a worker that exits with `EXIT_STOP_RUN` met a fault that does not pass:
//!   the run stops (exit 1, with its last error) instead of a respawn;
//! - the first SIGINT, and every SIGTERM, stop spawning and ask every worker
//!   to stop (SIGTERM); after `--grace` the stragglers get SIGKILL and are
//!   named in the summary; a second SIGINT kills every worker and leaves at
//!   once (exit 130); `--max-messages` reached is the same graceful stop;
//! - `--subscribe`: a rebalance stops every worker the same way, then the
//!   machine rejoins and forks a worker per share of what the group gave;
//! - the run is over, and the summary due, when no worker is left and none
//!   is to come. That is decided on [`Input::Tick`], after the driver has
//!   read the signals of its turn: workers that stopped on a Ctrl+C sent to
//!   the whole process group make an interrupted run, not a finished one.

mod exits;
mod group;
mod record;
mod reports;
#[cfg(test)]
mod tests;

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

use self::record::{Life, Record};
use crate::consume::assignment::PlanError;
use crate::consume::events::ConsumeEvent;
use crate::consume::membership::Generation;
use crate::consume::options::Options;
use crate::consume::status::Status;
use crate::consume::view::{SummaryRow, WorkerView};
use crate::consume::worker::WorkerTask;
use crate::consume::Ending;
use crate::report::Format;
use crate::shutdown::EXIT_INTERRUPTED;

pub use self::record::{next_backoff, MAX_BACKOFF, MAX_CRASHES};

/// Something that happened, for [`Machine::on`].
#[derive(Debug, Clone)]
pub enum Input {
    /// The run begins: fork the planned workers (or, `--subscribe`, join).
    Start,
    /// The [`Action::Fork`] for `worker` made process `pid`.
    Forked {
        /// The worker.
        worker: usize,
        /// Its new process.
        pid: Pid,
    },
    /// A report line from worker process `pid`.
    Status {
        /// The process.
        pid: Pid,
        /// What it said.
        status: Status,
    },
    /// A worker process was reaped (its status lines were read before).
    Exited(WaitStatus),
    /// A stop signal reached the supervisor.
    Signal(StopSignal),
    /// News from the consumer group (`--subscribe`).
    Group(GroupEvent),
    /// A turn of the driver's loop, after it read the signals of the turn:
    /// timers fire, and the run ends when nothing is left to do.
    Tick,
}

/// The signals that stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl+C): the first is graceful, the second leaves at once.
    Interrupt,
    /// SIGTERM (a service manager, a demo, PDEATHSIG): always graceful.
    Terminate,
}

/// What the group membership reports.
#[derive(Debug, Clone)]
pub enum GroupEvent {
    /// Joined: this generation, and this host's partitions in it.
    Joined {
        /// The generation the workers' commits carry.
        generation: Generation,
        /// This host's partitions.
        share: Vec<i32>,
    },
    /// A heartbeat found the group rebalancing (or this member dropped).
    Rebalance,
}

/// What the driver is to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Fork a worker process for this task, then report [`Input::Forked`].
    Fork(WorkerTask),
    /// Send `signal` to worker process `pid`.
    Signal {
        /// The process.
        pid: Pid,
        /// SIGTERM (stop gracefully) or SIGKILL.
        signal: Signal,
    },
    /// Heartbeat the group if one is due; report [`GroupEvent::Rebalance`] if asked to rejoin.
    Heartbeat,
    /// Join (or rejoin) the group, then report [`GroupEvent::Joined`].
    Join,
    /// Leave the group so that the others take over at once.
    Leave,
    /// Write this `--format json` event.
    Event(Box<ConsumeEvent>),
    /// Note this line in the human view.
    Note(String),
    /// The group's share cannot be planned: the run fails with this error.
    Fail(PlanError),
    /// A second Ctrl+C: every worker was sent SIGKILL; reap these, say so
    /// and exit with `code` at once (no summary).
    Abort {
        /// The killed processes, to reap.
        reap: Vec<Pid>,
        /// The exit code (130).
        code: i32,
    },
    /// The run is over: print the summary and exit with `code`.
    Exit {
        /// 0 done, 130 interrupted, 1 crash loop or failed.
        code: i32,
    },
}

/// The exit code of a run that ended so.
pub fn exit_code(ending: &Ending) -> i32 {
    match ending {
        Ending::Done => 0,
        Ending::Interrupted => EXIT_INTERRUPTED,
        Ending::CrashLoop(_) | Ending::Failed(_) => 1,
    }
}

/// `--subscribe`: where this member is in its group.
struct Group {
    /// The current generation (None before the first join).
    generation: Option<Generation>,
    /// Since when the workers are being stopped for a rebalance.
    rebalancing: Option<Instant>,
    /// A join was asked for and has not been reported yet.
    joining: bool,
    /// Workers forked for the current generation.
    generation_workers: usize,
}

/// The supervisor's state.
pub struct Machine {
    opts: Options,
    /// The supervisor's pid, which workers watch.
    me: Pid,
    workers: Vec<Record>,
    /// Since when the run is stopping (a signal, a crash loop, a failure, `--max-messages`).
    stopping: Option<Instant>,
    interrupts: u32,
    ending: Option<Ending>,
    /// The run's start, by the monotonic clock and in ms since the epoch:
    /// events are stamped from these and `now`, without reading a clock.
    started: Instant,
    started_ms: u64,
    /// Wall-clock span (µs since the epoch) from the first fetched event of
    /// any worker to the last processed one: the run's consuming time.
    first_us: u64,
    last_us: u64,
    group: Option<Group>,
    /// [`Action::Exit`] or [`Action::Abort`] was given: nothing more happens.
    over: bool,
}

impl Machine {
    /// A supervisor for `plan` (one partition list per worker; empty with
    /// `--subscribe`, where the group decides), started at `now`, which is
    /// `now_ms` on the wall clock; `me` is the supervisor's pid.
    pub fn new(opts: &Options, plan: Vec<Vec<i32>>, me: Pid, now: Instant, now_ms: u64) -> Self {
        let mut machine = Machine {
            opts: opts.clone(),
            me,
            workers: Vec::new(),
            stopping: None,
            interrupts: 0,
            ending: None,
            started: now,
            started_ms: now_ms,
            first_us: 0,
            last_us: 0,
            group: opts.subscribe.map(|_| Group {
                generation: None,
                rebalancing: None,
                joining: false,
                generation_workers: 0,
            }),
            over: false,
        };
        machine.add_workers(plan, now);
        machine
    }

    /// Takes one input at `now`; returns what to do, in order.
    pub fn on(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        match input {
            Input::Start => {
                for i in 0..self.workers.len() {
                    self.fork(i, false, &mut out);
                }
                self.settle(&mut out);
            }
            Input::Forked { worker, pid } => {
                log::debug!(
                    "worker {worker}: pid {pid}, partitions {:?}",
                    self.workers[worker].partitions
                );
                self.workers[worker].forked(pid, now);
            }
            Input::Status { pid, status } => {
                if let Some(i) = self.worker_of(pid) {
                    self.on_status(i, pid, status, now, &mut out);
                }
            }
            Input::Exited(st) => self.on_exit(st, now, &mut out),
            Input::Signal(signal) => self.on_signal(signal, now, &mut out),
            Input::Group(event) => self.on_group(event, now, &mut out),
            Input::Tick => {
                self.settle(&mut out);
                if !self.over {
                    self.timers(now, &mut out);
                }
            }
        }
        out
    }

    /// When the machine next needs a [`Input::Tick`] (a respawn or the
    /// grace running out), if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        let respawns = self.workers.iter().filter_map(|w| match w.life {
            Life::Waiting { until } => Some(until),
            _ => None,
        });
        let unkilled = self.workers.iter().any(|w| {
            matches!(
                w.life,
                Life::Running {
                    kill_sent: false,
                    ..
                }
            )
        });
        let grace = self.grace_deadline().filter(|_| unkilled);
        respawns.chain(grace).min()
    }

    /// Whether the run is stopping (for the live view).
    pub fn stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// The live view's lines.
    pub fn views(&self) -> Vec<WorkerView> {
        self.workers.iter().map(Record::view).collect()
    }

    /// How the run ended (so far).
    pub fn ending(&self) -> Ending {
        self.ending.clone().unwrap_or(Ending::Done)
    }

    /// The summary at `now`: a row per worker, and the consuming time span.
    pub fn summary(&self, now: Instant) -> (Vec<SummaryRow>, Duration) {
        let span = Duration::from_micros(self.last_us.saturating_sub(self.first_us));
        let rows = self.workers.iter().map(|w| w.summary(now)).collect();
        (rows, span)
    }

    /// Adds a record per share of `plan` (not forked yet); returns the
    /// index of the first one.
    fn add_workers(&mut self, plan: Vec<Vec<i32>>, now: Instant) -> usize {
        let first = self.workers.len();
        for (k, partitions) in plan.into_iter().enumerate() {
            let backoff = self.opts.respawn_backoff;
            self.workers
                .push(Record::new(first + k, partitions, backoff, now));
        }
        first
    }

    /// Asks for a process for worker `i` (`resume`: from the committed offsets).
    fn fork(&mut self, i: usize, resume: bool, out: &mut Vec<Action>) {
        let generation = self.group.as_ref().and_then(|g| g.generation.clone());
        let w = &mut self.workers[i];
        w.life = Life::Forking;
        out.push(Action::Fork(WorkerTask {
            index: i,
            partitions: w.partitions.clone(),
            resume,
            already: w.tally.consumed,
            supervisor: self.me,
            generation,
        }));
    }

    fn worker_of(&self, pid: Pid) -> Option<usize> {
        self.workers.iter().position(|w| w.pid() == Some(pid))
    }

    fn json(&self) -> bool {
        self.opts.format == Format::Json
    }

    /// The wall clock at `now`, in ms since the epoch.
    fn ms(&self, now: Instant) -> u64 {
        self.started_ms + now.duration_since(self.started).as_millis() as u64
    }

    fn emit(&self, out: &mut Vec<Action>, event: ConsumeEvent) {
        if self.json() {
            out.push(Action::Event(Box::new(event)));
        }
    }

    fn on_signal(&mut self, signal: StopSignal, now: Instant, out: &mut Vec<Action>) {
        // Only a second SIGINT is "leave at once"; SIGTERM asks for a graceful
        // stop however often it comes (a demo or init may send it after Ctrl+C).
        let interrupt = signal == StopSignal::Interrupt;
        if interrupt {
            self.interrupts += 1;
        }
        if self.interrupts >= 2 {
            log::info!("second interrupt: killing every worker");
            let reap: Vec<Pid> = self.workers.iter().filter_map(Record::pid).collect();
            for &pid in &reap {
                out.push(Action::Signal {
                    pid,
                    signal: Signal::SIGKILL,
                });
            }
            for w in &mut self.workers {
                w.life = Life::Finished;
            }
            self.ending = Some(Ending::Interrupted);
            self.over = true;
            out.push(Action::Abort {
                reap,
                code: EXIT_INTERRUPTED,
            });
            return;
        }
        log::info!(
            "{}: stopping workers (again to kill them at once)",
            if interrupt { "interrupt" } else { "terminate" }
        );
        self.begin_stop(Ending::Interrupted, now, out);
    }

    /// Stops spawning and asks every worker to finish (SIGTERM).
    fn begin_stop(&mut self, ending: Ending, now: Instant, out: &mut Vec<Action>) {
        if self.ending.is_none() {
            self.ending = Some(ending);
        }
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(now);
        self.stop_workers(out);
    }

    /// SIGTERM to every running worker; no respawn for the waiting ones.
    fn stop_workers(&mut self, out: &mut Vec<Action>) {
        for w in &mut self.workers {
            match w.life {
                Life::Running { pid, .. } => out.push(Action::Signal {
                    pid,
                    signal: Signal::SIGTERM,
                }),
                Life::Waiting { .. } => w.life = Life::Finished,
                Life::Forking | Life::Finished => {}
            }
        }
    }

    /// When workers asked to stop (a stop, or a rebalance) get SIGKILL.
    fn grace_deadline(&self) -> Option<Instant> {
        self.stopping
            .or(self.rebalancing_since())
            .map(|t| t + self.opts.grace)
    }

    /// The grace, the heartbeat and the respawns that are due.
    fn timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.grace_deadline().is_some_and(|d| now >= d) {
            for w in &mut self.workers {
                if let Life::Running {
                    pid,
                    kill_sent: false,
                } = w.life
                {
                    w.killed = true;
                    w.life = Life::Running {
                        pid,
                        kill_sent: true,
                    };
                    log::warn!(
                        "worker {} (pid {pid}) did not stop within --grace; killing it",
                        w.index
                    );
                    out.push(Action::Signal {
                        pid,
                        signal: Signal::SIGKILL,
                    });
                }
            }
        }
        let calm = self.stopping.is_none() && self.rebalancing_since().is_none();
        if calm && self.group.as_ref().is_some_and(|g| g.generation.is_some()) {
            out.push(Action::Heartbeat);
        }
        for i in 0..self.workers.len() {
            if let Life::Waiting { until } = self.workers[i].life {
                if now >= until && calm {
                    self.workers[i].respawns += 1;
                    self.fork(i, true, out);
                }
            }
        }
    }

    /// With no worker left and none to come: rejoin after a rebalance, keep
    /// a place in the group with nothing assigned, or end the run.
    fn settle(&mut self, out: &mut Vec<Action>) {
        let idle = self
            .workers
            .iter()
            .all(|w| matches!(w.life, Life::Finished));
        if !idle {
            return;
        }
        if self.stopping.is_none() {
            if let Some(g) = self.group.as_mut() {
                if g.generation.is_none() || g.rebalancing.is_some() {
                    if !g.joining {
                        g.joining = true;
                        out.push(Action::Join);
                    }
                    return;
                }
                if g.generation_workers == 0 {
                    return;
                }
            }
        }
        self.over = true;
        if self.group.is_some() {
            out.push(Action::Leave);
        }
        out.push(Action::Exit {
            code: exit_code(&self.ending()),
        });
    }
}
