//! Verdicts held against this node's own link: down notices, leaves and silent-link claims
//! about a peer whose ring link with us still speaks, and peers whose link went silent while
//! their heartbeats still came.
//!
//! `Verdicts` owns that state. A word about a ring neighbour from anyone else (a notice that it
//! is down, a leave in its name, another neighbour's claim that its link went silent) is not
//! believed while our own link hears the peer: it is held here, and believed only if our link
//! agrees soon (it breaks, says goodbye, or goes silent too). What is not confirmed in time is
//! dropped, and a held leave that is dropped was forged. Everything is bounded and forgotten
//! after `MEMORY`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::membership::Header;
use super::{DownReason, Incarnation, NodeId, Time};

/// A held word is believed if our own link agrees this soon, and forgotten after.
pub(super) const MEMORY: Duration = Duration::from_secs(2);
/// A peer found silent that speaks again this soon was not frozen: only its links failed.
const ANSWERED_WITHIN: Duration = Duration::from_secs(1);
/// For this long after, its links' silence is no verdict on their own (see `links_failed`).
const LINKS_DOUBTED_FOR: Duration = Duration::from_secs(60);
/// Words held at most, of each kind.
const MAX_HELD: usize = 64;

/// What this node holds against its own links' word, and the links it watches.
#[derive(Default)]
pub(super) struct Verdicts {
    /// Down notices about a peer our link still heard: the life and reason, and when.
    notices: BTreeMap<NodeId, (Incarnation, DownReason, Time)>,
    /// Leaves in the name of a peer our link still heard, where they came from, and when.
    leaves: BTreeMap<NodeId, (Header, SocketAddr, Time)>,
    /// Another neighbour's word that its link to the peer went silent: the life, and when.
    claims: BTreeMap<NodeId, (Incarnation, Time)>,
    /// Peers whose link to us went silent while their heartbeats still came, and since when.
    silent: BTreeMap<NodeId, Time>,
    /// Peers found silent (frozen or cut off, as their links said), and when.
    silenced: BTreeMap<NodeId, Time>,
    /// Peers found silent that spoke again at once, and when: their links fail, they do not.
    doubted: BTreeMap<NodeId, Time>,
    /// Peers shown down that spoke again, and when.
    back: BTreeMap<NodeId, Time>,
}

impl Verdicts {
    /// Holds a down notice about `node` (life `inc`, for `reason`).
    pub(super) fn hold_notice(&mut self, node: NodeId, inc: Incarnation, reason: DownReason, now: Time) {
        self.notices.retain(|_, (_, _, at)| now.since(*at) < MEMORY);
        if self.notices.len() < MAX_HELD || self.notices.contains_key(&node) {
            self.notices.insert(node, (inc, reason, now));
        }
    }

    /// The notice held about `node`, if one came lately: our link agrees with it now.
    pub(super) fn take_notice(&mut self, node: NodeId, now: Time) -> Option<(Incarnation, DownReason)> {
        let (inc, reason, at) = self.notices.remove(&node)?;
        (now.since(at) < MEMORY).then_some((inc, reason))
    }

    /// Holds a leave in `f.sender`'s name, heard from `from`.
    pub(super) fn hold_leave(&mut self, f: Header, from: SocketAddr, now: Time) {
        if self.leaves.len() < MAX_HELD || self.leaves.contains_key(&f.sender) {
            self.leaves.insert(f.sender, (f, from, now));
        }
    }

    /// Whether a leave in `node`'s name is held.
    pub(super) fn holds_leave(&self, node: NodeId) -> bool {
        self.leaves.contains_key(&node)
    }

    /// The leave held in `node`'s name, if one came lately: its link ended, so it was real.
    pub(super) fn take_leave(&mut self, node: NodeId, now: Time) -> Option<(Header, SocketAddr)> {
        let (f, from, at) = self.leaves.remove(&node)?;
        (now.since(at) < MEMORY).then_some((f, from))
    }

    /// Leaves held for longer than `MEMORY` while the link lived on: forged. Forgotten, and
    /// how many returned, so they are counted.
    pub(super) fn forged_leaves(&mut self, now: Time) -> u64 {
        let before = self.leaves.len();
        self.leaves.retain(|_, (_, _, at)| now.since(*at) < MEMORY);
        (before - self.leaves.len()) as u64
    }

    /// Holds another neighbour's claim that its link to `node` went silent.
    pub(super) fn hold_claim(&mut self, node: NodeId, inc: Incarnation, now: Time) {
        self.claims.retain(|_, (_, at)| now.since(*at) < MEMORY);
        if self.claims.len() < MAX_HELD || self.claims.contains_key(&node) {
            self.claims.insert(node, (inc, now));
        }
    }

    /// The claim held about `node`, if one came lately: our link went silent too.
    pub(super) fn take_claim(&mut self, node: NodeId, now: Time) -> Option<Incarnation> {
        let (inc, at) = self.claims.remove(&node)?;
        (now.since(at) < MEMORY).then_some(inc)
    }

    /// `node` was heard again (it came back, or a suspicion was cleared): a notice held
    /// against it is spent.
    pub(super) fn notice_spent(&mut self, node: NodeId) {
        self.notices.remove(&node);
    }

    /// Watches `node`, whose link went silent while its heartbeats still came.
    pub(super) fn watch_silent(&mut self, node: NodeId, now: Time) {
        if self.silent.len() < MAX_HELD {
            self.silent.insert(node, now);
        }
    }

    /// Stops watching `node`.
    pub(super) fn unwatch(&mut self, node: NodeId) {
        self.silent.remove(&node);
    }

    /// `node` was found silent at `now` (by us or a neighbour's notice).
    pub(super) fn silenced(&mut self, node: NodeId, now: Time) {
        self.silenced.retain(|_, t| now.since(*t) < ANSWERED_WITHIN);
        if self.silenced.len() < MAX_HELD {
            self.silenced.insert(node, now);
        }
    }

    /// `node` came back from down at `now` (see `just_back`), and so it spoke.
    pub(super) fn back(&mut self, node: NodeId, now: Time) {
        self.back.retain(|_, t| now.since(*t) < ANSWERED_WITHIN);
        if self.back.len() < MAX_HELD {
            self.back.insert(node, now);
        }
        self.spoke(node, now);
    }

    /// `node` spoke on the group at `now`: a down notice held against it is spent. If it was
    /// found silent just before, it was never
    /// frozen (a frozen process answers nothing for as long as it is stopped): its ring links
    /// failed while it went on, and for a while they are no witness against it.
    pub(super) fn spoke(&mut self, node: NodeId, now: Time) {
        // A notice held against it is disproved: it spoke after it.
        self.notices.remove(&node);
        if self.silenced.is_empty() {
            return;
        }
        if self.silenced.remove(&node).is_some_and(|t| now.since(t) < ANSWERED_WITHIN) {
            self.doubted.retain(|_, t| now.since(*t) < LINKS_DOUBTED_FOR);
            if self.doubted.len() < MAX_HELD {
                self.doubted.insert(node, now);
            }
        }
    }

    /// `node` says it was stopped: its silence was its own, and its links are witnesses again.
    pub(super) fn was_stopped(&mut self, node: NodeId) {
        self.doubted.remove(&node);
        self.silenced.remove(&node);
    }

    /// Whether `node` came back from down within the last second: copies of the notice that
    /// put it down, still on their way, are not news.
    pub(super) fn just_back(&self, node: NodeId, now: Time) -> bool {
        self.back.get(&node).is_some_and(|t| now.since(*t) < ANSWERED_WITHIN)
    }

    /// Whether `node`'s ring links failed lately while it went on speaking (see `spoke`).
    pub(super) fn links_failed(&self, node: NodeId, now: Time) -> bool {
        self.doubted.get(&node).is_some_and(|t| now.since(*t) < LINKS_DOUBTED_FOR)
    }

    /// Since when `node` is watched, if it is.
    pub(super) fn watched_since(&self, node: NodeId) -> Option<Time> {
        self.silent.get(&node).copied()
    }

    /// The peers watched, and since when.
    pub(super) fn watched(&self) -> impl Iterator<Item = (NodeId, Time)> + '_ {
        self.silent.iter().map(|(p, t)| (*p, *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Hlc, Seq};

    #[test]
    fn a_held_word_counts_only_while_it_is_fresh() {
        let mut v = Verdicts::default();
        let t = Time::from_millis(10_000);
        v.hold_notice(NodeId(2), Incarnation(1), DownReason::Silent, t);
        assert_eq!(
            v.take_notice(NodeId(2), t + Duration::from_millis(500)),
            Some((Incarnation(1), DownReason::Silent))
        );
        assert_eq!(v.take_notice(NodeId(2), t), None, "taken once");
        v.hold_claim(NodeId(3), Incarnation(1), t);
        assert_eq!(v.take_claim(NodeId(3), t + MEMORY), None, "too late");
        let leave = Header { sender: NodeId(4), incarnation: Incarnation(1), seq: Seq(9), hlc: Hlc(0) };
        let from = SocketAddr::from(([10, 0, 0, 4], 12345));
        v.hold_leave(leave, from, t);
        assert_eq!(v.forged_leaves(t + Duration::from_millis(100)), 0);
        assert_eq!(v.forged_leaves(t + MEMORY), 1, "its link lived on: forged");
        assert_eq!(v.take_leave(NodeId(4), t + MEMORY), None);
        v.hold_leave(leave, from, t);
        assert_eq!(v.take_leave(NodeId(4), t + Duration::from_millis(30)), Some((leave, from)), "its link ended: real");
    }

    #[test]
    fn what_is_held_stays_bounded() {
        let mut v = Verdicts::default();
        let t = Time::from_millis(10_000);
        for n in 0..1_000 {
            v.hold_notice(NodeId(n), Incarnation(1), DownReason::Crashed, t);
            v.hold_claim(NodeId(n), Incarnation(1), t);
            v.watch_silent(NodeId(n), t);
        }
        assert_eq!((v.notices.len(), v.claims.len(), v.silent.len()), (MAX_HELD, MAX_HELD, MAX_HELD));
    }
}
