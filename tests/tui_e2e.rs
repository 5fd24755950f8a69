//! Real TUIs in tmux on namespaced hosts: what people on three machines would see.

mod support;

use std::time::{Duration, Instant};

use support::lan::Lan;
use support::tmux::{self, Screen};

#[test]
fn three_tuis_chat_see_each_other_and_see_one_quit_and_one_die() {
    if !tmux::available() {
        return;
    }
    let Some(lan) = Lan::new(3) else { return };
    let alice = Screen::open(lan.host(1), &["--name", "alice"], 110, 32);
    let bob = Screen::open(lan.host(2), &["--name", "bob"], 110, 32);
    let carol = Screen::open(lan.host(3), &["--name", "carol"], 110, 32);

    // Each lists the others in its peers pane.
    for (screen, others) in [(&alice, ["bob", "carol"]), (&bob, ["alice", "carol"]), (&carol, ["alice", "bob"])] {
        for other in others {
            screen.wait_for(&format!("● {other}"));
        }
        screen.wait_for("Peers 2/2");
    }
    alice.wait_for("10.231.0.2:12345");

    // Typed on one, read on the others, and it becomes the shared message.
    alice.type_text("hello from alice 世界");
    alice.key("Enter");
    for s in [&bob, &carol] {
        let screen = s.wait_for("alice: hello from alice");
        assert!(screen.contains("set by alice"), "shared message pane:\n{screen}");
    }
    bob.type_text("hi alice");
    bob.key("Enter");
    alice.wait_for("bob: hi alice");

    // Help overlay opens and closes.
    carol.key("F1");
    carol.wait_for("Esc or F1 to close");
    carol.key("Escape");
    carol.wait_until("help closed", |s| !s.contains("Esc or F1 to close"));

    // bob quits: the others see him leave at once.
    bob.type_text("/quit");
    bob.key("Enter");
    let t = Instant::now();
    let screen = alice.wait_for("← bob left");
    assert!(screen.contains("○ bob"), "{screen}");
    assert!(t.elapsed() < Duration::from_secs(5));
    bob.wait_until("bob's TUI exits", |_| bob.exited());

    // carol is killed: the others see her go down (her ring neighbour finds her process gone).
    let pid = carol.pid();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let screen = alice.wait_for("carol is down");
    assert!(screen.contains("✖ carol"), "{screen}");
    assert!(screen.contains("Peers 0/2"), "{screen}");
}

#[test]
fn setup_errors_leave_a_clean_terminal_and_one_line() {
    let Some(lan) = Lan::new(1) else { return };
    let h = lan.host(1);
    assert!(h.exec("ip", &["route", "del", "default"]).status.success());
    // In a real terminal: the error is one line on the normal screen, and the shell carries on.
    let screen = Screen::run_then_show(h, &["--name", "x"], 250, 10);
    let text = screen.wait_for("exit=2");
    let said: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("exit=")).collect();
    assert_eq!(said.len(), 1, "one line:\n{text}");
    assert!(said[0].starts_with("groupcast: ") && said[0].contains("--iface"), "{text}");
}
