//! The consumer supervisor's signals: a self-pipe per signal, and the mask
//! held across each fork.
//!
//! The supervisor forks, so it stays single-threaded: no `ctrlc` (which
//! starts a thread), no handler of its own. `signal-hook` writes one byte
//! into a pipe per delivery of SIGINT, SIGTERM or SIGCHLD (an action that
//! is async-signal-safe and saves errno); the supervisor's poll loop watches
//! the read ends and counts the bytes. One pipe per signal keeps the count
//! of each: two Ctrl+C that land between two turns of the loop are two, not
//! one, so the second still leaves at once.

use anyhow::{Context, Result};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use signal_hook::SigId;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

/// The signals the supervisor handles (and blocks across a fork).
const HANDLED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD];

/// What arrived since the last [`Signals::take`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// SIGINT deliveries (Ctrl+C).
    pub interrupts: usize,
    /// SIGTERM deliveries.
    pub terminates: usize,
    /// SIGCHLD deliveries (a child exited: reap).
    pub children: usize,
}

/// One signal's self-pipe: the read end, and the action that writes the other.
struct Pipe {
    signal: Signal,
    read: UnixStream,
    action: SigId,
}

/// The supervisor's self-pipes, installed once before the first fork.
pub struct Signals {
    pipes: Vec<Pipe>,
}

impl Signals {
    /// Registers a self-pipe for SIGINT, SIGTERM and SIGCHLD.
    pub fn install() -> Result<Signals> {
        Signals::install_these(&HANDLED)
    }

    fn install_these(signals: &[Signal]) -> Result<Signals> {
        let mut pipes = Vec::new();
        for &signal in signals {
            let (read, write) = UnixStream::pair().context("cannot create a signal pipe")?;
            read.set_nonblocking(true)
                .context("cannot make a signal pipe non-blocking")?;
            let action = signal_hook::low_level::pipe::register(signal as i32, write)
                .with_context(|| format!("cannot install the {signal} handler"))?;
            pipes.push(Pipe {
                signal,
                read,
                action,
            });
        }
        Ok(Signals { pipes })
    }

    /// The read ends, to poll.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes.iter().map(|p| p.read.as_fd())
    }

    /// Empties the pipes and counts what each signal wrote. Read every turn
    /// of the loop, not only when poll says so: a signal that came while the
    /// last turn was busy must count even if every worker has exited since.
    pub fn take(&mut self) -> Result<Received> {
        let mut got = Received::default();
        let mut buf = [0u8; 64];
        for pipe in &mut self.pipes {
            let mut n = 0;
            loop {
                match pipe.read.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).context("cannot read a signal pipe"),
                }
            }
            match pipe.signal {
                Signal::SIGINT => got.interrupts += n,
                Signal::SIGTERM => got.terminates += n,
                _ => got.children += n,
            }
        }
        Ok(got)
    }

    /// In a freshly forked worker (signals still blocked): removes the
    /// supervisor's actions, which closes the write ends, and closes the
    /// read ends. This is the child's reset: signal-hook's handler stays
    /// installed (its registry is per process, and a disposition changed
    /// behind its back would leave it stale), with no action left, which
    /// for SIGCHLD is what the default does (nothing); the worker then adds
    /// its own for SIGINT and SIGTERM ([`super::worker::install`]).
    pub fn forget_in_child(&mut self) {
        for pipe in self.pipes.drain(..) {
            signal_hook::low_level::unregister(pipe.action);
        }
    }
}

/// SIGINT, SIGTERM and SIGCHLD blocked around a fork: a Ctrl+C arriving just
/// then is handled by the supervisor after the fork, and by the child only
/// once the child has its own handling, never by the supervisor's actions
/// running in the child (they would write into the supervisor's pipes).
pub struct ForkMask {
    old: SigSet,
}

impl ForkMask {
    /// Blocks the signals; the previous mask comes back with [`ForkMask::unblock`].
    pub fn block() -> Result<ForkMask> {
        let mut set = SigSet::empty();
        for signal in HANDLED {
            set.add(signal);
        }
        let mut old = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .context("cannot block signals for fork")?;
        Ok(ForkMask { old })
    }

    /// Restores the mask from before [`ForkMask::block`]: in the supervisor
    /// right after the fork, in the child once its own handling is in place.
    /// Signals that came meanwhile are delivered now.
    pub fn unblock(self) {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGCHLD is harmless to raise in a test process (its default is to
    /// ignore it; SIGINT and SIGTERM are left alone, since an action removed
    /// leaves the signal ignored): each delivery is one byte, counted.
    #[test]
    fn each_delivery_of_a_signal_is_counted() {
        let mut signals = Signals::install_these(&[Signal::SIGCHLD]).expect("install");
        // Other tests may run children that exit meanwhile: count at least.
        let _ = signals.take().expect("take");
        signal_hook::low_level::raise(Signal::SIGCHLD as i32).expect("raise");
        signal_hook::low_level::raise(Signal::SIGCHLD as i32).expect("raise");
        let got = signals.take().expect("take");
        assert!(got.children >= 2, "{got:?}");
        assert_eq!((got.interrupts, got.terminates), (0, 0), "{got:?}");
        assert_eq!(signals.take().expect("take").interrupts, 0);
        signals.forget_in_child();
        assert_eq!(signals.fds().count(), 0);
    }
}
