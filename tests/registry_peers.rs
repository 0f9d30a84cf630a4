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

/// kafkajs's registry client with Protobuf: it registers braid's `.proto`
/// (and gets the id braid got), decodes braid's events as they are in Kafka
/// (fetching the schema by id and parsing it with protobufjs), registers a
/// schema with references and refuses an incompatible one (409).
#[test]
fn kafkajs_schema_registry_registers_and_decodes_braid_protobuf_events() {
    let test = "kafkajs_schema_registry_registers_and_decodes_braid_protobuf_events";
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
    let (addr, topic) = (broker.addr(), unique("js-proto"));
    let mut create = Command::new(env!("CARGO_BIN_EXE_braid"));
    create.args(["topic", "create", &topic, "--partitions", "1", "-b", &addr]);
    assert!(run_with_timeout(&mut create, None, Duration::from_secs(60))
        .status
        .success());
    let mut produce = Command::new(env!("CARGO_BIN_EXE_braid"));
    produce.args([
        "produce",
        "-b",
        &addr,
        "-t",
        &topic,
        "--schema",
        "protobuf",
        "--registry",
        &reg.url(),
        "-n",
        "50",
        "-j",
        "1",
        "--format",
        "json",
    ]);
    let out = run_with_timeout(&mut produce, None, Duration::from_secs(60));
    assert!(out.status.success(), "{}", out.stderr);
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| match braid::produce::events::ProduceEvent::parse(l) {
            Ok(braid::produce::events::ProduceEvent::SchemaRegistered(r)) => Some(r.id),
            _ => None,
        })
        .expect("a schema_registered event");
    let mut client = kafka_client(&addr);
    wait_for_topic(&mut client, &topic, 1);
    let (got, _) = fetch_all(
        &mut client,
        &topic,
        &std::collections::BTreeMap::from([(0, 50)]),
        Duration::from_secs(30),
    );
    let dir = tempfile::tempdir().unwrap();
    let hex: String = got[&0]
        .iter()
        .map(|m| {
            m.value
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                + "\n"
        })
        .collect();
    std::fs::write(dir.path().join("messages.hex"), hex).unwrap();
    std::fs::write(
        dir.path().join("event.proto"),
        braid::schema::proto::EVENT_PROTO_V1,
    )
    .unwrap();
    let mut cmd = Command::new("node");
    cmd.current_dir(&node_dir)
        .arg("registry_protobuf.js")
        .arg(reg.url())
        .arg(format!("{topic}-value"))
        .arg(id.to_string())
        .arg(dir.path().join("event.proto"))
        .arg(dir.path().join("messages.hex"))
        .arg(unique("jsp"));
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        out.stderr
    );
    for step in [
        "ok: registering braid's .proto gives braid's id",
        "ok: decoded 50 braid events",
        "ok: a schema with references registered, encoded and decoded",
        "ok: a field turned into a string refused with 409",
    ] {
        assert!(
            stdout.contains(step),
            "missing {step:?}\n{stdout}\n{}",
            out.stderr
        );
    }
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..50).collect::<Vec<_>>());
    assert!(events.iter().all(|e| e["sender"] == 0));
    assert!(events
        .iter()
        .all(|e| (1..=100).contains(&e["value"].as_u64().unwrap())));
}
