//! Keeping time with the group: stamps absorbed (never refused), each peer's clock compared with
//! ours, group time following what most hosts' own clocks say, and a pause of our own forgiven.
//!
//! Liveness never depends on clocks: the failure detector and every timer count in monotonic
//! time. Clocks matter only for stamps, so a host whose wall clock is wrong still takes part;
//! it follows the group's time, and everyone sees by how much its clock is off.

use super::Node;
use crate::proto::clock::{self, AGREE_MS};
use crate::proto::wire::Beat;
use crate::proto::{ClockCause, DropReason, Event, Hlc, Incarnation, NodeId, Seq, Time};

impl Node {
    /// A received stamp moves our clock forward (held at the cap; counted when it is).
    pub(super) fn observe_stamp(&mut self, seen: Hlc) {
        if self.clock.observe(seen) {
            self.stats.clock_held += 1;
        }
    }

    /// A heartbeat of `node` said what its group time was when it was sent, and how far its
    /// own wall clock is from that: how far its wall clock is from ours. A vote far from group
    /// time is looked at at once, not at the next heartbeat: a newcomer with a wrong clock must
    /// agree with the group before the user's first message is stamped.
    pub(super) fn clock_sample(&mut self, node: NodeId, beat: &Beat, now: Time) {
        if self.just_resumed(now) {
            return;
        }
        let theirs = (beat.time_ms.min(i64::MAX as u64) as i64).saturating_add(beat.skew_ms);
        let offset = theirs.saturating_sub(self.clock.wall_ms());
        self.members.clock_sample(node, offset, beat.skew_ms, clock::plausible(theirs));
        if !self.clock_known || offset.saturating_sub(self.clock.offset_ms()).abs() > AGREE_MS {
            self.follow_group_clock(now);
        }
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

    /// Group time follows what most hosts' own wall clocks say (`clock::decide`): only the
    /// clocks of members the ring vouches for vote, one per host, and only plausible ones. A
    /// node that has not spoken yet, or whose own clock cannot be right, goes there at once;
    /// one that has spoken moves in bounded steps (`Clock::follow`). Once the clocks of members
    /// the ring vouches for are heard and do not split, the group's time is known and what the
    /// user said meanwhile goes out.
    pub(super) fn follow_group_clock(&mut self, now: Time) {
        let attested = self.members.attested(self.links.ids(), now);
        let own_host = self.cfg.ring_addr.map(|a| a.ip());
        let (votes, heard) = self.members.clock_votes(&attested, own_host);
        let own_plausible = clock::plausible(self.clock.wall_ms());
        let decision = clock::decide(own_plausible, &votes);
        self.clock.set_basis(decision.basis);
        if let Some(target) = decision.target_ms {
            let jump = !self.clock_known || !own_plausible;
            if let Some(by_ms) = self.clock.follow(target, jump, now, self.cfg.heartbeat) {
                let restart = self.clock.shift(by_ms);
                self.emit(Event::Clock { skew_ms: self.clock.skew_ms(), cause: ClockCause::Group { by_ms } });
                if restart {
                    self.new_life(now);
                }
            }
        }
        // Known once the clocks heard leave no doubt; clocks that split leave it open until
        // more are heard, or the wait for them runs out (see `handle_timer`).
        let settled = !matches!(decision.basis, clock::ClockBasis::Split { .. });
        if heard && settled && !self.clock_known {
            self.clock_is_known(now);
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
