#!/usr/bin/env python3
"""Ctrl+C latency: from SIGINT to the last braid process gone.

Sends Ctrl+C (SIGINT to the whole process group, as a terminal does) at a
random moment into `braid consume --processor prime` over values up to 10^15
(CPU-bound, large fetches) and into `braid demo` (broker included), RUNS
times each, and prints p50/p99/max per command.

    cargo build --release
    python3 benches/ctrl_c_latency.py [--runs 20] [--braid target/release/braid]

Every run's processes are in their own session; anything left after 30 s is
SIGKILLed and reported. Everything it writes (the broker's log, the demo's
temporary broker directories, its own log) is under one temporary directory
(TMPDIR for its children too), removed at the end; after a failure it is
kept and named, for its log.txt.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def group_members(pgid):
    """Pids (zombies with a live braid parent included) in process group pgid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, ppid, pgrp = rest[0], int(rest[1]), int(rest[2])
        if pgrp == pgid and not (state == "Z" and ppid == 1):
            out.append(int(name))
    return out


def interrupt(cmd, delay, log, env):
    """Starts cmd in its own session, SIGINTs its group after delay, returns seconds to gone."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         env=env)
    time.sleep(delay)
    if p.poll() is not None:
        raise SystemExit(f"{cmd[1]} ended before the signal (exit {p.returncode}); see {log.name}")
    t0 = time.monotonic()
    os.killpg(p.pid, signal.SIGINT)
    while True:
        p.poll()
        if not group_members(p.pid):
            took = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 30:
            os.killpg(p.pid, signal.SIGKILL)
            raise SystemExit(f"{cmd[1]}: processes left 30 s after Ctrl+C: {group_members(p.pid)}")
        time.sleep(0.002)
    p.wait()
    if p.returncode != 130:
        raise SystemExit(f"{cmd[1]} exited {p.returncode} after Ctrl+C, expected 130; see {log.name}")
    return took


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--braid", default="target/release/braid")
    a = ap.parse_args()
    braid = os.path.abspath(a.braid)
    work = tempfile.mkdtemp(prefix="braid-ctrlc-")
    # The children's temporary directories (the demo's brokers) go here too,
    # so that removing `work` removes them, even after a SIGKILL.
    env = dict(os.environ, TMPDIR=work)
    log = open(os.path.join(work, "log.txt"), "w")
    broker = subprocess.Popen([braid, "broker", "--listen", "127.0.0.1:0", "--data",
                               os.path.join(work, "broker")], stdout=subprocess.PIPE,
                              stderr=log, start_new_session=True, text=True, env=env)
    ok = False
    try:
        addr = broker.stdout.readline().split()[-1]
        subprocess.run([braid, "produce", "-b", addr, "-t", "slow", "-j", "4", "-n", "200000",
                        "--key", "seq", "--value-range", "1..1000000000000000"],
                       check=True, stdout=log, stderr=log)
        results = {"consume": [], "demo": []}
        for i in range(a.runs):
            cmd = [braid, "consume", "-b", addr, "-t", "slow", "--processes", "3", "--processor", "prime",
                   "-g", f"bench-{i}", "--fetch-max-bytes", "4194304"]
            results["consume"].append(interrupt(cmd, random.uniform(1.0, 3.0), log, env))
            cmd = [braid, "demo", "-n", "2000000", "--value-range", "1..1000000000000000"]
            results["demo"].append(interrupt(cmd, random.uniform(1.5, 4.0), log, env))
            print(f"run {i + 1}: consume {results['consume'][-1] * 1000:.0f} ms, "
                  f"demo {results['demo'][-1] * 1000:.0f} ms", file=sys.stderr)
        print("| command | runs | p50 | p99 | max |")
        print("| --- | --- | --- | --- | --- |")
        for name, xs in results.items():
            print(f"| braid {name} | {len(xs)} | {quantile(xs, 0.5) * 1000:.0f} ms | "
                  f"{quantile(xs, 0.99) * 1000:.0f} ms | {max(xs) * 1000:.0f} ms |")
        ok = True
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait()
        log.close()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} (its log.txt says what happened)", file=sys.stderr)


if __name__ == "__main__":
    main()
