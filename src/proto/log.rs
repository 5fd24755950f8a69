//! The group's ordered message log and its shared message.
//!
//! Entries are ordered by (HLC timestamp, node id): a message that arrives late is put in its
//! place, and every node that holds the same entries holds them in the same order. The shared
//! message is a last-writer-wins register over the same order, so the greatest entry ever seen
//! wins whatever order the datagrams came in.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use super::types::{Hlc, Incarnation, NodeId, Seq};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub ts: Hlc,
    /// The node that stamped it: the sender, or for bare text the node that relayed it.
    pub node: NodeId,
    pub incarnation: Incarnation,
    pub seq: Seq,
    pub name: String,
    pub text: String,
    /// The old client's address, for a bare-text datagram.
    pub bare_from: Option<SocketAddr>,
}

/// Position in the log. The sequence number only breaks a tie that a correct HLC never makes.
pub type Key = (Hlc, NodeId, Seq);

impl Entry {
    pub fn key(&self) -> Key {
        (self.ts, self.node, self.seq)
    }

    /// Who to show as the author: the old client's `IP:port`, or the node's name.
    pub fn author(&self) -> String {
        match self.bare_from {
            Some(a) => a.to_string(),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// New entry; `shared` says whether it became the shared message.
    New {
        shared: bool,
    },
    Duplicate,
    /// Older than everything kept in a full log: it would be evicted at once.
    TooOld,
}

pub struct Log {
    entries: BTreeMap<Key, Entry>,
    seen: HashSet<(NodeId, Incarnation, Seq)>,
    capacity: usize,
    evicted: u64,
    shared: Option<Entry>,
}

impl Log {
    pub fn new(capacity: usize) -> Self {
        Log {
            entries: BTreeMap::new(),
            seen: HashSet::new(),
            capacity: capacity.max(1),
            evicted: 0,
            shared: None,
        }
    }

    pub fn insert(&mut self, e: Entry) -> Inserted {
        let id = (e.node, e.incarnation, e.seq);
        if self.seen.contains(&id) {
            return Inserted::Duplicate;
        }
        let full = self.entries.len() >= self.capacity;
        if full && self.entries.first_key_value().is_some_and(|(k, _)| e.key() < *k) {
            return Inserted::TooOld;
        }
        let shared = self.shared.as_ref().is_none_or(|s| e.key() > s.key());
        if shared {
            self.shared = Some(e.clone());
        }
        self.seen.insert(id);
        self.entries.insert(e.key(), e);
        while self.entries.len() > self.capacity {
            if let Some((_, old)) = self.entries.pop_first() {
                self.seen.remove(&(old.node, old.incarnation, old.seq));
                self.evicted += 1;
            }
        }
        Inserted::New { shared }
    }

    pub fn shared(&self) -> Option<&Entry> {
        self.shared.as_ref()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries dropped from the front because the log was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.entries.values()
    }

    /// SHA-256 over the ordered entries: two logs have the same digest iff they hold the same
    /// entries (every field, length-prefixed so no two logs encode alike).
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for e in self.entries.values() {
            h.update(e.ts.0.to_le_bytes());
            h.update(e.node.0.to_le_bytes());
            h.update(e.incarnation.0.to_le_bytes());
            h.update(e.seq.0.to_le_bytes());
            for s in [
                e.name.as_str(),
                e.text.as_str(),
                &e.bare_from.map(|a| a.to_string()).unwrap_or_default(),
            ] {
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ts: u64, node: u64, seq: u64, text: &str) -> Entry {
        Entry {
            ts: Hlc(ts),
            node: NodeId(node),
            incarnation: Incarnation(1),
            seq: Seq(seq),
            name: format!("n{node}"),
            text: text.into(),
            bare_from: None,
        }
    }

    #[test]
    fn late_arrivals_go_in_place_and_duplicates_are_dropped() {
        let mut log = Log::new(10);
        assert_eq!(log.insert(entry(30, 1, 2, "c")), Inserted::New { shared: true });
        assert_eq!(log.insert(entry(10, 2, 1, "a")), Inserted::New { shared: false });
        assert_eq!(log.insert(entry(20, 1, 1, "b")), Inserted::New { shared: false });
        assert_eq!(log.insert(entry(10, 2, 1, "a")), Inserted::Duplicate);
        let texts: Vec<_> = log.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!(log.shared().unwrap().text, "c");
    }

    #[test]
    fn same_timestamp_is_broken_by_node_id() {
        let mut a = Log::new(10);
        a.insert(entry(50, 9, 1, "from nine"));
        a.insert(entry(50, 3, 1, "from three"));
        assert_eq!(a.shared().unwrap().text, "from nine");
        assert_eq!(a.iter().next().unwrap().text, "from three");
    }

    #[test]
    fn bounded_with_evictions_counted_and_stale_entries_refused() {
        let mut log = Log::new(3);
        for i in 1..=5 {
            log.insert(entry(i * 10, 1, i, "x"));
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.evicted(), 2);
        assert_eq!(log.insert(entry(5, 2, 1, "ancient")), Inserted::TooOld);
        assert_eq!(log.iter().next().unwrap().ts, Hlc(30));
    }

    #[test]
    fn digest_tells_logs_apart() {
        let mut a = Log::new(10);
        let mut b = Log::new(10);
        assert_eq!(a.digest(), b.digest());
        a.insert(entry(1, 1, 1, "ab"));
        assert_ne!(a.digest(), b.digest());
        b.insert(entry(1, 1, 1, "a"));
        assert_ne!(a.digest(), b.digest(), "text differs");
    }

    proptest! {
        #[test]
        fn any_arrival_order_gives_the_same_log_and_shared_message(
            raw in proptest::collection::vec((0u64..40, 1u64..6), 1..40),
            seed in any::<u64>(),
        ) {
            // Distinct (ts, node) pairs, with per-node sequence numbers.
            let mut entries: Vec<Entry> = Vec::new();
            for (i, (ts, node)) in raw.into_iter().enumerate() {
                if !entries.iter().any(|e| e.ts.0 == ts && e.node.0 == node) {
                    entries.push(entry(ts, node, i as u64, &format!("m{i}")));
                }
            }
            let mut shuffled = entries.clone();
            // Deterministic shuffle from the seed, duplicating some entries too.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let dups: Vec<Entry> = shuffled.iter().step_by(3).cloned().collect();
            shuffled.extend(dups);
            let mut a = Log::new(100);
            let mut b = Log::new(100);
            entries.into_iter().for_each(|e| { a.insert(e); });
            shuffled.into_iter().for_each(|e| { b.insert(e); });
            prop_assert_eq!(a.digest(), b.digest());
            prop_assert_eq!(a.shared(), b.shared());
            let max = a.iter().map(|e| e.key()).max();
            prop_assert_eq!(a.shared().map(|e| e.key()), max);
        }
    }
}
