//! Heartbeats: the burst of announces a node starts with, and how often it heartbeats after.
//!
//! `Beats` owns when the node started, how many announces it has sent, and the interval it keeps.
//! Up to `PACED_ABOVE_HOSTS` hosts a node heartbeats at the configured interval; in a larger group
//! the interval grows in proportion, so the heartbeats each node hears a second stay at most this
//! many per interval configured (40 a second with the default 500 ms), however large the group.
//! Failures of ring neighbours are still caught by the links' pings, and a node's silence on the
//! group is judged against the interval it last said it keeps.

use std::time::Duration;

use super::outbox::Tx;
use super::wire::{Beat, Body};
use super::{Hlc, NodeId, Time};

/// Announces sent at start, at these offsets, so peers list a newcomer at once even if one is lost.
const ANNOUNCE_OFFSETS_MS: [u64; 3] = [0, 30, 90];
/// See the module's doc.
const PACED_ABOVE_HOSTS: usize = 20;
/// The heartbeat interval grows by at most this factor from one heartbeat to the next.
const GROWTH: f64 = 1.5;
/// The longest heartbeat interval, however large the group.
const LONGEST: Duration = Duration::from_secs(60);
/// How often the failure detectors and the settled marks are looked at between heartbeats. The
/// ring is looked at when its links want it (`tending::deadline`) or the members changed.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(250);
/// In a paced group, whose silences are judged against slower heartbeats, checks come in
/// proportion to the pace, up to this far apart: each walks the whole peer table, a thousand
/// peers at a thousand members.
const CHECK_EVERY_PACED_MAX: Duration = Duration::from_secs(2);

/// The node's announces and heartbeat interval.
pub(super) struct Beats {
    started: Time,
    announces_sent: usize,
    /// The configured interval.
    base: Duration,
    /// The interval in force.
    every: Duration,
}

impl Beats {
    /// A node started at `now`, configured to heartbeat every `base`.
    pub(super) fn new(now: Time, base: Duration) -> Self {
        Beats { started: now, announces_sent: 0, base, every: base }
    }

    /// How often this node heartbeats now: the configured interval, longer in a large group, and
    /// never over a minute. It grows by at most half from one heartbeat to the next, so a peer
    /// that missed the heartbeat saying so is not taken aback by the longer silence (it shrinks
    /// at once: a shorter one alarms no one).
    pub(super) fn interval(&self) -> Duration {
        self.every
    }

    /// When the node started.
    pub(super) fn started(&self) -> Time {
        self.started
    }

    /// How often the detectors and the settled marks are looked at: `CHECK_EVERY`, longer in
    /// proportion in a paced group (up to `CHECK_EVERY_PACED_MAX`).
    pub(super) fn check_every(&self) -> Duration {
        let stretch = self.every.as_secs_f64() / self.base.as_secs_f64();
        CHECK_EVERY.mul_f64(stretch.max(1.0)).min(CHECK_EVERY_PACED_MAX)
    }

    /// The interval a group of `hosts` hosts (this one among them) calls for, with `base`
    /// configured.
    pub(super) fn paced(base: Duration, hosts: usize) -> Duration {
        let stretch = (hosts as f64 / PACED_ABOVE_HOSTS as f64).max(1.0);
        base.mul_f64(stretch).min(LONGEST).max(base)
    }

    /// A heartbeat (or announce) is due: takes the interval `want` the group calls for (growing
    /// by at most half), and says whether this one is an announce and when the next is due.
    pub(super) fn due(&mut self, want: Duration, now: Time) -> (bool, Time) {
        self.every = want.min(self.every.mul_f64(GROWTH));
        let announce = self.announces_sent < ANNOUNCE_OFFSETS_MS.len();
        if announce {
            self.announces_sent += 1;
        }
        let next = match ANNOUNCE_OFFSETS_MS.get(self.announces_sent) {
            Some(&ms) => self.started + Duration::from_millis(ms),
            None => now + self.every,
        };
        (announce, next)
    }
}

/// What a heartbeat says besides the clock: the sender's name, ring port, frontier and what it
/// hears on its ring links.
pub(super) struct Said {
    pub name: String,
    pub tcp_port: u16,
    pub frontier: Hlc,
    pub links: Vec<(NodeId, u32)>,
    /// Back from being stopped a moment ago.
    pub resumed: bool,
}

/// Multicasts a heartbeat (or an announce) through `tx`, with the interval `every`.
pub(super) fn send(tx: &mut Tx, said: Said, every: Duration, announce: bool) {
    let beat = Beat {
        time_ms: tx.clock.group_now().as_millis().min(u128::from(u64::MAX)) as u64,
        skew_ms: tx.clock.skew_ms(),
        name: said.name,
        msg_seq: tx.out.msg_seq(),
        interval_ms: every.as_millis().min(u128::from(u32::MAX)) as u32,
        tcp_port: said.tcp_port,
        frontier: said.frontier,
        links: said.links,
        resumed: said.resumed,
    };
    tx.send(if announce { Body::Announce(beat) } else { Body::Heartbeat(beat) });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_announces_then_heartbeats_that_grow_by_half_at_most() {
        let t = |ms| Time::from_millis(ms);
        let mut b = Beats::new(t(0), Duration::from_millis(500));
        let base = Duration::from_millis(500);
        assert_eq!(b.due(base, t(0)), (true, t(30)));
        assert_eq!(b.due(base, t(30)), (true, t(90)));
        assert_eq!(b.due(base, t(90)), (true, t(590)));
        assert_eq!(b.due(base, t(590)), (false, t(1_090)));
        assert_eq!(Beats::paced(base, 100), Duration::from_millis(2_500));
        assert_eq!(Beats::paced(base, 10), base);
        b.due(Beats::paced(base, 100), t(1_090));
        assert_eq!(b.interval(), Duration::from_millis(750), "by half at most");
        b.due(base, t(2_000));
        assert_eq!(b.interval(), base, "and back at once");
    }
}
