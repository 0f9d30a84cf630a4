//! The README runs as written: every ```` ```sh ```` block, in order, on the
//! binary under test, and every sample output (a ```` ```text ```` block
//! after a command block) has the shape of what its command really prints.
//!
//! How a block runs:
//!
//! - The whole run happens in private namespaces (`unshare -rnpf
//!   --mount-proc --kill-child`: user, network, pid and mount): the
//!   README's fixed ports (9092, 8081, ...) are free whatever else runs on
//!   the machine, and when the run ends in any way the kernel kills every
//!   process left in its pid namespace. The test re-executes itself there
//!   ([`INNER`] set) after bringing up the loopback interface.
//! - `PATH` starts with a directory holding a `cargo` shim (`cargo run
//!   --release -- ARGS` runs `braid ARGS`, `cargo build --release` does
//!   nothing) and the directory of the `braid` binary under test. Commands
//!   run with `bash -c` in a fresh working directory (files a block writes,
//!   like `v1.avsc`, land there for the blocks after it).
//! - A block is split into commands (`\` continuations and here-documents
//!   joined). A command ending in `&` starts in the background in its own
//!   process group and stays running until the end of the run, as in the
//!   reader's terminal; it must print its first line and must not fail
//!   before the end, when every one gets SIGINT (exit 0 or 130) and its
//!   group SIGKILL after a grace period, also when the test fails.
//! - Every other command runs in the foreground in its own process group:
//!   one that runs until Ctrl+C by nature ([`runs_until_interrupted`]: `braid
//!   broker`, `braid registry`, `braid consume` without `--exit-at-end`, ...)
//!   gets SIGINT after [`INTERRUPT_AFTER`] and must exit 0 or 130; any other
//!   must exit 0 within [`COMMAND_BUDGET`]. Either way no process it started
//!   may be left running.
//! - Commands naming the three-node cluster of `docker-compose.yml`
//!   (`localhost:9092,localhost:9093,localhost:9094`) run against the
//!   real-Kafka harness's three nodes ([`KafkaCluster::compose`], the
//!   compose file's settings) with those addresses rewritten to the
//!   harness's. Rewritten rather than bound to 9092-9094: the README's
//!   embedded broker holds 9092 for the whole run (as in the reader's
//!   terminal), and the harness picks its own ports. The harness stands in
//!   for `docker compose up -d`, so it creates `events` as the compose file's
//!   `create-topics` service does.
//! - A block is skipped only when the README marks it with
//!   `<!-- readme-test: skip (REASON) -->` right before it, and a line of
//!   a block with `<!-- readme-test: skip-line `PREFIX` (REASON) -->`; the
//!   test checks that what is skipped is exactly [`EXPECTED_SKIPS`].
//! - A sample output is the ```` ```text ```` block after a command block
//!   (prose between them, no heading): it is compared with what the block's
//!   first command printed, stderr (a header, progress) then stdout. Each of
//!   its lines, but `...`, must have the shape of a printed line, in order:
//!   the same words, names and columns; numbers are not compared
//!   ([`shape`]). Every mismatch is reported at the end of the run.

mod common;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use common::kafka_cluster::{kafka_available, KafkaCluster, KAFKA_4};
use common::process::Tracker;

/// Set in the environment of the re-executed test inside the namespaces.
const INNER: &str = "BRAID_README_TEST_INNER";

/// The libtest name of the test that runs the README.
const TEST: &str = "readme_blocks_run_in_order";

/// The three-node cluster's bootstrap list as the README writes it.
const COMPOSE_BROKERS: &str = "localhost:9092,localhost:9093,localhost:9094";

/// What the README marks as not run here: the start of each skipped command
/// (a whole block counts each of its commands). A new mark in the README must
/// be added here, with a reason the mark gives.
const EXPECTED_SKIPS: &[&str] = &[
    // `cargo test` itself, which runs this test (`bin/test` in the set-up
    // at the top and in "Tests").
    "bin/test",
    "bin/test",
    "bin/test --test registry",
    "tests/kafka/fetch.sh",
    "cargo test --test real_kafka",
    // Docker: the harness's three nodes stand in for the compose cluster.
    "docker compose up -d",
    "docker compose down",
    // Long benchmarks (minutes).
    "cargo build --release && N=2000000 ROUNDS=5 benches/avro_vs_json.sh",
    "cargo bench --bench decode",
    "cargo build --release && python3 benches/ctrl_c_latency.py",
    "tests/kafka/bench.sh",
    "cargo bench --bench broker_throughput",
    "BRAID_BENCH_MESSAGES=500000 cargo bench --bench broker_throughput",
    "braid bench  ",
    "braid bench --processor prime",
    "braid bench --export-json",
    "python3 benches/broker_vs_kafka.py",
    "python3 benches/default_path.py",
    "python3 benches/protocol_figures.py",
];

/// How long a command that runs until Ctrl+C runs before it gets SIGINT.
const INTERRUPT_AFTER: Duration = Duration::from_secs(4);
/// How long a command may take to stop after SIGINT.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long any other command may run.
const COMMAND_BUDGET: Duration = Duration::from_secs(240);
/// How long a background command may take to print its first line.
const BACKGROUND_START: Duration = Duration::from_secs(15);

/// One fenced code block of the README.
#[derive(Clone, Debug)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    /// Its info string (`sh`, `text`, ...).
    lang: String,
    /// Its content.
    text: String,
    /// The nearest heading above it.
    heading: String,
    /// `<!-- readme-test: skip (REASON) -->` right before it.
    skip: Option<String>,
    /// `<!-- readme-test: skip-line `PREFIX` (REASON) -->` right before it.
    skip_lines: Vec<(String, String)>,
    /// For a `text` block: the index of the `sh` block it is the output of
    /// (the code block right before it, under the same heading).
    output_of: Option<usize>,
}

/// Splits `readme` into its fenced code blocks, with their marks.
fn blocks(readme: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut heading = String::new();
    let mut marks: Vec<String> = Vec::new();
    let mut lines = readme.lines().enumerate();
    // Whether a heading came between the last code block and this one.
    let mut heading_since_block = true;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            let mut text = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            let mut skip = None;
            let mut skip_lines = Vec::new();
            for m in marks.drain(..) {
                if let Some(rest) = m.strip_prefix("skip-line ") {
                    let rest = rest.trim();
                    let prefix = rest
                        .strip_prefix('`')
                        .and_then(|r| r.split_once('`'))
                        .unwrap_or_else(|| panic!("README line {}: bad mark {m:?}", i + 1));
                    skip_lines.push((prefix.0.to_string(), reason(prefix.1)));
                } else if let Some(rest) = m.strip_prefix("skip") {
                    skip = Some(reason(rest));
                } else {
                    panic!("README line {}: unknown mark {m:?}", i + 1);
                }
            }
            let output_of = (lang == "text" && !heading_since_block)
                .then(|| out.len().checked_sub(1))
                .flatten()
                .filter(|&p| out[p].lang == "sh");
            out.push(Block {
                line: i + 1,
                lang: lang.trim().to_string(),
                text,
                heading: heading.clone(),
                skip,
                skip_lines,
                output_of,
            });
            heading_since_block = false;
        } else if let Some(mark) = trimmed
            .strip_prefix("<!-- readme-test:")
            .and_then(|m| m.strip_suffix("-->"))
        {
            marks.push(mark.trim().to_string());
        } else if trimmed.starts_with('#') {
            heading = trimmed.trim_start_matches('#').trim().to_string();
            heading_since_block = true;
            marks.clear();
        } else if !trimmed.is_empty() {
            // A mark belongs to the block right after it.
            marks.clear();
        }
    }
    out
}

/// The reason of a mark: the text in its parentheses.
fn reason(text: &str) -> String {
    text.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim()
        .to_string()
}

/// The commands of a shell block: one per line, with `\` continuations and
/// here-documents joined to their command; blank and comment lines dropped.
fn commands(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = block.lines();
    while let Some(first) = lines.next() {
        if first.trim().is_empty() || first.trim_start().starts_with('#') {
            continue;
        }
        let mut cmd = first.to_string();
        while cmd.ends_with('\\') {
            match lines.next() {
                Some(next) => {
                    cmd.push('\n');
                    cmd.push_str(next);
                }
                None => break,
            }
        }
        if let Some(word) = heredoc_word(&cmd) {
            for next in lines.by_ref() {
                cmd.push('\n');
                cmd.push_str(next);
                if next.trim() == word {
                    break;
                }
            }
        }
        out.push(cmd);
    }
    out
}

/// The terminating word of a here-document the command starts (`<<'EOF'`,
/// `<<"EOF"`, `<<EOF`, `<<-EOF`).
fn heredoc_word(cmd: &str) -> Option<String> {
    let at = cmd.find("<<")?;
    let rest = cmd[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .chars()
        .filter(|c| *c != '\'' && *c != '"')
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// `cmd` without its trailing comment (a `#` after whitespace, outside quotes).
fn strip_comment(cmd: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in cmd.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return cmd[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    cmd.trim_end()
}

/// Whether the command ends in `&`: `Some(the command without it)`.
fn background(cmd: &str) -> Option<String> {
    let bare = strip_comment(cmd);
    let without = bare.strip_suffix('&')?;
    (!without.ends_with('&')).then(|| without.trim_end().to_string())
}

/// The words of the first `braid` (or `cargo run --release --`) invocation
/// in `cmd`, from its subcommand on.
fn braid_args(cmd: &str) -> Option<Vec<String>> {
    let words: Vec<String> = strip_comment(cmd)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(i) = words
        .iter()
        .position(|w| w == "braid" || w.ends_with("/braid"))
    {
        return Some(words[i + 1..].to_vec());
    }
    let i = words
        .windows(4)
        .position(|w| w == ["cargo", "run", "--release", "--"])?;
    Some(words[i + 4..].to_vec())
}

/// The value of flag `long` (or `short`) in `args`, if given.
fn flag<'a>(args: &'a [String], short: &str, long: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == short || a == long {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(&format!("{long}="))
        }
    })
}

/// Whether a command runs until Ctrl+C by its nature, so the test stops it
/// with SIGINT: `braid broker` and `braid registry`; `braid consume` without
/// `--exit-at-end`; `braid produce` without `-n` (or `-n 0`); the demo's
/// `offsets` and `processors` scenarios without `--duration`; `kcat -C`
/// without `-e`.
fn runs_until_interrupted(cmd: &str) -> bool {
    let bare = strip_comment(cmd);
    if bare.split_whitespace().next() == Some("kcat") {
        let words: Vec<&str> = bare.split_whitespace().collect();
        return words.contains(&"-C") && !words.contains(&"-e");
    }
    let Some(args) = braid_args(cmd) else {
        return false;
    };
    let has = |f: &str| args.iter().any(|a| a == f);
    match args.first().map(String::as_str) {
        Some("broker" | "registry") => true,
        Some("consume") => !has("--exit-at-end"),
        Some("produce") => flag(&args, "-n", "--messages").is_none_or(|n| n == "0"),
        Some("demo") => {
            matches!(
                flag(&args, "", "--scenario"),
                Some("offsets" | "processors")
            ) && !has("--duration")
        }
        _ => false,
    }
}

/// A line's shape: numbers (with their `,` and `.` separators) become `#`,
/// a path ending in `/braid` becomes `braid`, runs of blanks one space.
fn shape(line: &str) -> String {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| {
            if w.ends_with("/braid") {
                return "braid".to_string();
            }
            let chars: Vec<char> = w.chars().collect();
            let mut out = String::new();
            let mut i = 0;
            while i < chars.len() {
                if chars[i].is_ascii_digit() {
                    while i < chars.len()
                        && (chars[i].is_ascii_digit()
                            || ((chars[i] == ',' || chars[i] == '.')
                                && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
                    {
                        i += 1;
                    }
                    out.push('#');
                } else {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            out
        })
        .collect();
    words.join(" ")
}

/// Checks that every line of `sample` (but `...` and blank ones) has the
/// shape of a line of `real`, in the same order; the error names the first
/// that does not.
fn same_shape(sample: &str, real: &str) -> Result<(), String> {
    let real: Vec<String> = real.lines().map(shape).collect();
    let mut at = 0;
    for line in sample.lines() {
        let want = shape(line);
        if want.is_empty() || want == "..." {
            continue;
        }
        match real[at..].iter().position(|r| *r == want) {
            Some(p) => at += p + 1,
            None => return Err(format!("no line shaped like {line:?} (shape {want:?})")),
        }
    }
    Ok(())
}

/// A command running in its own process group; dropping it SIGKILLs the group.
struct Group {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<thread::JoinHandle<()>>,
    tracker: Tracker,
}

impl Group {
    /// Starts `cmd` with `bash -c` in `dir` with `path` as its `PATH`.
    fn start(cmd: &str, dir: &Path, path: &str) -> Group {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start bash -c {cmd:?}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().expect("piped"), Arc::clone(&out)),
            drain(child.stderr.take().expect("piped"), Arc::clone(&err)),
        ];
        let tracker = Tracker::new(child.id() as i32);
        Group {
            child,
            out,
            err,
            readers,
            tracker,
        }
    }

    fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Sends `signal` to the whole group (as a terminal's Ctrl+C does).
    fn signal(&self, signal: Signal) {
        self.tracker.scan_now();
        let _ = killpg(self.pgid(), signal);
    }

    /// Its exit status, once it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for a README command")
    }

    /// Waits up to `deadline` for it to exit.
    fn wait(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if start.elapsed() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it printed on stdout so far.
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// What it printed on stderr so far.
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Its output for a failure message.
    fn report(&self) -> String {
        format!(
            "--- stdout:\n{}--- stderr (tail):\n{}",
            self.stdout(),
            tail(&self.stderr(), 3000)
        )
    }

    /// After it exited: waits for the pipes to close and checks that no
    /// process it started is left.
    fn finish(&mut self, what: &str) {
        let start = Instant::now();
        while self.readers.iter().any(|r| !r.is_finished()) {
            if start.elapsed() > Duration::from_secs(10) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.tracker.assert_all_gone(
            Duration::from_secs(10),
            &format!("{what}\n{}", self.report()),
        );
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.tracker.kill_all();
    }
}

/// Copies `src` into `buf` on a thread until it closes.
fn drain(mut src: impl Read + Send + 'static, buf: Arc<Mutex<Vec<u8>>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = src.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    })
}

/// The last `max` bytes of `s` (on a char boundary).
fn tail(s: &str, max: usize) -> &str {
    let mut at = s.len().saturating_sub(max);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}

/// The background commands of the run: stopped at the end, as a reader's
/// terminal would be closed; dropping it (a failing run) SIGKILLs them.
#[derive(Default)]
struct Backgrounds(Vec<(String, Group)>);

impl Backgrounds {
    /// Panics if one of them has failed (a non-zero exit) so far.
    fn check(&mut self) {
        for (cmd, g) in &mut self.0 {
            if let Some(status) = g.exited() {
                assert!(
                    status.success(),
                    "background command {cmd:?} exited with {status}\n{}",
                    g.report()
                );
            }
        }
    }

    /// Ctrl+C to each, then checks that each exits 0 or 130 and leaves
    /// nothing behind.
    fn stop_all(&mut self) {
        self.check();
        for (_, g) in self.0.iter().rev() {
            g.signal(Signal::SIGINT);
        }
        for (cmd, mut g) in self.0.drain(..).rev() {
            let status = g.wait(STOP_GRACE);
            let report = g.report();
            let status = status.unwrap_or_else(|| {
                panic!("{cmd:?} did not stop within {STOP_GRACE:?} of Ctrl+C\n{report}")
            });
            assert!(
                matches!(status.code(), Some(0 | 130)),
                "{cmd:?} exited with {status} after Ctrl+C (0 or 130 expected)\n{report}"
            );
            g.finish(&cmd);
        }
    }
}

/// The shim that stands for `cargo` in the README's commands.
const CARGO_SHIM: &str = r#"#!/bin/sh
# tests/readme.rs: the README's cargo commands on the braid binary under test.
if [ "$1" = run ] && [ "$2" = --release ] && [ "$3" = -- ]; then shift 3; exec braid "$@"; fi
if [ "$*" = "build --release" ]; then exit 0; fi
echo "tests/readme.rs: 'cargo $*' is not one the README test runs" >&2
exit 97
"#;

/// The ports named in the README's shell blocks (`localhost:P`, `127.0.0.1:P`).
fn readme_ports(blocks: &[Block]) -> Vec<u16> {
    let mut ports: Vec<u16> = blocks
        .iter()
        .filter(|b| b.lang == "sh")
        .flat_map(|b| {
            b.text
                .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == ':'))
                .filter_map(|w| {
                    let (host, port) = w.rsplit_once(':')?;
                    (host == "localhost" || host == "127.0.0.1")
                        .then(|| port.parse().ok())
                        .flatten()
                })
                .collect::<Vec<u16>>()
        })
        .filter(|&p| p != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Runs inside the namespaces: every block in order.
fn run_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let blocks = blocks(&readme);

    let work = tempfile::Builder::new()
        .prefix("braid-readme-")
        .tempdir()
        .expect("a working directory");
    let shim = work.path().join(".shim");
    std::fs::create_dir(&shim).unwrap();
    std::fs::write(shim.join("cargo"), CARGO_SHIM).unwrap();
    std::fs::set_permissions(
        shim.join("cargo"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_braid")).parent().unwrap();
    let path = format!(
        "{}:{}:{}",
        shim.display(),
        exe_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // The /tmp paths the README names start absent (the namespaces keep
    // ports private, not files).
    let tmp_paths: Vec<PathBuf> = readme
        .split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')')
        .filter(|w| w.starts_with("/tmp/braid-") && !w.ends_with('*'))
        .map(PathBuf::from)
        .collect();
    let tmp_cleanup = TmpPaths(tmp_paths);
    tmp_cleanup.clean();

    let mut backgrounds = Backgrounds::default();
    // The three nodes take half a minute or more to start: they start on a
    // thread now, and the first command that needs them waits for them.
    let needs_cluster = blocks
        .iter()
        .filter(|b| b.lang == "sh" && b.skip.is_none())
        .any(|b| b.text.contains(COMPOSE_BROKERS));
    // Java or the Kafka jars are missing (reported once, as a skip).
    let no_kafka = needs_cluster && !kafka_available(TEST, KAFKA_4);
    let mut starting = (needs_cluster && !no_kafka).then(|| {
        let (blocks, path, dir) = (blocks.clone(), path.clone(), work.path().to_path_buf());
        thread::spawn(move || start_cluster(&blocks, &path, &dir))
    });
    let mut cluster: Option<KafkaCluster> = None;
    let ports = readme_ports(&blocks);
    let mut skipped: Vec<String> = Vec::new();
    let mut outputs: Vec<Option<String>> = vec![None; blocks.len()];
    // Sample outputs that do not match, reported once every block has run.
    let mut mismatches: Vec<String> = Vec::new();
    let began = Instant::now();

    for (index, block) in blocks.iter().enumerate() {
        if block.lang == "text" {
            if let Some(of) = block.output_of {
                let real = outputs[of].as_deref().unwrap_or_else(|| {
                    panic!(
                        "README line {}: a sample output under a block that did not run",
                        block.line
                    )
                });
                match same_shape(&block.text, real) {
                    Ok(()) => log(&format!(
                        "README line {}: sample output matches",
                        block.line
                    )),
                    Err(e) => {
                        let m = format!(
                            "README line {} ({}): the sample output does not match what \
                             its command printed: {e}\n--- sample:\n{}--- real output:\n{real}",
                            block.line, block.heading, block.text
                        );
                        log(&m);
                        mismatches.push(m);
                    }
                }
            }
            continue;
        }
        if block.lang != "sh" {
            continue;
        }
        for (n, cmd) in commands(&block.text).into_iter().enumerate() {
            let first_line = cmd.lines().next().unwrap_or_default().trim();
            if let Some(why) = &block.skip {
                log(&format!(
                    "README line {}: skipped ({why}): {first_line}",
                    block.line
                ));
                skipped.push(first_line.to_string());
                continue;
            }
            if let Some((_, why)) = block
                .skip_lines
                .iter()
                .find(|(prefix, _)| first_line.starts_with(prefix.as_str()))
            {
                log(&format!(
                    "README line {}: skipped ({why}): {first_line}",
                    block.line
                ));
                skipped.push(first_line.to_string());
                continue;
            }
            let mut run = cmd.clone();
            // The harness holds the README's ports while its nodes start (so
            // it does not pick one of them): a command that may listen on one
            // (a server, or one naming the port) waits for it to be done.
            let may_listen = background(&run).is_some()
                || runs_until_interrupted(&run)
                || ports.iter().any(|p| run.contains(&format!(":{p}")));
            if run.contains(COMPOSE_BROKERS) || may_listen {
                if let Some(start) = starting.take() {
                    log("waiting for the three Kafka nodes");
                    match start.join() {
                        Ok(c) => cluster = Some(c),
                        Err(e) => std::panic::resume_unwind(e),
                    }
                }
            }
            if run.contains(COMPOSE_BROKERS) {
                if no_kafka {
                    log(&format!(
                        "README line {}: no Kafka here: {first_line}",
                        block.line
                    ));
                    continue;
                }
                let bootstrap = cluster.as_ref().unwrap().bootstrap();
                run = run.replace(COMPOSE_BROKERS, &bootstrap);
            }
            let place = format!(
                "README line {} ({}), command {}",
                block.line,
                block.heading,
                n + 1
            );
            if let Some(bg) = background(&run) {
                log(&format!("{place}: background: {first_line}"));
                let mut g = Group::start(&bg, work.path(), &path);
                let start = Instant::now();
                while g.stdout().is_empty() && g.stderr().is_empty() && g.exited().is_none() {
                    assert!(
                        start.elapsed() < BACKGROUND_START,
                        "{place}: {cmd:?} printed nothing within {BACKGROUND_START:?}"
                    );
                    thread::sleep(Duration::from_millis(50));
                }
                // A moment for it to get going (a reader types the next line).
                thread::sleep(Duration::from_millis(500));
                backgrounds.0.push((cmd.clone(), g));
                backgrounds.check();
                continue;
            }
            let long = runs_until_interrupted(&run);
            log(&format!(
                "{place}: {}{first_line}",
                if long { "until Ctrl+C: " } else { "" }
            ));
            let t = Instant::now();
            let mut g = Group::start(&run, work.path(), &path);
            let (status, interrupted) = match g.wait(if long {
                INTERRUPT_AFTER
            } else {
                COMMAND_BUDGET
            }) {
                Some(s) => (s, false),
                None if long => {
                    g.signal(Signal::SIGINT);
                    let s = g.wait(STOP_GRACE).unwrap_or_else(|| {
                        panic!(
                            "{place}: {cmd:?} did not stop within {STOP_GRACE:?} of Ctrl+C\n{}",
                            g.report()
                        )
                    });
                    (s, true)
                }
                None => panic!(
                    "{place}: {cmd:?} did not finish within {COMMAND_BUDGET:?}\n{}",
                    g.report()
                ),
            };
            let ok = match status.code() {
                Some(0) => true,
                Some(130) => interrupted,
                _ => false,
            };
            assert!(
                ok,
                "{place}: {cmd:?} exited with {status}{}\n{}",
                if interrupted { " after Ctrl+C" } else { "" },
                g.report()
            );
            g.finish(&place);
            log(&format!("  {status} in {:.1} s", t.elapsed().as_secs_f64()));
            if n == 0 {
                // As a terminal shows it, roughly: a command's header and
                // progress (stderr) come before its summary (stdout).
                outputs[index] = Some(format!("{}{}", g.stderr(), g.stdout()));
            }
            backgrounds.check();
        }
    }
    backgrounds.stop_all();
    drop(cluster);
    log(&format!(
        "README ran in {:.0} s",
        began.elapsed().as_secs_f64()
    ));
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));

    // Each skipped command counts for the expected entry that is the
    // longest start of it; together they must be the expected list.
    let mut matched: Vec<String> = skipped
        .iter()
        .map(|s| {
            EXPECTED_SKIPS
                .iter()
                .filter(|e| s.starts_with(*e))
                .max_by_key(|e| e.len())
                .map_or_else(|| format!("(not expected) {s}"), |e| e.to_string())
        })
        .collect();
    matched.sort();
    let mut expected: Vec<String> = EXPECTED_SKIPS.iter().map(|e| e.to_string()).collect();
    expected.sort();
    assert_eq!(
        matched, expected,
        "the README's skipped commands are not the expected ones; skipped: {skipped:#?}"
    );
}

/// Starts the harness's three nodes (the compose file's settings) while the
/// README's own ports are held, so the harness does not pick one of them,
/// and creates `events` as the compose file's `create-topics` does.
fn start_cluster(blocks: &[Block], path: &str, dir: &Path) -> KafkaCluster {
    let held: Vec<std::net::TcpListener> = readme_ports(blocks)
        .into_iter()
        .filter_map(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok())
        .collect();
    let cluster = KafkaCluster::compose(KAFKA_4);
    drop(held);
    let create = format!(
        "braid topic create events --partitions 6 --replication 3 -b {}",
        cluster.bootstrap()
    );
    let mut g = Group::start(&create, dir, path);
    let status = g.wait(COMMAND_BUDGET).expect("topic create finishes");
    assert!(status.success(), "{create}: {status}\n{}", g.report());
    g.finish(&create);
    cluster
}

/// Removes the README's `/tmp/braid-*` paths when made and when dropped.
struct TmpPaths(Vec<PathBuf>);

impl TmpPaths {
    fn clean(&self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for TmpPaths {
    fn drop(&mut self) {
        self.clean();
    }
}

/// A progress line on the real stderr (seen with `--nocapture`).
fn log(line: &str) {
    let _ = writeln!(std::io::stderr(), "readme: {line}");
}

/// Every shell block of the README runs, in order, and the sample outputs
/// have the shape of what their commands print (see the module comment).
#[test]
fn readme_blocks_run_in_order() {
    if std::env::var_os(INNER).is_some() {
        run_readme();
        return;
    }
    let probe = Command::new("unshare")
        .args(["-rnpf", "--mount-proc", "--kill-child", "sh", "-c"])
        .arg("ip link set lo up")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !probe {
        common::skip(
            TEST,
            "cannot make private namespaces (`unshare -rnpf --mount-proc` and `ip link set lo up`)",
        );
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new("unshare");
    cmd.args(["-rnpf", "--mount-proc", "--kill-child", "sh", "-c"])
        .arg("ip link set lo up && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .stdin(Stdio::null());
    // SAFETY: the closure only calls prctl(2), which is async-signal-safe.
    // A test process killed outright (its thread gone) takes the
    // namespaces with it: `unshare` gets SIGKILL, and through `--kill-child`
    // so does everything in the pid namespace.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            Ok(())
        });
    }
    let mut child = ChildGuard(cmd.spawn().expect("start the README run in its namespaces"));
    let status = child.0.wait().expect("wait for the README run");
    assert!(
        status.success(),
        "the README run failed ({status}); its output is above"
    );
}

/// Kills (and with it, through `--kill-child`, the whole pid namespace) and
/// reaps the namespaced run when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The README parsing on a small example: marks, sample outputs, commands
/// (continuations, here-documents, `&`), what runs until Ctrl+C, shapes.
#[test]
fn blocks_and_commands_are_parsed() {
    let md = "# A\n\n<!-- readme-test: skip (needs Docker) -->\n```sh\ndocker compose up\n```\n\n\
              ```sh\nbraid broker &   # on 9092\ncat > a <<'EOF'\nx\nEOF\ncurl -s \\\n  http://x\n```\n\
              Some text.\n\n```text\nout 1\n```\n## B\n```text\nnot an output\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 4);
    assert_eq!(b[0].skip.as_deref(), Some("needs Docker"));
    assert_eq!(b[1].skip, None);
    assert_eq!(b[2].output_of, Some(1));
    assert_eq!(b[3].output_of, None);
    let c = commands(&b[1].text);
    assert_eq!(c.len(), 3, "{c:?}");
    assert_eq!(background(&c[0]).as_deref(), Some("braid broker"));
    assert_eq!(c[1], "cat > a <<'EOF'\nx\nEOF");
    assert_eq!(background("a && b"), None);
    assert!(runs_until_interrupted(
        "braid consume -t e -g g   # until Ctrl+C"
    ));
    assert!(!runs_until_interrupted("braid consume -t e --exit-at-end"));
    assert!(runs_until_interrupted("braid produce -t e --rate 0.2"));
    assert!(!runs_until_interrupted("braid produce -t e -n 10"));
    assert!(runs_until_interrupted("cargo run --release -- broker"));
    assert!(runs_until_interrupted("braid demo --scenario offsets"));
    assert!(!runs_until_interrupted(
        "braid demo --scenario offsets --duration 5"
    ));
    assert!(!runs_until_interrupted("kcat -C -b x -t t -e"));
    assert_eq!(
        shape("  [broker] target/release/braid x --listen 127.0.0.1:0   0:33,333 1.5 ms"),
        "[broker] braid x --listen #:# #:# # ms"
    );
    assert!(same_shape("a 1\n...\nc 2\n", "a 10\nb\nc 3\n").is_ok());
    assert!(same_shape("c 2\na 1\n", "a 10\nc 3\n").is_err());
}
