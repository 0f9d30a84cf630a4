#!/usr/bin/env python3
"""How fast `braid broker` stops: SIGTERM to process gone, with clients attached.

For each scenario, RUNS times: start the built broker on port 0 with a fresh
data directory, attach the clients, wait a moment, send SIGTERM and time until
the process has exited (waitpid). Prints p50/p99/max per scenario.

Scenarios:
  idle        3 connections that sent one ApiVersions and now sit idle
  not-reading 1 idle connection, plus one that sends 200 fetches of ~900 KB
              each and never reads a response (the broker's writes block)
  long-fetch  1 connection waiting in a fetch with max_wait 30 s

Each scenario's data directory is a temporary one, removed when it ends (on
Ctrl+C and errors too); the broker gets it as TMPDIR as well, so nothing it
makes is left in /tmp (tests/newcomer_cli.rs checks both benches leave
nothing behind).

Run by hand:
  cargo build --release && python3 benches/stop_latency.py --runs 20
Options: --braid PATH (default target/release/braid), --runs N.
"""

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

TOPIC = b"stop"


def frame(api_key, version, correlation, body):
    client = b"stop-bench"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def topic_partition(partition_bytes):
    """A one-topic, one-partition array, as Produce v0 and Fetch v0 carry them."""
    return struct.pack(">ih", 1, len(TOPIC)) + TOPIC + struct.pack(">i", 1) + partition_bytes


def api_versions():
    return frame(18, 0, 1, b"")


def produce(values):
    """Produce v0 (acks=1) of magic-0 messages to partition 0."""
    messages = b""
    for v in values:
        body = struct.pack(">bbi", 0, 0, -1) + struct.pack(">i", len(v)) + v
        msg = struct.pack(">I", zlib.crc32(body)) + body
        messages += struct.pack(">qi", 0, len(msg)) + msg
    part = struct.pack(">ii", 0, len(messages)) + messages
    body = struct.pack(">hi", 1, 10_000) + topic_partition(part)
    return frame(0, 0, 2, body)


def fetch(correlation, max_wait_ms, offset):
    """Fetch v0 of partition 0 from `offset`, up to 1 MiB."""
    part = struct.pack(">iqi", 0, offset, 1 << 20)
    body = struct.pack(">iii", -1, max_wait_ms, 1) + topic_partition(part)
    return frame(1, 0, correlation, body)


def read_response(s):
    n = struct.unpack(">i", recv_exact(s, 4))[0]
    return recv_exact(s, n)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("broker closed the connection")
        buf += chunk
    return buf


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def idle_client(addr):
    s = connect(addr)
    s.sendall(api_versions())
    read_response(s)
    return s


def not_reading_client(addr):
    s = connect(addr)
    s.settimeout(0.5)
    sent = 0
    try:
        for i in range(200):
            s.sendall(fetch(100 + i, 0, 0))
            sent += 1
    except socket.timeout:
        pass  # the broker stopped reading: its writes to us are blocked
    return s


def start_broker(braid, data):
    proc = subprocess.Popen(
        [braid, "broker", "--listen", "127.0.0.1:0", "--data", data, "--topic", "stop:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, TMPDIR=data),
    )
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("listening on "):
        proc.kill()
        sys.exit(f"unexpected first line from the broker: {line!r}")
    return proc, line[len("listening on "):]


def fill_topic(addr, data):
    if os.path.exists(os.path.join(data, ".filled")):
        return
    s = connect(addr)
    s.sendall(produce([b"x" * 1000] * 900))
    read_response(s)
    s.close()
    open(os.path.join(data, ".filled"), "w").close()


def run_once(braid, data, scenario):
    proc, addr = start_broker(braid, data)
    clients = []
    try:
        fill_topic(addr, data)
        if scenario == "idle":
            clients = [idle_client(addr) for _ in range(3)]
        elif scenario == "not-reading":
            clients = [idle_client(addr), not_reading_client(addr)]
        elif scenario == "long-fetch":
            s = connect(addr)
            s.sendall(fetch(7, 30_000, 900))
            clients = [s]
        time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - start
        if code != 0:
            print(f"  {scenario}: broker exited with {code}", file=sys.stderr)
        return took
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def percentile(sorted_values, p):
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--braid", default="target/release/braid")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    print(f"SIGTERM -> broker process gone, {args.runs} runs each ({args.braid})")
    print(f"{'scenario':<12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for scenario in ["idle", "not-reading", "long-fetch"]:
        with tempfile.TemporaryDirectory(prefix="braid-stop-") as data:
            times = sorted(run_once(args.braid, data, scenario) for _ in range(args.runs))
        ms = [t * 1000 for t in times]
        print(
            f"{scenario:<12} {percentile(ms, 50):>8.0f} {percentile(ms, 99):>8.0f} {ms[-1]:>8.0f}"
        )


if __name__ == "__main__":
    main()
