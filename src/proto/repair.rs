//! Anti-entropy and settled marks: digests to ring neighbours, repairs passed on around the
//! ring, gaps reported, and the frontier every live member has passed.

use std::net::SocketAddr;

use super::wire::{Body, Digest, Entries};
use super::{Event, HOLE_GRACE, Hlc, Name, Node, NodeId, Time};

impl Node {
    pub(super) fn send_digest(&mut self, peer: NodeId, now: Time) {
        let d: Digest = self.log.digest();
        self.send_link(peer, Body::Digest(d), now);
    }

    pub(super) fn sync_all(&mut self, now: Time) {
        let peers: Vec<NodeId> = self.linked().collect();
        for peer in peers {
            self.send_digest(peer, now);
        }
    }

    pub(super) fn apply_repair(&mut self, from: NodeId, e: Entries, now: Time) {
        let addr = self.peers.get(&from).map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |p| p.addr);
        let mut fresh = Vec::new();
        for mut entry in e.entries {
            entry.name = Name::clip(&entry.name).to_string();
            if self.add_entry(entry.clone(), false, addr, now) {
                self.stats.repaired += 1;
                fresh.push(entry);
            }
        }
        for (node, inc, first, last) in e.gaps {
            if self.log.mark_lost(node, inc, first, last) > 0 {
                self.emit(Event::Gap { node, from: first, to: last });
            }
        }
        if let Some(s) = e.shared {
            // Normally in the log too; this covers a shared message evicted from a full log.
            if !self.add_entry(s.clone(), false, addr, now) && self.log.offer_shared(&s) {
                let settled = s.ts < self.settled;
                self.emit(Event::Shared { entry: s, settled });
            }
        }
        let progress = !fresh.is_empty();
        if progress {
            // Pass repairs on around the ring, so one hop's repair reaches every node.
            self.pass_on_ring(&Body::Entries(Entries { entries: fresh, ..Entries::default() }), Some(from), now);
        }
        if e.more && progress {
            // Ask for the rest only while asking brings something new.
            self.send_digest(from, now);
        }
    }

    /// Holes in the messages of an origin that is down or gone cannot be filled by anyone once
    /// the neighbours have had a few rounds to offer what they hold: close them, report each
    /// as a gap (once), and count them lost, so no one asks for them again.
    pub(super) fn close_holes(&mut self, now: Time) {
        let holed: Vec<_> = self.log.holes().collect();
        self.holes.retain(|k, _| holed.contains(k));
        for (node, inc) in holed {
            let gone = self.peers.get(&node).is_none_or(|p| p.incarnation != inc || !p.status.is_member());
            if !gone {
                self.holes.remove(&(node, inc));
                continue;
            }
            let since = *self.holes.entry((node, inc)).or_insert(now);
            if now.since(since) < HOLE_GRACE {
                continue;
            }
            self.holes.remove(&(node, inc));
            for (from, to) in self.log.close_holes(node, inc) {
                self.emit(Event::Gap { node, from, to });
            }
        }
    }

    /// This node's frontier is the earliest point up to which it knows every live member's
    /// messages; the group's settled mark is the earliest frontier of all live members.
    pub(super) fn update_settled(&mut self) {
        let mut mine = self.clock.now_hlc();
        let mut group = Hlc(u64::MAX);
        for p in self.peers.values().filter(|p| p.status.is_member() && p.tcp_port != 0) {
            mine = mine.min(self.log.known_until(p.id, p.incarnation));
            group = group.min(p.frontier);
        }
        self.frontier = self.frontier.max(mine);
        let group = group.min(self.frontier);
        if group > self.settled {
            let count = self.log.range_from(self.settled).take_while(|e| e.ts < group).count();
            self.settled = group;
            if count > 0 {
                self.emit(Event::Settled { upto: group, count });
            }
        }
    }
}
