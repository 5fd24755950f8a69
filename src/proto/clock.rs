//! The node's sense of time. Timers count in monotonic `Time`; stamps come from a hybrid logical
//! clock (HLC) that runs on *group time*: this host's wall clock plus an offset.
//!
//! The offset keeps stamps sane when wall clocks are not: a wall-clock step (an NTP step, a
//! resume from suspend) is seen as the wall moving apart from the monotonic clock and is taken
//! into the offset at once, so group time runs on without a jump; and a host whose clock is far
//! from the group's (the median of its peers' clocks, see `Node`) shifts its offset to the
//! group's. Received stamps push the HLC forward, but never more than `cap` past group time, so
//! one wrong clock cannot drag a node's stamps into the future. Nothing is ever refused for a
//! clock reason.
//!
//! The HLC value is NTP64 (32 bits of seconds, 32 of fraction) with the low four bits as the
//! logical counter; it is a pure type of this crate, fed only the readings it is given.

use std::time::Duration;

use super::types::{Hlc, Now};

/// A wall clock that moves apart from the monotonic one by more than this between two readings
/// has been stepped.
pub const STEP_TOLERANCE: Duration = Duration::from_secs(1);

/// Group time and the HLC that stamps this node's messages.
pub struct Clock {
    /// Nanoseconds added to the wall clock to make group time.
    offset_ns: i64,
    /// The previous reading, to see wall-clock steps.
    anchor: Option<Now>,
    /// Group time at the latest reading.
    group: Duration,
    /// The latest stamp issued or absorbed.
    last: Hlc,
    /// Received stamps are absorbed at most this far past group time.
    cap: Duration,
}

fn add_ns(d: Duration, ns: i64) -> Duration {
    let total = d.as_nanos() as i128 + i128::from(ns);
    Duration::from_nanos(total.clamp(0, i128::from(u64::MAX)) as u64)
}

impl Clock {
    /// A clock on the host's wall clock as read at `now`, absorbing received stamps at most `cap` ahead.
    pub fn new(now: Now, cap: Duration) -> Self {
        Clock { offset_ns: 0, anchor: Some(now), group: now.wall, last: Hlc(0), cap }
    }

    /// Takes a reading. Returns the step, in milliseconds, if the wall clock jumped against the
    /// monotonic clock since the last reading; group time goes on as if it had not.
    pub fn advance(&mut self, now: Now) -> Option<i64> {
        let mut step = None;
        if let Some(prev) = self.anchor
            && now.mono >= prev.mono
        {
            let expected = prev.wall + now.mono.since(prev.mono);
            let drift = now.wall.as_nanos() as i128 - expected.as_nanos() as i128;
            if drift.unsigned_abs() > STEP_TOLERANCE.as_nanos() {
                let drift = drift.clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64;
                self.offset_ns = self.offset_ns.saturating_sub(drift);
                step = Some(drift / 1_000_000);
            }
        }
        self.anchor = Some(now);
        self.group = add_ns(now.wall, self.offset_ns);
        step
    }

    /// Group time at the latest reading, as time since the UNIX epoch.
    pub fn group_now(&self) -> Duration {
        self.group
    }

    /// The physical HLC time of the latest reading (no logical part, nothing absorbed).
    pub fn now_hlc(&self) -> Hlc {
        Hlc::from_unix(self.group)
    }

    /// How far this host's wall clock is from group time (wall minus group), in milliseconds.
    pub fn skew_ms(&self) -> i64 {
        -self.offset_ns / 1_000_000
    }

    /// A fresh stamp, later than any this clock issued or absorbed.
    pub fn stamp(&mut self) -> Hlc {
        let pt = self.now_hlc();
        self.last = if pt > self.last { pt } else { Hlc(self.last.0.saturating_add(1)) };
        self.last
    }

    /// Moves past a received stamp, but never more than `cap` past group time. Returns true if
    /// the stamp was further ahead than that (it is still accepted; only the clock is held).
    pub fn observe(&mut self, seen: Hlc) -> bool {
        let limit = Hlc::from_unix(self.group + self.cap);
        self.last = self.last.max(seen.min(limit));
        seen > limit
    }

    /// Shifts group time by `by_ms` (to agree with the group). Returns true if stamps already
    /// issued are now in the future: the clock then starts over from the new group time, and
    /// the caller must start a new life so no one mistakes the later, smaller stamps for old ones.
    pub fn shift(&mut self, by_ms: i64) -> bool {
        self.offset_ns = self.offset_ns.saturating_add(by_ms.saturating_mul(1_000_000));
        self.group = add_ns(self.group, by_ms.saturating_mul(1_000_000));
        let behind = Hlc::from_unix(self.group + self.cap) < self.last;
        if behind {
            self.last = self.now_hlc();
        }
        behind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::Time;

    const T0: u64 = 1_780_000_000_000;

    fn reading(mono_ms: u64, wall_ms: u64) -> Now {
        Now { mono: Time::from_millis(mono_ms), wall: Duration::from_millis(wall_ms) }
    }

    fn clock() -> Clock {
        Clock::new(reading(0, T0), Duration::from_millis(500))
    }

    #[test]
    fn hlc_round_trips_physical_time() {
        let d = Duration::from_millis(T0 + 123);
        let back = Hlc::from_unix(d).to_unix();
        assert!(d.abs_diff(back) < Duration::from_micros(1), "{d:?} vs {back:?}");
    }

    #[test]
    fn stamps_increase_even_when_time_stands_still() {
        let mut c = clock();
        let a = c.stamp();
        let b = c.stamp();
        assert!(b > a);
        c.advance(reading(10, T0 + 10));
        assert!(c.stamp() > b);
    }

    #[test]
    fn a_wall_clock_step_is_seen_and_group_time_runs_on() {
        let mut c = clock();
        c.advance(reading(1_000, T0 + 1_000));
        let before = c.stamp();
        // One hour forward on the wall, one second on the monotonic clock.
        assert_eq!(c.advance(reading(2_000, T0 + 2_000 + 3_600_000)), Some(3_600_000));
        assert_eq!(c.group_now(), Duration::from_millis(T0 + 2_000));
        assert_eq!(c.skew_ms(), 3_600_000);
        let after = c.stamp();
        assert!(after > before && after.to_unix() < Duration::from_millis(T0 + 2_100));
        // And back again: nothing moves backwards.
        assert_eq!(c.advance(reading(3_000, T0 + 3_000)), Some(-3_600_000));
        assert_eq!(c.group_now(), Duration::from_millis(T0 + 3_000));
        assert_eq!(c.skew_ms(), 0);
        // Ordinary drift is not a step.
        assert_eq!(c.advance(reading(4_000, T0 + 4_200)), None);
    }

    #[test]
    fn received_stamps_push_the_clock_forward_up_to_the_cap() {
        let mut c = clock();
        let near = Hlc::from_unix(Duration::from_millis(T0 + 300));
        assert!(!c.observe(near));
        assert!(c.stamp() > near);
        let far = Hlc::from_unix(Duration::from_millis(T0 + 3_600_000));
        assert!(c.observe(far), "held, but accepted");
        let s = c.stamp();
        assert!(s < far && s.to_unix() <= Duration::from_millis(T0 + 501), "{:?}", s.to_unix());
    }

    #[test]
    fn shifting_back_past_issued_stamps_starts_over() {
        let mut c = clock();
        c.stamp();
        assert!(!c.shift(200), "forward never needs a new life");
        assert!(c.shift(-600_000), "ten minutes back");
        assert_eq!(c.skew_ms(), 600_000 - 200);
        let s = c.stamp();
        assert!(s.to_unix() < Duration::from_millis(T0 - 590_000));
    }
}
