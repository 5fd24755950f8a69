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
mod config;
pub mod detector;
mod events;
mod linking;
pub mod log;
mod membership;
pub mod peers;
mod reasons;
mod repair;
pub mod ring;
mod snapshot;
mod timekeeping;
pub mod timer;
pub mod types;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

pub use config::Config;
pub use detector::DetectorConfig;
pub use events::{ClockCause, Command, CommandError, DownReason, Event, Output, check_message};
pub use log::{Entry, Inserted, Log};
pub use peers::Status;
pub use reasons::{DownVia, DropReason};
pub use ring::{LinkEnd, Neighbours, RingKey};
pub use snapshot::{PeerView, Snapshot, Stats};
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
mod tests;
