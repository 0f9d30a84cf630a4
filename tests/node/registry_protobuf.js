// @kafkajs/confluent-schema-registry against `braid registry` with Protobuf
// schemas, and braid's Protobuf events (run by tests/registry_peers.rs).
// Usage: node registry_protobuf.js REGISTRY_URL SUBJECT BRAID_ID PROTO_FILE MESSAGES_FILE PREFIX
//   SUBJECT/BRAID_ID: where and under which id `braid produce --schema protobuf` registered PROTO_FILE;
//   MESSAGES_FILE: braid's messages as they are in Kafka, one hex line each.
// Prints one "ok: ..." line per step and one JSON line per decoded event; a failure exits non-zero.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const [url, subject, braidId, protoFile, messagesFile, prefix] = process.argv.slice(2);

async function main() {
  const registry = new SchemaRegistry({ host: url });
  const proto = fs.readFileSync(protoFile, 'utf8');
  const { id } = await registry.register({ type: SchemaType.PROTOBUF, schema: proto }, { subject });
  assert.equal(id, Number(braidId));
  const spaced = `// the same schema, commented and spaced out\n${proto.replace(/ = /g, '   =   ')}`;
  assert.equal((await registry.register({ type: SchemaType.PROTOBUF, schema: spaced }, { subject })).id, id);
  console.log('ok: registering braid\'s .proto gives braid\'s id', id);

  // A fresh client fetches the schema by id, parses it with protobufjs and decodes.
  const fresh = new SchemaRegistry({ host: url });
  const lines = fs.readFileSync(messagesFile, 'utf8').split('\n').filter((l) => l.length > 0);
  for (const hex of lines) {
    const event = await fresh.decode(Buffer.from(hex, 'hex'));
    console.log(JSON.stringify({ sender: Number(event.sender), seq: Number(event.seq), value: Number(event.value) }));
  }
  console.log('ok: decoded', lines.length, 'braid events');

  // References: a schema importing another subject's file.
  const host = 'syntax = "proto3";\npackage common;\nmessage Host { string name = 1; uint32 rack = 2; }\n';
  const hostSubject = `${prefix}-common-host`;
  await registry.register({ type: SchemaType.PROTOBUF, schema: host }, { subject: hostSubject });
  const placed = 'syntax = "proto3";\npackage braid;\nimport "common/host.proto";\n'
    + 'message Placed { uint64 seq = 1; common.Host host = 2; }\n';
  const placedId = (await registry.register({
    type: SchemaType.PROTOBUF,
    schema: placed,
    references: [{ name: 'common/host.proto', subject: hostSubject, version: 1 }],
  }, { subject: `${prefix}-placed-value` })).id;
  const encoded = await registry.encode(placedId, { seq: 7, host: { name: 'vm-1', rack: 3 } });
  const decoded = await new SchemaRegistry({ host: url }).decode(encoded);
  assert.equal(Number(decoded.seq), 7);
  assert.deepEqual({ name: decoded.host.name, rack: decoded.host.rack }, { name: 'vm-1', rack: 3 });
  console.log('ok: a schema with references registered, encoded and decoded');

  const v3 = proto.replace('uint64 value = 3;', 'string value = 3;');
  await assert.rejects(
    registry.register({ type: SchemaType.PROTOBUF, schema: v3 }, { subject }),
    (e) => e.status === 409,
  );
  console.log('ok: a field turned into a string refused with 409');
}

main().catch((e) => {
  console.error('FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
