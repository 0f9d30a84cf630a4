//! `docker-compose.yml`'s braid services, run as the file says, on real
//! Kafka: there is no Docker engine here, so the test starts the three nodes
//! of the compose file with the harness (`KafkaCluster::compose()`, Kafka
//! 3.9 with the file's broker settings) and runs each service's `command`,
//! read from the YAML, with the built `braid` binary standing for the image's
//! entrypoint. The compose network's names are mapped to the harness's:
//! `kafka-N:19092` to node N's address, `registry:8081` to the registry the
//! test started from the `registry` service (its `--listen 0.0.0.0:8081`
//! becomes `127.0.0.1:0`, a free port); `create-topics`' script runs with
//! `/opt/kafka/bin/kafka-topics.sh` standing for Kafka's TopicCommand from
//! the jars. Nothing else of a command is changed.
//!
//! Order as compose starts them: create-topics, the registry, the three
//! consumers, then the producer (it depends on them) and the demo. Asserted:
//! the producer exits 0 having sent every event; each consumer group has
//! committed the end of `events` in every partition (from oldest, newest and
//! in batches alike, since the newest one started before the producer); the
//! demo exits 0 with its verdict `verified`; the registry and the consumers
//! stop on Ctrl+C (exit 0 or 130). Skipped (`SKIPPED:`) without Java or the
//! Kafka jars; a failure under `CI=true`.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::kafka_cluster::{jars_dir, kafka_available, KafkaCluster, KAFKA_4};
use common::{run_with_timeout, wait_until};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_yaml::Value;

/// The compose file, with its merge keys applied.
fn compose() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
    let text = std::fs::read_to_string(&path).expect("read docker-compose.yml");
    let mut doc: Value = serde_yaml::from_str(&text).expect("docker-compose.yml is YAML");
    doc.apply_merge().expect("merge keys");
    doc
}

/// The names of the services built from this repository (`build`), in file order.
fn braid_services(doc: &Value) -> Vec<String> {
    doc["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .filter(|(_, s)| s.get("build").is_some())
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect()
}

/// A service's `command` as a list of arguments (list form only: braid's
/// services pass braid's arguments to the entrypoint without a shell).
fn command(doc: &Value, service: &str) -> Vec<String> {
    match &doc["services"][service]["command"] {
        Value::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().expect("a string argument").to_string())
            .collect(),
        other => panic!("{service}: command is not a list: {other:?}"),
    }
}

/// The compose network's addresses mapped to the test's.
struct Names {
    pairs: Vec<(String, String)>,
}

impl Names {
    fn map(&self, arg: &str) -> String {
        let mut arg = arg.to_string();
        for (from, to) in &self.pairs {
            arg = arg.replace(from.as_str(), to);
        }
        arg
    }
}

/// A service's process (its own process group), its output collected;
/// killed with its group when dropped.
struct Service {
    name: String,
    child: Option<Child>,
    out: Arc<Mutex<String>>,
}

impl Service {
    fn start(name: &str, args: &[String]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_braid"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let out = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = Arc::clone(&out);
            thread::spawn(move || {
                let mut pipe = pipe;
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Service {
            name: name.to_string(),
            child: Some(child),
            out,
        }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// Waits up to `deadline` for the service to exit on its own.
    fn wait(&mut self, deadline: Duration) -> ExitStatus {
        let mut status = None;
        wait_until(deadline, || {
            status = self.exited();
            status.is_some()
        });
        status.unwrap_or_else(|| {
            panic!(
                "{} did not exit within {deadline:?}:\n{}",
                self.name,
                self.output()
            )
        })
    }

    /// Ctrl+C (SIGINT to its group), then waits for the exit.
    fn interrupt(&mut self, deadline: Duration) -> ExitStatus {
        let pid = self.child.as_ref().unwrap().id() as i32;
        let _ = killpg(Pid::from_raw(pid), Signal::SIGINT);
        self.wait(deadline)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            if thread::panicking() {
                eprintln!("--- {} ---\n{}", self.name, self.out.lock().unwrap());
            }
        }
    }
}

/// `braid topic describe TOPIC -g GROUP --format json`: whether the group
/// has committed the end of the log in every partition (and the log is not empty).
fn committed_to_end(bootstrap: &str, topic: &str, group: &str) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_braid"));
    cmd.args([
        "topic", "describe", topic, "-g", group, "--format", "json", "-b", bootstrap,
    ]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(60));
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return false;
    };
    let parts = v["partitions"].as_array().cloned().unwrap_or_default();
    let total: i64 = parts
        .iter()
        .map(|p| p["latest"].as_i64().unwrap_or(0))
        .sum();
    total > 0
        && parts
            .iter()
            .all(|p| p["committed"].as_i64() == p["latest"].as_i64())
}

#[test]
fn compose_services_run_on_the_compose_cluster() {
    let test = "compose_services_run_on_the_compose_cluster";
    let doc = compose();
    let services = braid_services(&doc);
    let expected = [
        "registry",
        "producer",
        "consumer-oldest",
        "consumer-newest",
        "consumer-batches",
        "demo",
    ];
    assert_eq!(
        services, expected,
        "the braid services of docker-compose.yml"
    );
    for name in &services {
        let build = &doc["services"][name.as_str()]["build"];
        assert_eq!(
            build.as_str(),
            Some("."),
            "{name}: built from this repository"
        );
    }
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
            .expect("a Dockerfile at the top of the repository");
    assert!(
        dockerfile.contains("ENTRYPOINT [\"braid\"]"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("cargo build --release --locked --bin braid"),
        "{dockerfile}"
    );
    if !kafka_available(test, KAFKA_4) {
        return;
    }

    let cluster = KafkaCluster::compose(KAFKA_4);
    let bootstrap = cluster.bootstrap();
    let mut names = Names {
        pairs: (0..3)
            .map(|i| (format!("kafka-{}:19092", i + 1), cluster.addr(i)))
            .collect(),
    };

    // create-topics: its script, with Kafka's TopicCommand for kafka-topics.sh.
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("kafka-topics.sh");
    std::fs::write(
        &tool,
        format!(
            "#!/bin/sh\nexec java -Xmx256m -cp '{}/*' org.apache.kafka.tools.TopicCommand \"$@\"\n",
            jars_dir(KAFKA_4).display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = doc["services"]["create-topics"]["command"][0]
        .as_str()
        .expect("create-topics' script")
        .replace("$$", "$")
        .replace(
            "/opt/kafka/bin/kafka-topics.sh",
            &tool.display().to_string(),
        );
    let mut sh = Command::new("sh");
    sh.args(["-c", &names.map(&script)]);
    let out = run_with_timeout(&mut sh, None, Duration::from_secs(180));
    assert!(
        out.status.success(),
        "create-topics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        out.stderr
    );

    // The registry, on a free port instead of 0.0.0.0:8081.
    let registry_args: Vec<String> = command(&doc, "registry")
        .iter()
        .map(|a| {
            if a == "0.0.0.0:8081" {
                "127.0.0.1:0".to_string()
            } else {
                names.map(a)
            }
        })
        .collect();
    assert!(
        registry_args.contains(&"127.0.0.1:0".to_string()),
        "{registry_args:?}"
    );
    let registry = Service::start("registry", &registry_args);
    let mut registry_addr = String::new();
    assert!(
        wait_until(Duration::from_secs(60), || {
            let out = registry.output();
            match out.lines().find_map(|l| l.strip_prefix("listening on ")) {
                Some(addr) => {
                    registry_addr = addr.trim().to_string();
                    true
                }
                None => false,
            }
        }),
        "the registry printed no `listening on` line:\n{}",
        registry.output()
    );
    let mut registry = registry;
    names
        .pairs
        .push(("registry:8081".to_string(), registry_addr));

    let run = |name: &str, names: &Names| -> Service {
        let args: Vec<String> = command(&doc, name).iter().map(|a| names.map(a)).collect();
        assert!(
            !args
                .iter()
                .any(|a| a.contains("kafka-") || a.contains("registry:")),
            "{name}: a compose name is left in {args:?}"
        );
        Service::start(name, &args)
    };
    let mut consumers: Vec<(Service, &str)> = [
        ("consumer-oldest", "oldest"),
        ("consumer-newest", "newest"),
        ("consumer-batches", "batches"),
    ]
    .into_iter()
    .map(|(name, group)| {
        let args = command(&doc, name);
        assert!(
            args.windows(2).any(|w| w[0] == "-g" && w[1] == group),
            "{name}: not in group {group}: {args:?}"
        );
        (run(name, &names), group)
    })
    .collect();
    // The newest consumer reads from the end of the log as it starts: wait
    // until every consumer's workers run (a progress line after the
    // `consuming 'events' ...` line) before producing.
    let running = |out: &str| {
        out.split_once("consuming '")
            .is_some_and(|(_, after)| after.lines().skip(1).any(|l| l.contains("consumed")))
    };
    assert!(
        wait_until(Duration::from_secs(60), || consumers
            .iter()
            .all(|(c, _)| running(&c.output()))),
        "the consumers did not start their workers:\n{}",
        consumers
            .iter()
            .map(|(c, _)| format!("--- {} ---\n{}", c.name, c.output()))
            .collect::<String>()
    );

    let mut producer = run("producer", &names);
    let status = producer.wait(Duration::from_secs(180));
    assert!(
        status.success(),
        "producer: {status}\n{}",
        producer.output()
    );

    for (consumer, group) in &mut consumers {
        let done = wait_until(Duration::from_secs(120), || {
            committed_to_end(&bootstrap, "events", group)
        });
        assert!(
            done,
            "{}: group {group} did not commit the end of `events`:\n{}",
            consumer.name,
            consumer.output()
        );
        assert!(
            consumer.exited().is_none(),
            "{} exited:\n{}",
            consumer.name,
            consumer.output()
        );
    }

    let mut demo = run("demo", &names);
    let status = demo.wait(Duration::from_secs(300));
    let out = demo.output();
    assert!(status.success(), "demo: {status}\n{out}");
    assert!(out.contains("verified"), "demo: no verdict:\n{out}");

    for (consumer, _) in &mut consumers {
        let status = consumer.interrupt(Duration::from_secs(30));
        assert!(
            matches!(status.code(), Some(0 | 130)),
            "{}: {status} after Ctrl+C\n{}",
            consumer.name,
            consumer.output()
        );
    }
    let status = registry.interrupt(Duration::from_secs(30));
    assert!(
        matches!(status.code(), Some(0 | 130)),
        "registry: {status}\n{}",
        registry.output()
    );
}
