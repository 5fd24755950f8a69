//! `groupcast doctor` on badly set-up hosts of a namespaced LAN, as a new user would run it:
//! each problem named with its fix, exit 0 only where the group works.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::lan::{Lan, NodeProc};

/// Runs the doctor in host `i` and returns its exit code and JSON report.
fn doctor(lan: &Lan, i: usize, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["doctor", "--json", "--listen", "2s"];
    args.extend_from_slice(extra);
    let out = lan.host(i).run(&args);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

fn nodes(lan: &Lan, hosts: &[usize]) -> Vec<NodeProc> {
    let mut v: Vec<NodeProc> = hosts.iter().map(|&i| lan.host(i).node(&format!("host{i}"), &[])).collect();
    for p in &mut v {
        p.wait_for("ready", |e| e["event"] == "ready");
    }
    v
}

#[test]
fn on_a_working_lan_the_doctor_lists_the_peers_and_their_ring_ports_and_exits_0() {
    let Some(lan) = Lan::new(3) else { return };
    let _others = nodes(&lan, &[1, 3]);
    std::thread::sleep(Duration::from_millis(500));
    let (code, r) = doctor(&lan, 2, &[]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["iface"], "10.231.0.2", "the route's interface");
    assert_eq!(check(&r, "hears itself")["status"], "ok");
    let peers = r["peers"].as_array().unwrap();
    let names: Vec<&str> = peers.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"host1") && names.contains(&"host3"), "{r}");
    assert!(peers.iter().all(|p| p["ring"] == "ok"), "{r}");
    // Only what it found wrong is a warning: a container (as the machine running these tests
    // may be) whose network carries the group is not one.
    let warned: Vec<&Value> = r["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "ok").collect();
    assert_eq!(warned, Vec::<&Value>::new(), "{r}");
    // Human text says the same.
    let out = lan.host(2).run(&["doctor", "--listen", "2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("<- chosen") && text.contains("peer host1 at 10.231.0.1"), "{text}");
    assert!(text.ends_with("the group works on this interface\n"), "{text}");
}

#[test]
fn a_host_whose_inbound_udp_is_dropped_is_told_to_let_the_port_in() {
    let Some(lan) = Lan::new(2) else { return };
    let _other = nodes(&lan, &[1]);
    lan.host(2).nft(&[
        "add table inet fw",
        "add chain inet fw in { type filter hook input priority 0; policy accept; }",
        "add rule inet fw in udp dport 12345 drop",
    ]);
    let (code, r) = doctor(&lan, 2, &[]);
    assert_eq!(code, Some(1), "{r}");
    let heard = check(&r, "hears itself");
    assert_eq!(heard["status"], "fail", "{r}");
    assert!(heard["detail"].as_str().unwrap().contains("udp dport 12345 drop"), "names the rule: {heard}");
    assert!(
        heard["fix"].as_str().unwrap().contains("nft insert rule inet fw in udp dport 12345 accept"),
        "in its chain: {heard}"
    );
    assert!(heard["fix"].as_str().unwrap().contains("udp dport 12345 accept"), "{heard}");
    // The peer's ring link still came up: the doctor says inbound multicast is what fails.
    let peers = check(&r, "peers");
    assert_eq!(peers["status"], "fail", "{r}");
    assert!(peers["detail"].as_str().unwrap().contains("inbound multicast is blocked"), "{peers}");
}

#[test]
fn a_host_without_a_default_route_is_told_which_interface_to_pass() {
    let Some(lan) = Lan::new(2) else { return };
    let _other = nodes(&lan, &[1]);
    let out = lan.host(2).exec("ip", &["route", "del", "default"]);
    assert!(out.status.success());
    let (code, r) = doctor(&lan, 2, &[]);
    assert_eq!(code, Some(1), "{r}");
    let iface = check(&r, "interface");
    assert_eq!(iface["status"], "fail");
    assert!(iface["fix"].as_str().unwrap().contains("--iface 10.231.0.2 (eth0)"), "{iface}");
    assert_eq!(check(&r, "default route")["status"], "warn");
    // Following the fix works.
    let (code, r) = doctor(&lan, 2, &["--iface", "eth0"]);
    assert_eq!(code, Some(0), "{r}");
    assert!(r["peers"].as_array().unwrap().iter().any(|p| p["name"] == "host1"), "{r}");
}

#[test]
fn a_host_with_only_loopback_or_only_ipv6_is_told_what_is_missing() {
    let Some(lan) = Lan::new(2) else { return };
    // Host 1: its LAN interface down, loopback left.
    lan.host(1).set_link(false);
    let (code, r) = doctor(&lan, 1, &[]);
    assert_eq!(code, Some(1), "{r}");
    let ifaces = check(&r, "interfaces");
    assert_eq!(ifaces["status"], "fail");
    assert!(ifaces["fix"].as_str().unwrap().contains("--iface 127.0.0.1"), "{ifaces}");
    // Host 2: IPv6 only.
    let h = lan.host(2);
    assert!(h.exec("ip", &["addr", "flush", "dev", "eth0", "scope", "global"]).status.success());
    assert!(h.exec("ip", &["-6", "addr", "add", "fd00:231::2/64", "dev", "eth0", "nodad"]).status.success());
    let (code, r) = doctor(&lan, 2, &[]);
    assert_eq!(code, Some(1), "{r}");
    let ifaces = check(&r, "interfaces");
    assert!(ifaces["detail"].as_str().unwrap().contains("IPv6 addresses only"), "{r}");
    assert!(ifaces["fix"].as_str().unwrap().contains("--group [ff15::37]:12345"), "{r}");
}

#[test]
fn a_keyed_group_a_busy_ring_port_and_a_cable_without_carrier_are_each_named() {
    let Some(lan) = Lan::new(3) else { return };
    // A keyed group on hosts 2 and 3 (key file readable by its owner only).
    let key_path = std::env::temp_dir().join(format!("groupcast-doctor-key-{}", std::process::id()));
    let _ = std::fs::remove_file(&key_path);
    let key_s = key_path.to_str().unwrap();
    assert!(lan.host(2).run(&["keygen", key_s]).status.success());
    let _keyed: Vec<NodeProc> =
        [2, 3].iter().map(|&i| lan.host(i).node(&format!("host{i}"), &["--key-file", key_s])).collect();
    // Host 1 runs an open node on a pinned ring port, then the doctor with the same settings.
    let _own = lan.host(1).node("host1", &["--ring-port", "40000"]);
    let (code, r) = doctor(&lan, 1, &["--ring-port", "40000"]);
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(check(&r, "join")["status"], "ok", "the doctor takes a ring port of its own: {r}");
    let key = check(&r, "key");
    assert_eq!(key["status"], "fail", "{r}");
    assert!(key["detail"].as_str().unwrap().contains("keyed group is here"), "{key}");
    assert!(key["fix"].as_str().unwrap().contains("--key-file"), "{key}");
    assert!(check(&r, "peers")["detail"].as_str().unwrap().contains("only nodes on this host"), "{r}");
    // With the key it works, and host 1's own open node is not taken for a LAN peer.
    let (code, r) = doctor(&lan, 1, &["--key-file", key_s]);
    assert_eq!(code, Some(0), "{r}");
    // Host 3's cable is out at the switch: its eth0 is up but has no carrier.
    let bridge = lan.host(3).ns.replace("-h3", "-br");
    assert!(
        std::process::Command::new("ip").args(["-n", &bridge, "link", "set", "v3", "down"]).status().unwrap().success()
    );
    let (code, r) = doctor(&lan, 3, &["--key-file", key_s]);
    assert_eq!(code, Some(1), "{r}");
    let iface = check(&r, "interface");
    assert!(iface["detail"].as_str().unwrap().contains("no carrier"), "{iface}");
    let _ = std::fs::remove_file(&key_path);
}

/// The doctor lists the old clients heard while it listens, not those in the group's history
/// (which reaches it as it reaches any newcomer).
#[test]
fn the_doctor_lists_the_old_clients_heard_during_its_run_only() {
    let Some(lan) = Lan::new(3) else { return };
    let mut others = nodes(&lan, &[1]);
    let before = lan.host(3).run(&["send", "--plain", "an old line"]);
    assert!(before.status.success(), "{}", String::from_utf8_lossy(&before.stderr));
    others[0].state_until("the old line held", Duration::from_secs(10), |s| s["messages"] == 1);
    // (History, then: a few seconds old when the doctor comes.)
    std::thread::sleep(Duration::from_secs(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(800));
            let during = lan.host(3).run(&["send", "--plain", "a line while the doctor listens"]);
            assert!(during.status.success());
        });
        let (_, r) = doctor(&lan, 2, &[]);
        let senders: Vec<&String> = r["bare_senders"].as_object().unwrap().keys().collect();
        assert_eq!(senders.len(), 1, "one old client heard during the run: {r}");
        assert_eq!(r["bare_senders"][senders[0].as_str()], 1, "its one line then, not the one before: {r}");
    });
}
