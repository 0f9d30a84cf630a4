#!/usr/bin/env python3
"""Issue 19's figures: braid's two Kafka clients side by side, in one run.

Three parts (--parts, comma-separated; all by default). N records of 100
bytes (--records, 2,000,000), 6-partition topics created fresh, --rounds (5)
rounds that alternate the contenders (odd rounds in the order listed, even
rounds reversed), one broker at a time, each round on a fresh broker in an
empty temporary directory after an untimed warm-up of every contender
(--warmup records, 100,000; Kafka runs with its default JIT):

  kafka     a single-node Apache Kafka 4.4.0 (started by
            benches/broker_vs_kafka.py's Kafka class):
              braid-produce  braid produce -j 4 -n N --key none --size 100
                             (auto: the modern client; idempotent, acks=all,
                             the defaults)
              java-produce   ProducerPerformance on its defaults (idempotent,
                             acks=all), --num-records N --record-size 100
                             --throughput -1
              braid-consume  braid consume --processes 3 -o earliest
                             --exit-at-end, of braid-produce's topic
              java-consume   ConsumerPerformance --messages N, of the same
                             topic (braid's events: the same batches)
  embedded  `braid broker`:
              modern-produce / legacy-produce   braid produce (as above)
                             with --protocol modern / legacy (modern is
                             idempotent, legacy is the `kafka` crate, not)
              kcat-produce   kcat -P -l FILE of N 100-byte lines
                             (librdkafka's defaults: acks=all)
              modern-consume / legacy-consume   braid consume (as above),
                             each of its own protocol's produce topic (the
                             pipeline a user of that --protocol runs)
  takeover  kill to takeover with --subscribe on Kafka 4.4.0 and 3.9.1,
            rounds alternating the versions, a fresh node each time:
            `braid demo --scenario failover -b NODE --session-timeout 6000`
            (benches/failover_figures.py's command; SIGKILL of host a's
            supervisor to host b's group_joined holding a's partitions, as
            the demo's verdict prints it, 0.1 s resolution)

Figures, min / median / max over the rounds:
  - rate: records per second as the tool reports it (braid: the summary's
    records_per_sec / events_per_sec; ProducerPerformance: its records/sec;
    ConsumerPerformance: fetch.nMsg.sec, without its group join; kcat
    reports none: its wall rate);
  - wall rate: records per wall-clock second of the client process, start
    to exit (the JVM tools pay their start-up here);
  - broker and client CPU seconds;
  - load: the 1-minute load average when the run started.
Ratios are of the medians. The goals of issue 19 are checked on both
rates and printed.

Cleanup: brokers run under broker_vs_kafka.py's wrapper (SIGKILL and their
directory removed whenever this script ends, even by SIGKILL); clients get
SIGKILL with this script (PR_SET_PDEATHSIG; braid's own children have it
too); a wrapper removes the work directory. SIGINT, SIGTERM and SIGHUP end
the run through that cleanup.

Run by hand (nothing here is asserted by `cargo test`):
  cargo build --release
  python3 benches/protocol_figures.py                                  # the figures
  python3 benches/protocol_figures.py --rounds 2 --records 200000 --warmup 20000 --takeover-rounds 1
Options: --parts, --rounds, --records, --warmup, --takeover-rounds (default
--rounds), --braid (target/release/braid), --json FILE (every measurement),
--from-json FILE (print the report of that file again, run nothing).
Needs: java (17+), kcat, target/kafka-4.4.0 and target/kafka-3.9.1
(tests/kafka/fetch.sh).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker_vs_kafka as bvk  # noqa: E402
import failover_figures as ff  # noqa: E402

ROOT = bvk.ROOT
K44, K39 = "4.4.0", "3.9.1"
PARTS = ["kafka", "embedded", "takeover"]
KAFKA_PATHS = ["braid-produce", "java-produce", "braid-consume", "java-consume"]
EMBEDDED_PATHS = ["modern-produce", "legacy-produce", "kcat-produce", "modern-consume", "legacy-consume"]
# The topic a consume path reads: the one its produce path wrote.
SOURCE = {
    "braid-consume": "braid-produce",
    "java-consume": "braid-produce",
    "modern-consume": "modern-produce",
    "legacy-consume": "legacy-produce",
}


def load1():
    return float(open("/proc/loadavg").read().split()[0])


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


class Figures:
    def __init__(self, args, work):
        self.a = args
        self.work = work
        # broker_vs_kafka's Bench: the records file for kcat, the Java tools'
        # command lines and parsing, topic creation, broker start.
        ns = argparse.Namespace(
            records=args.records, warmup=args.warmup, kafka_version=K44,
            kafka_jars=os.path.join(ROOT, "target", f"kafka-{K44}"), braid=args.braid,
            paths=["kcat-modern-produce", "java-produce", "java-consume"], rounds=args.rounds,
        )
        self.bench = bvk.Bench(ns, work)
        self.results = []  # dicts: part, round, path, rate, wall_rate, ...
        self.takeovers = []  # dicts: round, version, seconds, load

    # --- one client run -------------------------------------------------

    def run_braid(self, broker, path, topic, n, measured):
        """braid produce or consume of path on topic; its measurement."""
        addr = broker.addr
        protocol = path.split("-")[0] if broker.name == "embedded" else "auto"
        if path.endswith("produce"):
            cmd = [self.a.braid, "produce", "-b", addr, "-t", topic, "-j", "4", "-n", str(n),
                   "--key", "none", "--size", "100", "--format", "json", "--protocol", protocol]
        else:
            cmd = [self.a.braid, "consume", "-b", addr, "-t", topic, "-g", f"g-{path}-{topic}",
                   "--processes", "3", "-o", "earliest", "--exit-at-end", "--format", "json",
                   "--protocol", protocol]
        out = os.path.join(self.work, "braid.out")
        err = os.path.join(self.work, "braid.err")
        load = load1()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c0 = bvk.proc_cpu(broker.pid)
        t0 = time.monotonic()
        rc = bvk.run_client(cmd, out, err, 120 + n / 5000)
        wall = time.monotonic() - t0
        c1 = bvk.proc_cpu(broker.pid)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        what = f"{path} on {broker.name} ({topic}, {n} records)"
        stdout = open(out, errors="replace").read()
        stderr = open(err, errors="replace").read()
        if rc != 0:
            raise bvk.Failed(f"{what}: exit {rc}\n{stderr[-2000:]}{stdout[-1000:]}")
        events = [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]
        start = next((e for e in events if e.get("name") == "startup_complete"), {})
        done = next((e for e in reversed(events) if e.get("name") == "shutdown_complete"), None)
        if done is None:
            raise bvk.Failed(f"{what}: no shutdown_complete\n{stderr[-2000:]}")
        if path.endswith("produce"):
            got, rate = done["acked"], done["records_per_sec"]
        else:
            got, rate = done["consumed"], done["events_per_sec"]
        if got != n:
            raise bvk.Failed(f"{what}: {got} of {n}\n{stderr[-2000:]}")
        m = {
            "broker": broker.name, "path": path, "topic": topic, "records": n, "rate": rate,
            "wall_rate": n / wall, "wall_s": wall, "broker_cpu_s": c1 - c0,
            "client_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "load": load, "protocol": start.get("protocol"), "elapsed_ms": done["elapsed_ms"],
        }
        if path.endswith("produce"):
            m["retries"] = done["retries"]
            m["latency_ms"] = done.get("latency_ms")
        return m

    def run_other(self, broker, path, topic, n):
        """kcat or a Java tool through broker_vs_kafka's Bench.run_path."""
        bpath = {"kcat-produce": "kcat-modern-produce"}.get(path, path)
        load = load1()
        m = self.bench.run_path(broker, bpath, topic, n, False)
        m["path"], m["load"], m["wall_rate"] = path, load, n / m["wall_s"]
        if path == "java-consume":
            # fetch.nMsg.sec: without the group join, as braid's events_per_sec
            # (first event fetched to last processed).
            lines = [l for l in open(os.path.join(self.work, "client.out")).read().splitlines()
                     if l.count(",") >= 5]
            head = [h.strip() for h in lines[0].split(",")]
            row = dict(zip(head, (v.strip() for v in lines[-1].split(","))))
            m["rate_with_join"] = m["rate"]
            m["rate"] = float(row.get("fetch.nMsg.sec", m["rate"]))
        return m

    def run_path(self, broker, path, topic, n, measured):
        if path.startswith(("braid", "modern", "legacy")):
            m = self.run_braid(broker, path, topic, n, measured)
        else:
            m = self.run_other(broker, path, topic, n)
        if measured:
            bvk.log(f"  {broker.name:8} {path:15} {m['rate']:12,.0f} rec/s  wall {m['wall_rate']:12,.0f} rec/s "
                    f"({m['wall_s']:.2f} s)  broker {m['broker_cpu_s']:.2f} s  client {m['client_cpu_s']:.2f} s  "
                    f"load {m['load']:.1f}")
        return m

    # --- the parts ------------------------------------------------------

    def session(self, part, broker, paths, rnd):
        order = paths if rnd % 2 == 1 else self.reversed_pairs(paths)
        for tag, n in (("w", self.a.warmup), ("r", self.a.records)):
            if n == 0:
                continue
            topics = {}
            for path in order:
                if path.endswith("produce"):
                    topic = f"{path}-{tag}{rnd}"
                    self.bench.create(broker, topic)
                    topics[path] = topic
                else:
                    topic = topics[SOURCE[path]]
                m = self.run_path(broker, path, topic, n, tag == "r")
                if tag == "r":
                    m["part"], m["round"] = part, rnd
                    self.results.append(m)

    @staticmethod
    def reversed_pairs(paths):
        """Even rounds: the producers in reverse order, then the consumers in reverse."""
        prod = [p for p in paths if p.endswith("produce")][::-1]
        cons = [p for p in paths if p.endswith("consume")][::-1]
        return prod + cons

    def start(self, kind, version=K44):
        for attempt in range(1, 4):
            if kind == "embedded":
                broker = bvk.Embedded(self.work, self.a.braid)
            else:
                broker = bvk.Kafka(self.work, os.path.join(ROOT, "target", f"kafka-{version}"), version)
            try:
                broker.start()
                return broker
            except BaseException as e:
                broker.stop()
                if isinstance(e, bvk.Failed) and broker.port_clash and attempt < 3:
                    bvk.log(f"{kind}: a port was taken, starting again")
                    continue
                raise

    def run_part(self, part):
        kind, paths = ("kafka", KAFKA_PATHS) if part == "kafka" else ("embedded", EMBEDDED_PATHS)
        for rnd in range(1, self.a.rounds + 1):
            broker = self.start(kind)
            try:
                bvk.log(f"{part} round {rnd}: {broker.name} on {broker.addr} (pid {broker.pid}), load {loadavg()}")
                self.session(part, broker, paths, rnd)
            except bvk.Failed:
                bvk.log(broker.out_tail())
                raise
            finally:
                broker.stop()

    def run_takeover(self):
        for rnd in range(1, self.a.takeover_rounds + 1):
            versions = (K44, K39) if rnd % 2 == 1 else (K39, K44)
            for version in versions:
                broker = self.start("kafka", version)
                try:
                    topic = f"failover-{rnd}"
                    cmd = ff.takeover_cmd(self.a.braid, broker.addr, 6000, topic)
                    load = load1()
                    t0 = time.monotonic()
                    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                         timeout=300, preexec_fn=bvk.die_with_parent)
                    wall = time.monotonic() - t0
                    if out.returncode != 0:
                        raise bvk.Failed(f"failover demo on Kafka {version}: exit {out.returncode}\n"
                                         f"{out.stderr[-2000:]}{out.stdout[-3000:]}")
                    s = ff.takeover_seconds(out.stdout)
                    bvk.log(f"takeover round {rnd}: Kafka {version} {s:.1f} s after the kill "
                            f"(demo {wall:.1f} s), load {load:.1f}")
                    self.takeovers.append({"round": rnd, "version": version, "seconds": s,
                                           "load": load, "demo_wall_s": wall})
                except bvk.Failed:
                    bvk.log(broker.out_tail())
                    raise
                finally:
                    broker.stop()

    # --- the report -----------------------------------------------------

    def report(self, load_before, load_after):
        def stats(xs, fmt):
            if not xs:
                return "n/a", None
            med = statistics.median(xs)
            return f"{fmt(min(xs))} / {fmt(med)} / {fmt(max(xs))}", med

        rate = lambda x: f"{x:,.0f}"
        sec = lambda x: f"{x:.2f}"
        ld = lambda x: f"{x:.1f}"
        med = {}
        print("\n$ " + " ".join(["python3"] + sys.argv))
        print(f"\nload average {load_before} before, {load_after} after; {os.cpu_count()} cores")
        if self.results:
            print(f"\n{self.a.records:,} records of 100 B, 6 partitions, {self.a.rounds} round(s) alternating the "
              f"contenders, one broker at a time; min / median / max\n")
        for part, title in (("kafka", f"Apache Kafka {K44}, one node"), ("embedded", "braid broker (embedded)")):
            rows = [m for m in self.results if m["part"] == part]
            if not rows:
                continue
            print(f"{title}\n")
            print("| path | records/s (tool's own) | records/s (wall, process start to exit) "
                  "| broker CPU s | client CPU s | load (1 min) |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for path in (KAFKA_PATHS if part == "kafka" else EMBEDDED_PATHS):
                xs = [m for m in rows if m["path"] == path]
                cells = []
                for key, fmt in (("rate", rate), ("wall_rate", rate), ("broker_cpu_s", sec),
                                 ("client_cpu_s", sec), ("load", ld)):
                    s, md = stats([m[key] for m in xs], fmt)
                    cells.append(s)
                    med[(part, path, key)] = md
                print(f"| {path} | " + " | ".join(cells) + " |")
                if path == "java-consume" and xs:
                    s, md = stats([m.get("rate_with_join", m["rate"]) for m in xs], rate)
                    med[(part, "java-consume-join", "rate")] = md
                    print(f"| java-consume, nMsg.sec (with its group join) | {s} | | | | |")
            print()
        if self.takeovers:
            print(f"kill to takeover, braid demo --scenario failover --session-timeout 6000 (--subscribe), "
                  f"{self.a.takeover_rounds} round(s) alternating the versions\n")
            print("| Kafka | takeover s | load (1 min) |")
            print("| --- | ---: | ---: |")
            for v in (K44, K39):
                xs = [t for t in self.takeovers if t["version"] == v]
                s, md = stats([t["seconds"] for t in xs], sec)
                med[("takeover", v)] = md
                print(f"| {v} | {s} | {stats([t['load'] for t in xs], ld)[0]} |")
            print()

        def ratio(a, b):
            return a / b if a is not None and b else None

        goals = []
        for part, a, b, want in (
            ("kafka", "braid-produce", "java-produce", 3.0),
            ("kafka", "braid-consume", "java-consume", 3.0),
            ("kafka", "braid-consume", "java-consume-join", 3.0),
            ("embedded", "modern-produce", "legacy-produce", 1.0),
            ("embedded", "modern-consume", "legacy-consume", 1.0),
            ("embedded", "legacy-produce", "kcat-produce", 2.0),
            ("embedded", "modern-produce", "kcat-produce", 2.0),
        ):
            r = [ratio(med.get((part, a, k)), med.get((part, b, k))) for k in ("rate", "wall_rate")]
            if r[0] is None:
                continue
            rs = [x for x in r if x is not None]
            ok = "met" if min(rs) >= want else ("met on one rate only" if max(rs) >= want else "missed")
            wall = f"{r[1]:.2f}" if r[1] is not None else ""
            bname = "java-consume, nMsg.sec" if b == "java-consume-join" else b
            goals.append(f"| {part}: {a} / {bname} | {r[0]:.2f} | {wall} | ≥ {want:g} | {ok} |")
        r = ratio(med.get(("takeover", K44)), med.get(("takeover", K39)))
        if r is not None:
            goals.append(f"| takeover seconds: Kafka 4.4 / 3.9 (lower is faster) | {r:.2f} | | ≤ 1 | "
                         f"{'met' if r <= 1.0 else 'missed'} |")
        if goals:
            print("ratio of medians\n")
            print("| ratio | of the tool's own rates | of the wall rates | goal | |")
            print("| --- | ---: | ---: | ---: | --- |")
            print("\n".join(goals))
            if any(m["part"] == "embedded" for m in self.results):
                print("\n(legacy-produce is braid's default on the embedded broker: --protocol auto picks the "
                      "`kafka` crate there)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of: " + ", ".join(PARTS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--takeover-rounds", type=int, help="rounds of the takeover part (default --rounds)")
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--warmup", type=int, default=100_000, help="untimed records per contender and round (0: none)")
    ap.add_argument("--braid", default=os.path.join(ROOT, "target", "release", "braid"))
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--from-json", help="print the report of an earlier run's --json file, run nothing")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        figs = Figures.__new__(Figures)
        figs.a = argparse.Namespace(**saved["args"])
        figs.results, figs.takeovers = saved["results"], saved["takeovers"]
        figs.report(saved.get("load_before", "?"), saved.get("load_after", "?"))
        return
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if any(p not in PARTS for p in args.parts):
        ap.error(f"--parts: of {', '.join(PARTS)}")
    if args.takeover_rounds is None:
        args.takeover_rounds = args.rounds
    for v in (K44, K39):
        if not os.path.isdir(os.path.join(ROOT, "target", f"kafka-{v}")):
            ap.error(f"no target/kafka-{v} (tests/kafka/fetch.sh)")
    for tool in (args.braid, "kcat", "java"):
        if not shutil.which(tool):
            ap.error(f"{tool} not found")

    work, janitor = bvk.interruptible_work_dir("braid-protocol-figures-")
    figs = None
    before = after = loadavg()
    try:
        bvk.log(f"protocol_figures: {args.records:,} records, {args.rounds} round(s), warm-up {args.warmup:,}, "
                f"parts {','.join(args.parts)}, braid {args.braid}, load {before}")
        figs = Figures(args, work)
        for part in args.parts:
            if part == "takeover":
                figs.run_takeover()
            else:
                figs.run_part(part)
        after = loadavg()
        figs.report(before, after)
    except bvk.Failed as e:
        bvk.log(f"protocol_figures: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        bvk.log("protocol_figures: interrupted")
        sys.exit(130)
    finally:
        if figs is not None and args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": figs.results, "takeovers": figs.takeovers,
                           "load_before": before, "load_after": after}, f, indent=1)
        shutil.rmtree(work, ignore_errors=True)
        janitor.stdin.close()
        janitor.wait()


if __name__ == "__main__":
    main()
