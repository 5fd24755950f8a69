//! What the user says before this node knows the group's clock.
//!
//! `Holding` owns whether the group's time is known yet and the lines said before it is (at most
//! `MAX_HELD`): a newcomer whose clock is wrong must not stamp its user's first messages with it,
//! so they wait, in order, until the clocks of the members linked with it are heard, or until
//! `clock_wait` has passed (alone, or the first).

use std::collections::VecDeque;

/// Lines held at most; one more sends them all at once, in order, before it.
pub(super) const MAX_HELD: usize = 1024;

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
