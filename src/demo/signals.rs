//! Ctrl+C and stopping: the demo forwards each Ctrl+C to its producers and
//! consumers (they run in their own process groups), asks them to stop when
//! the run is over, and knows when they are all gone.

use nix::sys::signal::Signal;

use super::Demo;

impl Demo<'_> {
    /// Handles Ctrl+C: the first asks every producer and consumer to stop
    /// gracefully (SIGINT, as a terminal would), the second to stop at once.
    pub(super) fn check_signals(&mut self) {
        let n = self.stop.signals();
        while self.signals_handled < n {
            self.signals_handled += 1;
            self.interrupted = true;
            self.stopping = true;
            if self.signals_handled == 1 {
                self.note("[demo] interrupt: stopping producer and consumers gracefully (Ctrl+C again to stop at once)");
            }
            self.signal_children(Signal::SIGINT);
        }
    }

    /// The producers' and consumers' indexes in `procs` (not the broker's).
    fn child_ids(&self) -> Vec<usize> {
        self.producers
            .keys()
            .chain(self.consumers.keys())
            .copied()
            .collect()
    }

    /// Sends `sig` to every producer and consumer.
    fn signal_children(&mut self, sig: Signal) {
        for id in self.child_ids() {
            self.procs[id].signal(sig);
        }
    }

    /// Asks every producer and consumer to finish (SIGTERM: graceful).
    pub(super) fn stop_all(&mut self) {
        self.stopping = true;
        self.signal_children(Signal::SIGTERM);
    }

    /// Whether every producer and consumer has closed its output and exited.
    pub(super) fn children_done(&mut self) -> bool {
        let ids = self.child_ids();
        ids.into_iter().all(|id| {
            let closed = self
                .consumers
                .get(&id)
                .map(|c| c.exited)
                .or(self.producers.get(&id).map(|p| p.exited));
            closed == Some(true) && self.procs[id].poll_exit().is_some()
        })
    }
}
