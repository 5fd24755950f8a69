//! The core's timers in one table, each named, each an optional monotonic deadline: what
//! `Node::next_deadline` reports and `Node::handle_timer` serves.

use super::types::Time;

/// A named timer of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
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

    fn slot(self) -> usize {
        self as usize
    }
}

/// When each timer fires next, if it is set.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    at: [Option<Time>; Timer::ALL.len()],
}

impl TimerTable {
    /// Sets `timer` to fire at `at`, replacing any earlier setting.
    pub fn set(&mut self, timer: Timer, at: Time) {
        self.at[timer.slot()] = Some(at);
    }

    /// Unsets `timer`: it will not fire.
    pub fn stop(&mut self, timer: Timer) {
        self.at[timer.slot()] = None;
    }

    /// When `timer` fires next, if it is set.
    pub fn get(&self, timer: Timer) -> Option<Time> {
        self.at[timer.slot()]
    }

    /// Whether `timer` is set and its time has come.
    pub fn is_due(&self, timer: Timer, now: Time) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Whether `timer` is set and due within `slack` of `now`: work that may be done a little
    /// early rides on a wake-up that happens anyway, rather than waking the node again.
    pub fn is_due_within(&self, timer: Timer, now: Time, slack: std::time::Duration) -> bool {
        self.get(timer).is_some_and(|at| at <= now + slack)
    }

    /// The earliest deadline of all.
    pub fn next(&self) -> Option<Time> {
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
