//! A simulated LAN for protocol cores: seeded randomness, simulated time, and a multicast medium
//! that loses, delays, duplicates and reorders datagrams. Same seed, same run.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use groupcast::proto::{Command, Config, Event, Incarnation, Node, NodeId, Output, Time};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const START_MS: u64 = 1_780_000_000_000;

#[derive(Clone, Copy, Debug)]
pub struct Medium {
    /// Chance a datagram to one receiver is lost.
    pub loss: f64,
    /// Chance a delivered datagram is delivered twice.
    pub dup: f64,
    pub min_delay: Duration,
    /// Extra random delay; datagrams overtake each other within it.
    pub jitter: Duration,
}

impl Default for Medium {
    fn default() -> Self {
        Medium {
            loss: 0.0,
            dup: 0.0,
            min_delay: Duration::from_micros(200),
            jitter: Duration::from_millis(5),
        }
    }
}

pub struct SimNode {
    pub node: Node,
    pub addr: SocketAddr,
    pub up: bool,
    pub events: Vec<(Time, Event)>,
}

struct InFlight {
    at: Time,
    order: u64,
    to: usize,
    from: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

pub struct Sim {
    pub now: Time,
    pub rng: ChaCha8Rng,
    pub medium: Medium,
    pub nodes: Vec<SimNode>,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Datagrams handed to the medium, and how many it dropped.
    pub sent: u64,
    pub lost: u64,
}

impl Sim {
    pub fn new(seed: u64, medium: Medium) -> Self {
        Sim {
            now: Time::from_millis(START_MS),
            rng: ChaCha8Rng::seed_from_u64(seed),
            medium,
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            order: 0,
            sent: 0,
            lost: 0,
        }
    }

    /// Adds a node at 10.0.(i/250).(i%250+1):12345 and returns its index.
    pub fn add_node(&mut self, cfg: Config) -> usize {
        let i = self.nodes.len();
        let id = NodeId(self.rng.random_range(1..u64::MAX));
        let addr = SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250 + 1) as u8], 12345));
        let node = Node::new(id, Incarnation(self.now.as_millis()), cfg, self.now);
        self.nodes.push(SimNode {
            node,
            addr,
            up: true,
            events: Vec::new(),
        });
        self.drain(i);
        i
    }

    pub fn add_nodes(&mut self, n: usize, cfg: &Config) {
        for i in 0..n {
            self.add_node(Config {
                name: format!("n{i}"),
                ..cfg.clone()
            });
        }
    }

    pub fn id(&self, i: usize) -> NodeId {
        self.nodes[i].node.id()
    }

    /// Stops a node dead: no leave, no more datagrams in or out.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    pub fn command(&mut self, i: usize, cmd: Command) {
        let now = self.now;
        self.nodes[i].node.handle_command(cmd, now).expect("command accepted");
        self.drain(i);
    }

    /// A bare-text datagram from an old client at `from`, heard by every up node.
    pub fn inject_bare(&mut self, from: SocketAddr, text: &str) {
        for to in 0..self.nodes.len() {
            self.deliver(to, from, text.as_bytes().to_vec());
        }
    }

    fn deliver(&mut self, to: usize, from: SocketAddr, bytes: Vec<u8>) {
        self.sent += 1;
        if self.rng.random_bool(self.medium.loss) {
            self.lost += 1;
            return;
        }
        let copies = if self.rng.random_bool(self.medium.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = self.rng.random_range(0..=self.medium.jitter.as_micros() as u64);
            let at = self.now + self.medium.min_delay + Duration::from_micros(jitter);
            self.order += 1;
            self.queue.push(Reverse(InFlight {
                at,
                order: self.order,
                to,
                from,
                bytes: bytes.clone(),
            }));
        }
    }

    fn drain(&mut self, i: usize) {
        let now = self.now;
        while let Some(out) = self.nodes[i].node.poll_output() {
            match out {
                Output::Multicast(bytes) => {
                    let from = self.nodes[i].addr;
                    for to in 0..self.nodes.len() {
                        if to != i {
                            self.deliver(to, from, bytes.clone());
                        }
                    }
                }
                Output::Event(e) => self.nodes[i].events.push((now, e)),
            }
        }
    }

    /// Runs the simulation for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_packet = self.queue.peek().map(|r| r.0.at);
            let next_timer = self.nodes.iter().filter(|n| n.up).map(|n| n.node.next_deadline()).min();
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(end),
            };
            if next > end {
                self.now = end;
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            while self.queue.peek().is_some_and(|r| r.0.at <= now) {
                let p = self.queue.pop().expect("peeked").0;
                if self.nodes[p.to].up {
                    self.nodes[p.to].node.handle_datagram(&p.bytes, p.from, now);
                    self.drain(p.to);
                }
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].up && self.nodes[i].node.next_deadline() <= now {
                    self.nodes[i].node.handle_timer(now);
                    self.drain(i);
                }
            }
        }
    }

    /// Indices of nodes that are up.
    pub fn up(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].up).collect()
    }

    /// The ids node `i` counts as members (alive or suspect).
    pub fn members_of(&self, i: usize) -> BTreeSet<NodeId> {
        self.nodes[i].node.members().collect()
    }

    /// A digest of everything every node emitted: equal runs give equal traces.
    pub fn trace(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            for (t, e) in &n.events {
                s.push_str(&format!("{} {} {:?}\n", n.node.id(), t.as_millis(), e));
            }
        }
        s
    }
}
