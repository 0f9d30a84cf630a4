"""One kafka-python consumer-group member, for tests/broker_group_peers.rs.

Usage: group_member.py ADDR TOPIC GROUP

Subscribes a KafkaConsumer(group_id=GROUP) to TOPIC (auto commit on, from
the earliest offset where the group has no commit) and polls until SIGTERM,
then closes the consumer (which commits and leaves the group). Prints, one
line each and flushed:
  assigned P,P,...   whenever its assignment changes (possibly empty)
  record P O         for every record it consumes
  closed             after close()
"""

import logging
import signal
import sys
import time

from kafka import KafkaConsumer

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def main():
    addr, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
    signal.signal(signal.SIGTERM, on_term)
    # The client's own account of joins, syncs and heartbeats, on stderr: the
    # test prints it when the member misbehaves.
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)
    consumer = KafkaConsumer(
        bootstrap_servers=addr,
        group_id=group,
        client_id=f"py-{group}",
        enable_auto_commit=True,
        auto_offset_reset="earliest",
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
        request_timeout_ms=30000,
    )
    # Know the topic's partitions before joining: a leader that assigns
    # before its metadata has the topic assigns nothing, and kafka-python
    # 3.0.12 can then spin in poll() without rejoining (seen under load on a
    # coordinator with no initial rebalance delay).
    deadline = time.monotonic() + 30
    while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
        time.sleep(0.1)
    consumer.subscribe([topic])
    last = None
    while not stop:
        batches = consumer.poll(timeout_ms=100)
        assigned = sorted(tp.partition for tp in consumer.assignment())
        if assigned != last:
            print("assigned " + ",".join(map(str, assigned)), flush=True)
            last = assigned
        for tp, records in batches.items():
            for r in records:
                print(f"record {tp.partition} {r.offset}", flush=True)
    consumer.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main()
