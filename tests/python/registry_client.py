"""confluent-kafka-python's Schema Registry client and Avro serdes against
`braid registry` (run by tests/registry_peers.rs).

Usage: registry_client.py REGISTRY_URL SUBJECT_PREFIX

Prints one "ok: ..." line per step; any failure raises (non-zero exit).
"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

url, prefix = sys.argv[1], sys.argv[2]
topic = prefix + "-events"
subject = topic + "-value"

V1 = {
    "type": "record", "name": "Event", "namespace": "braid",
    "fields": [
        {"name": "sender", "type": "int"},
        {"name": "seq", "type": "long"},
        {"name": "value", "type": "int"},
        {"name": "ts_ms", "type": "long"},
    ],
}
V2 = dict(V1, fields=V1["fields"] + [{"name": "host", "type": "string", "default": "unknown"}])
V3_RENAMED = dict(V1, fields=[f if f["name"] != "value" else {"name": "amount", "type": "int"} for f in V1["fields"]])


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except SchemaRegistryError as e:
        assert e.error_code == code, (e.http_status_code, e.error_code, e.error_message)
        return e
    raise AssertionError("expected error %d" % code)


client = SchemaRegistryClient({"url": url})

# Register, register again (same id), look up.
id1 = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
again = client.register_schema(subject, Schema(json.dumps(V1, indent=2), "AVRO"))
assert id1 == again, (id1, again)
print("ok: register_schema twice gives one id", id1)

fetched = SchemaRegistryClient({"url": url}).get_schema(id1)
assert json.loads(fetched.schema_str) == V1, fetched.schema_str
assert fetched.schema_type == "AVRO", fetched.schema_type
print("ok: get_schema by id")

found = client.lookup_schema(subject, Schema(json.dumps(V1), "AVRO"))
assert (found.schema_id, found.version, found.subject) == (id1, 1, subject), found
latest = client.get_latest_version(subject)
assert latest.version == 1 and latest.schema_id == id1, latest
assert subject in client.get_subjects()
print("ok: lookup_schema, get_latest_version, get_subjects")

# Compatibility: BACKWARD by default; v2 adds a field with a default.
assert client.test_compatibility(subject, Schema(json.dumps(V2), "AVRO")) is True
assert client.test_compatibility(subject, Schema(json.dumps(V3_RENAMED), "AVRO")) is False
err = expect_error(409, client.register_schema, subject, Schema(json.dumps(V3_RENAMED), "AVRO"))
assert err.http_status_code == 409
print("ok: test_compatibility and 409 for an incompatible schema")

expect_error(40401, client.get_latest_version, prefix + "-missing-value")
expect_error(40403, client.get_schema, 999999)
expect_error(42201, client.register_schema, subject, Schema('{"type":"record"}', "AVRO"))
print("ok: error codes 40401, 40403, 42201")

client.set_compatibility(subject_name=subject, level="FULL")
assert client.get_compatibility(subject) == "FULL"
client.set_compatibility(subject_name=subject, level="BACKWARD")
print("ok: set_compatibility / get_compatibility")

# Serialize with v1, deserialize with the writer's schema.
ctx = SerializationContext(topic, MessageField.VALUE)
event1 = {"sender": 3, "seq": 1042, "value": 57, "ts_ms": 1763700000123}
ser1 = AvroSerializer(client, json.dumps(V1))
data1 = ser1(event1, ctx)
assert data1[0] == 0 and int.from_bytes(data1[1:5], "big") == id1, data1[:5]
assert AvroDeserializer(client)(data1, ctx) == event1
print("ok: AvroSerializer -> AvroDeserializer round trip")

# Evolve: v2 registered by the serializer; a v1 reader reads v2 data and a
# v2 reader fills the default for v1 data.
event2 = dict(event1, seq=1043, host="node-a")
data2 = AvroSerializer(client, json.dumps(V2))(event2, ctx)
id2 = int.from_bytes(data2[1:5], "big")
assert id2 != id1
assert client.get_versions(subject) == [1, 2]
assert AvroDeserializer(client, json.dumps(V1))(data2, ctx) == event1 | {"seq": 1043}
assert AvroDeserializer(client, json.dumps(V2))(data1, ctx) == dict(event1, host="unknown")
print("ok: schema evolution v1 <-> v2 with reader schemas")

assert client.delete_subject(subject) == [1, 2]
expect_error(40401, client.get_versions, subject)
print("ok: delete_subject")
