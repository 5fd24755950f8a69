//! Repair and settled marks: when to ask the ring for messages a heartbeat says we lack,
//! which holes no one can fill any more, and the frontier every live member has passed.
//!
//! `Repair` owns that state. It reads the log and the peer table and returns what changed; the
//! node does the sending (digests and repairs travel on ring links, see `linking.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::log::Log;
use super::membership::Members;
use super::{Event, Hlc, Incarnation, NodeId, Seq, Time};

/// A gap noticed from a heartbeat asks the neighbours at most this often.
const GAP_SYNC_EVERY: Duration = Duration::from_millis(100);
/// A hole in the messages of an origin that is down or gone is closed (reported as a gap)
/// once it has gone this long without repair.
pub(super) const HOLE_GRACE: Duration = Duration::from_secs(3);

#[derive(Default)]
pub(super) struct Repair {
    /// Origins down or gone with a hole in their messages, and since when.
    holes: BTreeMap<(NodeId, Incarnation), Time>,
    last_gap_sync: Option<Time>,
    /// Own applied frontier, reported in heartbeats (never moves back, but for a new life).
    frontier: Hlc,
    /// The group's settled mark (never moves back, but for a new life).
    settled: Hlc,
}

impl Repair {
    pub(super) fn frontier(&self) -> Hlc {
        self.frontier
    }

    pub(super) fn settled(&self) -> Hlc {
        self.settled
    }

    /// A heartbeat says `node` has sent messages up to `msg_seq`. True when this node lacks
    /// one it has not asked about yet (perhaps the sender's last): ask the neighbours now, once
    /// per news; the regular digests carry on after that.
    pub(super) fn news(&mut self, log: &mut Log, node: NodeId, inc: Incarnation, msg_seq: Seq, now: Time) -> bool {
        let missing = log.origin(node, inc).is_none_or(|o| o.missing_up_to(msg_seq));
        let ask = missing
            && msg_seq.0 > 0
            && self.last_gap_sync.is_none_or(|t| now.since(t) >= GAP_SYNC_EVERY)
            && log.ask(node, inc, msg_seq);
        if ask {
            self.last_gap_sync = Some(now);
        }
        ask
    }

    /// Holes in the messages of an origin that is down or gone cannot be filled by anyone once
    /// the neighbours have had a few rounds to offer what they hold: close them, report each
    /// as a gap (once), and count them lost, so no one asks for them again.
    pub(super) fn close_holes(&mut self, log: &mut Log, members: &Members, now: Time) -> Vec<Event> {
        let holed: Vec<_> = log.holes().collect();
        self.holes.retain(|k, _| holed.contains(k));
        let mut ev = Vec::new();
        let slowest = if holed.is_empty() { Duration::ZERO } else { members.slowest_beat() };
        for (node, inc) in holed {
            let known = members.get(node);
            if known.is_some_and(|p| p.is_member_in(inc)) {
                self.holes.remove(&(node, inc));
                continue;
            }
            // A down origin may have been cut off and be about to be heard again (within a
            // heartbeat or two of the healing; slow ones in a large group), and one not in the
            // table at all may be one not heard yet (a newcomer in a large group hears most
            // members only at their next heartbeats): its holes are given up only after a few
            // heartbeat intervals (the slowest this node's view of the group calls for or that
            // a member says it keeps).
            let grace = HOLE_GRACE + slowest * if known.is_none() { 4 } else { 2 };
            let since = *self.holes.entry((node, inc)).or_insert(now);
            if now.since(since) < grace {
                continue;
            }
            self.holes.remove(&(node, inc));
            ev.extend(log.close_holes(node, inc).into_iter().map(|(from, to)| Event::Gap { node, from, to }));
        }
        ev
    }

    /// This node's frontier is the earliest point up to which it knows every live member's
    /// messages (and at most `now`); the group's settled mark is the earliest frontier of all
    /// live members. Reports the messages that just became settled.
    pub(super) fn update_settled(
        &mut self,
        now: Hlc,
        members: &Members,
        attested: Option<&BTreeSet<NodeId>>,
        log: &Log,
    ) -> Option<Event> {
        let mut mine = now;
        let mut group = Hlc(u64::MAX);
        for (node, inc, frontier) in members.frontiers(attested) {
            mine = mine.min(log.known_until(node, inc));
            group = group.min(frontier);
        }
        self.frontier = self.frontier.max(mine);
        let group = group.min(self.frontier);
        if group <= self.settled {
            return None;
        }
        let count = log.range_from(self.settled).take_while(|e| e.ts < group).count();
        self.settled = group;
        (count > 0).then_some(Event::Settled { upto: group, count })
    }

    /// This node's clock started over at `t`: marks made with the old clock go no further.
    pub(super) fn restart_at(&mut self, t: Hlc) {
        self.frontier = self.frontier.min(t);
        self.settled = self.settled.min(t);
    }
}
