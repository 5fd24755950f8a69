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
    eprintln!("bob's leave on alice's screen after {:?}", t.elapsed());
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
    // In a real terminal: a mistake is one line on the normal screen, and the shell carries on.
    let screen = Screen::run_then_show(h, &["--name", "x", "--iface", "nosuch0"], 250, 10);
    let text = screen.wait_for("exit=2");
    let said: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("exit=")).collect();
    assert_eq!(said.len(), 1, "one line:\n{text}");
    assert!(said[0].starts_with("groupcast: ") && said[0].contains("--iface"), "{text}");
    // No route yet (a laptop between networks): it says it waits, and opens when the route comes.
    assert!(h.exec("ip", &["route", "del", "default"]).status.success());
    let screen = Screen::open(h, &["--name", "y"], 120, 30);
    screen.wait_for("waiting for the network");
    assert!(h.exec("ip", &["route", "add", "default", "dev", "eth0"]).status.success());
    screen.wait_for("Compose");
}

#[test]
fn names_complete_with_tab_a_mention_stands_out_and_ctrl_f_finds_it() {
    if !tmux::available() {
        return;
    }
    let Some(lan) = Lan::new(2) else { return };
    let alice = Screen::open(lan.host(1), &["--name", "alice"], 100, 30);
    let bob = Screen::open(lan.host(2), &["--name", "bob"], 100, 30);
    bob.wait_for("● alice");
    alice.wait_for("● bob");
    // Bob types "al", Tab: "alice: ", and says something to her.
    bob.type_text("al");
    bob.key("Tab");
    bob.wait_until("the completed name", |s| s.contains("› alice: "));
    bob.type_text("lunch at noon?");
    bob.key("Enter");
    alice.wait_for("bob: alice: lunch at noon?");
    // On alice's screen the line that names her is bold bright magenta (colour 13; tmux writes
    // it as 38;5;13 or 95).
    let ansi = alice.ansi();
    // (The last such row: the first is the shared message pane's.)
    let line = ansi.lines().rfind(|l| l.contains("lunch at noon?")).expect("the line");
    let magenta = |l: &str| l.contains("38;5;13m") || l.contains("[95m");
    assert!(line.contains("\u{1b}[1m") && magenta(line), "not marked as naming her: {line:?}");
    // The same line from bob's side, which does not name bob, is not.
    bob.wait_for("bob: alice: lunch at noon?");
    let theirs = bob.ansi();
    let own = theirs.lines().rfind(|l| l.contains("lunch at noon?")).unwrap_or_else(|| panic!("{theirs}"));
    assert!(!magenta(own), "{own:?}");
    // Alice says more, then finds the question again with Ctrl-F.
    for i in 0..30 {
        alice.type_text(&format!("filler {i}"));
        alice.key("Enter");
    }
    alice.wait_for("filler 29");
    alice.key("C-f");
    alice.type_text("noon");
    let found = alice.wait_until("the search's match", |s| s.contains("1 matching line"));
    assert!(found.contains("lunch at noon?") && found.contains("find: noon"), "{found}");
    alice.key("Escape");
    alice.wait_until("the compose box back", |s| s.contains("Compose") && !s.contains("find:"));
}

#[test]
fn history_keeps_the_conversation_across_restarts_once_and_the_tui_shows_it() {
    if !tmux::available() {
        return;
    }
    let Some(lan) = Lan::new(2) else { return };
    let dir = std::env::temp_dir().join(format!("groupcast-history-e2e-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let path = dir.to_str().unwrap().to_string();
    let kept = |texts: &[&str]| {
        let text = std::fs::read_to_string(&dir).unwrap_or_default();
        let got: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_string())
            .collect();
        got == texts
    };
    let wait_kept = |texts: &[&str]| {
        let end = Instant::now() + Duration::from_secs(10);
        while !kept(texts) {
            assert!(Instant::now() < end, "history holds {:?}, wanted {texts:?}", std::fs::read_to_string(&dir));
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // bob talks; alice's node keeps what it hears.
    let mut bob = lan.host(2).node("bob", &[]);
    let mut alice = lan.host(1).node("alice", &["--history", &path]);
    alice.wait_for("bob", |v| v["event"] == "peer_up");
    for t in ["one", "two", "three"] {
        bob.say(t);
    }
    wait_kept(&["one", "two", "three"]);
    // Four runs of alice; bob says one more line while she is away each time. Each new run
    // gets the whole conversation repaired from bob, and keeps only what it did not have.
    let mut said = vec!["one", "two", "three"];
    for (run, line) in ["four", "five", "six"].into_iter().enumerate() {
        alice.signal("-TERM");
        assert_eq!(alice.wait_exit(Duration::from_secs(5)), Some(0), "run {run}");
        bob.say(line);
        said.push(line);
        alice = lan.host(1).node("alice", &["--history", &path]);
        alice.wait_for(line, |v| v["event"] == "message" && v["text"] == line);
        wait_kept(&said);
    }
    alice.signal("-TERM");
    alice.wait_exit(Duration::from_secs(5));
    // The TUI opens on the kept conversation, says where it came from, and does not show the
    // messages twice when the group repairs them in.
    let screen = Screen::open(lan.host(1), &["--name", "alice", "--history", &path], 120, 30);
    let text = screen.wait_for("6 earlier messages from");
    assert!(text.contains("bob: one") && text.contains("bob: six"), "{text}");
    screen.wait_for("● bob");
    bob.say("seven");
    let text = screen.wait_for("bob: seven");
    assert_eq!(text.matches("bob: six").count(), 1, "{text}");
    said.push("seven");
    wait_kept(&said);
    // A second groupcast on the same file (a second terminal with the same config) reads it
    // but does not add to it: nothing is kept twice.
    let mut second = lan.host(1).node("alice2", &["--history", &path]);
    bob.say("eight");
    second.wait_for("eight", |v| v["event"] == "message" && v["text"] == "eight");
    said.push("eight");
    wait_kept(&said);
    std::thread::sleep(Duration::from_millis(500));
    assert!(kept(&said), "{:?}", std::fs::read_to_string(&dir));
    // A path that cannot be written is one line and exit 2.
    let out = lan.host(1).run(&["node", "--history", "/proc/nope/history"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("history file /proc/nope/history"));
    let _ = std::fs::remove_file(&dir);
}

/// The columns at which each row of a screen shows a vertical border, counting as a terminal
/// does (each character's own width).
fn border_columns(screen: &str) -> Vec<Vec<usize>> {
    use unicode_width::UnicodeWidthChar;
    screen
        .lines()
        .map(|l| {
            let mut col = 0;
            let mut at = Vec::new();
            for c in l.chars() {
                if c == '│' {
                    at.push(col);
                }
                col += c.width().unwrap_or(0);
            }
            at
        })
        .collect()
}

/// Names and texts that a terminal draws at other widths than a layout counting grapheme
/// clusters would, or that pile onto their neighbours, sent by `groupcast send` to a TUI in
/// tmux: every border stays in the columns it had, and no row grows wider than the screen.
#[test]
fn untrusted_text_moves_no_border_in_a_real_terminal() {
    if !tmux::available() {
        return;
    }
    let Some(lan) = Lan::new(2) else { return };
    let alice = Screen::open(lan.host(1), &["--name", "alice"], 100, 30);
    alice.wait_for("Compose");
    let send = |name: &str, text: &str| {
        let out = lan.host(2).run(&["send", "--name", name, "--", text]);
        assert!(out.status.success(), "send: {}", String::from_utf8_lossy(&out.stderr));
    };
    send("bob", "plain words first");
    let clean = alice.wait_for("bob: plain words first");
    let columns: std::collections::BTreeSet<usize> = border_columns(&clean).into_iter().flatten().collect();
    let nasty = [
        ("ev\u{200D}\u{0301}e", "\u{200D}\u{0301}joined\u{200D}\u{20DD} next"),
        ("fam", "👨\u{200D}👩\u{200D}👧\u{200D}👦 family"),
        ("zal\u{0351}\u{0352}go", "Z\u{0351}\u{0352}\u{0357}\u{035B}\u{0363}a\u{0364}\u{0365}l\u{0366}g\u{0368}o"),
        ("mark", "\u{0308}starts with a mark"),
        ("emo", "👍\u{1F3FD}❤\u{FE0F}🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} end"),
        ("bidi", "bidi \u{202E}txt.exe\u{202C} done"),
    ];
    for (name, text) in nasty {
        send(name, text);
    }
    let screen = alice.wait_for("done");
    for (row, at) in border_columns(&screen).into_iter().enumerate() {
        for c in at {
            assert!(columns.contains(&c), "row {row}: a border at column {c}, not one of {columns:?}:\n{screen}");
        }
    }
    for (row, line) in screen.lines().enumerate() {
        let width: usize = line.chars().map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)).sum();
        assert!(width <= 100, "row {row} is {width} wide:\n{screen}");
    }
}
