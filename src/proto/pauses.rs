//! Pauses of this node's own: when it last took input, when it last stalled (starved, or
//! stopped for less than a pause), and when it last came back from a pause.
//!
//! `Pauses` owns those instants. A silence the node sees right after one of its own says nothing
//! about its peers: what waited in its sockets meanwhile must be taken in first, and the peers
//! may have given up on it while it was away.

use std::time::Duration;

use super::types::Time;

/// What the gap before an input showed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Gap {
    /// Longer than two link pings: the node stalled, and its links' silence meanwhile was its own.
    pub stalled: bool,
    /// Longer than a pause: the node was stopped, and its peers' silence was its own.
    pub paused: bool,
}

/// This node's own stalls and pauses.
pub(super) struct Pauses {
    /// The monotonic instant of the latest input.
    last_input: Time,
    /// The latest input that came after a stall (see `Gap::stalled`).
    stalled_at: Option<Time>,
    /// When this node last came back from a pause.
    resumed_at: Option<Time>,
    /// A gap longer than this is a stall.
    stall: Duration,
    /// A gap longer than this is a pause (longer than the driver ever waits between timer calls).
    pause: Duration,
    /// For this long after a pause, what arrives was mostly sent during it.
    settle: Duration,
}

impl Pauses {
    /// Pauses as seen from `now`, with links pinged every `link_ping` and heartbeats every
    /// `heartbeat`.
    pub(super) fn new(now: Time, link_ping: Duration, heartbeat: Duration) -> Self {
        Pauses {
            last_input: now,
            stalled_at: None,
            resumed_at: None,
            stall: link_ping * 2,
            pause: (heartbeat * 2).max(Duration::from_millis(1500)),
            settle: link_ping * 4 + heartbeat,
        }
    }

    /// An input at `now` (never before the last one): the instant the core counts it at, and
    /// what the gap before it showed.
    pub(super) fn enter(&mut self, now: Time) -> (Time, Gap) {
        let t = now.max(self.last_input);
        let gap = t.since(self.last_input);
        let seen = Gap { stalled: gap > self.stall, paused: gap > self.pause };
        if seen.stalled {
            self.stalled_at = Some(t);
        }
        if seen.paused {
            self.resumed_at = Some(t);
        }
        self.last_input = t;
        (t, seen)
    }

    /// The monotonic instant of the latest input.
    pub(super) fn last_input(&self) -> Time {
        self.last_input
    }

    /// Shortly after a pause of our own, what arrives was mostly sent during it (heartbeats that
    /// waited in the socket, links our peers closed on us): it says nothing about the peers'
    /// clocks or health now.
    pub(super) fn just_resumed(&self, now: Time) -> bool {
        self.resumed_at.is_some_and(|t| now.since(t) < self.settle)
    }

    /// This node took no input for longer than two link pings a moment ago (stopped, or
    /// starved): the silence its peers saw on its links was its own.
    pub(super) fn was_away(&self, now: Time) -> bool {
        self.stalled_at.is_some_and(|t| now.since(t) < self.settle) || self.just_resumed(now)
    }

    /// This node has been taking input all along lately (not stopped or starved, even briefly):
    /// a silence it sees now is the peer's, not its own. After a stall it is not, for a link
    /// ping (half a stall): the frames that waited in its sockets meanwhile (read one wake-up at
    /// a time, the ring links' after the group's) must be taken in before a silence is judged.
    pub(super) fn listening(&self, now: Time) -> bool {
        self.stalled_at.is_none_or(|t| now.since(t) > self.stall / 2) && !self.just_resumed(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_and_a_pause_are_told_apart_and_each_passes() {
        let t = |ms| Time::from_millis(ms);
        let mut p = Pauses::new(t(0), Duration::from_millis(200), Duration::from_millis(500));
        assert_eq!(p.enter(t(100)).1, Gap::default());
        assert!(p.listening(t(100)));
        assert_eq!(p.enter(t(600)).1, Gap { stalled: true, paused: false });
        assert!(!p.listening(t(650)), "a stall: the sockets' backlog first");
        assert!(p.listening(t(801)));
        assert_eq!(p.enter(t(3_000)).1, Gap { stalled: true, paused: true });
        assert!(p.just_resumed(t(3_500)) && !p.listening(t(3_500)));
        assert!(!p.just_resumed(t(4_400)) && p.listening(t(4_400)));
        assert_eq!(p.enter(t(2_000)).0, t(3_000), "time never runs back");
    }
}
