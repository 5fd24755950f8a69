//! Keeping time with the group: each peer's clock compared with ours, and group time following
//! what most hosts' own clocks say.
//!
//! Liveness never depends on clocks: the failure detector and every timer count in monotonic
//! time. Clocks matter only for stamps, so a host whose wall clock is wrong still takes part;
//! it follows the group's time, and everyone sees by how much its clock is off. `Timekeeping` is
//! a handle: the state is the `Clock`'s (group time, its steps), the `Members`' (each peer's
//! clock) and `Holding`'s (whether the group's clock is known yet).

use super::clock::{self, AGREE_MS, Clock};
use super::config::Config;
use super::holding::Holding;
use super::membership::Members;
use super::ring::Links;
use super::wire::Beat;
use super::{ClockCause, Event, NodeId, Output, Time};

/// What following the votes asks of the node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Followed {
    /// Group time moved back past stamps already sent: a new life, so no one takes the new,
    /// smaller stamps for stale ones.
    pub new_life: bool,
    /// The group's clock is known now: what the user said meanwhile can go out.
    pub known: bool,
}

/// Group time and the votes on it, for the length of one input.
pub(super) struct Timekeeping<'a> {
    pub cfg: &'a Config,
    pub clock: &'a mut Clock,
    pub members: &'a mut Members,
    pub links: &'a Links,
    pub holding: &'a Holding,
    pub out: &'a mut super::outbox::Outbox,
}

impl Timekeeping<'_> {
    /// A heartbeat of `node` said what its group time was when it was sent, and how far its
    /// own wall clock is from that: how far its wall clock is from ours. A vote far from group
    /// time is looked at at once, not at the next heartbeat: a newcomer with a wrong clock must
    /// agree with the group before the user's first message is stamped.
    pub(super) fn sample(&mut self, node: NodeId, beat: &Beat, now: Time) -> Followed {
        let theirs = (beat.time_ms.min(i64::MAX as u64) as i64).saturating_add(beat.skew_ms);
        let offset = theirs.saturating_sub(self.clock.wall_ms());
        self.members.clock_sample(node, offset, beat.skew_ms, clock::plausible(theirs));
        if !self.holding.known() || offset.saturating_sub(self.clock.offset_ms()).abs() > AGREE_MS {
            return self.follow(now);
        }
        Followed::default()
    }

    /// Group time follows what most hosts' own wall clocks say (`clock::decide`): only the
    /// clocks of members the ring vouches for vote, one per host, and only plausible ones. A
    /// node that has not spoken yet, or whose own clock cannot be right, goes there at once;
    /// one that has spoken moves in bounded steps (`Clock::follow`). Once the clocks of members
    /// the ring vouches for are heard and do not split, the group's time is known.
    pub(super) fn follow(&mut self, now: Time) -> Followed {
        let attested = self.members.attested(self.links.ids(), now);
        let own_host = self.cfg.ring_addr.map(|a| a.ip());
        let (votes, heard) = self.members.clock_votes(&attested, own_host);
        let own_plausible = clock::plausible(self.clock.wall_ms());
        let decision = clock::decide(own_plausible, &votes);
        self.clock.set_basis(decision.basis);
        // Most: the clocks that agree are most of the hosts heard (and this one, if its clock
        // can be right). All agree: every clock heard is, with the target.
        let (hosts, all_agree) = self.members.may_vote(own_host, decision.target_ms);
        let most = decision.agree * 2 > (hosts + usize::from(own_plausible)).max(decision.basis.voters());
        // A host whose own clock cannot be right has nothing to weigh the votes against: once on
        // a plausible time it moves only where most of the hosts heard agree, never after the
        // one or two the ring vouched for first (a wrong neighbour among them).
        let group_plausible = clock::plausible(self.clock.wall_ms().saturating_add(self.clock.offset_ms()));
        let may_move = own_plausible || most || all_agree || !group_plausible;
        let mut followed = Followed::default();
        if let Some(target) = decision.target_ms.filter(|_| may_move) {
            let jump = !self.holding.known() || !own_plausible;
            if let Some(by_ms) = self.clock.follow(target, jump, now, self.cfg.heartbeat) {
                followed.new_life = self.clock.shift(by_ms);
                let e = Event::Clock { skew_ms: self.clock.skew_ms(), cause: ClockCause::Group { by_ms } };
                self.out.push(Output::Event(e));
            }
        }
        // Known once most agree, or all: not while the clocks split, nor while the first ones
        // the ring vouches for could yet be outvoted by the others.
        followed.known = heard && (most || all_agree) && !self.holding.known();
        followed
    }
}
