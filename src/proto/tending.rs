//! Tending the ring: working out the neighbours, dialling the ones this node should dial, keeping
//! links alive, closing links to former neighbours, turning a broken or silent link into a verdict
//! (with a second witness), weighing what others say about a neighbour (notices, silent-link
//! claims) against what our own link hears, and sending digests.
//!
//! It also takes what heartbeats and leaves say of the members (a beat's news, its ring report,
//! a leave held against a link that still speaks) and the ends of links.
//!
//! `Tending` is a handle: it owns nothing, and borrows for one input the parts whose state this
//! work reads and changes (`Links`, `Members`, `Verdicts`, the log and repair state, the outbox).
//! What only the node can do (start a new life, say where it stands) it hands back as a `Notice`.

use std::net::SocketAddr;
use std::time::Duration;

use super::beats::Beats;
use super::config::Config;
use super::failures::Failures;
use super::life::Life;
use super::log::Log;
use super::membership::{Header, Heard, Members, Peer};
use super::outbox::Tx;
use super::pauses::Pauses;
use super::repair::Repair;
use super::ring::{self, LinkChore, Links, RingKey};
use super::timer::{Timer, TimerTable};
use super::verdicts::Verdicts;
use super::wire::{Beat, Body, Digest};
use super::{DownReason, DropReason, Event, Incarnation, LinkEnd, NodeId, Output, Status, Time};

/// Heartbeats and link pings go out this much early when the node is awake anyway (a datagram
/// or a link frame came), rather than waking it again a moment later: an idle node's own sends
/// ride on what it hears. (Intervals shrink by at most this; silences are never judged early.)
pub(super) const SEND_SLACK: Duration = Duration::from_millis(20);
/// The ring is looked at no more often than this.
const RING_MIN_GAP: Duration = Duration::from_millis(5);
/// A newcomer's announce is answered by a heartbeat within this.
const ANSWER_WITHIN: Duration = Duration::from_millis(20);
/// In groups smaller than this, every member answers a newcomer's announce.
const ANSWER_ALL_BELOW: usize = 16;
/// Peers vouched for in one heartbeat.
pub(super) const MAX_VOUCHES: usize = 4;

/// A ring link silent for this long is broken (four pings).
pub(super) fn link_timeout(cfg: &Config) -> Duration {
    cfg.link_ping * 4
}

/// This node's place in the ring, if it takes part in it.
pub(super) fn my_key(cfg: &Config, id: NodeId) -> Option<RingKey> {
    cfg.ring_addr.map(|a| RingKey { ip: a.ip(), port: a.port(), node: id })
}

/// When the ring wants looking after: soon if the members changed (the ring may have moved),
/// else when its links next want something (a ping, a silence that becomes a break, a former
/// neighbour's link to retire, a watched peer's heartbeat overdue, a dial to make).
pub(super) fn deadline(
    cfg: &Config,
    id: NodeId,
    (links, members, verdicts): (&Links, &Members, &Verdicts),
    last_input: Time,
) -> Option<Time> {
    cfg.ring_addr?;
    // Never sooner than a few milliseconds after the last look: a deadline that tending
    // does not move cannot make the node spin.
    let soonest = links.last_tended() + RING_MIN_GAP;
    if members.changed() {
        return Some(soonest);
    }
    let me = my_key(cfg, id)?;
    let (timeout, grace) = (link_timeout(cfg), cfg.heartbeat * 2);
    let tick = Duration::from_millis(1);
    let watched = verdicts
        .watched()
        .filter_map(|(p, _)| members.get(p))
        .map(|p| p.last_seen() + p.interval() + cfg.link_ping + tick);
    let ring = links.neighbours();
    // Dials this node makes (the earlier of each pair in the ring order dials).
    let dials = [ring.prev, ring.next]
        .into_iter()
        .flatten()
        .filter(|n| members.get(*n).and_then(Peer::ring_key).is_some_and(|k| me < k))
        .filter_map(|n| links.next_dial(n, last_input));
    links
        .next_deadline(timeout, grace, cfg.link_ping)
        .into_iter()
        .chain(watched)
        .chain(dials)
        .min()
        .map(|t| t.max(soonest))
}

/// The ring's work, for the length of one input.
pub(super) struct Tending<'a> {
    pub cfg: &'a Config,
    pub life: &'a mut Life,
    pub links: &'a mut Links,
    pub members: &'a mut Members,
    pub verdicts: &'a mut Verdicts,
    pub pauses: &'a Pauses,
    pub log: &'a mut Log,
    pub repair: &'a mut Repair,
    pub timers: &'a mut TimerTable,
    pub tx: Tx<'a>,
    /// The node has left: what ends now is no failure.
    pub left: bool,
}

impl Tending<'_> {
    /// The failures handle over the same parts, for a moment.
    fn failures(&mut self) -> Failures<'_> {
        Failures {
            cfg: self.cfg,
            links: &mut *self.links,
            members: &mut *self.members,
            verdicts: &mut *self.verdicts,
            pauses: self.pauses,
            timers: &mut *self.timers,
            tx: self.tx.again(),
        }
    }

    fn ring_key_of(&self, node: NodeId) -> Option<RingKey> {
        self.members.get(node).and_then(Peer::ring_key)
    }

    /// Works out the neighbours, dials those this node should dial, keeps links alive, and
    /// closes links to peers that are no longer neighbours.
    pub(super) fn tend(&mut self, now: Time) {
        let Some(me) = my_key(self.cfg, self.tx.id) else { return };
        self.failures().watch_silent_links(now);
        self.refresh();
        let ring = self.links.neighbours();
        // A neighbour that should have dialled us and has not, two heartbeats on, is dialled by
        // us: it may be no node at all (a replay of a gone life, a made-up peer), and a dial that
        // fails takes it out of the ring, which then closes around it.
        let overdue = now.since(self.links.neighbours_since()) > self.cfg.heartbeat * 2;
        for n in [ring.prev, ring.next].into_iter().flatten() {
            let Some(key) = self.ring_key_of(n) else { continue };
            // Of each neighbouring pair, the one earlier in the ring order dials.
            if (me < key || overdue) && self.links.may_dial(n, now) {
                self.links.dialing(n, false);
                self.tx.out.push(Output::Dial { peer: n, addr: key.addr() });
            }
        }
        // A ping due within the slack goes now: the node is awake anyway.
        let ping_after = self.cfg.link_ping.saturating_sub(SEND_SLACK);
        let (timeout, grace) = (link_timeout(self.cfg), self.cfg.heartbeat * 2);
        for (peer, chore) in self.links.tend(now, timeout, grace, ping_after) {
            match chore {
                LinkChore::Broken { last_heard } => self.failures().went_silent(peer, last_heard, now),
                LinkChore::Retire => self.close_link(peer, now),
                LinkChore::Ping => self.tx.link(self.links, peer, Body::Ping, now),
            }
        }
    }

    /// Works the neighbours out again if membership changed since.
    pub(super) fn refresh(&mut self) {
        let Some(me) = my_key(self.cfg, self.tx.id) else { return };
        if self.members.take_changed() {
            let ring = ring::neighbours(me, self.members.ring_keys());
            if self.links.set_neighbours(ring, self.pauses.last_input()) {
                self.tx.emit(Event::Ring { prev: ring.prev, next: ring.next });
            }
        }
    }

    /// Closes the link to `peer`, with a goodbye.
    pub(super) fn close_link(&mut self, peer: NodeId, now: Time) {
        self.tx.link(self.links, peer, Body::Bye, now);
        self.links.remove(peer);
        self.tx.out.push(Output::Close { peer });
    }

    /// A ring link to `peer` is open: the connection from `from` said hello as `peer`. Only ring
    /// neighbours keep a link: to anyone else this node says goodbye and closes it, and returns
    /// false.
    pub(super) fn link_up(&mut self, peer: NodeId, from: SocketAddr, now: Time) -> bool {
        self.refresh();
        if !self.links.neighbours().contains(peer) {
            // A stranger, a forged name, or a peer whose view of the ring differs from ours for
            // now (it dials again after a pause, and the views agree within a heartbeat).
            self.tx.count(DropReason::LinkNotNeighbour);
            // If it answers a dial of ours, that dial is over: when the peer is a neighbour
            // again it is dialled again (after a pause), not taken as still out.
            self.links.dial_refused_here(peer, now);
            let hlc = self.tx.clock.stamp();
            if let Some(bytes) = self.tx.out.link_frame(self.tx.id, self.tx.inc, hlc, Body::Bye) {
                self.tx.out.push(Output::Link { peer, bytes });
            }
            self.tx.out.push(Output::Close { peer });
            return false;
        }
        if !self.links.up(peer, from, now) {
            return false;
        }
        // A working link confirms it (it may not have been heard long enough to be confirmed
        // by its heartbeats yet).
        self.members.confirm(peer);
        self.failures().vouch(peer, now, now);
        self.send_digest(peer, now);
        true
    }

    /// Tells `peer` what this node holds.
    pub(super) fn send_digest(&mut self, peer: NodeId, now: Time) {
        let d: Digest = self.log.digest();
        self.tx.link(self.links, peer, Body::Digest(d), now);
    }

    /// Tells every ring neighbour what this node holds.
    pub(super) fn sync_all(&mut self, now: Time) {
        let peers: Vec<NodeId> = self.links.ids().collect();
        for peer in peers {
            self.send_digest(peer, now);
        }
    }

    /// The link to `peer` ended, or a dial to it failed.
    pub(super) fn link_end(&mut self, peer: NodeId, end: LinkEnd, now: Time) {
        match end {
            LinkEnd::Broken if self.verdicts.holds_leave(peer) => {
                // A leave in its name came just before: its link ended with it, so it was its own.
                self.links.remove(peer);
                if let Some((f, from)) = self.verdicts.take_leave(peer, now) {
                    self.failures().leave(f, from, now);
                }
                self.links.pause_dials(peer, now);
            }
            LinkEnd::Broken => match self.links.remove(peer) {
                // It answered our probe a moment ago and closes on us again (it does not take
                // us as its neighbour, as it sees the ring): alive; dial it after a pause.
                Some(false) if !self.left && self.links.answered_lately(peer, now) => self.links.pause_dials(peer, now),
                Some(false) if !self.left => self.failures().link_broke(peer, now),
                // It said goodbye (it left the ring, or did not take us as a neighbour): not a
                // failure, but no dial straight back either.
                Some(_) => self.links.pause_dials(peer, now),
                // Closed before the link was up on our side: the dial failed.
                None => {
                    self.links.dial_failed(peer, now);
                }
            },
            LinkEnd::Refused | LinkEnd::Unreachable => {
                let probe = self.links.dial_failed(peer, now);
                if probe && end == LinkEnd::Refused {
                    // A probe dial was refused: the peer's process is gone. Tell everyone.
                    self.failures().declare_down(peer, DownReason::Crashed, now);
                } else {
                    self.members.dial_failed(peer, end == LinkEnd::Refused, now);
                }
            }
        }
    }

    /// A frame on `peer`'s link in life `inc`. The peer itself (a TCP link cannot be spoofed
    /// blind) speaking in an older life than the one the group heard means that newer life was
    /// forged, most likely from the peer's own address, which its kernel never delivers to it.
    /// Tell it, on this link only (at most once a second): it starts a life above the forged
    /// one, and everyone follows it there.
    pub(super) fn link_life(&mut self, peer: NodeId, inc: Incarnation, now: Time) {
        // (Frames it sent just before it began a new life itself may come after that life's
        // first heartbeat: only an old life that goes on past a ping is a sign of forgery.)
        let Some(p) = self.members.get(peer).filter(|p| inc < p.incarnation()) else { return };
        if now.since(p.life_since()) <= self.cfg.link_ping {
            return;
        }
        let forged = p.incarnation();
        self.tx.count(DropReason::ForgedLife);
        if self.life.may_tell_forged(now) {
            let tell = Body::Down { node: peer, incarnation: forged, why: None };
            self.tx.link(self.links, peer, tell, now);
        }
    }

    /// A heartbeat or announce of `f.sender`, from `from`: the table, the log's record of what
    /// it sent, and an answer to a newcomer. False if the beat goes no further (a stale life, or
    /// a full table).
    pub(super) fn beat(&mut self, f: Header, beat: &Beat, announce: bool, from: SocketAddr, now: Time) -> bool {
        let was_down = self.members.status(f.sender) == Some(Status::Down);
        let mut ev = Vec::new();
        let heard = self.members.beat(f, beat, from, now, &mut ev);
        for e in ev {
            if let Event::PeerUp { node, .. } | Event::PeerAlive { node, .. } = &e {
                // Back, or cleared: a down notice held against it earlier is spent (else a link
                // that churns as it comes back would be taken for the crash that notice meant).
                self.verdicts.notice_spent(*node);
            }
            if let Event::PeerUp { node, .. } = &e
                && was_down
                && *node == f.sender
            {
                self.verdicts.back(*node, now);
            }
            self.tx.emit(e);
        }
        // Its own frame: if it was found silent just now, its links failed, not it; unless it
        // says it was stopped, as a frozen process that is thawed does.
        self.verdicts.spoke(f.sender, now);
        if beat.resumed {
            self.verdicts.was_stopped(f.sender);
        }
        if heard != Heard::Full {
            // A stamp from the future (forged, or a clock far ahead) is taken as now: it must
            // not hold this origin's frontier until real time catches up with it. (One the
            // table left out is not recorded: the log's records of origins are bounded too,
            // and a group larger than the table would have them turn over at every heartbeat.)
            self.log.on_beat(f.sender, f.incarnation, beat.msg_seq, f.hlc.min(self.tx.clock.now_hlc()));
        }
        match heard {
            Heard::Stale => return false,
            Heard::Revived => self.tx.count(DropReason::ForgedLeave),
            Heard::Full => {
                self.tx.count(DropReason::PeerTableFull);
                return false;
            }
            Heard::New if announce && !self.left && self.answers_newcomer(f.sender) => {
                // Answer a newcomer within its announce burst, so it lists us at once: the next
                // heartbeat comes forward. One heartbeat answers every newcomer heard meanwhile
                // (when many start together, each member sends a few, not one per newcomer).
                let soon = now + ANSWER_WITHIN;
                if self.timers.get(Timer::Heartbeat).is_none_or(|t| t > soon) {
                    self.timers.set(Timer::Heartbeat, soon);
                }
            }
            Heard::New | Heard::Known => {}
        }
        true
    }

    /// What a heartbeat of `f.sender` says besides: the peers it hears on its ring links are
    /// alive, and in the ring for real; and messages it sent that this node lacks are asked for.
    pub(super) fn beat_report(&mut self, f: Header, beat: &Beat, now: Time) {
        let mut heard_on_links = Vec::new();
        for &(node, age_ms) in beat.links.iter().take(MAX_VOUCHES) {
            let heard = Time(now.0.saturating_sub(Duration::from_millis(u64::from(age_ms))));
            if node != self.tx.id && age_ms < link_timeout(self.cfg).as_millis() as u32 {
                self.failures().vouch(node, heard, now);
                heard_on_links.push(node);
            }
        }
        self.members.links_heard(f.sender, heard_on_links, now);
        if self.repair.news(self.log, f.sender, f.incarnation, beat.msg_seq, now) {
            self.sync_all(now);
        }
    }

    /// Whether this node answers `newcomer`'s announce at once. In a small group everyone
    /// does, so a newcomer lists the whole group within its announce burst; in a larger one only
    /// its ring neighbours-to-be do (it needs them at once, to link), and the rest are listed
    /// from their next heartbeats. N joins then cost about N² deliveries, not N³.
    fn answers_newcomer(&self, newcomer: NodeId) -> bool {
        if self.members.ids().nth(ANSWER_ALL_BELOW - 1).is_none() {
            return true;
        }
        let (Some(me), Some(key)) = (my_key(self.cfg, self.tx.id), self.ring_key_of(newcomer)) else { return false };
        ring::is_neighbour_of(me, key, self.members.ring_keys())
    }

    /// Closes every link, with a goodbye (this node leaves).
    pub(super) fn close_all(&mut self, now: Time) {
        let peers: Vec<NodeId> = self.links.ids().collect();
        for peer in peers {
            self.close_link(peer, now);
        }
    }

    /// A frame on `peer`'s link that does not open, decode, or name it: it loses its link (it
    /// may dial again).
    pub(super) fn bad_frame(&mut self, peer: NodeId) {
        self.tx.count(DropReason::LinkBadFrame);
        self.links.remove(peer);
        self.tx.out.push(Output::Close { peer });
    }

    /// The heartbeat interval the group's size calls for (see `Beats::paced`), and the members'
    /// detectors told of it. Hosts count as far as pacing goes: those with a confirmed member the
    /// ring vouches for, this one among them (made-up members, linked by no one, do not count,
    /// and a crowd from one address counts once).
    pub(super) fn pace(&mut self, now: Time) -> Duration {
        let attested = self.members.attested(self.links.ids(), now);
        let want = Beats::paced(self.cfg.heartbeat, self.members.hosts_among(&attested) + 1);
        self.members.set_paced(if want > self.cfg.heartbeat { want } else { Duration::ZERO });
        want
    }

    /// How many members with a lower id than ours this node knows of: its rank as the stamper
    /// of bare text (0 stamps at once). Once linked, only members the ring vouches for count,
    /// so a crowd of made-up peers with low ids cannot leave the real group without a stamper
    /// (and then with several, which would enter the text twice); before, every member heard
    /// counts, so nodes that have heard each other agree on the stamper before they link.
    pub(super) fn stamper_rank(&mut self, now: Time) -> usize {
        let me = self.tx.id;
        if self.links.ids().next().is_none() {
            return self.members.ids().filter(|m| *m < me).count();
        }
        let attested = self.members.attested(self.links.ids(), now);
        attested.range(..me).filter(|m| self.members.status(**m).is_some_and(Status::is_member)).count()
    }
}
