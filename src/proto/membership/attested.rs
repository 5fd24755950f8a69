//! The attested set: the peers the ring vouches for (those this node holds links with, those
//! their heartbeats say they hear on their links, and so on around the ring), and the cache that
//! keeps it from one ask to the next while nothing it rests on changed. At 1,000 peers working
//! it out is a walk through them all, and it is asked for at every check and every ack.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::super::{NodeId, Time};
use super::Peer;

/// The attested set as last worked out, and the generation of the table it rests on.
#[derive(Default)]
pub(super) struct Attestation {
    /// Bumped by every change that can alter the set (see `Members::touch`).
    generation: u64,
    kept: Option<Kept>,
}

/// The set worked out at some generation of the table, from these links of ours; it holds until
/// `until`, when the first ring report it rests on goes stale.
struct Kept {
    generation: u64,
    linked: Vec<NodeId>,
    until: Time,
    set: Arc<BTreeSet<NodeId>>,
}

impl Attestation {
    /// Something the set rests on changed: work it out afresh when next asked.
    pub(super) fn bump(&mut self) {
        self.generation += 1;
    }

    /// A peer's ring report changed from counting until `before` to counting until `after`
    /// (`None`: not counting), its links the `same` or not: the set worked out before stands if
    /// the peer counts as it did (only its freshness may now end sooner).
    pub(super) fn report_changed(&mut self, before: Option<Time>, after: Option<Time>, same: bool) {
        if before.is_some() != after.is_some() || (!same && after.is_some()) {
            self.bump();
        } else if let (Some(until), Some(k)) = (after, &mut self.kept) {
            k.until = k.until.min(until);
        }
    }

    /// The set for our links `linked` (sorted), kept or worked out afresh.
    pub(super) fn get(
        &mut self,
        peers: &BTreeMap<NodeId, Box<Peer>>,
        linked: Vec<NodeId>,
        now: Time,
    ) -> Arc<BTreeSet<NodeId>> {
        if let Some(k) = &self.kept
            && k.generation == self.generation
            && k.linked == linked
            && now <= k.until
        {
            return k.set.clone();
        }
        let (seen, until) = walk(peers, &linked, now);
        let set = Arc::new(seen);
        self.kept = Some(Kept { generation: self.generation, linked, until, set: set.clone() });
        set
    }

    /// The generation, and the set kept (for tests of the cache).
    #[cfg(test)]
    pub(super) fn peek(&self) -> (u64, Option<Arc<BTreeSet<NodeId>>>) {
        (self.generation, self.kept.as_ref().map(|k| k.set.clone()))
    }
}

/// The attested set worked out afresh from our links `linked`, and until when it holds if
/// nothing changes.
pub(super) fn walk(peers: &BTreeMap<NodeId, Box<Peer>>, linked: &[NodeId], now: Time) -> (BTreeSet<NodeId>, Time) {
    let mut seen: BTreeSet<NodeId> = BTreeSet::new();
    let mut until = Time(Duration::MAX);
    let mut queue: Vec<NodeId> = linked.iter().copied().filter(|n| peers.contains_key(n)).collect();
    while let Some(n) = queue.pop() {
        if !seen.insert(n) {
            continue;
        }
        if let Some(p) = peers.get(&n)
            && let Some(fresh_until) = p.report_fresh_until(now)
        {
            until = until.min(fresh_until);
            queue.extend(p.links.iter().copied().filter(|m| !seen.contains(m) && peers.contains_key(m)));
        }
    }
    (seen, until)
}
