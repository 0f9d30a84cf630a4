"""braid's Protobuf events, read and written by confluent-kafka-python's
Protobuf serdes (run by tests/schemas_protobuf.rs).

The test generates the event's Python module from braid's .proto with
grpcio-tools into MODULE_DIR (event_pb2.py) before it runs this.

Usage:
  proto_events.py decode BOOTSTRAP REGISTRY_URL TOPIC PARTITIONS COUNT MODULE_DIR
      reads COUNT messages with a plain Consumer (assign, from the beginning)
      and decodes each with ProtobufDeserializer, which fetches the writer's
      schema by the id in the message (?format=serialized); prints one JSON
      line {"sender","seq","value","schema_id"} per event.
  proto_events.py produce BOOTSTRAP REGISTRY_URL TOPIC SENDERS PER_SENDER MODULE_DIR
      writes SENDERS * PER_SENDER events with ProtobufSerializer (it registers
      the module's schema under TOPIC-value, as a base64 descriptor), keyed by
      sender; prints "produced N" once every message is delivered.
"""
import json
import sys
import time

mode, bootstrap, url, topic = sys.argv[1:5]
a, b = int(sys.argv[5]), int(sys.argv[6])
sys.path.insert(0, sys.argv[7])

import event_pb2  # noqa: E402  (generated into MODULE_DIR by the test)
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402


def decode(partitions, count):
    client = SchemaRegistryClient({"url": url})
    deserializer = ProtobufDeserializer(event_pb2.Event, {}, client)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "proto-events-py",
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
        event = deserializer(msg.value(), ctx)
        schema_id = int.from_bytes(msg.value()[1:5], "big")
        print(json.dumps({"sender": event.sender, "seq": event.seq, "value": event.value, "schema_id": schema_id}))
        got += 1
    consumer.close()
    if got < count:
        raise SystemExit("only %d of %d messages within 90 s" % (got, count))


def produce(senders, per_sender):
    client = SchemaRegistryClient({"url": url})
    serializer = ProtobufSerializer(event_pb2.Event, client, {"use.deprecated.format": False})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    ctx = SerializationContext(topic, MessageField.VALUE)
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(str(err))

    now = int(time.time() * 1000)
    for seq in range(per_sender):
        for sender in range(senders):
            event = event_pb2.Event(sender=sender, seq=seq, value=1 + (seq * 7 + sender) % 100, ts_ms=now)
            producer.produce(topic, key=str(sender), value=serializer(event, ctx), on_delivery=delivered)
            producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        raise SystemExit("undelivered: %d, failed: %s" % (left, failed[:3]))
    print("produced", senders * per_sender)


if mode == "decode":
    decode(a, b)
elif mode == "produce":
    produce(a, b)
else:
    raise SystemExit("unknown mode " + mode)
