//! The node as a whole, one frame at a time: the unit tests of `Node`.

use super::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wire::{Beat, Body, Datagram, Frame, MAX_FRAME, MessageBody};

const T0: u64 = 1_780_000_000_000;

fn at(ms: u64) -> Now {
    Now::synced(Time::from_millis(T0 + ms))
}

/// Where a ring link from node `id` comes from (its host's address, the ring port).
fn link_from(id: u64) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, id as u8], 7000))
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], 12345))
}

fn node(id: u64) -> Node {
    Node::new(
        NodeId(id),
        Incarnation(T0),
        // These tests look at single frames; holding early messages is tested on its own.
        Config { name: Name::clip(&format!("n{id}")), clock_wait: Duration::ZERO, ..Config::default() },
        at(0),
    )
}

#[test]
fn a_new_node_holds_what_is_said_until_it_hears_the_group_clock() {
    let ring = SocketAddr::from(([10, 0, 0, 1], 7000));
    let cfg = Config { name: Name::clip("new"), ring_addr: Some(ring), ..Config::default() };
    let mut a = Node::new(NodeId(1), Incarnation(T0), cfg.clone(), at(0));
    a.handle_timer(at(0));
    outputs(&mut a);
    a.handle_command(Command::Say("first".into()), at(1)).unwrap();
    assert_eq!(outputs(&mut a).0.len(), 0, "held");
    assert_eq!(a.handle_command(Command::Say(" ".into()), at(2)), Err(CommandError::Empty), "still checked");
    // A peer heard but not yet linked is no clock to go by: anyone could have sent that.
    a.handle_datagram(&frame(2, T0, 1, hlc_at(5), ring_beat("b")), addr(2), at(5));
    assert!(a.log().is_empty(), "still held");
    // Linked, the clock its heartbeat told is the group's: what was held goes out, in order.
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(10)));
    let sent: Vec<_> = outputs(&mut a)
        .0
        .into_iter()
        .filter_map(|b| match wire::decode(&b) {
            Ok(Datagram::Frame(Frame { body: Body::Message(m), .. })) => Some(m.text.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, ["first"]);
    // Alone, it waits no longer than clock_wait.
    let mut b = Node::new(NodeId(3), Incarnation(T0), cfg, at(0));
    b.handle_command(Command::Say("alone".into()), at(1)).unwrap();
    b.handle_timer(at(100));
    assert!(b.log().is_empty());
    b.handle_timer(at(300));
    assert_eq!(b.log().iter().map(|e| &*e.text).collect::<Vec<_>>(), ["alone"]);
}

#[test]
fn more_lines_than_a_new_node_holds_go_out_in_the_order_typed() {
    let cfg = Config { name: Name::clip("new"), ..Config::default() };
    let mut a = Node::new(NodeId(1), Incarnation(T0), cfg, at(0));
    a.handle_timer(at(0));
    outputs(&mut a);
    for i in 0..1030 {
        a.handle_command(Command::Say(format!("line {i:04}")), at(1)).unwrap();
    }
    let texts: Vec<String> = a.log().iter().map(|e| e.text.to_string()).collect();
    let typed: Vec<String> = (0..1030).map(|i| format!("line {i:04}")).collect();
    assert_eq!(texts, typed, "log order is the order typed");
    let seqs: Vec<u64> = a.log().iter().map(|e| e.seq.0).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "and so are the message numbers");
}

fn outputs(n: &mut Node) -> (Vec<Vec<u8>>, Vec<Event>) {
    let (mut d, mut e) = (Vec::new(), Vec::new());
    while let Some(o) = n.poll_output() {
        match o {
            Output::Multicast(b) => d.push(b),
            Output::Event(ev) => e.push(ev),
            _ => {}
        }
    }
    (d, e)
}

fn frame(sender: u64, inc: u64, seq: u64, hlc: Hlc, body: Body) -> Vec<u8> {
    wire::encode(&Frame { sender: NodeId(sender), incarnation: Incarnation(inc), seq: Seq(seq), hlc, body }).unwrap()
}

fn beat(name: &str) -> Body {
    beat_on(name, 0)
}

/// A heartbeat from a peer called `name` whose ring listener is on `tcp_port` (0: none).
fn beat_on(name: &str, tcp_port: u16) -> Body {
    Body::Heartbeat(Beat {
        time_ms: T0,
        skew_ms: 0,
        name: name.into(),
        msg_seq: Seq(0),
        interval_ms: 500,
        tcp_port,
        frontier: Hlc(0),
        links: Vec::new(),
        resumed: false,
    })
}

fn hlc_at(ms: u64) -> Hlc {
    Hlc::from_unix(at(ms).wall)
}

#[test]
fn own_echo_is_ignored() {
    let mut a = node(1);
    a.handle_timer(at(0));
    let (sent, _) = outputs(&mut a);
    a.handle_datagram(&sent[0], addr(1), at(1));
    assert_eq!(outputs(&mut a).1, vec![]);
    assert_eq!(a.snapshot().peers.len(), 0);
}

#[test]
fn stamps_far_ahead_are_taken_but_do_not_drag_the_clock() {
    let mut a = node(1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(3_600_000), beat("fast")), addr(2), at(0));
    let (_, ev) = outputs(&mut a);
    assert!(ev.iter().any(|e| matches!(e, Event::PeerUp { .. })), "{ev:?}");
    assert_eq!(a.stats().dropped_total(), 0, "nothing refused for a clock reason");
    assert_eq!(a.stats().clock_held, 1);
    a.handle_command(Command::Say("after".into()), at(1)).unwrap();
    let mine = a.log().shared().unwrap().ts;
    assert!(mine < hlc_at(1_000), "held at the cap, not an hour ahead");
    // Within the cap our clock moves past it.
    a.handle_datagram(&frame(2, T0, 2, hlc_at(400), beat("fast")), addr(2), at(2));
    a.handle_command(Command::Say("later".into()), at(3)).unwrap();
    assert!(a.log().shared().unwrap().ts > hlc_at(400));
}

#[test]
fn malformed_and_sealed_frames_are_counted_not_fatal() {
    let mut a = node(1);
    let good = frame(2, T0, 1, hlc_at(0), beat("b"));
    let mut sealed = good.clone();
    sealed[5] = wire::FLAG_SEALED;
    a.handle_datagram(&sealed, addr(2), at(0));
    a.handle_datagram(&good[..20], addr(2), at(0));
    let s = a.stats();
    assert_eq!((s.dropped[&DropReason::Sealed], s.dropped[&DropReason::Truncated]), (1, 1));
    let (_, ev) = outputs(&mut a);
    assert_eq!(ev.len(), 1, "one report per address per second: {ev:?}");
}

#[test]
fn messages_too_long_for_a_datagram_are_refused_whole() {
    let mut a = node(1);
    let err = a.handle_command(Command::Say("x".repeat(2000)), at(0)).unwrap_err();
    let CommandError::TooLong { len, max } = err else { panic!("{err:?}") };
    assert_eq!(len, 2000);
    assert!(max > 1000 && max < MAX_FRAME);
    assert!(a.log().is_empty());
    assert_eq!(outputs(&mut a).0.len(), 0, "nothing sent");
    a.handle_command(Command::Say("y".repeat(max)), at(0)).expect("exactly the limit fits");
    assert!(outputs(&mut a).0[0].len() <= MAX_FRAME);
    assert_eq!(a.handle_command(Command::Say("  \n".into()), at(0)), Err(CommandError::Empty));
}

#[test]
fn a_rename_reaches_peers() {
    let mut a = node(1);
    let mut b = node(2);
    a.handle_timer(at(0));
    for d in outputs(&mut a).0 {
        b.handle_datagram(&d, addr(1), at(1));
    }
    a.handle_command(Command::Rename(Name::new("alice").unwrap()), at(10)).unwrap();
    for d in outputs(&mut a).0 {
        b.handle_datagram(&d, addr(1), at(11));
    }
    let (_, ev) = outputs(&mut b);
    assert!(ev.contains(&Event::PeerRenamed { node: NodeId(1), old: "n1".into(), new: "alice".into() }));
    assert_eq!(b.snapshot().peers[0].name, "alice");
}

#[test]
fn a_restarted_host_replaces_its_old_life() {
    let mut a = node(1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("web")), addr(2), at(0));
    // The old life goes quiet; a new id with the same name on the same host appears.
    a.handle_datagram(&frame(3, T0 + 5_000, 1, hlc_at(1_500), beat("web")), addr(2), at(1_500));
    let (_, ev) = outputs(&mut a);
    assert!(ev.iter().any(|e| matches!(e, Event::PeerDown { node: NodeId(2), reason: DownReason::Restarted, .. })));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Down));
    assert_eq!(a.peer_status(NodeId(3)), Some(Status::Alive));
    // A second live node of the same name on the same host does not replace the first.
    a.handle_datagram(&frame(4, T0 + 6_000, 1, hlc_at(1_600), beat("web")), addr(2), at(1_600));
    assert_eq!(a.peer_status(NodeId(3)), Some(Status::Alive));
    assert_eq!(a.peer_status(NodeId(4)), Some(Status::Alive));
}

#[test]
fn stale_lives_and_stragglers_after_a_leave_are_ignored() {
    let mut a = node(1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(0));
    a.handle_datagram(&frame(2, T0, 2, hlc_at(1), Body::Leave), addr(2), at(1));
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(2));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Left));
    // Left peers are forgotten after a while.
    a.handle_timer(at(61_000));
    assert_eq!(a.peer_status(NodeId(2)), None);
    assert!(outputs(&mut a).1.contains(&Event::PeerRemoved { node: NodeId(2) }));
}

#[test]
fn after_leaving_a_node_is_silent() {
    let mut a = node(1);
    a.handle_timer(at(0));
    outputs(&mut a);
    a.handle_command(Command::Leave, at(1)).unwrap();
    let (sent, _) = outputs(&mut a);
    assert_eq!(sent.len(), 2, "leave goes out twice");
    a.handle_timer(at(10_000));
    assert!(outputs(&mut a).0.is_empty());
    assert_eq!(a.handle_command(Command::Say("x".into()), at(10_001)), Err(CommandError::Left));
}

fn ring_node(id: u64, last: u8) -> Node {
    let cfg = Config {
        name: Name::clip(&format!("n{id}")),
        ring_addr: Some(SocketAddr::from(([10, 0, 0, last], 7000))),
        clock_wait: Duration::ZERO,
        ..Config::default()
    };
    Node::new(NodeId(id), Incarnation(T0), cfg, at(0))
}

fn ring_beat(name: &str) -> Body {
    beat_on(name, 7000)
}

fn all(n: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| n.poll_output()).collect()
}

#[test]
fn the_earlier_node_dials_its_neighbour_and_a_bad_frame_closes_the_link() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(650));
    let out = all(&mut a);
    let dial = SocketAddr::from(([10, 0, 0, 2], 7000));
    assert!(out.contains(&Output::Dial { peer: NodeId(2), addr: dial }), "{out:?}");
    assert!(out.contains(&Output::Event(Event::Ring { prev: Some(NodeId(2)), next: Some(NodeId(2)) })));
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(660)));
    assert!(all(&mut a).iter().any(|o| matches!(o, Output::Link { peer: NodeId(2), .. })), "a digest at once");
    a.handle_link_frame(NodeId(2), b"not a frame", at(670));
    assert!(all(&mut a).contains(&Output::Close { peer: NodeId(2) }));
    assert_eq!(a.stats().dropped[&DropReason::LinkBadFrame], 1);
    assert_eq!(a.linked().count(), 0);

    // The later node of the pair waits to be dialled.
    let mut b = ring_node(2, 2);
    b.handle_datagram(&frame(1, T0, 1, hlc_at(0), ring_beat("a")), addr(1), at(0));
    b.handle_timer(at(50));
    assert!(!all(&mut b).iter().any(|o| matches!(o, Output::Dial { .. })));
}

#[test]
fn idle_links_ping_and_silent_links_count_as_broken() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(10));
    a.handle_link_up(NodeId(2), link_from(2), at(10));
    all(&mut a);
    let ping = wire::encode_link(&Frame {
        sender: NodeId(2),
        incarnation: Incarnation(T0),
        seq: Seq(0),
        hlc: hlc_at(0),
        body: Body::Ping,
    })
    .unwrap();
    // Pings keep it open; our own pings go out when the link has been quiet for `link_ping`.
    a.handle_link_frame(NodeId(2), &ping, at(400));
    a.handle_timer(at(450));
    assert!(all(&mut a).iter().any(|o| matches!(o, Output::Link { .. })));
    // Then the link is silent for longer than four pings while b's heartbeats go on: broken,
    // suspect, and a probe dial, not a verdict. (The node's timers run as a driver runs them:
    // a node that hears nothing for longer than two pings stalled, and forgives its links.)
    let mut out = Vec::new();
    for t in (500..=1_250).step_by(50) {
        if t % 500 == 0 {
            a.handle_datagram(&frame(2, T0, t / 500 + 1, hlc_at(t), ring_beat("b")), addr(2), at(t));
        }
        a.handle_timer(at(t));
        out.extend(all(&mut a));
    }
    assert!(out.contains(&Output::Close { peer: NodeId(2) }), "{out:?}");
    assert!(out.contains(&Output::Event(Event::PeerSuspect { node: NodeId(2), name: "b".into() })));
    assert!(!out.iter().any(|o| matches!(o, Output::Event(Event::PeerDown { .. }))), "{out:?}");
    assert!(out.iter().any(|o| matches!(o, Output::Dial { peer: NodeId(2), .. })), "probe dial");
    // The probe is refused: the peer is confirmed down and everyone is told.
    a.handle_link_end(NodeId(2), LinkEnd::Refused, at(1_260));
    let out = all(&mut a);
    assert!(out.iter().any(|o| matches!(o, Output::Event(Event::PeerDown { via: DownVia::Link, .. }))), "{out:?}");
    let why = Some(wire::Gone::Crashed);
    assert_eq!(down_notice(&out), Some(Body::Down { node: NodeId(2), incarnation: Incarnation(T0), why }));
}

fn down_notice(out: &[Output]) -> Option<Body> {
    out.iter().find_map(|o| match o {
        Output::Multicast(b) => match wire::decode(b) {
            Ok(Datagram::Frame(f)) => Some(f.body),
            _ => None,
        },
        _ => None,
    })
}

#[test]
fn a_peer_silent_on_its_link_and_on_the_group_is_down_within_a_second() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(10));
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(10)));
    all(&mut a);
    // b freezes at 100 (its last heartbeat at 0, its last ping at 100).
    let ping = wire::encode_link(&Frame {
        sender: NodeId(2),
        incarnation: Incarnation(T0),
        seq: Seq(0),
        hlc: hlc_at(100),
        body: Body::Ping,
    })
    .unwrap();
    a.handle_link_frame(NodeId(2), &ping, at(100));
    let mut down_at = None;
    for t in (150..2_000).step_by(50) {
        a.handle_timer(at(t));
        let out = all(&mut a);
        if out.iter().any(|o| matches!(o, Output::Event(Event::PeerDown { via: DownVia::Link, .. }))) {
            let why = Some(wire::Gone::Silent);
            assert_eq!(down_notice(&out), Some(Body::Down { node: NodeId(2), incarnation: Incarnation(T0), why }));
            down_at = Some(t);
            break;
        }
    }
    let t = down_at.expect("declared down");
    assert!(t - 100 <= 1_000, "down {} ms after it froze", t - 100);
}

#[test]
fn a_peer_that_froze_just_after_a_heartbeat_is_down_within_a_second_all_the_same() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(10));
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(10)));
    all(&mut a);
    let ping = |t: u64| {
        wire::encode_link(&Frame {
            sender: NodeId(2),
            incarnation: Incarnation(T0),
            seq: Seq(0),
            hlc: hlc_at(t),
            body: Body::Ping,
        })
        .unwrap()
    };
    // b pings at 100 and 300, heartbeats at 410, and freezes at 430: when its link has been
    // silent for 0.8 s (at 1,100), its heartbeats have been missing for only 0.69 s.
    a.handle_link_frame(NodeId(2), &ping(100), at(100));
    a.handle_link_frame(NodeId(2), &ping(300), at(300));
    a.handle_datagram(&frame(2, T0, 2, hlc_at(410), ring_beat("b")), addr(2), at(410));
    let mut down_at = None;
    for t in (420..2_500).step_by(10) {
        a.handle_timer(at(t));
        if all(&mut a).iter().any(|o| matches!(o, Output::Event(Event::PeerDown { via: DownVia::Link, .. }))) {
            down_at = Some(t);
            break;
        }
    }
    let t = down_at.expect("declared down by its link's neighbour");
    assert!(t - 430 <= 1_000, "down {} ms after it froze", t - 430);
}

#[test]
fn a_link_closed_with_a_goodbye_is_not_a_failure() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_link_up(NodeId(2), link_from(2), at(10));
    let bye = wire::encode_link(&Frame {
        sender: NodeId(2),
        incarnation: Incarnation(T0),
        seq: Seq(0),
        hlc: hlc_at(0),
        body: Body::Bye,
    })
    .unwrap();
    a.handle_link_frame(NodeId(2), &bye, at(20));
    all(&mut a);
    a.handle_link_end(NodeId(2), LinkEnd::Broken, at(30));
    assert!(all(&mut a).is_empty(), "no suspicion, no probe");
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
}

/// A peer whose link broke answers the probe (its process is there), then closes the link again
/// at once (it does not take us as a ring neighbour, as it sees the ring): no second suspicion,
/// no probe straight back, however often it happens.
#[test]
fn a_peer_that_answered_a_probe_and_closes_again_is_not_suspected_over_and_over() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_link_up(NodeId(2), link_from(2), at(10));
    all(&mut a);
    a.handle_link_end(NodeId(2), LinkEnd::Broken, at(30));
    let first = all(&mut a);
    assert!(first.iter().any(|o| matches!(o, Output::Dial { .. })), "the first break is probed: {first:?}");
    let mut suspected = 0;
    for k in 0..20 {
        // The probe is answered, and the link closed again a moment later.
        a.handle_link_up(NodeId(2), link_from(2), at(31 + 2 * k));
        a.handle_link_end(NodeId(2), LinkEnd::Broken, at(32 + 2 * k));
        for o in all(&mut a) {
            match o {
                Output::Event(Event::PeerSuspect { .. }) => suspected += 1,
                Output::Dial { .. } => panic!("probed again at once, round {k}"),
                _ => {}
            }
        }
    }
    assert_eq!(suspected, 0, "suspected again after it answered");
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
}

#[test]
fn every_multicast_kind_counts_toward_loss() {
    let mut a = node(1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(0));
    let notice = Body::Down { node: NodeId(9), incarnation: Incarnation(1), why: None };
    a.handle_datagram(&frame(2, T0, 2, hlc_at(1), notice), addr(2), at(1));
    a.handle_datagram(&frame(2, T0, 3, hlc_at(2), beat("b")), addr(2), at(2));
    assert!(a.snapshot().peers[0].loss.abs() < 1e-12, "a notice is not a lost heartbeat");
    a.handle_datagram(&frame(2, T0, 5, hlc_at(3), beat("b")), addr(2), at(3));
    assert!((a.snapshot().peers[0].loss - 0.2).abs() < 1e-9, "one of five missing");
}

fn arb_entry() -> impl proptest::strategy::Strategy<Value = Entry> {
    use proptest::prelude::*;
    (any::<u64>(), 1u64..4, 0u64..3, any::<u64>(), ".{0,20}").prop_map(|(ts, node, inc, seq, text)| Entry {
        ts: Hlc(ts),
        node: NodeId(node),
        incarnation: Incarnation(inc),
        seq: Seq(seq),
        name: "x".into(),
        text: text.into(),
        bare_from: None,
        over: None,
    })
}

fn arb_body() -> impl proptest::strategy::Strategy<Value = Body> {
    use proptest::prelude::*;
    let seq = prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(log::MAX_SEQ), any::<u64>()];
    prop_oneof![
        (seq.clone(), any::<u64>(), proptest::collection::vec((1u64..5, any::<u32>()), 0..6)).prop_map(
            |(s, f, links)| Body::Heartbeat(Beat {
                time_ms: f,
                skew_ms: s as i64,
                name: "p".into(),
                msg_seq: Seq(s),
                interval_ms: 500,
                tcp_port: 7000,
                frontier: Hlc(f),
                links: links.into_iter().map(|(n, a)| (NodeId(n), a)).collect(),
                resumed: false,
            })
        ),
        (seq.clone(), ".{0,30}").prop_map(|(s, text)| Body::Message(MessageBody {
            msg_seq: Seq(s),
            name: "p".into(),
            text: text.into(),
            bare_from: None,
            over: None
        })),
        proptest::collection::vec((1u64..4, 0u64..3, seq.clone(), seq.clone()), 0..4).prop_map(|o| Body::Digest(
            wire::Digest {
                origins: o
                    .into_iter()
                    .map(|(n, i, s, a)| wire::Held {
                        node: NodeId(n),
                        incarnation: Incarnation(i),
                        contig: Seq(s),
                        above: vec![(Seq(a), Seq(a.saturating_add(3)))],
                    })
                    .collect(),
                shared: None,
            }
        )),
        (
            proptest::collection::vec(arb_entry(), 0..4),
            proptest::collection::vec((1u64..4, 0u64..3, seq.clone(), seq.clone()), 0..3),
            proptest::option::of(arb_entry()),
            any::<bool>()
        )
            .prop_map(|(entries, gaps, shared, more)| Body::Entries(wire::Entries {
                entries,
                gaps: gaps.into_iter().map(|(n, i, a, b)| (NodeId(n), Incarnation(i), Seq(a), Seq(b))).collect(),
                shared,
                more,
            })),
        (1u64..5, 0u64..3, 0u8..3).prop_map(|(n, i, w)| Body::Down {
            node: NodeId(n),
            incarnation: Incarnation(i),
            why: [None, Some(wire::Gone::Crashed), Some(wire::Gone::Silent)][usize::from(w)],
        }),
        (1u64..5, 0u64..3).prop_map(|(n, i)| Body::Silent { node: NodeId(n), incarnation: Incarnation(i) }),
        (seq, 0u64..10_000, 0u64..10_000).prop_map(|(s, f, d)| Body::Ack(wire::Ack {
            msg_seq: Seq(s),
            frontier: Hlc(f),
            settled: Hlc(d)
        })),
        Just(Body::Leave),
        Just(Body::Bye),
        Just(Body::Ping),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Whatever well-formed frames peers send, on the group or on ring links, in any order
    /// and with any numbers in them, a node never panics (overflow checks are on in tests).
    #[test]
    fn no_sequence_of_frames_panics_a_node(
        frames in proptest::collection::vec(
            (1u64..4, 0u64..3, any_seq(), proptest::prelude::any::<u64>(), arb_body(), proptest::prelude::any::<bool>()),
            1..40,
        )
    ) {
        let mut a = ring_node(9, 9);
        for (k, (sender, inc, seq, hlc, body, on_link)) in frames.into_iter().enumerate() {
            let now = at(k as u64 * 100);
            let frame = Frame { sender: NodeId(sender), incarnation: Incarnation(inc), seq: Seq(seq), hlc: Hlc(hlc), body };
            let Ok(bytes) = wire::encode_link(&frame) else { continue };
            if on_link {
                a.handle_link_up(NodeId(sender), link_from(sender), now);
                a.handle_link_frame(NodeId(sender), &bytes, now);
            } else {
                a.handle_datagram(&bytes, addr(sender as u8), now);
            }
            a.handle_timer(now);
            let _ = a.snapshot();
            while a.poll_output().is_some() {}
        }
    }

    /// The same for a keyed node, with every frame sealed (so the replay windows see any
    /// numbers), and with raw bytes mixed in.
    #[test]
    fn no_sequence_of_sealed_frames_or_junk_panics_a_keyed_node(
        frames in proptest::collection::vec(
            (1u64..4, 0u64..3, any_seq(), proptest::prelude::any::<u64>(), arb_body(), proptest::prelude::any::<bool>()),
            1..40,
        ),
        junk in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..5),
    ) {
        let key = GroupKey::new(&[5; seal::KEY_LEN], "g");
        let mut a = keyed(9, 5, "g");
        for (k, (sender, inc, seq, hlc, body, on_link)) in frames.into_iter().enumerate() {
            let now = at(k as u64 * 100);
            let frame = Frame { sender: NodeId(sender), incarnation: Incarnation(inc), seq: Seq(seq), hlc: Hlc(hlc), body };
            let Ok(mut bytes) = wire::encode_link(&frame) else { continue };
            key.seal(&mut bytes);
            if on_link {
                a.handle_link_up(NodeId(sender), link_from(sender), now);
                a.handle_link_frame(NodeId(sender), &bytes, now);
            } else {
                a.handle_datagram(&bytes, addr(sender as u8), now);
            }
            for j in &junk {
                a.handle_datagram(j, addr(66), now);
                a.handle_link_frame(NodeId(sender), j, now);
            }
            a.handle_timer(now);
            while a.poll_output().is_some() {}
        }
    }
}

fn any_seq() -> impl proptest::strategy::Strategy<Value = u64> {
    use proptest::prelude::*;
    prop_oneof![0u64..10, Just(u64::MAX), any::<u64>()]
}

fn keyed(id: u64, key: u8, label: &str) -> Node {
    let cfg = Config {
        name: Name::clip(&format!("n{id}")),
        clock_wait: Duration::ZERO,
        key: Some(GroupKey::new(&[key; seal::KEY_LEN], label)),
        ..Config::default()
    };
    Node::new(NodeId(id), Incarnation(T0), cfg, at(0))
}

fn texts(n: &Node) -> Vec<&str> {
    n.log().iter().map(|e| &*e.text).collect()
}

fn dropped(n: &Node, reason: DropReason) -> u64 {
    n.stats().dropped.get(&reason).copied().unwrap_or(0)
}

#[test]
fn keyed_groups_hear_only_their_own() {
    let label = "225.0.0.37:12345";
    let mut a = keyed(1, 7, label);
    let mut b = keyed(2, 7, label);
    let mut other_key = keyed(3, 8, label);
    let mut other_label = keyed(4, 7, "225.0.0.37:9999");
    let mut open = node(5);
    a.handle_timer(at(0));
    a.handle_command(Command::Say("for the group only".into()), at(1)).unwrap();
    let (sent, _) = outputs(&mut a);
    assert!(sent.iter().all(|d| !d.windows(5).any(|w| w == b"group")), "no text in clear");
    for d in &sent {
        for n in [&mut b, &mut other_key, &mut other_label, &mut open] {
            n.handle_datagram(d, addr(1), at(2));
        }
    }
    assert_eq!(texts(&b), ["for the group only"]);
    assert_eq!(b.peer_status(NodeId(1)), Some(Status::Alive));
    for n in [&other_key, &other_label, &open] {
        assert!(n.log().is_empty() && n.peer_status(NodeId(1)).is_none(), "{:?}", n.id());
    }
    assert_eq!(dropped(&other_key, DropReason::BadKey), sent.len() as u64);
    assert_eq!(dropped(&other_label, DropReason::BadKey), sent.len() as u64);
    assert_eq!(dropped(&open, DropReason::Sealed), sent.len() as u64);
    // And the other way: an open node's frames and old clients' bare text are not taken.
    open.handle_timer(at(0));
    open.handle_command(Command::Say("open".into()), at(3)).unwrap();
    for d in outputs(&mut open).0 {
        b.handle_datagram(&d, addr(5), at(4));
    }
    b.handle_datagram(b"bare text\n", addr(9), at(5));
    assert_eq!(texts(&b), ["for the group only"]);
    assert!(b.peer_status(NodeId(5)).is_none());
    assert_eq!(dropped(&b, DropReason::Unsealed), 2, "{:?}", b.stats().dropped);
    assert_eq!(dropped(&b, DropReason::BareIgnored), 1);
}

#[test]
fn a_replayed_or_tampered_datagram_changes_nothing_and_is_counted() {
    let mut a = keyed(1, 7, "g");
    let mut b = keyed(2, 7, "g");
    a.handle_timer(at(0));
    a.handle_command(Command::Say("pay 10".into()), at(1)).unwrap();
    let (sent, _) = outputs(&mut a);
    for d in &sent {
        b.handle_datagram(d, addr(1), at(2));
    }
    outputs(&mut b);
    // Later, the same datagrams again, and copies with one byte flipped.
    for d in &sent {
        b.handle_datagram(d, addr(66), at(3_000));
        for i in [6, 30, 39, d.len() - 1] {
            let mut t = d.clone();
            t[i] ^= 1;
            b.handle_datagram(&t, addr(66), at(3_001));
        }
    }
    assert_eq!(texts(&b), ["pay 10"], "one message, once");
    assert_eq!(dropped(&b, DropReason::Replay), sent.len() as u64);
    assert_eq!(dropped(&b, DropReason::BadKey), 4 * sent.len() as u64);
    let (_, ev) = outputs(&mut b);
    assert!(ev.iter().all(|e| matches!(e, Event::Rejected { .. })), "nothing but reports: {ev:?}");
    assert!(ev.iter().any(|e| matches!(e, Event::Rejected { reason: DropReason::Replay, .. })));
    // A leave captured from an earlier life is stale once the node has a new one.
    let leave = frame(1, T0 - 5, 1, hlc_at(3_000), Body::Leave);
    let mut sealed = leave.clone();
    GroupKey::new(&[7; seal::KEY_LEN], "g").seal(&mut sealed);
    b.handle_datagram(&sealed, addr(66), at(3_002));
    assert_eq!(b.peer_status(NodeId(1)), Some(Status::Alive));
    assert_eq!(dropped(&b, DropReason::Stale), 1);
}

fn message(seq: u64, text: &str) -> Body {
    Body::Message(MessageBody { msg_seq: Seq(seq), name: "b".into(), text: text.into(), bare_from: None, over: None })
}

/// A message that comes twice (a one-shot sender sends each frame twice; a bundle and its
/// repair) counts once as received.
#[test]
fn a_message_heard_twice_counts_once() {
    let mut a = knowing_b();
    let f = frame(2, T0, 40, hlc_at(1_100), message(1, "once"));
    a.handle_datagram(&f, addr(2), at(1_100));
    a.handle_datagram(&f, addr(2), at(1_130));
    assert_eq!(a.stats().messages_received, 1);
    assert_eq!(a.stats().duplicates, 1);
}

/// A node that knows peer 2 (named "b", at `addr(2)`) from heartbeats over a second.
fn knowing_b() -> Node {
    let mut a = node(1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(0));
    a.handle_datagram(&frame(2, T0, 2, hlc_at(500), beat("b")), addr(2), at(500));
    outputs(&mut a);
    a
}

#[test]
fn a_message_heard_is_kept_once_and_its_events_share_the_logs_text() {
    let mut a = knowing_b();
    a.handle_datagram(&frame(2, T0, 3, hlc_at(600), message(1, "one copy")), addr(2), at(600));
    let (_, events) = outputs(&mut a);
    let held = a.log().iter().find(|e| &*e.text == "one copy").expect("in the log");
    let shared = a.log().shared().expect("the shared message");
    let mut seen = 0;
    for e in &events {
        let (Event::Message { entry, .. } | Event::Shared { entry, .. }) = e else { continue };
        assert!(Arc::ptr_eq(&entry.text, &held.text), "an event's text is the log's, not a copy");
        assert!(Arc::ptr_eq(&entry.name, &held.name), "and so is its name");
        seen += 1;
    }
    assert_eq!(seen, 2, "a message event and a shared event: {events:?}");
    assert!(Arc::ptr_eq(&shared.text, &held.text), "the shared message is the log's entry");
    assert_eq!(&*held.author(), "b");
    assert!(Arc::ptr_eq(&held.author(), &held.name), "the author shown is the name kept");
    // What this node says is kept once as well: the log's entry and the events share it.
    a.handle_command(Command::Say("mine".into()), at(700)).unwrap();
    let (_, events) = outputs(&mut a);
    let mine = a.log().iter().find(|e| &*e.text == "mine").expect("in the log");
    let mut seen = 0;
    for e in &events {
        if let Event::Message { entry, own: true, .. } | Event::Shared { entry, .. } = e {
            assert!(Arc::ptr_eq(&entry.text, &mine.text));
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "our own message and the shared one: {events:?}");
}

#[test]
fn a_name_that_arrives_in_the_kept_form_is_kept_as_it_came() {
    for raw in ["b", "Ünïcode 名前", &"x".repeat(Name::MAX)] {
        let came: Arc<str> = raw.into();
        let kept = Name::clip_shared(Arc::clone(&came));
        assert!(Arc::ptr_eq(&kept, &came), "{raw:?} taken as it came");
    }
    for raw in ["", " b", "b ", "a\u{7}b", "\t", &"y".repeat(Name::MAX + 1), &"é".repeat(40)] {
        let kept = Name::clip_shared(raw.into());
        assert_eq!(&*kept, Name::clip(raw).as_str(), "{raw:?} clipped as any name is");
    }
}

#[test]
fn frames_in_a_members_name_from_another_address_are_not_taken() {
    let mut a = knowing_b();
    let evil = addr(66);
    // The next message numbers, a higher life, a leave: all from the wrong address.
    a.handle_datagram(&frame(2, T0, 3, hlc_at(600), message(1, "forged")), evil, at(600));
    a.handle_datagram(&frame(2, T0 + 9, 1, hlc_at(600), beat("b")), evil, at(601));
    a.handle_datagram(&frame(2, T0, 4, hlc_at(600), Body::Leave), evil, at(602));
    assert_eq!(dropped(&a, DropReason::WrongAddress), 3);
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
    // Its real message with that number still gets in, and its real heartbeats still count.
    a.handle_datagram(&frame(2, T0, 3, hlc_at(700), message(1, "real")), addr(2), at(700));
    assert_eq!(texts(&a), ["real"]);
    a.handle_datagram(&frame(2, T0, 4, hlc_at(1000), beat("b")), addr(2), at(1000));
    assert_eq!(a.snapshot().peers[0].node, NodeId(2));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
}

#[test]
fn a_forged_leave_is_refused_or_undone_by_the_peers_next_frame() {
    let mut a = knowing_b();
    // Numbered below what was heard: not its last word.
    a.handle_datagram(&frame(2, T0, 1, hlc_at(600), Body::Leave), addr(2), at(600));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
    assert_eq!(dropped(&a, DropReason::ForgedLeave), 1);
    // Numbered right (and from its address, as a spoofer could): believed for now...
    a.handle_datagram(&frame(2, T0, 3, hlc_at(700), Body::Leave), addr(2), at(700));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Left));
    // ...until the peer speaks on in the same life.
    a.handle_datagram(&frame(2, T0, 4, hlc_at(1000), beat("b")), addr(2), at(1000));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
    assert_eq!(dropped(&a, DropReason::ForgedLeave), 2);
    let (_, ev) = outputs(&mut a);
    assert!(ev.iter().any(|e| matches!(e, Event::PeerUp { node: NodeId(2), .. })), "{ev:?}");
    // A real leave (its last frames) holds: a straggler numbered before it changes nothing.
    a.handle_datagram(&frame(2, T0, 6, hlc_at(1100), Body::Leave), addr(2), at(1100));
    a.handle_datagram(&frame(2, T0, 5, hlc_at(1050), beat("b")), addr(2), at(1101));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Left));
}

#[test]
fn down_notices_from_strangers_or_about_a_peer_we_hear_are_disputed() {
    let mut a = knowing_b();
    let down = Body::Down { node: NodeId(2), incarnation: Incarnation(T0), why: None };
    a.handle_datagram(&frame(77, T0, 1, hlc_at(600), down.clone()), addr(77), at(600));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive), "a stranger's notice");
    assert_eq!(dropped(&a, DropReason::DownDisputed), 1);
    // A member's notice is believed when we have no word of our own.
    a.handle_datagram(&frame(3, T0, 1, hlc_at(600), beat("c")), addr(3), at(600));
    a.handle_datagram(&frame(3, T0, 2, hlc_at(700), down), addr(3), at(700));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Down));
}

#[test]
fn a_forger_using_our_name_is_reported_and_our_next_messages_still_count() {
    let mut a = node(1);
    let mut b = node(2);
    a.handle_timer(at(0));
    for d in outputs(&mut a).0 {
        a.handle_datagram(&d, addr(1), at(1)); // our own echo: nothing happens
        b.handle_datagram(&d, addr(1), at(1));
    }
    assert_eq!(a.stats().impersonations, 0, "an echo is not a forgery");
    assert_eq!(a.stats().own_echoes, 1, "but it is counted: the group's datagrams reach this host");
    // Someone sends message 1 in a's name to everyone; b, not knowing better, takes it.
    let forged = frame(
        1,
        T0,
        50,
        hlc_at(5),
        Body::Message(MessageBody {
            msg_seq: Seq(1),
            name: "n1".into(),
            text: "forged".into(),
            bare_from: None,
            over: None,
        }),
    );
    b.handle_datagram(&forged, addr(1), at(5));
    a.handle_datagram(&forged, addr(66), at(5));
    let (sent, ev) = outputs(&mut a);
    assert!(ev.iter().any(|e| matches!(e, Event::Impersonated { addr: Some(from) } if *from == addr(66))), "{ev:?}");
    assert_eq!(a.stats().impersonations, 1);
    for d in &sent {
        b.handle_datagram(d, addr(1), at(6)); // the new life's heartbeat
    }
    a.handle_command(Command::Say("real".into()), at(10)).unwrap();
    for d in outputs(&mut a).0 {
        b.handle_datagram(&d, addr(1), at(11));
    }
    assert!(texts(&b).contains(&"real"), "a's own message 1 is not taken for a copy: {:?}", texts(&b));
}

#[test]
fn a_phantom_neighbour_leaves_the_ring_when_its_dial_fails_and_never_holds_settled_marks() {
    let mut a = ring_node(1, 1);
    // A real neighbour, linked and confirmed.
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(50));
    all(&mut a);
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(60)));
    // One forged heartbeat of a node that sorts between them.
    let phantom = Body::Heartbeat(Beat {
        time_ms: T0,
        skew_ms: 0,
        name: "ghost".into(),
        msg_seq: Seq(0),
        interval_ms: 500,
        tcp_port: 7001,
        frontier: Hlc(0),
        links: Vec::new(),
        resumed: false,
    });
    a.handle_datagram(&frame(9, T0, 1, hlc_at(100), phantom), SocketAddr::from(([10, 0, 0, 1], 5)), at(100));
    a.handle_timer(at(150));
    assert!(all(&mut a).iter().any(|o| matches!(o, Output::Dial { peer: NodeId(9), .. })));
    a.handle_link_end(NodeId(9), LinkEnd::Unreachable, at(1150));
    a.handle_timer(at(1200));
    assert_eq!(a.ring(), Neighbours { prev: Some(NodeId(2)), next: Some(NodeId(2)) }, "back to the real ring");
    // Settled marks wait only for confirmed members.
    let mut beat = ring_beat("b");
    if let Body::Heartbeat(b) = &mut beat {
        b.frontier = hlc_at(1250);
    }
    a.handle_datagram(&frame(2, T0, 2, hlc_at(1300), beat), addr(2), at(1300));
    a.handle_timer(at(1500));
    assert!(a.settled() >= hlc_at(1250), "settled moves on without the phantom: {:?}", a.settled());
}

/// A node whose peer table holds eight.
fn table_of_eight() -> Node {
    let cfg = Config { name: Name::clip("a"), clock_wait: Duration::ZERO, max_peers: 8, ..Config::default() };
    Node::new(NodeId(1), Incarnation(T0), cfg, at(0))
}

/// Peers `ids` (at 10.0.0.id) heartbeat every 500 ms for `rounds` rounds from time 0, heard in
/// the order of their ids; the node's timer runs after each round.
fn beat_rounds(a: &mut Node, ids: std::ops::Range<u64>, rounds: u64) {
    for round in 0..rounds {
        let t = round * 500;
        for n in ids.clone() {
            a.handle_datagram(&frame(n, T0, round + 1, hlc_at(t), beat("m")), addr(n as u8), at(t + n));
        }
        a.handle_timer(at(t + 40));
    }
}

#[test]
fn a_table_full_of_forged_peers_still_admits_a_real_new_node() {
    let mut a = table_of_eight();
    for n in 100..108 {
        a.handle_datagram(&frame(n, T0, 1, hlc_at(0), beat("ghost")), addr(66), at(0));
    }
    assert_eq!(a.snapshot().peers.len(), 8);
    // The made-up entries have two heartbeat intervals to be confirmed; then, never heard again,
    // they make room: the real node is listed at its heartbeat after that.
    for (k, t) in [10u64, 510, 1_010].into_iter().enumerate() {
        a.handle_datagram(&frame(2, T0, k as u64 + 1, hlc_at(t), beat("real")), addr(2), at(t));
    }
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive), "admitted");
    assert_eq!(a.snapshot().peers.len(), 8, "a forged entry made room");
    assert_eq!(dropped(&a, DropReason::PeerTableFull), 2, "its first two heartbeats were counted");
}

#[test]
fn made_up_peers_claiming_a_slow_heartbeat_keep_a_newcomer_out_no_longer() {
    let mut a = table_of_eight();
    // Eight made-up peers, each heard twice, claiming a minute between heartbeats.
    for (k, t) in [0u64, 10].into_iter().enumerate() {
        for n in 100..108 {
            let mut b = beat("ghost");
            if let Body::Heartbeat(x) = &mut b {
                x.interval_ms = 60_000;
            }
            a.handle_datagram(&frame(n, T0, k as u64 + 1, hlc_at(t), b), addr(66), at(t));
        }
    }
    for (k, t) in [500u64, 1_000, 1_500].into_iter().enumerate() {
        a.handle_datagram(&frame(2, T0, k as u64 + 1, hlc_at(t), beat("real")), addr(2), at(t));
    }
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive), "listed within two heartbeat intervals");
}

#[test]
fn a_group_larger_than_the_table_keeps_the_members_it_holds() {
    let mut a = table_of_eight();
    // Thirty members heartbeat every 500 ms, heard in the same order each time: the first
    // eight fill the table, and the rest do not push them out before they are confirmed.
    beat_rounds(&mut a, 2..32, 12);
    let listed: Vec<NodeId> = a.snapshot().peers.iter().map(|p| p.node).collect();
    assert_eq!(listed, (2..10).map(NodeId).collect::<Vec<_>>(), "the first eight stay");
    let out = all(&mut a);
    assert!(!out.iter().any(|o| matches!(o, Output::Event(Event::PeerRemoved { .. }))), "no one was pushed out");
    // Every heartbeat of the 22 left out is counted, none hidden.
    assert_eq!(dropped(&a, DropReason::PeerTableFull), 22 * 12);
}

#[test]
fn a_table_full_of_confirmed_members_refuses_newcomers_until_one_goes() {
    let mut a = table_of_eight();
    // Eight members heartbeat for 1.5 s: confirmed. Twenty more heartbeat too; the table is full.
    beat_rounds(&mut a, 2..10, 4);
    for round in 0..5u64 {
        let t = 1_600 + round * 10;
        for n in 20..40u64 {
            a.handle_datagram(&frame(n, T0, round + 1, hlc_at(t), beat("x")), addr(n as u8), at(t));
        }
    }
    let listed: Vec<NodeId> = a.snapshot().peers.iter().map(|p| p.node).collect();
    assert_eq!(listed, (2..10).map(NodeId).collect::<Vec<_>>(), "the confirmed members stay");
    // Every refused heartbeat is counted, none hidden.
    assert_eq!(dropped(&a, DropReason::PeerTableFull), 20 * 5);
    // One of the eight leaves: the next newcomer gets its place at once.
    a.handle_datagram(&frame(5, T0, 5, hlc_at(1_700), Body::Leave), addr(5), at(1_700));
    a.handle_datagram(&frame(40, T0, 1, hlc_at(1_710), beat("new")), addr(40), at(1_710));
    assert_eq!(a.peer_status(NodeId(40)), Some(Status::Alive), "admitted in the leaver's place");
    assert_eq!(a.peer_status(NodeId(5)), None, "the leaver was forgotten to make room");
}

#[test]
fn a_down_notice_about_a_peer_our_link_still_hears_waits_for_the_link_to_break() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_datagram(&frame(3, T0, 1, hlc_at(0), ring_beat("c")), addr(3), at(0));
    a.handle_timer(at(50));
    all(&mut a);
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(60)));
    let down = Body::Down { node: NodeId(2), incarnation: Incarnation(T0), why: Some(wire::Gone::Crashed) };
    a.handle_datagram(&frame(3, T0, 2, hlc_at(100), down), addr(3), at(100));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive), "our own link heard it just now");
    assert_eq!(dropped(&a, DropReason::DownDisputed), 1);
    // The link breaks a moment later: the notice was right, and no probe is needed.
    a.handle_link_end(NodeId(2), LinkEnd::Broken, at(150));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Down));
    let out = all(&mut a);
    assert!(!out.iter().any(|o| matches!(o, Output::Dial { .. })), "{out:?}");
    assert!(out.iter().any(|o| matches!(o, Output::Event(Event::PeerDown { reason: DownReason::Crashed, .. }))));
}

#[test]
fn a_leave_numbered_far_ahead_is_not_believed() {
    let mut a = knowing_b();
    a.handle_datagram(&frame(2, T0, 1 << 61, hlc_at(600), Body::Leave), addr(2), at(600));
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
    assert_eq!(dropped(&a, DropReason::ForgedLeave), 1);
}

/// A heartbeat on our ring port from `id` at `from` whose sender's clock reads `time_ms`.
fn ring_beat_at(name: &str, tcp_port: u16, time_ms: u64) -> Body {
    let mut b = beat_on(name, tcp_port);
    if let Body::Heartbeat(x) = &mut b {
        x.time_ms = time_ms;
    }
    b
}

#[test]
fn made_up_peers_never_vote_on_the_clock_and_linked_hosts_do() {
    let mut a = ring_node(1, 1);
    let hour = 3_600_000;
    let sybil = |port: u16| SocketAddr::from(([10, 0, 0, 66], port));
    // Two real peers with our time, linked with us; five made-up ones, an hour ahead, all
    // heartbeating for four seconds (long enough to be confirmed), none linked.
    let mut linked = false;
    for k in 0..8u64 {
        let t = k * 500;
        for (id, last) in [(2, 2), (3, 3)] {
            a.handle_datagram(&frame(id, T0, k + 1, hlc_at(t), ring_beat_at("real", 7000, T0 + t)), addr(last), at(t));
        }
        for s in 0..5u16 {
            let f = frame(100 + u64::from(s), T0, k + 1, hlc_at(t), ring_beat_at("ghost", 0, T0 + t + hour));
            a.handle_datagram(&f, sybil(40_000 + s), at(t));
        }
        if !linked {
            assert!(a.handle_link_up(NodeId(2), link_from(2), at(t + 1)));
            assert!(a.handle_link_up(NodeId(3), link_from(3), at(t + 1)));
            linked = true;
        }
        a.handle_timer(at(t + 10));
    }
    let ev = outputs(&mut a).1;
    assert!(!ev.iter().any(|e| matches!(e, Event::Clock { .. })), "the clock stayed: {ev:?}");
    assert!(a.snapshot().skew_ms.abs() < 1_000, "skew {}", a.snapshot().skew_ms);
    // A majority of linked hosts moves it, in steps: were b and c both an hour ahead, a follows.
    let ping = |id: u64, k: u64| link_frame_from(id, seal::LINK_SEQ | k, Body::Ping);
    for k in 8..40u64 {
        let t = k * 500;
        for (id, last) in [(2, 2), (3, 3)] {
            a.handle_link_frame(NodeId(id), &ping(id, k), at(t));
            let f = frame(id, T0, k + 1, hlc_at(t), ring_beat_at("real", 7000, T0 + t + hour));
            a.handle_datagram(&f, addr(last), at(t));
        }
        a.handle_timer(at(t + 10));
    }
    let steps = outputs(&mut a).1.iter().filter(|e| matches!(e, Event::Clock { .. })).count();
    assert!(steps > 1, "two hosts of three agree, and group time goes there in steps: {steps}");
    assert!((a.snapshot().skew_ms + hour as i64).abs() < 1_000, "skew {}", a.snapshot().skew_ms);
}

#[test]
fn linked_peers_on_one_host_are_one_clock_vote() {
    let mut a = ring_node(1, 1);
    let hour = 3_600_000;
    let host = |port: u16| SocketAddr::from(([10, 0, 0, 66], port));
    for k in 0..10u64 {
        let t = k * 500;
        for (id, port) in [(2u64, 7000u16), (3, 7001)] {
            let f = frame(id, T0, k + 1, hlc_at(t), ring_beat_at("twin", port, T0 + t + hour));
            a.handle_datagram(&f, host(40_000 + port), at(t));
            if k == 0 {
                assert!(a.handle_link_up(NodeId(id), SocketAddr::from(([10, 0, 0, 66], port)), at(t + 1)));
            }
        }
        a.handle_timer(at(t + 10));
    }
    assert_eq!(a.linked().count(), 2);
    let ev = outputs(&mut a).1;
    assert!(!ev.iter().any(|e| matches!(e, Event::Clock { .. })), "one host, one vote, against ours: {ev:?}");
}

#[test]
fn a_steady_peer_that_cannot_be_linked_leaves_the_ring_for_a_while() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(50));
    all(&mut a);
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(60)));
    // Something heartbeats as a peer between them for two seconds (so it is confirmed), but
    // nothing answers at its ring port.
    let ghost = SocketAddr::from(([10, 0, 0, 1], 5));
    let mut dialled = false;
    for k in 0..4u64 {
        let t = 100 + k * 500;
        a.handle_datagram(&frame(9, T0, k + 1, hlc_at(t), beat_on("ghost", 7001)), ghost, at(t));
        a.handle_datagram(&frame(2, T0, k + 2, hlc_at(t), ring_beat("b")), addr(2), at(t));
        a.handle_timer(at(t + 10));
        dialled |= all(&mut a).iter().any(|o| matches!(o, Output::Dial { peer: NodeId(9), .. }));
    }
    assert!(dialled);
    assert_eq!(a.ring().next, Some(NodeId(9)), "a confirmed peer is in the ring");
    a.handle_link_end(NodeId(9), LinkEnd::Unreachable, at(2_200));
    a.handle_timer(at(2_250));
    assert_eq!(a.ring(), Neighbours { prev: Some(NodeId(2)), next: Some(NodeId(2)) }, "out of the ring");
    // Its heartbeats go on; it stays out, and settled marks do not wait for it.
    let mut beat = ring_beat("b");
    if let Body::Heartbeat(b) = &mut beat {
        b.frontier = hlc_at(2_500);
    }
    a.handle_datagram(&frame(9, T0, 10, hlc_at(2_600), beat_on("ghost", 7001)), ghost, at(2_600));
    a.handle_datagram(&frame(2, T0, 10, hlc_at(2_600), beat), addr(2), at(2_600));
    a.handle_timer(at(2_700));
    assert_eq!(a.ring().next, Some(NodeId(2)));
    a.handle_timer(at(4_000));
    assert!(a.settled() >= hlc_at(2_500), "settled moves on: {:?} < {:?}", a.settled(), hlc_at(2_500));
    // Ten seconds on it is tried again (a real node may have been starting up).
    for k in 0..22u64 {
        let t = 3_000 + k * 500;
        a.handle_datagram(&frame(9, T0, 11 + k, hlc_at(t), beat_on("ghost", 7001)), ghost, at(t));
        a.handle_datagram(&frame(2, T0, 11 + k, hlc_at(t), ring_beat("b")), addr(2), at(t));
        a.handle_timer(at(t + 10));
    }
    assert_eq!(a.ring().next, Some(NodeId(9)), "back in the ring to be dialled again");
}

/// Delivers everything `from` wants sent to `to` (multicasts and link frames to it), at `t`.
fn deliver(from: &mut Node, from_addr: SocketAddr, to: &mut Node, t: u64) -> Vec<Event> {
    let mut events = Vec::new();
    for o in all(from) {
        match o {
            Output::Multicast(b) => to.handle_datagram(&b, from_addr, at(t)),
            Output::Link { peer, bytes } if peer == to.id() => to.handle_link_frame(from.id(), &bytes, at(t)),
            Output::Event(e) => events.push(e),
            _ => {}
        }
    }
    events
}

/// Links ring nodes 1 (`a`) and 2 (`b`) both ways at 100 ms.
fn link_at_100(a: &mut Node, b: &mut Node, t: u64) {
    if t == 100 {
        assert!(a.handle_link_up(NodeId(2), link_from(2), at(t)) && b.handle_link_up(NodeId(1), link_from(1), at(t)));
    }
}

/// A heartbeat of node 2 ("n2") as its life one second after `T0` would send it.
fn next_life_of_b() -> Body {
    Body::Heartbeat(Beat {
        time_ms: T0 + 1_000,
        skew_ms: 0,
        name: "n2".into(),
        msg_seq: Seq(0),
        interval_ms: 500,
        tcp_port: 7000,
        frontier: Hlc(0),
        links: Vec::new(),
        resumed: false,
    })
}

/// A member that begins a new life itself (its clock moved back) may have link frames of its
/// old life still on the way when the new life's first heartbeat comes: those are no forgery.
#[test]
fn a_link_frame_sent_just_before_a_new_life_is_no_sign_of_forgery() {
    let (mut a, mut b) = (ring_node(1, 1), ring_node(2, 2));
    for t in (0..1_000).step_by(50) {
        a.handle_timer(at(t));
        b.handle_timer(at(t));
        deliver(&mut a, addr(1), &mut b, t);
        deliver(&mut b, addr(2), &mut a, t);
        link_at_100(&mut a, &mut b, t);
    }
    a.handle_datagram(&frame(2, T0 + 1_000, 1, hlc_at(1_000), next_life_of_b()), addr(2), at(1_000));
    let old_life = link_frame_from(2, seal::LINK_SEQ | 0x5a, Body::Ping);
    a.handle_link_frame(NodeId(2), &old_life, at(1_010));
    assert_eq!(dropped(&a, DropReason::ForgedLife), 0, "a straggler of the old life");
    // The old life going on past a ping is another matter.
    a.handle_link_frame(NodeId(2), &old_life, at(1_400));
    assert_eq!(dropped(&a, DropReason::ForgedLife), 1, "the old life speaks on");
}

#[test]
fn a_higher_life_forged_from_a_members_own_address_is_undone_through_its_link() {
    let (mut a, mut b) = (ring_node(1, 1), ring_node(2, 2));
    let mut b_events = Vec::new();
    let exchange = |a: &mut Node, b: &mut Node, t: u64, b_events: &mut Vec<Event>| {
        a.handle_timer(at(t));
        b.handle_timer(at(t));
        deliver(a, addr(1), b, t);
        b_events.extend(deliver(b, addr(2), a, t));
    };
    for t in (0..1_000).step_by(50) {
        exchange(&mut a, &mut b, t, &mut b_events);
        link_at_100(&mut a, &mut b, t);
    }
    assert_eq!(a.linked().collect::<Vec<_>>(), [NodeId(2)]);
    // One heartbeat in b's name, a life above b's, from b's own address: a takes it.
    a.handle_datagram(&frame(2, T0 + 1_000, 1, hlc_at(1_000), next_life_of_b()), addr(2), at(1_000));
    // b's next link frame is of its real, older life: a tells b, and b moves above the forgery.
    for t in (1_050..3_000).step_by(50) {
        exchange(&mut a, &mut b, t, &mut b_events);
    }
    assert!(dropped(&a, DropReason::ForgedLife) >= 1);
    assert!(b_events.iter().any(|e| matches!(e, Event::Impersonated { addr: None })), "{b_events:?}");
    // The group follows b's new life: what b says now settles at a again.
    b.handle_command(Command::Say("after".into()), at(3_000)).unwrap();
    for t in (3_000..5_000).step_by(50) {
        exchange(&mut a, &mut b, t, &mut b_events);
    }
    assert!(texts(&a).contains(&"after"), "{:?}", texts(&a));
    let after = a.log().iter().find(|e| &*e.text == "after").unwrap().ts;
    assert!(a.settled() > after, "a's settled mark moves past b's message again");
}

#[test]
fn a_notice_on_the_group_that_names_a_higher_life_of_ours_is_only_answered() {
    let mut a = knowing_b();
    all(&mut a);
    // b (a member) says on the group that a's life T0 + 5 is down: a life a never had, but on the
    // group anyone could say it, so a answers with a heartbeat and keeps its life.
    let down = Body::Down { node: NodeId(1), incarnation: Incarnation(T0 + 5), why: None };
    a.handle_datagram(&frame(2, T0, 9, hlc_at(700), down), addr(2), at(700));
    let out = all(&mut a);
    assert!(!out.iter().any(|o| matches!(o, Output::Event(Event::Impersonated { .. }))), "{out:?}");
    let beat = out.iter().find_map(|o| match o {
        Output::Multicast(b) => match wire::decode(b) {
            Ok(Datagram::Frame(f)) if matches!(f.body, Body::Heartbeat(_)) => Some(f.incarnation),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(beat, Some(Incarnation(T0)), "answered in its own life");
}

#[test]
fn a_dial_answered_after_the_ring_moved_on_is_tried_again_when_the_peer_is_a_neighbour_again() {
    // Seen in CI: a node dialled a neighbour, a closer peer was heard before the link came up,
    // so the link was refused as no longer a neighbour; when the closer peer died, the first
    // was a neighbour again, but the dial stayed counted as out and was never made again.
    let mut a = ring_node(1, 1);
    let beat_all = |a: &mut Node, peers: &[u64], k: u64, t: u64| {
        for &p in peers {
            a.handle_datagram(&frame(p, T0, k, hlc_at(t), ring_beat(&format!("n{p}"))), addr(p as u8), at(t));
        }
    };
    beat_all(&mut a, &[3], 1, 0);
    a.handle_timer(at(650));
    assert!(all(&mut a).iter().any(|o| matches!(o, Output::Dial { peer: NodeId(3), .. })));
    // 2 and 4 are heard: a's neighbours are now 4 and 2, not 3.
    for k in 0..4u64 {
        let t = 700 + k * 500;
        beat_all(&mut a, &[2, 3, 4], k + 2, t);
        a.handle_timer(at(t + 10));
    }
    all(&mut a);
    assert_eq!(a.ring(), Neighbours { prev: Some(NodeId(4)), next: Some(NodeId(2)) });
    // The old dial to 3 comes up only now: refused.
    assert!(!a.handle_link_up(NodeId(3), link_from(3), at(2_300)));
    assert!(all(&mut a).contains(&Output::Close { peer: NodeId(3) }));
    // 2 leaves: 3 is a's neighbour again, and a dials it.
    a.handle_datagram(&frame(2, T0, 10, hlc_at(2_400), Body::Leave), addr(2), at(2_400));
    let mut dialled = false;
    for k in 0..4u64 {
        let t = 2_500 + k * 500;
        beat_all(&mut a, &[3, 4], k + 10, t);
        a.handle_timer(at(t + 10));
        dialled |= all(&mut a).iter().any(|o| matches!(o, Output::Dial { peer: NodeId(3), .. }));
    }
    assert_eq!(a.ring(), Neighbours { prev: Some(NodeId(4)), next: Some(NodeId(3)) });
    assert!(dialled, "3 is dialled again");
}

#[test]
fn a_node_that_stalled_for_under_a_second_does_not_take_its_own_silence_for_a_peers() {
    // Seen on the LAN: a host stopped for 0.7 s took in one link's frame on waking, then did
    // its timers at once, before the frames that waited for it from its other neighbour were
    // read: that neighbour looked silent on its link and on the group, and was declared down.
    let mut a = ring_node(1, 1);
    let ping = |from: u64, t: u64| {
        wire::encode_link(&Frame {
            sender: NodeId(from),
            incarnation: Incarnation(T0),
            seq: Seq(0),
            hlc: hlc_at(t),
            body: Body::Ping,
        })
        .unwrap()
    };
    for k in 0..4u64 {
        let t = k * 100;
        for p in [2, 3] {
            a.handle_datagram(&frame(p, T0, k + 1, hlc_at(t), ring_beat(&format!("n{p}"))), addr(p as u8), at(t));
        }
        a.handle_timer(at(t + 5));
    }
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(400)) && a.handle_link_up(NodeId(3), link_from(3), at(400)));
    for t in (450..=1_000).step_by(50) {
        a.handle_link_frame(NodeId(2), &ping(2, t), at(t));
        a.handle_link_frame(NodeId(3), &ping(3, t), at(t));
        if t % 500 == 0 {
            for p in [2, 3] {
                a.handle_datagram(&frame(p, T0, t / 100, hlc_at(t), ring_beat(&format!("n{p}"))), addr(p as u8), at(t));
            }
        }
        a.handle_timer(at(t + 1));
    }
    all(&mut a);
    // Stalled from 1,001 to 1,900; then 3's ping is read, the timers run, and only then what 2
    // sent meanwhile.
    a.handle_link_frame(NodeId(3), &ping(3, 1_850), at(1_900));
    a.handle_timer(at(1_900));
    a.handle_datagram(&frame(2, T0, 20, hlc_at(1_500), ring_beat("n2")), addr(2), at(1_901));
    a.handle_link_frame(NodeId(2), &ping(2, 1_850), at(1_901));
    a.handle_timer(at(1_950));
    let out = all(&mut a);
    let verdicts: Vec<&Output> =
        out.iter().filter(|o| matches!(o, Output::Event(Event::PeerDown { .. } | Event::PeerSuspect { .. }))).collect();
    assert!(verdicts.is_empty(), "{verdicts:?}");
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
    assert_eq!(a.linked().count(), 2, "both links kept");
}

#[test]
fn a_neighbour_that_closed_its_link_while_this_node_stalled_is_not_suspected() {
    // Seen on the LAN: a host stopped for a second found on waking that its neighbours had
    // (rightly) taken it for dead and closed their links; it suspected both of them.
    let mut a = ring_node(1, 1);
    for k in 0..4u64 {
        let t = k * 100;
        a.handle_datagram(&frame(2, T0, k + 1, hlc_at(t), ring_beat("b")), addr(2), at(t));
        a.handle_timer(at(t + 5));
    }
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(400)));
    for t in (450..=1_000).step_by(50) {
        a.handle_timer(at(t));
        if t % 200 == 0 {
            a.handle_datagram(&frame(2, T0, t / 100, hlc_at(t), ring_beat("b")), addr(2), at(t));
        }
    }
    all(&mut a);
    // Stalled from 1,000 to 2,000; the first thing it takes in is the closed link.
    a.handle_link_end(NodeId(2), LinkEnd::Broken, at(2_000));
    a.handle_datagram(&frame(2, T0, 30, hlc_at(1_900), ring_beat("b")), addr(2), at(2_001));
    a.handle_timer(at(2_050));
    let out = all(&mut a);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Event(Event::PeerSuspect { .. } | Event::PeerDown { .. }))),
        "{out:?}"
    );
    assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
}

fn link_frame_from(sender: u64, seq: u64, body: Body) -> Vec<u8> {
    let f = Frame { sender: NodeId(sender), incarnation: Incarnation(T0), seq: Seq(seq), hlc: hlc_at(0), body };
    wire::encode_link(&f).unwrap()
}

fn rejections(events: &[Event]) -> Vec<(SocketAddr, DropReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { addr, reason, .. } => Some((*addr, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_datagram_longer_than_any_frame_is_refused_whole_and_reported_from_where_it_came() {
    let mut a = knowing_b();
    // A message frame of 20 kB from a known peer's own address: no node sends one.
    let big = link_frame_from(2, 3, message(1, &"x".repeat(20_000)));
    a.handle_datagram(&big, addr(2), at(600));
    // And a bundle over the size any node makes.
    let small = frame(2, T0, 4, hlc_at(600), message(1, "y"));
    let bundle = wire::bundle(std::iter::repeat_n(&small[..], 40));
    assert!(bundle.len() > wire::MAX_BUNDLE);
    a.handle_datagram(&bundle, addr(2), at(1_700));
    let (_, ev) = outputs(&mut a);
    assert!(a.log().is_empty(), "nothing taken: {:?}", texts(&a));
    assert_eq!(dropped(&a, DropReason::Oversized), 2);
    assert_eq!(rejections(&ev), vec![(addr(2), DropReason::Oversized), (addr(2), DropReason::Oversized)]);
    // A frame of the largest size a node sends is taken as before.
    let text = "z".repeat(MAX_FRAME - wire::HEADER_LEN - 10);
    let largest = frame(2, T0, 5, hlc_at(1_800), message(1, &text));
    assert!(largest.len() <= MAX_FRAME);
    a.handle_datagram(&largest, addr(2), at(1_800));
    assert_eq!(a.log().len(), 1);
}

#[test]
fn repaired_entries_over_the_message_limit_are_refused_and_reported_from_the_link() {
    let mut a = ring_node(1, 1);
    a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
    a.handle_timer(at(10));
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(10)));
    all(&mut a);
    let entry = |seq: u64, text: &str| Entry {
        ts: hlc_at(seq),
        node: NodeId(2),
        incarnation: Incarnation(T0),
        seq: Seq(seq),
        name: "b".into(),
        text: text.into(),
        bare_from: None,
        over: None,
    };
    let huge = entry(1, &"x".repeat(1 << 20));
    let over = entry(3, &"x".repeat(MAX_FRAME));
    let entries = wire::Entries { entries: vec![huge, entry(2, "fine")], shared: Some(over), ..Default::default() };
    a.handle_link_frame(NodeId(2), &link_frame_from(2, seal::LINK_SEQ | 1, Body::Entries(entries)), at(20));
    let (_, ev) = outputs(&mut a);
    assert_eq!(texts(&a), ["fine"], "the one that fits is taken");
    assert_eq!(a.log().shared().map(|e| &*e.text), Some("fine"));
    assert_eq!(dropped(&a, DropReason::Oversized), 2);
    assert!(rejections(&ev).contains(&(link_from(2), DropReason::Oversized)), "{ev:?}");
}

#[test]
fn what_a_keyed_node_refuses_on_a_link_is_reported_from_the_links_address() {
    let key = GroupKey::new(&[7; seal::KEY_LEN], "g");
    let cfg = Config {
        name: Name::clip("a"),
        ring_addr: Some(SocketAddr::from(([10, 0, 0, 1], 7000))),
        clock_wait: Duration::ZERO,
        key: Some(key.clone()),
        ..Config::default()
    };
    let mut a = Node::new(NodeId(1), Incarnation(T0), cfg, at(0));
    let sealed = |mut b: Vec<u8>| {
        key.seal(&mut b);
        b
    };
    a.handle_datagram(&sealed(frame(2, T0, 1, hlc_at(0), ring_beat("b"))), addr(2), at(0));
    a.handle_timer(at(10));
    assert!(a.handle_link_up(NodeId(2), link_from(2), at(10)));
    let ping = sealed(link_frame_from(2, seal::LINK_SEQ | 5, Body::Ping));
    a.handle_link_frame(NodeId(2), &ping, at(20));
    all(&mut a);
    a.handle_link_frame(NodeId(2), &ping, at(30));
    let (_, ev) = outputs(&mut a);
    assert_eq!(rejections(&ev), vec![(link_from(2), DropReason::Replay)]);
}
