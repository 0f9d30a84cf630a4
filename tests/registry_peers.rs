//! `braid registry` against registry clients nobody here wrote:
//! confluent-kafka-python (`SchemaRegistryClient`, `AvroSerializer`,
//! `AvroDeserializer`: `tests/python/registry_client.py`) and
//! `@kafkajs/confluent-schema-registry` 3.9 on Node (`tests/node/registry.js`).
//! Skipped (with a `SKIPPED:` line) where the client is missing, failed
//! instead under `CI=true`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::registry::Registry;
use common::*;

/// Runs `cmd` (a peer script given the registry's URL) and checks that it
/// succeeded and printed every `steps` line.
fn run_peer(mut cmd: Command, steps: &[&str]) {
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        out.stderr
    );
    for step in steps {
        assert!(
            stdout.contains(step),
            "missing step {step:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.stderr
        );
    }
}

#[test]
fn confluent_kafka_python_client_and_avro_serdes() {
    let test = "confluent_kafka_python_client_and_avro_serdes";
    let probe = "from confluent_kafka.schema_registry.avro import AvroSerializer";
    if !peer_available(
        test,
        "python3 with confluent-kafka[avro]",
        Command::new("python3").args(["-c", probe]),
    ) {
        return;
    }
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut cmd = Command::new("python3");
    cmd.arg(tests_dir().join("python").join("registry_client.py"))
        .arg(reg.url())
        .arg(unique("py"));
    run_peer(
        cmd,
        &[
            "ok: register_schema twice gives one id",
            "ok: get_schema by id",
            "ok: lookup_schema, get_latest_version, get_subjects",
            "ok: test_compatibility and 409 for an incompatible schema",
            "ok: error codes 40401, 40403, 42201",
            "ok: set_compatibility / get_compatibility",
            "ok: AvroSerializer -> AvroDeserializer round trip",
            "ok: schema evolution v1 <-> v2 with reader schemas",
            "ok: delete_subject",
        ],
    );
}

#[test]
fn kafkajs_schema_registry_registers_and_decodes_avro() {
    let test = "kafkajs_schema_registry_registers_and_decodes_avro";
    let node_dir = tests_dir().join("node");
    let probe = "require('@kafkajs/confluent-schema-registry')";
    if !peer_available(
        test,
        "node with @kafkajs/confluent-schema-registry (npm ci in tests/node)",
        Command::new("node")
            .current_dir(&node_dir)
            .args(["-e", probe]),
    ) {
        return;
    }
    let broker = Broker::start(&[]);
    let reg = Registry::start(&broker.addr(), &[]);
    let mut cmd = Command::new("node");
    cmd.current_dir(&node_dir)
        .arg("registry.js")
        .arg(reg.url())
        .arg(unique("js"));
    run_peer(
        cmd,
        &[
            "ok: register twice gives one id",
            "ok: getLatestSchemaId / getRegistryId",
            "ok: encode -> decode round trip (schema fetched by id)",
            "ok: evolved schema v2 registered and decoded",
            "ok: incompatible schema refused with 409",
        ],
    );
}
