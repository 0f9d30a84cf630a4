//! Real Apache Kafka clusters for the tests: one or three combined broker+controller KRaft nodes on 127.0.0.1,
//! started from the jars `tests/kafka/fetch.sh` puts under `target/`.
//!
//! - The three-node cluster runs the `KAFKA_*` settings of
//!   `docker-compose.yml` (turned into property names as the apache/kafka
//!   image does), so the compose file's configuration is what the tests run;
//!   only node ports, paths and the quorum voters' addresses differ. Listener
//!   names come from the compose file too: clients use the advertised
//!   listener that is not the inter-broker one (`HOST`).
//! - Two versions: [`KAFKA_3`] (3.9) and [`KAFKA_4`] (4.4), the same
//!   settings for both. Kafka 4.4's jars are Java 17 bytecode like 3.9's, so
//!   both run on the machine's `java` (17 or newer).
//! - Every node: static `controller.quorum.voters` (as docker-compose.yml and
//!   apache/kafka's own combined-mode example set it; valid on 3.9 and 4.4),
//!   storage formatted with `kafka.tools.StorageTool format`, `-Xmx512m`,
//!   thread counts for 2 cores (where the compose file says nothing), logs to
//!   `server.log` in the node's own temporary directory (log4j 1.x settings
//!   for 3.x, log4j 2 for 4.x, which reads only those).
//! - [`shared_compose`] hands out one three-node cluster per test process,
//!   one version at a time: the tests of a file share it, and a test of the
//!   other version waits until it is free, stops it and starts its own, so a
//!   test process never runs more than three Kafka JVMs.
//! - Each JVM runs under a tiny `sh` wrapper whose stdin is a pipe held by
//!   the test process: when that pipe closes (the cluster is dropped, or the
//!   test process ends in any way, even with SIGKILL) the wrapper kills the
//!   JVM with SIGKILL and removes the node's directory. So a cluster kept in
//!   a `static` (where `Drop` never runs) still leaves nothing behind.
//! - Ports are picked at random below the kernel's ephemeral range (so no
//!   port-0 bind of another test can take them) and checked free; a node that
//!   still fails to bind makes the whole start retry with new ports.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use kafka_protocol::messages::MetadataRequest;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{in_ci, wait_until};

#[path = "kafka_plan.rs"]
mod plan;
use plan::{compose_plan, free_ports, Plan, LOG4J, LOG4J2};

/// The Kafka 3.x release the tests run: the last of 3.x, where braid's
/// default (the `kafka` crate) still finds the protocol versions it speaks.
pub const KAFKA_3: &str = "3.9.1";
/// The Kafka 4.x release the tests run (docker-compose.yml's image): braid
/// talks to it through its modern-protocol client.
pub const KAFKA_4: &str = "4.4.0";

/// Whether `version` is Kafka 4.0 or later (no Produce v0-2, Fetch v0-3, ...).
pub fn is_kafka_4(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 4)
}
/// How long one attempt to start a cluster may take until every node is listed.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Attempts to start a cluster (a port taken between pick and bind retries).
const START_ATTEMPTS: usize = 3;

/// The wrapper around each JVM: `$1` is the node directory, the rest is the
/// java command line. It prints the JVM's pid, then waits on its stdin: a
/// line `keep` makes it wait for the JVM (signalled by the test) and keep the
/// directory; end of input kills the JVM and removes the directory (kept
/// when the environment has `BRAID_KAFKA_KEEP` set, for a look at the logs).
const WRAPPER: &str = r#"trap '' INT HUP
dir="$1"; shift
"$@" >>"$dir/java.out" 2>&1 </dev/null &
pid=$!
echo "$pid"
IFS= read -r cmd || cmd=
if [ "$cmd" = keep ]; then wait "$pid"; exit $?; fi
kill -9 "$pid" 2>/dev/null
wait "$pid"
[ -n "$BRAID_KAFKA_KEEP" ] || rm -rf "$dir"
"#;

/// Where `fetch.sh` puts the jars of Kafka `version`.
pub fn jars_dir(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("kafka-{version}"))
}

/// A `java` command that runs class `main` of Kafka `version`'s jars with
/// `args` (a 256 MiB heap): how the tests run Kafka's own tools and clients.
pub fn java_tool(version: &str, main: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx256m")
        .arg("-cp")
        .arg(format!("{}/*", jars_dir(version).display()))
        .arg(main)
        .args(args);
    cmd
}

/// Whether Java and the jars of Kafka `version` are here. When not, prints
/// `SKIPPED: <test>: ... (no Java/Kafka)` and returns false; under `CI=true`
/// it fails the test instead (`.ci/run` fetches the jars).
pub fn kafka_available(test: &str, version: &str) -> bool {
    let java = Command::new("java")
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let jars = jars_dir(version).join(".complete").exists();
    let missing = match (java, jars) {
        (true, true) => return true,
        (false, _) => "java not installed".to_string(),
        (true, false) => format!(
            "no Kafka {version} jars in {} (run tests/kafka/fetch.sh)",
            jars_dir(version).display()
        ),
    };
    assert!(!in_ci(), "{test}: {missing}, but CI=true");
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: {missing} (no Java/Kafka)"
    );
    super::record_skip(test, &format!("{missing} (no Java/Kafka)"));
    false
}

/// A running JVM under its wrapper.
struct Jvm {
    wrapper: Child,
    stdin: Option<ChildStdin>,
    pid: i32,
}

/// One node of a cluster.
struct Node {
    id: i32,
    dir: PathBuf,
    client_port: u16,
    jvm: Option<Jvm>,
}

/// A running Kafka cluster; dropping it kills every JVM it started.
pub struct KafkaCluster {
    version: String,
    nodes: Vec<Node>,
    /// How long the (last) start took until Metadata listed every node.
    pub startup: Duration,
}

impl KafkaCluster {
    /// One node of Kafka `version` with replication factors of 1 (for the
    /// tests that need just a broker).
    pub fn single(version: &str) -> KafkaCluster {
        let mut props = BTreeMap::new();
        for (k, v) in [
            ("process.roles", "broker,controller"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "PLAINTEXT"),
            ("controller.listener.names", "CONTROLLER"),
            ("offsets.topic.replication.factor", "1"),
            ("transaction.state.log.replication.factor", "1"),
            ("transaction.state.log.min.isr", "1"),
            ("group.initial.rebalance.delay.ms", "0"),
        ] {
            props.insert(k.to_string(), v.to_string());
        }
        let plan = Plan {
            cluster_id: "braidTestsSingleNode0w".to_string(),
            nodes: vec![(1, props)],
            listeners: vec!["PLAINTEXT".into(), "CONTROLLER".into()],
            advertised: vec!["PLAINTEXT".into()],
            client: "PLAINTEXT".into(),
            controller: "CONTROLLER".into(),
        };
        Self::start(version, &plan)
    }

    /// The three nodes of `docker-compose.yml`, with its settings, on Kafka
    /// `version`. Tests that may run beside other tests of the same file use
    /// [`shared_compose`] instead.
    pub fn compose(version: &str) -> KafkaCluster {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
        let text = std::fs::read_to_string(&path).expect("read docker-compose.yml");
        let plan = compose_plan(&text).unwrap_or_else(|e| panic!("docker-compose.yml: {e}"));
        Self::start(version, &plan)
    }

    /// The Kafka version this cluster runs.
    pub fn version(&self) -> &str {
        &self.version
    }

    fn start(version: &str, plan: &Plan) -> KafkaCluster {
        let mut last = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let began = Instant::now();
            let mut cluster = KafkaCluster {
                version: version.to_string(),
                nodes: Vec::new(),
                startup: Duration::ZERO,
            };
            match cluster.try_start(plan) {
                Ok(()) => {
                    cluster.startup = began.elapsed();
                    let _ = writeln!(
                        std::io::stderr(),
                        "kafka {version}: {} node(s) ready in {:.1} s (attempt {attempt})",
                        cluster.nodes.len(),
                        cluster.startup.as_secs_f64()
                    );
                    return cluster;
                }
                Err(e) => {
                    let retry = cluster.log_tails(1000).contains("Address already in use");
                    last = format!("{e}\n{}", cluster.log_tails(40));
                    if !retry {
                        break;
                    }
                }
            }
        }
        panic!("could not start Kafka {version}: {last}");
    }

    fn try_start(&mut self, plan: &Plan) -> Result<(), String> {
        let ports = free_ports(plan.nodes.len() * plan.listeners.len());
        let port = |node: usize, name: &str| {
            let l = plan.listeners.iter().position(|n| n == name).unwrap();
            ports[node * plan.listeners.len() + l]
        };
        let voters: Vec<String> = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, (id, _))| format!("{id}@127.0.0.1:{}", port(i, &plan.controller)))
            .collect();
        for (i, (id, base)) in plan.nodes.iter().enumerate() {
            let dir = tempfile::Builder::new()
                .prefix(&format!("braid-kafka-{id}-"))
                .tempdir()
                .map_err(|e| format!("temp dir: {e}"))?
                .keep();
            let addr = |names: &[String]| {
                let list: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n}://127.0.0.1:{}", port(i, n)))
                    .collect();
                list.join(",")
            };
            let mut props = base.clone();
            for (k, v) in [
                ("num.network.threads", "2"),
                ("num.io.threads", "2"),
                ("background.threads", "2"),
                ("num.recovery.threads.per.data.dir", "1"),
                ("num.replica.fetchers", "1"),
                ("log.cleaner.threads", "1"),
                ("log.cleaner.dedupe.buffer.size", "16777216"),
            ] {
                props.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
            props.insert("node.id".into(), id.to_string());
            props.insert("listeners".into(), addr(&plan.listeners));
            props.insert("advertised.listeners".into(), addr(&plan.advertised));
            props.insert("controller.quorum.voters".into(), voters.join(","));
            props.insert("log.dirs".into(), dir.join("data").display().to_string());
            let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            std::fs::write(dir.join("server.properties"), text).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("log4j.properties"), LOG4J).map_err(|e| e.to_string())?;
            std::fs::write(dir.join("log4j2.properties"), LOG4J2).map_err(|e| e.to_string())?;
            self.nodes.push(Node {
                id: *id,
                dir,
                client_port: port(i, &plan.client),
                jvm: None,
            });
        }
        self.format(&plan.cluster_id)?;
        for i in 0..self.nodes.len() {
            self.spawn(i)?;
        }
        self.wait_listed(None, START_TIMEOUT)
    }

    /// `StorageTool format` on every node's directory, all at once.
    fn format(&mut self, cluster_id: &str) -> Result<(), String> {
        let children: Vec<(usize, Child)> = (0..self.nodes.len())
            .map(|i| {
                let dir = &self.nodes[i].dir;
                let child = self
                    .java(dir)
                    .args(["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c"])
                    .arg(dir.join("server.properties"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("spawn java: {e}"))?;
                Ok((i, child))
            })
            .collect::<Result<_, String>>()?;
        for (i, child) in children {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "StorageTool format of node {} failed ({}): {}{}",
                    self.nodes[i].id,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    }

    /// A `java` command with the jars of this cluster's version on the class
    /// path and the node's log settings (3.x reads the log4j 1.x file, 4.x
    /// the log4j 2 one; each ignores the other's property).
    fn java(&self, dir: &Path) -> Command {
        let mut cmd = Command::new("java");
        cmd.arg("-Xmx512m")
            .arg("-Xms128m")
            .arg("-Djava.awt.headless=true")
            .arg(format!("-Dkafka.logs.dir={}", dir.display()))
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                dir.join("log4j.properties").display()
            ))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", jars_dir(&self.version).display()));
        cmd
    }

    fn spawn(&mut self, i: usize) -> Result<(), String> {
        assert!(self.nodes[i].jvm.is_none(), "node {i} already runs");
        let dir = self.nodes[i].dir.clone();
        let java = self.java(&dir);
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(&dir)
            .arg(java.get_program())
            .args(java.get_args())
            .arg("kafka.Kafka")
            .arg(dir.join("server.properties"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn sh: {e}"))?;
        let stdin = wrapper.stdin.take();
        let mut line = String::new();
        BufReader::new(wrapper.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let pid = line
            .trim()
            .parse()
            .map_err(|_| format!("wrapper said {line:?}"))?;
        self.nodes[i].jvm = Some(Jvm {
            wrapper,
            stdin,
            pid,
        });
        Ok(())
    }

    /// Waits until Metadata from every running node (or only from node `only`)
    /// lists every node of the cluster.
    fn wait_listed(&self, only: Option<usize>, timeout: Duration) -> Result<(), String> {
        let want = self.nodes.len();
        let mut last = String::new();
        let ok = wait_until(timeout, || {
            for (i, node) in self.nodes.iter().enumerate() {
                if only.is_some_and(|o| o != i) {
                    continue;
                }
                let Some(jvm) = &node.jvm else { continue };
                if !alive(jvm.pid) {
                    last = format!("node {} exited", node.id);
                    return true;
                }
                match listed(node.client_port) {
                    Ok(n) if n == want => {}
                    Ok(n) => {
                        last = format!("node {} lists {n} of {want} brokers", node.id);
                        return false;
                    }
                    Err(e) => {
                        last = format!("node {}: {e}", node.id);
                        return false;
                    }
                }
            }
            last.clear();
            true
        });
        if ok && last.is_empty() {
            return Ok(());
        }
        Err(format!("{last} (after {timeout:?})"))
    }

    /// The bootstrap list of every node, `127.0.0.1:P1,127.0.0.1:P2,...`.
    pub fn bootstrap(&self) -> String {
        self.addrs().join(",")
    }

    /// Every node's client address, in node order.
    pub fn addrs(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.addr(i)).collect()
    }

    /// The client address of node `i` (an index, not a node id).
    pub fn addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.nodes[i].client_port)
    }

    /// The node id of node `i`.
    pub fn node_id(&self, i: usize) -> i32 {
        self.nodes[i].id
    }

    /// Kills node `i` with SIGKILL and waits for it to be gone.
    pub fn kill9(&mut self, i: usize) {
        self.signal_and_wait(i, Signal::SIGKILL, Duration::from_secs(10));
    }

    /// Sends SIGTERM to node `i` and waits up to `deadline` for a clean exit,
    /// returning its status (it is killed if it takes longer).
    pub fn sigterm(&mut self, i: usize, deadline: Duration) -> ExitStatus {
        self.signal_and_wait(i, Signal::SIGTERM, deadline)
    }

    fn signal_and_wait(&mut self, i: usize, sig: Signal, deadline: Duration) -> ExitStatus {
        let mut jvm = self.nodes[i].jvm.take().expect("node is not running");
        // The wrapper reaps the JVM only after `keep`, so its pid is not reused.
        let _ = kill(Pid::from_raw(jvm.pid), sig);
        if let Some(mut stdin) = jvm.stdin.take() {
            let _ = stdin.write_all(b"keep\n");
        }
        let start = Instant::now();
        loop {
            if let Some(status) = jvm.wrapper.try_wait().expect("wait for the wrapper") {
                return status;
            }
            if start.elapsed() > deadline {
                let _ = kill(Pid::from_raw(jvm.pid), Signal::SIGKILL);
                let _ = jvm.wrapper.wait();
                panic!(
                    "node {} did not exit within {deadline:?} after {sig}",
                    self.nodes[i].id
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts node `i` again (after [`kill9`](Self::kill9) or
    /// [`sigterm`](Self::sigterm)) on the same directory and ports, and waits
    /// until it lists every node again.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i)
            .unwrap_or_else(|e| panic!("restart node {i}: {e}"));
        if let Err(e) = self.wait_listed(Some(i), START_TIMEOUT) {
            panic!(
                "node {} did not come back: {e}\n{}",
                self.nodes[i].id,
                self.log_tails(40)
            );
        }
    }

    /// Starts every stopped node again at once (a quorum needs a majority, so
    /// after the whole cluster went down they cannot come back one by one)
    /// and waits until every node lists every node.
    pub fn restart_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].jvm.is_none() {
                self.spawn(i)
                    .unwrap_or_else(|e| panic!("restart node {i}: {e}"));
            }
        }
        if let Err(e) = self.wait_listed(None, START_TIMEOUT) {
            panic!("the cluster did not come back: {e}\n{}", self.log_tails(40));
        }
    }

    /// The JVM's process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<i32> {
        self.nodes[i].jvm.as_ref().map(|j| j.pid)
    }

    /// Whether node `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].jvm.as_ref().is_some_and(|j| alive(j.pid))
    }

    /// The last `lines` lines of every node's `server.log` and JVM output.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            for file in ["java.out", "server.log"] {
                let text = std::fs::read_to_string(n.dir.join(file)).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                let tail = all[all.len().saturating_sub(lines)..].join("\n");
                out.push_str(&format!("--- node {} {file} ---\n{tail}\n", n.id));
            }
        }
        out
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails(40));
        }
        for node in &mut self.nodes {
            if let Some(mut jvm) = node.jvm.take() {
                drop(jvm.stdin.take()); // the wrapper kills the JVM and removes the directory
                let _ = jvm.wrapper.wait();
            } else {
                let _ = std::fs::remove_dir_all(&node.dir);
            }
        }
    }
}

/// Whether process `pid` runs (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// How many brokers Metadata v1 from `127.0.0.1:port` lists.
fn listed(port: u16) -> Result<usize, String> {
    let mut conn =
        braid::client::Conn::connect(&format!("127.0.0.1:{port}")).map_err(|e| format!("{e:#}"))?;
    let mut req = MetadataRequest::default();
    req.topics = Some(Vec::new());
    let resp = conn.call(&req, 1).map_err(|e| format!("{e:#}"))?;
    Ok(resp.brokers.len())
}

/// The cluster [`shared_compose`] hands out: which version runs, and how many
/// [`SharedCluster`]s hold it.
struct Slot {
    current: Option<(String, Arc<RwLock<KafkaCluster>>)>,
    users: usize,
}

static SLOT: Mutex<Slot> = Mutex::new(Slot {
    current: None,
    users: 0,
});
/// Signalled whenever a [`SharedCluster`] is dropped.
static FREED: Condvar = Condvar::new();

/// The three-node cluster of `docker-compose.yml` on Kafka `version`, shared
/// by the tests of this test process; `None` (after a `SKIPPED:` line) when
/// Java or the jars are missing.
///
/// One version runs at a time: while tests hold the other version's cluster
/// this waits; then it stops that cluster (its JVMs are gone before the new
/// ones start) and starts this one. So a test file with tests on 3.9 and 4.4
/// runs at most three Kafka JVMs, and its tests of one version share one
/// cluster (they run together under the default test threads). The cluster
/// lives until another version needs the slot or the process ends (the JVMs
/// die with it, see the module docs).
pub fn shared_compose(version: &str, test: &str) -> Option<SharedCluster> {
    if !kafka_available(test, version) {
        return None;
    }
    let mut slot = SLOT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        match &slot.current {
            Some((v, cluster)) if v == version => {
                let cluster = cluster.clone();
                slot.users += 1;
                return Some(SharedCluster { cluster });
            }
            Some(_) if slot.users > 0 => {
                slot = FREED.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
            _ => {
                // Stop the other version's nodes first: never six JVMs at once.
                slot.current = None;
                let cluster = KafkaCluster::compose(version);
                slot.current = Some((version.to_string(), Arc::new(RwLock::new(cluster))));
            }
        }
    }
}

/// A hold on the cluster of [`shared_compose`]: [`read`](Self::read) for a
/// test that only uses it, [`write`](Self::write) for one that stops and
/// starts nodes (it then runs alone). Dropping it lets the other version
/// have the slot once no test holds this one.
pub struct SharedCluster {
    cluster: Arc<RwLock<KafkaCluster>>,
}

impl SharedCluster {
    /// The cluster, shared with the other readers.
    pub fn read(&self) -> RwLockReadGuard<'_, KafkaCluster> {
        self.cluster.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cluster, for this test alone (waits for the readers).
    pub fn write(&self) -> RwLockWriteGuard<'_, KafkaCluster> {
        self.cluster.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bootstrap list of every node.
    pub fn bootstrap(&self) -> String {
        self.read().bootstrap()
    }
}

impl Drop for SharedCluster {
    fn drop(&mut self) {
        let mut slot = SLOT.lock().unwrap_or_else(PoisonError::into_inner);
        slot.users -= 1;
        FREED.notify_all();
    }
}

/// Defines the modules `kafka_3_9` and `kafka_4_4`, each with one test per
/// listed scenario `fn(version: &str, test: &str)`, run on Kafka
/// [`KAFKA_3`] and [`KAFKA_4`]. Grouped by version, so that run one at a
/// time (in name order) a file's tests switch its shared cluster once.
#[macro_export]
macro_rules! on_kafka_versions {
    ($($scenario:ident),+ $(,)?) => {
        mod kafka_3_9 {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(
                        $crate::common::kafka_cluster::KAFKA_3,
                        concat!(stringify!($scenario), "-kafka_3_9"),
                    );
                }
            )+
        }
        mod kafka_4_4 {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(
                        $crate::common::kafka_cluster::KAFKA_4,
                        concat!(stringify!($scenario), "-kafka_4_4"),
                    );
                }
            )+
        }
    };
}
