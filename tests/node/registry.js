// @kafkajs/confluent-schema-registry against `braid registry` (run by
// tests/registry_peers.rs). Usage: node registry.js REGISTRY_URL SUBJECT_PREFIX
// Prints one "ok: ..." line per step; a failure exits non-zero.
'use strict';
const assert = require('node:assert/strict');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

const [url, prefix] = process.argv.slice(2);
const subject = `${prefix}-events-value`;
const v1 = {
  type: 'record', name: 'Event', namespace: 'braid',
  fields: [
    { name: 'sender', type: 'int' },
    { name: 'seq', type: 'long' },
    { name: 'value', type: 'int' },
  ],
};
const v2 = { ...v1, fields: [...v1.fields, { name: 'host', type: 'string', default: 'unknown' }] };

async function main() {
  const registry = new SchemaRegistry({ host: url });
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
  const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1, null, 2) }, { subject });
  assert.equal(again.id, id);
  console.log('ok: register twice gives one id', id);

  assert.equal(await registry.getLatestSchemaId(subject), id);
  assert.equal(await registry.getRegistryId(subject, 'latest'), id);
  console.log('ok: getLatestSchemaId / getRegistryId');

  const event = { sender: 3, seq: 1042, value: 57 };
  const encoded = await registry.encode(id, event);
  assert.equal(encoded[0], 0);
  assert.equal(encoded.readInt32BE(1), id);
  // A fresh client (no cache) fetches the schema by id to decode.
  const fresh = new SchemaRegistry({ host: url });
  assert.deepEqual({ ...(await fresh.decode(encoded)) }, event); // avsc decodes into a record class
  console.log('ok: encode -> decode round trip (schema fetched by id)');

  const v2id = (await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject })).id;
  assert.notEqual(v2id, id);
  const decoded = await fresh.decode(await registry.encode(v2id, { ...event, host: 'node-a' }));
  assert.deepEqual({ ...decoded }, { ...event, host: 'node-a' });
  console.log('ok: evolved schema v2 registered and decoded');

  const renamed = { ...v1, fields: [{ name: 'amount', type: 'int' }] };
  await assert.rejects(
    registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(renamed) }, { subject }),
    (e) => e.status === 409,
  );
  console.log('ok: incompatible schema refused with 409');
}

main().catch((e) => {
  console.error('FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
