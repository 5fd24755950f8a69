//! Every node's next deadline, in a heap, so a step of the simulation does not ask every node
//! (most inputs do not move a node's deadline, and a group may be 1,000 nodes).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::proto::Time;

/// Deadlines by node slot.
#[derive(Default)]
pub(super) struct Alarms {
    /// Each node's next deadline as last noted, with the noting's number: an entry whose number
    /// is not the node's latest is stale and skipped.
    heap: BinaryHeap<Reverse<(Time, usize, u64)>>,
    /// The latest noting's number, per node.
    latest: Vec<u64>,
    /// The deadline of each node's valid entry, if it has one.
    at: Vec<Option<Time>>,
}

impl Alarms {
    /// A new node slot, with no deadline.
    pub(super) fn add(&mut self) {
        self.latest.push(0);
        self.at.push(None);
    }

    /// Node `i`'s deadline is now `at` (`None`: it has none, as when it is not running).
    pub(super) fn set(&mut self, i: usize, at: Option<Time>) {
        if at == self.at[i] {
            return; // its entry stands
        }
        self.latest[i] += 1;
        self.at[i] = at;
        if let Some(at) = at {
            self.heap.push(Reverse((at, i, self.latest[i])));
        }
    }

    /// The earliest deadline of a node that is `running`, stale entries dropped on the way.
    pub(super) fn next(&mut self, running: impl Fn(usize) -> bool) -> Option<Time> {
        while let Some(&Reverse((at, i, g))) = self.heap.peek() {
            if g == self.latest[i] && running(i) {
                return Some(at);
            }
            if g == self.latest[i] {
                self.at[i] = None;
            }
            self.heap.pop();
        }
        None
    }

    /// Takes the earliest entry (which `next` has just said is valid): its node is due.
    pub(super) fn take_next(&mut self) -> usize {
        let Reverse((_, i, _)) = self.heap.pop().expect("a deadline");
        self.at[i] = None;
        i
    }
}
