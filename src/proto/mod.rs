//! The protocol core: a state machine with no sockets and no clock reads.
//!
//! Feed it datagrams (`handle_datagram`), ring-link traffic (`handle_link_up`,
//! `handle_link_frame`, `handle_link_end`), local commands (`handle_command`) and timer ticks
//! (`handle_timer`), each with the current `Time`; take what it wants done from `poll_output`:
//! datagrams to multicast, links to dial, frames to send on links, and events for front ends.
//! The network task drives it for real; the simulation in `tests/` drives hundreds of them on
//! simulated time.

pub mod bare;
pub mod clock;
pub mod detector;
mod linking;
pub mod log;
mod membership;
pub mod peers;
mod reasons;
mod repair;
pub mod ring;
mod timekeeping;
pub mod timer;
pub mod types;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

pub use detector::DetectorConfig;
pub use log::{Entry, Inserted, Log};
pub use peers::Status;
pub use reasons::{DownVia, DropReason};
pub use ring::{LinkEnd, Neighbours, RingKey};
pub use types::{BadName, Hlc, Incarnation, Name, NodeId, Now, Seq, Time};

use bare::BareDesk;
use clock::Clock;
use peers::Peer;
use ring::Links;
use timer::{Timer, TimerTable};
use wire::{Beat, Body, Datagram, Frame, MessageBody};

/// Announces sent at start, at these offsets, so peers list a newcomer at once even if one is lost.
const ANNOUNCE_OFFSETS_MS: [u64; 3] = [0, 30, 90];
/// Messages a new node holds while it waits to hear the group's clock; beyond this they go out
/// at once.
const MAX_HELD_SAYS: usize = 1024;
/// How often the failure detectors and the ring are looked at between heartbeats.
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// Bytes of messages one repair reply carries at most (more follow on request).
const REPAIR_BUDGET: usize = 1 << 20;
/// Peers vouched for in one heartbeat.
const MAX_VOUCHES: usize = 4;
/// A gap noticed from a heartbeat asks the neighbours at most this often.
const GAP_SYNC_EVERY: Duration = Duration::from_millis(100);
/// A hole in the messages of an origin that is down or gone is closed (reported as a gap)
/// once it has gone this long without repair.
const HOLE_GRACE: Duration = Duration::from_secs(3);
/// A clock further than this from the group's follows the group.
const CLOCK_TOLERANCE_MS: i64 = 1_000;

#[derive(Clone, Debug)]
pub struct Config {
    pub name: Name,
    pub heartbeat: Duration,
    pub detector: DetectorConfig,
    /// Received timestamps push this node's clock forward at most this far past its own time.
    /// (Frames stamped further ahead are still taken; only the clock is held back.)
    pub max_clock_ahead: Duration,
    /// Retention: messages kept in the log.
    pub log_capacity: usize,
    /// Retention in bytes (text and names, plus a fixed cost per message).
    pub log_bytes: usize,
    pub max_peers: usize,
    /// How long a down or left peer is remembered (and shown) before it is removed.
    pub forget_after: Duration,
    /// How long a node that is not the bare-text stamper waits for the stamper's copy.
    pub bare_wait: Duration,
    /// Bare-text datagrams accepted per second from one address, and the burst allowed.
    pub bare_rate: f64,
    pub bare_burst: f64,
    /// This node's place in the ring: its interface address and TCP listening port. `None`
    /// takes no part in the ring (a one-shot sender).
    pub ring_addr: Option<SocketAddr>,
    /// How often ring neighbours exchange digests.
    pub sync_every: Duration,
    /// A new node holds what its user says until it has heard the group's clock, or this long
    /// (so a host with a wrong clock never stamps its first messages in the future). Zero for a
    /// one-shot sender, which hears nothing.
    pub clock_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: Name::clip("node"),
            heartbeat: Duration::from_millis(500),
            detector: DetectorConfig::default(),
            max_clock_ahead: Duration::from_millis(500),
            log_capacity: 10_000,
            log_bytes: 16 << 20,
            max_peers: 1024,
            forget_after: Duration::from_secs(60),
            bare_wait: Duration::from_secs(1),
            bare_rate: 20.0,
            bare_burst: 40.0,
            ring_addr: None,
            sync_every: Duration::from_secs(1),
            clock_wait: Duration::from_millis(300),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    Left,
    Timeout,
    /// Replaced by a new life of the same name on the same host.
    Restarted,
    /// Its process is gone: a ring neighbour's probe dial was refused.
    Crashed,
}

impl DownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::Left => "left",
            DownReason::Timeout => "timeout",
            DownReason::Restarted => "restarted",
            DownReason::Crashed => "crashed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    PeerUp {
        node: NodeId,
        name: String,
        addr: SocketAddr,
    },
    PeerSuspect {
        node: NodeId,
        name: String,
    },
    /// A suspect spoke again.
    PeerAlive {
        node: NodeId,
        name: String,
    },
    PeerDown {
        node: NodeId,
        name: String,
        reason: DownReason,
        /// What told.
        via: DownVia,
    },
    /// A down or left peer has been forgotten.
    PeerRemoved {
        node: NodeId,
    },
    PeerRenamed {
        node: NodeId,
        old: String,
        new: String,
    },
    Message {
        entry: Entry,
        own: bool,
        settled: bool,
    },
    Shared {
        entry: Entry,
        settled: bool,
    },
    /// Every live member holds every message stamped before `upto`; `count` messages just
    /// became settled.
    Settled {
        upto: Hlc,
        count: usize,
    },
    /// The ring neighbours changed.
    Ring {
        prev: Option<NodeId>,
        next: Option<NodeId>,
    },
    /// Messages of `node` numbered `from..=to` fell out of a neighbour's retention before this
    /// node got them: reported, never silently skipped.
    Gap {
        node: NodeId,
        from: Seq,
        to: Seq,
    },
    /// How this node keeps group time changed: its wall clock stepped (and group time ran on
    /// without the jump), or its clock was found far from the group's and now follows it.
    /// `skew_ms` is this host's wall clock minus group time from now on.
    Clock {
        skew_ms: i64,
        cause: ClockCause,
    },
    /// Something from `addr` was dropped. `count` is how many since the last report from that
    /// address (reports are limited to one per address per second).
    Rejected {
        addr: SocketAddr,
        reason: DropReason,
        count: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockCause {
    /// The wall clock jumped by this much against the monotonic clock.
    Step { by_ms: i64 },
    /// Group time moved by this much to agree with the median of the peers' clocks.
    Group { by_ms: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Multicast(Vec<u8>),
    Event(Event),
    /// Open a ring link to `peer`; answer with `handle_link_up` or `handle_link_end`.
    Dial {
        peer: NodeId,
        addr: SocketAddr,
    },
    /// Send a frame on the link to `peer`.
    Link {
        peer: NodeId,
        bytes: Vec<u8>,
    },
    /// Close the link to `peer` once what was queued is sent; no `handle_link_end` follows.
    Close {
        peer: NodeId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Say(String),
    Rename(Name),
    /// Multicast a leave (twice) and stop heartbeating.
    Leave,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("nothing to send")]
    Empty,
    #[error("message is {len} bytes; at most {max} bytes fit one datagram")]
    TooLong { len: usize, max: usize },
    #[error("this node has left the group")]
    Left,
}

/// Whether `text` from a node called `name` fits one datagram, without sending it: front ends
/// check before they clear what the user typed.
pub fn check_message(name: &str, text: &str) -> Result<(), CommandError> {
    if text.trim().is_empty() {
        return Err(CommandError::Empty);
    }
    let body =
        Body::Message(MessageBody { msg_seq: Seq(u64::MAX), name: name.into(), text: text.into(), bare_from: None });
    let frame = Frame { sender: NodeId(u64::MAX), incarnation: Incarnation(0), seq: Seq(0), hlc: Hlc(0), body };
    match wire::encode(&frame) {
        Ok(_) => Ok(()),
        Err(e) => Err(CommandError::TooLong { len: text.len(), max: text.len() - (e.len - wire::MAX_FRAME) }),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_sent: u64,
    pub frames_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Messages that arrived by repair over the ring, not by multicast.
    pub repaired: u64,
    pub link_frames_sent: u64,
    pub link_frames_received: u64,
    /// Copies of messages already in the log (senders may repeat a message on purpose).
    pub duplicates: u64,
    /// Received stamps further ahead than `max_clock_ahead`: taken, but the clock held back.
    pub clock_held: u64,
    /// Times this node was paused (stopped, starved) long enough to judge its peers unfairly.
    pub pauses: u64,
    /// Everything dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
}

impl Stats {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PeerView {
    pub node: NodeId,
    pub name: String,
    pub addr: SocketAddr,
    /// Its ring listener's port (0: not in the ring).
    pub tcp_port: u16,
    pub status: Status,
    pub loss: f64,
    pub last_seen: Time,
    /// Its wall clock minus group time, as it reports.
    pub skew_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub node: NodeId,
    pub name: String,
    /// This host's wall clock minus the group time it stamps with.
    pub skew_ms: i64,
    pub shared: Option<Entry>,
    /// Messages stamped before this are held by every live member.
    pub settled: Hlc,
    pub ring: Neighbours,
    /// Peers this node holds a ring link to.
    pub links: Vec<NodeId>,
    /// Sorted by address, then node id.
    pub peers: Vec<PeerView>,
    pub messages: usize,
    /// Messages not yet settled.
    pub pending: usize,
    pub evicted: u64,
    /// Messages known lost: they fell out of retention before this node got them.
    pub lost: u64,
    pub log_digest: String,
    pub stats: Stats,
}

/// The header fields of a received frame that membership needs.
#[derive(Clone, Copy)]
struct Header {
    sender: NodeId,
    incarnation: Incarnation,
    seq: Seq,
    hlc: Hlc,
}

pub struct Node {
    id: NodeId,
    incarnation: Incarnation,
    cfg: Config,
    clock: Clock,
    seq: Seq,
    msg_seq: Seq,
    peers: BTreeMap<NodeId, Peer>,
    log: Log,
    bare: BareDesk,
    out: VecDeque<Output>,
    stats: Stats,
    started: Time,
    announces_sent: usize,
    timers: TimerTable,
    left: bool,
    links: Links,
    ring: Neighbours,
    /// Membership changed since the ring was last worked out.
    ring_dirty: bool,
    last_gap_sync: Option<Time>,
    /// Own applied frontier, reported in heartbeats (never moves back).
    frontier: Hlc,
    /// The group's settled mark (never moves back).
    settled: Hlc,
    /// The monotonic instant of the latest input, to notice when this node was paused.
    last_input: Time,
    /// Origins down or gone with a hole in their messages, and since when.
    holes: BTreeMap<(NodeId, Incarnation), Time>,
    /// When this node last came back from a pause of its own.
    resumed_at: Option<Time>,
    /// The group's clock has been heard (or waited for long enough).
    clock_known: bool,
    /// What the user said before that, in order.
    held_says: VecDeque<String>,
}

impl Node {
    pub fn new(id: NodeId, incarnation: Incarnation, cfg: Config, now: Now) -> Self {
        let clock = Clock::new(now, cfg.max_clock_ahead);
        let now = now.mono;
        Node {
            id,
            incarnation,
            clock,
            seq: Seq(0),
            msg_seq: Seq(0),
            peers: BTreeMap::new(),
            log: Log::with_bytes(cfg.log_capacity, cfg.log_bytes),
            bare: BareDesk::new(cfg.bare_rate, cfg.bare_burst),
            out: VecDeque::new(),
            stats: Stats::default(),
            started: now,
            announces_sent: 0,
            timers: {
                let mut t = TimerTable::default();
                for timer in [Timer::Heartbeat, Timer::Check, Timer::Sync] {
                    t.set(timer, now);
                }
                t
            },
            left: false,
            links: Links::default(),
            ring: Neighbours::default(),
            ring_dirty: true,
            last_gap_sync: None,
            frontier: Hlc(0),
            settled: Hlc(0),
            last_input: now,
            holes: BTreeMap::new(),
            resumed_at: None,
            clock_known: cfg.clock_wait.is_zero(),
            held_says: VecDeque::new(),
            cfg,
        }
    }

    /// Takes the driver's reading at the start of every input: the clock notes a wall-clock
    /// step, and a long silence of our own (the process was stopped or starved) gives peers a
    /// fresh start rather than a verdict. Returns the monotonic instant the core counts in.
    fn enter(&mut self, now: Now) -> Time {
        if let Some(by_ms) = self.clock.advance(now) {
            self.emit(Event::Clock { skew_ms: self.clock.skew_ms(), cause: ClockCause::Step { by_ms } });
        }
        let t = now.mono.max(self.last_input);
        if t.since(self.last_input) > self.pause_gap() {
            self.resumed(t);
        }
        self.last_input = t;
        t
    }

    /// Longer than the driver ever waits between timer calls: a gap like this is our pause.
    fn pause_gap(&self) -> Duration {
        (self.cfg.heartbeat * 2).max(Duration::from_millis(1500))
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn has_left(&self) -> bool {
        self.left
    }

    pub fn ring(&self) -> Neighbours {
        self.ring
    }

    /// Group time at the latest input (what this node stamps with, less the logical part).
    pub fn group_now(&self) -> Hlc {
        self.clock.now_hlc()
    }

    pub fn settled(&self) -> Hlc {
        self.settled
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `handle_timer` next has work to do.
    pub fn next_deadline(&self) -> Time {
        let timers = self.timers.next().unwrap_or(self.last_input + CHECK_EVERY);
        self.bare.next_deadline().map_or(timers, |b| b.min(timers))
    }

    pub fn peer_status(&self, id: NodeId) -> Option<Status> {
        self.peers.get(&id).map(|p| p.status)
    }

    /// Ids of the peers this node counts as members (alive or suspect).
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.values().filter(|p| p.status.is_member()).map(|p| p.id)
    }

    /// Peers this node holds a ring link to.
    pub fn linked(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.links.ids()
    }

    /// The peer table, sorted by address then node id (the ring's order).
    pub fn peer_views(&self) -> Vec<PeerView> {
        let mut peers: Vec<PeerView> = self
            .peers
            .values()
            .map(|p| PeerView {
                node: p.id,
                name: p.name.clone(),
                addr: p.addr,
                tcp_port: p.tcp_port,
                status: p.status,
                loss: p.loss.loss(),
                last_seen: p.last_seen,
                skew_ms: p.clock.skew_ms,
            })
            .collect();
        peers.sort_by_key(|p| (p.addr.ip(), p.tcp_port, p.node));
        peers
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            node: self.id,
            name: self.cfg.name.to_string(),
            skew_ms: self.clock.skew_ms(),
            shared: self.log.shared().cloned(),
            settled: self.settled,
            ring: self.ring,
            links: self.linked().collect(),
            peers: self.peer_views(),
            messages: self.log.len(),
            pending: self.log.range_from(self.settled).count(),
            evicted: self.log.evicted(),
            lost: self.log.lost(),
            log_digest: self.log.digest_hex(),
            stats: self.stats.clone(),
        }
    }

    /// The first frame to send on a new ring link: it names this node.
    pub fn hello(&mut self, now: Now) -> Vec<u8> {
        self.enter(now);
        self.link_frame(Body::Hello).unwrap_or_default()
    }

    // ---- inputs -------------------------------------------------------------------------

    pub fn handle_command(&mut self, cmd: Command, now: Now) -> Result<(), CommandError> {
        let now = self.enter(now);
        if self.left {
            return Err(CommandError::Left);
        }
        match cmd {
            Command::Say(text) if !self.clock_known && self.held_says.len() < MAX_HELD_SAYS => {
                check_message(&self.cfg.name, &text)?;
                self.held_says.push_back(text);
                Ok(())
            }
            Command::Say(text) => self.say(&text, None, now),
            Command::Rename(name) => {
                self.cfg.name = name;
                self.send_beat(false, now);
                Ok(())
            }
            Command::Leave => {
                // What the user said is sent, clock known or not, before the goodbye.
                self.clock_is_known(now);
                // Twice: one lost datagram should not leave peers waiting for a timeout.
                self.send(Body::Leave);
                self.send(Body::Leave);
                let peers: Vec<NodeId> = self.linked().collect();
                for peer in peers {
                    self.close_link(peer, now);
                }
                self.left = true;
                self.timers.stop(Timer::Heartbeat);
                self.timers.stop(Timer::Sync);
                Ok(())
            }
        }
    }

    pub fn handle_timer(&mut self, now: Now) {
        let now = self.enter(now);
        if self.timers.is_due(Timer::Heartbeat, now) {
            self.follow_group_clock(now);
            let announce = self.announces_sent < ANNOUNCE_OFFSETS_MS.len();
            self.send_beat(announce, now);
            let next = match ANNOUNCE_OFFSETS_MS.get(self.announces_sent) {
                Some(&ms) => self.started + Duration::from_millis(ms),
                None => now + self.cfg.heartbeat,
            };
            self.timers.set(Timer::Heartbeat, next);
        }
        if !self.clock_known && now.since(self.started) >= self.cfg.clock_wait {
            self.clock_is_known(now); // no one answered: alone, or the first
        }
        if self.timers.is_due(Timer::Check, now) {
            self.timers.set(Timer::Check, now + CHECK_EVERY);
            self.check_peers(now);
            if !self.left {
                self.tend_ring(now);
                self.update_settled();
            }
        }
        if self.timers.is_due(Timer::Sync, now) {
            self.timers.set(Timer::Sync, now + self.cfg.sync_every);
            self.sync_all(now);
            self.close_holes(now);
        }
        for (addr, text) in self.bare.expired(now) {
            // The stamper's copy never came (it may be down, or its datagram was lost):
            // stamp it here rather than lose it.
            self.stamp_bare(addr, &text, now);
        }
    }

    pub fn handle_datagram(&mut self, bytes: &[u8], from: SocketAddr, now: Now) {
        let now = self.enter(now);
        match wire::decode(bytes) {
            Ok(Datagram::Frame(f)) if f.sender == self.id => {} // our own echo
            Ok(Datagram::Frame(f)) if f.body.link_only() => self.reject(from, DropReason::LinkFrameOnMulticast, now),
            Ok(Datagram::Frame(f)) => {
                self.observe_stamp(f.hlc);
                self.stats.frames_received += 1;
                self.handle_frame(f, from, now);
            }
            Ok(Datagram::Bare(text)) => {
                if !self.bare.admit(from, now) {
                    self.reject(from, DropReason::RateLimited, now);
                    return;
                }
                if self.bare.take_relayed(from, &text) {
                    return; // the stamper's copy came first
                }
                if self.is_bare_stamper() {
                    self.stamp_bare(from, &text, now);
                } else if !self.bare.hold(from, text, now + self.cfg.bare_wait) {
                    self.count(DropReason::BareQueueFull);
                }
            }
            Err(e) => self.reject(from, e.reason(), now),
        }
    }

    /// A ring link to `peer` is open (dialled by either side).
    pub fn handle_link_up(&mut self, peer: NodeId, now: Now) {
        let now = self.enter(now);
        if self.left || !self.links.up(peer, now) {
            return;
        }
        self.wake(peer, now);
        self.send_digest(peer, now);
    }

    /// A frame arrived on the link to `peer`.
    pub fn handle_link_frame(&mut self, peer: NodeId, bytes: &[u8], now: Now) {
        let now = self.enter(now);
        if !self.links.heard(peer, now) {
            return;
        }
        self.stats.link_frames_received += 1;
        let f = match wire::decode(bytes) {
            Ok(Datagram::Frame(f)) if f.sender == peer => f,
            _ => {
                // A peer that sends garbage loses its link; it may dial again.
                self.count(DropReason::LinkBadFrame);
                self.links.remove(peer);
                self.out.push_back(Output::Close { peer });
                return;
            }
        };
        self.observe_stamp(f.hlc);
        self.wake(peer, now);
        match f.body {
            Body::Ping | Body::Hello => {}
            Body::Bye => self.links.bye(peer),
            Body::Digest(d) => {
                let reply = self.log.missing_for(&d, REPAIR_BUDGET);
                if !reply.entries.is_empty() || !reply.gaps.is_empty() || reply.shared.is_some() {
                    self.send_link(peer, Body::Entries(reply), now);
                }
            }
            Body::Entries(e) => self.apply_repair(peer, e, now),
            Body::Down { node, incarnation } => self.down_notice(node, incarnation, Some(peer), now),
            _ => self.count(DropReason::LinkUnexpectedKind),
        }
    }

    /// The link to `peer` ended, or a dial to it failed.
    pub fn handle_link_end(&mut self, peer: NodeId, end: LinkEnd, now: Now) {
        let now = self.enter(now);
        match end {
            LinkEnd::Broken => {
                if self.links.remove(peer) == Some(false) && !self.left {
                    self.link_broke(peer, now);
                }
            }
            LinkEnd::Refused | LinkEnd::Unreachable => {
                let probe = self.links.dial_failed(peer, now);
                if probe && end == LinkEnd::Refused {
                    self.confirm_down(peer, now);
                }
            }
        }
    }

    // ---- frames -------------------------------------------------------------------------

    fn handle_frame(&mut self, f: Frame, from: SocketAddr, now: Time) {
        let hdr = Header { sender: f.sender, incarnation: f.incarnation, seq: f.seq, hlc: f.hlc };
        // Every multicast frame counts for loss, whatever its kind.
        if let Some(p) = self.peers.get_mut(&f.sender)
            && p.incarnation == f.incarnation
        {
            p.loss.record(f.seq);
        }
        match f.body {
            Body::Announce(beat) => self.on_beat(hdr, &beat, true, from, now),
            Body::Heartbeat(beat) => self.on_beat(hdr, &beat, false, from, now),
            Body::Leave => {
                if let Some(p) = self.peers.get_mut(&f.sender)
                    && p.incarnation == f.incarnation
                    && p.status != Status::Left
                {
                    p.status = Status::Left;
                    p.since = now;
                    let (node, name) = (p.id, p.name.clone());
                    self.ring_dirty = true;
                    self.emit(Event::PeerDown { node, name, reason: DownReason::Left, via: DownVia::Leave });
                }
            }
            Body::Message(m) => {
                if let Some(p) = self.peers.get_mut(&f.sender)
                    && p.incarnation == f.incarnation
                {
                    p.last_seen = now;
                }
                if let Some(addr) = m.bare_from {
                    self.bare.relayed(addr, &m.text, now);
                }
                let entry = Entry {
                    ts: f.hlc,
                    node: f.sender,
                    incarnation: f.incarnation,
                    seq: m.msg_seq,
                    name: Name::clip(&m.name).to_string(),
                    text: m.text,
                    bare_from: m.bare_from,
                };
                self.stats.messages_received += 1;
                self.add_entry(entry, false, from, now);
            }
            Body::Down { node, incarnation } => self.down_notice(node, incarnation, None, now),
            _ => {}
        }
    }

    // ---- the log ------------------------------------------------------------------------

    fn say(&mut self, text: &str, bare_from: Option<SocketAddr>, now: Time) -> Result<(), CommandError> {
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        check_message(&self.cfg.name, &text)?;
        let msg_seq = Seq(self.msg_seq.0 + 1);
        let body =
            Body::Message(MessageBody { msg_seq, name: self.cfg.name.to_string(), text: text.clone(), bare_from });
        let ts = self.clock.stamp();
        let frame = Frame { sender: self.id, incarnation: self.incarnation, seq: Seq(self.seq.0 + 1), hlc: ts, body };
        // check_message sized a frame without a bare-text address; one adds a few bytes.
        let bytes = wire::encode(&frame).map_err(|e| CommandError::TooLong {
            len: text.len(),
            max: text.len().saturating_sub(e.len - wire::MAX_FRAME),
        })?;
        self.seq = frame.seq;
        self.msg_seq = msg_seq;
        self.out.push_back(Output::Multicast(bytes));
        self.stats.frames_sent += 1;
        self.stats.messages_sent += 1;
        let entry = Entry {
            ts,
            node: self.id,
            incarnation: self.incarnation,
            seq: msg_seq,
            name: self.cfg.name.to_string(),
            text,
            bare_from,
        };
        let from = SocketAddr::from(([0, 0, 0, 0], 0));
        self.add_entry(entry, bare_from.is_none(), from, now);
        Ok(())
    }

    /// Puts an entry in the log; true if it was new.
    fn add_entry(&mut self, entry: Entry, own: bool, from: SocketAddr, now: Time) -> bool {
        match self.log.insert(entry.clone()) {
            Inserted::New { shared } => {
                let settled = entry.ts < self.settled;
                self.emit(Event::Message { entry: entry.clone(), own, settled });
                if shared {
                    self.emit(Event::Shared { entry, settled });
                }
                true
            }
            Inserted::Duplicate => {
                self.stats.duplicates += 1;
                false
            }
            Inserted::TooOld => {
                self.reject(from, DropReason::TooOld, now);
                false
            }
        }
    }

    /// Bare text carries no stamp, and every node hears it at its own time. So one node stamps
    /// it for the group: the member with the lowest node id that this node knows of. Its
    /// stamped copy is an ordinary message, which every log orders the same way.
    fn is_bare_stamper(&self) -> bool {
        self.members().all(|m| m > self.id)
    }

    fn stamp_bare(&mut self, addr: SocketAddr, text: &str, now: Time) {
        if self.left {
            return;
        }
        if let Err(e) = self.say(text, Some(addr), now) {
            let reason = if matches!(e, CommandError::Empty) { DropReason::Empty } else { DropReason::TooLongToStamp };
            self.reject(addr, reason, now);
        }
    }

    // ---- sending and reporting ------------------------------------------------------------

    fn send_beat(&mut self, announce: bool, now: Time) {
        let links = self.links.heard_ages(now, MAX_VOUCHES);
        let beat = Beat {
            time_ms: self.clock.group_now().as_millis().min(u128::from(u64::MAX)) as u64,
            skew_ms: self.clock.skew_ms(),
            name: self.cfg.name.to_string(),
            msg_seq: self.msg_seq,
            interval_ms: self.cfg.heartbeat.as_millis().min(u128::from(u32::MAX)) as u32,
            tcp_port: self.cfg.ring_addr.map_or(0, |a| a.port()),
            frontier: self.frontier,
            links,
        };
        if announce {
            self.announces_sent += 1;
        }
        self.send(if announce { Body::Announce(beat) } else { Body::Heartbeat(beat) });
    }

    fn send(&mut self, body: Body) {
        self.seq = Seq(self.seq.0 + 1);
        let frame =
            Frame { sender: self.id, incarnation: self.incarnation, seq: self.seq, hlc: self.clock.stamp(), body };
        match wire::encode(&frame) {
            Ok(bytes) => {
                self.out.push_back(Output::Multicast(bytes));
                self.stats.frames_sent += 1;
            }
            Err(_) => self.count(DropReason::OwnFrameTooLong),
        }
    }

    /// Link frames carry sequence number 0: they are not part of the multicast loss count.
    fn link_frame(&mut self, body: Body) -> Option<Vec<u8>> {
        let frame =
            Frame { sender: self.id, incarnation: self.incarnation, seq: Seq(0), hlc: self.clock.stamp(), body };
        wire::encode_link(&frame).ok()
    }

    fn send_link(&mut self, peer: NodeId, body: Body, now: Time) {
        let Some(bytes) = self.link_frame(body) else {
            self.count(DropReason::OwnFrameTooLong);
            return;
        };
        self.links.sent(peer, now);
        self.stats.link_frames_sent += 1;
        self.out.push_back(Output::Link { peer, bytes });
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn count(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_default() += 1;
    }

    fn reject(&mut self, addr: SocketAddr, reason: DropReason, now: Time) {
        self.count(reason);
        if let Some(count) = self.bare.report(addr, now) {
            self.emit(Event::Rejected { addr, reason, count });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::MAX_FRAME;

    const T0: u64 = 1_780_000_000_000;

    fn at(ms: u64) -> Now {
        Now::synced(Time::from_millis(T0 + ms))
    }

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 12345))
    }

    fn node(id: u64) -> Node {
        Node::new(
            NodeId(id),
            Incarnation(T0),
            // These tests look at single frames; holding early messages is tested on its own.
            Config { name: Name::clip(&format!("n{id}")), clock_wait: Duration::ZERO, ..Config::default() },
            at(0),
        )
    }

    #[test]
    fn a_new_node_holds_what_is_said_until_it_hears_the_group_clock() {
        let cfg = Config { name: Name::clip("new"), ..Config::default() };
        let mut a = Node::new(NodeId(1), Incarnation(T0), cfg.clone(), at(0));
        a.handle_timer(at(0));
        outputs(&mut a);
        a.handle_command(Command::Say("first".into()), at(1)).unwrap();
        assert_eq!(outputs(&mut a).0.len(), 0, "held");
        assert_eq!(a.handle_command(Command::Say(" ".into()), at(2)), Err(CommandError::Empty), "still checked");
        // A peer's heartbeat tells the group's time: what was held goes out, in order.
        a.handle_datagram(&frame(2, T0, 1, hlc_at(5), beat("b")), addr(2), at(5));
        let sent: Vec<_> = outputs(&mut a)
            .0
            .into_iter()
            .filter_map(|b| match wire::decode(&b) {
                Ok(Datagram::Frame(Frame { body: Body::Message(m), .. })) => Some(m.text),
                _ => None,
            })
            .collect();
        assert_eq!(sent, ["first"]);
        // Alone, it waits no longer than clock_wait.
        let mut b = Node::new(NodeId(3), Incarnation(T0), cfg, at(0));
        b.handle_command(Command::Say("alone".into()), at(1)).unwrap();
        b.handle_timer(at(100));
        assert!(b.log().is_empty());
        b.handle_timer(at(300));
        assert_eq!(b.log().iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["alone"]);
    }

    fn outputs(n: &mut Node) -> (Vec<Vec<u8>>, Vec<Event>) {
        let (mut d, mut e) = (Vec::new(), Vec::new());
        while let Some(o) = n.poll_output() {
            match o {
                Output::Multicast(b) => d.push(b),
                Output::Event(ev) => e.push(ev),
                _ => {}
            }
        }
        (d, e)
    }

    fn frame(sender: u64, inc: u64, seq: u64, hlc: Hlc, body: Body) -> Vec<u8> {
        wire::encode(&Frame { sender: NodeId(sender), incarnation: Incarnation(inc), seq: Seq(seq), hlc, body })
            .unwrap()
    }

    fn beat(name: &str) -> Body {
        Body::Heartbeat(Beat {
            time_ms: T0,
            skew_ms: 0,
            name: name.into(),
            msg_seq: Seq(0),
            interval_ms: 500,
            tcp_port: 0,
            frontier: Hlc(0),
            links: Vec::new(),
        })
    }

    fn hlc_at(ms: u64) -> Hlc {
        Hlc::from_unix(at(ms).wall)
    }

    #[test]
    fn own_echo_is_ignored() {
        let mut a = node(1);
        a.handle_timer(at(0));
        let (sent, _) = outputs(&mut a);
        a.handle_datagram(&sent[0], addr(1), at(1));
        assert_eq!(outputs(&mut a).1, vec![]);
        assert_eq!(a.snapshot().peers.len(), 0);
    }

    #[test]
    fn stamps_far_ahead_are_taken_but_do_not_drag_the_clock() {
        let mut a = node(1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(3_600_000), beat("fast")), addr(2), at(0));
        let (_, ev) = outputs(&mut a);
        assert!(ev.iter().any(|e| matches!(e, Event::PeerUp { .. })), "{ev:?}");
        assert_eq!(a.stats().dropped_total(), 0, "nothing refused for a clock reason");
        assert_eq!(a.stats().clock_held, 1);
        a.handle_command(Command::Say("after".into()), at(1)).unwrap();
        let mine = a.log().shared().unwrap().ts;
        assert!(mine < hlc_at(1_000), "held at the cap, not an hour ahead");
        // Within the cap our clock moves past it.
        a.handle_datagram(&frame(2, T0, 2, hlc_at(400), beat("fast")), addr(2), at(2));
        a.handle_command(Command::Say("later".into()), at(3)).unwrap();
        assert!(a.log().shared().unwrap().ts > hlc_at(400));
    }

    #[test]
    fn malformed_and_sealed_frames_are_counted_not_fatal() {
        let mut a = node(1);
        let good = frame(2, T0, 1, hlc_at(0), beat("b"));
        let mut sealed = good.clone();
        sealed[5] = wire::FLAG_SEALED;
        a.handle_datagram(&sealed, addr(2), at(0));
        a.handle_datagram(&good[..20], addr(2), at(0));
        let s = a.stats();
        assert_eq!((s.dropped[&DropReason::Sealed], s.dropped[&DropReason::Truncated]), (1, 1));
        let (_, ev) = outputs(&mut a);
        assert_eq!(ev.len(), 1, "one report per address per second: {ev:?}");
    }

    #[test]
    fn messages_too_long_for_a_datagram_are_refused_whole() {
        let mut a = node(1);
        let err = a.handle_command(Command::Say("x".repeat(2000)), at(0)).unwrap_err();
        let CommandError::TooLong { len, max } = err else { panic!("{err:?}") };
        assert_eq!(len, 2000);
        assert!(max > 1000 && max < MAX_FRAME);
        assert!(a.log().is_empty());
        assert_eq!(outputs(&mut a).0.len(), 0, "nothing sent");
        a.handle_command(Command::Say("y".repeat(max)), at(0)).expect("exactly the limit fits");
        assert!(outputs(&mut a).0[0].len() <= MAX_FRAME);
        assert_eq!(a.handle_command(Command::Say("  \n".into()), at(0)), Err(CommandError::Empty));
    }

    #[test]
    fn a_rename_reaches_peers() {
        let mut a = node(1);
        let mut b = node(2);
        a.handle_timer(at(0));
        for d in outputs(&mut a).0 {
            b.handle_datagram(&d, addr(1), at(1));
        }
        a.handle_command(Command::Rename(Name::new("alice").unwrap()), at(10)).unwrap();
        for d in outputs(&mut a).0 {
            b.handle_datagram(&d, addr(1), at(11));
        }
        let (_, ev) = outputs(&mut b);
        assert!(ev.contains(&Event::PeerRenamed { node: NodeId(1), old: "n1".into(), new: "alice".into() }));
        assert_eq!(b.snapshot().peers[0].name, "alice");
    }

    #[test]
    fn a_restarted_host_replaces_its_old_life() {
        let mut a = node(1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("web")), addr(2), at(0));
        // The old life goes quiet; a new id with the same name on the same host appears.
        a.handle_datagram(&frame(3, T0 + 5_000, 1, hlc_at(1_500), beat("web")), addr(2), at(1_500));
        let (_, ev) = outputs(&mut a);
        assert!(ev.iter().any(|e| matches!(e, Event::PeerDown { node: NodeId(2), reason: DownReason::Restarted, .. })));
        assert_eq!(a.peer_status(NodeId(2)), Some(Status::Down));
        assert_eq!(a.peer_status(NodeId(3)), Some(Status::Alive));
        // A second live node of the same name on the same host does not replace the first.
        a.handle_datagram(&frame(4, T0 + 6_000, 1, hlc_at(1_600), beat("web")), addr(2), at(1_600));
        assert_eq!(a.peer_status(NodeId(3)), Some(Status::Alive));
        assert_eq!(a.peer_status(NodeId(4)), Some(Status::Alive));
    }

    #[test]
    fn stale_lives_and_stragglers_after_a_leave_are_ignored() {
        let mut a = node(1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(0));
        a.handle_datagram(&frame(2, T0, 2, hlc_at(1), Body::Leave), addr(2), at(1));
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(2));
        assert_eq!(a.peer_status(NodeId(2)), Some(Status::Left));
        // Left peers are forgotten after a while.
        a.handle_timer(at(61_000));
        assert_eq!(a.peer_status(NodeId(2)), None);
        assert!(outputs(&mut a).1.contains(&Event::PeerRemoved { node: NodeId(2) }));
    }

    #[test]
    fn after_leaving_a_node_is_silent() {
        let mut a = node(1);
        a.handle_timer(at(0));
        outputs(&mut a);
        a.handle_command(Command::Leave, at(1)).unwrap();
        let (sent, _) = outputs(&mut a);
        assert_eq!(sent.len(), 2, "leave goes out twice");
        a.handle_timer(at(10_000));
        assert!(outputs(&mut a).0.is_empty());
        assert_eq!(a.handle_command(Command::Say("x".into()), at(10_001)), Err(CommandError::Left));
    }

    fn ring_node(id: u64, last: u8) -> Node {
        let cfg = Config {
            name: Name::clip(&format!("n{id}")),
            ring_addr: Some(SocketAddr::from(([10, 0, 0, last], 7000))),
            clock_wait: Duration::ZERO,
            ..Config::default()
        };
        Node::new(NodeId(id), Incarnation(T0), cfg, at(0))
    }

    fn ring_beat(name: &str) -> Body {
        Body::Heartbeat(Beat {
            time_ms: T0,
            skew_ms: 0,
            name: name.into(),
            msg_seq: Seq(0),
            interval_ms: 500,
            tcp_port: 7000,
            frontier: Hlc(0),
            links: Vec::new(),
        })
    }

    fn all(n: &mut Node) -> Vec<Output> {
        std::iter::from_fn(|| n.poll_output()).collect()
    }

    #[test]
    fn the_earlier_node_dials_its_neighbour_and_a_bad_frame_closes_the_link() {
        let mut a = ring_node(1, 1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
        a.handle_timer(at(50));
        let out = all(&mut a);
        let dial = SocketAddr::from(([10, 0, 0, 2], 7000));
        assert!(out.contains(&Output::Dial { peer: NodeId(2), addr: dial }), "{out:?}");
        assert!(out.contains(&Output::Event(Event::Ring { prev: Some(NodeId(2)), next: Some(NodeId(2)) })));
        a.handle_link_up(NodeId(2), at(60));
        assert!(all(&mut a).iter().any(|o| matches!(o, Output::Link { peer: NodeId(2), .. })), "a digest at once");
        a.handle_link_frame(NodeId(2), b"not a frame", at(70));
        assert!(all(&mut a).contains(&Output::Close { peer: NodeId(2) }));
        assert_eq!(a.stats().dropped[&DropReason::LinkBadFrame], 1);
        assert_eq!(a.linked().count(), 0);

        // The later node of the pair waits to be dialled.
        let mut b = ring_node(2, 2);
        b.handle_datagram(&frame(1, T0, 1, hlc_at(0), ring_beat("a")), addr(1), at(0));
        b.handle_timer(at(50));
        assert!(!all(&mut b).iter().any(|o| matches!(o, Output::Dial { .. })));
    }

    #[test]
    fn idle_links_ping_and_silent_links_count_as_broken() {
        let mut a = ring_node(1, 1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
        a.handle_timer(at(10));
        a.handle_link_up(NodeId(2), at(10));
        all(&mut a);
        let ping = wire::encode_link(&Frame {
            sender: NodeId(2),
            incarnation: Incarnation(T0),
            seq: Seq(0),
            hlc: hlc_at(0),
            body: Body::Ping,
        })
        .unwrap();
        // Pings keep it open; our own pings go out when we have been quiet a heartbeat.
        a.handle_link_frame(NodeId(2), &ping, at(400));
        a.handle_timer(at(600));
        assert!(all(&mut a).iter().any(|o| matches!(o, Output::Link { .. })));
        a.handle_datagram(&frame(2, T0, 2, hlc_at(900), ring_beat("b")), addr(2), at(900));
        // Then nothing for longer than three heartbeats: broken, suspect, probe.
        a.handle_timer(at(2_000));
        let out = all(&mut a);
        assert!(out.contains(&Output::Close { peer: NodeId(2) }), "{out:?}");
        assert!(out.contains(&Output::Event(Event::PeerSuspect { node: NodeId(2), name: "b".into() })));
        assert!(out.iter().any(|o| matches!(o, Output::Dial { peer: NodeId(2), .. })), "probe dial");
        // The probe is refused: the peer is confirmed down and everyone is told.
        a.handle_link_end(NodeId(2), LinkEnd::Refused, at(2_010));
        let out = all(&mut a);
        assert!(out.iter().any(|o| matches!(o, Output::Event(Event::PeerDown { via: DownVia::Link, .. }))), "{out:?}");
        let notice = out.iter().find_map(|o| match o {
            Output::Multicast(b) => match wire::decode(b) {
                Ok(Datagram::Frame(f)) => Some(f.body),
                _ => None,
            },
            _ => None,
        });
        assert_eq!(notice, Some(Body::Down { node: NodeId(2), incarnation: Incarnation(T0) }));
    }

    #[test]
    fn a_link_closed_with_a_goodbye_is_not_a_failure() {
        let mut a = ring_node(1, 1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), ring_beat("b")), addr(2), at(0));
        a.handle_link_up(NodeId(2), at(10));
        let bye = wire::encode_link(&Frame {
            sender: NodeId(2),
            incarnation: Incarnation(T0),
            seq: Seq(0),
            hlc: hlc_at(0),
            body: Body::Bye,
        })
        .unwrap();
        a.handle_link_frame(NodeId(2), &bye, at(20));
        all(&mut a);
        a.handle_link_end(NodeId(2), LinkEnd::Broken, at(30));
        assert!(all(&mut a).is_empty(), "no suspicion, no probe");
        assert_eq!(a.peer_status(NodeId(2)), Some(Status::Alive));
    }

    #[test]
    fn every_multicast_kind_counts_toward_loss() {
        let mut a = node(1);
        a.handle_datagram(&frame(2, T0, 1, hlc_at(0), beat("b")), addr(2), at(0));
        let notice = Body::Down { node: NodeId(9), incarnation: Incarnation(1) };
        a.handle_datagram(&frame(2, T0, 2, hlc_at(1), notice), addr(2), at(1));
        a.handle_datagram(&frame(2, T0, 3, hlc_at(2), beat("b")), addr(2), at(2));
        assert!(a.snapshot().peers[0].loss.abs() < 1e-12, "a notice is not a lost heartbeat");
        a.handle_datagram(&frame(2, T0, 5, hlc_at(3), beat("b")), addr(2), at(3));
        assert!((a.snapshot().peers[0].loss - 0.2).abs() < 1e-9, "one of five missing");
    }

    fn arb_entry() -> impl proptest::strategy::Strategy<Value = Entry> {
        use proptest::prelude::*;
        (any::<u64>(), 1u64..4, 0u64..3, any::<u64>(), ".{0,20}").prop_map(|(ts, node, inc, seq, text)| Entry {
            ts: Hlc(ts),
            node: NodeId(node),
            incarnation: Incarnation(inc),
            seq: Seq(seq),
            name: "x".into(),
            text,
            bare_from: None,
        })
    }

    fn arb_body() -> impl proptest::strategy::Strategy<Value = Body> {
        use proptest::prelude::*;
        let seq = prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(log::MAX_SEQ), any::<u64>()];
        prop_oneof![
            (seq.clone(), any::<u64>(), proptest::collection::vec((1u64..5, any::<u32>()), 0..6)).prop_map(
                |(s, f, links)| Body::Heartbeat(Beat {
                    time_ms: f,
                    skew_ms: s as i64,
                    name: "p".into(),
                    msg_seq: Seq(s),
                    interval_ms: 500,
                    tcp_port: 7000,
                    frontier: Hlc(f),
                    links: links.into_iter().map(|(n, a)| (NodeId(n), a)).collect(),
                })
            ),
            (seq.clone(), ".{0,30}").prop_map(|(s, text)| Body::Message(MessageBody {
                msg_seq: Seq(s),
                name: "p".into(),
                text,
                bare_from: None
            })),
            proptest::collection::vec((1u64..4, 0u64..3, seq.clone(), seq.clone()), 0..4).prop_map(|o| Body::Digest(
                wire::Digest {
                    origins: o
                        .into_iter()
                        .map(|(n, i, s, a)| wire::Held {
                            node: NodeId(n),
                            incarnation: Incarnation(i),
                            contig: Seq(s),
                            above: vec![(Seq(a), Seq(a.saturating_add(3)))],
                        })
                        .collect(),
                    shared: None,
                }
            )),
            (
                proptest::collection::vec(arb_entry(), 0..4),
                proptest::collection::vec((1u64..4, 0u64..3, seq.clone(), seq), 0..3),
                proptest::option::of(arb_entry()),
                any::<bool>()
            )
                .prop_map(|(entries, gaps, shared, more)| Body::Entries(wire::Entries {
                    entries,
                    gaps: gaps.into_iter().map(|(n, i, a, b)| (NodeId(n), Incarnation(i), Seq(a), Seq(b))).collect(),
                    shared,
                    more,
                })),
            (1u64..5, 0u64..3).prop_map(|(n, i)| Body::Down { node: NodeId(n), incarnation: Incarnation(i) }),
            Just(Body::Leave),
            Just(Body::Bye),
            Just(Body::Ping),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Whatever well-formed frames peers send, on the group or on ring links, in any order
        /// and with any numbers in them, a node never panics (overflow checks are on in tests).
        #[test]
        fn no_sequence_of_frames_panics_a_node(
            frames in proptest::collection::vec(
                (1u64..4, 0u64..3, any_seq(), proptest::prelude::any::<u64>(), arb_body(), proptest::prelude::any::<bool>()),
                1..40,
            )
        ) {
            let mut a = ring_node(9, 9);
            for (k, (sender, inc, seq, hlc, body, on_link)) in frames.into_iter().enumerate() {
                let now = at(k as u64 * 100);
                let frame = Frame { sender: NodeId(sender), incarnation: Incarnation(inc), seq: Seq(seq), hlc: Hlc(hlc), body };
                let Ok(bytes) = wire::encode_link(&frame) else { continue };
                if on_link {
                    a.handle_link_up(NodeId(sender), now);
                    a.handle_link_frame(NodeId(sender), &bytes, now);
                } else {
                    a.handle_datagram(&bytes, addr(sender as u8), now);
                }
                a.handle_timer(now);
                let _ = a.snapshot();
                while a.poll_output().is_some() {}
            }
        }
    }

    fn any_seq() -> impl proptest::strategy::Strategy<Value = u64> {
        use proptest::prelude::*;
        prop_oneof![0u64..10, Just(u64::MAX), any::<u64>()]
    }
}
