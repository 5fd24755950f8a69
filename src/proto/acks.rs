//! Acks: settled marks that keep up with the messages. A message is settled once every live
//! member's frontier has passed it, and a frontier passes it only after its holder has heard from
//! every member since. Heartbeats alone take two heartbeat intervals for that; so a node that
//! holds news tells the group where it stands at once, in a small `Ack` (on the group, and on its
//! ring links, which lose nothing), and again while its messages are unsettled.
//!
//! Acks cost nothing when the group is quiet: they are sent only for a new message, for a
//! frontier that passed a message, or to a peer whose settled mark is behind ours; at most one
//! per `ACK_GAP`, and repeated at most `ACK_REPEATS` times after the last of those.
//!
//! `Acks` owns when the last ack went and how many repeats are left; `Settling` is the handle
//! through which the node works out its marks and acks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::log::Log;
use super::membership::{Header, Members};
use super::outbox::Tx;
use super::repair::Repair;
use super::ring::Links;
use super::timer::{Timer, TimerTable};
use super::wire::{Ack, Body};
use super::{Hlc, NodeId, Time};

/// A new message waits this long for others arriving with it before the ack goes out.
const ACK_DELAY: Duration = Duration::from_millis(10);
/// Acks go out at most this often (a burst of messages costs ten a second).
const ACK_GAP: Duration = Duration::from_millis(100);
/// Acks repeated while this node holds unsettled messages (one may be lost), after the last news.
const ACK_REPEATS: u32 = 10;

/// When this node last acked, and how many repeats are left.
#[derive(Default)]
pub(super) struct Acks {
    last: Option<Time>,
    repeats: u32,
}

/// The node's marks and acks, for the length of one input.
pub(super) struct Settling<'a> {
    pub acks: &'a mut Acks,
    pub timers: &'a mut TimerTable,
    pub repair: &'a mut Repair,
    pub members: &'a mut Members,
    pub links: &'a mut Links,
    pub log: &'a mut Log,
    pub tx: Tx<'a>,
    /// The node has left: it acks nothing more.
    pub left: bool,
}

impl Settling<'_> {
    /// Peers' settled marks wait on where this node stands now: ack soon.
    pub(super) fn want(&mut self, now: Time) {
        if self.left {
            return;
        }
        self.acks.repeats = ACK_REPEATS;
        if self.timers.get(Timer::Ack).is_none() {
            let soonest = now + ACK_DELAY;
            let at = self.acks.last.map_or(soonest, |t| (t + ACK_GAP).max(soonest));
            self.timers.set(Timer::Ack, at);
        }
    }

    /// The ack timer fired: work out the marks, and tell the group and the ring neighbours.
    pub(super) fn send(&mut self, now: Time) {
        self.timers.stop(Timer::Ack);
        if self.left {
            return;
        }
        self.settle(now);
        let ack =
            Ack { msg_seq: self.tx.out.msg_seq(), frontier: self.repair.frontier(), settled: self.repair.settled() };
        self.tx.send(Body::Ack(ack));
        self.tx.on_ring(self.links, &Body::Ack(ack), None, now);
        self.acks.last = Some(now);
        if self.acks.repeats > 0 && self.has_unsettled(self.repair.settled()) {
            self.acks.repeats -= 1;
            self.timers.set(Timer::Ack, now + ACK_GAP);
        }
    }

    /// An ack from `f.sender`, on the group or its ring link. True if it showed messages this
    /// node lacks and has not asked about yet: the ring neighbours are to be asked now.
    pub(super) fn on_ack(&mut self, f: Header, ack: Ack, now: Time) -> bool {
        let Some(frontier_moved) = self.members.acked(f, ack.frontier, now) else { return false };
        let known = self.log.known_until(f.sender, f.incarnation);
        // (A stamp from the future is taken as now, as for a heartbeat.)
        self.log.on_beat(f.sender, f.incarnation, ack.msg_seq, f.hlc.min(self.tx.clock.now_hlc()));
        let ask = self.repair.news(self.log, f.sender, f.incarnation, ack.msg_seq, now);
        // The marks are worked out again only if this ack moved something they rest on.
        if frontier_moved || self.log.known_until(f.sender, f.incarnation) > known {
            self.settle(now);
        }
        // A peer that has not settled what we have: our frontier may be the one it lacks.
        // Only members that count for the marks are answered (not a stranger's made-up name).
        let settled = self.repair.settled();
        if ack.settled < settled
            && self.members.counts(f.sender)
            && self.log.range_from(ack.settled).next().is_some_and(|e| e.ts < settled)
        {
            self.want(now);
        }
        ask
    }

    /// Works out this node's frontier and the group's settled mark, and reports what settled.
    /// A frontier that passed a message is news for the peers: ack it.
    pub(super) fn settle(&mut self, now: Time) {
        if self.left {
            return;
        }
        let before = self.repair.frontier();
        // Once linked, the settled marks wait only for peers the ring vouches for.
        let attested: Option<Arc<BTreeSet<NodeId>>> =
            (self.links.ids().next().is_some()).then(|| self.members.attested(self.links.ids(), now));
        if let Some(e) =
            self.repair.update_settled(self.tx.clock.now_hlc(), self.members, attested.as_deref(), self.log)
        {
            self.tx.emit(e);
        }
        let after = self.repair.frontier();
        if after > before && self.log.range_from(before).next().is_some_and(|e| e.ts < after) {
            self.want(now);
        }
    }

    /// Whether the log holds messages stamped at or after `mark`.
    fn has_unsettled(&self, mark: Hlc) -> bool {
        self.log.range_from(mark).next().is_some()
    }
}
