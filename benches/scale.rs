//! How many simulated nodes can join one group: N protocol cores (default 1,000) start together
//! on the simulated LAN (no loss), and the run goes on until every node lists every other. Prints
//! the wall time, the simulated time, the datagrams delivered and the peak memory. Then the group
//! runs until its heartbeats have slowed to what its size calls for (larger groups beat slower),
//! and 30 simulated seconds more: it prints how many datagrams each node took in a second then.
//!
//! `cargo bench --bench scale` (1,000 nodes), `cargo bench --bench scale -- 2000` (any N).

use std::time::{Duration, Instant};

use groupcast::proto::Config;
use groupcast::sim::{Medium, Sim};

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb / 1024)
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given is N.
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000);
    let cfg = Config { ring_addr: Some("0.0.0.0:7000".parse().expect("address")), ..Config::default() };
    let started = Instant::now();
    let mut sim = Sim::new(1, Medium::default());
    sim.add_nodes(n, &cfg);
    let step = Duration::from_millis(10);
    let mut simulated = Duration::ZERO;
    loop {
        sim.run_for(step);
        simulated += step;
        // The simulator keeps every event each node reports, for tests; a million `peer_up`
        // reports are not the cores' memory.
        for node in &mut sim.nodes {
            node.events.clear();
        }
        let all = (0..n).all(|i| sim.members_of(i).len() == n - 1);
        if all || simulated >= Duration::from_secs(10) {
            let verdict = if all { "every node lists every other" } else { "NOT every node lists every other" };
            println!(
                "{n} nodes: {verdict} after {:.2} s simulated; {:.1} s wall, {} datagrams delivered, peak memory {} MiB",
                simulated.as_secs_f64(),
                started.elapsed().as_secs_f64(),
                sim.sent - sim.lost,
                peak_mib().map_or("unknown".to_string(), |m| m.to_string()),
            );
            break;
        }
    }
    // The group's heartbeats slow down step by step as it learns its size (by half at most per
    // heartbeat): measured once they have, for 30 s.
    let ramp = Instant::now();
    let mut ramped = 0;
    while ramped < 180 {
        let before = sim.nodes[0].node.beat_interval();
        sim.run_for(Duration::from_secs(1));
        ramped += 1;
        for node in &mut sim.nodes {
            node.events.clear();
        }
        // What the size calls for: 500 ms up to 20 hosts, in proportion beyond (to 90%).
        let target_ms = 500 * (n as u128).max(20) / 20;
        if sim.nodes[0].node.beat_interval() == before && before.as_millis() * 10 >= target_ms * 9 {
            break;
        }
    }
    println!(
        "heartbeats slowed to every {} ms in {ramped} s simulated ({:.1} s wall)",
        sim.nodes[0].node.beat_interval().as_millis(),
        ramp.elapsed().as_secs_f64()
    );
    let before: Vec<u64> = sim.nodes.iter().map(|s| s.node.stats().frames_received).collect();
    let (steady, wall) = (30, Instant::now());
    for _ in 0..steady {
        sim.run_for(Duration::from_secs(1));
        for node in &mut sim.nodes {
            node.events.clear();
        }
    }
    let mut rates: Vec<f64> = sim
        .nodes
        .iter()
        .zip(&before)
        .map(|(s, b)| (s.node.stats().frames_received - b) as f64 / f64::from(steady))
        .collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "then {steady} s simulated in {:.1} s wall: each node took in {:.1} datagrams a second (median; max {:.1}), \
         heartbeating every {} ms; peak memory {} MiB",
        wall.elapsed().as_secs_f64(),
        rates[rates.len() / 2],
        rates[rates.len() - 1],
        sim.nodes[0].node.beat_interval().as_millis(),
        peak_mib().map_or("unknown".to_string(), |m| m.to_string()),
    );
}
