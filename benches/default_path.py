#!/usr/bin/env python3
"""braid's own default path (`braid bench` on the embedded broker: the
`kafka` crate producing and consuming, every flag on its default) with two
braid binaries, side by side: issue 18's "within 10 % of today's
throughput" figure, where OLD is a release build of the commit before the
broker stored record batches (2f68ef6: magic-0 segments) and NEW is this
tree's. On the new broker the `kafka` crate's Fetch v0-3 is answered by
converting the stored record batches to magic-0 message sets on the way out.

Each round runs OLD then NEW (alternating, one broker at a time: each bench
starts and stops its own embedded broker), one cell of --partitions x
--processes, one untimed warm-up run then one measured run, and reads the
measured run's produce records/s and consume events/s from
`--export-json`. Prints min / median / max per binary and the ratio of the
medians (NEW / OLD).

With --broker-only, the client side is OLD's `braid bench -b` in both
contenders and only the broker differs (OLD's or NEW's `braid broker`,
started here on a fresh directory and a free port): the cost of the new
broker's down-conversion alone, with the client held fixed.

  git worktree add /tmp/old 2f68ef6 && (cd /tmp/old && cargo build --release)
  cargo build --release
  python3 benches/default_path.py --old /tmp/old/target/release/braid
Options: --new (target/release/braid), --rounds (5), --messages (2000000),
--partitions (6), --processes (3).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(addr, deadline_s=10.0):
    host, port = addr.rsplit(":", 1)
    end = time.monotonic() + deadline_s
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def one(binary, args, work):
    out = os.path.join(work, "run.json")
    cmd = [binary, "bench", "--partitions", str(args.partitions), "--processes",
           str(args.processes), "-n", str(args.messages), "--runs", "1", "--warmup", "1",
           "--no-reference", "--export-json", out]
    broker = None
    if args.broker_only:
        # OLD's client against this contender's broker.
        addr = f"127.0.0.1:{free_port()}"
        data = tempfile.mkdtemp(dir=work)
        broker = subprocess.Popen([binary, "broker", "--listen", addr, "--data", data],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(addr)
        cmd[0] = args.old
        cmd += ["-b", addr]
    try:
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait()
    with open(out) as f:
        run = json.load(f)["runs"][0]
    assert run["acked"] == args.messages and run["consumed"] == args.messages, run
    return run["produce_records_per_sec"], run["consume_events_per_sec"]


def fmt(values):
    return " / ".join(f"{v:,.0f}" for v in (min(values), statistics.median(values), max(values)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", default=os.path.join(ROOT, "target", "release", "braid"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--broker-only", action="store_true",
                    help="OLD's client in both contenders; only the broker differs")
    args = ap.parse_args()
    got = {"old": ([], []), "new": ([], [])}
    with tempfile.TemporaryDirectory(prefix="braid-default-path-") as work:
        for r in range(1, args.rounds + 1):
            for name in ("old", "new"):
                p, c = one(getattr(args, name), args, work)
                got[name][0].append(p)
                got[name][1].append(c)
                print(f"round {r} {name}: produce {p:,.0f} rec/s  consume {c:,.0f} ev/s", flush=True)
    if args.broker_only:
        print("\nclient: OLD's braid bench -b in both; broker: OLD's or NEW's braid broker")
    print(f"\n{args.messages:,} events, {args.partitions} partitions, {args.processes} processes, "
          f"{args.rounds} rounds alternating old / new; min / median / max, ratio = new median / old median\n")
    print("| figure | old | new | ratio |\n| --- | ---: | ---: | ---: |")
    for i, label in enumerate(("produce records/s", "consume events/s")):
        old, new = got["old"][i], got["new"][i]
        print(f"| {label} | {fmt(old)} | {fmt(new)} | {statistics.median(new) / statistics.median(old):.2f} |")


if __name__ == "__main__":
    main()
