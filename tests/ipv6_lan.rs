//! IPv6 groups on a namespaced LAN whose hosts have IPv6 addresses only: a site-scope group
//! (`[ff15::37]:12345`) with unique-local addresses, and a link-local group (`[ff12::37]:12345`)
//! on hosts that have nothing but their link-local addresses, where the ring's TCP links must be
//! scoped to the interface. The same things work as on IPv4: listing, the ring, messages, a
//! crash seen everywhere, a one-shot send, the doctor. Skips (saying why) where namespaces cannot
//! be made, unless `GROUPCAST_REQUIRE_NETNS=1`.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lan::{Host, Lan, NodeProc};

/// Takes the host's IPv4 address away and gives it `v6` (if any) on eth0, without duplicate
/// address detection (whose wait would only slow the test); the link-local address stays.
fn ipv6_only(h: &Host, v6: Option<&str>) {
    let ok = |args: &[&str]| {
        let out = h.exec("ip", args);
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ok(&["-4", "addr", "flush", "dev", "eth0"]);
    if let Some(a) = v6 {
        ok(&["-6", "addr", "add", &format!("{a}/64"), "dev", "eth0", "nodad"]);
        ok(&["-6", "route", "add", "default", "dev", "eth0"]);
    }
    // The link-local address is usable once its own detection is over (about a second).
    for _ in 0..50 {
        let out = h.exec("ip", &["-6", "addr", "show", "dev", "eth0", "scope", "link", "tentative"]);
        if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the link-local address of {} stayed tentative", h.ns);
}

/// Each of `nodes` lists all the others (by their ids) and holds two ring links.
fn meshed_and_ringed(nodes: &mut [NodeProc]) {
    let ids: Vec<String> = nodes.iter().map(NodeProc::id).collect();
    for (i, p) in nodes.iter_mut().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                let up = p.wait_for("peer_up", |v| v["event"] == "peer_up" && v["node"] == id.as_str());
                let addr = up["addr"].as_str().unwrap().to_string();
                assert!(addr.starts_with('['), "an IPv6 peer address: {addr}");
            }
        }
        // Three hosts: two different neighbours.
        p.wait_for("a ring with both neighbours", |v| {
            v["event"] == "ring" && v["prev"].is_string() && v["next"].is_string() && v["prev"] != v["next"]
        });
        let state = p.state_until("two ring links", Duration::from_secs(10), |s| {
            s["ring"]["links"].as_array().is_some_and(|l| l.len() == 2)
        });
        assert_eq!(state["ring"]["links"].as_array().unwrap().len(), 2, "{state}");
    }
}

fn is_message(v: &Value, text: &str) -> bool {
    v["event"] == "message" && v["text"] == text
}

#[test]
fn a_site_scope_ipv6_group_lists_rings_carries_messages_and_sees_a_crash() {
    let Some(lan) = Lan::new(4) else { return };
    for i in 1..=4 {
        ipv6_only(lan.host(i), Some(&format!("fd00:231::{i}")));
    }
    let group = ["--group", "[ff15::37]:12345"];
    // --iface by name, by address, and left to the route.
    let mut nodes = vec![
        lan.host(1).node("host1", &[&group[..], &["--iface", "eth0"]].concat()),
        lan.host(2).node("host2", &[&group[..], &["--iface", "fd00:231::2"]].concat()),
        lan.host(3).node("host3", &group),
    ];
    let ready = nodes[0].wait_for("ready", |v| v["event"] == "ready");
    assert_eq!(ready["group"], "[ff15::37]:12345", "{ready}");
    meshed_and_ringed(&mut nodes);
    nodes[0].say("over IPv6");
    for p in &mut nodes[1..] {
        p.wait_for("the message", |v| is_message(v, "over IPv6"));
    }
    // A one-shot send from a fourth host.
    let out = lan.host(4).run(&["send", "--name", "sender", "--group", "[ff15::37]:12345", "hello v6"]);
    assert!(out.status.success(), "send: {}", String::from_utf8_lossy(&out.stderr));
    for p in &mut nodes {
        p.wait_for("the sent message", |v| is_message(v, "hello v6"));
    }
    // kill -9: its ring neighbours see the crash and tell everyone, as on IPv4.
    let victim = nodes[2].id();
    nodes[2].signal("-KILL");
    for p in &mut nodes[..2] {
        let down = p.wait_for_within("peer_down", Duration::from_secs(5), |v| {
            v["event"] == "peer_down" && v["node"] == victim.as_str()
        });
        assert_eq!(down["name"], "host3");
    }
    // The doctor on an IPv6-only host, for the IPv6 group: it works.
    let out = lan.host(4).run(&["doctor", "--json", "--group", "[ff15::37]:12345", "--listen", "2s"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["iface"], "fd00:231::4", "{report}");
    let route = report["checks"].as_array().unwrap().iter().find(|c| c["check"] == "default route").unwrap();
    assert_eq!(route["status"], "ok", "the IPv6 default route is seen: {route}");
    let peers: Vec<&str> = report["peers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(peers.contains(&"host1") && peers.contains(&"host2"), "{report}");
    // A node started for the (default) IPv4 group on an IPv6-only host waits, and says which
    // group would work.
    let mut lost = lan.host(4).spawn_node("v4", &[], &[]);
    let waiting = lost.wait_for("waiting", |v| v["event"] == "waiting");
    assert!(waiting["reason"].as_str().unwrap().contains("--group '[ff15::37]:12345'"), "{waiting}");
}

#[test]
fn a_link_local_group_needs_its_interface_and_links_the_ring_over_link_local_addresses() {
    let Some(lan) = Lan::new(3) else { return };
    for i in 1..=3 {
        ipv6_only(lan.host(i), None);
    }
    // Without an interface a link-local group cannot be placed: one line, exit 2.
    let out = lan.host(1).run(&["send", "--group", "[ff12::37]:12345", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("link-local") && err.contains("--iface"), "{err}");
    // A permanent, assigned address is refused with the transient ones to use instead.
    let out = lan.host(1).run(&["send", "--group", "[ff02::1]:12345", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[ff15::37]:12345"));
    // Loopback carries no IPv6 multicast: said at once, with what to use on one host.
    let out = lan.host(1).run(&["send", "--group", "[ff15::37]:12345", "--iface", "lo", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--iface 127.0.0.1"));
    let args = ["--group", "[ff12::37]:12345", "--iface", "eth0"];
    let mut nodes: Vec<NodeProc> = (1..=3).map(|i| lan.host(i).node(&format!("host{i}"), &args)).collect();
    meshed_and_ringed(&mut nodes);
    for (i, p) in nodes.iter_mut().enumerate() {
        let up = p.events("peer_up");
        assert!(up.iter().all(|v| v["addr"].as_str().unwrap().starts_with("[fe80::")), "host{}: {up:?}", i + 1);
    }
    nodes[1].say("on the link");
    for i in [0, 2] {
        nodes[i].wait_for("the message", |v| is_message(v, "on the link"));
    }
    // An old client's bare text, heard by all three: stamped once for the group (the address a
    // node hears it from and the one a peer's frame names must compare equal), so every log
    // holds it once and the logs agree.
    let out =
        lan.host(1).run(&["send", "--plain", "--group", "[ff12::37]:12345", "--iface", "eth0", "bare on the link"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for p in &mut nodes {
        p.wait_for("the bare text", |v| is_message(v, "bare on the link"));
    }
    std::thread::sleep(Duration::from_secs(3));
    let mut digests = Vec::new();
    for p in &mut nodes {
        let copies = p.events("message").iter().filter(|v| is_message(v, "bare on the link")).count();
        assert_eq!(copies, 1, "{}: the bare text once", p.name);
        digests.push(p.state()["log_digest"].clone());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    // The doctor reaches the peers' ring ports over the link (scoped to its interface).
    let out =
        lan.host(1).run(&["doctor", "--json", "--group", "[ff12::37]:12345", "--iface", "eth0", "--listen", "2s"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    assert_eq!(out.status.code(), Some(0), "{report}");
    let rings: Vec<(&str, &str)> = report["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["ring"].as_str().unwrap()))
        .collect();
    for host in ["host2", "host3"] {
        assert!(rings.contains(&(host, "ok")), "{rings:?}");
    }
}
