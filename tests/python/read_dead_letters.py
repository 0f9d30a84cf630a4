"""Reads a dead-letter topic with kafka-python, for tests/consume_dependencies.rs:
an independent reader of what `braid consume --on-invalid dead-letter` wrote.

Usage: read_dead_letters.py ADDR TOPIC COUNT

Assigns partition 0 of TOPIC from the beginning and polls until COUNT records
have come (or 30 s pass), then prints one JSON line per record:
  {"offset": O, "key_base64": "...", "value": <the record's value parsed as JSON>}
"""

import base64
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    addr, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    consumer = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = []
    deadline = time.time() + 30
    while len(records) < count and time.time() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    for r in records:
        print(
            json.dumps(
                {
                    "offset": r.offset,
                    "key_base64": base64.b64encode(r.key or b"").decode(),
                    "value": json.loads(r.value),
                }
            ),
            flush=True,
        )
    consumer.close()


if __name__ == "__main__":
    main()
