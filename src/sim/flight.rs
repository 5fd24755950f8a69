//! What is on its way across the simulated LAN: datagrams, link frames and link events, each
//! with the time it arrives, taken in that order (ties in the order they were sent).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::proto::{LinkEnd, NodeId, Time};

/// What travels.
pub(super) enum What {
    /// A datagram to one receiver.
    Datagram {
        from: SocketAddr,
        bytes: Arc<[u8]>,
    },
    /// A multicast datagram: one entry for every receiver it reaches (with the life each was in
    /// when it was sent), so a group of N costs one entry per datagram, not N.
    Multicast {
        from: SocketAddr,
        bytes: Arc<[u8]>,
        to: Vec<(usize, u32)>,
    },
    LinkUp {
        peer: usize,
        peer_life: u32,
    },
    LinkFrame {
        peer: usize,
        bytes: Vec<u8>,
    },
    LinkEnd {
        peer: NodeId,
        end: LinkEnd,
    },
}

/// One thing on its way to node slot `to` (in its life `to_life`).
pub(super) struct InFlight {
    pub at: Time,
    pub order: u64,
    pub to: usize,
    pub to_life: u32,
    pub what: What,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

/// Everything on its way, soonest first.
#[derive(Default)]
pub(super) struct Flights {
    queue: BinaryHeap<Reverse<InFlight>>,
    /// Numbers what is sent, so equal arrival times keep the order of sending.
    order: u64,
}

impl Flights {
    /// Sends `what` to `to` (in its life `to_life`), arriving `at`.
    pub(super) fn push(&mut self, at: Time, to: usize, to_life: u32, what: What) {
        self.order += 1;
        self.queue.push(Reverse(InFlight { at, order: self.order, to, to_life, what }));
    }

    /// Sends again what waited (for a frozen node), arriving `at`, after everything sent before.
    pub(super) fn resend(&mut self, mut p: InFlight, at: Time) {
        p.at = at;
        self.order += 1;
        p.order = self.order;
        self.queue.push(Reverse(p));
    }

    /// When the next thing arrives, if anything is on its way.
    pub(super) fn next_at(&self) -> Option<Time> {
        self.queue.peek().map(|r| r.0.at)
    }

    /// The next thing to arrive by `now`, if any.
    pub(super) fn pop_due(&mut self, now: Time) -> Option<InFlight> {
        self.queue.peek().is_some_and(|r| r.0.at <= now).then(|| self.queue.pop().expect("peeked").0)
    }
}
