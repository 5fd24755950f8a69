//! How many simulated nodes can join one group: N protocol cores (default 1,000) start together
//! on the simulated LAN (no loss), and the run goes on until every node lists every other. Prints
//! the wall time, the simulated time, the datagrams delivered and the peak memory. Then the group
//! runs until its heartbeats have slowed to what its size calls for (larger groups beat slower),
//! and 30 simulated seconds more: it prints how many datagrams each node took in a second then.
//!
//! A group larger than the peer table (1,024 by default) is run the same way; each node then
//! lists as many peers as its table holds, and counts the heartbeats of the others as dropped.
//!
//! `cargo bench --bench scale` (1,000 nodes), `cargo bench --bench scale -- 2000` (any N).
//! `cargo bench --bench scale -- 10000 2` measures 2 simulated seconds right after the join
//! instead of waiting for the heartbeats to slow (in a group far larger than the table most
//! nodes are held by no table, count no attested hosts and never slow down).

use std::time::{Duration, Instant};

use groupcast::proto::{Config, DropReason, Event};
use groupcast::sim::{Medium, Sim};

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb / 1024)
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given is N.
    let numbers: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = numbers.first().map_or(1_000, |&n| n as usize);
    let after_join = numbers.get(1).copied();
    let cfg = Config { ring_addr: Some("0.0.0.0:7000".parse().expect("address")), ..Config::default() };
    let started = Instant::now();
    let mut sim = Sim::new(1, Medium::default());
    sim.add_nodes(n, &cfg);
    let step = Duration::from_millis(10);
    let mut simulated = Duration::ZERO;
    // What each node can list: every other, or as many as its table holds.
    let full = (n - 1).min(cfg.max_peers);
    loop {
        sim.run_for(step);
        simulated += step;
        // The simulator keeps every event each node reports, for tests; a million `peer_up`
        // reports are not the cores' memory.
        for node in &mut sim.nodes {
            node.events.clear();
        }
        let all = (0..n).all(|i| sim.members_of(i).len() == full);
        if simulated.as_millis().is_multiple_of(1000) {
            eprintln!("  {:.0} s simulated, {:.1} s wall", simulated.as_secs_f64(), started.elapsed().as_secs_f64());
        }
        if all || simulated >= Duration::from_secs(10) {
            let verdict = match (all, full == n - 1) {
                (true, true) => "every node lists every other".to_string(),
                (true, false) => format!("every node lists {full} peers (its table is full)"),
                (false, _) => format!("NOT every node lists {full} peers"),
            };
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
    // heartbeat): measured once they have, for 30 s (or at once, for as long as asked).
    let ramp = Instant::now();
    let mut ramped = 0;
    while ramped < 180 && after_join.is_none() {
        let before = sim.nodes[0].node.beat_interval();
        sim.run_for(Duration::from_secs(1));
        ramped += 1;
        for node in &mut sim.nodes {
            node.events.clear();
        }
        let mut beats: Vec<u128> = sim.nodes.iter().map(|s| s.node.beat_interval().as_millis()).collect();
        beats.sort_unstable();
        let fast = beats.iter().filter(|&&b| b * 2 < beats[n / 2]).count();
        eprintln!(
            "  {ramped} s: heartbeats every {} ms (median; {}-{}; {fast} nodes under half the median), {:.1} s wall",
            beats[n / 2],
            beats[0],
            beats[n - 1],
            ramp.elapsed().as_secs_f64()
        );
        // What the size calls for: 500 ms up to 20 hosts, in proportion beyond (to 90%); the
        // hosts a node counts are those in its table.
        let target_ms = 500 * (full as u128 + 1).max(20) / 20;
        if sim.nodes[0].node.beat_interval() == before && before.as_millis() * 10 >= target_ms * 9 {
            break;
        }
    }
    if after_join.is_none() {
        println!(
            "heartbeats slowed to every {} ms in {ramped} s simulated ({:.1} s wall)",
            sim.nodes[0].node.beat_interval().as_millis(),
            ramp.elapsed().as_secs_f64()
        );
    }
    let refused =
        |s: &groupcast::sim::SimNode| s.node.stats().dropped.get(&DropReason::PeerTableFull).copied().unwrap_or(0);
    let before: Vec<(u64, u64)> = sim.nodes.iter().map(|s| (s.node.stats().frames_received, refused(s))).collect();
    let (steady, wall) = (after_join.unwrap_or(30).max(1), Instant::now());
    // Peers dropped from a table meanwhile (to make room for another, in a full one).
    let mut forgotten = 0;
    for _ in 0..steady {
        sim.run_for(Duration::from_secs(1));
        for node in &mut sim.nodes {
            forgotten += node.events.iter().filter(|(_, e)| matches!(e, Event::PeerRemoved { .. })).count();
            node.events.clear();
        }
        eprintln!("  measuring: {:.1} s wall", wall.elapsed().as_secs_f64());
    }
    let per_second = |f: &dyn Fn(&groupcast::sim::SimNode, &(u64, u64)) -> u64| {
        let mut v: Vec<f64> = sim.nodes.iter().zip(&before).map(|(s, b)| f(s, b) as f64 / f64::from(steady)).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let rates = per_second(&|s, b| s.node.stats().frames_received - b.0);
    let refusals = per_second(&|s, b| refused(s) - b.1);
    println!(
        "then {steady} s simulated in {:.1} s wall: each node took in {:.1} datagrams a second (median; max {:.1}), \
         heartbeating every {} ms; {:.1} a second refused by a full table (median), {forgotten} peers forgotten; \
         peak memory {} MiB",
        wall.elapsed().as_secs_f64(),
        rates[rates.len() / 2],
        rates[rates.len() - 1],
        sim.nodes[0].node.beat_interval().as_millis(),
        refusals[refusals.len() / 2],
        peak_mib().map_or("unknown".to_string(), |m| m.to_string()),
    );
}
