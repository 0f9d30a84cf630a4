#!/usr/bin/env python3
"""The embedded broker against a single-node Apache Kafka (issue 18, "Figures"):
broker CPU per record and throughput, produce and consume, modern and legacy
protocol, with kcat and with Kafka's own ProducerPerformance and
ConsumerPerformance.

Paths (--paths, comma-separated; all by default), N records of 100 bytes
each, every one on a 6-partition topic created fresh (`braid topic create`;
on Kafka 4.x, which braid refuses, a CreateTopics v2 request from here):

  kcat-modern-produce   kcat -P -l FILE (librdkafka's defaults: acks=all)
  kcat-modern-consume   kcat -C -e -o beginning -q of that topic
  kcat-legacy-produce   the same with -X api.version.request=false
  kcat-legacy-consume     -X broker.version.fallback=0.9.0.1 (Produce v1,
                        Fetch v1, magic 0/1 message sets); Kafka 4.x removed
                        these versions: "n/a" there
  java-produce          ProducerPerformance on its defaults (idempotent,
                        acks=all), --throughput -1
  java-consume          ConsumerPerformance (a group) of that topic

A consume path reads the topic its produce path wrote; when the produce path
is not selected it is still run, untimed, to fill the topic.

Rounds alternate the brokers (embedded, then Kafka) and only one broker runs
at a time: each round starts the broker on an empty temporary directory,
runs a small untimed warm-up of the same paths (--warmup records, so that
Kafka's JIT, its __consumer_offsets topic and the page cache are not charged
to the first measured path; Kafka runs with its default JIT), then every
path once, then stops it.

Figures per path and broker, min / median / max over the rounds, and the
ratio of the medians (embedded / Kafka):
  - broker CPU per record: utime+stime of the broker process (all threads,
    /proc/PID/stat) after minus before the client run, over N;
  - throughput: N / wall-clock time of the client run for kcat (so kcat
    consume includes its wait for end of partition, about 0.5 s: librdkafka's
    fetch.wait.max.ms); the tool's own records/s for ProducerPerformance (its
    summary line) and ConsumerPerformance (nMsg.sec: from before the group
    join to the last record, no JVM start-up);
  - cores busy: machine-wide busy CPU (/proc/stat) over the client run's wall
    time, out of os.cpu_count(); and idle s: the time during the client run
    when the whole machine was under 0.25 cores busy (100 ms samples). A
    client waiting on a broker with the CPU idle (a stall) shows there.

Kafka is started as tests/common/kafka_cluster.rs starts a single node:
KRaft combined broker+controller on random free ports of 127.0.0.1, static
controller.quorum.voters, `kafka.tools.StorageTool format` then
`kafka.Kafka server.properties`, -Xmx512m, thread counts for 2 cores. Each
broker runs under a small `sh` wrapper holding a pipe from this script:
whenever the script ends (normally, on an error, Ctrl+C or even SIGKILL) the
pipe closes, the wrapper kills the broker with SIGKILL and removes its
directory; clients get SIGKILL with the script (PR_SET_PDEATHSIG) and a
third such wrapper removes the work directory (the records file).

Run by hand (nothing here is asserted by `cargo test`):
  cargo build --release
  python3 benches/broker_vs_kafka.py                       # 5 rounds, 2,000,000 records, Kafka 3.9.1
  python3 benches/broker_vs_kafka.py --rounds 1 --records 20000     # smoke run
  python3 benches/broker_vs_kafka.py --kafka-version 4.4.0 --kafka-jars DIR
Options: --rounds (5), --records (2000000), --warmup (100000), --kafka-version
(3.9.1), --kafka-jars (default target/kafka-VERSION, as tests/kafka/fetch.sh
puts them; another version: tests/kafka/pom.xml's kafka4 profile with the
version and output directory changed), --paths, --braid
(target/release/braid), --json FILE (every measurement).
Needs: java, kcat, the Kafka jars (broker, kafka-tools, clients).
"""

import argparse
import ctypes
import glob
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = [
    "kcat-modern-produce",
    "kcat-modern-consume",
    "kcat-legacy-produce",
    "kcat-legacy-consume",
    "java-produce",
    "java-consume",
]
SIZE = 100
PARTITIONS = 6
HZ = os.sysconf("SC_CLK_TCK")
LEGACY = ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0.1"]

# The wrapper of tests/common/kafka_cluster.rs: $1 is the broker's directory,
# the rest its command line; prints the broker's pid, then waits on stdin: end
# of input kills the broker and removes the directory.
WRAPPER = r"""trap '' INT HUP
dir="$1"; shift
"$@" >>"$dir/out.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
IFS= read -r cmd || cmd=
kill -9 "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"""

LOG4J = """log4j.rootLogger={level}, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={file}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""

LOG4J2 = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
"""


class Failed(Exception):
    pass


def die_with_parent():
    """preexec_fn of the clients: SIGKILL when this script ends, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_ports(n):
    """n distinct free ports below the kernel's ephemeral range (as kafka_plan.rs)."""
    ports = []
    while len(ports) < n:
        port = random.randint(20000, 31999)
        if port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def kafka_call(addr, api_key, version, body, timeout=10):
    """One request (header v1) to addr; the response body after its correlation id."""
    host, port = addr.rsplit(":", 1)
    client = b"broker-vs-kafka"
    req = struct.pack(">hhih", api_key, version, 1, len(client)) + client + body
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            buf += chunk
    return buf[8:]


def api_versions_ok(addr):
    """Whether addr answers ApiVersions v0 without error (the broker serves requests)."""
    try:
        return struct.unpack(">h", kafka_call(addr, 18, 0, b"", timeout=2)[:2])[0] == 0
    except OSError:
        return False


def create_topic_wire(addr, topic, partitions):
    """CreateTopics v2 (served by Kafka 0.11 to 4.x): the error code, 0 or 36 (exists) meaning done."""
    name = topic.encode()
    body = struct.pack(">ih", 1, len(name)) + name + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">i?", 30000, False)
    resp = kafka_call(addr, 19, 2, body, timeout=40)
    (count,) = struct.unpack(">i", resp[4:8])
    (nlen,) = struct.unpack(">h", resp[8:10])
    (error,) = struct.unpack(">h", resp[10 + nlen:12 + nlen])
    return error


def proc_cpu(pid):
    """utime + stime of process pid (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_client(cmd, out, err, timeout):
    """Runs a client with its stdout and stderr to the files out and err;
    returns its exit code, or "timeout" (it is killed then, and on any error
    or interrupt here, before that goes on)."""
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                preexec_fn=die_with_parent)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "timeout"
        except BaseException:
            proc.kill()
            proc.wait()
            raise


def machine_ticks():
    """(busy, total) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    total = sum(v[:8])  # guest time is already in user
    return total - idle, total


class Sampler(threading.Thread):
    """Machine-wide busy cores every 100 ms while a client runs: the time under
    0.25 cores busy (the machine idle: a stall) and the busy cores overall."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_ev = threading.Event()
        self.idle_s = 0.0
        self.t0 = time.monotonic()
        self.b0, _ = machine_ticks()

    def run(self):
        last_t, (last_b, _) = time.monotonic(), machine_ticks()
        while not self.stop_ev.wait(0.1):
            t, (b, _) = time.monotonic(), machine_ticks()
            dt = t - last_t
            if dt > 0 and (b - last_b) / HZ / dt < 0.25:
                self.idle_s += dt
            last_t, last_b = t, b

    def finish(self):
        self.stop_ev.set()
        self.join()
        wall = time.monotonic() - self.t0
        b1, _ = machine_ticks()
        return (b1 - self.b0) / HZ / wall if wall > 0 else 0.0


class Broker:
    """A broker process under the wrapper, in its own temporary directory."""

    name = "?"

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix=f"{self.name}-", dir=work)
        self.wrapper = None
        self.pid = None
        self.port_clash = False
        self.addr = None

    def spawn(self, cmd):
        self.wrapper = subprocess.Popen(
            ["sh", "-c", WRAPPER, "sh", self.dir] + cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.pid = int(self.wrapper.stdout.readline())

    def out_tail(self, n=20):
        text = ""
        for name in ("out.log", "server.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f"--- {name} ---\n" + "".join(f.readlines()[-n:])
            except OSError:
                pass
        return text

    def stop(self):
        if self.wrapper is not None:
            try:
                self.wrapper.stdin.close()
            except OSError:
                pass
            self.wrapper.wait()
            self.wrapper = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Embedded(Broker):
    name = "embedded"

    def __init__(self, work, braid):
        super().__init__(work)
        self.braid = braid

    def start(self):
        braid = self.braid
        self.spawn([braid, "broker", "--listen", "127.0.0.1:0", "--data", os.path.join(self.dir, "data")])
        out = os.path.join(self.dir, "out.log")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with open(out) as f:
                    for line in f:
                        if line.startswith("listening on "):
                            self.addr = line.split()[-1]
                            return
            except OSError:
                pass
            if not alive(self.pid):
                break
            time.sleep(0.05)
        raise Failed(f"the embedded broker did not start:\n{self.out_tail()}")


class Kafka(Broker):
    name = "kafka"

    def __init__(self, work, jars, version):
        super().__init__(work)
        self.jars, self.version = jars, version

    def start(self):
        jars, version = self.jars, self.version
        port, ctl = free_ports(2)
        props = {
            "process.roles": "broker,controller",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "num.replica.fetchers": "1",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": "16777216",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.quorum.voters": f"1@127.0.0.1:{ctl}",
            "log.dirs": os.path.join(self.dir, "data"),
        }
        conf = os.path.join(self.dir, "server.properties")
        with open(conf, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in sorted(props.items())))
        java = java_cmd(jars, version, self.dir, "INFO", os.path.join(self.dir, "server.log"))
        fmt = subprocess.run(
            java + ["kafka.tools.StorageTool", "format", "-t", "braidBenchSingleNode0w", "-c", conf],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )
        if fmt.returncode != 0:
            raise Failed(f"StorageTool format failed:\n{fmt.stdout}{fmt.stderr}")
        self.spawn(java + ["kafka.Kafka", conf])
        self.addr = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not alive(self.pid):
                break
            if api_versions_ok(self.addr):
                return
            time.sleep(0.3)
        self.port_clash = "Address already in use" in self.out_tail(100000)
        raise Failed(f"Kafka did not start:\n{self.out_tail()}")


def java_cmd(jars, version, logdir, level, logfile):
    """java with Kafka's jars on the class path and its logging to logfile."""
    major = int(version.split(".")[0])
    conf = os.path.join(logdir, f"log4j-{level}.properties")
    with open(conf, "w") as f:
        f.write((LOG4J if major < 4 else LOG4J2).format(level=level, file=logfile))
    prop = "log4j.configuration" if major < 4 else "log4j2.configurationFile"
    return [
        "java", "-Xmx512m", "-Xms128m", "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={logdir}", f"-D{prop}=file:{conf}" if major < 4 else f"-D{prop}={conf}",
        "-cp", os.path.join(jars, "*"),
    ]


class Bench:
    def __init__(self, args, work):
        self.a = args
        self.work = work
        self.major = int(args.kafka_version.split(".")[0])
        self.files = {}
        for n in {args.records, args.warmup} - {0}:
            path = os.path.join(work, f"records-{n}")
            pad = "x" * (SIZE - 8)
            with open(path, "w") as f:
                for i in range(0, n, 100000):
                    f.write("".join(f"{j:07d} {pad}\n" for j in range(i, min(n, i + 100000))))
            self.files[n] = path
        self.client_java = java_cmd(args.kafka_jars, args.kafka_version, work, "WARN",
                                    os.path.join(work, "clients.log"))
        self.results = []  # dicts: round, broker, path, cpu_us, rate, ...

    def applies(self, broker, path):
        return not (broker == "kafka" and self.major >= 4 and "legacy" in path)

    def client(self, broker, path, topic, n, out):
        """The command line of path on topic with n records (its stdout to out)."""
        addr = broker.addr
        if path.startswith("kcat"):
            mode = LEGACY if "legacy" in path else []
            if path.endswith("produce"):
                return ["kcat", "-P", "-b", addr, "-t", topic, "-l", self.files[n]] + mode
            return ["kcat", "-C", "-b", addr, "-t", topic, "-e", "-o", "beginning", "-q", "-f", "\\n"] + mode
        if path == "java-produce":
            return self.client_java + [
                "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                "--num-records", str(n), "--record-size", str(SIZE), "--throughput", "-1",
                "--producer-props", f"bootstrap.servers={addr}",
            ]
        return self.client_java + [
            "org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", addr,
            "--topic", topic, "--messages", str(n), "--group", f"perf-{topic}", "--timeout", "60000",
        ]

    def create(self, broker, topic):
        """`braid topic create`; on Kafka 4.x, which braid refuses at once (it
        removed the old versions braid's `kafka` crate speaks), CreateTopics v2
        from here."""
        if broker.name == "kafka" and self.major >= 4:
            for _ in range(50):
                error = create_topic_wire(broker.addr, topic, PARTITIONS)
                if error in (0, 36):
                    return
                time.sleep(0.2)
            raise Failed(f"CreateTopics {topic} on {broker.name}: error {error}")
        out = subprocess.run(
            [self.a.braid, "topic", "create", topic, "--partitions", str(PARTITIONS), "-b", broker.addr],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise Failed(f"topic create {topic} on {broker.name}: {out.stderr}{out.stdout}")

    def run_path(self, broker, path, topic, n, measured):
        """Runs path once; returns the measurement (or raises Failed)."""
        out = os.path.join(self.work, "client.out")
        err = os.path.join(self.work, "client.err")
        cmd = self.client(broker, path, topic, n, out)
        timeout = 120 + n / 5000
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler = Sampler()
        c0 = proc_cpu(broker.pid)
        t0 = time.monotonic()
        sampler.start()
        rc = run_client(cmd, out, err, timeout)
        wall = time.monotonic() - t0
        c1 = proc_cpu(broker.pid)
        busy = sampler.finish()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        with open(out, errors="replace") as f:
            stdout = f.read()
        with open(err, errors="replace") as f:
            stderr = f.read()
        what = f"{path} on {broker.name} ({topic}, {n} records)"
        if rc != 0:
            raise Failed(f"{what}: exit {rc}\n{stderr[-2000:]}{stdout[-1000:]}")
        rate = n / wall
        if path.startswith("kcat"):
            if path.endswith("consume") and stdout.count("\n") != n:
                raise Failed(f"{what}: read {stdout.count(chr(10))} of {n}\n{stderr[-2000:]}")
            if path.endswith("produce") and re.search(r"(?i)fail|error", stderr):
                raise Failed(f"{what}: {stderr[-2000:]}")
        elif path == "java-produce":
            m = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", stdout)
            if not m or int(m[-1][0]) != n:
                raise Failed(f"{what}: no summary of {n} records\n{stdout[-2000:]}{stderr[-2000:]}")
            rate = float(m[-1][1])
        else:
            lines = [l for l in stdout.splitlines() if l.count(",") >= 5]
            head = [h.strip() for h in lines[0].split(",")] if len(lines) >= 2 else []
            if "nMsg.sec" not in head:
                raise Failed(f"{what}: no ConsumerPerformance figures\n{stdout[-2000:]}{stderr[-2000:]}")
            row = dict(zip(head, (v.strip() for v in lines[-1].split(","))))
            if int(row["data.consumed.in.nMsg"]) != n:
                raise Failed(f"{what}: read {row['data.consumed.in.nMsg']} of {n}")
            rate = float(row["nMsg.sec"])
        m = {
            "broker": broker.name, "path": path, "topic": topic, "records": n,
            "broker_cpu_s": c1 - c0, "cpu_us": (c1 - c0) / n * 1e6, "rate": rate,
            "wall_s": wall, "client_cpu_s": client_cpu, "cores_busy": busy,
            "idle_s": sampler.idle_s,
        }
        if measured:
            log(f"  {broker.name:8} {path:20} {rate:12,.0f} rec/s  broker {m['cpu_us']:.3f} us/rec "
                f"({c1 - c0:.2f} s)  client {client_cpu:.2f} s  wall {wall:.2f} s  "
                f"busy {busy:.2f} cores  idle {sampler.idle_s:.1f} s")
        return m

    def paths_to_run(self, broker):
        """(path, measured) in order: a consume path needs its produce path before it."""
        out = []
        for p in PATHS:
            if not self.applies(broker.name, p):
                continue
            if p in self.a.paths:
                out.append((p, True))
            elif p.endswith("produce") and p.replace("produce", "consume") in self.a.paths:
                out.append((p, False))
        return out

    def session(self, broker, rnd):
        """Warm-up then every path once on broker."""
        todo = self.paths_to_run(broker)
        for tag, n in (("w", self.a.warmup), ("r", self.a.records)):
            if n == 0:
                continue
            for path, measured in todo:
                topic = f"{path.rsplit('-', 1)[0]}-{tag}{rnd}"
                if path.endswith("produce"):
                    self.create(broker, topic)
                m = self.run_path(broker, path, topic, n, measured and tag == "r")
                if measured and tag == "r":
                    m["round"] = rnd
                    self.results.append(m)

    def run(self):
        for rnd in range(1, self.a.rounds + 1):
            for kind in ("embedded", "kafka"):
                broker = self.start(kind)
                try:
                    log(f"round {rnd}: {kind} on {broker.addr} (pid {broker.pid})")
                    self.session(broker, rnd)
                except Failed:
                    log(broker.out_tail())
                    raise
                finally:
                    broker.stop()

    def start(self, kind):
        """A running broker of kind; Kafka is started again on new ports when
        another process took one of its ports between pick and bind."""
        for attempt in range(1, 4):
            if kind == "embedded":
                broker = Embedded(self.work, self.a.braid)
            else:
                broker = Kafka(self.work, self.a.kafka_jars, self.a.kafka_version)
            try:
                broker.start()
                return broker
            except BaseException as e:
                broker.stop()
                if isinstance(e, Failed) and getattr(broker, "port_clash", False) and attempt < 3:
                    log(f"{kind}: a port was taken, starting again")
                    continue
                raise

    def report(self):
        def stats(xs, fmt):
            if not xs:
                return "n/a", None
            med = statistics.median(xs)
            return f"{fmt(min(xs))} / {fmt(med)} / {fmt(max(xs))}", med

        def ratio(a, b):
            return f"{a / b:.2f}" if a is not None and b else "n/a"

        us = lambda x: f"{x:.3f}"
        rate = lambda x: f"{x:,.0f}"
        num = lambda x: f"{x:.2f}"
        kv = f"Kafka {self.a.kafka_version}"
        print("\n$ " + " ".join(["python3"] + sys.argv))
        print(f"\n{self.a.records:,} records of {SIZE} B, {PARTITIONS} partitions, {self.a.rounds} "
              f"round(s) alternating embedded / {kv}, one broker at a time; "
              f"{os.cpu_count()} cores; min / median / max, ratio = embedded median / Kafka median\n")
        print(f"| path | figure | embedded | {kv} | ratio |")
        print("| --- | --- | ---: | ---: | ---: |")
        for path in PATHS:
            if path not in self.a.paths:
                continue
            for label, key, fmt, show_ratio in (
                ("broker CPU µs/record", "cpu_us", us, True),
                ("records/s", "rate", rate, True),
                ("cores busy", "cores_busy", num, False),
                ("idle s (< 0.25 cores)", "idle_s", num, False),
                ("client CPU s", "client_cpu_s", num, False),
            ):
                cells, meds = [], []
                for b in ("embedded", "kafka"):
                    xs = [m[key] for m in self.results if m["broker"] == b and m["path"] == path]
                    s, med = stats(xs, fmt)
                    cells.append(s)
                    meds.append(med)
                r = ratio(*meds) if show_ratio else ""
                print(f"| {path} | {label} | {cells[0]} | {cells[1]} | {r} |")


def interruptible_work_dir(prefix):
    """A temporary work directory and its janitor, with SIGINT (even where it
    was ignored, as in a background job), SIGTERM and SIGHUP turned into
    KeyboardInterrupt so that the caller's cleanup runs. The janitor removes
    the directory when this script ends in any way (its stdin pipe closes)."""
    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    work = tempfile.mkdtemp(prefix=prefix)
    janitor = subprocess.Popen(["sh", "-c", 'trap "" INT HUP; read -r x; rm -rf "$1"', "sh", work],
                               stdin=subprocess.PIPE)
    return work, janitor


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--warmup", type=int, default=100_000, help="untimed records per path and round (0: none)")
    ap.add_argument("--kafka-version", default="3.9.1")
    ap.add_argument("--kafka-jars", help="directory of Kafka's jars (default target/kafka-VERSION)")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated, of: " + ", ".join(PATHS))
    ap.add_argument("--braid", default=os.path.join(ROOT, "target", "release", "braid"))
    ap.add_argument("--json", help="write every measurement to this file")
    args = ap.parse_args()
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    bad = [p for p in args.paths if p not in PATHS]
    if bad:
        ap.error(f"unknown path(s) {', '.join(bad)}; known: {', '.join(PATHS)}")
    args.kafka_jars = args.kafka_jars or os.path.join(ROOT, "target", f"kafka-{args.kafka_version}")
    if not glob.glob(os.path.join(args.kafka_jars, "kafka_2.13-*.jar")) or not glob.glob(
        os.path.join(args.kafka_jars, "kafka-tools-*.jar")
    ):
        ap.error(f"no Kafka broker and tools jars in {args.kafka_jars}")
    for tool in (args.braid, "kcat", "java"):
        if not shutil.which(tool):
            ap.error(f"{tool} not found")

    work, janitor = interruptible_work_dir("braid-vs-kafka-")
    bench = None
    try:
        bench = Bench(args, work)
        log(f"kafka {args.kafka_version} ({args.kafka_jars}), {args.records:,} records, "
            f"{args.rounds} round(s), warm-up {args.warmup:,}, load {open('/proc/loadavg').read().strip()}")
        bench.run()
        log(f"load after: {open('/proc/loadavg').read().strip()}")
        bench.report()
    except Failed as e:
        log(f"broker_vs_kafka: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("broker_vs_kafka: interrupted")
        sys.exit(130)
    finally:
        if bench is not None and args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": bench.results}, f, indent=1)
        shutil.rmtree(work, ignore_errors=True)
        janitor.stdin.close()
        janitor.wait()


if __name__ == "__main__":
    main()
