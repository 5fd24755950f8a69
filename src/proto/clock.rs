//! The node's hybrid logical clock, built on `uhlc`.
//!
//! `uhlc` reads time through a plain `fn() -> NTP64`. The core must not read a clock (so a
//! simulation can run many nodes on simulated time), so that function reads a thread-local cell
//! that `Clock` sets from the `now` it is given just before each use.

use std::cell::Cell;
use std::num::NonZeroU64;
use std::time::Duration;

use uhlc::{HLCBuilder, NTP64, Timestamp};

use super::types::{Hlc, NodeId, Time};

thread_local! {
    static NOW: Cell<NTP64> = const { Cell::new(NTP64(0)) };
}

fn given_time() -> NTP64 {
    NOW.with(|n| n.get())
}

pub struct Clock {
    hlc: uhlc::HLC,
}

/// A received timestamp too far ahead of local time: the frame is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TooFarAhead;

impl Clock {
    pub fn new(node: NodeId, max_ahead: Duration) -> Self {
        let id = uhlc::ID::from(NonZeroU64::new(node.0).unwrap_or(NonZeroU64::MIN));
        let hlc = HLCBuilder::new().with_id(id).with_clock(given_time).with_max_delta(max_ahead).build();
        Clock { hlc }
    }

    fn set(now: Time) {
        NOW.with(|n| n.set(NTP64::from(now.0)));
    }

    /// A fresh timestamp, later than any this clock issued or received.
    pub fn stamp(&self, now: Time) -> Hlc {
        Self::set(now);
        Hlc(self.hlc.new_timestamp().get_time().as_u64())
    }

    /// Advance past a received timestamp, unless it is too far ahead of `now`.
    pub fn observe(&self, now: Time, seen: Hlc, from: NodeId) -> Result<(), TooFarAhead> {
        Self::set(now);
        let id = uhlc::ID::from(NonZeroU64::new(from.0).unwrap_or(NonZeroU64::MIN));
        let ts = Timestamp::new(NTP64(seen.0), id);
        self.hlc.update_with_timestamp(&ts).map_err(|_| TooFarAhead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_780_000_000_000;

    #[test]
    fn stamps_increase_even_when_time_stands_still() {
        let c = Clock::new(NodeId(1), Duration::from_millis(500));
        let now = Time::from_millis(T0);
        let a = c.stamp(now);
        let b = c.stamp(now);
        assert!(b > a);
        assert!(c.stamp(Time::from_millis(T0 - 1000)) > b, "a clock step back never goes back");
    }

    #[test]
    fn received_stamps_push_the_clock_forward() {
        let c = Clock::new(NodeId(1), Duration::from_millis(500));
        let now = Time::from_millis(T0);
        let ahead = Hlc(NTP64::from(Duration::from_millis(T0 + 300)).as_u64());
        assert_eq!(c.observe(now, ahead, NodeId(2)), Ok(()));
        assert!(c.stamp(now) > ahead);
    }

    #[test]
    fn stamps_too_far_ahead_are_refused() {
        let c = Clock::new(NodeId(1), Duration::from_millis(500));
        let now = Time::from_millis(T0);
        let far = Hlc(NTP64::from(Duration::from_millis(T0 + 800)).as_u64());
        assert_eq!(c.observe(now, far, NodeId(2)), Err(TooFarAhead));
        assert!(c.stamp(now) < far, "a refused stamp does not move the clock");
    }
}
