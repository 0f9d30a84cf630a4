//! The demo's live view and verdict on a real terminal (issue 22, point 3):
//! `braid demo` runs inside tmux at 80×24 and at 200×50, and the pane is
//! captured (`tmux capture-pane -p -J -S -`: the screen and its scrollback,
//! wrapped lines joined back) while the live view is up and after the
//! verdict. What a newcomer sees must hold:
//!
//! - no line is wider than the terminal (a wrapped line comes back joined,
//!   wider than the pane);
//! - the live view repaints in place: its header line (`N.Ns  produced ...`)
//!   and its table header are on the screen and in the scrollback once,
//!   never scrolled up as copies, and are gone once the verdict is drawn;
//! - with more workers than the terminal has rows, the view keeps to the
//!   screen and says how many rows it leaves out;
//! - the verdict is there, and says `verified`.
//!
//! Each tmux server is the test's own (`tmux -L <unique socket>`); a guard
//! kills it and every process that descended from its pane, also when the
//! test fails. tmux missing: SKIPPED (under `CI=true`, `.ci/run` installs it).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::peer_available;
use common::process::Tracker;

/// Generous for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(180);

/// A tmux server of this test's own, with one pane running a command.
struct Tmux {
    socket: String,
    tracker: Option<Tracker>,
}

impl Tmux {
    /// Starts `command` (a shell line) in a detached session of
    /// `cols`×`rows` (the status line off, so the pane is the whole size).
    fn start(name: &str, cols: u16, rows: u16, command: &str) -> Tmux {
        let socket = format!("braid-{}-{name}", std::process::id());
        let mut t = Tmux {
            socket,
            tracker: None,
        };
        let size = (cols.to_string(), rows.to_string());
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "view",
            "-x",
            &size.0,
            "-y",
            &size.1,
            command,
        ]);
        t.tmux(&["set-option", "-g", "status", "off"]);
        t.tmux(&["set-option", "-g", "history-limit", "10000"]);
        let pid: i32 = t
            .tmux(&["display-message", "-p", "-t", "view", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid");
        t.tracker = Some(Tracker::new(pid));
        t
    }

    /// Runs one tmux command on this server; returns its stdout.
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's (columns, rows).
    fn size(&self) -> (usize, usize) {
        let s = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            "view",
            "#{pane_width} #{pane_height}",
        ]);
        let mut it = s.split_whitespace().map(|x| x.parse::<usize>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    }

    /// The screen and its scrollback, wrapped lines joined (so a line wider
    /// than the pane comes back wider than the pane).
    fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "view"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // The tracker's own Drop SIGKILLs whatever of the demo still runs.
        if let Some(t) = self.tracker.take() {
            t.kill_all();
        }
    }
}

/// A child process, SIGKILLed and reaped when dropped (also when a test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a line is the live view's header (`  12.3s  produced ...`).
fn is_live_head(l: &str) -> bool {
    let t = l.trim_start();
    t.split_once("s  produced ")
        .is_some_and(|(secs, _)| secs.parse::<f64>().is_ok())
}

/// Whether a line is the live view's table header.
fn is_table_head(l: &str) -> bool {
    l.contains("pid") && l.contains("partitions") && l.contains("consumed") && l.contains("/s")
}

/// Lines of `screen` wider than `cols` characters.
fn too_wide(screen: &str, cols: usize) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.trim_end().chars().count() > cols)
        .map(|l| format!("{} chars: {l}", l.trim_end().chars().count()))
        .collect()
}

/// Runs the demo in a `cols`×`rows` terminal and checks every capture.
fn demo_fits(test: &str, cols: u16, rows: u16, workers: u32) {
    if !peer_available(test, "tmux", Command::new("tmux").arg("-V")) {
        return;
    }
    let braid = env!("CARGO_BIN_EXE_braid");
    let n = workers.to_string();
    let command = format!(
        "{braid} demo -n 60000 --rate 15000 --partitions {n} --processes {n} --processor count; \
         echo DEMO-EXIT $?; sleep 600"
    );
    let tmux = Tmux::start(test, cols, rows, &command);
    let (w, h) = tmux.size();
    assert_eq!((w, h), (cols as usize, rows as usize), "pane size");
    let started = Instant::now();
    let mut live_seen = 0;
    let screen = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "{test}: the demo did not finish within {DEADLINE:?}\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(300));
        let screen = tmux.capture();
        let wide = too_wide(&screen, w);
        assert!(
            wide.is_empty(),
            "{test}: lines wider than {w}:\n{}\n---\n{screen}",
            wide.join("\n")
        );
        if screen.contains("DEMO-EXIT") {
            break screen;
        }
        let heads = screen.lines().filter(|l| is_live_head(l)).count();
        let table_heads = screen.lines().filter(|l| is_table_head(l)).count();
        assert!(
            heads <= 1 && table_heads <= 1,
            "{test}: the live view scrolled instead of repainting in place \
             ({heads} header lines, {table_heads} table headers):\n{screen}"
        );
        if heads == 1 {
            live_seen += 1;
            // The view keeps to the screen: head, table header and the
            // worker rows (or a line saying how many are left out).
            let view: Vec<&str> = screen
                .lines()
                .skip_while(|l| !is_live_head(l))
                .take_while(|l| !l.trim().is_empty())
                .collect();
            assert!(
                view.len() < h,
                "{test}: a live view of {} lines on {h} rows:\n{screen}",
                view.len()
            );
            if workers as usize + 2 >= h {
                assert!(
                    view.iter().any(|l| l.contains("more rows")),
                    "{test}: {workers} workers on {h} rows, and nothing says rows are left out:\n{screen}"
                );
            }
        }
    };
    assert!(
        live_seen >= 2,
        "{test}: the live view was on screen in {live_seen} captures\n{screen}"
    );
    assert!(
        screen.contains("DEMO-EXIT 0"),
        "{test}: the demo failed\n{screen}"
    );
    assert!(
        screen.lines().any(|l| l.starts_with("verified: missing 0")),
        "{test}: no verdict\n{screen}"
    );
    // Cleared before the verdict: no copy of the live view is left anywhere.
    assert_eq!(
        screen.lines().filter(|l| is_live_head(l)).count(),
        0,
        "{test}: the live view was left behind\n{screen}"
    );
    assert!(
        screen.lines().any(|l| l.starts_with("duplicated")),
        "{test}: the verdict table is cut\n{screen}"
    );
}

#[test]
fn demo_fits_an_80_column_terminal() {
    demo_fits("demo_fits_an_80_column_terminal", 80, 24, 6);
}

#[test]
fn demo_with_more_workers_than_rows_keeps_to_the_screen() {
    demo_fits(
        "demo_with_more_workers_than_rows_keeps_to_the_screen",
        80,
        24,
        30,
    );
}

#[test]
fn demo_fits_a_200_column_terminal() {
    demo_fits("demo_fits_a_200_column_terminal", 200, 50, 6);
}

/// `braid consume`'s supervisor view at 80×24: the workers' rows fit, the
/// view repaints in place while events arrive, and the summary after
/// Ctrl+C fits too.
#[test]
fn consume_view_fits_an_80_column_terminal() {
    let test = "consume_view_fits_an_80_column_terminal";
    if !peer_available(test, "tmux", Command::new("tmux").arg("-V")) {
        return;
    }
    let broker = common::Broker::start(&["--topic", "view:8"]);
    let addr = broker.addr();
    let braid = env!("CARGO_BIN_EXE_braid");
    // A producer that keeps the consumer busy for the whole test.
    let producer = KillOnDrop(
        Command::new(braid)
            .args([
                "produce", "-b", &addr, "-t", "view", "-j", "2", "--rate", "2000",
            ])
            .args(["--key", "none", "--format", "json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start braid produce"),
    );
    let command = format!(
        "{braid} consume -b {addr} -t view -g view --processes 8 -o earliest; \
         echo CONSUME-EXIT $?; sleep 600"
    );
    let tmux = Tmux::start(test, 80, 24, &command);
    let (w, _) = tmux.size();
    let started = Instant::now();
    let mut live_seen = 0;
    while live_seen < 6 {
        assert!(
            started.elapsed() < DEADLINE,
            "{test}: no live view within {DEADLINE:?}\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(300));
        let screen = tmux.capture();
        let wide = too_wide(&screen, w);
        assert!(
            wide.is_empty(),
            "{test}: lines wider than {w}:\n{}\n---\n{screen}",
            wide.join("\n")
        );
        let heads = screen
            .lines()
            .filter(|l| {
                l.trim_start()
                    .split_once("s  consumed ")
                    .is_some_and(|(secs, _)| secs.parse::<f64>().is_ok())
            })
            .count();
        let table_heads = screen.lines().filter(|l| is_table_head(l)).count();
        assert!(
            heads <= 1 && table_heads <= 1,
            "{test}: the live view scrolled ({heads} header lines, {table_heads} table headers):\n{screen}"
        );
        if heads == 1
            && screen
                .lines()
                .any(|l| l.trim_start().starts_with("worker 7"))
        {
            live_seen += 1;
        }
    }
    tmux.tmux(&["send-keys", "-t", "view", "C-c"]);
    let screen = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "{test}: consume did not stop\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(300));
        let screen = tmux.capture();
        if screen.contains("CONSUME-EXIT") {
            break screen;
        }
    };
    let wide = too_wide(&screen, w);
    assert!(
        wide.is_empty(),
        "{test}: lines wider than {w}:\n{}\n---\n{screen}",
        wide.join("\n")
    );
    drop(producer);
}
