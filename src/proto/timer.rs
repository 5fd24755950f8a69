//! The core's timers in one table, each named, each an optional monotonic deadline: what
//! `Node::next_deadline` reports and `Node::handle_timer` serves.

use std::time::Duration;

use super::types::Time;

/// A named timer of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The next announce or heartbeat.
    Heartbeat,
    /// Failure detectors, the ring and the settled mark are looked at.
    Check,
    /// Digests to the ring neighbours; holes of gone origins are closed.
    Sync,
    /// Where this node stands, told to the group soon after it holds news (`Body::Ack`).
    Ack,
}

impl Timer {
    const ALL: [Timer; 4] = [Timer::Heartbeat, Timer::Check, Timer::Sync, Timer::Ack];

    /// How much early the timer's work may be done when the node is awake anyway (a datagram
    /// or a link frame came), rather than waking it again a moment later: heartbeats a little
    /// (intervals shrink by at most this; silences are never judged early), checks and digests
    /// more, an ack not at all. So an idle node's own chores ride on what it hears.
    pub(super) fn slack(self) -> Duration {
        Duration::from_millis(match self {
            Timer::Heartbeat => 20,
            Timer::Check => 150,
            Timer::Sync => 300,
            Timer::Ack => 0,
        })
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// When each timer fires next, if it is set.
#[derive(Clone, Debug, Default)]
pub(super) struct TimerTable {
    at: [Option<Time>; Timer::ALL.len()],
}

impl TimerTable {
    /// A new node's timers: its first heartbeat, check and digests are due at once (`now`).
    pub(super) fn starting(now: Time) -> Self {
        let mut t = TimerTable::default();
        for timer in [Timer::Heartbeat, Timer::Check, Timer::Sync] {
            t.set(timer, now);
        }
        t
    }

    /// Sets `timer` to fire at `at`, replacing any earlier setting.
    pub(super) fn set(&mut self, timer: Timer, at: Time) {
        self.at[timer.slot()] = Some(at);
    }

    /// The node left: no more heartbeats, digests or acks (checks go on, until the end).
    pub(super) fn left(&mut self) {
        for timer in [Timer::Heartbeat, Timer::Sync, Timer::Ack] {
            self.stop(timer);
        }
    }

    /// Unsets `timer`: it will not fire.
    pub(super) fn stop(&mut self, timer: Timer) {
        self.at[timer.slot()] = None;
    }

    /// When `timer` fires next, if it is set.
    pub(super) fn get(&self, timer: Timer) -> Option<Time> {
        self.at[timer.slot()]
    }

    /// Whether `timer` is set and its time has come.
    pub(super) fn is_due(&self, timer: Timer, now: Time) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Whether `timer` is set and due within its slack of `now` (see `Timer::slack`).
    pub(super) fn is_due_soon(&self, timer: Timer, now: Time) -> bool {
        self.get(timer).is_some_and(|at| at <= now + timer.slack())
    }

    /// Whether any timer is due within its slack of `now`, or any of `others` is due by then.
    pub(super) fn any_due_soon(&self, now: Time, others: impl IntoIterator<Item = Time>) -> bool {
        Timer::ALL.iter().any(|t| self.is_due_soon(*t, now)) || others.into_iter().any(|d| d <= now)
    }

    /// The earliest deadline of all.
    pub(super) fn next(&self) -> Option<Time> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_set_timer_is_next_and_stopped_ones_never_fire() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Sync, Time::from_millis(300));
        t.set(Timer::Heartbeat, Time::from_millis(100));
        assert_eq!(t.next(), Some(Time::from_millis(100)));
        assert!(t.is_due(Timer::Heartbeat, Time::from_millis(100)));
        assert!(!t.is_due(Timer::Sync, Time::from_millis(100)));
        t.stop(Timer::Heartbeat);
        assert!(!t.is_due(Timer::Heartbeat, Time::from_millis(1_000)));
        assert_eq!(t.next(), Some(Time::from_millis(300)));
    }
}
