//! Snapshots of the rendered screen (`TestBackend`) at fixed sizes in the states a user meets.
//! The model is driven only through `update()`, as the running program drives it.

use std::net::SocketAddr;

use chrono::FixedOffset;
use groupcast::net::{NetEvent, Ready, Resync};
use groupcast::proto::{
    ClockCause, Command, DownReason, DownVia, DropReason, Entry, Event, Hlc, Incarnation, NodeId, Now, PeerView, Seq,
    Stats, Status, Time,
};
use groupcast::tui::app::{Action, App, Msg, update};
use groupcast::tui::view::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};

/// 2026-11-24 10:00:00 UTC.
const T0: u64 = 1_795_514_400_000;
const ME: NodeId = NodeId(0x3fa2_c100_0000_0001);
const BOB: NodeId = NodeId(0x7b0b_0000_0000_0002);
const CAROL: NodeId = NodeId(0xca10_0000_0000_0003);
const DAVE: NodeId = NodeId(0xda7e_0000_0000_0004);

fn t(ms: u64) -> Time {
    Time::from_millis(T0 + ms)
}

fn hlc(ms: u64) -> Hlc {
    Hlc::from_unix(t(ms).0)
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 231, 0, last], 12345))
}

fn net(app: &mut App, ev: Event) {
    update(app, Msg::Net(NetEvent::Core(ev)));
}

fn key(app: &mut App, code: KeyCode) {
    update(app, Msg::Terminal(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))));
}

fn typed(app: &mut App, s: &str) {
    s.chars().for_each(|c| key(app, KeyCode::Char(c)));
}

fn say(app: &mut App, ms: u64, node: NodeId, name: &str, text: &str, own: bool) {
    let entry = Entry {
        ts: hlc(ms),
        node,
        incarnation: Incarnation(1),
        seq: Seq(ms),
        name: name.into(),
        text: text.into(),
        bare_from: None,
        over: None,
    };
    net(app, Event::Message { entry: entry.clone(), own, settled: false });
    net(app, Event::Shared { entry, settled: false });
}

fn empty(size: (u16, u16)) -> App {
    let mut app = App::new(Now::synced(t(0)), FixedOffset::east_opt(0).unwrap(), size);
    let ready = Ready {
        node: ME,
        name: "alice".into(),
        group: "225.0.0.37:12345".parse().unwrap(),
        iface: "10.231.0.1".into(),
        key: None,
    };
    update(&mut app, Msg::Net(NetEvent::Ready(ready)));
    app
}

fn conversation(size: (u16, u16)) -> App {
    let mut app = empty(size);
    update(&mut app, Msg::Tick(Now::synced(t(1_000))));
    net(&mut app, Event::PeerUp { node: BOB, name: "bob".into(), addr: addr(2) });
    net(&mut app, Event::PeerUp { node: CAROL, name: "carol".into(), addr: addr(3) });
    say(&mut app, 2_000, BOB, "bob", "morning all, is the build green?", false);
    say(&mut app, 3_000, ME, "alice", "green here since the last merge", true);
    say(
        &mut app,
        4_000,
        CAROL,
        "carol",
        "same, and the ring test on five hosts passed with thirty percent loss on two of them, which is long enough to wrap",
        false,
    );
    let bare = Entry {
        ts: hlc(5_000),
        node: BOB,
        incarnation: Incarnation(1),
        seq: Seq(9),
        name: "bob".into(),
        text: "hello from the old C client".into(),
        bare_from: Some("10.231.0.9:40404".parse().unwrap()),
        over: None,
    };
    net(&mut app, Event::Message { entry: bare.clone(), own: false, settled: false });
    net(&mut app, Event::Shared { entry: bare, settled: false });
    say(&mut app, 6_000, BOB, "bob", "世界 wide characters wrap too", false);
    let peers = vec![
        PeerView {
            node: BOB,
            name: "bob".into(),
            addr: addr(2),
            tcp_port: 7000,
            status: Status::Alive,
            loss: 0.0,
            last_seen: t(6_500),
            skew_ms: 0,
            vouched: true,
        },
        PeerView {
            node: CAROL,
            name: "carol".into(),
            addr: addr(3),
            tcp_port: 7000,
            status: Status::Alive,
            loss: 0.12,
            last_seen: t(6_000),
            skew_ms: 0,
            vouched: true,
        },
    ];
    let stats = Stats { messages_sent: 1, messages_received: 4, ..Stats::default() };
    net(&mut app, Event::Ring { prev: Some(CAROL), next: Some(BOB) });
    // Everything up to carol's message is held by everyone; the last two are still pending.
    net(&mut app, Event::Settled { upto: hlc(4_500), count: 3 });
    update(&mut app, Msg::Net(NetEvent::Status { peers, stats }));
    update(&mut app, Msg::Tick(Now::synced(t(7_000))));
    app
}

fn trouble(size: (u16, u16)) -> App {
    let mut app = conversation(size);
    net(&mut app, Event::PeerUp { node: DAVE, name: "dave".into(), addr: addr(4) });
    update(&mut app, Msg::Tick(Now::synced(t(9_000))));
    net(&mut app, Event::PeerSuspect { node: BOB, name: "bob".into() });
    net(
        &mut app,
        Event::PeerDown { node: CAROL, name: "carol".into(), reason: DownReason::Timeout, via: DownVia::Heartbeat },
    );
    net(&mut app, Event::PeerDown { node: DAVE, name: "dave".into(), reason: DownReason::Left, via: DownVia::Leave });
    update(&mut app, Msg::Tick(Now::synced(t(12_000))));
    app
}

fn draw(app: &App, (w, h): (u16, u16)) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    term.backend().to_string()
}

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn snap(name: &str, make: impl Fn((u16, u16)) -> App) {
    for size in SIZES {
        let app = make(size);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), draw(&app, size));
    }
}

#[test]
fn empty_screen() {
    snap("empty", empty);
}

#[test]
fn a_conversation() {
    snap("conversation", conversation);
    let screen = draw(&conversation((120, 40)), (120, 40));
    assert!(screen.contains("10.231.0.9:40404: hello from the old C client"), "bare senders as IP:port");
    assert!(screen.contains("set by bob at 10:00:06"), "who set the shared message, and when");
    assert!(screen.contains("12%"), "per-peer loss");
    assert!(screen.contains("✓ bob: morning all"), "settled lines are marked");
    assert!(screen.contains("◌ bob: 世界"), "pending lines are marked");
    assert!(screen.contains("◌ pending"), "the shared message is not settled yet");
    assert!(screen.contains("next 0%") && screen.contains("prev 12%"), "ring neighbours are marked");
}

#[test]
fn peers_suspect_down_and_left() {
    snap("trouble", trouble);
    let screen = draw(&trouble((120, 40)), (120, 40));
    for glyph in ["◐ bob", "✖ carol", "○ dave"] {
        assert!(screen.contains(glyph), "{glyph}");
    }
    assert!(screen.contains("carol is down (no heartbeat)"));
    assert!(screen.contains("dave left"));
}

#[test]
fn help_overlay() {
    snap("help", |size| {
        let mut app = conversation(size);
        key(&mut app, KeyCode::F(1));
        app
    });
}

#[test]
fn scrolled_with_new_messages_below() {
    snap("scrolled", |size| {
        let mut app = conversation(size);
        for i in 0..40 {
            say(&mut app, 10_000 + i * 1000, BOB, "bob", &format!("line {i}"), false);
        }
        key(&mut app, KeyCode::PageUp);
        say(&mut app, 60_000, CAROL, "carol", "arrived while you were reading", false);
        say(&mut app, 61_000, CAROL, "carol", "and another", false);
        assert_eq!(app.messages.unseen(), 2);
        app
    });
}

#[test]
fn error_in_compose() {
    snap("compose_error", |size| {
        let mut app = conversation(size);
        typed(&mut app, &"too long ".repeat(150));
        key(&mut app, KeyCode::Enter);
        app
    });
}

#[test]
fn small_terminal_keeps_compose_shared_and_log() {
    let size = (40, 12);
    let app = conversation(size);
    let screen = draw(&app, size);
    insta::assert_snapshot!("conversation_40x12", screen);
    assert!(screen.contains("Compose") && screen.contains("Shared message") && screen.contains("peers 2/2"));
    assert!(!screen.contains("Peers 2/2"), "the peers pane collapses to a count");
}

/// However narrow the screen, the header's note on clocks never runs into the counts beside it.
#[test]
fn the_clock_note_never_runs_into_the_counts() {
    let mut app = conversation((120, 40));
    net(&mut app, Event::Clock { skew_ms: 600_000, cause: ClockCause::Group { by_ms: -600_000 } });
    for width in [120u16, 80, 60, 40] {
        let screen = draw(&app, (width, 24));
        let header = screen.lines().next().unwrap_or_default();
        assert!(header.contains(" peers "), "{width} columns: {header:?}");
        assert!(width < 80 || header.contains("clock"), "{width} columns: the note is there: {header:?}");
    }
}

/// Two peers' clocks are off, the smaller first: the header names the one most off, at 160
/// columns as at 80 (a short form), and says there is one more.
#[test]
fn the_header_names_the_clock_most_off_even_when_narrow() {
    let mut app = conversation((120, 40));
    let peer = |node, name: &str, skew_ms| PeerView {
        node,
        name: name.into(),
        addr: addr(node.0 as u8),
        tcp_port: 7000,
        status: Status::Alive,
        loss: 0.0,
        last_seen: t(6_500),
        skew_ms,
        vouched: true,
    };
    let peers = vec![peer(BOB, "frank", -180_000), peer(NodeId(9), "eve", 600_000)];
    update(&mut app, Msg::Net(NetEvent::Status { peers, stats: Stats::default() }));
    for width in [160u16, 120, 100, 80] {
        let screen = draw(&app, (width, 24));
        let header = screen.lines().next().unwrap_or_default();
        assert!(header.contains("eve") && header.contains("+10m 0s"), "{width} columns: {header:?}");
        assert!(header.contains("(+1"), "{width} columns: one more: {header:?}");
        assert!(!header.contains("frank"), "{width} columns: {header:?}");
    }
    // Long names, ours and the offender's, do not push the warning off an 80-column header.
    let peers = vec![peer(BOB, "frank", -180_000), peer(NodeId(9), &"eve-".repeat(9), 600_000)];
    update(&mut app, Msg::Net(NetEvent::Status { peers, stats: Stats::default() }));
    let ready = Ready {
        node: ME,
        name: "alice-".repeat(6),
        group: "225.0.0.37:12345".parse().unwrap(),
        iface: "10.231.0.1".into(),
        key: None,
    };
    update(&mut app, Msg::Net(NetEvent::Ready(ready)));
    for width in [100u16, 80] {
        let screen = draw(&app, (width, 24));
        let header = screen.lines().next().unwrap_or_default();
        assert!(header.contains("+10m 0s (+1"), "{width} columns: {header:?}");
    }
}

/// `/me waves` reads the same in the log and in the shared message pane.
#[test]
fn an_action_reads_the_same_in_every_pane() {
    let size = (100, 30);
    let mut app = conversation(size);
    say(&mut app, 7_500, BOB, "bob", "/me waves", false);
    let screen = draw(&app, size);
    assert_eq!(screen.matches("* bob waves").count(), 2, "in the log and the shared message:\n{screen}");
    assert!(!screen.contains("/me waves"), "{screen}");
}

/// The colour of the cell `skip` characters into `text`, on each line holding it, top to bottom.
fn colours_of(app: &App, (w, h): (u16, u16), text: &str, skip: u16) -> Vec<ratatui::style::Color> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut found = Vec::new();
    for y in 0..h {
        let row: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(at) = row.find(text) {
            let x = row[..at].chars().count() as u16 + skip;
            found.push(buf[(x, y)].fg);
        }
    }
    found
}

/// A name keeps its colour whatever node id it comes from: bob before and after a restart (a
/// new id), in the log, the peers pane and the shared message.
#[test]
fn a_name_keeps_one_colour_across_lives_and_panes() {
    let size = (120, 40);
    let mut app = conversation(size);
    say(&mut app, 7_500, NodeId(0xb0b2), "bob", "back after a restart", false);
    let mut colours = colours_of(&app, size, "bob: ", 0);
    assert_eq!(colours.len(), 3, "bob's lines, the last from another node id");
    colours.extend(colours_of(&app, size, "set by bob", 7));
    colours.extend(colours_of(&app, size, "● bob", 2));
    assert_eq!(colours.len(), 5, "and the shared message and the peers pane: {colours:?}");
    assert!(colours.iter().all(|c| *c == colours[0]), "one colour for bob: {colours:?}");
}

/// Two live members named bob are told apart by a short id, in the log and the peers pane;
/// carol, the only one of her name, is shown as she is.
#[test]
fn two_live_members_of_one_name_are_told_apart() {
    let size = (120, 40);
    let mut app = conversation(size);
    let other_bob = NodeId(0x0b0b_0000_0000_0001);
    net(&mut app, Event::PeerUp { node: other_bob, name: "bob".into(), addr: addr(7) });
    say(&mut app, 7_500, other_bob, "bob", "i am the other bob", false);
    let screen = draw(&app, size);
    let first = format!("bob#{}", &BOB.short()[..4]);
    let second = format!("bob#{}", &other_bob.short()[..4]);
    assert!(screen.contains(&format!("{second}: i am the other bob")), "{screen}");
    assert!(screen.contains(&format!("{first}: morning all")), "{screen}");
    assert!(screen.matches(&second).count() >= 2 && screen.matches(&first).count() >= 2, "log and peers:\n{screen}");
    assert!(!screen.contains("carol#"), "{screen}");
}

/// Alone, a message of ours that settles is only here: ◇ in the log and "only here" in the
/// shared message, never ✓. Once the mark moves with a peer live, the peer holds everything
/// before it (the ring repaired the first to it): both read ✓.
#[test]
fn a_message_settled_alone_reads_only_here() {
    let size = (100, 30);
    let mut app = empty(size);
    update(&mut app, Msg::Tick(Now::synced(t(1_000))));
    say(&mut app, 2_000, ME, "alice", "anyone there?", true);
    net(&mut app, Event::Settled { upto: hlc(2_001), count: 1 });
    let screen = draw(&app, size);
    assert!(screen.contains("◇ alice: anyone there?") && screen.contains("only here"), "{screen}");
    assert!(!screen.contains("✓"), "nothing reads settled while alone:\n{screen}");
    net(&mut app, Event::PeerUp { node: BOB, name: "bob".into(), addr: addr(2) });
    say(&mut app, 3_000, ME, "alice", "ah, bob", true);
    net(&mut app, Event::Settled { upto: hlc(3_001), count: 1 });
    let screen = draw(&app, size);
    assert!(screen.contains("✓ alice: ah, bob") && screen.contains("✓ settled"), "{screen}");
    assert!(screen.contains("✓ alice: anyone there?"), "bob holds the first too now:\n{screen}");
}

/// Chat lines on the screen (system lines aside).
fn chat_lines(app: &App) -> usize {
    app.messages.lines().iter().filter(|l| matches!(l.kind, groupcast::tui::messages::LineKind::Chat { .. })).count()
}

/// What the user sees of clocks, pastes and a screen that fell behind: a peer's clock that is
/// off is marked in the peers pane, this host's in the header; a pasted block is one message
/// laid out with a hanging indent; after a resync every message is on screen once and the
/// missed peer is listed.
#[test]
fn clock_skew_pastes_and_resync_are_shown() {
    let size = (120, 40);
    let mut app = conversation(size);
    net(&mut app, Event::Clock { skew_ms: 600_000, cause: ClockCause::Group { by_ms: -600_000 } });
    let mut peers = vec![PeerView {
        node: BOB,
        name: "bob".into(),
        addr: addr(2),
        tcp_port: 7000,
        status: Status::Alive,
        loss: 0.0,
        last_seen: t(6_500),
        skew_ms: -3_600_000,
        vouched: true,
    }];
    update(&mut app, Msg::Net(NetEvent::Status { peers: peers.clone(), stats: Stats::default() }));
    let screen = draw(&app, size);
    assert!(screen.contains("clock +10m 0s"), "this host's clock in the header:\n{screen}");
    assert!(screen.contains("clock -1h 0m 0s"), "bob's clock in the peers pane:\n{screen}");
    assert!(screen.contains("clock is +10m 0s off the group's"), "and a line in the log");

    update(&mut app, Msg::Terminal(TermEvent::Paste("first line\rsecond line\r".into())));
    let screen = draw(&app, size);
    assert!(screen.contains("› first line↵second line"), "the paste waits in the compose box:\n{screen}");
    let sent = update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))));
    let text = "first line\nsecond line".to_string();
    assert_eq!(sent, Some(Action::Send(Command::Say(text.clone()))), "one message with both lines");
    say(&mut app, 7_000, ME, "alice", &text, true);
    let screen = draw(&app, size);
    let lines: Vec<&str> = screen.lines().collect();
    let at = lines.iter().position(|l| l.contains("alice: first line")).expect("first line shown");
    // The second line hangs under the author, past the time and mark, as wrapped lines do.
    let col = |l: &str, pat: &str| l.find(pat).map(|b| l[..b].chars().count());
    assert_eq!(col(lines[at + 1], "second line"), col(lines[at], "alice:"), "hanging indent:\n{screen}");

    // The screen fell behind: a message and a whole peer never reached it.
    let missed = Entry {
        ts: hlc(8_000),
        node: DAVE,
        incarnation: Incarnation(1),
        seq: Seq(1),
        name: "dave".into(),
        text: "you missed this".into(),
        bare_from: None,
        over: None,
    };
    let lines = app.messages.lines();
    let entries: Vec<Entry> = lines
        .iter()
        .filter(|l| matches!(l.kind, groupcast::tui::messages::LineKind::Chat { .. }))
        .map(|l| Entry {
            ts: l.key.0,
            node: l.key.1,
            incarnation: Incarnation(1),
            seq: l.key.2,
            name: "x".into(),
            text: l.text.clone(),
            bare_from: None,
            over: None,
        })
        .chain(std::iter::once(missed))
        .collect();
    let before = entries.len() - 1;
    peers.push(PeerView {
        node: DAVE,
        name: "dave".into(),
        addr: addr(4),
        tcp_port: 7000,
        status: Status::Alive,
        loss: 0.0,
        last_seen: t(8_000),
        skew_ms: 0,
        vouched: true,
    });
    let resync = Resync {
        entries,
        settled: hlc(9_000),
        shared: None,
        peers,
        ring: groupcast::proto::Neighbours::default(),
        skew_ms: 600_000,
        dropped: 12,
    };
    update(&mut app, Msg::Net(NetEvent::Lagged(12)));
    update(&mut app, Msg::Net(NetEvent::Resync(Box::new(resync))));
    let chats = chat_lines(&app);
    assert_eq!(chats, before + 1, "the missed message is added, nothing doubled");
    // The core had queued the missed message's own event before the resync was taken: it comes
    // after the resync, and is not shown twice.
    let queued = Entry {
        ts: hlc(8_000),
        node: DAVE,
        incarnation: Incarnation(1),
        seq: Seq(1),
        name: "dave".into(),
        text: "you missed this".into(),
        bare_from: None,
        over: None,
    };
    net(&mut app, Event::Message { entry: queued, own: false, settled: true });
    let chats = chat_lines(&app);
    assert_eq!(chats, before + 1, "a message already shown by the resync is not shown again");
    let screen = draw(&app, size);
    assert!(screen.contains("✓ dave: you missed this"), "shown, and settled:\n{screen}");
    assert!(screen.contains("dave"), "the missed peer is listed");
    assert!(app.peers.rows().contains_key(&DAVE));
}

/// A late joiner's backlog arrives already settled, with no `settled` event after it: the lines
/// and the shared message show ✓ at once, not ◌ until someone speaks.
#[test]
fn a_backlog_that_arrives_settled_shows_settled() {
    let size = (120, 40);
    let mut app = empty(size);
    for (k, text) in ["first of the backlog", "second of the backlog"].iter().enumerate() {
        let entry = Entry {
            ts: hlc(1_000 + k as u64),
            node: BOB,
            incarnation: Incarnation(1),
            seq: Seq(k as u64 + 1),
            name: "bob".into(),
            text: (*text).into(),
            bare_from: None,
            over: None,
        };
        net(&mut app, Event::Message { entry: entry.clone(), own: false, settled: true });
        net(&mut app, Event::Shared { entry, settled: true });
    }
    let screen = draw(&app, size);
    assert!(
        screen.contains("✓ bob: first of the backlog") && screen.contains("✓ bob: second of the backlog"),
        "{screen}"
    );
    assert!(screen.contains("✓ settled") && !screen.contains("◌"), "{screen}");
}

#[test]
fn a_keyed_group_says_so_in_the_header_and_the_log() {
    let mut app = App::new(Now::synced(t(0)), FixedOffset::east_opt(0).unwrap(), (120, 40));
    let ready = Ready {
        node: ME,
        name: "alice".into(),
        group: "225.0.0.37:12345".parse().unwrap(),
        iface: "10.231.0.1".into(),
        key: Some("1a2b3c4d".into()),
    };
    update(&mut app, Msg::Net(NetEvent::Ready(ready)));
    let screen = draw(&app, (200, 40));
    let header = screen.lines().next().unwrap();
    assert!(header.contains("keyed") && !header.contains("open"), "{header}");
    assert!(screen.contains("a keyed group (key 1a2b3c4d)"), "{screen}");
    let open = draw(&empty((120, 40)), (120, 40));
    assert!(open.lines().next().unwrap().contains("open"));
}

/// Alone for 12 s, with the node's counters as given.
fn alone_with(size: (u16, u16), own_echoes: u64, refused: u64) -> App {
    let mut app = empty(size);
    let mut stats = Stats { own_echoes, ..Stats::default() };
    stats.dropped.insert(DropReason::LinkNotNeighbour, refused);
    update(&mut app, Msg::Tick(Now::synced(t(1_000))));
    update(&mut app, Msg::Net(NetEvent::Status { peers: Vec::new(), stats }));
    update(&mut app, Msg::Tick(Now::synced(t(12_000))));
    app
}

#[test]
fn alone_for_ten_seconds_the_screen_says_why_and_points_to_the_doctor() {
    snap("nobody_here", |size| alone_with(size, 20, 0));
    snap("deaf_here", |size| alone_with(size, 0, 0));
    // A small screen has no peers pane: the hint goes to the messages pane.
    let screen = draw(&alone_with((40, 12), 20, 0), (40, 12));
    insta::assert_snapshot!("nobody_here_40x12", screen);
    assert!(screen.contains("groupcast doctor"), "{screen}");
    // Before ten seconds, and once a peer appears, nothing is said.
    let mut app = empty((80, 24));
    update(&mut app, Msg::Tick(Now::synced(t(9_000))));
    assert!(!draw(&app, (80, 24)).contains("groupcast doctor"));
    let mut app = alone_with((80, 24), 20, 0);
    net(&mut app, Event::PeerUp { node: BOB, name: "bob".into(), addr: addr(2) });
    assert!(!draw(&app, (80, 24)).contains("groupcast doctor"));
}

#[test]
fn peers_that_dial_in_while_nothing_is_heard_mean_inbound_multicast_is_blocked() {
    // Refusals counted while there were peers are not a sign.
    let mut app = empty((120, 40));
    net(&mut app, Event::PeerUp { node: BOB, name: "bob".into(), addr: addr(2) });
    let mut stats = Stats { own_echoes: 20, ..Stats::default() };
    stats.dropped.insert(DropReason::LinkNotNeighbour, 2);
    update(&mut app, Msg::Net(NetEvent::Status { peers: Vec::new(), stats: stats.clone() }));
    update(&mut app, Msg::Tick(Now::synced(t(1_000))));
    net(&mut app, Event::PeerDown { node: BOB, name: "bob".into(), reason: DownReason::Left, via: DownVia::Leave });
    update(&mut app, Msg::Tick(Now::synced(t(12_000))));
    assert!(draw(&app, (120, 40)).contains("Nobody here yet"));
    stats.dropped.insert(DropReason::LinkNotNeighbour, 5);
    update(&mut app, Msg::Net(NetEvent::Status { peers: Vec::new(), stats }));
    let screen = draw(&app, (120, 40));
    assert!(screen.contains("Inbound multicast blocked"), "{screen}");
}

#[test]
fn the_help_scrolls_on_a_short_screen_and_f2_leaves_the_mouse_to_the_terminal() {
    let mut app = empty((80, 16));
    key(&mut app, KeyCode::F(1));
    let first = draw(&app, (80, 16));
    assert!(first.contains("↓ more") && !first.contains("/quit"), "{first}");
    for _ in 0..30 {
        key(&mut app, KeyCode::Down);
    }
    let last = draw(&app, (80, 16));
    insta::assert_snapshot!("help_scrolled_80x16", last);
    assert!(last.contains("/quit") && last.contains("↑ more") && !last.contains("↓ more"), "{last}");
    key(&mut app, KeyCode::Up);
    assert!(draw(&app, (80, 16)).contains("↑↓ more"), "one up from the end");
    key(&mut app, KeyCode::Esc);
    // F2: the terminal gets the mouse (the loop turns capture off), and the screen says how to
    // get it back; F2 again takes it back.
    let off = update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE))));
    assert_eq!(off, Some(Action::Mouse(false)));
    let screen = draw(&app, (100, 30));
    assert!(screen.contains("drag to select text"), "{screen}");
    let on = update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE))));
    assert_eq!(on, Some(Action::Mouse(true)));
}

/// The style of the first cell of the first occurrence of `text` on the screen.
fn style_of(app: &App, size: (u16, u16), text: &str) -> ratatui::style::Style {
    let mut term = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    for y in 0..size.1 {
        let row: String = (0..size.0).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(i) = row.find(text) {
            let x = row[..i].chars().count() as u16;
            return buf[(x, y)].style();
        }
    }
    panic!("{text:?} not on screen");
}

#[test]
fn a_message_that_names_you_stands_out_and_rings_the_bell_when_asked() {
    let mut app = conversation((100, 30));
    say(&mut app, 20_000, BOB, "bob", "lunch, Alice?", false);
    say(&mut app, 21_000, BOB, "bob", "alicean is not a name", false);
    assert_eq!(style_of(&app, (100, 30), "lunch, Alice?").fg, Some(ratatui::style::Color::LightMagenta));
    assert_ne!(style_of(&app, (100, 30), "alicean is not").fg, Some(ratatui::style::Color::LightMagenta));
    // No bell unless asked for; /bell turns it on.
    let entry = |ms: u64, text: &str| Entry {
        ts: hlc(ms),
        node: BOB,
        incarnation: Incarnation(1),
        seq: Seq(ms),
        name: "bob".into(),
        text: text.into(),
        bare_from: None,
        over: None,
    };
    let quiet = update(
        &mut app,
        Msg::Net(NetEvent::Core(Event::Message { entry: entry(22_000, "@alice hi"), own: false, settled: false })),
    );
    assert_eq!(quiet, None);
    typed(&mut app, "/bell");
    key(&mut app, KeyCode::Enter);
    let rung = update(
        &mut app,
        Msg::Net(NetEvent::Core(Event::Message { entry: entry(23_000, "alice: ping"), own: false, settled: false })),
    );
    assert_eq!(rung, Some(Action::Bell));
    let other = update(
        &mut app,
        Msg::Net(NetEvent::Core(Event::Message {
            entry: entry(24_000, "nothing for you"),
            own: false,
            settled: false,
        })),
    );
    assert_eq!(other, None);
}

#[test]
fn tab_completes_peer_names_and_cycles_through_them() {
    let mut app = conversation((100, 30));
    net(&mut app, Event::PeerUp { node: DAVE, name: "bobby".into(), addr: addr(4) });
    typed(&mut app, "b");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.composer.value(), "bob: ", "at the start of the line a name gets a colon");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.composer.value(), "bobby: ", "again: the next name");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.composer.value(), "bob: ", "and round again");
    typed(&mut app, "ask @ca");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.composer.value(), "bob: ask @carol ");
    typed(&mut app, "zz");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.composer.value(), "bob: ask @carol zz", "no such name: nothing changes");
}

#[test]
fn me_actions_day_rules_saved_lines_and_your_own_rename_are_shown() {
    let mut app = conversation((100, 30));
    typed(&mut app, "/me waves");
    key(&mut app, KeyCode::Enter);
    // (The node echoes what was said as an own message.)
    say(&mut app, 20_000, ME, "alice", "/me waves", true);
    say(&mut app, 86_400_000, BOB, "bob", "a day later", false);
    typed(&mut app, "/name alicia");
    key(&mut app, KeyCode::Enter);
    let screen = draw(&app, (100, 30));
    assert!(screen.contains("* alice waves"), "{screen}");
    assert!(screen.contains(" Wednesday 25 November 2026 "), "a rule where the day changes: {screen}");
    assert!(screen.contains("you are now alicia"), "{screen}");
    typed(&mut app, "/save /tmp/chat.jsonl");
    let saved = update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))));
    let Some(Action::Save(path, lines)) = saved else { panic!("{saved:?}") };
    assert_eq!(path, std::path::PathBuf::from("/tmp/chat.jsonl"));
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["text"], "a day later");
    assert_eq!(last["name"], "bob");
    assert_eq!(lines.lines().count(), chat_lines(&app));
}

#[test]
fn the_top_of_a_long_log_is_a_full_page_under_a_note_of_what_was_not_kept() {
    let mut app = empty((80, 24));
    for i in 0..20_010u64 {
        say(&mut app, 1_000 + i, BOB, "bob", &format!("line {i}"), false);
    }
    assert!(app.messages.dropped() > 0);
    update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Home, KeyModifiers::CONTROL))));
    let screen = draw(&app, (80, 24));
    let rows: Vec<&str> = screen.lines().collect();
    assert!(rows[5].contains("older lines not kept"), "{screen}");
    assert!(rows[18].contains("line "), "a full page, down to the pane's last row: {screen}");
}

#[test]
fn a_double_slash_sends_a_slash_line_and_a_keyed_group_nearby_is_named_when_alone() {
    let mut app = conversation((100, 30));
    typed(&mut app, "//etc/hosts is broken");
    let sent = update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))));
    assert_eq!(sent, Some(Action::Send(Command::Say("/etc/hosts is broken".into()))));
    typed(&mut app, "/save ~/chat.jsonl");
    let saved = update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))));
    let Some(Action::Save(path, _)) = saved else { panic!("{saved:?}") };
    assert!(path.is_absolute() && path.ends_with("chat.jsonl") && !path.starts_with("~"), "{path:?}");
    // Alone, hearing only sealed datagrams: a keyed group is here.
    let mut app = empty((100, 30));
    let mut stats = Stats { own_echoes: 20, ..Stats::default() };
    stats.dropped.insert(DropReason::Sealed, 12);
    update(&mut app, Msg::Net(NetEvent::Status { peers: Vec::new(), stats }));
    update(&mut app, Msg::Tick(Now::synced(t(12_000))));
    let screen = draw(&app, (100, 30));
    assert!(screen.contains("A keyed group is here"), "{screen}");
}

#[test]
fn ctrl_f_finds_older_lines_and_shows_each_match() {
    let mut app = conversation((100, 30));
    for i in 0..60 {
        say(&mut app, 10_000 + i * 1000, BOB, "bob", &format!("filler {i}"), false);
    }
    assert!(!draw(&app, (100, 30)).contains("is the build green"), "scrolled out of view");
    update(&mut app, Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL))));
    typed(&mut app, "GREEN");
    let screen = draw(&app, (100, 30));
    assert!(screen.contains("green here since the last merge"), "the newest match is shown: {screen}");
    assert!(screen.contains("2 matching lines") && screen.contains("find: GREEN"), "{screen}");
    let style = style_of(&app, (100, 30), "green here since");
    assert!(style.add_modifier.contains(ratatui::style::Modifier::REVERSED), "the match stands out");
    key(&mut app, KeyCode::Enter);
    assert!(draw(&app, (100, 30)).contains("morning all, is the build green?"), "Enter: the older match");
    key(&mut app, KeyCode::Down);
    let back = style_of(&app, (100, 30), "green here since");
    assert!(back.add_modifier.contains(ratatui::style::Modifier::REVERSED), "↓: the newer one again");
    key(&mut app, KeyCode::Esc);
    let screen = draw(&app, (100, 30));
    assert!(screen.contains("Compose") && !screen.contains("find:"), "{screen}");
    assert!(screen.contains("green here since"), "Esc leaves the view where the search was");
    // Typing goes to the compose box again.
    typed(&mut app, "x");
    assert_eq!(app.composer.value(), "x");
}

#[test]
fn on_a_40x12_screen_the_help_wraps_every_line_and_scrolls_through_all_of_it() {
    let size = (40, 12);
    let mut app = empty(size);
    key(&mut app, KeyCode::F(1));
    insta::assert_snapshot!("help_40x12", draw(&app, size));
    // Scrolled to the end one row at a time, every word of every entry was on screen.
    let mut seen = String::new();
    for _ in 0..200 {
        seen.push_str(&draw(&app, size));
        key(&mut app, KeyCode::Down);
    }
    let last = draw(&app, size);
    assert!(last.contains("/quit") && !last.contains("↓ more"), "{last}");
    for (k, what) in groupcast::tui::help::HELP {
        for word in k.split_whitespace().chain(what.split_whitespace()) {
            assert!(seen.contains(word), "{word:?} of {k:?} never shown at 40×12");
        }
    }
}

#[test]
fn a_long_ipv6_peer_address_fits_its_row_beside_when_it_was_heard() {
    let mut app = empty((100, 30));
    let v6: SocketAddr = "[fd00:231:ffff:ffff:ffff:ffff:ffff:2]:12345".parse().unwrap();
    net(&mut app, Event::PeerUp { node: BOB, name: "bob".into(), addr: v6 });
    let screen = draw(&app, (100, 30));
    let row = screen.lines().find(|l| l.contains("fd00:231")).expect("the address row");
    assert!(row.contains("now"), "the last-heard age stays on the row: {row}");
    assert!(row.contains('…') || row.contains("fd00:231:ffff:ffff:ffff:ffff:ffff:2"), "{row}");
}

#[test]
fn with_colours_off_the_screen_uses_the_terminals_own_colours_only() {
    let size = (100, 30);
    let coloured = |app: &App| {
        let mut term = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
        term.draw(|f| render(app, f)).unwrap();
        term.backend()
            .buffer()
            .content
            .iter()
            .filter(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset)
            .count()
    };
    let mut app = conversation(size);
    assert!(coloured(&app) > 50, "names, marks and borders are coloured by default");
    app.prefs.colours = false;
    assert_eq!(coloured(&app), 0);
    assert_eq!(draw(&app, size), draw(&conversation(size), size), "the same text");
}

/// Text that a terminal and the layout would count differently, or that piles onto its
/// neighbours: joiners next to marks, lone marks, piles of marks, emoji sequences, format
/// characters, tags, variation selectors.
const NASTY: [&str; 8] = [
    "\u{200D}\u{0301}joined\u{200D}\u{20DD}",
    "👨\u{200D}👩\u{200D}👧\u{200D}👦 family",
    "Z\u{0351}\u{0352}\u{0357}\u{035B}\u{0363}a\u{0364}\u{0365}l\u{0366}\u{0367}g\u{0368}o",
    "\u{0308}starts with a mark",
    "👍\u{1F3FD}❤\u{FE0F}🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
    "bidi \u{202E}txt.exe\u{202C} and \u{2066}iso\u{2069}",
    "\u{1F469}\u{1F3FB}\u{200D}\u{2764}\u{FE0F}\u{200D}\u{1F468}",
    "tab\tand\u{00AD}soft",
];

/// Every cell of the rendered screen takes as many columns on a terminal (which counts a
/// character at a time) as the layout gave it (which counts a cluster at a time), and every
/// border cell holds its line and nothing else: so no border or neighbouring line moves.
fn assert_laid_out_as_drawn(buf: &ratatui::buffer::Buffer, what: &str) {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let area = buf.area;
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let sym = buf[(x, y)].symbol();
            let laid = sym.width().max(1);
            let drawn: usize = sym.chars().map(|c| c.width().unwrap_or(0)).sum();
            assert_eq!(drawn.max(1), laid, "{what}: row {y} column {x}: {sym:?} drawn {drawn} wide, laid out {laid}");
            let first = sym.chars().next().unwrap_or(' ');
            if ('\u{2500}'..='\u{257F}').contains(&first) {
                assert_eq!(sym.chars().count(), 1, "{what}: row {y} column {x}: a border cell holds {sym:?}");
            }
            x += laid as u16;
        }
    }
}

#[test]
fn untrusted_text_never_moves_a_border_or_a_neighbouring_line() {
    for size in SIZES {
        let mut app = conversation(size);
        for (k, text) in NASTY.iter().enumerate() {
            let name = NASTY[(k + 3) % NASTY.len()];
            net(
                &mut app,
                Event::PeerUp { node: NodeId(0x1000 + k as u64), name: name.into(), addr: addr(20 + k as u8) },
            );
            say(&mut app, 8_000 + k as u64 * 100, NodeId(0x1000 + k as u64), name, text, false);
        }
        let mut term = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
        term.draw(|f| render(&app, f)).unwrap();
        assert_laid_out_as_drawn(term.backend().buffer(), &format!("{}x{}", size.0, size.1));
    }
}
