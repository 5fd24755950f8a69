//! Real-world trouble, simulated: wrong and stepped clocks, a sender that crashes leaving a
//! hole, a late joiner with a long history, a peer frozen again and again, an old client's
//! control characters. Deterministic: every run with a seed is the same.

use std::collections::BTreeSet;
use std::time::Duration;

use groupcast::proto::{ClockCause, Command, Config, Event, Name, NodeId, Time};
use groupcast::sim::{Medium, START_MS, Sim};

fn ring_cfg() -> Config {
    Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn say(sim: &mut Sim, i: usize, text: &str) {
    sim.command(i, Command::Say(text.into()));
}

/// Every peer-down any node reported, as (reporter, victim).
fn downs(sim: &Sim) -> Vec<(usize, NodeId)> {
    let mut v = Vec::new();
    for (i, n) in sim.nodes.iter().enumerate() {
        for (_, e) in &n.events {
            if let Event::PeerDown { node, .. } = e {
                v.push((i, *node));
            }
        }
    }
    v
}

/// The texts in node `i`'s log, in log order.
fn texts(sim: &Sim, i: usize) -> Vec<String> {
    sim.nodes[i].node.log().iter().map(|e| e.text.to_string()).collect()
}

/// Every up node holds the same log, and it holds exactly `want`.
fn assert_all_hold(sim: &Sim, want: &[&str]) {
    let first = texts(sim, sim.up()[0]);
    let got: BTreeSet<&str> = first.iter().map(String::as_str).collect();
    assert_eq!(got, want.iter().copied().collect(), "what the logs hold");
    for i in sim.up() {
        assert_eq!(texts(sim, i), first, "node {i} holds the same log in the same order");
    }
}

/// Stamps on every node's log are within `slack` of true (simulated) time.
fn assert_stamps_sane(sim: &Sim, slack: Duration) {
    for i in sim.up() {
        for e in sim.nodes[i].node.log().iter() {
            let d = e.ts.to_unix().abs_diff(Duration::from_millis(START_MS));
            assert!(d < slack + sim.now.since(Time::from_millis(START_MS)), "{:?} stamped {:?} off", e.text, d);
        }
    }
}

fn clock_events(sim: &Sim, i: usize) -> Vec<(i64, ClockCause)> {
    sim.nodes[i]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Clock { skew_ms, cause } => Some((*skew_ms, *cause)),
            _ => None,
        })
        .collect()
}

/// What node `viewer` shows of node `of`'s clock.
fn shown_skew(sim: &Sim, viewer: usize, of: usize) -> i64 {
    let id = sim.id(of);
    sim.nodes[viewer].node.peer_views().iter().find(|p| p.node == id).expect("listed").skew_ms
}

#[test]
fn a_host_started_ten_minutes_ahead_takes_part_and_follows_group_time() {
    let mut sim = Sim::new(71, Medium::default());
    sim.add_nodes(3, &ring_cfg());
    let fast = sim.add_node_skewed(Config { name: Name::clip("fast"), ..ring_cfg() }, 600_000);
    // Its user speaks at once, before it has heard anyone: held until it knows the group's time.
    say(&mut sim, fast, "said at start");
    sim.run_for(secs(2));
    assert_eq!(downs(&sim), vec![], "nobody is refused or dropped for a clock");
    for i in 0..3 {
        assert_eq!(sim.members_of(i).len(), 3, "node {i} lists everyone, the fast host too");
    }
    let ev = clock_events(&sim, fast);
    assert!(matches!(ev[..], [(skew, ClockCause::Group { .. })] if (599_000..=601_000).contains(&skew)), "{ev:?}");
    for i in 0..3 {
        let s = shown_skew(&sim, i, fast);
        assert!((599_000..=601_000).contains(&s), "node {i} shows the fast clock {s} ms off");
    }
    say(&mut sim, fast, "from the fast host");
    sim.run_for(Duration::from_millis(300));
    say(&mut sim, 0, "reply from node 0");
    sim.run_for(secs(3));
    assert_all_hold(&sim, &["said at start", "from the fast host", "reply from node 0"]);
    assert_eq!(texts(&sim, 0), ["said at start", "from the fast host", "reply from node 0"], "in the order said");
    assert_stamps_sane(&sim, secs(2));
    for i in sim.up() {
        assert_eq!(sim.nodes[i].node.snapshot().pending, 0, "node {i}: everything settles");
        assert_eq!(&*sim.nodes[i].node.log().shared().unwrap().text, "reply from node 0");
    }
}

/// A clock stepped by `by_ms` in the middle of a run changes nothing for the group.
fn stepped_clock(seed: u64, by_ms: i64) {
    let mut sim = Sim::new(seed, Medium { loss: 0.05, ..Medium::default() });
    sim.add_nodes(4, &ring_cfg());
    sim.run_for(secs(2));
    say(&mut sim, 3, "before the step");
    sim.run_for(secs(1));
    sim.step_clock(3, by_ms);
    sim.run_for(secs(1));
    say(&mut sim, 3, "after the step");
    sim.run_for(Duration::from_millis(200));
    say(&mut sim, 0, "to the stepped host");
    sim.run_for(secs(10));
    assert_eq!(downs(&sim), vec![], "a step is no outage");
    let ev = clock_events(&sim, 3);
    assert!(
        matches!(ev[..], [(skew, ClockCause::Step { by_ms: b })] if (skew - by_ms).abs() < 50 && (b - by_ms).abs() < 50),
        "{ev:?}"
    );
    assert!((shown_skew(&sim, 0, 3) - by_ms).abs() < 50, "others see by how much");
    assert_all_hold(&sim, &["before the step", "after the step", "to the stepped host"]);
    assert_eq!(texts(&sim, 0), ["before the step", "after the step", "to the stepped host"]);
    assert_stamps_sane(&sim, secs(2));
    for i in sim.up() {
        assert_eq!(sim.nodes[i].node.snapshot().pending, 0, "node {i}: everything settles");
    }
}

#[test]
fn a_clock_stepped_an_hour_forward_changes_nothing_for_the_group() {
    stepped_clock(72, 3_600_000);
}

#[test]
fn a_clock_stepped_an_hour_back_changes_nothing_for_the_group() {
    stepped_clock(73, -3_600_000);
}

#[test]
fn a_clock_stepped_a_minute_back_is_not_silenced() {
    stepped_clock(74, -60_000);
}

/// Node 2 sends five messages, then one that reaches nobody (its ring is muted so no neighbour
/// can fetch it), then 30 more, and crashes (or, with `crash` false, lives on behind its muted
/// ring). Returns the bytes on the wire in the 10 s that follow, once things have settled.
fn crashed_sender(seed: u64, hole: bool) -> (Sim, u64) {
    sender_with_hole(seed, hole, true)
}

fn sender_with_hole(seed: u64, hole: bool, crash: bool) -> (Sim, u64) {
    let mut sim = Sim::new(seed, Medium::default());
    sim.add_nodes(4, &ring_cfg());
    sim.run_for(secs(2));
    for k in 0..5 {
        say(&mut sim, 2, &format!("m{k}"));
    }
    sim.run_for(secs(1));
    sim.mute_links.insert(2);
    if hole {
        sim.drop_next.insert(2);
    }
    say(&mut sim, 2, "the lost one");
    for k in 0..30 {
        say(&mut sim, 2, &format!("above {k}"));
    }
    sim.run_for(Duration::from_millis(20));
    if crash {
        sim.crash(2);
    }
    sim.run_for(secs(8));
    let before = sim.bytes;
    sim.run_for(secs(10));
    let idle = sim.bytes - before;
    (sim, idle)
}

#[test]
fn a_crashed_senders_hole_is_reported_once_and_repair_ends() {
    let (sim, idle_with_hole) = crashed_sender(76, true);
    let (_, idle_without) = crashed_sender(76, false);
    let victim = sim.id(2);
    for i in sim.up() {
        let gaps: Vec<_> = sim.nodes[i]
            .events
            .iter()
            .filter_map(|(t, e)| match e {
                Event::Gap { node, from, to } if *node == victim => Some((*t, from.0, to.0)),
                _ => None,
            })
            .collect();
        assert_eq!(gaps.len(), 1, "node {i} reports the hole once: {gaps:?}");
        assert_eq!((gaps[0].1, gaps[0].2), (6, 6), "node {i}: message 6 is the hole");
        assert_eq!(sim.nodes[i].node.snapshot().lost, 1, "node {i} counts it lost");
        assert_eq!(sim.nodes[i].node.log().len(), 35, "node {i} holds all the rest");
    }
    assert!(
        idle_with_hole <= 2 * idle_without,
        "idle traffic with the hole {idle_with_hole} B vs {idle_without} B without: repair must end"
    );
}

#[test]
fn a_hole_no_one_can_fill_costs_no_more_than_the_heartbeats() {
    // The sender lives on but no one can reach its ring port: the survivors hold everything
    // above the hole, and their digests say so, so they stop sending each other those messages.
    let (sim, idle_with_hole) = sender_with_hole(80, true, false);
    let (_, idle_without) = sender_with_hole(80, false, false);
    assert_eq!(sim.nodes[0].node.log().len(), 35, "the hole stays open while its origin lives");
    assert!(
        idle_with_hole <= 2 * idle_without,
        "idle traffic with the hole {idle_with_hole} B vs {idle_without} B without"
    );
}

/// A node that joins now, and the messages its front end is shown in its first five seconds,
/// in the order shown.
fn late_joiner_shown(sim: &mut Sim) -> (usize, Vec<String>) {
    let late = sim.add_node(Config { name: Name::clip("late"), ..ring_cfg() });
    sim.run_for(secs(5));
    let shown = sim.nodes[late]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { entry, .. } => Some(entry.text.to_string()),
            _ => None,
        })
        .collect();
    (late, shown)
}

#[test]
fn a_late_joiner_gets_six_thousand_messages_settled() {
    let mut sim = Sim::new(77, Medium::default());
    sim.add_nodes(2, &ring_cfg());
    sim.run_for(secs(2));
    for k in 0..6_000 {
        say(&mut sim, k % 2, &format!("history {k}"));
    }
    sim.run_for(secs(3));
    let (late, shown) = late_joiner_shown(&mut sim);
    let got: BTreeSet<String> = shown.into_iter().collect();
    assert_eq!(got.len(), 6_000, "every message reached the late joiner's front end once");
    let s = sim.nodes[late].node.snapshot();
    assert_eq!((s.messages, s.pending), (6_000, 0), "all held, nothing pending");
    assert_eq!(s.log_digest, sim.nodes[0].node.snapshot().log_digest);
}

/// A late joiner's front end gets a backlog that one repair carries in the group's order, not
/// one origin's messages after another's.
#[test]
fn a_late_joiners_backlog_comes_in_the_groups_order() {
    let mut sim = Sim::new(79, Medium::default());
    sim.add_nodes(3, &ring_cfg());
    sim.run_for(secs(2));
    for k in 0..60 {
        say(&mut sim, k % 3, &format!("history {k:02}"));
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(secs(3));
    let (_, shown) = late_joiner_shown(&mut sim);
    let said: Vec<String> = (0..60).map(|k| format!("history {k:02}")).collect();
    assert_eq!(shown, said, "the backlog in the order said");
}

#[test]
fn four_freezes_of_one_peer_are_each_caught_as_fast_as_the_first() {
    let mut sim = Sim::new(78, Medium::default());
    sim.add_nodes(4, &ring_cfg());
    sim.run_for(secs(3));
    let victim = sim.id(3);
    let mut took = Vec::new();
    for round in 0..4 {
        let seen = sim.nodes[0].events.len();
        let frozen_at = sim.now;
        sim.freeze(3);
        sim.run_for(secs(6));
        let down = sim.nodes[0].events[seen..].iter().find_map(|(t, e)| match e {
            Event::PeerDown { node, .. } if *node == victim => Some(*t),
            _ => None,
        });
        let down = down.unwrap_or_else(|| panic!("freeze {round} never caught"));
        took.push(down.since(frozen_at));
        let frozen_events = sim.nodes[3].events.len();
        sim.thaw(3);
        sim.run_for(secs(4));
        assert_eq!(sim.members_of(0).len(), 3, "round {round}: back everywhere");
        let own_downs = sim.nodes[3].events[frozen_events..]
            .iter()
            .filter(|(_, e)| matches!(e, Event::PeerDown { .. } | Event::PeerSuspect { .. }))
            .count();
        assert_eq!(own_downs, 0, "round {round}: the resumed node does not judge its peers by its own pause");
        let clocks = clock_events(&sim, 3);
        assert_eq!(clocks, vec![], "round {round}: heartbeats that waited out the pause are not clock samples");
    }
    let first = took[0];
    assert!(first <= secs(4), "first freeze caught in {first:?}");
    for (k, t) in took.iter().enumerate() {
        assert!(t.as_secs_f64() <= first.as_secs_f64() * 1.5, "freeze {k} took {t:?}, the first {first:?}");
    }
}

#[test]
fn bare_text_with_an_escape_enters_every_log_once() {
    let mut sim = Sim::new(79, Medium::default());
    sim.add_nodes(4, &ring_cfg());
    sim.run_for(secs(2));
    let old_client = "10.0.9.9:40000".parse().unwrap();
    sim.inject_bare(old_client, "up\x1b[Aarrow\n");
    sim.run_for(secs(3));
    assert_all_hold(&sim, &["up[Aarrow"]);
}
