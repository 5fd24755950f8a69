//! A simulated LAN for protocol cores, behind the `testing` feature: seeded randomness, simulated
//! time, and a multicast medium that loses, delays, duplicates and reorders datagrams; ring links
//! that keep their order; crashes, freezes, restarts, partitions and skewed or stepped clocks.
//! Same seed, same run. The crate's tests and benches drive many cores through it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::proto::{
    Command, Config, DownReason, DownVia, Event, Incarnation, LinkEnd, Name, Node, NodeId, Now, Output, Time,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod alarms;
mod flight;

use alarms::Alarms;
use flight::{Flights, InFlight, What};

/// Where simulated time starts, in milliseconds since the UNIX epoch (in 2026).
pub const START_MS: u64 = 1_780_000_000_000;

/// How the simulated LAN carries multicast datagrams.
#[derive(Clone, Copy, Debug)]
pub struct Medium {
    /// Chance a datagram to one receiver is lost.
    pub loss: f64,
    /// Chance a delivered datagram is delivered twice.
    pub dup: f64,
    /// Least delay of a datagram.
    pub min_delay: Duration,
    /// Extra random delay; datagrams overtake each other within it.
    pub jitter: Duration,
}

impl Default for Medium {
    fn default() -> Self {
        Medium { loss: 0.0, dup: 0.0, min_delay: Duration::from_micros(200), jitter: Duration::from_millis(5) }
    }
}

/// One simulated host and the core running on it.
pub struct SimNode {
    /// The protocol core of its current life.
    pub node: Node,
    /// Its address on the simulated LAN.
    pub addr: SocketAddr,
    /// Running; false after a crash until a restart.
    pub up: bool,
    /// Bumped at each restart, so traffic for an old life is not delivered to the new one.
    pub life: u32,
    /// Every event its cores emitted, with the simulated time.
    pub events: Vec<(Time, Event)>,
    /// The configuration each of its lives starts with.
    pub cfg: Config,
    /// How far this host's wall clock is from true time (ms); the monotonic clock is true.
    pub skew_ms: i64,
    /// Stopped (SIGSTOP): hears nothing, sends nothing, keeps its state.
    pub frozen: bool,
    /// What arrived while frozen, in order (bounded, as a socket buffer is).
    waiting: Vec<InFlight>,
}

/// A TCP link between two node slots, as the network task would hold it.
struct SimLink {
    /// When the last frame each way is delivered: frames on a link keep their order.
    busy_until: [Time; 2],
}

/// A simulated LAN of nodes on simulated time.
pub struct Sim {
    /// Simulated time (the monotonic clock, which is true time).
    pub now: Time,
    /// The seeded randomness everything random in the run draws from.
    pub rng: ChaCha8Rng,
    /// How multicast datagrams travel.
    pub medium: Medium,
    /// The hosts, by index.
    pub nodes: Vec<SimNode>,
    /// What is on its way.
    flights: Flights,
    /// Every node's next deadline.
    alarms: Alarms,
    /// Node indices by current id.
    ids: HashMap<NodeId, usize>,
    links: BTreeMap<(usize, usize), SimLink>,
    /// Nodes cut off from the rest: nothing crosses between them and the others.
    pub cut: BTreeSet<usize>,
    /// Ring links dialled and made.
    pub dials: u64,
    /// Datagrams handed to the medium, and how many it dropped.
    pub sent: u64,
    /// Datagrams the medium dropped.
    pub lost: u64,
    /// Bytes put on the wire: each multicast datagram once, and every link frame.
    pub bytes: u64,
    /// Nodes whose next multicast datagram reaches no one.
    pub drop_next: BTreeSet<usize>,
    /// Nodes whose ring link frames reach no one (their TCP output is blocked).
    pub mute_links: BTreeSet<usize>,
    /// Nodes whose multicast datagrams an eavesdropper records (into `captured`).
    pub capture: BTreeSet<usize>,
    /// What the eavesdropper recorded: the sender's address and the datagram, in the order sent
    /// (at most `MAX_CAPTURED`; the rest is not recorded).
    pub captured: Vec<(SocketAddr, Arc<[u8]>)>,
}

/// Datagrams an eavesdropper records at most.
pub const MAX_CAPTURED: usize = 1 << 20;

impl Sim {
    /// An empty LAN at `START_MS`, with randomness from `seed`.
    pub fn new(seed: u64, medium: Medium) -> Self {
        Sim {
            now: Time::from_millis(START_MS),
            rng: ChaCha8Rng::seed_from_u64(seed),
            medium,
            nodes: Vec::new(),
            flights: Flights::default(),
            alarms: Alarms::default(),
            ids: HashMap::new(),
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            dials: 0,
            sent: 0,
            lost: 0,
            bytes: 0,
            drop_next: BTreeSet::new(),
            mute_links: BTreeSet::new(),
            capture: BTreeSet::new(),
            captured: Vec::new(),
        }
    }

    /// Adds a node at 10.0.(i/250).(i%250+1):12345 and returns its index.
    pub fn add_node(&mut self, cfg: Config) -> usize {
        self.add_node_skewed(cfg, 0)
    }

    /// Adds a node whose wall clock is `skew_ms` off true time.
    pub fn add_node_skewed(&mut self, cfg: Config, skew_ms: i64) -> usize {
        let i = self.nodes.len();
        let addr = SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250 + 1) as u8], 12345));
        let reading = Self::reading_at(self.now, skew_ms);
        let node = self.new_core(addr, &cfg, reading);
        self.ids.insert(node.id(), i);
        self.alarms.add();
        self.nodes.push(SimNode {
            node,
            addr,
            up: true,
            life: 0,
            events: Vec::new(),
            cfg,
            skew_ms,
            frozen: false,
            waiting: Vec::new(),
        });
        self.drain(i);
        i
    }

    fn reading_at(now: Time, skew_ms: i64) -> Now {
        let wall = (now.as_millis() as i64).saturating_add(skew_ms).max(0) as u64;
        Now { mono: now, wall: Duration::from_millis(wall) }
    }

    /// What node `i` reads from its clocks now.
    pub fn reading(&self, i: usize) -> Now {
        Self::reading_at(self.now, self.nodes[i].skew_ms)
    }

    /// Steps node `i`'s wall clock (an NTP step, a resume from suspend).
    pub fn step_clock(&mut self, i: usize, by_ms: i64) {
        self.nodes[i].skew_ms += by_ms;
    }

    /// Stops node `i` as SIGSTOP does: nothing out, its state kept. What is sent to it waits,
    /// as in a socket's buffer, and all arrives at once when it is thawed.
    pub fn freeze(&mut self, i: usize) {
        self.nodes[i].frozen = true;
    }

    /// Lets a frozen node run again; what waited for it is delivered now.
    pub fn thaw(&mut self, i: usize) {
        self.nodes[i].frozen = false;
        self.schedule(i);
        let now = self.now;
        for p in std::mem::take(&mut self.nodes[i].waiting) {
            self.flights.resend(p, now);
        }
    }

    fn running(&self, i: usize) -> bool {
        self.nodes[i].up && !self.nodes[i].frozen
    }

    fn new_core(&mut self, addr: SocketAddr, cfg: &Config, now: Now) -> Node {
        let id = NodeId(self.rng.random_range(1..u64::MAX));
        let mut cfg = cfg.clone();
        if cfg.ring_addr.is_some() {
            cfg.ring_addr = Some(SocketAddr::new(addr.ip(), 7000));
        }
        Node::new(id, Incarnation(now.wall.as_millis() as u64), cfg, now)
    }

    /// Starts a crashed node again: a new life (new id) on the same host.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].up, "restart a crashed node");
        let cfg = self.nodes[i].cfg.clone();
        let reading = self.reading(i);
        let node = self.new_core(self.nodes[i].addr, &cfg, reading);
        self.ids.remove(&self.nodes[i].node.id());
        self.ids.insert(node.id(), i);
        let n = &mut self.nodes[i];
        n.node = node;
        n.up = true;
        n.life += 1;
        self.drain(i);
    }

    /// Whether traffic between two nodes is cut.
    fn apart(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&a) != self.cut.contains(&b)
    }

    fn push(&mut self, at: Time, to: usize, what: What) {
        self.flights.push(at, to, self.nodes[to].life, what);
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.rng.random_range(0..=self.medium.jitter.as_micros() as u64);
        self.medium.min_delay + Duration::from_micros(jitter)
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.ids.get(&id).copied().filter(|&i| self.nodes[i].node.id() == id)
    }

    /// Notes node `i`'s next deadline (after anything that may have moved it).
    fn schedule(&mut self, i: usize) {
        let at = self.running(i).then(|| self.nodes[i].node.next_deadline());
        self.alarms.set(i, at);
    }

    /// The earliest deadline of a running node.
    fn next_timer(&mut self) -> Option<Time> {
        let nodes = &self.nodes;
        self.alarms.next(|i| nodes[i].up && !nodes[i].frozen)
    }

    fn pair(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    /// A link frame from `from` to `to`, in order behind what is already on its way.
    fn send_on_link(&mut self, from: usize, to: usize, what: What) {
        let d = self.delay();
        let now = self.now;
        let Some(link) = self.links.get_mut(&Self::pair(from, to)) else { return };
        let dir = usize::from(from > to);
        let at = (now + d).max(link.busy_until[dir]);
        link.busy_until[dir] = at;
        self.push(at, to, what);
    }

    /// Ends every link of node `i`; the far ends hear it broke, unless the path is cut.
    fn break_links(&mut self, i: usize) {
        let gone: Vec<(usize, usize)> = self.links.keys().filter(|(a, b)| *a == i || *b == i).copied().collect();
        for pair in gone {
            let other = if pair.0 == i { pair.1 } else { pair.0 };
            if !self.apart(i, other) {
                let peer = self.nodes[i].node.id();
                self.send_on_link(i, other, What::LinkEnd { peer, end: LinkEnd::Broken });
            }
            self.links.remove(&pair);
        }
    }

    fn dial(&mut self, i: usize, peer: NodeId) {
        let now = self.now;
        let target = self.index_of(peer).filter(|&j| self.nodes[j].up);
        match target {
            // Stopped: the kernel takes the connection, but no hello ever comes.
            Some(j) if self.apart(i, j) || self.nodes[j].frozen => {
                self.push(now + Duration::from_secs(1), i, What::LinkEnd { peer, end: LinkEnd::Unreachable });
            }
            Some(j) => {
                let pair = Self::pair(i, j);
                if self.links.contains_key(&pair) {
                    return; // the driver keeps the link it has
                }
                self.dials += 1;
                self.links.insert(pair, SimLink { busy_until: [now, now] });
                let d = self.delay();
                let (li, lj) = (self.nodes[i].life, self.nodes[j].life);
                self.push(now + d, i, What::LinkUp { peer: j, peer_life: lj });
                self.push(now + d, j, What::LinkUp { peer: i, peer_life: li });
            }
            // Nothing listens there any more: the host answers with a reset.
            None => {
                let d = self.delay();
                self.push(now + d, i, What::LinkEnd { peer, end: LinkEnd::Refused });
            }
        }
    }

    /// Adds `n` nodes with `cfg`, named n0, n1 and so on.
    pub fn add_nodes(&mut self, n: usize, cfg: &Config) {
        for i in 0..n {
            self.add_node(Config { name: Name::clip(&format!("n{i}")), ..cfg.clone() });
        }
    }

    /// The current id of node `i`.
    pub fn id(&self, i: usize) -> NodeId {
        self.nodes[i].node.id()
    }

    /// Stops a node dead: no leave, no more datagrams in or out; its links break.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
        self.break_links(i);
    }

    /// Runs a command on node `i` and queues what it sends; panics if the command is refused.
    pub fn command(&mut self, i: usize, cmd: Command) {
        let now = self.reading(i);
        self.nodes[i].node.handle_command(cmd, now).expect("command accepted");
        self.drain(i);
    }

    /// Runs commands on node `i` in one go, as the network task serves a burst of requests,
    /// then queues what they send; panics if one is refused.
    pub fn commands(&mut self, i: usize, cmds: impl IntoIterator<Item = Command>) {
        for cmd in cmds {
            let now = self.reading(i);
            self.nodes[i].node.handle_command(cmd, now).expect("command accepted");
        }
        self.drain(i);
    }

    /// A bare-text datagram from an old client at `from`, heard by every up node.
    pub fn inject_bare(&mut self, from: SocketAddr, text: &str) {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.inject(from, text.as_bytes(), &all);
    }

    /// A datagram sent by someone on the LAN from `from` (any address: a forger may use a
    /// member's), heard by the nodes `to`.
    pub fn inject(&mut self, from: SocketAddr, bytes: &[u8], to: &[usize]) {
        let bytes: Arc<[u8]> = bytes.into();
        for &i in to {
            self.deliver(i, from, &bytes);
        }
    }

    /// A datagram from node `sender` to every node it can reach: each copy may be lost or
    /// doubled on its own, and the rest arrive together after one delay.
    fn multicast(&mut self, sender: usize, from: SocketAddr, bytes: Arc<[u8]>) {
        let mut to = Vec::new();
        for j in 0..self.nodes.len() {
            if j == sender || self.apart(sender, j) {
                continue;
            }
            self.sent += 1;
            if self.rng.random_bool(self.medium.loss) {
                self.lost += 1;
                continue;
            }
            if self.rng.random_bool(self.medium.dup) {
                let at = self.now + self.delay();
                self.push(at, j, What::Datagram { from, bytes: Arc::clone(&bytes) });
            }
            to.push((j, self.nodes[j].life));
        }
        if !to.is_empty() {
            let at = self.now + self.delay();
            self.push(at, sender, What::Multicast { from, bytes, to });
        }
    }

    fn deliver(&mut self, to: usize, from: SocketAddr, bytes: &Arc<[u8]>) {
        self.sent += 1;
        if self.rng.random_bool(self.medium.loss) {
            self.lost += 1;
            return;
        }
        let copies = if self.rng.random_bool(self.medium.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + self.delay();
            self.push(at, to, What::Datagram { from, bytes: Arc::clone(bytes) });
        }
    }

    fn drain(&mut self, i: usize) {
        let now = self.now;
        while let Some(out) = self.nodes[i].node.poll_output() {
            match out {
                Output::Multicast(bytes) => {
                    self.bytes += bytes.len() as u64;
                    if self.drop_next.remove(&i) {
                        continue;
                    }
                    let from = self.nodes[i].addr;
                    let bytes: Arc<[u8]> = bytes.into();
                    if self.capture.contains(&i) && self.captured.len() < MAX_CAPTURED {
                        self.captured.push((from, Arc::clone(&bytes)));
                    }
                    self.multicast(i, from, bytes);
                }
                Output::Event(e) => self.nodes[i].events.push((now, e)),
                Output::Dial { peer, .. } => self.dial(i, peer),
                Output::Link { peer, bytes } => {
                    self.bytes += bytes.len() as u64;
                    if self.mute_links.contains(&i) {
                        continue;
                    }
                    if let Some(j) = self.index_of(peer)
                        && self.links.contains_key(&Self::pair(i, j))
                        && !self.apart(i, j)
                    {
                        self.send_on_link(i, j, What::LinkFrame { peer: i, bytes });
                    }
                }
                Output::Close { peer } => {
                    if let Some(j) = self.index_of(peer)
                        && self.links.contains_key(&Self::pair(i, j))
                    {
                        if !self.apart(i, j) {
                            // The far end reads what was sent, then the end of the stream.
                            let me = self.nodes[i].node.id();
                            self.send_on_link(i, j, What::LinkEnd { peer: me, end: LinkEnd::Broken });
                        }
                        self.links.remove(&Self::pair(i, j));
                    }
                }
            }
        }
        self.schedule(i);
    }

    /// What was on its way to one node arrives (or waits, if the node is frozen).
    fn arrive(&mut self, p: InFlight) {
        let to = p.to;
        if self.nodes[to].up && self.nodes[to].frozen && self.nodes[to].waiting.len() < 4096 {
            self.nodes[to].waiting.push(p);
            return;
        }
        if !self.running(to) || self.nodes[to].life != p.to_life {
            return;
        }
        let now = self.reading(to);
        match p.what {
            What::Datagram { from, bytes } => self.nodes[to].node.handle_datagram(&bytes, from, now),
            What::Multicast { .. } => unreachable!("split into datagrams before it arrives"),
            What::LinkUp { peer, peer_life } => {
                let live = self.nodes[peer].up && self.nodes[peer].life == peer_life;
                if live && self.links.contains_key(&Self::pair(to, peer)) {
                    let id = self.nodes[peer].node.id();
                    let from = SocketAddr::new(self.nodes[peer].addr.ip(), 7000);
                    self.nodes[to].node.handle_link_up(id, from, now);
                }
            }
            What::LinkFrame { peer, bytes } => {
                // Sent before any close, so delivered like TCP would; a cut path loses it.
                if !self.apart(to, peer) {
                    let id = self.nodes[peer].node.id();
                    self.nodes[to].node.handle_link_frame(id, &bytes, now);
                }
            }
            What::LinkEnd { peer, end } => self.nodes[to].node.handle_link_end(peer, end, now),
        }
        self.drain(to);
    }

    /// Runs the simulation for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        // A test may have driven a node directly since: ask every node once.
        for i in 0..self.nodes.len() {
            self.schedule(i);
        }
        loop {
            let next_packet = self.flights.next_at();
            let next_timer = self.next_timer();
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Nothing before the end (or nothing at all: every node crashed, nothing on its
            // way): time just passes.
            let Some(next) = next.filter(|&t| t <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            while let Some(p) = self.flights.pop_due(now) {
                match p.what {
                    What::Multicast { from, bytes, to } => {
                        for (j, to_life) in to {
                            let what = What::Datagram { from, bytes: Arc::clone(&bytes) };
                            self.arrive(InFlight { at: p.at, order: p.order, to: j, to_life, what });
                        }
                    }
                    _ => self.arrive(p),
                }
            }
            // Every node whose deadline has come, in index order.
            let mut due = Vec::new();
            while let Some(at) = self.next_timer()
                && at <= now
            {
                due.push(self.alarms.take_next());
            }
            due.sort_unstable();
            due.dedup();
            for i in due {
                if self.running(i) && self.nodes[i].node.next_deadline() <= now {
                    let now = self.reading(i);
                    self.nodes[i].node.handle_timer(now);
                    self.drain(i);
                } else {
                    self.schedule(i);
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

    /// Node `i`'s ring neighbours as they should be: the live nodes in address order.
    pub fn expected_ring(&self, i: usize, live: &[usize]) -> (NodeId, NodeId) {
        let mut ring: Vec<(SocketAddr, NodeId)> = live.iter().map(|&j| (self.nodes[j].addr, self.id(j))).collect();
        ring.sort();
        let pos = ring.iter().position(|(_, id)| *id == self.id(i)).expect("live");
        let n = ring.len();
        (ring[(pos + n - 1) % n].1, ring[(pos + 1) % n].1)
    }

    /// When node `i` first reported `victim` down, why, and what told it.
    pub fn first_down(&self, i: usize, victim: NodeId) -> Option<(Time, DownReason, DownVia)> {
        self.nodes[i].events.iter().find_map(|(t, e)| match e {
            Event::PeerDown { node, reason, via, .. } if *node == victim => Some((*t, *reason, *via)),
            _ => None,
        })
    }

    /// Number of links open in the simulated network.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// A digest of everything every node emitted: equal runs give equal traces.
    pub fn trace(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            for (t, e) in &n.events {
                let _ = writeln!(s, "{} {} {:?}", n.node.id(), t.as_millis(), e);
            }
        }
        s
    }
}
