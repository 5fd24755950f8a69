//! Anti-entropy and settled marks: digests to ring neighbours, repairs passed on around the
//! ring, gaps reported, and the frontier every live member has passed.

use std::net::SocketAddr;

use super::wire::{Body, Digest, Entries};
use super::{Event, Hlc, Node, NodeId, Time};

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
        for entry in e.entries {
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
        if !fresh.is_empty() {
            // Pass repairs on around the ring, so one hop's repair reaches every node.
            self.pass_on_ring(Body::Entries(Entries { entries: fresh, ..Entries::default() }), Some(from), now);
        }
        if e.more {
            self.send_digest(from, now);
        }
    }

    /// This node's frontier is the earliest point up to which it knows every live member's
    /// messages; the group's settled mark is the earliest frontier of all live members.
    pub(super) fn update_settled(&mut self, now: Time) {
        let mut mine = Hlc(uhlc::NTP64::from(now.0).as_u64());
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
