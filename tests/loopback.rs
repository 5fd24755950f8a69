//! The network task with real sockets, in-process, on loopback only: interface 127.0.0.1 and
//! TTL 0 (asserted before anything is sent), so no datagram can leave this host. Several nodes
//! share one host and one port, and each ignores its own echo.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use groupcast::net::NetConfig;
use groupcast::net::new_identity;
use groupcast::net::{self, NetEvent, NodeHandle, socket};
use groupcast::proto::{Command, Config, DownReason, DownVia, Event, Name, Node, NodeId};

fn loopback_node(port: u16, name: &str) -> NodeHandle {
    let group = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(225, 0, 0, 37), port));
    let cfg = NetConfig { group, iface: None, ttl: 0, ring_port: 0 };
    let iface = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let sock = socket::open_member(&cfg, iface).expect("join on loopback");
    let s2 = socket2::SockRef::from(&sock);
    assert_eq!(s2.multicast_if_v4().unwrap(), Ipv4Addr::LOCALHOST, "loopback only");
    assert_eq!(s2.multicast_ttl_v4().unwrap(), 0, "TTL 0: never beyond this host");
    let listener = socket::open_ring_listener(iface, 0, group).expect("ring listener");
    let ring_addr = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, listener.local_addr().unwrap().port())));
    let (id, inc) = new_identity();
    let core = Node::new(id, inc, Config { name: Name::clip(name), ring_addr, ..Config::default() }, net::now());
    net::spawn(sock, Some(listener), (cfg.group, "127.0.0.1".into()), core, None)
}

async fn next_matching(h: &mut NodeHandle, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let mut seen = Vec::new();
    let wait = async {
        loop {
            match h.events.recv().await {
                Some(NetEvent::Core(e)) if pred(&e) => return e,
                Some(NetEvent::Status { .. }) => {}
                Some(other) => seen.push(format!("{other:?}")),
                None => panic!("node stopped before {what}"),
            }
        }
    };
    let r = tokio::time::timeout(Duration::from_secs(10), wait).await;
    r.unwrap_or_else(|_| panic!("no {what}; saw {seen:#?}"))
}

#[tokio::test]
async fn three_nodes_on_one_host_chat_and_leave() {
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let mut nodes: Vec<NodeHandle> = ["a", "b", "c"].iter().map(|n| loopback_node(port, n)).collect();
    let mut ids: Vec<NodeId> = Vec::new();
    for h in &mut nodes {
        match h.events.recv().await {
            Some(NetEvent::Ready(r)) => {
                assert_eq!(r.iface, "127.0.0.1");
                ids.push(r.node);
            }
            other => panic!("expected ready, got {other:?}"),
        }
    }
    for (i, h) in nodes.iter_mut().enumerate() {
        // Peers may come up in any order: collect them until all the others are there.
        let mut up = std::collections::BTreeSet::new();
        while up.len() < 2 {
            let e = next_matching(h, "peer_up", |e| matches!(e, Event::PeerUp { .. })).await;
            let Event::PeerUp { node, .. } = e else { unreachable!() };
            assert_ne!(node, ids[i], "not its own echo");
            up.insert(node);
        }
        let others: std::collections::BTreeSet<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        assert_eq!(up, others);
    }
    nodes[0].command(Command::Say("over loopback".into())).await.unwrap();
    for h in &mut nodes[1..] {
        let e = next_matching(h, "message", |e| matches!(e, Event::Message { .. })).await;
        let Event::Message { entry, own, .. } = e else { unreachable!() };
        assert_eq!((&*entry.text, &*entry.name, own), ("over loopback", "a", false));
    }
    for h in &nodes {
        let snap = h.snapshot().await.unwrap();
        assert_eq!(snap.peers.len(), 2, "its own echo is not a peer");
        assert_eq!(&*snap.shared.unwrap().text, "over loopback");
    }
    // Three nodes on one host still make a ring (ordered by port, then id): each links to both
    // others over TCP on loopback.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for h in &nodes {
        loop {
            let snap = h.snapshot().await.unwrap();
            if snap.links.len() == 2 && snap.ring.prev.is_some() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no ring: {:?}", snap.ring);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    nodes[2].command(Command::Leave).await.unwrap();
    let left = ids[2];
    let e = next_matching(&mut nodes[0], "peer_down", |e| matches!(e, Event::PeerDown { .. })).await;
    assert_eq!(e, Event::PeerDown { node: left, name: "c".into(), reason: DownReason::Left, via: DownVia::Leave });
}

const N_HISTORY: usize = 6_000;

/// A front end that falls far behind (it does not read while 6,000 messages arrive) still gets
/// every message exactly once and every peer: the network task resyncs it from the core's log
/// and peer table once it reads again.
#[tokio::test]
async fn a_front_end_that_falls_behind_misses_no_message_and_no_peer() {
    let port = 20_000 + ((std::process::id() + 7_919) % 20_000) as u16;
    let mut a = loopback_node(port, "a");
    let b = loopback_node(port, "b");
    let Some(NetEvent::Ready(ra)) = a.events.recv().await else { panic!("ready") };
    next_matching(&mut a, "peer_up", |e| matches!(e, Event::PeerUp { .. })).await;
    for k in 0..N_HISTORY {
        a.command(Command::Say(format!("history {k}"))).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let snap = b.snapshot().await.unwrap();
        if snap.messages == N_HISTORY {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "b holds {} of {N_HISTORY}", snap.messages);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Now b's screen reads what was queued for it.
    let mut b = b;
    let mut keys = std::collections::BTreeSet::new();
    let (mut lagged, mut resyncs, mut a_listed) = (0, 0, false);
    // Read until the backlog is gone: once a second passes with nothing but status reports.
    let mut quiet_since = tokio::time::Instant::now();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    while quiet_since.elapsed() < Duration::from_millis(1_500) {
        assert!(tokio::time::Instant::now() < give_up, "the backlog never ended");
        let ev = tokio::time::timeout(Duration::from_millis(200), b.events.recv()).await;
        if !matches!(ev, Ok(Some(NetEvent::Status { .. } | NetEvent::GroupTime { .. })) | Err(_)) {
            quiet_since = tokio::time::Instant::now();
        }
        match ev {
            Ok(Some(NetEvent::Core(Event::Message { entry, .. }))) => {
                assert!(keys.insert(entry.key()), "a message shown twice: {entry:?}");
            }
            Ok(Some(NetEvent::Core(Event::PeerUp { node, .. }))) if node == ra.node => a_listed = true,
            Ok(Some(NetEvent::Lagged(n))) => lagged += n,
            Ok(Some(NetEvent::Resync(r))) => {
                resyncs += 1;
                keys.extend(r.entries.iter().map(groupcast::proto::Entry::key));
                a_listed |= r.peers.iter().any(|p| p.node == ra.node);
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    assert!(lagged > 0 && resyncs > 0, "the queue did overflow (lagged {lagged}, resyncs {resyncs})");
    assert_eq!(keys.len(), N_HISTORY, "every message reached the front end");
    assert!(a_listed, "the peer is listed");
}
