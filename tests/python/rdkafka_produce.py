"""librdkafka (confluent-kafka-python) producing to a broker, with one line
per delivery report, so that a test knows exactly which records were
acknowledged.

Usage: rdkafka_produce.py ADDR TOPIC N [OPTION=VALUE ...]

Record i has key "k{i}" and value "v{i}". Options:
  partitions=P    record i goes to partition i % P (default: 1)
  compression=C   none, gzip, snappy, lz4 or zstd (default: none)
  idempotence=B   enable.idempotence (default: true)
  acks=A          (default: all)
  timestamp=T     record i gets the CreateTime T + i (default: librdkafka's now)
  headers=B       record i carries the headers k=v and i={i} (default: false)
  rate=R          at most R records a second (default: 0, as fast as it goes)
  timeout=S       how long the final flush may take (default: 120)

Prints "ack PARTITION OFFSET VALUE" per acknowledged record and
"nack VALUE ERROR" per failed one, then "done acked=A failed=F unflushed=U".
Exits 0 when it got that far, whatever the counts.
"""

import sys
import time

from confluent_kafka import Producer


def flag(value):
    return value.lower() in ("1", "true", "yes")


def main():
    addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opts = dict(arg.split("=", 1) for arg in sys.argv[4:])
    partitions = int(opts.get("partitions", "1"))
    ts0 = int(opts["timestamp"]) if "timestamp" in opts else None
    headers = flag(opts.get("headers", "false"))
    rate = float(opts.get("rate", "0"))

    conf = {
        "bootstrap.servers": addr,
        "enable.idempotence": flag(opts.get("idempotence", "true")),
        "acks": opts.get("acks", "all"),
        "compression.type": opts.get("compression", "none"),
        "linger.ms": 5,
    }
    producer = Producer(conf)
    counts = {"acked": 0, "failed": 0}

    def report(err, msg):
        value = msg.value().decode()
        if err is not None:
            counts["failed"] += 1
            print(f"nack {value} {err}", flush=True)
        else:
            counts["acked"] += 1
            print(f"ack {msg.partition()} {msg.offset()} {value}", flush=True)

    start = time.monotonic()
    for i in range(n):
        if rate > 0:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                producer.poll(ahead)
        kwargs = {
            "key": f"k{i}".encode(),
            "value": f"v{i}".encode(),
            "partition": i % partitions,
            "on_delivery": report,
        }
        if ts0 is not None:
            kwargs["timestamp"] = ts0 + i
        if headers:
            kwargs["headers"] = [("k", b"v"), ("i", str(i).encode())]
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    unflushed = producer.flush(float(opts.get("timeout", "120")))
    print(
        f"done acked={counts['acked']} failed={counts['failed']} unflushed={unflushed}",
        flush=True,
    )


if __name__ == "__main__":
    main()
