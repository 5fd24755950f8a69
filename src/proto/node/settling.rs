//! Settled marks that keep up with the messages. A message is settled once every live member's
//! frontier has passed it, and a frontier passes it only after its holder has heard from every
//! member since. Heartbeats alone take two heartbeat intervals for that; so a node that holds
//! news tells the group where it stands at once, in a small `Ack` (on the group, and on its ring
//! links, which lose nothing), and again while its messages are unsettled.
//!
//! Acks cost nothing when the group is quiet: they are sent only for a new message, for a
//! frontier that passed a message, or to a peer whose settled mark is behind ours; at most one
//! per `ACK_GAP`, and repeated at most `ACK_REPEATS` times after the last of those.

use std::time::Duration;

use super::Node;
use crate::proto::membership::Header;
use crate::proto::timer::Timer;
use crate::proto::wire::{Ack, Body};
use crate::proto::{Hlc, NodeId, Time};

/// A new message waits this long for others arriving with it before the ack goes out.
const ACK_DELAY: Duration = Duration::from_millis(10);
/// Acks go out at most this often (a burst of messages costs ten a second).
const ACK_GAP: Duration = Duration::from_millis(100);
/// Acks repeated while this node holds unsettled messages (one may be lost), after the last news.
const ACK_REPEATS: u32 = 10;

impl Node {
    /// Peers' settled marks wait on where this node stands now: ack soon.
    pub(super) fn want_ack(&mut self, now: Time) {
        if self.left {
            return;
        }
        self.ack_repeats = ACK_REPEATS;
        if self.timers.get(Timer::Ack).is_none() {
            let soonest = now + ACK_DELAY;
            let at = self.last_ack.map_or(soonest, |t| (t + ACK_GAP).max(soonest));
            self.timers.set(Timer::Ack, at);
        }
    }

    /// The ack timer fired: work out the marks, and tell the group and the ring neighbours.
    pub(super) fn send_ack(&mut self, now: Time) {
        self.timers.stop(Timer::Ack);
        if self.left {
            return;
        }
        self.settle(now);
        let ack = Ack { msg_seq: self.msg_seq, frontier: self.repair.frontier(), settled: self.repair.settled() };
        self.send(Body::Ack(ack));
        let linked: Vec<NodeId> = self.linked().collect();
        for peer in linked {
            self.send_link(peer, Body::Ack(ack), now);
        }
        self.last_ack = Some(now);
        if self.ack_repeats > 0 && self.has_unsettled(self.repair.settled()) {
            self.ack_repeats -= 1;
            self.timers.set(Timer::Ack, now + ACK_GAP);
        }
    }

    /// An ack from `f.sender`, on the group or its ring link.
    pub(super) fn on_ack(&mut self, f: Header, ack: Ack, now: Time) {
        let Some(frontier_moved) = self.members.acked(f, ack.frontier, now) else { return };
        let known = self.log.known_until(f.sender, f.incarnation);
        // (A stamp from the future is taken as now, as for a heartbeat.)
        self.log.on_beat(f.sender, f.incarnation, ack.msg_seq, f.hlc.min(self.clock.now_hlc()));
        if self.repair.news(&mut self.log, f.sender, f.incarnation, ack.msg_seq, now) {
            self.sync_all(now);
        }
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
            self.want_ack(now);
        }
    }

    /// Works out this node's frontier and the group's settled mark, and reports what settled.
    /// A frontier that passed a message is news for the peers: ack it.
    pub(super) fn settle(&mut self, now: Time) {
        if self.left {
            return;
        }
        let before = self.repair.frontier();
        // Once linked, the settled marks wait only for peers the ring vouches for.
        let attested = (self.links.ids().next().is_some()).then(|| self.members.attested(self.links.ids(), now));
        if let Some(e) = self.repair.update_settled(self.clock.now_hlc(), &self.members, attested.as_deref(), &self.log)
        {
            self.emit(e);
        }
        let after = self.repair.frontier();
        if after > before && self.log.range_from(before).next().is_some_and(|e| e.ts < after) {
            self.want_ack(now);
        }
    }

    /// Whether the log holds messages stamped at or after `mark`.
    fn has_unsettled(&self, mark: Hlc) -> bool {
        self.log.range_from(mark).next().is_some()
    }
}
