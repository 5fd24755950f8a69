//! How many simulated nodes can join one group: N protocol cores (default 1,000) start together
//! on the simulated LAN (no loss), and the run goes on until every node lists every other. Prints
//! the wall time, the simulated time, the datagrams delivered and the peak memory.
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
}
