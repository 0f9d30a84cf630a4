#!/usr/bin/env python3
"""Consumer-group figures (issue 11): how long a group takes to hand a dead
or departing host's partitions to the survivor, and what `--subscribe` costs.

  takeover   `braid demo --scenario failover` per --session-timeout (6 s and
             10 s by default): the verdict's kill-to-takeover time (SIGKILL of
             host a's supervisor to host b's `group_joined` holding a's
             partitions).
  leave      two `braid consume --subscribe` hosts; Ctrl+C (SIGINT to the
             process group) of one: time to the other's `group_joined` with
             all 6 partitions (LeaveGroup, no session timeout; 30 s session).
  throughput 1M events in 6 partitions, read to the end by 2 worker
             processes with manual assignment and with --subscribe (one
             member); events/s from `shutdown_complete`, best of the runs.

Run by hand (nothing here is asserted by `cargo test`):
  cargo build --release && python3 benches/failover_figures.py
Options: --braid PATH (default target/release/braid), --runs N (3),
--brokers HOST:PORT,... (a real cluster instead of the embedded broker),
--messages N (1000000), --only takeover|leave|throughput.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def start_broker(braid):
    """The embedded broker on port 0 in a temporary directory: (proc, addr, dir)."""
    data = tempfile.TemporaryDirectory(prefix="braid-figures-")
    proc = subprocess.Popen(
        [braid, "broker", "--listen", "127.0.0.1:0", "--data", data.name],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening on "):
            return proc, line.split()[-1], data
    proc.kill()
    sys.exit("the broker did not start")


def run(cmd, timeout=600):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}{out.stdout[-2000:]}")
    return out.stdout


def create_topic(braid, brokers, topic, cluster):
    rf = "3" if cluster else "1"
    run([braid, "topic", "create", topic, "-b", brokers, "--partitions", "6", "--replication", rf])


def summary(xs):
    return f"median {statistics.median(xs):.2f}  min {min(xs):.2f}  max {max(xs):.2f}  (n={len(xs)})"


def takeover_cmd(braid, brokers, session, topic):
    """The failover demo's command line (on brokers, or its own embedded broker when None)."""
    cmd = [braid, "demo", "--scenario", "failover", "-n", "6000", "--rate", "1000",
           "--kill-after", "1500", "--session-timeout", str(session)]
    if brokers:
        cmd += ["-b", brokers, "-t", topic]
    return cmd


def takeover_seconds(out):
    """Kill-to-takeover in seconds from the failover demo's verdict (0.1 s resolution)."""
    row = next(l for l in out.splitlines() if l.startswith("takeover"))
    return float(row.split()[1])


def takeover(braid, brokers, runs):
    """Kill-to-takeover per session timeout, from the failover demo's verdict."""
    print("kill-to-takeover (braid demo --scenario failover, SIGKILL of host a)")
    for session in (6000, 10000):
        took = []
        for i in range(runs):
            topic = f"figures-failover-{os.getpid()}-{session}-{i}"
            took.append(takeover_seconds(run(takeover_cmd(braid, brokers, session, topic))))
        print(f"  --session-timeout {session / 1000:.0f} s: takeover s  {summary(took)}")


class Member:
    """A `braid consume --subscribe` host in its own process group, its
    JSON events read on demand."""

    def __init__(self, braid, brokers, topic, group):
        self.proc = subprocess.Popen(
            [braid, "consume", "-b", brokers, "-t", topic, "-g", group, "--subscribe",
             "--processes", "2", "--session-timeout", "30000", "--heartbeat-interval", "500",
             "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, process_group=0,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = ""
        self.joins = []

    def poll(self):
        try:
            while chunk := os.read(self.proc.stdout.fileno(), 1 << 16):
                self.buf += chunk.decode()
        except BlockingIOError:
            pass
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            if '"group_joined"' in line:
                self.joins.append(json.loads(line))

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait(cond, what, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.01)
    sys.exit(f"timed out waiting for {what}")


def leave(braid, brokers, runs, cluster):
    """Ctrl+C of one of two hosts: time until the other holds all 6 partitions."""
    took = []
    for i in range(runs):
        topic, group = f"figures-leave-{os.getpid()}-{i}", f"figures-leave-{os.getpid()}-{i}"
        create_topic(braid, brokers, topic, cluster)
        a = Member(braid, brokers, topic, group)
        b = Member(braid, brokers, topic, group)
        try:
            def split():
                a.poll(), b.poll()
                return (a.joins and b.joins and a.joins[-1]["generation"] == b.joins[-1]["generation"]
                        and a.joins[-1]["partitions"] and b.joins[-1]["partitions"])
            wait(split, "the two hosts to split the partitions")
            gen = a.joins[-1]["generation"]
            t0 = time.time() * 1000
            os.killpg(b.proc.pid, signal.SIGINT)

            def all_six():
                a.poll()
                return any(j["generation"] > gen and len(j["partitions"]) == 6 for j in a.joins)
            wait(all_six, "host a to take over")
            j = next(j for j in a.joins if j["generation"] > gen and len(j["partitions"]) == 6)
            took.append((j["timestamp"] - t0) / 1000)
        finally:
            b.stop()
            a.stop()
    print("clean leave (Ctrl+C of one of two --subscribe hosts, session timeout 30 s)")
    print(f"  takeover s  {summary(took)}")


def throughput(braid, brokers, runs, messages, cluster):
    """Events/s of 2 workers reading 1M events, manual assignment vs --subscribe."""
    topic = f"figures-tput-{os.getpid()}"
    create_topic(braid, brokers, topic, cluster)
    run([braid, "produce", "-b", brokers, "-t", topic, "-n", str(messages), "-j", "4",
         "--key", "none", "--format", "json"], timeout=1800)
    best = {}
    for i in range(runs):
        for mode in ("manual", "subscribe"):
            cmd = [braid, "consume", "-b", brokers, "-t", topic, "-g", f"figures-{mode}-{os.getpid()}-{i}",
                   "--processes", "2", "-o", "earliest", "--exit-at-end", "--format", "json"]
            if mode == "subscribe":
                cmd.append("--subscribe")
            out = run(cmd, timeout=1800)
            done = json.loads(out.strip().splitlines()[-1])
            assert done["name"] == "shutdown_complete", done
            if done["consumed"] < messages:
                sys.exit(f"{mode}: consumed {done['consumed']} of {messages}")
            best[mode] = max(best.get(mode, 0), done["events_per_sec"])
    print(f"consume throughput ({messages:,} events, 6 partitions, 2 processes, best of {runs})")
    for mode, eps in best.items():
        print(f"  {mode:<10} {eps:>12,.0f} events/s")
    print(f"  --subscribe costs {100 * (1 - best['subscribe'] / best['manual']):.1f} %")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--braid", default="target/release/braid")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--brokers")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["takeover", "leave", "throughput"])
    args = ap.parse_args()
    broker, data = None, None
    brokers = args.brokers
    if not brokers:
        broker, brokers, data = start_broker(args.braid)
    try:
        if args.only in (None, "takeover"):
            takeover(args.braid, args.brokers, args.runs)
        if args.only in (None, "leave"):
            leave(args.braid, brokers, args.runs, bool(args.brokers))
        if args.only in (None, "throughput"):
            throughput(args.braid, brokers, args.runs, args.messages, bool(args.brokers))
    finally:
        if broker:
            broker.terminate()
            broker.wait(timeout=30)
            data.cleanup()


if __name__ == "__main__":
    main()
