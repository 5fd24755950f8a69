//! Real-world reliability with the real binary on namespaced hosts (issue 7): a sender that
//! crashes leaving a hole, hosts whose wall clocks are wrong or stepped, a late joiner after a
//! long history, one peer frozen again and again, an old client's line with an escape code.
//! Each test runs `groupcast node --json` on a few hosts and asserts what their users would read.
//! Skips (saying why) where namespaces cannot be made, unless `GROUPCAST_REQUIRE_NETNS=1`.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lan::{Lan, NodeProc, WAIT};

fn start(lan: &Lan, n: usize) -> Vec<NodeProc> {
    (1..=n).map(|i| lan.host(i).node(&format!("host{i}"), &[])).collect()
}

/// Waits until every node lists all the others alive and holds a full ring.
fn wait_ring(nodes: &mut [NodeProc]) {
    let peers = nodes.len() - 1;
    for p in nodes.iter_mut() {
        p.state_until("a full ring", Duration::from_secs(15), |s| {
            let alive = s["peers"].as_array().unwrap().iter().filter(|p| p["status"] == "alive").count();
            let links = s["ring"]["links"].as_array().unwrap().len();
            alive == peers && links == peers.min(2)
        });
    }
}

fn is_message(v: &Value, text: &str) -> bool {
    v["event"] == "message" && v["text"] == text
}

fn is_down(v: &Value, node: &str) -> bool {
    v["event"] == "peer_down" && v["node"] == node
}

/// The entry for `node` in a state's peer list.
fn peer_entry<'a>(state: &'a Value, node: &str) -> Option<&'a Value> {
    state["peers"].as_array()?.iter().find(|p| p["node"] == node)
}

/// Bytes each of `hosts` sends on its LAN interface over `IDLE`, all measured at once.
const IDLE: Duration = Duration::from_secs(10);

fn idle_tx(lan: &Lan, hosts: &[usize]) -> Vec<u64> {
    let before: Vec<u64> = hosts.iter().map(|&i| lan.host(i).tx_bytes()).collect();
    std::thread::sleep(IDLE);
    hosts.iter().zip(before).map(|(&i, b)| lan.host(i).tx_bytes() - b).collect()
}

/// A sender crashes after one of its messages reached no one and thirty later ones reached
/// everyone. The survivors show the thirty, each says once that the missing message is lost (a
/// `gap` event and `lost` in `/state`), and then the LAN goes quiet again: each survivor sends
/// at most twice what it sent while idle before.
#[test]
fn a_crashed_senders_hole_is_reported_once_and_the_lan_goes_quiet_again() {
    let Some(lan) = Lan::new(3) else { return };
    let mut nodes = start(&lan, 3);
    wait_ring(&mut nodes);
    let sender = nodes[2].id();
    for k in 1..=3 {
        nodes[2].say(&format!("before the hole {k}"));
    }
    for p in &mut nodes {
        p.state_until("3 messages, all settled", WAIT, |s| s["messages"] == 3 && s["pending"] == 0);
    }
    std::thread::sleep(Duration::from_secs(1));
    let quiet_before = idle_tx(&lan, &[1, 2]);

    // The sender's ring links carry nothing from now on, so it can never repair anyone...
    let h3 = lan.host(3);
    h3.drop_output("gcnotcp", "meta l4proto tcp drop");
    // ...and one of its messages never leaves the host.
    h3.drop_output("gchole", "udp dport 12345 counter drop");
    let mark = nodes[2].mark();
    nodes[2].say("the hole");
    let own = nodes[2].next_after(mark, WAIT, |v| is_message(v, "the hole")).expect("the sender logs its own message");
    let hole = own["seq"].as_u64().expect("seq");
    std::thread::sleep(Duration::from_millis(100));
    let held_back = h3.nft_packets("gchole");
    h3.nft_delete_table("gchole");
    assert!(held_back >= 1, "the message never reached the wire, so it was not held back");
    // Long lines, so resending what lies above the hole at every sync shows in the traffic.
    let after: Vec<String> = (1..=30).map(|k| format!("after the hole {k} {}", "x".repeat(900))).collect();
    nodes[2].say_many(&after);
    for p in &mut nodes[..2] {
        for text in &after {
            p.wait_for("a message above the hole", |v| is_message(v, text));
        }
        assert!(!p.seen.iter().any(|v| is_message(v, "the hole")), "{}: the hole was filled; no test", p.name);
    }
    let crashed = nodes.pop().unwrap();
    crashed.signal("-KILL");
    let killed = Instant::now();
    drop(crashed);

    let mut problems = Vec::new();
    for p in &mut nodes {
        let down = p.wait_for("peer_down of the crashed sender", |v| is_down(v, &sender));
        // Its ring links carried nothing since before the kill, so its neighbours find it silent
        // (or, if a probe dial gets through, crashed); the others hear their notice, or time out.
        let reason = down["reason"].as_str().unwrap_or_default();
        if !["crashed", "silent", "timeout"].contains(&reason) {
            problems.push(format!("{}: the crashed sender went down as {reason:?}", p.name));
        }
        let left = Duration::from_secs(10).saturating_sub(killed.elapsed());
        let gap = p.next_after(0, left, |v| v["event"] == "gap" && v["node"] == sender.as_str());
        match gap {
            None => problems.push(format!("{}: no gap for the crashed sender within 10 s of the kill", p.name)),
            Some(g) => {
                eprintln!("{}: {g} after {:?}", p.name, killed.elapsed());
                let (from, to) = (g["from"].as_u64().unwrap_or(u64::MAX), g["to"].as_u64().unwrap_or(0));
                if !(from..=to).contains(&hole) {
                    problems.push(format!("{}: gap {from}..={to} does not cover message {hole}", p.name));
                }
            }
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let quiet_after = idle_tx(&lan, &[1, 2]);
    eprintln!("idle bytes sent per 10 s: before the hole {quiet_before:?}, after it {quiet_after:?}");

    for (i, p) in nodes.iter_mut().enumerate() {
        let s = p.state();
        if s["lost"].as_u64().unwrap_or(0) < 1 {
            problems.push(format!("{}: /state shows lost {} after a hole", p.name, s["lost"]));
        }
        // Reported once, and only the hole: nothing the survivor holds is called lost.
        let held: HashSet<u64> = p
            .events("message")
            .iter()
            .filter(|v| v["node"] == sender.as_str())
            .filter_map(|v| v["seq"].as_u64())
            .collect();
        let gaps: Vec<Value> = p.events("gap").into_iter().filter(|g| g["node"] == sender.as_str()).collect();
        let covering = gaps
            .iter()
            .filter(|g| (g["from"].as_u64().unwrap_or(u64::MAX)..=g["to"].as_u64().unwrap_or(0)).contains(&hole))
            .count();
        if covering > 1 {
            problems.push(format!("{}: the hole was reported {covering} times: {gaps:?}", p.name));
        }
        for g in &gaps {
            let (from, to) = (g["from"].as_u64().unwrap_or(0), g["to"].as_u64().unwrap_or(0));
            if held.iter().any(|n| (from..=to).contains(n)) {
                problems.push(format!("{}: gap {from}..={to} covers messages it holds", p.name));
            }
        }
        // Two survivors hold one link where three held two: they should send no more than before.
        let limit = 2 * quiet_before[i] + 16_000;
        if quiet_after[i] > limit {
            problems.push(format!(
                "{}: sent {} bytes in 10 s idle after the hole, {} before it (limit {limit})",
                p.name, quiet_after[i], quiet_before[i]
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- clocks ---------------------------------------------------------------------------------

const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// How far a reported clock offset may be from the skew the test made.
const OFFSET_SLACK_MS: i64 = 5_000;

/// A wall clock for one host, set by libfaketime from a file the test rewrites: "+10m", "-1h"...
struct FakeClock {
    path: PathBuf,
}

impl FakeClock {
    /// `None` (with the reason printed) where libfaketime is missing; with
    /// `GROUPCAST_REQUIRE_NETNS=1` its absence fails the test.
    fn new(offset: &str) -> Option<FakeClock> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        if !std::path::Path::new(FAKETIME_LIB).exists() {
            assert!(
                std::env::var("GROUPCAST_REQUIRE_NETNS").as_deref() != Ok("1"),
                "the clock tests need {FAKETIME_LIB} (Debian's faketime package)"
            );
            support::lan::skipped(&format!("{FAKETIME_LIB} is missing (Debian's faketime package)"));
            return None;
        }
        let name = format!("gc-faketime-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let clock = FakeClock { path: std::env::temp_dir().join(name) };
        clock.set(offset);
        Some(clock)
    }

    /// Steps the clock: libfaketime reads the file at every clock read (`FAKETIME_NO_CACHE`), so
    /// it is replaced whole, never seen half-written.
    fn set(&self, offset: &str) {
        let tmp = self.path.with_extension("new");
        std::fs::write(&tmp, format!("{offset}\n")).expect("write the faketime file");
        std::fs::rename(&tmp, &self.path).expect("replace the faketime file");
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", FAKETIME_LIB.to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.path.display().to_string()),
            ("FAKETIME_NO_CACHE", "1".to_string()),
            ("DONT_FAKE_MONOTONIC", "1".to_string()),
        ]
    }
}

impl Drop for FakeClock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Every node says one line; every node must show all of them within 10 s. Returns what was
/// missing.
fn exchange(nodes: &mut [NodeProc], round: &str) -> Vec<String> {
    let texts: Vec<String> = nodes.iter().map(|p| format!("{round} from {}", p.name)).collect();
    for (p, text) in nodes.iter_mut().zip(&texts) {
        p.say(text);
    }
    let end = Instant::now() + WAIT;
    let mut missing = Vec::new();
    for p in nodes.iter_mut() {
        for text in &texts {
            let left = end.saturating_duration_since(Instant::now());
            if p.next_after(0, left, |v| is_message(v, text)).is_none() {
                missing.push(format!("{}: never showed {text:?}", p.name));
            }
        }
    }
    missing
}

fn false_downs(nodes: &mut [NodeProc]) -> Vec<String> {
    nodes.iter_mut().flat_map(|p| p.events("peer_down").into_iter().map(|v| format!("{}: {v}", p.name))).collect()
}

fn offset_ms(v: &Value) -> Option<i64> {
    v["clock_offset_ms"].as_i64()
}

fn near(got: Option<i64>, want: i64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= OFFSET_SLACK_MS)
}

/// Three hosts, the third with a wall clock `start` off real time (a libfaketime offset),
/// stepped to `step` mid-run if given; `skew_ms` is how far its clock ends up from the others'.
fn a_skewed_host_takes_part(start: &str, step: Option<&str>, skew_ms: i64) {
    let Some(clock) = FakeClock::new(start) else { return };
    let Some(lan) = Lan::new(3) else { return };
    let env = clock.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut nodes = vec![lan.host(1).node("host1", &[]), lan.host(2).node("host2", &[])];
    nodes.push(lan.host(3).node_env("skewed", &[], &env));
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", nodes[2].pid())).unwrap_or_default();
    assert!(maps.contains("libfaketime"), "libfaketime is not loaded into the skewed node");
    let ids: Vec<String> = nodes.iter().map(support::lan::NodeProc::id).collect();
    let skewed = ids[2].clone();
    for p in &mut nodes {
        for id in &ids {
            if *id != p.id() {
                p.wait_for("peer_up", |v| v["event"] == "peer_up" && v["node"] == id.as_str());
            }
        }
    }
    let missing = exchange(&mut nodes, "first round");
    assert!(missing.is_empty(), "{}", missing.join("\n"));

    let mark = nodes[2].mark();
    if let Some(step) = step {
        clock.set(step);
        // Long enough for a detector that trusted the wall clock to call everyone down.
        std::thread::sleep(Duration::from_secs(4));
    }
    let mut problems = false_downs(&mut nodes);
    problems.extend(exchange(&mut nodes, "second round"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let (from, kind) = if step.is_some() { (mark, "step") } else { (0, "group") };
    let said = nodes[2].next_after(from, WAIT, |v| v["event"] == "clock" && v["reason"] == kind);
    let said = said.unwrap_or_else(|| panic!("skewed: no clock event ({kind}); saw:\n{}", nodes[2].dump()));
    assert!(near(said["offset_ms"].as_i64(), skew_ms), "clock event {said}, expected offset_ms ≈ {skew_ms}");

    let mut states = Vec::new();
    for p in &mut nodes {
        states.push(p.state_until("nothing pending", Duration::from_secs(10), |s| s["pending"] == 0));
    }
    let own = nodes[2].state_until("its own clock offset", WAIT, |s| near(offset_ms(s), skew_ms));
    assert!(near(offset_ms(&own), skew_ms), "{own}");
    for p in &mut nodes[..2] {
        let s = p.state_until("the skewed peer's clock offset", WAIT, |s| {
            near(peer_entry(s, &skewed).and_then(offset_ms), skew_ms)
        });
        assert!(near(offset_ms(&s), 0), "{}: one wrong clock moved this one: {s}", p.name);
    }
    let digest = &states[0]["log_digest"];
    assert!(states.iter().all(|s| s["log_digest"] == *digest), "logs differ: {states:?}");

    let now = chrono::Utc::now();
    for p in &mut nodes {
        for m in p.events("message") {
            let ts = chrono::DateTime::parse_from_rfc3339(m["ts"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{}: bad ts in {m}: {e}", p.name));
            let off = (ts.with_timezone(&chrono::Utc) - now).num_seconds().abs();
            assert!(off <= 60, "{}: shows {m} stamped {off} s from real time", p.name);
        }
    }
    let downs = false_downs(&mut nodes);
    assert!(downs.is_empty(), "false downs:\n{}", downs.join("\n"));
}

/// A host whose clock is 10 minutes ahead joins: everyone lists it, messages cross both ways,
/// times shown are real time, and `/state` says whose clock is off and by how much.
#[test]
fn a_host_ten_minutes_ahead_takes_part() {
    a_skewed_host_takes_part("+10m", None, 600_000);
}

/// A host's wall clock jumps an hour forward (an NTP step, a resume): no one is declared down,
/// messages still cross both ways, and the step is reported.
#[test]
fn a_host_stepped_an_hour_forward_takes_part() {
    a_skewed_host_takes_part("+0", Some("+1h"), 3_600_000);
}

/// A host's wall clock jumps an hour back: no one is declared down and nobody's messages are
/// refused.
#[test]
fn a_host_stepped_an_hour_back_takes_part() {
    a_skewed_host_takes_part("+0", Some("-1h"), -3_600_000);
}

/// A host whose wall clock is `offset` (a libfaketime offset) starts second, right after the
/// first; `more` hosts join. No host but it moves its clock, every node's `/state` names it as
/// the one whose clock is off, and the messages carry real time. Then it is killed: nothing
/// changes for the others.
fn a_wrong_clock_in_the_first_pair_moves_no_one(offset: &str, off_ms: i64, more: usize) {
    let Some(clock) = FakeClock::new(offset) else { return };
    let Some(lan) = Lan::new(2 + more) else { return };
    let env = clock.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut nodes = vec![lan.host(1).node("host1", &[])];
    nodes.push(lan.host(2).node_env("wrong", &[], &env));
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..more {
        nodes.push(lan.host(3 + i).node(&format!("host{}", 3 + i), &[]));
        std::thread::sleep(Duration::from_millis(700));
    }
    wait_ring(&mut nodes);
    let wrong = nodes[1].id();
    let missing = exchange(&mut nodes, "first round");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    let moved = nodes[1].next_after(0, WAIT, |v| v["event"] == "clock" && v["reason"] == "group");
    assert!(moved.is_some(), "the wrong clock follows the others:\n{}", nodes[1].dump());
    let wrong_node = nodes.remove(1);
    let mut right = nodes;
    for p in &mut right {
        let s = p.state_until("the wrong clock named", WAIT, |s| {
            s["clock"]["off"].as_array().is_some_and(|o| o.iter().any(|h| h["node"] == wrong.as_str()))
        });
        // Tighter than the other clock tests: a 3 s drag must show.
        assert!(offset_ms(&s).is_some_and(|o| o.abs() < 1_500), "{}: its clock moved: {s}", p.name);
        let named =
            s["clock"]["off"].as_array().unwrap().iter().find(|h| h["node"] == wrong.as_str()).cloned().unwrap();
        assert!((named["offset_ms"].as_i64().unwrap() - off_ms).abs() < 1_500, "{}: {named}", p.name);
        let clocks: Vec<Value> = p.events("clock");
        assert!(clocks.is_empty(), "{}: moved its clock: {clocks:?}", p.name);
    }
    let now = chrono::Utc::now();
    for p in &mut right {
        for m in p.events("message") {
            let ts = chrono::DateTime::parse_from_rfc3339(m["ts"].as_str().unwrap_or_default()).expect("a stamp");
            let off = (ts.with_timezone(&chrono::Utc) - now).num_seconds().abs();
            assert!(off <= 60, "{}: shows {m} stamped {off} s from real time", p.name);
        }
    }
    drop(wrong_node);
    std::thread::sleep(Duration::from_secs(3));
    let missing = exchange(&mut right, "after it died");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    for p in &mut right {
        let s = p.state();
        assert!(offset_ms(&s).is_some_and(|o| o.abs() < 1_500), "{}: {s}", p.name);
        assert!(p.events("clock").is_empty(), "{}: moved its clock", p.name);
    }
}

/// A host whose clock reads 1970 (a lost RTC battery) in the first pair, then two more.
#[test]
fn a_1970_clock_in_the_first_pair_moves_no_one() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let back = now - 5;
    a_wrong_clock_in_the_first_pair_moves_no_one(&format!("-{back}"), -(back as i64) * 1_000, 2);
}

/// A host 3 s slow in the first pair, then three more.
#[test]
fn a_slow_clock_in_the_first_pair_moves_no_one() {
    a_wrong_clock_in_the_first_pair_moves_no_one("-3", -3_000, 3);
}

// ---- history, freezes, old clients ----------------------------------------------------------

/// One host says 6,000 lines; a third host that joins afterwards prints every one of them and
/// has nothing pending.
#[test]
fn a_late_joiner_shows_all_six_thousand_messages() {
    const N: usize = 6_000;
    let Some(lan) = Lan::new(3) else { return };
    let mut nodes = start(&lan, 2);
    wait_ring(&mut nodes);
    let lines: Vec<String> = (0..N).map(|k| format!("history {k:04}")).collect();
    nodes[0].say_many(&lines);
    for p in &mut nodes {
        p.state_until("6000 messages, none pending", Duration::from_secs(60), |s| {
            s["messages"] == N && s["pending"] == 0
        });
    }
    let mut late = lan.host(3).node("late", &[]);
    let t = Instant::now();
    let distinct = |p: &mut NodeProc| -> usize {
        let ms = p.events("message");
        ms.iter().map(|v| (v["node"].to_string(), v["seq"].to_string())).collect::<HashSet<_>>().len()
    };
    let end = t + Duration::from_secs(30);
    while distinct(&mut late) < N && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let shown = distinct(&mut late);
    eprintln!("late joiner printed {shown} distinct messages after {:?}", t.elapsed());
    let lagged = late.events("lagged");
    assert_eq!(shown, N, "the late joiner printed {shown} of {N} messages; lagged events: {lagged:?}");
    late.state_until("6000 messages, none pending", Duration::from_secs(30), |s| {
        s["messages"] == N && s["pending"] == 0
    });
}

/// One host is frozen (SIGSTOP) and resumed four times. Each freeze is reported as soon as the
/// first was (within 1.5× its time, and 4 s), and the frozen host, once resumed, does not tell
/// its user that everyone else went down.
#[test]
fn four_freezes_of_one_peer_are_each_caught_as_fast_as_the_first() {
    let Some(lan) = Lan::new(3) else { return };
    let mut nodes = start(&lan, 3);
    wait_ring(&mut nodes);
    let frozen = nodes[2].id();
    let mut took = Vec::new();
    let mut problems = Vec::new();
    for round in 1..=4 {
        let m1 = nodes[0].mark();
        let m3 = nodes[2].mark();
        nodes[2].signal("-STOP");
        let t = Instant::now();
        let down = nodes[0].next_after(m1, Duration::from_secs(12), |v| is_down(v, &frozen));
        let detected = t.elapsed();
        nodes[2].signal("-CONT");
        match down {
            Some(_) => took.push(detected),
            None => problems.push(format!("freeze {round}: host1 did not report host3 down within 12 s")),
        }
        for p in &mut nodes[..2] {
            p.state_until("the frozen host alive again", WAIT, |s| {
                peer_entry(s, &frozen).is_some_and(|e| e["status"] == "alive")
            });
        }
        nodes[2].state_until("its peers alive", WAIT, |s| {
            s["peers"].as_array().unwrap().iter().filter(|p| p["status"] == "alive").count() == 2
        });
        // Time between freezes, as a laptop lid that is opened for a while.
        std::thread::sleep(Duration::from_secs(2));
        nodes[2].pump();
        let false_downs: Vec<&Value> = nodes[2].seen[m3..].iter().filter(|v| v["event"] == "peer_down").collect();
        if !false_downs.is_empty() {
            problems.push(format!("freeze {round}: the resumed host reported its peers down: {false_downs:?}"));
        }
    }
    eprintln!("freezes detected after {took:?}");
    if let Some(&first) = took.first() {
        for (i, &d) in took.iter().enumerate().skip(1) {
            if d.as_secs_f64() > 1.5 * first.as_secs_f64() {
                problems.push(format!("freeze {}: detected after {d:?}, the first after {first:?}", i + 1));
            }
        }
    }
    for (i, &d) in took.iter().enumerate() {
        if d > Duration::from_secs(4) {
            problems.push(format!("freeze {}: detected after {d:?} (> 4 s)", i + 1));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// An old client's line with an arrow key's escape code in it enters every log once, on each
/// of four hosts, and is shown without the raw escape.
#[test]
fn bare_text_with_an_escape_code_enters_each_log_once() {
    let Some(lan) = Lan::new(4) else { return };
    let mut nodes = start(&lan, 4);
    wait_ring(&mut nodes);
    let script = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)\n\
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('10.231.0.4'))\n\
        s.bind(('10.231.0.4', 40405))\n\
        s.sendto(b'up\\x1b[Aarrow\\n', ('225.0.0.37', 12345))\n";
    let out = lan.host(4).exec("python3", &["-c", script]);
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    let from = "10.231.0.4:40405";
    for p in &mut nodes {
        p.wait_for("the bare message", |v| v["event"] == "message" && v["from"] == from);
    }
    // Past the hold for a stamped copy (1 s) and its memory (2 s): a second copy is in by now.
    std::thread::sleep(Duration::from_secs(4));
    let mut digests = Vec::new();
    for p in &mut nodes {
        let copies: Vec<Value> = p.events("message").into_iter().filter(|v| v["from"] == from).collect();
        assert_eq!(copies.len(), 1, "{}: the line entered the log {} times: {copies:?}", p.name, copies.len());
        let text = copies[0]["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("up") && text.ends_with("arrow"), "{}: {text:?}", p.name);
        assert!(!text.contains('\u{1b}'), "{}: the raw escape is shown: {text:?}", p.name);
        let s = p.state();
        assert_eq!(s["messages"], 1, "{}: {s}", p.name);
        digests.push(s["log_digest"].clone());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "logs agree: {digests:?}");
}
