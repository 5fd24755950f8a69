//! The node's work on the ring: working out the neighbours, dialling the ones this node should
//! dial, keeping links alive, closing links to former neighbours, turning a broken link into a
//! confirmed failure (or not), and the digests and repairs that travel on the links.
//!
//! The state lives in the components (`Links`, `Members`, `Repair`); this file only decides
//! what to send when they report a change.

use std::time::Duration;

use super::Node;
use crate::proto::membership::Peer;
use crate::proto::ring::{self, LinkChore, RingKey};
use crate::proto::timer::Timer;
use crate::proto::wire::{self, Body, Digest, Entries, Gone};
use crate::proto::{DownReason, DownVia, DropReason, Event, Incarnation, Name, NodeId, Output, Status, Time};

/// The reason a notice carries for `reason`, if it carries one.
fn gone(reason: DownReason) -> Option<Gone> {
    match reason {
        DownReason::Crashed => Some(Gone::Crashed),
        DownReason::Silent => Some(Gone::Silent),
        DownReason::Left | DownReason::Timeout | DownReason::Restarted => None,
    }
}

/// What a notice's reason says, for the front ends (a notice without one: a neighbour lost it).
fn reason_of(why: Option<Gone>) -> DownReason {
    match why {
        Some(Gone::Crashed) => DownReason::Crashed,
        Some(Gone::Silent) => DownReason::Silent,
        None => DownReason::Timeout,
    }
}

impl Node {
    pub(super) fn link_timeout(&self) -> Duration {
        self.cfg.link_ping * 4
    }

    pub(super) fn my_ring_key(&self) -> Option<RingKey> {
        self.cfg.ring_addr.map(|a| RingKey { ip: a.ip(), port: a.port(), node: self.id })
    }

    pub(super) fn ring_key_of(&self, node: NodeId) -> Option<RingKey> {
        self.members.get(node).and_then(crate::proto::membership::Peer::ring_key)
    }

    /// Works out the neighbours, dials those this node should dial, keeps links alive, and
    /// closes links to peers that are no longer neighbours.
    pub(super) fn tend_ring(&mut self, now: Time) {
        let Some(me) = self.my_ring_key() else { return };
        self.last_tend = now;
        self.watch_silent_links(now);
        self.refresh_ring();
        let ring = self.ring;
        for n in [ring.prev, ring.next].into_iter().flatten() {
            let Some(key) = self.ring_key_of(n) else { continue };
            // Of each neighbouring pair, the one earlier in the ring order dials.
            if me < key && self.links.may_dial(n, now) {
                self.links.dialing(n, false);
                self.out.push_back(Output::Dial { peer: n, addr: key.addr() });
            }
        }
        // A ping due within the slack goes now: the node is awake anyway.
        let ping_after = self.cfg.link_ping.saturating_sub(super::SEND_SLACK);
        let (timeout, grace) = (self.link_timeout(), self.cfg.heartbeat * 2);
        for (peer, chore) in self.links.tend(ring, now, timeout, grace, ping_after) {
            match chore {
                // Silent link: the peer hangs or the path is cut.
                LinkChore::Broken => {
                    self.out.push_back(Output::Close { peer });
                    let listening = self.was_listening(now);
                    let inc = self.members.get(peer).filter(|p| p.status().is_member()).map(Peer::incarnation);
                    // Its other ring neighbour said its link went silent too.
                    let claimed = self.verdicts.take_claim(peer, now).is_some_and(|c| Some(c) == inc);
                    if listening && (claimed || self.silent_on_the_group(peer, now)) {
                        // Its heartbeats stopped too, or its other link did: two witnesses
                        // agree, so it is down now, not after the failure detector's wait.
                        // Its other neighbour holds our notice until its own link says the same.
                        self.declare_down(peer, DownReason::Silent, now);
                    } else {
                        if listening && let Some(incarnation) = inc {
                            // In a large group heartbeats come seconds apart: ask its other
                            // neighbour, whose link is the second witness. Meanwhile watch for
                            // its next heartbeat; if that does not come, it is down then.
                            self.verdicts.watch_silent(peer, now);
                            let ask = Body::Silent { node: peer, incarnation };
                            self.send(ask.clone());
                            self.send(ask.clone());
                            self.pass_on_ring(&ask, None, now);
                        }
                        self.link_broke(peer, now);
                    }
                }
                LinkChore::Retire => self.close_link(peer, now),
                LinkChore::Ping => self.send_link(peer, Body::Ping, now),
            }
        }
    }

    /// Peers whose link went silent while their heartbeats still came: down as soon as their
    /// heartbeats stop too (within a couple of heartbeats of the silence), unless heard again.
    fn watch_silent_links(&mut self, now: Time) {
        let watched: Vec<(NodeId, Time)> = self.verdicts.watched().collect();
        for (peer, since) in watched {
            let member = self.members.status(peer).is_some_and(Status::is_member);
            let interval = self.members.get(peer).map_or(self.cfg.heartbeat, Peer::interval);
            if !member || self.links.ids().any(|l| l == peer) || now.since(since) > interval * 4 {
                self.verdicts.unwatch(peer);
            } else if self.silent_on_the_group(peer, now) && self.was_listening(now) {
                self.verdicts.unwatch(peer);
                self.declare_down(peer, DownReason::Silent, now);
            }
        }
    }

    /// When a watched peer's heartbeats will have been missing long enough (see above).
    pub(super) fn silent_links_deadline(&self) -> Option<Time> {
        let tick = Duration::from_millis(1);
        self.verdicts
            .watched()
            .filter_map(|(p, _)| self.members.get(p))
            .map(|p| p.last_seen() + p.interval() + self.cfg.link_ping + tick)
            .min()
    }

    /// Another ring neighbour of `node` says its link to it went silent while its heartbeats
    /// were not yet overdue. If ours has been silent for two pings as well (or already broke
    /// so), two witnesses agree and it is down; if ours still hears it, the claim is held in
    /// case ours falls silent soon too. Nodes that hold no link to it have nothing to add.
    pub(super) fn silent_claim(&mut self, node: NodeId, incarnation: Incarnation, now: Time) {
        if node == self.id {
            // Someone's link to us went quiet (we were starved, or the path is bad): speak.
            self.send_beat(false, now);
            return;
        }
        if !self.members.get(node).is_some_and(|p| p.is_member_in(incarnation)) || !self.was_listening(now) {
            return;
        }
        let linked = self.links.ids().any(|l| l == node);
        if linked && !self.links.heard_within(node, now, self.cfg.link_ping * 2) {
            self.links.remove(node);
            self.out.push_back(Output::Close { peer: node });
            self.declare_down(node, DownReason::Silent, now);
        } else if linked {
            self.verdicts.hold_claim(node, incarnation, now);
        } else if self.verdicts.watched().any(|(p, _)| p == node) {
            self.verdicts.unwatch(node);
            self.declare_down(node, DownReason::Silent, now);
        }
    }

    /// Works the neighbours out again if membership changed since.
    pub(super) fn refresh_ring(&mut self) {
        let Some(me) = self.my_ring_key() else { return };
        if self.members.take_changed() {
            let ring = ring::neighbours(me, self.members.ring_keys());
            if ring != self.ring {
                self.ring = ring;
                self.emit(Event::Ring { prev: ring.prev, next: ring.next });
            }
        }
    }

    pub(super) fn close_link(&mut self, peer: NodeId, now: Time) {
        self.send_link(peer, Body::Bye, now);
        self.links.remove(peer);
        self.out.push_back(Output::Close { peer });
    }

    /// A link broke without a goodbye: the peer may have crashed. If a neighbour said so a
    /// moment ago (a notice we held because our link still heard it), that is confirmed now.
    /// Otherwise suspect it, and dial it: a refused dial confirms it is gone, an answered one
    /// clears it.
    pub(super) fn link_broke(&mut self, peer: NodeId, now: Time) {
        if let Some((inc, reason)) = self.verdicts.take_notice(peer, now)
            && self.members.get(peer).is_some_and(|p| p.is_member_in(inc))
        {
            self.mark_down(peer, reason, DownVia::Notice, now);
            self.pass_on_ring(&Body::Down { node: peer, incarnation: inc, why: gone(reason) }, None, now);
            return;
        }
        if !self.members.status(peer).is_some_and(Status::is_member) {
            return;
        }
        if self.just_resumed(now) {
            // The peer gave up on us while we were stopped: no sign against it. The ring is
            // tended again as usual, and dials the link back if it is ours to dial.
            return;
        }
        // Starved or stopped for less than a pause, the peer may have given up on us: no
        // suspicion, but the probe all the same (a refused dial still means its process is gone).
        if self.was_listening(now)
            && let Some(e) = self.members.suspect(peer, now)
        {
            self.emit(e);
        }
        if let Some(key) = self.ring_key_of(peer) {
            self.links.dialing(peer, true);
            self.out.push_back(Output::Dial { peer, addr: key.addr() });
        }
    }

    /// This node has been taking input all along lately (not stopped or starved, even briefly):
    /// a silence it sees now is the peer's, not its own. After a stall it is not, for a link
    /// ping: the frames that waited in its sockets meanwhile (read one wake-up at a time, the
    /// ring links' after the group's) must be taken in before a silence can be judged.
    fn was_listening(&self, now: Time) -> bool {
        self.stalled_at.is_none_or(|t| now.since(t) > self.cfg.link_ping) && !self.just_resumed(now)
    }

    /// No heartbeat from `peer` for longer than its heartbeat interval and a ping: one lost
    /// heartbeat (one in five at 20% loss) is not enough, two in a row are.
    fn silent_on_the_group(&self, peer: NodeId, now: Time) -> bool {
        self.members.get(peer).is_some_and(|p| now.since(p.last_seen()) > p.interval() + self.cfg.link_ping)
    }

    /// A probe dial was refused: the peer's process is gone. Tell everyone.
    pub(super) fn confirm_down(&mut self, peer: NodeId, now: Time) {
        self.declare_down(peer, DownReason::Crashed, now);
    }

    /// This node's ring link says `peer` is down, for `reason`: mark it and tell everyone why.
    fn declare_down(&mut self, peer: NodeId, reason: DownReason, now: Time) {
        let Some(p) = self.members.get(peer).filter(|p| p.status().is_member()) else { return };
        let notice = Body::Down { node: peer, incarnation: p.incarnation(), why: gone(reason) };
        self.mark_down(peer, reason, DownVia::Link, now);
        // Twice on the group, as a leave is, and around the ring, which loses nothing.
        self.send(notice.clone());
        self.send(notice.clone());
        self.pass_on_ring(&notice, None, now);
    }

    /// A neighbour found `node` down, for the reason `why` (heard on the group, or on the ring
    /// from `via`).
    pub(super) fn down_notice(
        &mut self,
        node: NodeId,
        incarnation: Incarnation,
        why: Option<Gone>,
        via: Option<NodeId>,
        now: Time,
    ) {
        let reason = reason_of(why);
        if node == self.id && incarnation > self.incarnation && via.is_some() {
            // A life of ours above this one: someone forged it (a ring neighbour tells us so,
            // on its link, when its table holds a life we never had). Start a life above it.
            // On the group anyone could say it, so there it is only answered, as below.
            self.impersonated(incarnation, None, now);
        } else if node == self.id {
            // Someone thinks we are dead: say otherwise at once.
            self.send_beat(false, now);
        } else if self.links.heard_within(node, now, self.cfg.heartbeat * 2) {
            // We heard it on our own link just now: the notice is wrong (or forged), or our link
            // has yet to notice. Held, not believed: if the link breaks soon, it was right. If
            // not, our next heartbeat, brought forward, vouches for it to those who believed.
            self.count(DropReason::DownDisputed);
            self.verdicts.hold_notice(node, incarnation, reason, now);
            self.vouch_soon(now);
        } else if self.members.get(node).is_some_and(|p| p.is_member_in(incarnation)) {
            self.mark_down(node, reason, DownVia::Notice, now);
            self.pass_on_ring(&Body::Down { node, incarnation, why }, via, now);
        }
    }

    /// A word against a ring neighbour that our link still hears (a notice, a leave) may have
    /// been believed by the others: our next heartbeat, which lists what we hear on our links,
    /// goes out soon, once the link has had two pings to speak after it, and vouches for it.
    pub(super) fn vouch_soon(&mut self, now: Time) {
        let soon = now + self.cfg.link_ping * 2 + super::SEND_SLACK;
        if self.timers.get(Timer::Heartbeat).is_none_or(|t| t > soon) {
            self.timers.set(Timer::Heartbeat, soon);
        }
    }

    /// Sends `body` on every ring link but the one it came from.
    pub(super) fn pass_on_ring(&mut self, body: &Body, came_from: Option<NodeId>, now: Time) {
        let others: Vec<NodeId> = self.linked().filter(|p| Some(*p) != came_from).collect();
        for peer in others {
            self.send_link(peer, body.clone(), now);
        }
    }

    pub(super) fn mark_down(&mut self, node: NodeId, reason: DownReason, via: DownVia, now: Time) {
        if let Some(e) = self.members.mark_down(node, reason, via, now) {
            self.emit(e);
        }
    }

    pub(super) fn send_digest(&mut self, peer: NodeId, now: Time) {
        let d: Digest = self.log.digest();
        self.send_link(peer, Body::Digest(d), now);
    }

    pub(super) fn sync_all(&mut self, now: Time) {
        let peers: Vec<NodeId> = self.linked().collect();
        for peer in peers {
            self.send_digest(peer, now);
        }
    }

    pub(super) fn apply_repair(&mut self, from: NodeId, e: Entries, now: Time) {
        let addr = self.link_addr(from);
        let mut fresh = Vec::new();
        for mut entry in e.entries {
            if !wire::entry_fits(&entry) {
                // More than one message frame could have carried: never a real message.
                self.reject(addr, DropReason::Oversized, now);
                continue;
            }
            entry.name = Name::clip_shared(entry.name);
            // What this node writes enters its log as it is said, so a message of this life
            // that is new here was never written by it: forged, most likely sent from this
            // host's own address (which this host's kernel does not deliver to it) and taken
            // by a peer. Its number would hide our next message.
            let forged = entry.node == self.id && entry.incarnation >= self.incarnation;
            let inc = entry.incarnation;
            if self.add_entry(entry.clone(), false, addr, now) {
                self.stats.repaired += 1;
                fresh.push(entry);
                if forged {
                    self.impersonated(inc, None, now);
                }
            }
        }
        for (node, inc, first, last) in e.gaps {
            if self.log.mark_lost(node, inc, first, last) > 0 {
                self.emit(Event::Gap { node, from: first, to: last });
            }
        }
        if let Some(s) = e.shared {
            if !wire::entry_fits(&s) {
                self.reject(addr, DropReason::Oversized, now);
            } else if !self.add_entry(s.clone(), false, addr, now) && self.log.offer_shared(&s) {
                // Normally in the log too; this covers a shared message evicted from a full log.
                let settled = s.ts < self.repair.settled();
                self.emit(Event::Shared { entry: s, settled });
            }
        }
        let progress = !fresh.is_empty();
        if progress {
            // Pass repairs on around the ring, so one hop's repair reaches every node.
            self.pass_on_ring(&Body::Entries(Entries { entries: fresh, ..Entries::default() }), Some(from), now);
        }
        if e.more && progress {
            // Ask for the rest only while asking brings something new.
            self.send_digest(from, now);
        }
    }
}
