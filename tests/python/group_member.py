"""One kafka-python consumer-group member, for tests/broker_group_peers.rs
and tests/consume_groups.rs.

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
        # Also the rebalance timeout, and with it how long a JoinGroup may
        # wait (this + 5 s): 300 s by default. A member that was dropped while
        # its join hung gives up on it and rejoins within a test's deadline.
        max_poll_interval_ms=20000,
    )
    # Subscribe, then refresh the metadata (topics() always asks the broker)
    # before the first poll() joins the group. kafka-python 3.0.12 records
    # the partitions it assigned as leader from a snapshot taken at metadata
    # updates; joined before one, it assigns from an empty snapshot, sees the
    # topic at the next update and rebalances again at once. Its rejoin was
    # seen to hang under load (no assignment, no heartbeat, dropped after the
    # session timeout). With the snapshot current it joins once. Knowing the
    # topic also keeps a leader from assigning nothing.
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while topic not in consumer.topics() and time.monotonic() < deadline:
        time.sleep(0.1)
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
