"""braid's events with a schema, read and written by confluent-kafka-python
(run by tests/schemas.rs).

Usage:
  schema_events.py decode BOOTSTRAP REGISTRY_URL TOPIC PARTITIONS COUNT
      reads COUNT messages with a plain Consumer (assign, from the beginning)
      and decodes each with AvroDeserializer (the writer schema by the id in
      the message); prints one JSON line {"sender","seq","value"} per event.
  schema_events.py produce BOOTSTRAP REGISTRY_URL TOPIC SENDERS PER_SENDER
      writes SENDERS * PER_SENDER events with AvroSerializer (braid's v1
      schema, registered under TOPIC-value), keyed by sender; prints
      "produced N" once every message is delivered.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

V1 = {
    "type": "record", "name": "Event", "namespace": "braid",
    "fields": [
        {"name": "sender", "type": "long"},
        {"name": "seq", "type": "long"},
        {"name": "value", "type": "long"},
        {"name": "ts_ms", "type": "long"},
        {"name": "pad", "type": "string", "default": ""},
    ],
}


def decode(bootstrap, url, topic, partitions, count):
    client = SchemaRegistryClient({"url": url})
    deserializer = AvroDeserializer(client)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "schema-events-py",
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    ctx = SerializationContext(topic, MessageField.VALUE)
    got = 0
    deadline = time.time() + 90
    while got < count and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            raise RuntimeError(str(msg.error()))
        record = deserializer(msg.value(), ctx)
        print(json.dumps({"sender": record["sender"], "seq": record["seq"], "value": record["value"]}))
        got += 1
    consumer.close()
    if got < count:
        raise SystemExit("only %d of %d messages within 90 s" % (got, count))


def produce(bootstrap, url, topic, senders, per_sender):
    client = SchemaRegistryClient({"url": url})
    serializer = AvroSerializer(client, json.dumps(V1))
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    ctx = SerializationContext(topic, MessageField.VALUE)
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(str(err))

    now = int(time.time() * 1000)
    for seq in range(per_sender):
        for sender in range(senders):
            event = {"sender": sender, "seq": seq, "value": 1 + (seq * 7 + sender) % 100, "ts_ms": now, "pad": ""}
            producer.produce(topic, key=str(sender), value=serializer(event, ctx), on_delivery=delivered)
            producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        raise SystemExit("undelivered: %d, failed: %s" % (left, failed[:3]))
    print("produced", senders * per_sender)


if __name__ == "__main__":
    mode, bootstrap, url, topic = sys.argv[1:5]
    a, b = int(sys.argv[5]), int(sys.argv[6])
    if mode == "decode":
        decode(bootstrap, url, topic, a, b)
    elif mode == "produce":
        produce(bootstrap, url, topic, a, b)
    else:
        raise SystemExit("unknown mode " + mode)
