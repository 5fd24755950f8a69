//! Time and trust at the edges, simulated: freezes in large groups, the reasons a peer is shown
//! down, forged leaves and notices in an open group, wrong clocks of every kind, replays of a
//! previous life in a keyed group, and a newcomer after a long and troubled history.
//! Deterministic: every run with a seed is the same.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use groupcast::proto::wire::{self, Body, Frame};
use groupcast::proto::{Config, DownReason, DropReason, Event, NodeId, Seq, Status, Time};
use groupcast::sim::{Medium, Sim};

fn ring_cfg() -> Config {
    Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Every suspicion or verdict any node reported since event `from` of each node, as
/// (reporter, peer), leaving out those about `except`.
fn verdicts_since(sim: &Sim, from: &[usize], except: &[NodeId]) -> Vec<(usize, NodeId, String)> {
    let mut v = Vec::new();
    for (i, n) in sim.nodes.iter().enumerate() {
        for (_, e) in &n.events[from[i]..] {
            let (node, what) = match e {
                Event::PeerSuspect { node, .. } => (*node, "suspect".to_string()),
                Event::PeerDown { node, reason, .. } => (*node, format!("down ({})", reason.as_str())),
                _ => continue,
            };
            if !except.contains(&node) {
                v.push((i, node, what));
            }
        }
    }
    v
}

fn marks(sim: &Sim) -> Vec<usize> {
    sim.nodes.iter().map(|n| n.events.len()).collect()
}

/// When node `i` first reported `victim` down after its event `from`, and why.
fn down_since(sim: &Sim, i: usize, from: usize, victim: NodeId) -> Option<(Time, DownReason)> {
    sim.nodes[i].events[from..].iter().find_map(|(t, e)| match e {
        Event::PeerDown { node, reason, .. } if *node == victim => Some((*t, *reason)),
        _ => None,
    })
}

/// A group of `n` ring nodes; one of them is frozen (SIGSTOP) four times, the first two times
/// the same one, and thawed after each. Every other node shows it down within a second, for
/// the same reason, every time; nobody else is ever suspected.
fn freezes_in_a_group_of(n: usize, seed: u64) {
    freezes(n, seed, false);
}

/// As `freezes_in_a_group_of`; `short`: each freeze ends as soon as every node shows it down
/// (as `bench.sh --only freeze` does), so the same host is frozen again seconds after a freeze
/// it came back from within a second of being found silent.
fn freezes(n: usize, seed: u64, short: bool) {
    let mut sim = Sim::new(seed, Medium::default());
    sim.add_nodes(n, &ring_cfg());
    sim.run_for(secs(if n > 20 { 25 } else { 4 }));
    let start = marks(&sim);
    let mut frozen_ids = Vec::new();
    for (round, victim) in [n / 3, n / 3, n / 2, n - 1].into_iter().enumerate() {
        let id = sim.id(victim);
        frozen_ids.push(id);
        let from = marks(&sim);
        let at = sim.now;
        sim.freeze(victim);
        if short {
            for _ in 0..300 {
                sim.run_for(ms(10));
                if (0..n).filter(|&i| i != victim).all(|i| down_since(&sim, i, from[i], id).is_some()) {
                    break;
                }
            }
        } else {
            sim.run_for(secs(3));
        }
        let mut slowest = Duration::ZERO;
        for i in (0..n).filter(|&i| i != victim) {
            let (t, reason) = down_since(&sim, i, from[i], id).unwrap_or_else(|| {
                let about = |j: usize| {
                    let evs: Vec<String> = sim.nodes[j].events[from[j]..]
                        .iter()
                        .filter(|(_, e)| format!("{e:?}").contains(&format!("{id:?}")))
                        .map(|(t, e)| format!("{:?} {e:?}", t.since(at)))
                        .collect();
                    evs.join("\n  ")
                };
                panic!(
                    "{n} nodes, freeze {round}: node {i} never showed it down; its neighbours saw:\n  {}\n--\n  {}",
                    about(victim - 1),
                    about((victim + 1) % n)
                )
            });
            assert_eq!(reason, DownReason::Silent, "{n} nodes, freeze {round}: node {i} gives another reason");
            slowest = slowest.max(t.since(at));
        }
        assert!(slowest <= secs(1), "{n} nodes, freeze {round}: down everywhere only after {slowest:?}");
        sim.thaw(victim);
        sim.run_for(secs(if n > 20 { 12 } else { 4 }));
        for i in 0..n {
            assert_eq!(sim.members_of(i).len(), n - 1, "{n} nodes, freeze {round}: node {i} lists everyone again");
        }
    }
    let others = verdicts_since(&sim, &start, &frozen_ids);
    assert_eq!(others, vec![], "{n} nodes: suspicions of nodes that never failed");
}

#[test]
fn a_frozen_host_is_down_everywhere_within_a_second_among_five() {
    freezes_in_a_group_of(5, 2101);
}

/// Short freezes, thawed as soon as everyone shows the host down: a host that came back within
/// a second was stopped, not one whose links failed while it spoke on, and its next freeze is
/// down everywhere within a second as well.
#[test]
fn a_host_frozen_again_after_a_short_freeze_is_down_within_a_second_again() {
    freezes(150, 2103, true);
}

#[test]
fn a_frozen_host_is_down_everywhere_within_a_second_among_a_hundred_and_fifty() {
    freezes_in_a_group_of(150, 2102);
}

#[test]
fn a_crashed_host_is_shown_crashed_on_every_node() {
    let mut sim = Sim::new(2103, Medium { loss: 0.05, ..Medium::default() });
    sim.add_nodes(8, &ring_cfg());
    sim.run_for(secs(3));
    let victim = sim.id(3);
    let from = marks(&sim);
    sim.crash(3);
    sim.run_for(secs(2));
    for i in sim.up() {
        let (_, reason) = down_since(&sim, i, from[i], victim).expect("shown down");
        assert_eq!(reason, DownReason::Crashed, "node {i}");
    }
}

/// A leave in `victim`'s name from its own address (which its own kernel never delivers to
/// it), numbered a little above its last frame, as an attacker on the LAN would send it.
fn forged_leave(sim: &mut Sim, victim: usize) {
    let n = &sim.nodes[victim].node;
    let f = Frame {
        sender: n.id(),
        incarnation: n.incarnation(),
        seq: Seq(n.stats().frames_sent + 20),
        hlc: n.group_now(),
        body: Body::Leave,
    };
    let bytes = wire::encode(&f).unwrap();
    let from = sim.nodes[victim].addr;
    let others: Vec<usize> = sim.up().into_iter().filter(|&i| i != victim).collect();
    sim.inject(from, &bytes, &others);
}

/// How long each node showed `id` as gone (left or down) over the last `run`, sampled every
/// 10 ms.
fn shown_out(sim: &mut Sim, id: NodeId, run: Duration) -> Vec<Duration> {
    let n = sim.nodes.len();
    let mut out = vec![Duration::ZERO; n];
    let step = ms(10);
    let mut t = Duration::ZERO;
    while t < run {
        sim.run_for(step);
        t += step;
        for (i, o) in out.iter_mut().enumerate() {
            if sim.nodes[i].node.id() != id && !sim.nodes[i].node.peer_status(id).is_some_and(Status::is_member) {
                *o += step;
            }
        }
    }
    out
}

#[test]
fn a_forged_leave_costs_a_live_peer_well_under_two_seconds_each_time() {
    for n in [5, 40, 150] {
        let mut sim = Sim::new(2104 + n as u64, Medium::default());
        sim.add_nodes(n, &ring_cfg());
        sim.run_for(secs(if n > 20 { 25 } else { 3 }));
        let victim = n / 2;
        let id = sim.id(victim);
        let (prev, next) = sim.expected_ring(victim, &sim.up());
        for round in 0..4 {
            forged_leave(&mut sim, victim);
            let out = shown_out(&mut sim, id, secs(4));
            let worst = out.iter().max().copied().unwrap_or_default();
            assert!(worst <= secs(2), "{n} nodes, forgery {round}: shown out for {worst:?} ({out:?})");
            for neighbour in [prev, next] {
                let j = (0..n).find(|&j| sim.id(j) == neighbour).expect("a node");
                assert_eq!(out[j], Duration::ZERO, "{n} nodes, forgery {round}: its ring neighbour {j} believed it");
                assert!(sim.nodes[j].node.linked().any(|l| l == id), "{n} nodes: node {j} dropped its link");
            }
            sim.run_for(secs(3));
        }
        let stats = sim.nodes[(victim + n / 3) % n].node.stats().clone();
        assert!(stats.dropped.get(&groupcast::proto::DropReason::ForgedLeave).copied().unwrap_or(0) >= 4, "{stats:?}");
    }
}

#[test]
fn a_real_leave_is_shown_at_once_even_by_its_ring_neighbours() {
    let mut sim = Sim::new(2108, Medium::default());
    sim.add_nodes(6, &ring_cfg());
    sim.run_for(secs(3));
    let id = sim.id(2);
    sim.command(2, groupcast::proto::Command::Leave);
    sim.run_for(ms(100));
    for i in (0..6).filter(|&i| i != 2) {
        assert_eq!(sim.nodes[i].node.peer_status(id), Some(Status::Left), "node {i}");
    }
    sim.run_for(secs(3));
    for i in (0..6).filter(|&i| i != 2) {
        assert_eq!(sim.nodes[i].node.peer_status(id), Some(Status::Left), "node {i}: still gone");
    }
}

/// A down notice about a live peer, in the peer's own name and from its own address (so the
/// peer itself never hears it and cannot answer it), in a group large enough that heartbeats
/// come seconds apart: its ring neighbours, who still hear it on their links, vouch for it.
#[test]
fn a_forged_down_notice_costs_a_live_peer_well_under_two_seconds() {
    let mut sim = Sim::new(2109, Medium::default());
    sim.add_nodes(150, &ring_cfg());
    sim.run_for(secs(25));
    let victim = 70;
    let id = sim.id(victim);
    for round in 0..4 {
        let n = &sim.nodes[victim].node;
        let f = Frame {
            sender: id,
            incarnation: n.incarnation(),
            seq: Seq(n.stats().frames_sent + 3),
            hlc: n.group_now(),
            body: Body::Down { node: id, incarnation: n.incarnation(), why: Some(wire::Gone::Crashed) },
        };
        let from: SocketAddr = sim.nodes[victim].addr;
        let others: Vec<usize> = (0..150).filter(|&i| i != victim).collect();
        sim.inject(from, &wire::encode(&f).unwrap(), &others);
        let out = shown_out(&mut sim, id, secs(5));
        let worst = out.iter().max().copied().unwrap_or_default();
        assert!(worst <= secs(2), "forgery {round}: shown down for {worst:?}");
        assert!(out.iter().any(|o| !o.is_zero()), "forgery {round}: nobody believed it (the test tests nothing)");
    }
}

// ---- clocks -----------------------------------------------------------------------------------

use groupcast::proto::{ClockCause, Command, Name};
use groupcast::sim::START_MS;

/// A wall clock that reads 1970 (a lost RTC battery): this far off true time.
const IN_1970: i64 = -(START_MS as i64) + 5_000;
/// Sixty years ahead.
const SIXTY_YEARS: i64 = 60 * 365 * 86_400_000;

fn named(name: &str) -> Config {
    Config { name: Name::clip(name), ..ring_cfg() }
}

fn say(sim: &mut Sim, i: usize, text: &str) {
    sim.command(i, Command::Say(text.into()));
}

/// The clock events of node `i`.
fn clock_moves(sim: &Sim, i: usize) -> Vec<(i64, ClockCause)> {
    sim.nodes[i]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Clock { skew_ms, cause } => Some((*skew_ms, *cause)),
            _ => None,
        })
        .collect()
}

/// How far node `i`'s group time is from true time, in ms.
fn group_time_error(sim: &Sim, i: usize) -> i64 {
    let group = sim.nodes[i].node.group_now().to_unix().as_millis() as i64;
    group - sim.now.as_millis() as i64
}

/// Every live node's group time is within a second and a half of true time, and every
/// message stamp is within `slack` of when it was said (true time).
fn assert_on_true_time(sim: &Sim, what: &str) {
    for i in sim.up() {
        let e = group_time_error(sim, i);
        assert!(e.abs() <= 1_500, "{what}: node {i} keeps group time {e} ms off true time");
    }
}

fn texts(sim: &Sim, i: usize) -> Vec<String> {
    sim.nodes[i].node.log().iter().map(|e| e.text.to_string()).collect()
}

/// Every live node holds the same log, nothing pending, and `last` as the shared message.
fn assert_settled_on(sim: &Sim, last: &str, what: &str) {
    let up = sim.up();
    let first = sim.nodes[up[0]].node.snapshot();
    for &i in &up {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.log_digest, first.log_digest, "{what}: node {i} holds another log: {:?}", texts(sim, i));
        assert_eq!(s.pending, 0, "{what}: node {i} has {} messages not settled", s.pending);
        assert_eq!(s.shared.as_ref().map(|e| &*e.text), Some(last), "{what}: node {i}'s shared message");
    }
}

/// The issue's first case: a host whose clock reads 1970 is in the first pair; three more
/// hosts join, everyone talks, the 1970 host is killed. Nobody's group time ever leaves true
/// time but the 1970 host's own, which follows the others' at once.
#[test]
fn a_1970_clock_in_the_first_pair_never_drags_the_group() {
    let mut sim = Sim::new(2201, Medium { loss: 0.05, ..Medium::default() });
    let a = sim.add_node(named("a"));
    let w = sim.add_node_skewed(named("w1970"), IN_1970);
    sim.run_for(secs(2));
    say(&mut sim, w, "from 1970");
    sim.run_for(ms(300));
    say(&mut sim, a, "from a");
    for k in 0..3 {
        sim.add_node(named(&format!("late{k}")));
        sim.run_for(ms(700));
    }
    sim.run_for(secs(2));
    for (k, i) in sim.up().into_iter().enumerate() {
        say(&mut sim, i, &format!("round {k}"));
        sim.run_for(ms(200));
    }
    sim.run_for(secs(3));
    assert_on_true_time(&sim, "all five");
    for i in (0..5).filter(|&i| i != w) {
        assert_eq!(clock_moves(&sim, i), vec![], "node {i} moved its clock");
    }
    assert!(!clock_moves(&sim, w).is_empty(), "the 1970 host follows");
    let said: Vec<String> = texts(&sim, a);
    assert_eq!(&said[..2], ["from 1970", "from a"], "in the order said");
    assert_settled_on(&sim, "round 4", "before the kill");
    sim.crash(w);
    sim.run_for(secs(5));
    assert_on_true_time(&sim, "after the 1970 host died");
    let live: Vec<usize> = sim.up();
    say(&mut sim, live[0], "after");
    sim.run_for(secs(2));
    assert_settled_on(&sim, "after", "after the kill");
}

/// A host 3 s slow in the first pair: no one follows it, a third host's clock decides, and
/// from then on it follows the others (and only it moves).
#[test]
fn a_slow_host_in_the_first_pair_moves_no_one() {
    let mut sim = Sim::new(2202, Medium::default());
    let a = sim.add_node(named("a"));
    let slow = sim.add_node_skewed(named("slow"), -3_000);
    sim.run_for(secs(2));
    assert_eq!(clock_moves(&sim, a), vec![], "two clocks are not a majority");
    assert_eq!(clock_moves(&sim, slow), vec![], "two clocks are not a majority");
    assert_eq!(group_time_error(&sim, slow).abs() / 100, 30, "a pair keeps each its own clock");
    for k in 0..3 {
        sim.add_node(named(&format!("late{k}")));
        sim.run_for(secs(1));
    }
    sim.run_for(secs(3));
    assert_on_true_time(&sim, "five");
    for i in (0..5).filter(|&i| i != slow) {
        assert_eq!(clock_moves(&sim, i), vec![], "node {i} moved its clock");
    }
    let moved: i64 = clock_moves(&sim, slow)
        .iter()
        .map(|(_, c)| match c {
            ClockCause::Group { by_ms } => *by_ms,
            ClockCause::Step { .. } => 0,
        })
        .sum();
    assert!((moved - 3_000).abs() <= 1_000, "the slow host follows by about 3 s: {moved}");
    say(&mut sim, slow, "slow speaks");
    sim.run_for(ms(100));
    say(&mut sim, a, "a answers");
    sim.run_for(secs(3));
    assert_settled_on(&sim, "a answers", "five");
}

/// Four hosts boot at once under load, one with a 1970 clock and one sixty years ahead: the
/// group keeps true time, the two extreme hosts follow it, and the messages come out in the
/// order said.
#[test]
fn hosts_booting_together_with_extreme_clocks_keep_true_time() {
    for seed in 2203..2211 {
        let mut sim = Sim::new(seed, Medium { loss: 0.1, ..Medium::default() });
        sim.add_node(named("a"));
        sim.add_node_skewed(named("old"), IN_1970);
        sim.add_node(named("b"));
        sim.add_node_skewed(named("future"), SIXTY_YEARS);
        for k in 0..40 {
            say(&mut sim, k % 4, &format!("m{k:02}"));
            sim.run_for(ms(50));
        }
        sim.run_for(secs(5));
        assert_on_true_time(&sim, &format!("seed {seed}"));
        for i in [0, 2] {
            assert_eq!(clock_moves(&sim, i), vec![], "seed {seed}: a host with a right clock moved");
        }
        // Said 50 ms apart, by hosts that all follow true time from before the first was
        // stamped (what is said before a node knows the group's time waits): in order.
        let want: Vec<String> = (0..40).map(|k| format!("m{k:02}")).collect();
        assert_eq!(texts(&sim, 0), want, "seed {seed}: the order said");
        assert_settled_on(&sim, "m39", &format!("seed {seed}"));
    }
}

/// When node `i`'s message `text` was stamped, against true time when it was said (`said_ms`).
fn stamp_error(sim: &Sim, i: usize, text: &str, said_ms: u64) -> i64 {
    let e = sim.nodes[i].node.log().iter().find(|e| &*e.text == text).expect("the message is held").clone();
    e.ts.to_unix().as_millis() as i64 - said_ms as i64
}

/// A newcomer whose clock is wrong joins beside a ring neighbour whose clock is wrong too (3
/// minutes slow; the other neighbour and two more hosts are right), and its user speaks at once:
/// the two neighbours' clocks are no majority, so its first message waits for the rest of the
/// ring's, and is stamped on true time. Five minutes fast, and 1970, each three times.
#[test]
fn a_newcomer_beside_a_wrong_neighbour_stamps_its_first_message_on_the_groups_time() {
    for (case, skew) in [("5 min fast", 300_000), ("1970", IN_1970)] {
        for seed in 0..3 {
            let mut sim = Sim::new(2230 + seed, Medium { loss: 0.02, ..Medium::default() });
            for k in 0..3 {
                sim.add_node(named(&format!("q{k}")));
            }
            // The newcomer comes last in address order: its ring neighbours are this one and q0.
            sim.add_node_skewed(named("slow"), -180_000);
            sim.run_for(secs(3));
            let newcomer = sim.add_node_skewed(named("new"), skew);
            let said = sim.now.as_millis();
            say(&mut sim, newcomer, "first words");
            sim.run_for(secs(5));
            for i in sim.up() {
                let e = stamp_error(&sim, i, "first words", said);
                assert!(e.abs() <= 1_500, "{case}, seed {seed}: node {i} holds it stamped {e} ms off true time");
            }
            assert_on_true_time(&sim, case);
        }
    }
}

/// Every live node keeps group time within a second and a half of true time plus `offset_ms`.
fn assert_one_time(sim: &Sim, offset_ms: i64, what: &str) {
    for i in sim.up() {
        let e = group_time_error(sim, i) - offset_ms;
        assert!(e.abs() <= 1_500, "{what}: node {i} keeps group time {e} ms off the group's");
    }
}

/// Two segments, cut apart from the start: three hosts on true time, and four whose clocks all
/// read 1970, or are all 5 s slow, or all 5 s fast. Each talks; then the cut heals. The whole
/// group ends on one time: true time when the four's clocks cannot be right, else theirs (they
/// are the majority). The logs merge, and afterwards each new message becomes the shared
/// message and settles everywhere.
#[test]
fn segments_on_different_times_merge_and_the_shared_message_keeps_moving() {
    for (case, skew, time) in [("1970", IN_1970, 0), ("5 s slow", -5_000, -5_000), ("5 s fast", 5_000, 5_000)] {
        let mut sim = Sim::new(2210, Medium::default());
        for k in 0..3 {
            sim.add_node(named(&format!("x{k}")));
        }
        for k in 0..4 {
            let i = sim.add_node_skewed(named(&format!("y{k}")), skew);
            sim.cut.insert(i);
        }
        sim.run_for(secs(3));
        for k in 0..7 {
            say(&mut sim, k, &format!("apart {k}"));
            sim.run_for(ms(100));
        }
        sim.run_for(secs(2));
        let healed = marks(&sim);
        sim.cut.clear();
        sim.run_for(secs(8));
        assert_one_time(&sim, time, case);
        // The ring changes as the segments merge: no peer is suspected over and over.
        let mut suspected = std::collections::BTreeMap::<(usize, NodeId), usize>::new();
        for (i, node, what) in verdicts_since(&sim, &healed, &[]) {
            if what == "suspect" {
                *suspected.entry((i, node)).or_default() += 1;
            }
        }
        let most = suspected.values().max().copied().unwrap_or(0);
        assert!(most <= 2, "{case}: a peer suspected {most} times by one node in the merge: {suspected:?}");
        // Those that moved back began new lives: their neighbours take that for what it is.
        for i in sim.up() {
            let forged = sim.nodes[i].node.snapshot().stats.dropped.get(&DropReason::ForgedLife).copied();
            assert_eq!(forged, None, "{case}: node {i} took a clock's new life for a forged one");
        }
        let unmoved = if time == 0 { 0..3 } else { 3..7 };
        for i in unmoved {
            assert_eq!(clock_moves(&sim, i), vec![], "{case}: the majority's node {i} moved its clock");
        }
        for (round, i) in [5, 1, 6, 2].into_iter().enumerate() {
            let text = format!("merged {round}");
            say(&mut sim, i, &text);
            // What the three said before the merge is stamped ahead of the group's time now
            // (it moved back): each new message is written over it, and takes its place.
            sim.run_for(secs(2));
            let what = format!("{case}, after the merge, round {round}");
            if time < 0 {
                assert_shared_on(&sim, &text, &what);
            } else {
                assert_settled_on(&sim, &text, &what);
            }
        }
    }
}

/// Every live node holds the same log, and `last` as the shared message, settled (messages
/// stamped ahead of the group's time may wait for it).
fn assert_shared_on(sim: &Sim, last: &str, what: &str) {
    let up = sim.up();
    let first = sim.nodes[up[0]].node.snapshot();
    for &i in &up {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.log_digest, first.log_digest, "{what}: node {i} holds another log: {:?}", texts(sim, i));
        let shared = s.shared.as_ref().expect("a shared message");
        assert_eq!(&*shared.text, last, "{what}: node {i}'s shared message");
        assert!(shared.ts <= s.settled, "{what}: node {i} has not settled the shared message");
    }
}

/// The trial's case: a segment of three, two of them ahead (two minutes, or a day), writes
/// while cut off from three hosts on true time, so what it says is stamped ahead. After the
/// heal the group is on true time, and every message written from then on becomes the shared
/// message everywhere and settles at once: none waits for the clock to catch up with the
/// stamps from before. Then one host ahead by an hour is cut off alone, writes, and heals: the
/// same. Each four times.
#[test]
fn a_message_stamped_ahead_never_holds_the_shared_message() {
    for (case, skew) in [("2 min ahead", 120_000), ("a day ahead", 86_400_000)] {
        let mut sim = Sim::new(2240, Medium { loss: 0.05, ..Medium::default() });
        for k in 0..3 {
            sim.add_node(named(&format!("a{k}")));
        }
        for k in 0..3 {
            let i = sim.add_node_skewed(named(&format!("b{k}")), if k < 2 { skew } else { 0 });
            sim.cut.insert(i);
        }
        sim.run_for(secs(4));
        for k in [3, 5, 0] {
            say(&mut sim, k, &format!("before the merge {k}"));
            sim.run_for(ms(200));
        }
        sim.cut.clear();
        // (Steps that double each heartbeat: a day back takes 17.)
        sim.run_for(secs(12));
        assert_on_true_time(&sim, case);
        for (round, i) in [0, 4, 5, 1].into_iter().enumerate() {
            let text = format!("{case}: merged {round}");
            say(&mut sim, i, &text);
            sim.run_for(secs(2));
            assert_shared_on(&sim, &text, &format!("{case}, round {round}"));
        }
        // One host an hour ahead, cut off alone: it goes back to its own clock and writes.
        let lone = sim.add_node_skewed(named("lone"), 3_600_000);
        sim.run_for(secs(4));
        for round in 0..4 {
            sim.cut.insert(lone);
            sim.run_for(secs(8));
            say(&mut sim, lone, &format!("{case}: alone {round}"));
            sim.run_for(ms(500));
            sim.cut.clear();
            sim.run_for(secs(6));
            let text = format!("{case}: healed {round}");
            say(&mut sim, round % 3, &text);
            sim.run_for(secs(2));
            assert_shared_on(&sim, &text, &format!("{case}, the lone host's round {round}"));
        }
    }
}

/// The host whose clock reads 1970 starts first, alone; four join one by one. It dies,
/// restarts, dies again: nobody's group time ever leaves true time.
#[test]
fn the_wrong_host_first_alone_then_dying_and_coming_back_moves_no_one() {
    let mut sim = Sim::new(2220, Medium::default());
    let wrong = sim.add_node_skewed(named("wrong"), IN_1970);
    sim.run_for(secs(2));
    for k in 0..4 {
        sim.add_node(named(&format!("n{k}")));
        sim.run_for(ms(700));
    }
    sim.run_for(secs(3));
    assert_on_true_time(&sim, "five");
    for round in 0..2 {
        sim.crash(wrong);
        sim.run_for(secs(4));
        assert_on_true_time(&sim, &format!("round {round}, without it"));
        sim.restart(wrong);
        sim.run_for(secs(4));
        assert_on_true_time(&sim, &format!("round {round}, back"));
    }
    for i in 1..5 {
        assert_eq!(clock_moves(&sim, i), vec![], "node {i} moved its clock");
    }
}

// ---- replays in a keyed group -------------------------------------------------------------

fn keyed(name: &str) -> Config {
    Config { key: Some(groupcast::proto::GroupKey::new(&[9; 32], "lab")), ..named(name) }
}

/// An attacker on a member's own host records 20 s of its sealed datagrams. 25 s after the
/// member's last frame the attacker plays the recording back from that address, freshest
/// first, to everyone; the member restarts (a new id, the same address) as it begins. The
/// first time the member is alone (the issue's case: its old life's clock was the only one it
/// heard), the next times the group is there. Nobody's clock moves; newcomers started
/// afterwards hear the restarted member, link to it when it is their neighbour, and get what it
/// says.
#[test]
fn a_previous_life_replayed_from_its_own_address_moves_no_clock_and_splits_no_one() {
    let mut sim = Sim::new(2301, Medium::default());
    let r = sim.add_node(keyed("r"));
    sim.run_for(secs(1));
    // Four times: the old life sorts before the new one in the ring's order in some rounds, and
    // after it in others (their ids are random), and before or after the newcomers.
    for round in 0..4 {
        sim.capture.insert(r);
        for k in 0..10 {
            say(&mut sim, r, &format!("life {round} line {k}"));
            sim.run_for(secs(2));
        }
        sim.capture.clear();
        let recording = std::mem::take(&mut sim.captured);
        assert!(recording.len() > 40, "recorded {} datagrams", recording.len());
        sim.crash(r);
        sim.run_for(secs(25));
        // Played back freshest first, from just before it restarts, so that the first thing
        // the new life hears is its old life (most of it over 30 s old by then); three times
        // over, and newcomers start while it plays.
        let mut late = Vec::new();
        for pass in 0..3 {
            for (k, (from, bytes)) in recording.iter().rev().enumerate() {
                if pass == 0 && k == 5 {
                    sim.restart(r);
                }
                if pass == 1 && k == 0 {
                    say(&mut sim, r, &format!("back {round}"));
                    late = (0..3).map(|k| sim.add_node(keyed(&format!("late{round}.{k}")))).collect();
                }
                let to: Vec<usize> =
                    (0..sim.nodes.len()).filter(|&i| sim.nodes[i].up && (pass > 0 || k >= 5 || i != r)).collect();
                sim.inject(*from, bytes, &to);
                sim.run_for(ms(20));
            }
        }
        // Still while the old life plays, the newcomers and the restarted member are linked
        // into the real ring (a played-back life never dials, and a dial to it fails).
        let rid = sim.id(r);
        for &n in late.iter().chain([r].iter()) {
            let (prev, next) = sim.expected_ring(n, &sim.up());
            let linked: Vec<NodeId> = sim.nodes[n].node.linked().collect();
            assert!(linked.contains(&prev) && linked.contains(&next), "round {round}: node {n} is not in the ring");
        }
        sim.run_for(secs(6));
        assert_on_true_time(&sim, &format!("round {round}"));
        for i in sim.up() {
            let moved: Vec<_> =
                clock_moves(&sim, i).into_iter().filter(|(_, c)| matches!(c, ClockCause::Group { .. })).collect();
            assert_eq!(moved, vec![], "round {round}: node {i}'s clock moved");
        }
        for &n in &late {
            assert_eq!(sim.nodes[n].node.peer_status(rid), Some(Status::Alive), "round {round}: newcomer {n} hears it");
            let (prev, next) = sim.expected_ring(n, &sim.up());
            if prev == rid || next == rid {
                assert!(sim.nodes[n].node.linked().any(|l| l == rid), "round {round}: newcomer {n} links to it");
            }
            assert!(texts(&sim, n).contains(&format!("back {round}")), "round {round}: newcomer {n} got its message");
        }
        assert_settled_on(&sim, &format!("back {round}"), &format!("round {round}"));
    }
}

// ---- a newcomer after a troubled history ------------------------------------------------------

/// A message in `victim`'s name, numbered `msg_seq`, from its own address (open group).
fn forged_message(sim: &mut Sim, victim: usize, msg_seq: u64, text: &str) {
    let n = &sim.nodes[victim].node;
    let body = Body::Message(wire::MessageBody {
        msg_seq: Seq(msg_seq),
        name: n.name().into(),
        text: text.into(),
        bare_from: None,
        over: None,
    });
    let f = Frame {
        sender: n.id(),
        incarnation: n.incarnation(),
        seq: Seq(n.stats().frames_sent + 5),
        hlc: n.group_now(),
        body,
    };
    let from = sim.nodes[victim].addr;
    let others: Vec<usize> = sim.up().into_iter().filter(|&i| i != victim).collect();
    sim.inject(from, &wire::encode(&f).unwrap(), &others);
}

/// Heartbeats of `count` made-up peers from as many addresses, once each.
fn made_up_flood(sim: &mut Sim, count: u64, round: u64) {
    let everyone = sim.up();
    for k in 0..count {
        let beat = wire::Beat {
            time_ms: sim.reading(0).wall.as_millis() as u64,
            skew_ms: 0,
            name: format!("fake{k}"),
            msg_seq: Seq(round + 1),
            interval_ms: 500,
            tcp_port: 7000,
            frontier: groupcast::proto::Hlc(0),
            links: Vec::new(),
            resumed: false,
        };
        let f = Frame {
            sender: NodeId(0xfa00_0000 + round * 100_000 + k),
            incarnation: groupcast::proto::Incarnation(1 + round),
            seq: Seq(1),
            hlc: sim.nodes[0].node.group_now(),
            body: Body::Heartbeat(beat),
        };
        let from: SocketAddr = format!("10.9.{}.{}:12345", k / 250, k % 250 + 1).parse().unwrap();
        sim.inject(from, &wire::encode(&f).unwrap(), &everyone);
    }
}

/// Every message node `i` holds, by (node, life, number).
fn held(sim: &Sim, i: usize) -> BTreeSet<(NodeId, u64, u64)> {
    sim.nodes[i].node.log().iter().map(|e| (e.node, e.incarnation.0, e.seq.0)).collect()
}

/// Forged leaves, downs, messages and versions, a flood of thousands of made-up peers, kills,
/// restarts and new lives, with messages all along; then newcomers, one after another. Each
/// gets every message the group holds, or a `gap` event naming each one it cannot get: never
/// silently fewer.
#[test]
fn a_newcomer_after_any_history_gets_everything_or_is_told_what_not() {
    use std::collections::BTreeSet as Set;
    let mut sim = Sim::new(2401, Medium { loss: 0.05, ..Medium::default() });
    for k in 0..6 {
        sim.add_node(named(&format!("h{k}")));
    }
    sim.run_for(secs(3));
    let mut said = 0;
    let mut talk = |sim: &mut Sim, n: usize| {
        for _ in 0..n {
            let up = sim.up();
            let i = up[said % up.len()];
            say(sim, i, &format!("said {said}"));
            said += 1;
            sim.run_for(ms(60));
        }
    };
    for round in 0..4u64 {
        talk(&mut sim, 10);
        forged_leave(&mut sim, 1);
        talk(&mut sim, 3);
        // A message forged in h2's name, numbered as one it already used, then as its next.
        forged_message(&mut sim, 2, 1, &format!("forged old {round}"));
        let next = sim.nodes[2].node.log().iter().filter(|e| e.node == sim.id(2)).count() as u64 + 1;
        forged_message(&mut sim, 2, next, &format!("forged next {round}"));
        talk(&mut sim, 3);
        made_up_flood(&mut sim, 1_500, round);
        talk(&mut sim, 3);
        sim.crash(3 + (round as usize % 2));
        talk(&mut sim, 5);
        sim.run_for(secs(2));
        sim.restart(3 + (round as usize % 2));
        sim.step_clock(5, if round % 2 == 0 { 4_000 } else { -4_000 });
        talk(&mut sim, 5);
        sim.run_for(secs(3));
    }
    sim.run_for(secs(10));
    let group = held(&sim, 0);
    assert!(group.len() > 100, "history of {} messages", group.len());
    for k in 0..3 {
        let late = sim.add_node(named(&format!("late{k}")));
        sim.run_for(secs(8));
        let got = held(&sim, late);
        let gaps: Vec<(NodeId, u64, u64)> = sim.nodes[late]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Gap { node, from, to } => Some((*node, from.0, to.0)),
                _ => None,
            })
            .collect();
        let missing: Set<_> = group
            .difference(&got)
            .filter(|(n, _, s)| !gaps.iter().any(|(g, a, b)| g == n && (a..=b).contains(&s)))
            .collect();
        assert!(
            missing.is_empty(),
            "newcomer {k} silently lacks {} of {}: {:?}",
            missing.len(),
            group.len(),
            missing.iter().take(5).collect::<Vec<_>>()
        );
        assert_eq!(sim.nodes[late].node.snapshot().log_digest, sim.nodes[0].node.snapshot().log_digest, "newcomer {k}");
    }
}

/// A member whose ring links fall silent while its heartbeats go on (a firewall that drops its
/// TCP, not its UDP) is suspected and re-dialled, but not shown down: in a small group its
/// heartbeats, which come more often than a link's silence is judged, say it lives; in a large
/// one, whose heartbeats come a second or more apart, it may be found silent once, answers the
/// notice at once, and its links are no witness against it for a while after.
#[test]
fn a_member_whose_links_fall_silent_but_whose_heartbeats_go_on_is_never_shown_down() {
    for n in [5, 40] {
        let mut sim = Sim::new(2501 + n as u64, Medium::default());
        sim.add_nodes(n, &ring_cfg());
        sim.run_for(secs(if n > 20 { 20 } else { 3 }));
        let id = sim.id(2);
        let from = marks(&sim);
        sim.mute_links.insert(2);
        sim.run_for(secs(6));
        sim.mute_links.clear();
        sim.run_for(secs(4));
        for i in (0..n).filter(|&i| i != 2) {
            let downs: Vec<_> = sim.nodes[i].events[from[i]..]
                .iter()
                .filter(|(_, e)| matches!(e, Event::PeerDown { node, .. } if *node == id))
                .collect();
            let most = usize::from(n > 20);
            assert!(downs.len() <= most, "{n} nodes: node {i} showed it down: {downs:?}");
            assert_eq!(sim.nodes[i].node.peer_status(id), Some(Status::Alive), "{n} nodes: node {i}");
        }
    }
}

/// After a flood of made-up peers, many with lower ids than any real member's, an old client's
/// bare text still enters every log once: the made-up peers, linked by no one, never count as
/// the text's stamper.
#[test]
fn a_flood_of_made_up_peers_never_enters_bare_text_twice() {
    let mut sim = Sim::new(2601, Medium::default());
    sim.add_nodes(5, &ring_cfg());
    sim.run_for(secs(3));
    for round in 0..4 {
        made_up_flood(&mut sim, 300, round);
        sim.run_for(secs(1));
        let old_client: SocketAddr = "10.0.9.9:40000".parse().unwrap();
        sim.inject_bare(old_client, &format!("bare {round}"));
        sim.run_for(secs(6));
    }
    let want: Vec<String> = (0..4).map(|k| format!("bare {k}")).collect();
    for i in sim.up() {
        assert_eq!(texts(&sim, i), want, "node {i}: each once, in order");
    }
}
