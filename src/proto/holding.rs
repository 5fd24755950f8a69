//! What the user says before this node knows the group's clock.
//!
//! `Holding` owns whether the group's time is known yet and the lines said before it is (at most
//! `MAX_HELD`): a newcomer whose clock is wrong must not stamp its user's first messages with it,
//! so they wait, in order, until most of the clocks the ring vouches for agree, or until the wait
//! for them runs out: `clock_wait` when no one is heard (alone, or the first), a few heartbeats
//! when peers are (the ring's reports of who is in it take a heartbeat to come round).

use std::collections::VecDeque;
use std::time::Duration;

/// Lines held at most; one more sends them all at once, in order, before it.
pub(super) const MAX_HELD: usize = 1024;
/// Heartbeat intervals a newcomer that hears peers waits, at most, for most of their clocks to
/// agree (two neighbours that disagree are no majority; the rest of the ring's come a heartbeat
/// later).
const HEARD_WAIT_BEATS: u32 = 4;

/// Whether the group's clock is known, and what was said before it was.
pub(super) struct Holding {
    known: bool,
    said: VecDeque<String>,
}

impl Holding {
    /// Known from the start when there is nothing to wait for (`known`: a one-shot sender).
    pub(super) fn new(known: bool) -> Self {
        Holding { known, said: VecDeque::new() }
    }

    /// Whether the group's clock is known.
    pub(super) fn known(&self) -> bool {
        self.known
    }

    /// Whether the wait for the group's clock is over: `waited` since start, `clock_wait` when
    /// no peer is `heard`, else `HEARD_WAIT_BEATS` of the heartbeat interval `beat`.
    pub(super) fn waited_enough(&self, waited: Duration, heard: bool, clock_wait: Duration, beat: Duration) -> bool {
        let wait = if heard { clock_wait.max(beat * HEARD_WAIT_BEATS) } else { clock_wait };
        !self.known && waited >= wait
    }

    /// Holds a line said before the clock is known; false when there is no room (or no need).
    pub(super) fn hold(&mut self, text: String) -> Option<String> {
        if self.known || self.said.len() >= MAX_HELD {
            return Some(text);
        }
        self.said.push_back(text);
        None
    }

    /// The clock is known: what was held, in the order said.
    pub(super) fn release(&mut self) -> VecDeque<String> {
        self.known = true;
        std::mem::take(&mut self.said)
    }
}
