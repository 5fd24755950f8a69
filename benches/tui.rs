//! Criterion benchmark of the terminal UI: one frame of a busy screen (10,000 messages in the
//! log, 500 peers) drawn at 200×60 into a `TestBackend`. The aim is at most 2 ms a frame.
//!
//!   cargo bench --bench tui

use std::hint::black_box;
use std::net::SocketAddr;

use chrono::FixedOffset;
use criterion::{Criterion, criterion_group, criterion_main};
use groupcast::net::{NetEvent, Ready};
use groupcast::proto::{Entry, Event, Hlc, Incarnation, NodeId, Now, PeerView, Seq, Stats, Status, Time};
use groupcast::tui::app::{App, Msg, update};
use groupcast::tui::view::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// 2026-11-18 10:00:00 UTC.
const T0: u64 = 1_795_514_400_000;
const ME: NodeId = NodeId(0x3fa2_c100_0000_0001);
const SIZE: (u16, u16) = (200, 60);
const MESSAGES: u64 = 10_000;
const PEERS: u64 = 500;

fn t(ms: u64) -> Time {
    Time::from_millis(T0 + ms)
}

fn peer(k: u64) -> NodeId {
    NodeId(0x7b0b_0000_0000_0000 + k)
}

fn net(app: &mut App, ev: Event) {
    update(app, Msg::Net(NetEvent::Core(ev)));
}

/// Chat lines of mixed lengths: most fit a row, some wrap onto two or three.
fn text(i: u64) -> String {
    match i % 10 {
        0 => "ok".into(),
        1..=6 => format!("message {i}: the build is green again, the ring test passed on five hosts"),
        _ => format!(
            "message {i}: a longer report that wraps on a wide screen, because it goes on about loss, \
             repair, settled marks and what the ring did while two hosts dropped a third of their frames"
        ),
    }
}

/// The model as the running program builds it, through `update` only: joined, 500 peers in the
/// table, 10,000 chat lines, a shared message, ring neighbours and a settled mark.
fn busy() -> App {
    let mut app = App::new(Now::synced(t(0)), FixedOffset::east_opt(3600).unwrap(), SIZE);
    let ready = Ready {
        node: ME,
        name: "alice".into(),
        group: "225.0.0.37:12345".parse().unwrap(),
        iface: "10.231.0.1".into(),
        key: None,
    };
    update(&mut app, Msg::Net(NetEvent::Ready(ready)));
    let peers: Vec<PeerView> = (1..=PEERS)
        .map(|k| PeerView {
            node: peer(k),
            name: format!("peer-{k}"),
            addr: SocketAddr::from(([10, 231, (k / 250) as u8, (k % 250) as u8 + 2], 12345)),
            tcp_port: 7000,
            status: if k % 50 == 0 { Status::Suspect } else { Status::Alive },
            loss: (k % 20) as f64 / 100.0,
            last_seen: t(MESSAGES * 100 - k),
            skew_ms: if k % 100 == 0 { 2_500 } else { 0 },
            vouched: true,
        })
        .collect();
    let stats = Stats { messages_sent: MESSAGES / 10, messages_received: MESSAGES, ..Stats::default() };
    update(&mut app, Msg::Net(NetEvent::Status { peers, stats }));
    let mut last = None;
    for i in 1..=MESSAGES {
        let own = i % 10 == 0;
        let node = if own { ME } else { peer(1 + i % PEERS) };
        let entry = Entry {
            ts: Hlc::from_unix(t(i * 100).0),
            node,
            incarnation: Incarnation(1),
            seq: Seq(i),
            name: if own { "alice".into() } else { format!("peer-{}", 1 + i % PEERS).into() },
            text: text(i).into(),
            bare_from: None,
            over: None,
        };
        net(&mut app, Event::Message { entry: entry.clone(), own, settled: false });
        last = Some(entry);
    }
    let last = last.expect("messages");
    net(&mut app, Event::Shared { entry: last, settled: false });
    net(&mut app, Event::Ring { prev: Some(peer(7)), next: Some(peer(8)) });
    // All but the last few seconds' messages are held by every live member.
    net(&mut app, Event::Settled { upto: Hlc::from_unix(t((MESSAGES - 30) * 100).0), count: (MESSAGES - 30) as usize });
    update(&mut app, Msg::Tick(Now::synced(t(MESSAGES * 100 + 500))));
    assert_eq!((app.messages.lines().len() as u64, app.peers.rows().len() as u64), (MESSAGES + 1, PEERS));
    app
}

fn frame(c: &mut Criterion) {
    let app = busy();
    let mut term = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap();
    term.draw(|f| render(&app, f)).unwrap();
    let screen = term.backend().to_string();
    assert!(screen.contains("message 9999:") && screen.contains("more"), "the busy screen is drawn");
    c.bench_function("one frame at 200×60: 10,000 messages, 500 peers", |b| {
        b.iter(|| {
            term.draw(|f| render(black_box(&app), f)).unwrap();
        });
    });
    // After a clear every cell differs from the last frame: the whole screen goes to the backend.
    c.bench_function("one frame at 200×60 after a clear: 10,000 messages, 500 peers", |b| {
        b.iter(|| {
            term.clear().unwrap();
            term.draw(|f| render(black_box(&app), f)).unwrap();
        });
    });
}

criterion_group!(benches, frame);
criterion_main!(benches);
