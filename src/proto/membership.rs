//! Membership: the peer table and what heartbeats, vouches and silence say about each peer
//! (alive, suspect, down, left), restarts recognised, and the table kept bounded.
//!
//! `Members` owns the table. The node tells it what happened (a heartbeat, a leave, a vouch, a
//! confirmed failure) and gets back what changed, as events for the front ends; it never sends
//! anything itself. Whether the ring needs working out again is kept here too, since only a
//! change of membership can move it.
//!
//! In an open group anyone on the LAN can send a frame in any member's name, so one datagram
//! must not do lasting damage: a known member's frames must come from its address (until that
//! has gone quiet, as when a host moves); a leave is undone by any later frame of the same
//! life; a peer counts for the settled marks and the group clock only once confirmed (a ring
//! link with it, or heartbeats from one address over a heartbeat interval), and for the clock
//! one host is one vote however many members it heartbeats for; one never linked leaves the
//! ring and the settled marks for a while as soon as a dial to it fails; and a full table
//! first forgets peers never confirmed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::detector::{DetectorConfig, PhiDetector};
use super::peers::{LossWindow, PeerClock};
use super::ring::RingKey;
use super::snapshot::PeerView;
use super::wire::Beat;
use super::{Config, DownReason, DownVia, Event, Hlc, Incarnation, Name, NodeId, Seq, Status, Time};

/// A leave may be numbered at most this far above the highest frame heard from its life.
const LEAVE_AHEAD: u64 = 64;
/// A peer never linked stays out of the ring this long after a failed dial (doubling after each).
const UNLINKABLE_FOR: Duration = Duration::from_secs(10);
/// Heartbeat intervals a peer may claim, in ms: anything outside is taken as the nearest bound.
const MIN_INTERVAL_MS: u32 = 10;
const MAX_INTERVAL_MS: u32 = 60_000;

/// The header fields of a received frame that membership needs.
#[derive(Clone, Copy)]
pub(super) struct Header {
    pub sender: NodeId,
    pub incarnation: Incarnation,
    pub seq: Seq,
    pub hlc: Hlc,
}

/// One peer as this node knows it. Only `Members` changes it.
#[derive(Clone, Debug)]
pub(super) struct Peer {
    id: NodeId,
    incarnation: Incarnation,
    name: String,
    addr: SocketAddr,
    status: Status,
    last_seen: Time,
    /// When the status last changed.
    since: Time,
    detector: PhiDetector,
    loss: LossWindow,
    /// TCP port of its ring listener (0: not in the ring).
    tcp_port: u16,
    /// Its applied frontier, as last reported.
    frontier: Hlc,
    clock: PeerClock,
    /// A ring link with it worked, or it has heartbeated from one address for a while.
    confirmed: bool,
    /// A ring link with it worked (in this life).
    linked: bool,
    first_heard: Time,
    /// The frame number of its leave, if it left: any later frame of the life undoes it.
    left_seq: Option<Seq>,
    /// A ring port at which a dial was refused: it is left out of the ring until it names
    /// another.
    refused_port: u16,
    /// Never linked, and a dial to it failed: out of the ring (and the settled marks) until
    /// then, or until it links with us.
    unlinkable_until: Option<Time>,
    /// Dials to it that failed since it last linked: each doubles the time out of the ring.
    failed_dials: u32,
    /// The peers its last heartbeat said it hears on its ring links, and when that arrived.
    links: Vec<NodeId>,
    links_at: Time,
    /// Its heartbeat interval, as its last heartbeat said (ms): groups that grow beat slower.
    interval_ms: u32,
}

impl Peer {
    /// Its heartbeat interval, as it last said: silences of this peer are judged against it.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }

    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    pub fn last_seen(&self) -> Time {
        self.last_seen
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// Alive or suspect, in the life `inc`.
    pub fn is_member_in(&self, inc: Incarnation) -> bool {
        self.incarnation == inc && self.status.is_member()
    }

    /// Its place in the ring order, if it takes part in the ring.
    pub fn ring_key(&self) -> Option<RingKey> {
        (self.tcp_port != 0 && self.tcp_port != self.refused_port && self.unlinkable_until.is_none()).then(|| RingKey {
            ip: self.addr.ip(),
            port: self.tcp_port,
            node: self.id,
        })
    }

    /// A member that counts for the settled marks and the group clock.
    fn counts(&self) -> bool {
        self.confirmed && self.status.is_member()
    }
}

/// What a leave turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Leave {
    /// Believed: the peer is shown as left.
    Left(Event),
    /// Not from its current life, or it already left: nothing to do.
    Ignored,
    /// Numbered below frames of the same life already heard: not its last word, so forged.
    Implausible,
}

/// What a heartbeat turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Heard {
    /// From an old life, or a straggler after a leave: ignored.
    Stale,
    /// A peer already in the table.
    Known,
    /// A peer (or a new life of one) now added to the table.
    New,
    /// A new peer, but the table is full of confirmed members.
    Full,
    /// A peer shown as left spoke again in the same life: its leave was forged.
    Revived,
}

/// What the failure detector and the forgetting clock decided about a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Suspect,
    Down,
    /// Down or gone long enough: drop it from the table.
    Forget,
}

/// The peer table and the rules it is kept by.
pub(super) struct Members {
    /// Boxed: a B-tree keeps room for eleven entries in each of its nodes, most of it unused
    /// after inserts in random order; a pointer leaves that room small (a group of 1,000 keeps
    /// 999 peers in each node).
    peers: BTreeMap<NodeId, Box<Peer>>,
    /// Membership changed since the ring was last worked out.
    changed: bool,
    detector: DetectorConfig,
    max_peers: usize,
    forget_after: Duration,
    /// The configured heartbeat interval: a peer is confirmed by heartbeats over at least this
    /// long, whatever interval it claims.
    base: Duration,
    /// The heartbeat interval the group's size calls for, as this node sees it, when that is
    /// longer than the configured one (else zero): peers may already beat this slowly (see
    /// `PhiDetector::phi_paced`).
    paced: Duration,
}

impl Members {
    pub fn new(cfg: &Config) -> Self {
        Members {
            peers: BTreeMap::new(),
            changed: true,
            detector: cfg.detector,
            max_peers: cfg.max_peers,
            forget_after: cfg.forget_after,
            paced: Duration::ZERO,
            base: cfg.heartbeat,
        }
    }

    /// The heartbeat interval this node's view of the group calls for (see `paced`).
    pub fn set_paced(&mut self, paced: Duration) {
        self.paced = paced;
    }

    /// The slowest heartbeat interval in the group as this node knows it: the one its view of
    /// the group calls for, or one a member says it keeps.
    pub fn slowest_beat(&self) -> Duration {
        self.peers.values().filter(|p| p.counts()).map(|p| p.interval()).fold(self.paced, Duration::max)
    }

    pub fn get(&self, node: NodeId) -> Option<&Peer> {
        self.peers.get(&node).map(|p| &**p)
    }

    pub fn status(&self, node: NodeId) -> Option<Status> {
        self.peers.get(&node).map(|p| p.status)
    }

    /// Hosts (addresses) with a confirmed member among `attested` (the members known to be in
    /// the ring for real, see `attested`): how many heartbeat on the group, as far as pacing
    /// goes. Made-up members, never linked by anyone, do not count, and a crowd from one
    /// address counts once.
    pub fn hosts_among(&self, attested: &BTreeSet<NodeId>) -> usize {
        let ips: BTreeSet<IpAddr> =
            attested.iter().filter_map(|n| self.peers.get(n)).filter(|p| p.counts()).map(|p| p.addr.ip()).collect();
        ips.len()
    }

    /// Ids of the peers counted as members (alive or suspect).
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.values().filter(|p| p.status.is_member()).map(|p| p.id)
    }

    /// Members that take part in the ring, with their place in it.
    pub fn ring_keys(&self) -> impl Iterator<Item = RingKey> + '_ {
        self.peers.values().filter(|p| p.status.is_member()).filter_map(|p| p.ring_key())
    }

    /// Confirmed members in the ring, each with its life and its reported frontier: whose
    /// messages the settled mark waits for. With `attested` (see `attested`), only those in it.
    pub fn frontiers<'a>(
        &'a self,
        attested: Option<&'a BTreeSet<NodeId>>,
    ) -> impl Iterator<Item = (NodeId, Incarnation, Hlc)> + 'a {
        self.peers
            .values()
            .filter(move |p| p.counts() && p.ring_key().is_some() && attested.is_none_or(|a| a.contains(&p.id)))
            .map(|p| (p.id, p.incarnation, p.frontier))
    }

    /// `node`'s heartbeat says it hears these peers on its ring links.
    pub fn links_heard(&mut self, node: NodeId, links: Vec<NodeId>, now: Time) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.links = links;
            p.links_at = now;
        }
    }

    /// The peers known to be in the ring for real: those this node holds links with, those
    /// their heartbeats say they hear on their links, and so on around the ring (only reports
    /// made within `fresh` of the reporter's heartbeats count). Something that heartbeats steadily but that no one can link
    /// with, or that only made-up peers claim to hear, never gets in, so it cannot hold back
    /// anyone's settled marks, not only its would-be neighbours'.
    pub fn attested(&self, linked: impl Iterator<Item = NodeId>, now: Time, fresh: u32) -> BTreeSet<NodeId> {
        let mut seen: BTreeSet<NodeId> = BTreeSet::new();
        let mut queue: Vec<NodeId> = linked.filter(|n| self.peers.contains_key(n)).collect();
        while let Some(n) = queue.pop() {
            if !seen.insert(n) {
                continue;
            }
            if let Some(p) = self.peers.get(&n)
                && p.status.is_member()
                && now.since(p.links_at) <= p.interval() * fresh
            {
                queue.extend(p.links.iter().copied().filter(|m| !seen.contains(m) && self.peers.contains_key(m)));
            }
        }
        seen
    }

    /// May a frame in `f`'s sender's name from `from` be taken? Not if the sender is known at
    /// another address that it was heard from lately: that is someone else using its id.
    pub fn source_ok(&self, f: Header, from: SocketAddr, now: Time) -> bool {
        self.peers.get(&f.sender).is_none_or(|p| p.addr == from || now.since(p.last_seen) >= p.interval() * 2)
    }

    /// A ring link with `node` works: it is confirmed.
    pub fn confirm(&mut self, node: NodeId) {
        if let Some(p) = self.peers.get_mut(&node)
            && !p.linked
        {
            let counted = p.confirmed && p.unlinkable_until.is_none();
            p.confirmed = true;
            p.linked = true;
            p.failed_dials = 0;
            p.unlinkable_until = None;
            self.changed |= !counted;
        }
    }

    /// A dial to `node` failed (`refused`: nothing listens at its port). One never linked (made
    /// up, likely, even if something heartbeats in its name) leaves the ring and the settled
    /// marks for a while, 10 s after the first failure and twice as long after each next one,
    /// up to 160 s; one nothing listens for leaves them until it names another port.
    pub fn dial_failed(&mut self, node: NodeId, refused: bool, now: Time) {
        let Some(p) = self.peers.get_mut(&node) else { return };
        if !p.linked && p.unlinkable_until.is_none() {
            let wait = UNLINKABLE_FOR * 2u32.pow(p.failed_dials.min(4));
            p.failed_dials = p.failed_dials.saturating_add(1);
            p.unlinkable_until = Some(now + wait);
            self.changed = true;
        }
        if refused && p.refused_port != p.tcp_port {
            p.refused_port = p.tcp_port;
            self.changed = true;
        }
    }

    /// Clock offsets (theirs minus ours), one per host: a host has one clock, so its members
    /// (made-up ones heartbeating from it included) give one vote, the median of theirs. Only
    /// confirmed members vote, or, while none is confirmed yet (a newcomer's first moments),
    /// every member heard: one forged heartbeat, or a thousand, or a crowd of made-up peers on
    /// one host, cannot drag the clock of a node that knows its group.
    pub fn clock_offsets(&self) -> Vec<i64> {
        let votes = |confirmed_only: bool| {
            let mut hosts: BTreeMap<IpAddr, Vec<i64>> = BTreeMap::new();
            for p in self.peers.values().filter(|p| if confirmed_only { p.counts() } else { p.status.is_member() }) {
                if let Some(o) = p.clock.offset_ms() {
                    hosts.entry(p.addr.ip()).or_default().push(o);
                }
            }
            hosts
                .into_values()
                .map(|mut v| {
                    v.sort_unstable();
                    v[(v.len() - 1) / 2]
                })
                .collect::<Vec<i64>>()
        };
        let confirmed = votes(true);
        if confirmed.is_empty() { votes(false) } else { confirmed }
    }

    /// Whether `node` is a member that counts for the settled marks (confirmed, alive or
    /// suspect, and in the ring).
    pub fn counts(&self, node: NodeId) -> bool {
        self.peers.get(&node).is_some_and(|p| p.counts() && p.ring_key().is_some())
    }

    /// Whether something changed that can move the ring, not yet taken.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// True once after any change that can move the ring.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The table as front ends see it, sorted by address then node id (the ring's order).
    pub fn views(&self) -> Vec<PeerView> {
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

    // ---- what happened --------------------------------------------------------------------

    /// Every multicast frame of the current life counts toward the sender's loss.
    pub fn frame_seen(&mut self, f: Header) {
        if let Some(p) = self.peers.get_mut(&f.sender)
            && p.incarnation == f.incarnation
        {
            p.loss.record(f.seq);
        }
    }

    /// A message of the current life shows its sender is there.
    pub fn message_seen(&mut self, f: Header, now: Time) {
        if let Some(p) = self.peers.get_mut(&f.sender)
            && p.incarnation == f.incarnation
        {
            p.last_seen = now;
        }
    }

    /// An ack from a member in its current life: it is alive, and stands at `frontier`.
    /// `None` if the sender is not a member in that life (the ack is ignored); else whether its
    /// frontier moved.
    pub fn acked(&mut self, f: Header, frontier: Hlc, now: Time) -> Option<bool> {
        let p = self.peers.get_mut(&f.sender)?;
        if p.incarnation != f.incarnation || !p.status.is_member() {
            return None;
        }
        p.last_seen = now;
        let moved = frontier > p.frontier;
        p.frontier = p.frontier.max(frontier);
        Some(moved)
    }

    /// A heartbeat or an announce from `from`. Events for what changed go to `ev`.
    pub fn beat(&mut self, f: Header, beat: &Beat, from: SocketAddr, now: Time, ev: &mut Vec<Event>) -> Heard {
        let interval_ms = beat.interval_ms.clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
        let interval = Duration::from_millis(u64::from(interval_ms));
        let name = Name::clip(&beat.name).to_string();
        let known = self.peers.get(&f.sender).map(|p| (p.incarnation, p.status, p.left_seq));
        let mut heard = Heard::Known;
        match known {
            Some((inc, Status::Left, Some(left))) if f.incarnation == inc && f.seq > left => {
                // It left, yet speaks on in the same life: the leave was someone else's.
                let p = self.peers.get_mut(&f.sender).expect("known peer");
                p.status = Status::Down;
                p.left_seq = None;
                heard = Heard::Revived;
            }
            Some((inc, status, _)) if f.incarnation < inc || (status == Status::Left && f.incarnation == inc) => {
                return Heard::Stale;
            }
            Some((inc, status, _)) if f.incarnation > inc && status.is_member() => {
                // The same node (ids are random per run) began a new life to reset its clock:
                // it carries on as the same member, with fresh counters.
                let p = self.peers.get_mut(&f.sender).expect("known peer");
                p.incarnation = f.incarnation;
                p.loss = LossWindow::new(f.seq);
                p.frontier = Hlc(0);
                p.clock = PeerClock::default();
            }
            Some((inc, _, _)) if f.incarnation > inc => {
                self.peers.remove(&f.sender);
                self.changed = true;
            }
            _ => {}
        }
        if let Some(p) = self.peers.get_mut(&f.sender) {
            p.detector.heartbeat(now, &self.detector);
            p.interval_ms = interval_ms;
            let scaled_to = p.detector.expected_ms();
            if interval_ms.abs_diff(scaled_to) > scaled_to / 8 {
                // Its rhythm changed (its group grew or shrank): the gaps learnt at the old
                // one would make the new one look like silence, or hide a real one.
                p.detector.rescale(interval);
            }
            p.last_seen = now;
            if !p.confirmed && p.addr == from && now.since(p.first_heard) >= p.interval().max(self.base) {
                // Heartbeats from one address over a heartbeat interval: a node, not one
                // forged datagram.
                p.confirmed = true;
                self.changed = true;
            }
            if p.addr != from {
                // Its place in the ring is its address: a move re-forms the ring.
                p.addr = from;
                self.changed = true;
            }
            p.frontier = p.frontier.max(beat.frontier);
            if p.tcp_port != beat.tcp_port {
                p.tcp_port = beat.tcp_port;
                self.changed = true;
            }
            let (node, old_status) = (p.id, p.status);
            if p.name != name {
                let old = std::mem::replace(&mut p.name, name.clone());
                ev.push(Event::PeerRenamed { node, old, new: name.clone() });
            }
            match old_status {
                Status::Suspect => {
                    self.set_status(node, Status::Alive, now);
                    ev.push(Event::PeerAlive { node, name });
                }
                Status::Down => {
                    self.set_status(node, Status::Alive, now);
                    ev.push(Event::PeerUp { node, name, addr: from });
                }
                Status::Alive | Status::Left => {}
            }
            return heard;
        }
        if self.peers.len() >= self.max_peers && !self.forget_one(ev) {
            return Heard::Full;
        }
        self.replace_restarted(&name, from, f.incarnation, now, ev);
        let peer = Peer {
            id: f.sender,
            incarnation: f.incarnation,
            name: name.clone(),
            addr: from,
            status: Status::Alive,
            last_seen: now,
            since: now,
            detector: PhiDetector::new(now, interval),
            loss: LossWindow::new(f.seq),
            tcp_port: beat.tcp_port,
            frontier: beat.frontier,
            clock: PeerClock::default(),
            confirmed: false,
            first_heard: now,
            left_seq: None,
            refused_port: 0,
            linked: false,
            unlinkable_until: None,
            failed_dials: 0,
            links: Vec::new(),
            links_at: now,
            interval_ms,
        };
        self.peers.insert(f.sender, Box::new(peer));
        self.changed = true;
        ev.push(Event::PeerUp { node: f.sender, name, addr: from });
        Heard::New
    }

    /// The sender said goodbye (in its current life). A leave is its sender's last frame, so
    /// one numbered below frames already heard from that life is not believed.
    pub fn left(&mut self, f: Header, now: Time) -> Leave {
        let Some(p) = self.peers.get_mut(&f.sender) else { return Leave::Ignored };
        if p.incarnation != f.incarnation || p.status == Status::Left {
            return Leave::Ignored;
        }
        // Its last word comes right after what was heard: not below it, nor far beyond (a
        // leave numbered far ahead would outrank every real frame that could undo it).
        if f.seq < p.loss.highest() || f.seq.0 > p.loss.highest().0.saturating_add(LEAVE_AHEAD) {
            return Leave::Implausible;
        }
        p.loss.record(f.seq);
        p.status = Status::Left;
        p.since = now;
        p.left_seq = Some(f.seq);
        self.changed = true;
        Leave::Left(Event::PeerDown { node: p.id, name: p.name.clone(), reason: DownReason::Left, via: DownVia::Leave })
    }

    /// `node` was heard alive at `at`, second-hand or on its link. A vouch never brings back
    /// the dead; only the peer itself can.
    pub fn vouch(&mut self, node: NodeId, at: Time, now: Time) -> Option<Event> {
        let p = self.peers.get_mut(&node)?;
        if !p.status.is_member() {
            return None;
        }
        p.detector.vouch(at);
        if p.status == Status::Suspect
            && p.detector.phi_paced(now, &self.detector, self.paced) < self.detector.suspect_phi
        {
            p.status = Status::Alive;
            p.since = now;
            return Some(Event::PeerAlive { node, name: p.name.clone() });
        }
        None
    }

    /// Something suggests `node` has failed (its link broke): an alive member becomes suspect.
    pub fn suspect(&mut self, node: NodeId, now: Time) -> Option<Event> {
        let p = self.peers.get(&node)?;
        if p.status != Status::Alive {
            return None;
        }
        let name = p.name.clone();
        self.set_status(node, Status::Suspect, now);
        Some(Event::PeerSuspect { node, name })
    }

    /// `node` is down for `reason`, if it was a member.
    pub fn mark_down(&mut self, node: NodeId, reason: DownReason, via: DownVia, now: Time) -> Option<Event> {
        let p = self.peers.get(&node)?;
        if !p.status.is_member() {
            return None;
        }
        let name = p.name.clone();
        self.set_status(node, Status::Down, now);
        Some(Event::PeerDown { node, name, reason, via })
    }

    /// What the detectors and the forgetting clock say now.
    pub fn check(&mut self, now: Time) -> Vec<Event> {
        for p in self.peers.values_mut() {
            if p.unlinkable_until.is_some_and(|t| now >= t) {
                // Time to try it in the ring again.
                p.unlinkable_until = None;
                self.changed = true;
            }
        }
        let mut verdicts = Vec::new();
        for p in self.peers.values() {
            let verdict = match p.status {
                Status::Alive | Status::Suspect => {
                    let phi = p.detector.phi_paced(now, &self.detector, self.paced);
                    if phi >= self.detector.down_phi {
                        Some(Verdict::Down)
                    } else if phi >= self.detector.suspect_phi && p.status == Status::Alive {
                        Some(Verdict::Suspect)
                    } else {
                        None
                    }
                }
                Status::Down | Status::Left => (now.since(p.since) >= self.forget_after).then_some(Verdict::Forget),
            };
            if let Some(v) = verdict {
                verdicts.push((p.id, v));
            }
        }
        let mut ev = Vec::new();
        for (node, verdict) in verdicts {
            let e = match verdict {
                Verdict::Forget => {
                    self.peers.remove(&node);
                    Some(Event::PeerRemoved { node })
                }
                Verdict::Down => self.mark_down(node, DownReason::Timeout, DownVia::Heartbeat, now),
                Verdict::Suspect => self.suspect(node, now),
            };
            ev.extend(e);
        }
        ev
    }

    /// A heartbeat of `node` put its clock `offset_ms` from ours; it reports its own skew.
    pub fn clock_sample(&mut self, node: NodeId, offset_ms: i64, skew_ms: i64) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.clock.sample(offset_ms, skew_ms);
        }
    }

    /// Our clock moved by `by_ms`: every peer's offset moves the other way.
    pub fn clock_shifted(&mut self, by_ms: i64) {
        for p in self.peers.values_mut() {
            p.clock.shifted(by_ms);
        }
    }

    /// This node was paused: the silence it saw was its own, so detectors count from `now`.
    pub fn forgive(&mut self, now: Time) {
        for p in self.peers.values_mut() {
            p.detector.vouch(now);
        }
    }

    // ---- inside ---------------------------------------------------------------------------

    fn set_status(&mut self, node: NodeId, status: Status, now: Time) {
        if let Some(p) = self.peers.get_mut(&node) {
            if p.status.is_member() != status.is_member() {
                self.changed = true;
            }
            p.status = status;
            p.since = now;
        }
    }

    /// A new life of a node on the same host under the same name replaces the old entry, once
    /// the old one has gone quiet (two nodes may share a host and a name while both live).
    fn replace_restarted(&mut self, name: &str, from: SocketAddr, inc: Incarnation, now: Time, ev: &mut Vec<Event>) {
        let old: Vec<NodeId> = self
            .peers
            .values()
            .filter(|p| {
                // Address first: the cheap test that rules out nearly every peer.
                p.addr.ip() == from.ip()
                    && p.status.is_member()
                    && p.name == name
                    && p.incarnation < inc
                    && (p.status == Status::Suspect || now.since(p.detector.last()) > p.interval() * 2)
            })
            .map(|p| p.id)
            .collect();
        for node in old {
            ev.extend(self.mark_down(node, DownReason::Restarted, DownVia::Restart, now));
        }
    }

    /// Makes room in a full table: forgets the longest-gone down or left peer, or else the
    /// member never confirmed that was heard from longest ago (one forged datagram, likely).
    fn forget_one(&mut self, ev: &mut Vec<Event>) -> bool {
        let gone = self.peers.values().filter(|p| !p.status.is_member()).min_by_key(|p| p.since).map(|p| p.id);
        let gone =
            gone.or_else(|| self.peers.values().filter(|p| !p.confirmed).min_by_key(|p| p.last_seen).map(|p| p.id));
        if let Some(node) = gone {
            self.peers.remove(&node);
            ev.push(Event::PeerRemoved { node });
        }
        gone.is_some()
    }
}
