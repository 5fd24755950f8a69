//! How the terminal UI ends and takes input at its edges (issue 7), with real TUIs in tmux on
//! namespaced hosts: a terminal closed under it, no terminal at all, a pasted block of lines.

mod support;

use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lan::{BIN, Lan};
use support::tmux::{self, Screen};

fn from_node(v: &Value, node: &str) -> bool {
    v["event"] == "message" && v["node"] == node
}

/// A TUI whose terminal goes away (its tmux server is killed, as when a window is closed or
/// SSH drops) says goodbye: a headless peer sees it `left` within a second, and the TUI's
/// process is gone.
#[test]
fn a_tui_whose_terminal_closes_leaves_at_once() {
    if !tmux::available() {
        return;
    }
    let Some(lan) = Lan::new(2) else { return };
    let mut peer = lan.host(2).node("watcher", &[]);
    let tui = Screen::open(lan.host(1), &["--name", "closer"], 100, 30);
    tui.wait_for("● watcher");
    let up = peer.wait_for("peer_up of the TUI", |v| v["event"] == "peer_up" && v["name"] == "closer");
    let id = up["node"].as_str().unwrap().to_string();
    // Let the ring link come up too: a process that dies without a leave is caught through it.
    std::thread::sleep(Duration::from_secs(1));
    let mark = peer.mark();
    let t = Instant::now();
    tui.kill_server();
    let down = peer.next_after(mark, Duration::from_secs(5), |v| v["event"] == "peer_down" && v["node"] == id.as_str());
    let took = t.elapsed();
    let down = down.unwrap_or_else(|| panic!("the TUI was not reported down within 5 s; saw:\n{}", peer.dump()));
    // Its leave, not a timeout: how soon is a benchmark's figure (scripts/bench.sh: left).
    assert_eq!(down["reason"], "left", "after {took:?}: {down}");
    // Nothing of it lingers in its host.
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let out = Command::new("ip").args(["netns", "pids", &lan.host(1).ns]).output().expect("ip netns pids");
        let pids = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if pids.is_empty() {
            break;
        }
        assert!(Instant::now() < end, "still running in the TUI's host: {pids}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `groupcast </dev/null` with its output in a pipe (no terminal at all) says what is wrong in
/// one line and exits with status 2, leaving no escape codes behind.
#[test]
fn no_terminal_at_all_is_one_line_and_exit_status_two() {
    let Some(lan) = Lan::new(1) else { return };
    let h = lan.host(1);
    let child = Command::new("ip")
        .args(["netns", "exec", &h.ns, BIN, "--name", "noterm"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn groupcast");
    let pid = child.id();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(10)) else {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        panic!("groupcast without a terminal was still running after 10 s");
    };
    let out = out.expect("wait for groupcast");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got:\n{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    assert!(!out.stdout.contains(&0x1b), "escape codes on stdout: {:?}", String::from_utf8_lossy(&out.stdout));
}

/// A block of three lines pasted into the compose box and sent with Enter arrives as one
/// message with the three lines in it; nothing is sent before Enter, and the next line typed is
/// a message of its own.
#[test]
fn a_pasted_block_of_lines_is_one_message() {
    if !tmux::available() {
        return;
    }
    let Some(lan) = Lan::new(2) else { return };
    let mut peer = lan.host(2).node("reader", &[]);
    let tui = Screen::open(lan.host(1), &["--name", "paster"], 100, 30);
    tui.wait_for("● reader");
    let up = peer.wait_for("peer_up of the TUI", |v| v["event"] == "peer_up" && v["name"] == "paster");
    let id = up["node"].as_str().unwrap().to_string();

    tui.paste("line one\nline two\nline three");
    std::thread::sleep(Duration::from_millis(700));
    let early = peer.events("message");
    assert!(early.is_empty(), "sent before Enter: {early:?}");
    tui.key("Enter");
    peer.next_after(0, Duration::from_secs(10), |v| from_node(v, &id))
        .unwrap_or_else(|| panic!("the pasted block never arrived; saw:\n{}", peer.dump()));
    // Anything else the paste turned into would arrive by now.
    std::thread::sleep(Duration::from_millis(1500));
    let texts: Vec<String> = peer
        .events("message")
        .iter()
        .filter(|v| from_node(v, &id))
        .map(|v| v["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, ["line one\nline two\nline three"], "the paste as messages");

    tui.type_text("after the paste");
    tui.key("Enter");
    let next = peer.wait_for("the next line", |v| from_node(v, &id) && v["text"] != texts[0].as_str());
    assert_eq!(next["text"], "after the paste");
}
