//! Keeping time with the group: stamps absorbed (never refused), each peer's clock compared with
//! ours, group time followed when ours is far off, and a pause of our own forgiven.
//!
//! Liveness never depends on clocks: the failure detector and every timer count in monotonic
//! time. Clocks matter only for stamps, so a host whose wall clock is wrong still takes part;
//! it follows the group's time, and everyone sees by how much its clock is off.

use super::{CLOCK_TOLERANCE_MS, Node};
use crate::proto::wire::Beat;
use crate::proto::{ClockCause, DropReason, Event, Hlc, Incarnation, NodeId, Seq, Time};

impl Node {
    /// A received stamp moves our clock forward (held at the cap; counted when it is).
    pub(super) fn observe_stamp(&mut self, seen: Hlc) {
        if self.clock.observe(seen) {
            self.stats.clock_held += 1;
        }
    }

    /// A heartbeat of `node` said what its group time was when it was sent. A clock found far
    /// off is dealt with at once, not at the next heartbeat: a newcomer with a wrong clock must
    /// agree with the group before the user's first message is stamped.
    pub(super) fn clock_sample(&mut self, node: NodeId, beat: &Beat, now: Time) {
        if self.just_resumed(now) {
            return;
        }
        let mine = self.clock.group_now().as_millis().min(i64::MAX as u128) as i64;
        let theirs = beat.time_ms.min(i64::MAX as u64) as i64;
        let offset = theirs.saturating_sub(mine);
        self.members.clock_sample(node, offset, beat.skew_ms);
        if offset.abs() > CLOCK_TOLERANCE_MS {
            self.follow_group_clock(now);
        }
        self.clock_is_known(now);
    }

    /// The group's clock is known (or no one answered in time): what the user said meanwhile
    /// is stamped and sent now, in order.
    pub(super) fn clock_is_known(&mut self, now: Time) {
        self.clock_known = true;
        while let Some(text) = self.held_says.pop_front() {
            // Checked when it was said; a rename since may have made it too long to send.
            if self.say(&text, None, now).is_err() {
                self.count(DropReason::OwnFrameTooLong);
            }
        }
    }

    /// Group time is the median of the members' clocks, ours counted as zero. With an even
    /// count it is the earlier of the two middle ones: a pair settles on the earlier clock, as
    /// stamps from the future do more harm (they stay the newest, and unsettled, for as long as
    /// the error). A clock further than the tolerance from group time follows it.
    pub(super) fn follow_group_clock(&mut self, now: Time) {
        let mut offsets = self.members.clock_offsets();
        if offsets.is_empty() {
            return;
        }
        offsets.push(0);
        offsets.sort_unstable();
        let by_ms = offsets[(offsets.len() - 1) / 2];
        if by_ms.abs() <= CLOCK_TOLERANCE_MS {
            return;
        }
        self.members.clock_shifted(by_ms);
        let restart = self.clock.shift(by_ms);
        self.emit(Event::Clock { skew_ms: self.clock.skew_ms(), cause: ClockCause::Group { by_ms } });
        if restart {
            self.new_life(now);
        }
    }

    /// Shortly after a pause of our own, what arrives was mostly sent during it (heartbeats that
    /// waited in the socket, links our peers closed on us): it says nothing about the peers'
    /// clocks or health now.
    pub(super) fn just_resumed(&self, now: Time) -> bool {
        self.resumed_at.is_some_and(|t| now.since(t) < self.link_timeout() + self.cfg.heartbeat)
    }

    /// Stamps already sent are in the future of the group's time. A new life (same id, the
    /// next incarnation) lets the clock start over without peers taking the new, smaller stamps
    /// for stale ones or trusting marks that were made with the wrong clock.
    fn new_life(&mut self, now: Time) {
        self.new_life_above(self.incarnation, now);
    }

    /// A new life, numbered above `inc` as well as above our own.
    pub(super) fn new_life_above(&mut self, inc: Incarnation, now: Time) {
        self.incarnation = Incarnation(self.incarnation.0.max(inc.0).saturating_add(1));
        self.sent = super::SentFrames::default();
        self.seq = Seq(0);
        self.msg_seq = Seq(0);
        self.repair.restart_at(self.clock.now_hlc());
        if !self.left {
            self.send_beat(false, now);
        }
    }

    /// This node was stopped or starved: the silence it saw was its own. Peers and links get a
    /// fresh start from `now` instead of a verdict, so a resumed node does not report every peer
    /// down and then back.
    pub(super) fn resumed(&mut self, now: Time) {
        self.stats.pauses += 1;
        self.resumed_at = Some(now);
        self.members.forgive(now);
        self.links.forgive(now);
    }
}
