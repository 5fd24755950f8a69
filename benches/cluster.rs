//! The cluster benchmark: the real binary on five namespaced hosts (nothing leaves this
//! machine), timing what a user waits for. Needs root, iproute2 and nftables.
//!
//!   sudo cargo bench --bench cluster

use std::time::{Duration, Instant};

#[path = "../tests/support/lan.rs"]
mod lan;

use lan::{Lan, NodeProc};
use serde_json::Value;

const HOSTS: usize = 5;

fn alive(s: &Value) -> usize {
    s["peers"].as_array().map_or(0, |p| p.iter().filter(|p| p["status"] == "alive").count())
}

/// Waits until every node's state satisfies `pred`; returns how long that took.
fn until(nodes: &mut [NodeProc], limit: Duration, pred: impl Fn(&Value) -> bool) -> Duration {
    let t = Instant::now();
    for p in nodes.iter_mut() {
        p.state_until("the condition", limit, &pred);
    }
    t.elapsed()
}

fn down_everywhere(nodes: &mut [NodeProc], id: &str) -> Duration {
    let t = Instant::now();
    for p in nodes.iter_mut() {
        p.wait_for("peer_down", |v| v["event"] == "peer_down" && v["node"] == id);
    }
    t.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is nothing to list
    }
    let Some(lan) = Lan::new(HOSTS) else { return };
    let mut rows: Vec<(String, Duration)> = Vec::new();

    let t = Instant::now();
    let mut nodes: Vec<NodeProc> = (1..=HOSTS).map(|i| lan.host(i).node(&format!("host{i}"), &[])).collect();
    let started = t.elapsed();
    let listed = until(&mut nodes, Duration::from_secs(10), |s| alive(s) == HOSTS - 1);
    rows.push((format!("{HOSTS} hosts started, all listing each other"), started + listed));
    let ring = until(&mut nodes, Duration::from_secs(10), |s| {
        s["ring"]["links"].as_array().map_or(0, std::vec::Vec::len) == 2
    });
    rows.push(("ring formed (every host holds 2 links)".into(), started + listed + ring));

    lan.host(2).udp_loss(30);
    lan.host(4).udp_loss(30);
    let t = Instant::now();
    for k in 0..40 {
        for (i, p) in nodes.iter_mut().enumerate() {
            p.say(&format!("m{k} from host{}", i + 1));
        }
    }
    let held = until(&mut nodes, Duration::from_secs(30), |s| s["messages"] == 200);
    rows.push(("200 messages (30% UDP loss on 2 hosts) held by every host".into(), t.elapsed().max(held)));
    until(&mut nodes, Duration::from_secs(30), |s| s["pending"] == 0 && s["shared"]["settled"] == true);
    rows.push(("... and all of them settled everywhere".into(), t.elapsed()));
    let digests: Vec<Value> = nodes.iter_mut().map(|p| p.state()["log_digest"].clone()).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "logs differ: {digests:?}");

    let victim = nodes.remove(0);
    let id = victim.id();
    victim.signal("-KILL");
    rows.push(("kill -9: peer_down on every other host".into(), down_everywhere(&mut nodes, &id)));
    drop(victim);

    let frozen = nodes.remove(0);
    let id = frozen.id();
    frozen.signal("-STOP");
    rows.push(("SIGSTOP (silent): peer_down on every other host".into(), down_everywhere(&mut nodes, &id)));
    frozen.signal("-CONT");
    drop(frozen);

    let mut back = lan.host(1).node("host1-again", &[]);
    let t = Instant::now();
    back.state_until("the log back", Duration::from_secs(10), |s| s["messages"] == 200);
    rows.push(("a restarted host has the 200-message log back".into(), t.elapsed()));

    println!("\ncluster benchmark: {HOSTS} namespaced hosts on one bridge\n");
    println!("| what | took |\n|---|---:|");
    for (what, took) in rows {
        println!("| {what} | {} ms |", took.as_millis());
    }
}
