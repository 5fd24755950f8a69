//! Membership: the peer table and what heartbeats, vouches and silence say about each peer
//! (alive, suspect, down, left), restarts recognised, and the table kept bounded.
//!
//! `Members` owns the table. The node tells it what happened (a heartbeat, a leave, a vouch, a
//! confirmed failure) and gets back what changed, as events; it never sends anything itself.
//! Whether the ring needs working out again is kept here too: only membership can move it.
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
use std::sync::Arc;
use std::time::Duration;

use super::clock::AGREE_MS;
use super::detector::DetectorConfig;
use super::ring::RingKey;
use super::snapshot::PeerView;
use super::wire::Beat;
use super::{Config, DownReason, DownVia, Event, Hlc, Incarnation, Name, NodeId, Seq, Status, Time};

mod attested;
mod peer;
mod room;

use attested::Attestation;
pub(super) use peer::Peer;
use peer::Verdict;
use room::Room;

/// A peer never linked stays out of the ring this long after a failed dial (doubling after each).
const UNLINKABLE_FOR: Duration = Duration::from_secs(10);
/// Heartbeat intervals a peer may claim, in ms: anything outside is taken as the nearest bound.
const MIN_INTERVAL_MS: u32 = 10;
const MAX_INTERVAL_MS: u32 = 60_000;
/// A newcomer in a full table is not forgotten for the next one until this many configured
/// heartbeat intervals after it was first heard, time to be heard again and confirmed (see
/// `Members::forget_one`). The configured interval, not the one a peer claims: a made-up peer
/// claiming a minute would otherwise hold its place for minutes.
const YOUNG_FOR_BEATS: u32 = 2;

/// The header fields of a received frame that membership needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub sender: NodeId,
    pub incarnation: Incarnation,
    pub seq: Seq,
    pub hlc: Hlc,
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

/// The peer table and the rules it is kept by.
pub(super) struct Members {
    /// Boxed: a B-tree keeps room for eleven entries in each of its nodes, most of it unused
    /// after inserts in random order; a pointer leaves that room small (a group of 1,000 keeps
    /// 999 peers in each node).
    peers: BTreeMap<NodeId, Box<Peer>>,
    /// Membership changed since the ring was last worked out (see `touch`).
    changed: bool,
    /// Who is at which address, and whether a full table has room (see `forget_one`).
    room: Room,
    /// The attested set as last worked out, and what it rests on.
    attested: Attestation,
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

/// What a change of the table can move. Every change goes through `Members::touch`, which keeps
/// the marks that the ring, the attested set and the search for room rest on (a ring report
/// moves only the attested set, and its part keeps that itself: see `Attestation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Touch {
    /// The ring and the attested set: a member's place in the ring, whether it takes part.
    Ring,
    /// Who is a member or in the table: the ring, and what `forget_one` may forget.
    Roster,
    /// An entry gone that was no member: what `forget_one` may forget, not the ring.
    Removed,
}

impl Members {
    pub(super) fn new(cfg: &Config) -> Self {
        Members {
            peers: BTreeMap::new(),
            changed: true,
            room: Room::default(),
            attested: Attestation::default(),
            detector: cfg.detector,
            max_peers: cfg.max_peers,
            forget_after: cfg.forget_after,
            paced: Duration::ZERO,
            base: cfg.heartbeat,
        }
    }

    /// The heartbeat interval this node's view of the group calls for (see `paced`).
    pub(super) fn set_paced(&mut self, paced: Duration) {
        self.paced = paced;
    }

    /// The slowest heartbeat interval in the group as this node knows it: the one its view of
    /// the group calls for, or one a member says it keeps.
    pub(super) fn slowest_beat(&self) -> Duration {
        self.peers.values().filter(|p| p.counts()).map(|p| p.interval()).fold(self.paced, Duration::max)
    }

    pub(super) fn get(&self, node: NodeId) -> Option<&Peer> {
        self.peers.get(&node).map(|p| &**p)
    }

    pub(super) fn status(&self, node: NodeId) -> Option<Status> {
        self.peers.get(&node).map(|p| p.status)
    }

    /// Hosts (addresses) with a confirmed member among `attested` (the members known to be in
    /// the ring for real, see `attested`): how many heartbeat on the group, as far as pacing
    /// goes. Made-up members, never linked by anyone, do not count, and a crowd from one
    /// address counts once.
    pub(super) fn hosts_among(&self, attested: &BTreeSet<NodeId>) -> usize {
        let ips: BTreeSet<IpAddr> =
            attested.iter().filter_map(|n| self.peers.get(n)).filter(|p| p.counts()).map(|p| p.addr.ip()).collect();
        ips.len()
    }

    /// Hosts but `own` with a member heard, confirmed or not, whose clock may vote (plausible,
    /// or not heard yet): how many votes may come that outweigh the first; and whether all are
    /// heard within `AGREE_MS` of `target` (then none to come can move it).
    pub(super) fn may_vote(&self, own: Option<IpAddr>, target: Option<i64>) -> (usize, bool) {
        let (mut ips, mut agree) = (BTreeSet::new(), true);
        for p in self.peers.values().filter(|p| p.status.is_member() && Some(p.addr.ip()) != own) {
            if p.clock.plausible || p.clock.offset_ms().is_none() {
                ips.insert(p.addr.ip());
                agree &= p.clock.offset_ms().zip(target).is_some_and(|(o, t)| o.abs_diff(t) <= AGREE_MS as u64);
            }
        }
        (ips.len(), agree)
    }

    /// Ids of the peers counted as members (alive or suspect).
    pub(super) fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.values().filter(|p| p.status.is_member()).map(|p| p.id)
    }

    /// Members that take part in the ring, with their place in it.
    pub(super) fn ring_keys(&self) -> impl Iterator<Item = RingKey> + '_ {
        self.peers.values().filter(|p| p.status.is_member()).filter_map(|p| p.ring_key())
    }

    /// Confirmed members in the ring, each with its life and its reported frontier: whose
    /// messages the settled mark waits for. With `attested` (see `attested`), only those in it.
    pub(super) fn frontiers<'a>(
        &'a self,
        attested: Option<&'a BTreeSet<NodeId>>,
    ) -> impl Iterator<Item = (NodeId, Incarnation, Hlc)> + 'a {
        self.peers
            .values()
            .filter(move |p| p.counts() && p.ring_key().is_some() && attested.is_none_or(|a| a.contains(&p.id)))
            .map(|p| (p.id, p.incarnation, p.frontier))
    }

    /// `node`'s heartbeat says it hears these peers on its ring links.
    pub(super) fn links_heard(&mut self, node: NodeId, links: Vec<NodeId>, now: Time) {
        let Some(p) = self.peers.get_mut(&node) else { return };
        let before = p.report_fresh_until(now);
        let same = p.links == links;
        p.links = links;
        p.links_at = now;
        let after = p.report_fresh_until(now);
        self.attested.report_changed(before, after, same);
    }

    /// The peers known to be in the ring for real: those this node holds links with (`linked`),
    /// those their heartbeats say they hear on their links, and so on around the ring (only
    /// reports made within `REPORT_FRESH_FOR` of the reporter's heartbeat intervals count).
    /// Something that heartbeats steadily but that no one can link with, or that only made-up
    /// peers claim to hear, never gets in, so it cannot hold back anyone's settled marks, not
    /// only its would-be neighbours'. Kept from one call to the next while nothing it rests on
    /// changed.
    pub(super) fn attested(&mut self, linked: impl Iterator<Item = NodeId>, now: Time) -> Arc<BTreeSet<NodeId>> {
        let mut linked: Vec<NodeId> = linked.collect();
        linked.sort_unstable();
        self.attested.get(&self.peers, linked, now)
    }

    /// May a frame in `f`'s sender's name from `from` be taken? Not if the sender is known at
    /// another address that it was heard from lately: that is someone else using its id.
    pub(super) fn source_ok(&self, f: Header, from: SocketAddr, now: Time) -> bool {
        self.peers.get(&f.sender).is_none_or(|p| p.addr == from || now.since(p.last_seen) >= p.interval() * 2)
    }

    /// A ring link with `node` works: it is confirmed.
    pub(super) fn confirm(&mut self, node: NodeId) {
        if let Some(p) = self.peers.get_mut(&node)
            && !p.linked
        {
            let counted = p.confirmed && p.unlinkable_until.is_none();
            p.confirmed = true;
            p.linked = true;
            p.failed_dials = 0;
            p.unlinkable_until = None;
            if !counted {
                self.touch(Touch::Ring);
            }
        }
    }

    /// A dial to `node` failed (`refused`: nothing listens at its port). One never linked (made
    /// up, likely, even if something heartbeats in its name) leaves the ring and the settled
    /// marks for a while, 10 s after the first failure and twice as long after each next one,
    /// up to 160 s; one nothing listens for leaves them until it names another port.
    pub(super) fn dial_failed(&mut self, node: NodeId, refused: bool, now: Time) {
        let Some(p) = self.peers.get_mut(&node) else { return };
        if !p.linked && p.unlinkable_until.is_none() {
            let wait = UNLINKABLE_FOR * 2u32.pow(p.failed_dials.min(4));
            p.failed_dials = p.failed_dials.saturating_add(1);
            p.unlinkable_until = Some(now + wait);
            self.touch(Touch::Ring);
        }
        let Some(p) = self.peers.get_mut(&node) else { return };
        if refused && p.refused_port != p.tcp_port {
            p.refused_port = p.tcp_port;
            self.touch(Touch::Ring);
        }
    }

    /// The clocks that vote on group time (see `clock::decide`): each a host's wall clock minus
    /// ours, one per host (the median of its members': a host has one clock, so a crowd of
    /// made-up members heartbeating from it is one vote). Only members the ring vouches for
    /// vote (`attested`: linked with us, or heard on the links of those who are): a life
    /// this node only heard of, a replay of one gone, or something that heartbeats but that no
    /// one can link with never does. Nor does a clock that cannot be right, nor our own host
    /// (`own`), whose clock is ours. Also says whether any such member's clock was heard at
    /// all, plausible or not: if so, this node knows what the group's clocks say.
    pub(super) fn clock_votes(&self, attested: &BTreeSet<NodeId>, own: Option<IpAddr>) -> (Vec<i64>, bool) {
        let mut hosts: BTreeMap<IpAddr, Vec<i64>> = BTreeMap::new();
        let mut heard = false;
        for p in attested.iter().filter_map(|n| self.peers.get(n)) {
            let Some(o) = p.clock.offset_ms().filter(|_| p.counts() && Some(p.addr.ip()) != own) else { continue };
            heard = true;
            if p.clock.plausible {
                hosts.entry(p.addr.ip()).or_default().push(o);
            }
        }
        let votes = hosts
            .into_values()
            .map(|mut v| {
                v.sort_unstable();
                v[(v.len() - 1) / 2]
            })
            .collect();
        (votes, heard)
    }

    /// Whether `node` is a member that counts for the settled marks (confirmed, alive or
    /// suspect, and in the ring).
    pub(super) fn counts(&self, node: NodeId) -> bool {
        self.peers.get(&node).is_some_and(|p| p.counts() && p.ring_key().is_some())
    }

    /// Whether something changed that can move the ring, not yet taken.
    pub(super) fn changed(&self) -> bool {
        self.changed
    }

    /// True once after any change that can move the ring.
    pub(super) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The table as front ends see it, sorted by address then node id (the ring's order).
    /// `linked`: our ring links; `offset_ms`: our group time minus our wall clock.
    pub(super) fn views(&self, linked: impl Iterator<Item = NodeId>, offset_ms: i64, now: Time) -> Vec<PeerView> {
        let mut linked: Vec<NodeId> = linked.collect();
        linked.sort_unstable();
        let (vouched, _) = attested::walk(&self.peers, &linked, now);
        let mut peers: Vec<PeerView> =
            self.peers.values().map(|p| p.view(offset_ms, vouched.contains(&p.id))).collect();
        peers.sort_by_key(|p| (p.addr.ip(), p.tcp_port, p.node));
        peers
    }

    // ---- what happened --------------------------------------------------------------------

    /// Every multicast frame of the current life counts toward the sender's loss.
    pub(super) fn frame_seen(&mut self, f: Header) {
        if let Some(p) = self.peers.get_mut(&f.sender)
            && p.incarnation == f.incarnation
        {
            p.loss.record(f.seq);
        }
    }

    /// A message of the current life shows its sender is there.
    pub(super) fn message_seen(&mut self, f: Header, now: Time) {
        if let Some(p) = self.peers.get_mut(&f.sender)
            && p.incarnation == f.incarnation
        {
            p.last_seen = now;
        }
    }

    /// An ack from a member in its current life: it is alive, and stands at `frontier`.
    /// `None` if the sender is not a member in that life (the ack is ignored); else whether its
    /// frontier moved.
    pub(super) fn acked(&mut self, f: Header, frontier: Hlc, now: Time) -> Option<bool> {
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
    pub(super) fn beat(&mut self, f: Header, beat: &Beat, from: SocketAddr, now: Time, ev: &mut Vec<Event>) -> Heard {
        let interval_ms = beat.interval_ms.clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
        let name = Name::clip(&beat.name).to_string();
        let known = self.peers.get(&f.sender).map(|p| (p.incarnation, p.status));
        let mut heard = Heard::Known;
        match known {
            Some((_, Status::Left)) if self.peers.get(&f.sender).is_some_and(|p| p.speaks_after_leave(f, now)) => {
                // It left, yet speaks on in the same life: the leave was someone else's.
                let p = self.peers.get_mut(&f.sender).expect("known peer");
                p.status = Status::Down;
                p.left_seq = None;
                heard = Heard::Revived;
            }
            Some((inc, status)) if f.incarnation < inc || (status == Status::Left && f.incarnation == inc) => {
                return Heard::Stale;
            }
            Some((inc, status)) if f.incarnation > inc && status.is_member() => {
                // The same node (ids are random per run) began a new life to reset its clock:
                // it carries on as the same member, with fresh counters.
                self.peers.get_mut(&f.sender).expect("known peer").new_life(f, now);
            }
            Some((inc, _)) if f.incarnation > inc => {
                self.remove(f.sender);
                self.touch(Touch::Ring);
            }
            _ => {}
        }
        if let Some(p) = self.peers.get_mut(&f.sender) {
            let (node, old_status) = (p.id, p.status);
            let r = p.heartbeat(beat, interval_ms, from, now, (&self.detector, self.base));
            if let Some(old) = p.renamed(&name) {
                ev.push(Event::PeerRenamed { node, old, new: name.clone() });
            }
            if let Some(was) = r.moved_from {
                self.room.removed(was);
                self.room.added(from.ip());
            }
            if r.ring {
                self.touch(Touch::Ring);
            }
            self.attested.report_changed(r.report.0, r.report.1, true);
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
        if self.peers.len() >= self.max_peers && (self.room.known_full(now) || !self.forget_one(now, ev)) {
            return Heard::Full;
        }
        self.replace_restarted(&name, from, f.incarnation, now, ev);
        let peer = Peer::new(f, beat, name.clone(), from, interval_ms, now);
        self.peers.insert(f.sender, Box::new(peer));
        self.room.added(from.ip());
        self.touch(Touch::Roster);
        ev.push(Event::PeerUp { node: f.sender, name, addr: from });
        Heard::New
    }

    /// The sender said goodbye (in its current life). A leave is its sender's last frame, so
    /// one numbered below frames already heard from that life is not believed.
    pub(super) fn left(&mut self, f: Header, now: Time) -> Leave {
        let Some(p) = self.peers.get_mut(&f.sender) else { return Leave::Ignored };
        let leave = p.leave(f, now);
        if matches!(leave, Leave::Left(_)) {
            self.touch(Touch::Roster);
        }
        leave
    }

    /// `node` was heard alive at `at`, second-hand or on its link. One shown down or left
    /// that was heard so well after it was shown gone comes back (a leave or a notice in its
    /// name was wrong: forged, or believed by nodes its link did not reach); one heard before
    /// that stays gone (a crashed or frozen peer's neighbours hear nothing after it).
    pub(super) fn vouch(&mut self, node: NodeId, at: Time, now: Time) -> Option<Event> {
        let p = self.peers.get_mut(&node)?;
        let was_member = p.status.is_member();
        let ev = p.vouch(at, now, (&self.detector, self.paced));
        if !was_member && p.status.is_member() {
            self.touch(Touch::Roster);
        }
        ev
    }

    /// Something suggests `node` has failed (its link broke): an alive member becomes suspect.
    pub(super) fn suspect(&mut self, node: NodeId, now: Time) -> Option<Event> {
        let p = self.peers.get(&node)?;
        if p.status != Status::Alive {
            return None;
        }
        let name = p.name.clone();
        self.set_status(node, Status::Suspect, now);
        Some(Event::PeerSuspect { node, name })
    }

    /// `node` is down for `reason`, if it was a member.
    pub(super) fn mark_down(&mut self, node: NodeId, reason: DownReason, via: DownVia, now: Time) -> Option<Event> {
        let p = self.peers.get(&node)?;
        if !p.status.is_member() {
            return None;
        }
        let name = p.name.clone();
        self.set_status(node, Status::Down, now);
        Some(Event::PeerDown { node, name, reason, via })
    }

    /// What the detectors and the forgetting clock say now.
    pub(super) fn check(&mut self, now: Time) -> Vec<Event> {
        let mut back_in_ring = false;
        for p in self.peers.values_mut() {
            if p.unlinkable_until.is_some_and(|t| now >= t) {
                // Time to try it in the ring again.
                p.unlinkable_until = None;
                back_in_ring = true;
            }
        }
        if back_in_ring {
            self.touch(Touch::Ring);
        }
        let judged = (&self.detector, self.paced, self.forget_after);
        let verdicts: Vec<(NodeId, Verdict)> =
            self.peers.values().filter_map(|p| Some((p.id, p.verdict(now, judged)?))).collect();
        let mut ev = Vec::new();
        for (node, verdict) in verdicts {
            let e = match verdict {
                Verdict::Forget => {
                    self.remove(node);
                    Some(Event::PeerRemoved { node })
                }
                Verdict::Down => self.mark_down(node, DownReason::Timeout, DownVia::Heartbeat, now),
                Verdict::Suspect => self.suspect(node, now),
            };
            ev.extend(e);
        }
        ev
    }

    /// A heartbeat of `node` put its wall clock `offset_ms` from ours; it reports its own
    /// skew, and its clock is `plausible` or not.
    pub(super) fn clock_sample(&mut self, node: NodeId, offset_ms: i64, skew_ms: i64, plausible: bool) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.clock.sample(offset_ms, skew_ms, plausible);
        }
    }

    /// Our wall clock stepped by `by_ms`: every peer's offset from it moves the other way.
    pub(super) fn clock_stepped(&mut self, by_ms: i64) {
        for p in self.peers.values_mut() {
            p.clock.stepped(by_ms);
        }
    }

    /// This node was paused: the silence it saw was its own, so detectors count from `now`.
    pub(super) fn forgive(&mut self, now: Time) {
        for p in self.peers.values_mut() {
            p.detector.vouch(now);
        }
    }

    // ---- inside ---------------------------------------------------------------------------

    /// The one way the table's marks move: whatever changed, `what` says what it can move.
    fn touch(&mut self, what: Touch) {
        self.attested.bump();
        if matches!(what, Touch::Ring | Touch::Roster) {
            self.changed = true;
        }
        if matches!(what, Touch::Roster | Touch::Removed) {
            self.room.roster_moved();
        }
    }

    fn set_status(&mut self, node: NodeId, status: Status, now: Time) {
        let Some(p) = self.peers.get_mut(&node) else { return };
        let membership_moved = p.status.is_member() != status.is_member();
        p.status = status;
        p.since = now;
        if membership_moved {
            self.touch(Touch::Roster);
        }
    }

    /// A new life of a node on the same host under the same name replaces the old entry, once
    /// the old one has gone quiet (two nodes may share a host and a name while both live).
    fn replace_restarted(&mut self, name: &str, from: SocketAddr, inc: Incarnation, now: Time, ev: &mut Vec<Event>) {
        if !self.room.anyone_at(from.ip()) {
            return; // no one else there
        }
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

    /// Drops `node` from the table.
    fn remove(&mut self, node: NodeId) {
        if let Some(p) = self.peers.remove(&node) {
            self.room.removed(p.addr.ip());
            self.touch(Touch::Removed);
        }
    }

    /// Makes room in a full table: forgets the longest-gone down or left peer, or else the
    /// member never confirmed that was heard from longest ago (one forged datagram, likely),
    /// once it has had `YOUNG_FOR_BEATS` heartbeat intervals to be confirmed. So in a group
    /// larger than the table the members it holds stay, rather than each newcomer pushing out
    /// the one before it before either could be confirmed; and a flood of made-up peers keeps a
    /// real newcomer out for that long at most. When there is nothing to forget, notes until when
    /// there cannot be, short of a change of `roster` (a member going down or leaving, a new
    /// entry; confirmation is never undone).
    fn forget_one(&mut self, now: Time, ev: &mut Vec<Event>) -> bool {
        if let Some(node) = self.forgettable(now) {
            self.remove(node);
            ev.push(Event::PeerRemoved { node });
            return true;
        }
        self.room.nothing_to_forget(room::young_until(&self.peers, self.base * YOUNG_FOR_BEATS));
        false
    }

    /// The peer `forget_one` would forget now, if any (a walk through the table).
    fn forgettable(&self, now: Time) -> Option<NodeId> {
        room::forgettable(&self.peers, now, self.base * YOUNG_FOR_BEATS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn header(sender: NodeId, incarnation: u64, seq: u64) -> Header {
        Header { sender, incarnation: Incarnation(incarnation), seq: Seq(seq), hlc: Hlc(0) }
    }

    fn beat(i: usize, interval_ms: u32) -> Beat {
        Beat {
            time_ms: 0,
            skew_ms: 0,
            name: format!("n{i}"),
            msg_seq: Seq(0),
            interval_ms,
            tcp_port: 7000,
            frontier: Hlc(0),
            links: Vec::new(),
            resumed: false,
        }
    }

    /// The attested set kept from call to call is always the one worked out afresh, through
    /// heartbeats at changing intervals, ring reports that change or only repeat, reports
    /// going stale, peers suspected, down, left, forgotten and back, and our own links moving.
    #[test]
    fn kept_attested_set_is_always_the_fresh_one() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let cfg = Config { forget_after: Duration::from_secs(5), ..Config::default() };
            let mut m = Members::new(&cfg);
            let ids: Vec<NodeId> = (1..=12).map(NodeId).collect();
            let addr = |i: usize| SocketAddr::from(([10, 0, 0, i as u8 + 1], 12345));
            let mut now = Time(Duration::from_secs(100));
            // Each peer's life and the number of its latest frame.
            let mut lives = vec![(1u64, 0u64); ids.len()];
            let mut ours: Vec<NodeId> = vec![ids[0]];
            let (mut kept, mut recomputed, mut left) = (0, 0, 0);
            for _ in 0..3_000 {
                now = now + Duration::from_millis(rng.random_range(0..400));
                let i = rng.random_range(0..ids.len());
                let id = ids[i];
                if rng.random_bool(0.01) {
                    lives[i] = (lives[i].0 + 1, 0); // it restarts: a new life
                }
                lives[i].1 += 1;
                let (inc, seq) = lives[i];
                match rng.random_range(0..100) {
                    0..40 => {
                        let interval = [100, 200, 500, 1_000][rng.random_range(0..4)];
                        // Now and then from another host's address (a move).
                        let from = if rng.random_bool(0.05) { addr(rng.random_range(0..ids.len())) } else { addr(i) };
                        m.frame_seen(header(id, inc, seq));
                        m.beat(header(id, inc, seq), &beat(i, interval), from, now, &mut Vec::new());
                    }
                    40..70 => {
                        // Mostly the same report again; sometimes a new one.
                        let links = if rng.random_bool(0.7) {
                            vec![ids[(i + 1) % ids.len()], ids[(i + ids.len() - 1) % ids.len()]]
                        } else {
                            (0..rng.random_range(0..3)).map(|_| ids[rng.random_range(0..ids.len())]).collect()
                        };
                        m.links_heard(id, links, now);
                    }
                    70..75 => drop(m.suspect(id, now)),
                    75..79 => drop(m.mark_down(id, DownReason::Timeout, DownVia::Heartbeat, now)),
                    79..81 => drop(m.left(header(id, inc, seq), now)),
                    81..86 => drop(m.check(now)),
                    86..89 => ours = (0..rng.random_range(0..3)).map(|_| ids[rng.random_range(0..ids.len())]).collect(),
                    _ => {}
                }
                left += usize::from(m.status(id) == Some(Status::Left));
                let (generation, before) = m.attested.peek();
                let got = m.attested(ours.iter().copied(), now);
                let mut sorted = ours.clone();
                sorted.sort_unstable();
                let (fresh, _) = attested::walk(&m.peers, &sorted, now);
                assert_eq!(*got, fresh, "seed {seed}: the kept set is stale");
                let mut keys: Vec<u32> = m.peers.values().map(|p| room::ip_key(p.addr.ip())).collect();
                keys.sort_unstable();
                assert_eq!(m.room.keys(), keys, "seed {seed}: the index of addresses is off");
                if before.is_some_and(|b| Arc::ptr_eq(&b, &got)) && m.attested.peek().0 == generation {
                    kept += 1;
                } else {
                    recomputed += 1;
                }
            }
            // The case the cache is for happens, and so does working it out again.
            assert!(kept > 500 && recomputed > 100, "seed {seed}: kept {kept}, worked out {recomputed}");
            assert!(left > 0, "seed {seed}: no peer ever left");
        }
    }

    /// A full table refuses a newcomer without a look through it only while a look would find
    /// nothing to forget: after any sequence of heartbeats (from members and from newcomers),
    /// ring reports (which change the attested set at nearly every heartbeat, and must not
    /// keep the refusal from being looked at again), suspicions, vouches, downs, leaves, new
    /// lives, restarts under the same name on the same host, and checks.
    #[test]
    fn a_full_table_refuses_without_a_look_only_when_a_look_would_refuse() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let cfg = Config { max_peers: 6, forget_after: Duration::from_secs(5), ..Config::default() };
            let mut m = Members::new(&cfg);
            let ids: Vec<NodeId> = (1..=14).map(NodeId).collect();
            // The last two share the host and name of the first two (a restart, to the table).
            let host = |i: usize| if i >= 12 { i - 12 } else { i };
            let addr = |i: usize| SocketAddr::from(([10, 0, 0, host(i) as u8 + 1], 12345));
            let mut now = Time(Duration::from_secs(100));
            // Each peer's life and the number of its latest frame.
            let mut lives = vec![(1u64, 0u64); ids.len()];
            let (mut without_a_look, mut forgotten, mut refused_after_a_look) = (0, 0, 0);
            for _ in 0..4_000 {
                now = now + Duration::from_millis(rng.random_range(0..300));
                // Mostly the same few peers, so that some are confirmed and fill the table.
                let i = if rng.random_bool(0.7) { rng.random_range(0..8) } else { rng.random_range(0..ids.len()) };
                let id = ids[i];
                if rng.random_bool(0.01) {
                    lives[i] = (lives[i].0 + 1, 0); // a new life
                }
                lives[i].1 += 1;
                let (inc, seq) = lives[i];
                match rng.random_range(0..100) {
                    0..55 => {
                        let f = header(id, inc, seq);
                        let newcomer = m.peers.len() >= m.max_peers && !m.peers.contains_key(&id);
                        let cached = m.room.known_full(now);
                        let fresh = m.forgettable(now);
                        m.frame_seen(f);
                        let mut ev = Vec::new();
                        let heard = m.beat(f, &beat(host(i), 500), addr(i), now, &mut ev);
                        if newcomer && cached {
                            assert_eq!(fresh, None, "seed {seed}: refused without a look, yet {fresh:?} could go");
                            assert_eq!(heard, Heard::Full);
                            without_a_look += 1;
                        } else if newcomer && fresh.is_some() {
                            assert_eq!(heard, Heard::New, "seed {seed}: room was to be made");
                            assert!(!m.peers.contains_key(&fresh.expect("some")), "seed {seed}: not the one forgotten");
                            forgotten += 1;
                        } else if newcomer {
                            assert_eq!(heard, Heard::Full);
                            refused_after_a_look += 1;
                        }
                    }
                    55..80 => {
                        let links = (0..rng.random_range(0..3)).map(|_| ids[rng.random_range(0..ids.len())]).collect();
                        m.links_heard(id, links, now);
                    }
                    80..84 => drop(m.suspect(id, now)),
                    84..87 => drop(m.vouch(id, now, now)),
                    87..90 => drop(m.mark_down(id, DownReason::Timeout, DownVia::Heartbeat, now)),
                    90..92 => drop(m.left(header(id, inc, seq), now)),
                    _ => drop(m.check(now)),
                }
            }
            // Each way a newcomer can be met happens.
            assert!(
                without_a_look > 100 && forgotten > 20 && refused_after_a_look > 20,
                "seed {seed}: {without_a_look} refused without a look, {refused_after_a_look} after one, {forgotten} made room"
            );
        }
    }
}
