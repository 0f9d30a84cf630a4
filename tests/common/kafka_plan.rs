//! The settings of a real-Kafka test cluster before it starts (a part of
//! `kafka_cluster`): the nodes of `docker-compose.yml` with their `KAFKA_*`
//! settings as properties, the log4j settings, and free ports.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Instant;

/// The settings of a node before ports and paths are filled in.
pub(super) struct Plan {
    pub(super) cluster_id: String,
    /// Per node: its id and its properties (compose settings or single-node ones).
    pub(super) nodes: Vec<(i32, BTreeMap<String, String>)>,
    /// Every listener's name, as in `listeners`.
    pub(super) listeners: Vec<String>,
    /// The advertised listeners' names.
    pub(super) advertised: Vec<String>,
    /// The listener clients use (advertised, not the inter-broker one).
    pub(super) client: String,
    /// The controller quorum's listener.
    pub(super) controller: String,
}

/// log4j 1.x settings for a 3.x node: INFO and up to `server.log` in its
/// directory, state changes and request logs only as warnings.
pub(super) const LOG4J: &str = "log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
";

/// log4j 2 settings for a 4.x node (Kafka 4.0 moved to log4j 2 and no
/// longer reads `log4j.properties`): the same as [`LOG4J`], in log4j 2's
/// properties format, which log4j-core reads without further jars.
pub(super) const LOG4J2: &str = "status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
";

/// `n` distinct ports below the kernel's ephemeral range that are free now.
pub(super) fn free_ports(n: usize) -> Vec<u16> {
    let mut seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
    seed ^= std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut ports = Vec::new();
    while ports.len() < n {
        // xorshift: good enough to spread picks over 20000..32000.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = 20000 + (seed % 12000) as u16;
        if !ports.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

/// The nodes of a compose file: each service with a `KAFKA_NODE_ID`, its
/// `KAFKA_*` environment as properties (`KAFKA_MIN_INSYNC_REPLICAS` →
/// `min.insync.replicas`, as the apache/kafka image maps them), its listener
/// names, and the shared `CLUSTER_ID`.
pub(super) fn compose_plan(yaml: &str) -> Result<Plan, String> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    doc.apply_merge().map_err(|e| e.to_string())?;
    let services = doc["services"].as_mapping().ok_or("no services")?;
    let mut nodes = Vec::new();
    let mut cluster_id = None;
    for (_, service) in services {
        let Some(env) = service["environment"].as_mapping() else {
            continue;
        };
        let mut props = BTreeMap::new();
        for (k, v) in env {
            let key = k.as_str().ok_or("non-string key")?;
            let value = match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .map_err(|e| e.to_string())?
                    .trim()
                    .to_string(),
            };
            if key == "CLUSTER_ID" {
                cluster_id = Some(value);
            } else if let Some(name) = key.strip_prefix("KAFKA_") {
                let name = name
                    .replace("___", "-")
                    .replace("__", "\u{0}")
                    .replace('_', ".");
                props.insert(name.replace('\u{0}', "_").to_lowercase(), value);
            }
        }
        let Some(id) = props.get("node.id") else {
            continue;
        };
        let id: i32 = id.parse().map_err(|_| format!("node id {id}"))?;
        nodes.push((id, props));
    }
    nodes.sort_by_key(|(id, _)| *id);
    let (_, first) = nodes.first().ok_or("no service with KAFKA_NODE_ID")?;
    let names = |key: &str| -> Vec<String> {
        first.get(key).map_or(Vec::new(), |v| {
            v.split(',')
                .filter_map(|l| l.split("://").next())
                .map(|s| s.trim().to_string())
                .collect()
        })
    };
    let listeners = names("listeners");
    let advertised = names("advertised.listeners");
    let inter = first
        .get("inter.broker.listener.name")
        .cloned()
        .unwrap_or_default();
    let controller = names("controller.listener.names")
        .into_iter()
        .next()
        .ok_or("no controller.listener.names")?;
    let client = advertised
        .iter()
        .find(|n| **n != inter)
        .or(advertised.first())
        .ok_or("no advertised.listeners")?
        .clone();
    if !listeners.contains(&controller) || !listeners.contains(&client) {
        return Err(format!(
            "listeners {listeners:?} lack {controller} or {client}"
        ));
    }
    Ok(Plan {
        cluster_id: cluster_id.ok_or("no CLUSTER_ID")?,
        nodes,
        listeners,
        advertised,
        client,
        controller,
    })
}
