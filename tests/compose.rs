//! Validates `docker-compose.yml`, the three-broker Kafka 4.4 KRaft cluster
//! the README's real-Kafka runs use, without starting it:
//!
//! - against the Compose specification with
//!   `check-jsonschema --builtin-schema vendor.compose-spec` (skipped with a
//!   `SKIPPED:` line where the tool is not installed, a failure under
//!   `CI=true`, since `.ci/run` installs it);
//! - for what a schema cannot see: every node lists the same controller quorum
//!   voters and the same `CLUSTER_ID`, each node's advertised host listener is
//!   the port it is published on (9092/9093/9094, all distinct), the nodes
//!   and every other `apache/kafka` service run `apache/kafka:<KAFKA_4>`
//!   (4.4.0, the release the tests run these settings on:
//!   `common::kafka_cluster`), and the one-shot service creates `events`
//!   with 6 partitions and replication factor 3.
//!
//! The second part is [`check_compose`]; `checks_report_each_mutation` feeds it
//! broken variants of the file to prove each check can fail.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_yaml::Value;

/// The published host ports of the three nodes, in node order.
const HOST_PORTS: [u16; 3] = [9092, 9093, 9094];

fn compose_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")
}

fn compose_text() -> String {
    let path = compose_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs `check-jsonschema --builtin-schema vendor.compose-spec FILE`: `None`
/// when the tool is not installed, else whether it accepted the file and its
/// output.
fn compose_schema_check(file: &Path) -> Option<(bool, String)> {
    let out = match Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return None,
        Err(e) => panic!("running check-jsonschema: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

/// Whether check-jsonschema is installed: when it is not, says the schema
/// check was skipped (and fails under `CI=true`, since `.ci/run` installs it).
fn schema_tool_available() -> bool {
    common::peer_available(
        "compose schema check",
        "check-jsonschema (pip install check-jsonschema)",
        Command::new("check-jsonschema").arg("--version"),
    )
}

#[test]
fn compose_file_matches_the_compose_spec() {
    if !schema_tool_available() {
        return;
    }
    let (ok, output) = compose_schema_check(&compose_path()).expect("check-jsonschema ran");
    assert!(ok, "docker-compose.yml fails the Compose spec:\n{output}");
}

#[test]
fn compose_schema_check_rejects_an_invalid_file() {
    if !schema_tool_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("docker-compose.yml");
    std::fs::write(
        &bad,
        "services:\n  kafka-1:\n    image: apache/kafka:4.4.0\n    portz: [\"9092:9092\"]\n",
    )
    .unwrap();
    let (ok, output) = compose_schema_check(&bad).expect("check-jsonschema ran");
    assert!(
        !ok,
        "check-jsonschema accepted an unknown service key:\n{output}"
    );
    // Refused for the key that is wrong (jsonschema's additionalProperties
    // message names it), not for some other reason such as a missing schema.
    assert!(
        output.contains("'portz' was unexpected"),
        "check-jsonschema failed, but not naming the unknown key 'portz':\n{output}"
    );
}

#[test]
fn compose_file_is_consistent() {
    let problems = check_compose(&compose_text());
    assert!(
        problems.is_empty(),
        "docker-compose.yml:\n  {}",
        problems.join("\n  ")
    );
}

/// Parses a compose file, with YAML merge keys (`<<: *anchor`) applied as
/// `docker compose` applies them.
fn parse(yaml: &str) -> Result<Value, String> {
    let mut doc: Value = serde_yaml::from_str(yaml).map_err(|e| format!("not YAML: {e}"))?;
    doc.apply_merge()
        .map_err(|e| format!("bad merge key: {e}"))?;
    Ok(doc)
}

/// Every problem found in a compose file's text; empty when it is right.
fn check_compose(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(doc) => check_compose_doc(&doc),
        Err(e) => vec![e],
    }
}

/// A scalar as text (`9092`, `true` and `"x"` alike), `None` for the rest.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A service's `environment`, in either map or `KEY=VALUE` list form.
fn environment(service: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    match &service["environment"] {
        Value::Mapping(map) => {
            for (k, v) in map {
                if let Some(k) = scalar(k) {
                    env.insert(k, scalar(v).unwrap_or_default());
                }
            }
        }
        Value::Sequence(list) => {
            for item in list.iter().filter_map(scalar) {
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                env.insert(k.to_string(), v.to_string());
            }
        }
        _ => {}
    }
    env
}

/// A `NAME://host:port,...` listener list as (name, host, port).
fn listeners(list: &str) -> Vec<(String, String, Option<u16>)> {
    list.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, addr) = l.split_once("://").unwrap_or((l, ""));
            let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
            (name.to_string(), host.to_string(), port.parse().ok())
        })
        .collect()
}

/// A service's `ports` as (published, target), short or long syntax.
fn ports(service: &Value) -> Vec<(Option<u16>, Option<u16>)> {
    let Value::Sequence(list) = &service["ports"] else {
        return Vec::new();
    };
    list.iter()
        .map(|p| match p {
            Value::Mapping(_) => (
                scalar(&p["published"]).and_then(|s| s.parse().ok()),
                scalar(&p["target"]).and_then(|s| s.parse().ok()),
            ),
            _ => {
                // [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]
                let s = scalar(p).unwrap_or_default();
                let s = s.split('/').next().unwrap_or_default();
                let mut parts = s.rsplit(':');
                let target = parts.next().and_then(|t| t.parse().ok());
                let published = parts.next().and_then(|t| t.parse().ok());
                (published, target)
            }
        })
        .collect()
}

/// A service's `command` as whitespace-separated words (a list's items are
/// joined; shell line continuations are dropped).
fn command_words(service: &Value) -> Vec<String> {
    let text = match &service["command"] {
        Value::Sequence(items) => items
            .iter()
            .filter_map(scalar)
            .collect::<Vec<_>>()
            .join(" "),
        other => scalar(other).unwrap_or_default(),
    };
    text.replace("\\\n", " ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Whether `words` has `flag` immediately followed by `value`.
fn has_arg(words: &[String], flag: &str, value: &str) -> bool {
    words.windows(2).any(|w| w[0] == flag && w[1] == value)
}

/// The image the Kafka nodes and the topic creation run: the Kafka 4.x
/// release the tests start with these settings.
fn kafka_image() -> String {
    format!("apache/kafka:{}", common::kafka_cluster::KAFKA_4)
}

fn check_compose_doc(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Value::Mapping(services) = &doc["services"] else {
        return vec!["no `services` mapping".to_string()];
    };
    let services: Vec<(String, &Value)> = services
        .iter()
        .filter_map(|(k, v)| Some((scalar(k)?, v)))
        .collect();

    // The Kafka nodes and any other apache/kafka service (the topic
    // creation): the release the tests run (braid's own services, built from
    // the Dockerfile, are not Kafka).
    let want = kafka_image();
    for (name, service) in &services {
        let image = scalar(&service["image"]).unwrap_or_default();
        let is_node = environment(service).contains_key("KAFKA_PROCESS_ROLES");
        if (is_node || image.starts_with("apache/kafka")) && image != want {
            problems.push(format!(
                "{name}: image {image:?} is not {want:?}, the Kafka release the tests run"
            ));
        }
    }

    // The Kafka nodes: services that set KAFKA_PROCESS_ROLES.
    let nodes: Vec<(&String, &Value, BTreeMap<String, String>)> = services
        .iter()
        .map(|(name, service)| (name, *service, environment(service)))
        .filter(|(_, _, env)| env.contains_key("KAFKA_PROCESS_ROLES"))
        .collect();
    if nodes.len() != HOST_PORTS.len() {
        problems.push(format!(
            "{} Kafka nodes (services with KAFKA_PROCESS_ROLES), expected {}",
            nodes.len(),
            HOST_PORTS.len()
        ));
    }

    let mut voter_lists = BTreeSet::new();
    let mut cluster_ids = BTreeSet::new();
    let mut published_ports = Vec::new();
    for (name, service, env) in &nodes {
        let get = |key: &str| env.get(key).cloned().unwrap_or_default();
        let roles: BTreeSet<&str> = env["KAFKA_PROCESS_ROLES"]
            .split(',')
            .map(str::trim)
            .collect();
        if roles != BTreeSet::from(["broker", "controller"]) {
            problems.push(format!(
                "{name}: KAFKA_PROCESS_ROLES {:?}, expected broker,controller (combined mode)",
                env["KAFKA_PROCESS_ROLES"]
            ));
        }
        voter_lists.insert(get("KAFKA_CONTROLLER_QUORUM_VOTERS"));
        cluster_ids.insert(get("CLUSTER_ID"));

        // The node is one of the voters, under its own id, hostname and
        // controller listener port.
        let node_id = get("KAFKA_NODE_ID");
        let hostname = scalar(&service["hostname"]).unwrap_or_else(|| name.to_string());
        let controller_name = get("KAFKA_CONTROLLER_LISTENER_NAMES");
        let controller_port = listeners(&get("KAFKA_LISTENERS"))
            .into_iter()
            .find(|(n, _, _)| controller_name.split(',').next() == Some(n.as_str()))
            .and_then(|(_, _, port)| port);
        let Some(controller_port) = controller_port else {
            problems.push(format!(
                "{name}: no port for controller listener {controller_name:?} in KAFKA_LISTENERS"
            ));
            continue;
        };
        let voters = get("KAFKA_CONTROLLER_QUORUM_VOTERS");
        let want = format!("{node_id}@{hostname}:{controller_port}");
        let me = voters
            .split(',')
            .map(str::trim)
            .find(|v| v.split_once('@').is_some_and(|(id, _)| id == node_id));
        match me {
            Some(v) if v == want => {}
            Some(v) => problems.push(format!(
                "{name}: its quorum voter entry is {v:?}, expected {want:?}"
            )),
            None => problems.push(format!(
                "{name}: KAFKA_NODE_ID {node_id:?} is not among the quorum voters {voters:?}"
            )),
        }

        for (key, want) in [
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
            ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
            ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "2"),
        ] {
            if get(key) != want {
                problems.push(format!("{name}: {key} is {:?}, expected {want}", get(key)));
            }
        }

        // The host listener: the advertised one on localhost. The container
        // port it listens on must be published on the same host port.
        let advertised = listeners(&get("KAFKA_ADVERTISED_LISTENERS"));
        let host_listeners: Vec<_> = advertised
            .iter()
            .filter(|(_, host, _)| host == "localhost" || host == "127.0.0.1")
            .collect();
        let [(listener, _, Some(advertised_port))] = host_listeners[..] else {
            problems.push(format!(
                "{name}: expected exactly one advertised listener on localhost with a port, got {host_listeners:?}"
            ));
            continue;
        };
        let container_port = listeners(&get("KAFKA_LISTENERS"))
            .into_iter()
            .find(|(n, _, _)| n == listener)
            .and_then(|(_, _, port)| port);
        let Some(container_port) = container_port else {
            problems.push(format!(
                "{name}: advertised listener {listener} is not in KAFKA_LISTENERS"
            ));
            continue;
        };
        let published = ports(service)
            .into_iter()
            .find(|(_, target)| *target == Some(container_port))
            .and_then(|(published, _)| published);
        match published {
            Some(p) if p == *advertised_port => published_ports.push(p),
            Some(p) => {
                published_ports.push(p);
                problems.push(format!(
                    "{name}: advertised host listener localhost:{advertised_port} but published on host port {p}"
                ));
            }
            None => problems.push(format!(
                "{name}: host listener port {container_port} is not published"
            )),
        }
    }
    if voter_lists.len() > 1 {
        problems.push(format!(
            "the nodes disagree on KAFKA_CONTROLLER_QUORUM_VOTERS: {voter_lists:?}"
        ));
    }
    if cluster_ids.len() > 1 || cluster_ids.contains("") {
        problems.push(format!(
            "the nodes do not share one CLUSTER_ID: {cluster_ids:?}"
        ));
    }
    let distinct: BTreeSet<u16> = published_ports.iter().copied().collect();
    if distinct.len() != published_ports.len() {
        problems.push(format!(
            "published host ports are not distinct: {published_ports:?}"
        ));
    } else if nodes.len() == HOST_PORTS.len() && distinct != BTreeSet::from(HOST_PORTS) {
        problems.push(format!(
            "published host ports {published_ports:?}, expected {HOST_PORTS:?}"
        ));
    }

    // The one-shot topic creation, run once every node is healthy.
    let creators: Vec<_> = services
        .iter()
        .filter(|(_, service)| {
            let words = command_words(service);
            words.iter().any(|w| w.ends_with("kafka-topics.sh"))
                && words.iter().any(|w| w == "--create")
        })
        .collect();
    let Some((name, service)) = creators.first() else {
        problems.push("no service runs kafka-topics.sh --create".to_string());
        return problems;
    };
    let words = command_words(service);
    for (flag, value) in [
        ("--topic", "events"),
        ("--partitions", "6"),
        ("--replication-factor", "3"),
        ("--config", "min.insync.replicas=2"),
    ] {
        if !has_arg(&words, flag, value) {
            problems.push(format!(
                "{name}: kafka-topics.sh --create lacks {flag} {value}"
            ));
        }
    }
    for (node, node_service, _) in &nodes {
        let condition = scalar(&service["depends_on"][node.as_str()]["condition"]);
        if condition.as_deref() != Some("service_healthy") {
            problems.push(format!(
                "{name}: does not depend on {node} with condition service_healthy"
            ));
        }
        if !matches!(
            node_service["healthcheck"]["test"],
            Value::Sequence(_) | Value::String(_)
        ) {
            problems.push(format!("{node}: no healthcheck"));
        }
    }
    problems
}

/// Sets `services.<service>.<path...>` in a parsed compose file.
fn set(doc: &mut Value, service: &str, path: &[&str], value: Value) {
    let mut node = &mut doc["services"][service];
    for key in path {
        node = &mut node[*key];
    }
    *node = value;
}

#[test]
fn checks_report_each_mutation() {
    let original = compose_text();
    let doc = parse(&original).expect("docker-compose.yml parses");
    assert_eq!(check_compose(&original), Vec::<String>::new());

    type Mutation = fn(&mut Value);
    let mutations: [(&str, Mutation, &str); 9] = [
        (
            "voters all pointing at a wrong controller port",
            |d| {
                for node in ["kafka-1", "kafka-2", "kafka-3"] {
                    set(
                        d,
                        node,
                        &["environment", "KAFKA_CONTROLLER_QUORUM_VOTERS"],
                        "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9094".into(),
                    );
                }
            },
            "kafka-3: its quorum voter entry is \"3@kafka-3:9094\"",
        ),
        (
            "a node with a different voter list",
            |d| {
                set(
                    d,
                    "kafka-3",
                    &["environment", "KAFKA_CONTROLLER_QUORUM_VOTERS"],
                    "1@kafka-1:9093,3@kafka-3:9093".into(),
                )
            },
            "KAFKA_CONTROLLER_QUORUM_VOTERS",
        ),
        (
            "a node with another cluster id",
            |d| {
                set(
                    d,
                    "kafka-2",
                    &["environment", "CLUSTER_ID"],
                    "MkU3OEVBNTcwNTJENDM2Qk".into(),
                )
            },
            "CLUSTER_ID",
        ),
        (
            "a node published on the wrong host port",
            |d| set(d, "kafka-2", &["ports"], vec!["127.0.0.1:9095:9092"].into()),
            "published on host port 9095",
        ),
        (
            "two nodes on the same host port",
            |d| {
                set(d, "kafka-3", &["ports"], vec!["9092:9092"].into());
                set(
                    d,
                    "kafka-3",
                    &["environment", "KAFKA_ADVERTISED_LISTENERS"],
                    "INTERNAL://kafka-3:19092,HOST://localhost:9092".into(),
                );
            },
            "not distinct",
        ),
        (
            "a Kafka 3.9 image",
            |d| set(d, "kafka-1", &["image"], "apache/kafka:3.9.1".into()),
            "kafka-1: image \"apache/kafka:3.9.1\"",
        ),
        (
            "the topic created with 3 partitions",
            |d| {
                let cmd = d["services"]["create-topics"]["command"][0]
                    .as_str()
                    .unwrap()
                    .replace("--partitions 6", "--partitions 3");
                set(d, "create-topics", &["command"], vec![cmd].into());
            },
            "lacks --partitions 6",
        ),
        (
            "the topic created with replication factor 1",
            |d| {
                let cmd = d["services"]["create-topics"]["command"][0]
                    .as_str()
                    .unwrap()
                    .replace("--replication-factor 3", "--replication-factor 1");
                set(d, "create-topics", &["command"], vec![cmd].into());
            },
            "lacks --replication-factor 3",
        ),
        (
            "the offsets topic on one replica",
            |d| {
                set(
                    d,
                    "kafka-1",
                    &["environment", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"],
                    1.into(),
                )
            },
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        ),
    ];
    for (what, mutate, expected) in mutations {
        let mut mutated = doc.clone();
        mutate(&mut mutated);
        let yaml = serde_yaml::to_string(&mutated).unwrap();
        let problems = check_compose(&yaml);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem mentioning {expected:?}, got {problems:?}"
        );
    }
}
