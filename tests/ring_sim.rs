//! The ring and reliable convergence, simulated: TCP links between neighbours, repair over the
//! ring, settled marks, failures confirmed by the ring, partitions that heal, restarts.
//! Deterministic: every run with a seed is the same.

use std::collections::BTreeSet;
use std::time::Duration;

use groupcast::proto::{Command, Config, DownVia, Event, Name, NodeId, Status};
use groupcast::sim::{Medium, Sim};

fn ring_cfg() -> Config {
    Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Every live node's ring is its place among the live nodes in address order, and it holds
/// links exactly to those neighbours.
fn assert_ring(sim: &Sim) {
    let live = sim.up();
    for &i in &live {
        let ring = sim.nodes[i].node.ring();
        if live.len() == 1 {
            assert_eq!((ring.prev, ring.next), (None, None), "a lone node has no ring");
            continue;
        }
        let (prev, next) = sim.expected_ring(i, &live);
        assert_eq!((ring.prev, ring.next), (Some(prev), Some(next)), "node {i}'s ring");
        let links: BTreeSet<NodeId> = sim.nodes[i].node.linked().collect();
        assert_eq!(links, [prev, next].into_iter().collect(), "node {i}'s links");
    }
}

/// Every live node holds the same log and shared message.
fn assert_converged(sim: &Sim) -> String {
    let live = sim.up();
    let first = sim.nodes[live[0]].node.snapshot();
    for &i in &live[1..] {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.messages, first.messages, "node {i} message count");
        assert_eq!(s.log_digest, first.log_digest, "node {i} log");
        assert_eq!(s.shared, first.shared, "node {i} shared message");
    }
    first.log_digest
}

#[test]
fn one_two_three_and_five_nodes_make_zero_one_three_and_five_links() {
    for (n, links) in [(1, 0), (2, 1), (3, 3), (5, 5)] {
        let mut sim = Sim::new(10 + n as u64, Medium::default());
        sim.add_nodes(n, &ring_cfg());
        sim.run_for(secs(3));
        assert_ring(&sim);
        assert_eq!(sim.link_count(), links, "{n} nodes");
        assert_eq!(sim.dials as usize, links, "{n} nodes: no duplicate dials");
    }
}

#[test]
fn the_ring_closes_around_a_crash_and_the_crash_is_down_everywhere_within_a_second() {
    let mut sim = Sim::new(21, Medium { loss: 0.05, ..Medium::default() });
    sim.add_nodes(12, &ring_cfg());
    sim.run_for(secs(3));
    assert_ring(&sim);
    let victim = sim.id(5);
    sim.crash(5);
    let t0 = sim.now;
    sim.run_for(secs(1));
    for i in sim.up() {
        assert_eq!(sim.nodes[i].node.peer_status(victim), Some(Status::Down), "node {i}");
        let (t, _, via) = sim.first_down(i, victim).expect("peer_down");
        assert!(t.since(t0) < Duration::from_millis(200), "node {i} after {:?} via {via}", t.since(t0));
        assert!(via == DownVia::Link || via == DownVia::Notice, "node {i}: {via}");
    }
    sim.run_for(Duration::from_millis(500));
    assert_ring(&sim);
    assert_eq!(sim.link_count(), 11);
}

#[test]
fn a_lost_last_message_is_repaired_within_a_heartbeat_or_two() {
    // Heavy loss: many nodes miss messages by multicast and must get them over the ring.
    let mut sim = Sim::new(31, Medium { loss: 0.4, ..Medium::default() });
    sim.add_nodes(8, &ring_cfg());
    sim.run_for(secs(4));
    sim.command(3, Command::Say("only once".into()));
    sim.run_for(Duration::from_millis(1500));
    for i in sim.up() {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.shared.map(|e| e.text.to_string()), Some("only once".to_string()), "node {i}");
    }
    let repaired: u64 = sim.nodes.iter().map(|n| n.node.stats().repaired).sum();
    assert!(repaired > 0, "some nodes got it by repair");
}

#[test]
fn settled_marks_follow_every_live_member() {
    let mut sim = Sim::new(41, Medium { loss: 0.1, ..Medium::default() });
    sim.add_nodes(6, &ring_cfg());
    sim.run_for(secs(3));
    sim.command(0, Command::Say("first".into()));
    sim.command(4, Command::Say("second".into()));
    // Straight after sending, nothing is settled yet.
    assert!(sim.nodes[0].node.snapshot().pending >= 1);
    sim.run_for(secs(3));
    for i in sim.up() {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.pending, 0, "node {i}: all settled");
        let shared = s.shared.expect("shared");
        assert!(shared.ts < s.settled, "node {i}: shared message settled");
        assert!(sim.nodes[i].events.iter().any(|(_, e)| matches!(e, Event::Settled { .. })));
    }
    // A crashed member holds settlement back until it is known to be down, then it moves on.
    sim.crash(2);
    sim.command(1, Command::Say("third".into()));
    sim.run_for(secs(2));
    for i in sim.up() {
        assert_eq!(sim.nodes[i].node.snapshot().pending, 0, "node {i}");
    }
}

#[test]
fn a_restarted_node_gets_the_shared_message_and_the_log_back_within_a_second() {
    let mut sim = Sim::new(51, Medium { loss: 0.05, ..Medium::default() });
    sim.add_nodes(5, &ring_cfg());
    sim.run_for(secs(2));
    for k in 0..40 {
        sim.command(k % 5, Command::Say(format!("before {k}")));
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(secs(2));
    sim.crash(2);
    sim.run_for(secs(2));
    sim.restart(2);
    sim.run_for(Duration::from_millis(1200));
    let s = sim.nodes[2].node.snapshot();
    assert_eq!(s.messages, 40, "the whole retained log is back");
    assert_eq!(s.shared.map(|e| e.text.to_string()), Some("before 39".to_string()));
    assert_converged(&sim);
}

#[test]
fn a_cut_off_host_heals_and_both_sides_merge() {
    let mut sim = Sim::new(61, Medium::default());
    sim.add_nodes(6, &ring_cfg());
    sim.run_for(secs(3));
    sim.cut.insert(4);
    sim.command(4, Command::Say("said alone".into()));
    sim.command(0, Command::Say("said by the many".into()));
    sim.run_for(secs(5));
    assert_eq!(sim.nodes[0].node.peer_status(sim.id(4)), Some(Status::Down));
    assert_eq!(sim.nodes[4].node.members().count(), 0, "the cut host is alone");
    sim.cut.clear();
    sim.run_for(secs(4));
    assert_converged(&sim);
    assert_ring(&sim);
    let texts: BTreeSet<String> = sim.nodes[0].node.log().iter().map(|e| e.text.to_string()).collect();
    assert!(texts.contains("said alone") && texts.contains("said by the many"));
}

#[test]
fn what_fell_out_of_retention_is_reported_as_a_gap() {
    let small = Config { log_capacity: 10, ..ring_cfg() };
    let mut sim = Sim::new(71, Medium::default());
    sim.add_nodes(3, &small);
    sim.run_for(secs(2));
    for k in 0..30 {
        sim.command(0, Command::Say(format!("m{k}")));
    }
    sim.run_for(secs(1));
    let late = sim.add_node(Config { name: Name::clip("late"), ..small });
    sim.run_for(secs(2));
    let s = sim.nodes[late].node.snapshot();
    assert_eq!(s.messages, 10);
    assert_eq!(s.lost, 20, "twenty messages it can never have");
    let gap = sim.nodes[late].events.iter().find_map(|(_, e)| match e {
        Event::Gap { from, to, .. } => Some((from.0, to.0)),
        _ => None,
    });
    assert_eq!(gap, Some((1, 20)));
}

#[test]
fn two_hundred_nodes_thirty_percent_loss_partition_crashes_and_restarts_converge() {
    let medium = Medium { loss: 0.3, dup: 0.02, jitter: Duration::from_millis(20), ..Medium::default() };
    let mut sim = Sim::new(81, medium);
    sim.add_nodes(200, &ring_cfg());
    sim.run_for(secs(5));
    let mut said = Vec::new();
    let mut say = |sim: &mut Sim, i: usize, text: String| {
        sim.command(i, Command::Say(text.clone()));
        said.push(text);
    };
    for k in 0..40 {
        say(&mut sim, (k * 37) % 200, format!("early {k}"));
        sim.run_for(Duration::from_millis(50));
    }
    // A partition: twenty hosts cut off, talking among themselves.
    sim.cut.extend(150..170);
    for k in 0..10 {
        say(&mut sim, 150 + k, format!("cut side {k}"));
        say(&mut sim, k, format!("main side {k}"));
    }
    sim.run_for(secs(6));
    let has = |sim: &Sim, i: usize, text: &str| sim.nodes[i].node.log().iter().any(|e| &*e.text == text);
    assert!(!has(&sim, 0, "cut side 0") && !has(&sim, 150, "main side 0"), "the sides really were apart");
    assert!(has(&sim, 169, "cut side 0") && has(&sim, 199, "main side 0"), "each side converged within itself");
    // Crashes, and the partition heals; some crashed nodes come back as new lives.
    for i in [10, 60, 110] {
        sim.crash(i);
    }
    sim.cut.clear();
    sim.run_for(secs(3));
    sim.restart(60);
    for k in 0..20 {
        say(&mut sim, (k * 13 + 1) % 200, format!("late {k}"));
    }
    sim.run_for(secs(10));
    assert_converged(&sim);
    assert_ring(&sim);
    assert_eq!(sim.nodes[0].node.log().len(), said.len(), "every message once, nothing else");
    let log: BTreeSet<String> = sim.nodes[0].node.log().iter().map(|e| e.text.to_string()).collect();
    for text in &said {
        assert!(log.contains(text), "lost: {text}");
    }
    let false_downs: usize = (0..150)
        .filter(|i| ![10, 60, 110].contains(i))
        .map(|i| {
            sim.nodes[i]
                .events
                .iter()
                .filter(|(_, e)| match e {
                    Event::PeerDown { node, .. } => (0..150).any(|j| ![10, 60, 110].contains(&j) && sim.id(j) == *node),
                    _ => false,
                })
                .count()
        })
        .sum();
    // 150 nodes judging 149 peers each through 30% loss and a partition: a few false verdicts
    // (this seed: 7) are tolerated here; more means the detector or the vouching regressed.
    assert!(false_downs <= 10, "false downs among never-cut, never-crashed nodes: {false_downs}");
}

#[test]
fn same_seed_same_ring_run() {
    let run = |seed| {
        let mut sim = Sim::new(seed, Medium { loss: 0.2, ..Medium::default() });
        sim.add_nodes(10, &ring_cfg());
        sim.run_for(secs(2));
        sim.command(3, Command::Say("x".into()));
        sim.crash(6);
        sim.run_for(secs(3));
        sim.trace()
    };
    assert_eq!(run(5), run(5));
}

#[test]
fn a_frozen_host_is_down_everywhere_within_a_second_four_times_and_twenty_percent_loss_fools_no_one() {
    let medium = Medium { loss: 0.2, dup: 0.01, jitter: Duration::from_millis(10), ..Medium::default() };
    let mut sim = Sim::new(44, medium);
    sim.add_nodes(10, &ring_cfg());
    sim.run_for(secs(3));
    let victim_index = 4;
    let victim = sim.id(victim_index);
    for round in 0..4 {
        let marks: Vec<usize> = (0..10).map(|i| sim.nodes[i].events.len()).collect();
        sim.freeze(victim_index);
        let t0 = sim.now;
        sim.run_for(Duration::from_millis(1_200));
        for i in (0..10).filter(|&i| i != victim_index) {
            let (t, via) = sim.nodes[i].events[marks[i]..]
                .iter()
                .find_map(|(t, e)| match e {
                    Event::PeerDown { node, via, .. } if *node == victim => Some((*t, *via)),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("round {round}: node {i} never saw it down"));
            assert!(t.since(t0) <= Duration::from_secs(1), "round {round}: node {i} after {:?} via {via}", t.since(t0));
        }
        sim.thaw(victim_index);
        sim.run_for(secs(5));
        for i in sim.up() {
            if i != victim_index {
                assert_eq!(sim.nodes[i].node.peer_status(victim), Some(Status::Alive), "round {round}: node {i}");
            }
        }
    }
    // A minute more of 20% loss with no one frozen: no verdict against anyone.
    let marks: Vec<usize> = (0..10).map(|i| sim.nodes[i].events.len()).collect();
    sim.run_for(secs(60));
    for (i, &mark) in marks.iter().enumerate() {
        let downs: Vec<_> =
            sim.nodes[i].events[mark..].iter().filter(|(_, e)| matches!(e, Event::PeerDown { .. })).collect();
        assert!(downs.is_empty(), "node {i}: false downs at 20% loss: {downs:?}");
    }
}

#[test]
fn a_made_up_peer_no_one_can_link_with_holds_back_no_ones_settled_marks() {
    use groupcast::proto::wire::{self, Beat, Body, Frame};
    use groupcast::proto::{Hlc, Incarnation, Seq};
    let mut sim = Sim::new(52, Medium::default());
    sim.add_nodes(6, &ring_cfg());
    sim.run_for(secs(3));
    // It heartbeats steadily (so it is confirmed) from a host between nodes 2 and 3 in the ring
    // order, with a ring port where nothing listens, reporting that it holds nothing.
    let phantom: std::net::SocketAddr = "10.0.0.3:5555".parse().unwrap();
    let all: Vec<usize> = (0..6).collect();
    for k in 0..30u64 {
        let wall = sim.reading(0).wall;
        let beat = Beat {
            time_ms: wall.as_millis() as u64,
            skew_ms: 0,
            name: "ghost".into(),
            msg_seq: Seq(0),
            interval_ms: 500,
            tcp_port: 7001,
            frontier: Hlc(0),
            links: Vec::new(),
            resumed: false,
        };
        let f = Frame {
            sender: NodeId(0x0bad),
            incarnation: Incarnation(1),
            seq: Seq(k + 1),
            hlc: Hlc::from_unix(wall),
            body: Body::Heartbeat(beat),
        };
        sim.inject(phantom, &wire::encode(&f).unwrap(), &all);
        if k == 10 {
            sim.command(0, Command::Say("while it heartbeats".into()));
        }
        sim.run_for(Duration::from_millis(500));
    }
    for i in 0..6 {
        let s = sim.nodes[i].node.snapshot();
        assert!(s.peers.iter().any(|p| p.name == "ghost"), "node {i} lists it");
        assert_eq!(s.pending, 0, "node {i}: its settled mark waits for no one ({} pending)", s.pending);
    }
}

/// Simulated time from `sender`'s last message until every live node's settled mark has passed
/// it, stepping 10 ms at a time (at most 5 s).
fn time_to_settle(sim: &mut Sim, sender: usize) -> Duration {
    let last = sim.nodes[sender].node.log().iter().filter(|e| e.node == sim.id(sender)).map(|e| e.ts).max().unwrap();
    let t0 = sim.now;
    while sim.now.since(t0) < secs(5) {
        if sim.up().iter().all(|&i| sim.nodes[i].node.settled() > last) {
            return sim.now.since(t0);
        }
        sim.run_for(Duration::from_millis(10));
    }
    panic!("not settled everywhere 5 s after the last message");
}

#[test]
fn messages_settle_everywhere_within_half_a_second_and_within_a_second_at_thirty_percent_loss() {
    // Acks carry the frontiers at once; with heartbeats alone this took two heartbeats.
    for (loss, bound_ms) in [(0.0, 500), (0.3, 1000)] {
        let mut times = Vec::new();
        for seed in 0..8 {
            let mut sim = Sim::new(700 + seed, Medium { loss, ..Medium::default() });
            sim.add_nodes(5, &ring_cfg());
            sim.run_for(secs(3));
            for k in 0..20 {
                sim.command(0, Command::Say(format!("burst {k}")));
                sim.run_for(Duration::from_millis(5));
            }
            times.push(time_to_settle(&mut sim, 0));
            // And the acks stop once everything is settled: a quiet group sends heartbeats only.
            sim.run_for(secs(2));
            let before = sim.sent;
            sim.run_for(secs(5));
            // (`sent` counts a datagram once per receiver.)
            let beats = 5 * 4 * 5 * 1000 / ring_cfg().heartbeat.as_millis() as u64;
            assert!(sim.sent - before <= beats + beats / 10, "{} datagrams in 5 quiet seconds", sim.sent - before);
        }
        times.sort();
        let median = times[times.len() / 2];
        eprintln!("loss {loss}: settled after {times:?}");
        assert!(median <= Duration::from_millis(bound_ms), "loss {loss}: median {median:?} of {times:?}");
    }
}

#[test]
fn a_burst_goes_out_in_bundles_and_arrives_whole_in_open_and_keyed_groups_even_at_thirty_percent_loss() {
    use groupcast::proto::GroupKey;
    let keyed = Config { key: Some(GroupKey::new(&[7; 32], "test")), ..ring_cfg() };
    for (cfg, loss) in [(ring_cfg(), 0.0), (ring_cfg(), 0.3), (keyed, 0.3)] {
        let keyed = cfg.key.is_some();
        let mut sim = Sim::new(800, Medium { loss, ..Medium::default() });
        sim.add_nodes(4, &cfg);
        sim.run_for(secs(3));
        let frames = sim.nodes[1].node.stats().frames_sent;
        // 60 lines handed over at once, as `groupcast node` does with a burst on stdin.
        sim.commands(1, (0..60).map(|k| Command::Say(format!("line {k:02}"))));
        let stats = sim.nodes[1].node.stats();
        assert!(stats.frames_sent >= frames + 60);
        assert!(
            (1..=6).contains(&stats.bundles_sent),
            "keyed {keyed}: 60 small messages fit a handful of datagrams, not {}",
            stats.bundles_sent
        );
        sim.run_for(secs(3));
        let digest = assert_converged(&sim);
        for i in sim.up() {
            let s = sim.nodes[i].node.snapshot();
            assert_eq!(s.messages, 60, "keyed {keyed}, loss {loss}: node {i}");
            assert_eq!(s.log_digest, digest);
            assert_eq!(s.shared.map(|e| e.text.to_string()), Some("line 59".to_string()));
            // (A dial before two nodes agree on the ring, at 30% loss, is turned away: fine.)
            let refused =
                s.stats.dropped.keys().filter(|r| **r != groupcast::proto::DropReason::LinkNotNeighbour).count();
            assert_eq!(refused, 0, "keyed {keyed}: node {i} dropped {:?}", s.stats.dropped);
        }
    }
}

#[test]
fn a_broken_bundle_is_counted_as_malformed_and_changes_nothing() {
    use groupcast::proto::{DropReason, wire};
    let mut sim = Sim::new(801, Medium::default());
    sim.add_nodes(3, &ring_cfg());
    sim.run_for(secs(3));
    sim.command(0, Command::Say("before".into()));
    sim.run_for(secs(1));
    let held = sim.nodes[1].node.snapshot();
    let from: std::net::SocketAddr = "10.0.9.9:12345".parse().unwrap();
    let ping = wire::encode(&wire::Frame {
        sender: NodeId(77),
        incarnation: groupcast::proto::Incarnation(1),
        seq: groupcast::proto::Seq(1),
        hlc: held.settled,
        body: wire::Body::Ping,
    })
    .unwrap();
    let whole = wire::bundle([&ping[..]]);
    for bad in [&whole[..whole.len() - 1], &wire::bundle([&whole[..]])[..], &wire::bundle([])[..]] {
        sim.inject(from, bad, &[1]);
    }
    sim.run_for(secs(1));
    let after = sim.nodes[1].node.snapshot();
    assert_eq!(after.stats.dropped.get(&DropReason::Malformed), Some(&3), "{:?}", after.stats.dropped);
    assert_eq!((after.messages, after.log_digest), (held.messages, held.log_digest));
}

#[test]
fn a_burst_of_ten_thousand_at_thirty_percent_loss_reaches_every_log_whole() {
    // Far more messages arrive above a lost one than a node tracks: they wait for the hole to
    // be repaired rather than the hole being written off.
    let mut sim = Sim::new(802, Medium { loss: 0.3, ..Medium::default() });
    sim.add_nodes(4, &ring_cfg());
    sim.run_for(secs(3));
    for chunk in 0..(10_000 / 50) {
        sim.commands(0, (0..50).map(|k| Command::Say(format!("burst {:05}", chunk * 50 + k))));
    }
    sim.run_for(secs(20));
    let digest = assert_converged(&sim);
    for i in sim.up() {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!((s.messages, s.lost, s.pending), (10_000, 0, 0), "node {i}: {:?}", s.stats.dropped);
        assert_eq!(s.log_digest, digest);
    }
}

#[test]
fn one_forged_stamp_from_the_future_does_not_hold_the_settled_marks() {
    use groupcast::proto::{Hlc, Seq, wire};
    let mut sim = Sim::new(803, Medium::default());
    sim.add_nodes(3, &ring_cfg());
    sim.run_for(secs(3));
    // An ack in node 2's name and life, from its address, stamped near the end of time and
    // announcing more messages than it will ever send.
    let victim = &sim.nodes[2];
    let ack = wire::Ack { msg_seq: Seq(1 << 61), frontier: Hlc(0), settled: Hlc(0) };
    let forged = wire::Frame {
        sender: victim.node.id(),
        incarnation: victim.node.incarnation(),
        seq: Seq(1 << 40),
        hlc: Hlc(u64::MAX - 16),
        body: wire::Body::Ack(ack),
    };
    let from = victim.addr;
    sim.inject(from, &wire::encode(&forged).unwrap(), &[0, 1]);
    sim.run_for(secs(1));
    sim.command(0, Command::Say("after the forgery".into()));
    sim.run_for(secs(3));
    for i in sim.up() {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.pending, 0, "node {i}: the message settles all the same");
    }
}

#[test]
fn acks_from_a_made_up_member_are_not_answered() {
    use groupcast::proto::{Hlc, Incarnation, Seq, wire};
    let mut sim = Sim::new(804, Medium::default());
    sim.add_nodes(3, &ring_cfg());
    sim.run_for(secs(3));
    sim.command(0, Command::Say("settled".into()));
    sim.run_for(secs(2));
    // A stranger heartbeats under a made-up name from its own address, then sends acks that
    // say it has settled nothing, ten a second.
    let ghost: std::net::SocketAddr = "10.0.9.9:12345".parse().unwrap();
    let frame = |sim: &Sim, seq: u64, body| wire::Frame {
        sender: NodeId(4242),
        incarnation: Incarnation(1),
        seq: Seq(seq),
        hlc: sim.nodes[0].node.group_now(),
        body,
    };
    let all: Vec<usize> = sim.up();
    let beat = wire::Body::Heartbeat(wire::Beat {
        time_ms: 0,
        skew_ms: 0,
        name: "ghost".into(),
        msg_seq: Seq(0),
        interval_ms: 500,
        tcp_port: 0,
        frontier: Hlc(0),
        links: Vec::new(),
        resumed: false,
    });
    let f = frame(&sim, 1, beat);
    sim.inject(ghost, &wire::encode(&f).unwrap(), &all);
    sim.run_for(Duration::from_millis(100));
    let before: Vec<u64> = all.iter().map(|&i| sim.nodes[i].node.stats().frames_sent).collect();
    for k in 0..20 {
        let ack = wire::Body::Ack(wire::Ack { msg_seq: Seq(0), frontier: Hlc(0), settled: Hlc(0) });
        let f = frame(&sim, 2 + k, ack);
        sim.inject(ghost, &wire::encode(&f).unwrap(), &all);
        sim.run_for(Duration::from_millis(100));
    }
    for (&i, b) in all.iter().zip(before) {
        let sent = sim.nodes[i].node.stats().frames_sent - b;
        // Two seconds of heartbeats (4), nothing more.
        assert!(sent <= 5, "node {i} sent {sent} frames in answer to a stranger's acks");
    }
}

/// Datagrams node `i` took in per second over the next `s` simulated seconds.
fn heard_per_second(sim: &mut Sim, i: usize, s: u64) -> f64 {
    let before = sim.nodes[i].node.stats().frames_received;
    sim.run_for(secs(s));
    (sim.nodes[i].node.stats().frames_received - before) as f64 / s as f64
}

#[test]
fn what_each_node_hears_a_second_stays_bounded_as_the_group_grows_without_false_suspicions() {
    // The group grows in steps, the last one large, so each member's heartbeat interval changes
    // (500 ms, 1 s, 2.5 s) while its peers watch it: a peer's new rhythm must not look like a
    // silence.
    let mut sim = Sim::new(71, Medium::default());
    let mut rates = Vec::new();
    for (step, joining) in [20, 20, 60].into_iter().enumerate() {
        for k in 0..joining {
            sim.add_node(Config { name: Name::clip(&format!("s{step}n{k}")), ..ring_cfg() });
        }
        sim.run_for(secs(10));
        rates.push((sim.up().len(), heard_per_second(&mut sim, 0, 20)));
    }
    let (small, large) = (rates[0], rates[2]);
    assert_eq!((small.0, large.0), (20, 100));
    // Without pacing, 100 nodes beating every 500 ms are 198 datagrams a second to each.
    assert!(small.1 >= 30.0, "20 nodes heartbeat at the configured rate: {rates:?}");
    assert!(large.1 <= 1.3 * small.1, "five times the group, about the same to hear: {rates:?}");
    assert_ring(&sim);
    let up: BTreeSet<usize> = sim.up().into_iter().collect();
    for &i in &up {
        assert_eq!(sim.members_of(i).len(), 99, "node {i} lists every other");
        let bad: Vec<&Event> = sim.nodes[i]
            .events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| matches!(e, Event::PeerSuspect { .. } | Event::PeerDown { .. }))
            .collect();
        assert!(bad.is_empty(), "node {i} suspected a live peer as the group grew: {bad:?}");
    }
    // And they still say so: the interval each node sends is the one it keeps.
    let interval = sim.nodes[5].node.beat_interval();
    assert_eq!(interval, Duration::from_millis(2500), "100 hosts beat at 5 × 500 ms");
}

#[test]
fn a_frozen_node_in_a_large_paced_group_is_down_everywhere_within_a_few_seconds() {
    let mut sim = Sim::new(72, Medium::default());
    sim.add_nodes(60, &ring_cfg());
    sim.run_for(secs(20));
    assert_eq!(sim.nodes[0].node.beat_interval(), Duration::from_millis(1500));
    for round in 0..2 {
        let victim = 17 + round * 20;
        let id = sim.id(victim);
        let at = sim.now;
        sim.freeze(victim);
        sim.run_for(secs(6));
        let mut slowest = Duration::ZERO;
        for i in sim.up() {
            if i == victim {
                continue;
            }
            let (t, _, _) =
                sim.first_down(i, id).unwrap_or_else(|| panic!("round {round}: node {i} never saw it down"));
            slowest = slowest.max(t.since(at));
        }
        // A heartbeat interval (1.5 s here) and the link's silence, with room.
        assert!(slowest <= secs(4), "round {round}: down everywhere after {slowest:?}");
        sim.thaw(victim);
        sim.run_for(secs(10));
        assert_eq!(sim.members_of(0).len(), 59, "round {round}: the thawed node is back");
    }
}

#[test]
fn a_crowd_of_made_up_members_does_not_slow_the_groups_heartbeats() {
    use groupcast::proto::wire::{self, Beat, Body, Frame};
    use groupcast::proto::{Hlc, Incarnation, Seq};
    // Ten real nodes; an attacker heartbeats for 300 made-up members from 300 addresses, each
    // claiming a 10 ms interval and a ring port, for ten seconds.
    let mut sim = Sim::new(73, Medium::default());
    sim.add_nodes(10, &ring_cfg());
    sim.run_for(secs(3));
    let all: Vec<usize> = sim.up();
    for round in 0..20u64 {
        for k in 0..300u64 {
            let from: std::net::SocketAddr = format!("10.9.{}.{}:12345", k / 200, k % 200 + 1).parse().unwrap();
            let wall = sim.reading(0).wall;
            let beat = Beat {
                time_ms: wall.as_millis() as u64,
                skew_ms: 0,
                name: format!("fake{k}"),
                msg_seq: Seq(0),
                interval_ms: 10,
                tcp_port: 7000,
                frontier: Hlc(0),
                links: Vec::new(),
                resumed: false,
            };
            let f = Frame {
                sender: NodeId(0xf000 + k),
                incarnation: Incarnation(1),
                seq: Seq(round + 1),
                hlc: Hlc::from_unix(wall),
                body: Body::Heartbeat(beat),
            };
            sim.inject(from, &wire::encode(&f).unwrap(), &all);
        }
        sim.run_for(Duration::from_millis(500));
    }
    for i in all {
        assert!(sim.members_of(i).len() > 100, "node {i} lists the crowd (it cannot tell yet)");
        assert_eq!(sim.nodes[i].node.beat_interval(), Duration::from_millis(500), "node {i} kept its pace");
    }
}
