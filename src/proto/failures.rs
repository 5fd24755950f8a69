//! Failures: what this node concludes about a peer, and what it makes of what others say.
//! A ring link that went silent is a verdict only with a second witness (the peer's heartbeats
//! stopping too, or its other ring neighbour's link falling silent as well); a link that ended
//! is a suspicion and a probe dial; a neighbour's notice that a peer is down, or a leave in its
//! name, is held against our own link while that still speaks; a peer heard on a link after it
//! was shown gone comes back.
//!
//! `Failures` is a handle: the state is `Verdicts`' (the words held, the links watched) and the
//! `Members`' (the table); what only the node can do (answer, start a new life) it hands back as
//! a `Notice`.

use std::net::SocketAddr;

use super::config::Config;
use super::membership::{Header, Leave, Members, Peer};
use super::outbox::Tx;
use super::pauses::Pauses;
use super::ring::Links;
use super::tending::{SEND_SLACK, link_timeout};
use super::timer::{Timer, TimerTable};
use super::verdicts::Verdicts;
use super::wire::{Body, Gone};
use super::{DownReason, DownVia, DropReason, Event, Incarnation, NodeId, Output, Status, Time};

/// What a notice about a node asks of this node itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Notice {
    /// Nothing more.
    Done,
    /// It was about us: say otherwise at once (a heartbeat).
    Answer,
    /// A neighbour tells us a life of ours above this one was forged: start a life above it.
    Forged(Incarnation),
}

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

/// Verdicts about peers, for the length of one input.
pub(super) struct Failures<'a> {
    pub cfg: &'a Config,
    pub links: &'a mut Links,
    pub members: &'a mut Members,
    pub verdicts: &'a mut Verdicts,
    pub pauses: &'a Pauses,
    pub timers: &'a mut TimerTable,
    pub tx: Tx<'a>,
}

impl Failures<'_> {
    /// The link to `peer` went silent after `last_heard`: the peer hangs or the path is cut.
    pub(super) fn went_silent(&mut self, peer: NodeId, last_heard: Time, now: Time) {
        self.tx.out.push(Output::Close { peer });
        if self.heard_since(peer, last_heard) || self.verdicts.links_failed(peer, now) {
            // It spoke on the group after its link fell silent, or its links failed lately while
            // it spoke on: alive, and only the link (a TCP path, a firewall) failed. Suspect it
            // and dial it back; its heartbeats stopping is the verdict, if it comes.
            if self.pauses.listening(now) {
                self.verdicts.watch_silent(peer, now);
            }
            return self.link_broke(peer, now);
        }
        let listening = self.pauses.listening(now);
        let inc = self.members.get(peer).filter(|p| p.status().is_member()).map(Peer::incarnation);
        // Its other ring neighbour said its link went silent too.
        let claimed = self.verdicts.take_claim(peer, now).is_some_and(|c| Some(c) == inc);
        if listening && (claimed || self.silent_on_the_group(peer, now)) {
            // Its heartbeats stopped too, or its other link did: two witnesses agree, so it is
            // down now, not after the failure detector's wait. Its other neighbour holds our
            // notice until its own link says the same.
            self.declare_down(peer, DownReason::Silent, now);
            return;
        }
        if listening && let Some(incarnation) = inc {
            // In a large group heartbeats come seconds apart: ask its other neighbour, whose
            // link is the second witness. Meanwhile watch for its next heartbeat; if that does
            // not come, it is down then.
            self.verdicts.watch_silent(peer, now);
            let ask = Body::Silent { node: peer, incarnation };
            self.tx.send(ask.clone());
            self.tx.send(ask.clone());
            self.tx.on_ring(self.links, &ask, None, now);
        }
        self.link_broke(peer, now);
    }

    /// Peers whose link went silent while their heartbeats still came: down as soon as their
    /// heartbeats stop too (within a couple of heartbeats of the silence), unless heard again.
    pub(super) fn watch_silent_links(&mut self, now: Time) {
        let watched: Vec<(NodeId, Time)> = self.verdicts.watched().collect();
        for (peer, since) in watched {
            let member = self.members.status(peer).is_some_and(Status::is_member);
            let interval = self.members.get(peer).map_or(self.cfg.heartbeat, Peer::interval);
            if !member || self.links.ids().any(|l| l == peer) || now.since(since) > interval * 4 {
                self.verdicts.unwatch(peer);
            } else if self.silent_on_the_group(peer, now) && self.pauses.listening(now) {
                self.verdicts.unwatch(peer);
                self.declare_down(peer, DownReason::Silent, now);
            }
        }
    }

    /// Another ring neighbour of `node` says its link to it went silent while its heartbeats
    /// were not yet overdue. If ours has been silent for two pings as well (or already broke
    /// so), two witnesses agree and it is down; if ours still hears it, the claim is held in
    /// case ours falls silent soon too. Nodes that hold no link to it have nothing to add.
    pub(super) fn silent_claim(&mut self, node: NodeId, incarnation: Incarnation, now: Time) -> Notice {
        if node == self.tx.id {
            // Someone's link to us went quiet (we were starved, or the path is bad): speak.
            return Notice::Answer;
        }
        if !self.members.get(node).is_some_and(|p| p.is_member_in(incarnation)) || !self.pauses.listening(now) {
            return Notice::Done;
        }
        self.verdicts.silenced(node, now);
        let linked = self.links.ids().any(|l| l == node);
        if self.links.last_heard(node).is_some_and(|t| self.heard_since(node, t))
            || self.verdicts.links_failed(node, now)
        {
            // Our link is quiet too, but the node spoke on the group since (or its links have
            // failed lately while it spoke on): it lives.
            return Notice::Done;
        }
        if linked && !self.links.heard_within(node, now, self.cfg.link_ping * 2) {
            self.links.remove(node);
            self.tx.out.push(Output::Close { peer: node });
            self.declare_down(node, DownReason::Silent, now);
        } else if linked {
            self.verdicts.hold_claim(node, incarnation, now);
        } else if let Some(since) = self.verdicts.watched_since(node) {
            // Our link broke silent at `since`, its last frame a timeout before.
            self.verdicts.unwatch(node);
            if !self.heard_since(node, since.saturating_sub(link_timeout(self.cfg))) {
                self.declare_down(node, DownReason::Silent, now);
            }
        }
        Notice::Done
    }

    /// `node` was heard alive at `at`, second-hand or on its link. One shown gone that comes
    /// back this way was the victim of a wrong word (counted as what the word was).
    pub(super) fn vouch(&mut self, node: NodeId, at: Time, now: Time) {
        let was = self.members.status(node);
        let Some(e) = self.members.vouch(node, at, now) else { return };
        match (was, &e) {
            (Some(Status::Left), Event::PeerUp { .. }) => self.tx.count(DropReason::ForgedLeave),
            (Some(Status::Down), Event::PeerUp { .. }) => self.tx.count(DropReason::DownDisputed),
            _ => {}
        }
        self.verdicts.notice_spent(node);
        if was == Some(Status::Down) && matches!(e, Event::PeerUp { .. }) {
            self.verdicts.back(node, now);
        }
        self.tx.emit(e);
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
            self.tx.on_ring(self.links, &Body::Down { node: peer, incarnation: inc, why: gone(reason) }, None, now);
            return;
        }
        if !self.members.status(peer).is_some_and(Status::is_member) || self.pauses.just_resumed(now) {
            // Gone already, or it gave up on us while we were stopped: no sign against it. The
            // ring is tended again as usual, and dials the link back if it is ours to dial.
            return;
        }
        // Starved or stopped for less than a pause, the peer may have given up on us: no
        // suspicion, but the probe all the same (a refused dial still means its process is gone).
        if self.pauses.listening(now)
            && let Some(e) = self.members.suspect(peer, now)
        {
            self.tx.emit(e);
        }
        if let Some(key) = self.members.get(peer).and_then(Peer::ring_key) {
            self.links.dialing(peer, true);
            self.tx.out.push(Output::Dial { peer, addr: key.addr() });
        }
    }

    /// Whether `peer` was heard on the group (a heartbeat, a message, an ack) more than a ping
    /// after `t`, when its link last spoke: a frame in flight as it froze comes within a ping.
    fn heard_since(&self, peer: NodeId, t: Time) -> bool {
        self.members.get(peer).is_some_and(|p| p.last_seen() > t + self.cfg.link_ping)
    }

    /// No heartbeat from `peer` for longer than its heartbeat interval and a ping: one lost
    /// heartbeat (one in five at 20% loss) is not enough, two in a row are.
    fn silent_on_the_group(&self, peer: NodeId, now: Time) -> bool {
        self.members.get(peer).is_some_and(|p| now.since(p.last_seen()) > p.interval() + self.cfg.link_ping)
    }

    /// This node's ring link says `peer` is down, for `reason`: mark it and tell everyone why.
    pub(super) fn declare_down(&mut self, peer: NodeId, reason: DownReason, now: Time) {
        let Some(p) = self.members.get(peer).filter(|p| p.status().is_member()) else { return };
        let notice = Body::Down { node: peer, incarnation: p.incarnation(), why: gone(reason) };
        self.mark_down(peer, reason, DownVia::Link, now);
        // Twice on the group, as a leave is, and around the ring, which loses nothing.
        self.tx.send(notice.clone());
        self.tx.send(notice.clone());
        self.tx.on_ring(self.links, &notice, None, now);
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
    ) -> Notice {
        let reason = reason_of(why);
        if reason == DownReason::Silent {
            self.verdicts.silenced(node, now);
        }
        if node == self.tx.id && incarnation > self.tx.inc && via.is_some() {
            // A life of ours above this one: someone forged it (a ring neighbour tells us so,
            // on its link, when its table holds a life we never had). Start a life above it.
            // On the group anyone could say it, so there it is only answered, as below.
            return Notice::Forged(incarnation);
        }
        if node == self.tx.id {
            // Someone thinks we are dead: say otherwise at once.
            return Notice::Answer;
        }
        if self.links.heard_within(node, now, self.cfg.heartbeat * 2) {
            // We heard it on our own link just now: the notice is wrong (or forged), or our link
            // has yet to notice. Held, not believed: if the link breaks soon, it was right. If
            // not, our next heartbeat, brought forward, vouches for it to those who believed.
            self.tx.count(DropReason::DownDisputed);
            self.verdicts.hold_notice(node, incarnation, reason, now);
            self.vouch_soon(now);
        } else if self.verdicts.just_back(node, now) {
            // It spoke after it was shown down a moment ago: this is a copy of old news.
            self.tx.count(DropReason::DownDisputed);
        } else if self.members.get(node).is_some_and(|p| p.is_member_in(incarnation)) {
            self.mark_down(node, reason, DownVia::Notice, now);
            self.tx.on_ring(self.links, &Body::Down { node, incarnation, why }, via, now);
        }
        Notice::Done
    }

    /// A word against a ring neighbour that our link still hears (a notice, a leave) may have
    /// been believed by the others: our next heartbeat, which lists what we hear on our links,
    /// goes out soon, once the link has had two pings to speak after it, and vouches for it.
    pub(super) fn vouch_soon(&mut self, now: Time) {
        let soon = now + self.cfg.link_ping * 2 + SEND_SLACK;
        if self.timers.get(Timer::Heartbeat).is_none_or(|t| t > soon) {
            self.timers.set(Timer::Heartbeat, soon);
        }
    }

    /// Marks `node` down for `reason` (as `via` told), if it was a member.
    pub(super) fn mark_down(&mut self, node: NodeId, reason: DownReason, via: DownVia, now: Time) {
        if let Some(e) = self.members.mark_down(node, reason, via, now) {
            if reason == DownReason::Silent {
                self.verdicts.silenced(node, now);
            }
            self.tx.emit(e);
        }
    }

    /// A leave in `f.sender`'s name, from `from`. If our link to it spoke just now, it is held: a
    /// real leave is followed at once by its goodbye on the link (see `link_end`); a forged one
    /// is not, and is dropped.
    pub(super) fn leave_heard(&mut self, f: Header, from: SocketAddr, now: Time) {
        if self.links.heard_within(f.sender, now, self.cfg.heartbeat * 2) {
            self.verdicts.hold_leave(f, from, now);
            self.vouch_soon(now);
        } else {
            self.leave(f, from, now);
        }
    }

    /// `f.sender` said goodbye (or someone did in its name, from `from`).
    pub(super) fn leave(&mut self, f: Header, from: SocketAddr, now: Time) {
        match self.members.left(f, now) {
            Leave::Left(e) => self.tx.emit(e),
            Leave::Ignored => {}
            Leave::Implausible => self.tx.reject(from, DropReason::ForgedLeave, now),
        }
    }

    /// What the failure detectors and the forgetting clock say now; and leaves held while their
    /// links lived on, which were forged.
    pub(super) fn check(&mut self, now: Time) {
        for e in self.members.check(now) {
            self.tx.emit(e);
        }
        for _ in 0..self.verdicts.forged_leaves(now) {
            self.tx.count(DropReason::ForgedLeave);
        }
    }
}
