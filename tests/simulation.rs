//! Many protocol cores on one simulated LAN: membership, failure detection, leaving, and
//! convergence of the shared message and log. Deterministic: every run with a seed is the same.

use std::collections::BTreeSet;
use std::time::Duration;

use groupcast::proto::{Command, Config, DownReason, DownVia, DropReason, Event, Name, NodeId, Status};
use groupcast::sim::{Medium, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn lossy(loss: f64) -> Medium {
    Medium { loss, dup: 0.02, jitter: Duration::from_millis(20), ..Medium::default() }
}

/// Every up node lists every other up node as a member.
fn assert_full_mesh(sim: &Sim) {
    let up = sim.up();
    for &i in &up {
        let want: BTreeSet<NodeId> = up.iter().filter(|&&j| j != i).map(|&j| sim.id(j)).collect();
        assert_eq!(sim.members_of(i), want, "node {i} does not list exactly the others");
    }
}

#[test]
fn fifty_nodes_at_ten_percent_loss_all_list_each_other() {
    let mut sim = Sim::new(1, lossy(0.10));
    sim.add_nodes(50, &Config::default());
    sim.run_for(secs(20));
    assert_full_mesh(&sim);
    assert!(sim.lost > sim.sent / 20, "the medium really lost datagrams: {} of {}", sim.lost, sim.sent);
    // And the peer tables show the loss.
    let snap = sim.nodes[0].node.snapshot();
    let mean_loss = snap.peers.iter().map(|p| p.loss).sum::<f64>() / snap.peers.len() as f64;
    assert!((0.05..0.15).contains(&mean_loss), "measured loss {mean_loss}");
}

#[test]
fn newcomers_are_listed_within_about_a_hundred_milliseconds() {
    let mut sim = Sim::new(2, Medium::default());
    sim.add_nodes(10, &Config::default());
    sim.run_for(secs(3));
    let new = sim.add_node(Config { name: Name::clip("late"), ..Config::default() });
    sim.run_for(Duration::from_millis(150));
    assert_full_mesh(&sim);
    assert_eq!(sim.members_of(new).len(), 10, "the newcomer lists everyone from their answers");
}

#[test]
fn a_crashed_node_is_marked_down_everywhere() {
    let mut sim = Sim::new(3, lossy(0.05));
    sim.add_nodes(20, &Config::default());
    sim.run_for(secs(5));
    assert_full_mesh(&sim);
    let victim = sim.id(7);
    sim.crash(7);
    let crashed_at = sim.now;
    sim.run_for(secs(4));
    for i in sim.up() {
        assert_eq!(sim.nodes[i].node.peer_status(victim), Some(Status::Down), "node {i}");
        let (t, reason, via) = sim.first_down(i, victim).expect("a peer_down event");
        assert_eq!(via, DownVia::Heartbeat, "no ring here: silence decides");
        assert_eq!(reason, DownReason::Timeout);
        let after = t.since(crashed_at);
        assert!(after < Duration::from_millis(3500), "node {i} took {after:?}");
        let suspected = sim.nodes[i]
            .events
            .iter()
            .any(|(ts, e)| matches!(e, Event::PeerSuspect { node, .. } if *node == victim && *ts <= t));
        assert!(suspected, "node {i} suspected it before declaring it down");
    }
    assert_full_mesh(&sim);
}

#[test]
fn a_leaving_node_is_dropped_everywhere_at_once() {
    let mut sim = Sim::new(4, Medium::default());
    sim.add_nodes(20, &Config::default());
    sim.run_for(secs(3));
    let leaver = sim.id(3);
    sim.command(3, Command::Leave);
    sim.crash(3); // the process exits after its leave frames
    sim.run_for(Duration::from_millis(100));
    for i in sim.up() {
        assert_eq!(sim.nodes[i].node.peer_status(leaver), Some(Status::Left), "node {i}");
        assert!(sim.nodes[i].events.iter().any(|(_, e)| matches!(
            e,
            Event::PeerDown { node, reason: DownReason::Left, .. } if *node == leaver
        )));
    }
    assert_full_mesh(&sim);
}

#[test]
fn a_suspect_that_speaks_again_is_alive() {
    let mut sim = Sim::new(5, Medium::default());
    sim.add_nodes(3, &Config::default());
    sim.run_for(secs(3));
    let id = sim.id(2);
    sim.crash(2);
    sim.run_for(Duration::from_millis(1800));
    assert_eq!(sim.nodes[0].node.peer_status(id), Some(Status::Suspect));
    sim.nodes[2].up = true;
    sim.run_for(Duration::from_millis(600));
    assert_eq!(sim.nodes[0].node.peer_status(id), Some(Status::Alive));
    assert!(sim.nodes[0].events.iter().any(|(_, e)| matches!(e, Event::PeerAlive { node, .. } if *node == id)));
}

#[test]
fn concurrent_updates_from_many_nodes_converge_to_one_shared_message() {
    // Heavy reordering and duplication; every node writes at the same instant, twice.
    let medium = Medium { dup: 0.2, jitter: Duration::from_millis(80), ..Medium::default() };
    let mut sim = Sim::new(6, medium);
    sim.add_nodes(30, &Config::default());
    sim.run_for(secs(2));
    for round in 0..2 {
        for i in 0..30 {
            sim.command(i, Command::Say(format!("round {round} from n{i}")));
        }
        sim.run_for(Duration::from_millis(3));
    }
    sim.run_for(secs(2));
    let first = sim.nodes[0].node.snapshot();
    let shared = first.shared.clone().expect("a shared message");
    assert!(shared.text.starts_with("round 1"), "the later round wins: {}", shared.text);
    assert_eq!(first.messages, 60);
    for i in 1..30 {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.shared, first.shared, "node {i} shared message");
        assert_eq!(s.log_digest, first.log_digest, "node {i} log");
    }
    // Each node saw the shared message change as writes arrived out of order, but the
    // last `shared` event everywhere is the same.
    for n in &sim.nodes {
        let last = n.events.iter().rev().find_map(|(_, e)| match e {
            Event::Shared { entry, .. } => Some(entry.clone()),
            _ => None,
        });
        assert_eq!(last.as_ref(), Some(&shared));
    }
}

#[test]
fn bare_text_enters_every_log_once_and_in_the_same_place() {
    let mut sim = Sim::new(7, Medium { jitter: Duration::from_millis(30), ..Medium::default() });
    sim.add_nodes(8, &Config::default());
    sim.run_for(secs(2));
    let old_client = "10.0.9.9:40000".parse().unwrap();
    for k in 0..5 {
        sim.command(k, Command::Say(format!("stamped {k}")));
        sim.inject_bare(old_client, &format!("bare {k}\n"));
    }
    sim.run_for(secs(3));
    let first = sim.nodes[0].node.snapshot();
    assert_eq!(first.messages, 10, "five stamped and five bare, none twice");
    for i in 1..8 {
        assert_eq!(sim.nodes[i].node.snapshot().log_digest, first.log_digest, "node {i}");
    }
    let bare: Vec<_> = sim.nodes[0].node.log().iter().filter(|e| e.bare_from == Some(old_client)).collect();
    assert_eq!(bare.len(), 5);
    assert!(bare.iter().all(|e| !e.text.ends_with('\n')));
    // `sent` counts what each node's user said; the old client's lines its stamper sent for it
    // are not among them.
    let sent: Vec<u64> = (0..8).map(|i| sim.nodes[i].node.stats().messages_sent).collect();
    assert_eq!(sent, [1, 1, 1, 1, 1, 0, 0, 0], "one line said on each of the first five");
}

#[test]
fn bare_text_survives_a_crashed_stamper() {
    let mut sim = Sim::new(8, Medium::default());
    sim.add_nodes(5, &Config::default());
    sim.run_for(secs(2));
    let stamper = (0..5).min_by_key(|&i| sim.id(i)).unwrap();
    sim.crash(stamper);
    // Before anyone notices, an old client speaks.
    sim.inject_bare("10.0.9.9:40000".parse().unwrap(), "anyone there?");
    sim.run_for(secs(6));
    let up = sim.up();
    let first = sim.nodes[up[0]].node.snapshot();
    for &i in &up {
        let s = sim.nodes[i].node.snapshot();
        assert_eq!(s.shared.as_ref().map(|e| &*e.text), Some("anyone there?"), "node {i}");
        // The next in rank stamped it, and the others took its copy instead of their own.
        assert_eq!(s.messages, 1, "node {i}: the line entered the log {} times", s.messages);
        assert_eq!(s.log_digest, first.log_digest, "node {i}");
    }
}

#[test]
fn bare_text_heard_just_after_joining_enters_every_log_once() {
    // Nodes that have only just heard each other (nobody confirmed yet) agree on the stamper.
    for seed in 0..20 {
        let mut sim = Sim::new(100 + seed, Medium { jitter: Duration::from_millis(5), ..Medium::default() });
        sim.add_nodes(4, &Config::default());
        sim.run_for(Duration::from_millis(200));
        sim.inject_bare("10.0.9.9:40000".parse().unwrap(), "early\n");
        sim.run_for(secs(6));
        for i in 0..4 {
            let s = sim.nodes[i].node.snapshot();
            assert_eq!(s.messages, 1, "seed {seed}, node {i}: the line entered the log {} times", s.messages);
        }
    }
}

#[test]
fn a_flooding_old_client_is_rate_limited_and_counted() {
    let mut sim = Sim::new(9, Medium::default());
    sim.add_nodes(3, &Config::default());
    sim.run_for(secs(1));
    let old_client = "10.0.9.9:40000".parse().unwrap();
    for _ in 0..5000 {
        sim.inject_bare(old_client, "stuck buffer\n");
    }
    sim.run_for(secs(1));
    for i in 0..3 {
        let s = sim.nodes[i].node.snapshot();
        assert!(s.messages <= 60, "node {i} took {} messages", s.messages);
        assert!(s.stats.dropped[&DropReason::RateLimited] > 4000);
        let reports = sim.nodes[i].events.iter().filter(|(_, e)| matches!(e, Event::Rejected { .. })).count();
        assert!(reports <= 3, "node {i} reported {reports} times");
    }
    // And the group still works.
    sim.command(1, Command::Say("still here".into()));
    sim.run_for(secs(1));
    for i in 0..3 {
        assert_eq!(&*sim.nodes[i].node.snapshot().shared.unwrap().text, "still here");
    }
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(seed, lossy(0.1));
        sim.add_nodes(12, &Config::default());
        sim.run_for(secs(3));
        sim.command(4, Command::Say("hello".into()));
        sim.crash(5);
        sim.run_for(secs(4));
        sim.trace()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn a_message_forged_from_a_members_own_address_does_not_hide_its_next_one() {
    use groupcast::proto::wire::{self, Body, Frame, MessageBody};
    use groupcast::proto::{Hlc, Seq};
    let mut sim = Sim::new(21, Medium::default());
    // With the ring on: a host does not hear datagrams from its own address, so it learns of
    // the forgery only from its ring neighbours' repairs.
    sim.add_nodes(4, &Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() });
    sim.run_for(secs(2));
    let victim = 0;
    sim.command(victim, Command::Say("first".into()));
    sim.run_for(secs(1));
    let first = sim.nodes[1].node.log().iter().find(|e| &*e.text == "first").cloned().expect("first arrived");
    // The forger takes the victim's address, so the victim's own host never delivers it; the
    // others take it as the victim's message 2.
    let forged = Frame {
        sender: first.node,
        incarnation: first.incarnation,
        seq: Seq(first.seq.0 + 500),
        hlc: Hlc::from_unix(first.ts.to_unix() + Duration::from_millis(300)),
        body: Body::Message(MessageBody {
            msg_seq: Seq(2),
            name: first.name.clone(),
            text: "forged".into(),
            bare_from: None,
            over: None,
        }),
    };
    let from = sim.nodes[victim].addr;
    sim.inject(from, &wire::encode(&forged).unwrap(), &[1, 2, 3]);
    sim.run_for(secs(4));
    let v = &sim.nodes[victim];
    assert_eq!(v.node.snapshot().stats.impersonations, 1, "the victim learns of the forgery from the repair");
    assert!(v.events.iter().any(|(_, e)| matches!(e, Event::Impersonated { addr: None })), "and says so");
    // Its real message 2 (in a new life) reaches everyone, its own screen included.
    sim.command(victim, Command::Say("real".into()));
    sim.run_for(secs(3));
    let digest = sim.nodes[0].node.snapshot().log_digest;
    for i in 0..4 {
        let texts: Vec<&str> = sim.nodes[i].node.log().iter().map(|e| &*e.text).collect();
        assert!(texts.contains(&"real"), "node {i}: {texts:?}");
        assert_eq!(texts.len(), 3, "node {i} holds first, forged, real: {texts:?}");
        assert_eq!(sim.nodes[i].node.snapshot().log_digest, digest, "node {i}");
    }
}

#[test]
fn a_member_that_speaks_before_it_hears_of_a_forgery_in_its_name_is_not_lost() {
    use groupcast::proto::wire::{self, Body, Frame, MessageBody};
    use groupcast::proto::{Hlc, Seq};
    for seed in 0..10 {
        let mut sim = Sim::new(300 + seed, Medium { jitter: Duration::from_millis(5), ..Medium::default() });
        sim.add_nodes(5, &Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() });
        sim.run_for(secs(2));
        let victim = 0;
        sim.command(victim, Command::Say("first".into()));
        sim.run_for(secs(1));
        let first = sim.nodes[1].node.log().iter().find(|e| &*e.text == "first").cloned().expect("first arrived");
        let forged = Frame {
            sender: first.node,
            incarnation: first.incarnation,
            seq: Seq(first.seq.0 + 500),
            hlc: Hlc::from_unix(first.ts.to_unix() + Duration::from_millis(300)),
            body: Body::Message(MessageBody {
                msg_seq: Seq(2),
                name: first.name.clone(),
                text: "forged".into(),
                bare_from: None,
                over: None,
            }),
        };
        let from = sim.nodes[victim].addr;
        sim.inject(from, &wire::encode(&forged).unwrap(), &[1, 2, 3, 4]);
        // The victim speaks at once, under the same number, before any repair can tell it.
        sim.run_for(Duration::from_millis(2));
        sim.command(victim, Command::Say("real".into()));
        sim.run_for(secs(5));
        let digest = sim.nodes[0].node.snapshot().log_digest;
        for i in 0..5 {
            let texts: Vec<&str> = sim.nodes[i].node.log().iter().map(|e| &*e.text).collect();
            assert!(texts.contains(&"real"), "seed {seed}, node {i}: the real message is lost: {texts:?}");
            assert_eq!(sim.nodes[i].node.snapshot().log_digest, digest, "seed {seed}, node {i}: {texts:?}");
        }
        let v = &sim.nodes[victim];
        assert!(v.events.iter().any(|(_, e)| matches!(e, Event::Impersonated { .. })), "seed {seed}: it says so");
    }
}

#[test]
fn forged_versions_of_a_members_old_message_are_added_never_put_in_its_place() {
    use groupcast::proto::wire::{self, Body, Frame, MessageBody};
    use groupcast::proto::{DropReason, Hlc, Seq};
    let ring = Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() };
    let mut sim = Sim::new(77, Medium { jitter: Duration::from_millis(5), ..Medium::default() });
    sim.add_nodes(4, &ring);
    sim.run_for(secs(2));
    sim.command(0, Command::Say("orig line".into()));
    sim.run_for(secs(2));
    let orig = sim.nodes[1].node.log().iter().find(|e| &*e.text == "orig line").cloned().unwrap();
    let sent_before = sim.nodes[0].node.snapshot().stats.messages_sent;
    // Fifty versions of it, each stamped a little earlier, from the member's own address.
    let from = sim.nodes[0].addr;
    for k in 0..50u64 {
        let forged = Frame {
            sender: orig.node,
            incarnation: orig.incarnation,
            seq: Seq(1_000 + k),
            hlc: Hlc(orig.ts.0 - 16 * (k + 1)),
            body: Body::Message(MessageBody {
                msg_seq: orig.seq,
                name: orig.name.clone(),
                text: format!("REWRITTEN {k}").into(),
                bare_from: None,
                over: None,
            }),
        };
        sim.inject(from, &wire::encode(&forged).unwrap(), &[1, 2, 3]);
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(secs(4));
    let digest = sim.nodes[0].node.snapshot().log_digest;
    for i in 0..4 {
        let s = sim.nodes[i].node.snapshot();
        let texts: Vec<&str> = sim.nodes[i].node.log().iter().map(|e| &*e.text).collect();
        assert!(texts.contains(&"orig line"), "node {i}: the real line is still there: {texts:?}");
        assert_eq!(texts.len(), 4, "node {i}: four versions at most: {texts:?}");
        assert_eq!(s.log_digest, digest, "node {i}");
    }
    assert_eq!(sim.nodes[0].node.snapshot().stats.messages_sent, sent_before, "no one is made to speak");
    assert!(sim.nodes[1].node.snapshot().stats.dropped.get(&DropReason::Conflict).copied().unwrap_or(0) > 0);
    // A late joiner gets the same log.
    let late = sim.add_node(Config { name: groupcast::proto::Name::clip("late"), ..ring });
    sim.run_for(secs(3));
    assert_eq!(sim.nodes[late].node.snapshot().log_digest, digest);
}

#[test]
fn a_forged_copy_with_a_messages_own_stamp_cannot_take_its_place() {
    use groupcast::proto::wire::{self, Body, Frame, MessageBody};
    use groupcast::proto::{Incarnation, Seq};
    let ring = Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() };
    let mut sim = Sim::new(78, Medium::default());
    sim.add_nodes(4, &ring);
    sim.run_for(secs(2));
    sim.command(0, Command::Say("orig line".into()));
    sim.run_for(secs(2));
    let orig = sim.nodes[1].node.log().iter().find(|e| &*e.text == "orig line").cloned().unwrap();
    let from = sim.nodes[0].addr;
    // The same stamp, node and number: in the same life with other text, and in another life.
    for (k, inc) in [(0u64, orig.incarnation.0), (1, orig.incarnation.0 + 1)] {
        let forged = Frame {
            sender: orig.node,
            incarnation: Incarnation(inc),
            seq: Seq(2_000 + k),
            hlc: orig.ts,
            body: Body::Message(MessageBody {
                msg_seq: orig.seq,
                name: orig.name.clone(),
                text: format!("REWRITTEN {k}").into(),
                bare_from: None,
                over: None,
            }),
        };
        sim.inject(from, &wire::encode(&forged).unwrap(), &[1, 2, 3]);
        sim.run_for(secs(1));
    }
    sim.run_for(secs(3));
    let late = sim.add_node(Config { name: groupcast::proto::Name::clip("late"), ..ring });
    sim.run_for(secs(3));
    let digest = sim.nodes[0].node.snapshot().log_digest;
    for i in 0..5 {
        let texts: Vec<&str> = sim.nodes[i].node.log().iter().map(|e| &*e.text).collect();
        assert_eq!(texts, ["orig line"], "node {i}");
        assert_eq!(sim.nodes[i].node.snapshot().log_digest, digest, "node {i}");
    }
    assert_eq!(late, 4);
}

fn ring_cfg() -> Config {
    Config { ring_addr: Some("0.0.0.0:7000".parse().unwrap()), ..Config::default() }
}

#[test]
fn two_hundred_nodes_starting_together_list_each_other_with_a_few_datagrams_each() {
    // Every member used to answer every newcomer's announce with a heartbeat of its own:
    // N joins cost about N³ deliveries. Now one heartbeat answers every newcomer heard in 20 ms.
    let mut sim = Sim::new(901, Medium::default());
    sim.add_nodes(200, &ring_cfg());
    sim.run_for(Duration::from_millis(400));
    assert_full_mesh(&sim);
    let frames: u64 = sim.nodes.iter().map(|n| n.node.stats().frames_sent).sum();
    assert!(frames <= 200 * 5, "{frames} datagrams for 200 joins (3 announces each, and a few more)");
}

#[test]
fn a_newcomer_to_a_large_group_is_answered_by_its_ring_neighbours_and_lists_everyone_within_a_heartbeat() {
    let mut sim = Sim::new(902, Medium::default());
    sim.add_nodes(40, &ring_cfg());
    // They started together, so their heartbeats go out together: at 90 ms past each half
    // second. The newcomer comes between two rounds of them.
    sim.run_for(Duration::from_millis(3_200));
    let before: Vec<u64> = sim.nodes.iter().map(|n| n.node.stats().frames_sent).collect();
    let new = sim.add_node(Config { name: Name::clip("late"), ..ring_cfg() });
    sim.run_for(Duration::from_millis(150));
    // Its two neighbours-to-be answered at once, and it links with them.
    let answered = (0..40).filter(|&i| sim.nodes[i].node.stats().frames_sent > before[i]).count();
    assert_eq!(answered, 2, "two of 40 answered at once");
    let ring = sim.nodes[new].node.ring();
    let (prev, next) = sim.expected_ring(new, &sim.up());
    assert!(sim.members_of(new).contains(&prev) && sim.members_of(new).contains(&next), "its neighbours are listed");
    sim.run_for(Duration::from_millis(600));
    assert_eq!(sim.members_of(new).len(), 40, "everyone, from their next heartbeats");
    sim.run_for(secs(1));
    assert_eq!(sim.nodes[new].node.ring(), groupcast::proto::Neighbours { prev: Some(prev), next: Some(next) });
    let _ = ring;
}
