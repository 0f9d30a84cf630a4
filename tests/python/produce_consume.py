"""kafka-python against a broker (the embedded one or Kafka 3.9).

Usage: produce_consume.py ADDR TOPIC [MESSAGES [COMPRESSION]]

Produces MESSAGES (default 3000) keyed messages with acks=1 (compressed
with COMPRESSION, e.g. gzip, if given), each pinned to
partition i % 6, and checks the offsets the broker acknowledged; reads them
back with a KafkaConsumer using assign() (no group membership), checking
order, offsets and payloads; commits, reads the commit back with committed(),
commits an explicit offset, and checks that a second consumer of the group
resumes there. Prints one "ok: ..." line per step; exits 1 with a message on
the first failure.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

PARTITIONS = 6


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    addr, topic = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    compression = sys.argv[4] if len(sys.argv) > 4 else None
    group = f"{topic}-group"
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    producer = KafkaProducer(
        bootstrap_servers=addr,
        acks=1,
        linger_ms=5,
        compression_type=compression,
        request_timeout_ms=15000,
        max_block_ms=20000,
    )
    futures = []
    for i in range(n):
        futures.append(
            producer.send(
                topic,
                key=f"k{i}".encode(),
                value=f"python-{i}".encode(),
                partition=i % PARTITIONS,
            )
        )
    producer.flush(timeout=30)
    acked = {}
    for i, fut in enumerate(futures):
        md = fut.get(timeout=30)
        p = i % PARTITIONS
        check(md.partition == p, f"message {i} went to partition {md.partition}, not {p}")
        want = acked.get(p, 0)
        check(md.offset == want, f"message {i}: acked offset {md.offset}, expected {want}")
        acked[p] = want + 1
    producer.close(timeout=10)
    print(f"ok: produced {n} messages with acks=1: {sorted(acked.items())}", flush=True)

    consumer = KafkaConsumer(
        bootstrap_servers=addr,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15000,
    )
    consumer.assign(tps)
    got = {p: [] for p in range(PARTITIONS)}
    total = 0
    deadline = time.monotonic() + 60
    while total < n and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            for r in records:
                got[tp.partition].append((r.offset, r.key, r.value))
                total += 1
    check(total == n, f"consumed {total} of {n} messages")
    for p in range(PARTITIONS):
        want = [
            (j, f"k{i}".encode(), f"python-{i}".encode())
            for j, i in enumerate(range(p, n, PARTITIONS))
        ]
        check(got[p] == want, f"partition {p}: consumed records differ from those produced")
    print(f"ok: consumed {total} messages in order with assign()", flush=True)

    end = consumer.end_offsets(tps)
    check(
        all(end[tp] == acked[tp.partition] for tp in tps),
        f"end_offsets {end} differ from acked counts {acked}",
    )
    begin = consumer.beginning_offsets(tps)
    check(all(begin[tp] == 0 for tp in tps), f"beginning_offsets {begin}")
    print("ok: beginning_offsets / end_offsets", flush=True)

    consumer.commit()
    for tp in tps:
        c = consumer.committed(tp)
        check(c == acked[tp.partition], f"committed({tp}) = {c}, expected {acked[tp.partition]}")
    print("ok: commit() then committed() returns the consumed positions", flush=True)

    explicit = {tp: OffsetAndMetadata(tp.partition + 1, "", -1) for tp in tps}
    consumer.commit(offsets=explicit)
    for tp in tps:
        c = consumer.committed(tp)
        check(c == tp.partition + 1, f"committed({tp}) = {c} after explicit commit")
    consumer.close()
    print("ok: explicit commit read back", flush=True)

    resumed = KafkaConsumer(
        bootstrap_servers=addr,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15000,
    )
    resumed.assign(tps)
    for tp in tps:
        pos = resumed.position(tp)
        check(pos == tp.partition + 1, f"resumed position({tp}) = {pos}")
    first = {}
    deadline = time.monotonic() + 30
    while len(first) < PARTITIONS and time.monotonic() < deadline:
        for tp, records in resumed.poll(timeout_ms=200).items():
            if records and tp.partition not in first:
                first[tp.partition] = records[0].offset
    resumed.close()
    check(
        first == {p: p + 1 for p in range(PARTITIONS)},
        f"resumed consumer's first offsets {first}",
    )
    print("ok: a second consumer of the group resumes at the committed offsets", flush=True)


if __name__ == "__main__":
    main()
