"""A kafka-python consumer-group member, for the mixed-group tests.

Usage: group_member.py BOOTSTRAP TOPIC GROUP

Subscribes to TOPIC as a member of GROUP (the standard group protocol, range
assignor, session timeout 10 s, offsets committed after each poll) and prints
one JSON object per line on stdout:
  {"assigned": [partitions]}              after each rebalance
  {"partition": p, "offset": o, "value": "..."}   per record
It runs until its stdin is closed, then commits, leaves the group (close) and
prints {"closed": true}.
"""

import json
import select
import sys

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener


def emit(obj):
    print(json.dumps(obj), flush=True)


class Listener(ConsumerRebalanceListener):
    def __init__(self, consumer):
        self.consumer = consumer

    def on_partitions_revoked(self, revoked):
        pass  # every batch is committed right after it is printed

    def on_partitions_assigned(self, assigned):
        emit({"assigned": sorted(tp.partition for tp in assigned)})


def main():
    bootstrap, topic, group = sys.argv[1:4]
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        client_id="kafka-python-member",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )
    consumer.subscribe([topic], listener=Listener(consumer))
    while True:
        readable, _, _ = select.select([sys.stdin], [], [], 0)
        if readable and not sys.stdin.readline():
            break
        batch = consumer.poll(timeout_ms=200)
        for records in batch.values():
            for r in records:
                emit({"partition": r.partition, "offset": r.offset,
                      "value": r.value.decode("utf-8", "replace")})
        if batch:
            consumer.commit()
    consumer.commit()
    consumer.close()
    emit({"closed": True})


if __name__ == "__main__":
    main()
