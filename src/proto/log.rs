//! The group's ordered message log and its shared message.
//!
//! Entries are ordered by (HLC timestamp, node id): a message that arrives late is put in its
//! place, and every node that holds the same entries holds them in the same order. The shared
//! message is a last-writer-wins register, so the greatest entry ever seen wins whatever order
//! the datagrams came in: greatest by stamp, except that a message written while its writer's
//! shared message was stamped after it (a clock ahead stamped that one) ranks just after it
//! (`Entry::rank`): a wrong clock cannot hold the shared message for as long as it is ahead.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

pub use super::types::Entry;
pub(crate) use super::types::Key;
use super::types::{Hlc, Incarnation, NodeId, Seq};
use super::wire::{Digest, Entries, Held, MAX_RUNS};

/// What became of an entry offered to the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// New entry; `shared` says whether it became the shared message.
    New {
        /// Whether it became the shared message.
        shared: bool,
    },
    /// Already held or already seen: nothing changed.
    Duplicate,
    /// Older than everything kept in a full log: it would be evicted at once.
    TooOld,
    /// Another version of a message held (same node, life and number, not the same
    /// message): one of them is forged. It is kept beside the first, never in its place, so
    /// no one can rewrite or erase what was said; `shared` as for `New`.
    Version {
        /// Whether it became the shared message.
        shared: bool,
        /// The version held first.
        held: Entry,
    },
    /// A further version of a message already held in `MAX_VERSIONS`, or an entry whose place
    /// in the log's order (stamp, node, number) another holds: not kept, and the one held
    /// stays. (A forger who copies a sent message's stamp cannot take its place; one who forges
    /// ahead of a message cannot know the stamp it will have.)
    TooManyVersions,
    /// Numbered past the `MAX_ABOVE` messages tracked above a hole of its sender's: not
    /// taken (nothing is written off as lost for it); a repair brings it again later.
    Ahead,
}

/// Versions of one message kept at most (see `Inserted::Version`).
pub(crate) const MAX_VERSIONS: usize = 4;

/// Origins (node lives) remembered for de-duplication and repair.
const MAX_ORIGINS: usize = 4096;
/// Out-of-order sequence numbers remembered above an origin's contiguous mark; messages
/// numbered beyond them wait (`Inserted::Ahead`) until the hole below is filled.
const MAX_ABOVE: usize = 4096;
/// Message numbers at or above this are refused: no real node sends 2^62 messages, and the
/// arithmetic on marks stays far from overflow whatever a peer sends.
pub(crate) const MAX_SEQ: u64 = 1 << 62;

/// What `Origin::see` made of a message number.
enum Seen {
    New,
    Before,
    Ahead,
}

/// What this node has of one origin's messages.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// Every message numbered up to this has been seen (held, evicted, or reported lost).
    pub contig: Seq,
    above: BTreeSet<u64>,
    /// Messages reported lost (fell out of every neighbour's retention).
    pub lost: u64,
    /// The latest heartbeat: (highest message number it announced, its time).
    latest_beat: Option<(Seq, Hlc)>,
    /// Everything this origin stamped before this time is here.
    pub known_until: Hlc,
    /// The highest announced number a heartbeat already made this node ask its neighbours for.
    pub asked: Seq,
    touched: u64,
}

impl Origin {
    fn has(&self, seq: Seq) -> bool {
        seq <= self.contig || self.above.contains(&seq.0)
    }

    /// Marks `seq` seen; false if it already was.
    fn see(&mut self, seq: Seq) -> Seen {
        if self.has(seq) || seq.0 == 0 || seq.0 >= MAX_SEQ {
            return Seen::Before;
        }
        // Past what is tracked above a hole: refused for now rather than the hole given up
        // as lost (a hole is closed only when a neighbour reports the messages gone, or the
        // sender is). Filling in below the highest held is taken up to twice as many.
        let extends = self.above.last().is_none_or(|&top| seq.0 > top);
        if seq.0 > self.contig.0 + 1
            && ((extends && self.above.len() >= MAX_ABOVE) || self.above.len() >= 2 * MAX_ABOVE)
        {
            return Seen::Ahead;
        }
        self.above.insert(seq.0);
        while self.above.remove(&(self.contig.0 + 1)) {
            self.contig.0 += 1;
        }
        self.settle_beat();
        Seen::New
    }

    fn settle_beat(&mut self) {
        if let Some((seq, at)) = self.latest_beat
            && self.contig >= seq
        {
            self.known_until = self.known_until.max(at);
        }
    }

    /// Whether a heartbeat announcing `msg_seq` shows messages this node has not seen.
    pub fn missing_up_to(&self, msg_seq: Seq) -> bool {
        self.contig < msg_seq
    }

    /// The highest number this node knows the origin sent (held, or announced).
    fn highest(&self) -> Seq {
        let above = self.above.last().map_or(self.contig, |s| Seq(*s));
        let announced = self.latest_beat.map_or(Seq(0), |(s, _)| s);
        above.max(announced).max(self.contig).min(Seq(MAX_SEQ - 1))
    }

    /// Whether some message below the highest known number is missing.
    pub fn has_hole(&self) -> bool {
        self.highest() > self.contig
    }

    /// Runs of numbers held above the contiguous mark, lowest first, at most `max`.
    fn runs(&self, max: usize) -> Vec<(Seq, Seq)> {
        let mut runs: Vec<(Seq, Seq)> = Vec::new();
        for &s in &self.above {
            let full = runs.len() >= max;
            match runs.last_mut() {
                Some((_, last)) if last.0 + 1 == s => last.0 = s,
                _ if full => break,
                _ => runs.push((Seq(s), Seq(s))),
            }
        }
        runs
    }
}

/// The ordered log of messages this node holds, what it has seen of each origin, and the shared message.
pub struct Log {
    entries: BTreeMap<Key, Entry>,
    by_origin: BTreeMap<(NodeId, Incarnation, Seq), Key>,
    /// Further versions of a message, beside the one in `by_origin` (see `Inserted::Version`).
    versions: BTreeMap<(NodeId, Incarnation, Seq), Vec<Key>>,
    origins: BTreeMap<(NodeId, Incarnation), Origin>,
    touch: u64,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    evicted: u64,
    shared: Option<Entry>,
}

/// Bytes an entry is counted as for retention.
fn size_of(e: &Entry) -> usize {
    64 + e.name.len() + e.text.len()
}

impl Log {
    /// An empty log keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Log::with_bytes(capacity, usize::MAX)
    }

    /// An empty log keeping at most `capacity` entries and about `max_bytes` bytes of them.
    pub fn with_bytes(capacity: usize, max_bytes: usize) -> Self {
        Log {
            entries: BTreeMap::new(),
            by_origin: BTreeMap::new(),
            versions: BTreeMap::new(),
            origins: BTreeMap::new(),
            touch: 0,
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
            bytes: 0,
            evicted: 0,
            shared: None,
        }
    }

    fn origin_mut(&mut self, node: NodeId, inc: Incarnation) -> &mut Origin {
        self.touch += 1;
        if !self.origins.contains_key(&(node, inc)) && self.origins.len() >= MAX_ORIGINS {
            // The longest untouched of those whose messages the log no longer holds (a flood of
            // made-up peers' heartbeats makes many): an origin whose messages are held stays,
            // so what it has and lacks is still told to neighbours.
            let holds = |k: &(NodeId, Incarnation)| self.holds_any(k.0, k.1);
            let stale = self.origins.iter().filter(|(k, _)| !holds(k)).min_by_key(|(_, o)| o.touched).map(|(k, _)| *k);
            let stale = stale.or_else(|| self.origins.iter().min_by_key(|(_, o)| o.touched).map(|(k, _)| *k));
            if let Some(k) = stale {
                self.origins.remove(&k);
            }
        }
        let touch = self.touch;
        let o = self.origins.entry((node, inc)).or_default();
        o.touched = touch;
        o
    }

    /// Whether the log holds any message of `node`'s life `inc`.
    fn holds_any(&self, node: NodeId, inc: Incarnation) -> bool {
        self.by_origin.range((node, inc, Seq(0))..=(node, inc, Seq(u64::MAX))).next().is_some()
    }

    /// The lives whose messages the log holds, whether or not their records are kept, and
    /// those it keeps records of: one pass skipping from life to life.
    fn lives(&self) -> BTreeSet<(NodeId, Incarnation)> {
        let mut lives: BTreeSet<(NodeId, Incarnation)> = self.origins.keys().copied().collect();
        let mut next = self.by_origin.keys().next().copied();
        while let Some((node, inc, _)) = next {
            lives.insert((node, inc));
            next = self
                .by_origin
                .range((std::ops::Bound::Excluded((node, inc, Seq(u64::MAX))), std::ops::Bound::Unbounded))
                .next()
                .map(|(k, _)| *k);
        }
        lives
    }

    /// What this node has of one node life's messages, if it has heard of it.
    pub fn origin(&self, node: NodeId, inc: Incarnation) -> Option<&Origin> {
        self.origins.get(&(node, inc))
    }

    /// A heartbeat from `node` announced `msg_seq` at `at`.
    pub fn on_beat(&mut self, node: NodeId, inc: Incarnation, msg_seq: Seq, at: Hlc) {
        let o = self.origin_mut(node, inc);
        if o.latest_beat.is_none_or(|(_, t)| at > t) {
            o.latest_beat = Some((msg_seq, at));
        }
        o.settle_beat();
    }

    /// How far this node knows `node`'s messages (see `Origin::known_until`).
    pub fn known_until(&self, node: NodeId, inc: Incarnation) -> Hlc {
        self.origins.get(&(node, inc)).map_or(Hlc(0), |o| o.known_until)
    }

    /// Puts an entry in its place, evicting the oldest if the log is over capacity.
    pub fn insert(&mut self, e: Entry) -> Inserted {
        let id = (e.node, e.incarnation, e.seq);
        if let Some(key) = self.by_origin.get(&id) {
            let same = |k: &Key| self.entries.get(k).is_some_and(|h| h == &e);
            let others = self.versions.get(&id).map_or(&[][..], Vec::as_slice);
            if same(key) || others.iter().any(same) {
                return Inserted::Duplicate;
            }
            if others.len() + 1 >= MAX_VERSIONS {
                return Inserted::TooManyVersions;
            }
            let Some(held) = self.entries.get(key).cloned() else { return Inserted::Duplicate };
            if self.entries.contains_key(&e.key()) {
                return Inserted::TooManyVersions;
            }
            let full = self.entries.len() >= self.capacity;
            if full && self.entries.first_key_value().is_some_and(|(k, _)| e.key() < *k) {
                return Inserted::TooOld;
            }
            self.versions.entry(id).or_default().push(e.key());
            let shared = self.place(e);
            return Inserted::Version { shared, held };
        }
        if self.entries.contains_key(&e.key()) {
            // Same stamp, node and number in another life: its place is taken.
            return Inserted::TooManyVersions;
        }
        let o = self.origin_mut(e.node, e.incarnation);
        match o.see(e.seq) {
            Seen::New => {}
            Seen::Before => return Inserted::Duplicate,
            Seen::Ahead => return Inserted::Ahead,
        }
        if o.contig >= e.seq {
            o.known_until = o.known_until.max(e.ts);
        }
        let full = self.entries.len() >= self.capacity;
        if full && self.entries.first_key_value().is_some_and(|(k, _)| e.key() < *k) {
            return Inserted::TooOld;
        }
        self.by_origin.insert(id, e.key());
        let shared = self.place(e);
        Inserted::New { shared }
    }

    /// Puts an entry in `entries`, offers it as the shared message, and evicts the oldest
    /// while the log is over capacity; true if it became the shared message.
    fn place(&mut self, e: Entry) -> bool {
        let shared = self.offer_shared(&e);
        self.bytes += size_of(&e);
        self.entries.insert(e.key(), e);
        while self.entries.len() > self.capacity || (self.bytes > self.max_bytes && self.entries.len() > 1) {
            if let Some((key, old)) = self.entries.pop_first() {
                let id = (old.node, old.incarnation, old.seq);
                if self.by_origin.get(&id) == Some(&key) {
                    self.by_origin.remove(&id);
                    // A further version, if any, stands for the message from now on.
                    if let Some(mut rest) = self.versions.remove(&id)
                        && !rest.is_empty()
                    {
                        self.by_origin.insert(id, rest.remove(0));
                        if !rest.is_empty() {
                            self.versions.insert(id, rest);
                        }
                    }
                } else if let Some(rest) = self.versions.get_mut(&id) {
                    rest.retain(|k| *k != key);
                    if rest.is_empty() {
                        self.versions.remove(&id);
                    }
                }
                self.bytes -= size_of(&old);
                self.evicted += 1;
            }
        }
        shared
    }

    /// The further versions held of the message `(node, life, number)` (see `Inserted::Version`).
    pub fn versions_of(&self, id: (NodeId, Incarnation, Seq)) -> impl Iterator<Item = &Entry> {
        self.versions.get(&id).into_iter().flatten().filter_map(|k| self.entries.get(k))
    }

    /// Makes `e` the shared message if it ranks after the current one (see `Entry::rank`).
    pub fn offer_shared(&mut self, e: &Entry) -> bool {
        let newer = self.shared.as_ref().is_none_or(|s| e.rank() > s.rank());
        if newer {
            self.shared = Some(e.clone());
        }
        newer
    }

    /// Marks messages `from..=to` of an origin as lost; returns how many were not seen before.
    pub fn mark_lost(&mut self, node: NodeId, inc: Incarnation, from: Seq, to: Seq) -> u64 {
        let o = self.origin_mut(node, inc);
        let to = Seq(to.0.min(MAX_SEQ - 1));
        // A gap is reported from the asker's contiguous mark on; one that starts beyond it (or
        // is empty) says nothing this node can use.
        if from.0 > o.contig.0 + 1 || to <= o.contig {
            return 0;
        }
        let held_above = o.above.range(o.contig.0 + 1..=to.0).count() as u64;
        let lost = to.0 - o.contig.0 - held_above;
        o.above.retain(|s| *s > to.0);
        o.contig = to;
        while o.above.remove(&(o.contig.0 + 1)) {
            o.contig.0 += 1;
        }
        o.settle_beat();
        o.lost = o.lost.saturating_add(lost);
        lost
    }

    /// Origins with a hole: a message below the highest number known is missing.
    pub fn holes(&self) -> impl Iterator<Item = (NodeId, Incarnation)> + '_ {
        self.origins.iter().filter(|(_, o)| o.has_hole()).map(|(k, _)| *k)
    }

    /// Gives up on every hole of an origin (it is gone; no one could fill them): the missing
    /// numbers count as lost. Returns the runs that were missing.
    pub fn close_holes(&mut self, node: NodeId, inc: Incarnation) -> Vec<(Seq, Seq)> {
        let Some(o) = self.origins.get(&(node, inc)) else { return Vec::new() };
        let top = o.highest();
        let mut missing = Vec::new();
        let mut next = o.contig.0 + 1;
        for &s in o.above.iter().chain(std::iter::once(&(top.0 + 1))) {
            if s > next {
                missing.push((Seq(next), Seq(s - 1)));
            }
            next = next.max(s + 1);
        }
        for &(from, to) in &missing {
            self.mark_lost(node, inc, from, to);
        }
        missing
    }

    /// Notes that a heartbeat announcing `msg_seq` made this node ask for what it lacks;
    /// false if it already asked for as much (ask again only when there is news).
    pub fn ask(&mut self, node: NodeId, inc: Incarnation, msg_seq: Seq) -> bool {
        let o = self.origin_mut(node, inc);
        if msg_seq <= o.asked {
            return false;
        }
        o.asked = msg_seq;
        true
    }

    /// What this node holds, for a ring neighbour.
    pub fn digest(&self) -> Digest {
        Digest {
            origins: self
                .origins
                .iter()
                .map(|((n, i), o)| Held { node: *n, incarnation: *i, contig: o.contig, above: o.runs(MAX_RUNS) })
                .collect(),
            shared: self.shared.as_ref().map(Entry::rank),
        }
    }

    /// What a neighbour with `theirs` lacks, up to about `budget` bytes.
    pub fn missing_for(&self, theirs: &Digest, budget: usize) -> Entries {
        let has: BTreeMap<(NodeId, Incarnation), &Held> =
            theirs.origins.iter().map(|h| ((h.node, h.incarnation), h)).collect();
        let mut out = Entries::default();
        let mut used = 0;
        let none = Origin::default();
        for (node, inc) in &self.lives() {
            // (A life whose record a full table forgot still has its messages offered.)
            let mine = self.origins.get(&(*node, *inc)).unwrap_or(&none);
            let held = has.get(&(*node, *inc)).copied();
            let their = held.map_or(Seq(0), |h| h.contig);
            let next_missing = Seq(their.0.saturating_add(1));
            let range = (*node, *inc, next_missing)..=(*node, *inc, Seq(u64::MAX));
            let mut first_held = None;
            for (_, key) in self.by_origin.range(range) {
                let Some(e) = self.entries.get(key) else { continue };
                first_held.get_or_insert(e.seq);
                if held.is_some_and(|h| h.has(e.seq)) {
                    continue; // they have it already
                }
                // The first always goes, however large: a reply that offers nothing while it
                // says there is more would leave the asker waiting on this origin for good.
                if used > 0 && used + size_of(e) > budget {
                    out.more = true;
                    break;
                }
                used += size_of(e);
                out.entries.push(e.clone());
                for v in self.versions_of((e.node, e.incarnation, e.seq)) {
                    used += size_of(v);
                    out.entries.push(v.clone());
                }
            }
            // Messages we had but no longer keep: tell them, so they stop waiting.
            let first_kept = first_held.unwrap_or(Seq(mine.contig.0 + 1));
            if first_kept > next_missing && mine.contig >= next_missing && mine.contig.0 >= first_kept.0 - 1 {
                out.gaps.push((*node, *inc, next_missing, Seq(first_kept.0 - 1)));
            }
            if out.more {
                break;
            }
        }
        if let (Some(mine), theirs) = (&self.shared, theirs.shared)
            && theirs.is_none_or(|t| mine.rank() > t)
        {
            out.shared = Some(mine.clone());
        }
        out
    }

    /// The shared message: the greatest entry ever offered.
    pub fn shared(&self) -> Option<&Entry> {
        self.shared.as_ref()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entries are held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries dropped from the front because the log was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Messages reported lost, over all origins.
    pub fn lost(&self) -> u64 {
        self.origins.values().fold(0, |a, o| a.saturating_add(o.lost))
    }

    /// Entries held, in log order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.entries.values()
    }

    /// Entries at or after `from` in log order.
    pub fn range_from(&self, from: Hlc) -> impl Iterator<Item = &Entry> {
        self.entries.range((from, NodeId(0), Seq(0))..).map(|(_, e)| e)
    }

    /// SHA-256 over the ordered entries: two logs have the same digest iff they hold the same
    /// entries (every field, length-prefixed so no two logs encode alike).
    pub fn digest_hex(&self) -> String {
        let mut h = Sha256::new();
        for e in self.entries.values() {
            h.update(e.ts.0.to_le_bytes());
            h.update(e.node.0.to_le_bytes());
            h.update(e.incarnation.0.to_le_bytes());
            h.update(e.seq.0.to_le_bytes());
            for s in [&*e.name, &*e.text, &e.bare_from.map(|a| a.to_string()).unwrap_or_default()] {
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

    #[test]
    fn a_long_run_above_a_hole_waits_for_it_and_nothing_is_written_off() {
        let mut log = Log::new(20_000);
        log.insert(entry(1, 1, 1, "m1"));
        // Message 2 is lost on the way; 3 and on arrive, more than are tracked above a hole.
        let mut ahead = Vec::new();
        for s in 3..=(MAX_ABOVE as u64 + 600) {
            if matches!(log.insert(entry(s, 1, s, "m")), Inserted::Ahead) {
                ahead.push(s);
            }
        }
        assert_eq!(ahead.len(), 600 - 2, "those past the tracked run wait");
        assert_eq!(log.lost(), 0, "and nothing is given up as lost");
        // The repair brings 2, then the rest.
        assert!(matches!(log.insert(entry(2, 1, 2, "m2")), Inserted::New { .. }));
        for s in ahead {
            assert!(matches!(log.insert(entry(s, 1, s, "m")), Inserted::New { .. }), "{s}");
        }
        assert_eq!(log.len(), MAX_ABOVE + 600);
        assert_eq!(log.lost(), 0);
        assert_eq!(log.origin(NodeId(1), Incarnation(1)).unwrap().contig, Seq(MAX_ABOVE as u64 + 600));
    }

    fn entry(ts: u64, node: u64, seq: u64, text: &str) -> Entry {
        Entry {
            ts: Hlc(ts),
            node: NodeId(node),
            incarnation: Incarnation(1),
            seq: Seq(seq),
            name: format!("n{node}").into(),
            text: text.into(),
            bare_from: None,
            over: None,
        }
    }

    #[test]
    fn a_second_version_of_a_message_is_kept_beside_the_first_and_never_in_its_place() {
        let mut log = Log::new(10);
        log.insert(entry(10, 1, 1, "a"));
        log.insert(entry(30, 1, 2, "real"));
        assert_eq!(log.insert(entry(30, 1, 2, "real")), Inserted::Duplicate, "the same again");
        let forged = entry(20, 1, 2, "forged");
        assert_eq!(log.insert(forged.clone()), Inserted::Version { shared: false, held: entry(30, 1, 2, "real") });
        assert_eq!(log.insert(forged), Inserted::Duplicate, "a version held is a duplicate");
        assert_eq!(log.insert(entry(30, 1, 2, "same stamp, other text")), Inserted::TooManyVersions);
        let mut other_life = entry(30, 1, 2, "same stamp, other life");
        other_life.incarnation = Incarnation(2);
        assert_eq!(log.insert(other_life), Inserted::TooManyVersions, "its place is taken");
        assert!(log.iter().any(|e| &*e.text == "real"), "the one held stays");
        assert_eq!(log.iter().map(|e| &*e.text).collect::<Vec<_>>(), ["a", "forged", "real"]);
        assert_eq!(log.shared().map(|e| &*e.text), Some("real"));
        for k in 0..2 {
            assert!(matches!(log.insert(entry(21 + k, 1, 2, "more")), Inserted::Version { .. }));
        }
        assert_eq!(log.insert(entry(25, 1, 2, "one too many")), Inserted::TooManyVersions);
        // A newcomer asking for everything gets every version.
        let all = log.missing_for(&Digest::default(), usize::MAX);
        assert_eq!(all.entries.len(), 5);
        // Eviction of the first version leaves the next standing for the message.
        let mut small = Log::new(2);
        small.insert(entry(30, 1, 2, "real"));
        small.insert(entry(40, 1, 2, "later version"));
        small.insert(entry(50, 2, 1, "other"));
        assert_eq!(small.iter().map(|e| &*e.text).collect::<Vec<_>>(), ["later version", "other"]);
        assert_eq!(small.insert(entry(40, 1, 2, "later version")), Inserted::Duplicate);
    }

    #[test]
    fn late_arrivals_go_in_place_and_duplicates_are_dropped() {
        let mut log = Log::new(10);
        assert_eq!(log.insert(entry(30, 1, 2, "c")), Inserted::New { shared: true });
        assert_eq!(log.insert(entry(10, 2, 1, "a")), Inserted::New { shared: false });
        assert_eq!(log.insert(entry(20, 1, 1, "b")), Inserted::New { shared: false });
        assert_eq!(log.insert(entry(10, 2, 1, "a")), Inserted::Duplicate);
        let texts: Vec<_> = log.iter().map(|e| &*e.text).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!(&*log.shared().unwrap().text, "c");
    }

    #[test]
    fn a_message_written_over_one_stamped_after_it_takes_its_place_in_any_order() {
        let ahead = entry(1_000, 5, 1, "stamped ahead");
        // Two writers over it at once, then one over the first of them, then time passes it.
        let mut first = entry(20, 1, 1, "over it, from one");
        first.over = ahead.over_for(first.ts, first.node);
        let mut second = entry(21, 2, 1, "over it, from two");
        second.over = ahead.over_for(second.ts, second.node);
        let mut third = entry(30, 3, 1, "over two's");
        third.over = second.over_for(third.ts, third.node);
        assert_eq!(third.over.map(|o| (o.ts, o.depth)), Some((Hlc(1_000), 2)));
        let later = entry(2_000, 4, 1, "after its stamp");
        assert_eq!(ahead.over_for(later.ts, later.node), None, "a message stamped after it needs no mark");
        let all = [ahead, first, second, third, later];
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 3, 1, 4], [3, 4, 0, 2, 1]] {
            let mut log = Log::new(10);
            for k in order {
                log.insert(all[k].clone());
            }
            assert_eq!(&*log.shared().unwrap().text, "after its stamp", "{order:?}");
            let mut no_later = Log::new(10);
            for k in order.into_iter().filter(|&k| k < 4) {
                no_later.insert(all[k].clone());
            }
            assert_eq!(&*no_later.shared().unwrap().text, "over two's", "{order:?}");
            // The log itself keeps the order of the stamps.
            assert_eq!(no_later.iter().last().map(|e| &*e.text), Some("stamped ahead"));
        }
    }

    #[test]
    fn same_timestamp_is_broken_by_node_id() {
        let mut a = Log::new(10);
        a.insert(entry(50, 9, 1, "from nine"));
        a.insert(entry(50, 3, 1, "from three"));
        assert_eq!(&*a.shared().unwrap().text, "from nine");
        assert_eq!(&*a.iter().next().unwrap().text, "from three");
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
        assert_eq!(a.digest_hex(), b.digest_hex());
        a.insert(entry(1, 1, 1, "ab"));
        assert_ne!(a.digest_hex(), b.digest_hex());
        b.insert(entry(1, 1, 1, "a"));
        assert_ne!(a.digest_hex(), b.digest_hex(), "text differs");
    }

    #[test]
    fn a_neighbour_gets_what_it_lacks_and_hears_of_what_was_evicted() {
        let mut full = Log::new(3);
        for i in 1..=5 {
            full.insert(entry(i * 10, 1, i, &format!("m{i}")));
        }
        let mut empty = Log::new(10);
        let reply = full.missing_for(&empty.digest(), usize::MAX);
        assert_eq!(reply.entries.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(reply.gaps, vec![(NodeId(1), Incarnation(1), Seq(1), Seq(2))]);
        assert_eq!(reply.shared.as_ref().map(|e| e.seq), Some(Seq(5)));
        for e in reply.entries {
            empty.insert(e);
        }
        assert_eq!(empty.mark_lost(NodeId(1), Incarnation(1), Seq(1), Seq(2)), 2);
        assert_eq!(empty.origin(NodeId(1), Incarnation(1)).unwrap().contig, Seq(5));
        assert_eq!(empty.lost(), 2);
        // Now nothing is missing.
        let again = full.missing_for(&empty.digest(), usize::MAX);
        assert!(again.entries.is_empty() && again.gaps.is_empty() && again.shared.is_none());
    }

    #[test]
    fn gaps_count_only_what_was_never_seen_and_cost_nothing_per_number() {
        let mut log = Log::new(10);
        let (n, i) = (NodeId(1), Incarnation(1));
        log.insert(entry(10, 1, 1, "a"));
        log.insert(entry(40, 1, 4, "d"));
        assert_eq!(log.mark_lost(n, i, Seq(9), Seq(12)), 0, "not from our contiguous mark: ignored");
        assert_eq!(log.mark_lost(n, i, Seq(2), Seq(5)), 3, "2, 3 and 5; 4 is held");
        assert_eq!(log.origin(n, i).unwrap().contig, Seq(5));
        // A huge range is no more work than a small one.
        assert_eq!(log.mark_lost(n, i, Seq(6), Seq(u64::MAX - 1)), MAX_SEQ - 1 - 5);
        assert_eq!(log.mark_lost(n, i, Seq(6), Seq(9)), 0, "already accounted for");
    }

    #[test]
    fn repair_replies_respect_the_budget() {
        let mut a = Log::new(100);
        for i in 1..=50 {
            a.insert(entry(i, 1, i, "0123456789"));
        }
        let reply = a.missing_for(&Log::new(10).digest(), 800);
        assert!(reply.more);
        assert!(reply.entries.len() < 50 && !reply.entries.is_empty());
    }

    #[test]
    fn an_entry_larger_than_the_budget_still_goes_and_the_origins_after_it_follow() {
        let mut a = Log::new(100);
        a.insert(entry(1, 1, 1, &"x".repeat(2_000)));
        for i in 2..=5 {
            a.insert(entry(i, 2, i, "small"));
        }
        let mut b = Log::new(100);
        let first = a.missing_for(&b.digest(), 1_000);
        assert_eq!(first.entries.len(), 1, "the large one alone, not nothing");
        assert!(first.more);
        for e in first.entries {
            b.insert(e);
        }
        let rest = a.missing_for(&b.digest(), 1_000);
        assert_eq!(rest.entries.iter().map(|e| e.node.0).collect::<Vec<_>>(), [2, 2, 2, 2]);
        assert!(!rest.more);
    }

    #[test]
    fn a_flood_of_lives_never_hides_the_messages_held_from_a_newcomer() {
        let mut log = Log::new(100);
        for i in 1..=5 {
            log.insert(entry(i, 1, i, "early"));
        }
        // Thousands of made-up peers' heartbeats, each a life of its own.
        for n in 0..(MAX_ORIGINS as u64 + 500) {
            log.on_beat(NodeId(1_000 + n), Incarnation(1), Seq(0), Hlc(n));
        }
        assert!(log.origin(NodeId(1), Incarnation(1)).is_some(), "a life whose messages are held is kept");
        let reply = log.missing_for(&Digest::default(), usize::MAX);
        assert_eq!(reply.entries.iter().filter(|e| e.node == NodeId(1)).count(), 5);
        // Even with its record gone (a table of lives that all hold messages), they are offered.
        log.origins.remove(&(NodeId(1), Incarnation(1)));
        let reply = log.missing_for(&Digest::default(), usize::MAX);
        assert_eq!(reply.entries.iter().filter(|e| e.node == NodeId(1)).count(), 5);
    }

    #[test]
    fn known_until_waits_for_every_announced_message() {
        let mut log = Log::new(10);
        let (n, i) = (NodeId(1), Incarnation(1));
        log.insert(entry(10, 1, 1, "a"));
        assert_eq!(log.known_until(n, i), Hlc(10));
        // Heartbeat at 40 says 3 messages were sent; the 2nd is missing.
        log.insert(entry(30, 1, 3, "c"));
        log.on_beat(n, i, Seq(3), Hlc(40));
        assert_eq!(log.known_until(n, i), Hlc(10));
        log.insert(entry(20, 1, 2, "b"));
        assert_eq!(log.known_until(n, i), Hlc(40));
    }

    #[test]
    fn retention_is_bounded_in_bytes_too() {
        let mut log = Log::with_bytes(1000, 1000);
        for i in 1..=100 {
            log.insert(entry(i, 1, i, &"x".repeat(100)));
        }
        assert!(log.len() <= 7, "{}", log.len());
        assert_eq!(log.evicted() as usize + log.len(), 100);
    }

    proptest! {
        /// Asking again while a reply says there is more always brings the asker everything
        /// the other holds, whatever the budget and the sizes of the messages: repair never
        /// stalls on an origin.
        #[test]
        fn asking_while_there_is_more_always_ends_with_everything(
            sizes in proptest::collection::vec((1u64..5, 0usize..3_000), 1..60),
            budget in 1usize..4_000,
        ) {
            let mut a = Log::new(1_000);
            let mut seqs = [0u64; 5];
            for (i, (node, len)) in sizes.iter().enumerate() {
                seqs[*node as usize] += 1;
                a.insert(entry(i as u64 + 1, *node, seqs[*node as usize], &"y".repeat(*len)));
            }
            let mut b = Log::new(1_000);
            let mut rounds = 0;
            loop {
                rounds += 1;
                prop_assert!(rounds <= sizes.len() + 1, "no progress after {} rounds", rounds);
                let reply = a.missing_for(&b.digest(), budget);
                for e in reply.entries {
                    b.insert(e);
                }
                if !reply.more {
                    break;
                }
            }
            prop_assert_eq!(a.digest_hex(), b.digest_hex());
        }


        /// Whatever versions, lives and stamps arrive, in whatever order, into a log that must
        /// evict: nothing panics, and what the log counts is what it holds.
        #[test]
        fn versions_and_eviction_keep_the_books_straight(
            offers in proptest::collection::vec((0u64..6, 1u64..3, 1u64..4, 1u64..3, 0u8..3), 1..200),
            capacity in 1usize..12,
        ) {
            let mut log = Log::with_bytes(capacity, 400);
            for (ts, node, seq, inc, text) in offers {
                let mut e = entry(ts, node, seq, &format!("t{text}"));
                e.incarnation = Incarnation(inc);
                let _ = log.insert(e);
                let held: usize = log.entries.values().map(size_of).sum();
                prop_assert_eq!(log.bytes, held);
                prop_assert!(log.by_origin.values().all(|k| log.entries.contains_key(k)));
                prop_assert!(log.versions.values().flatten().all(|k| log.entries.contains_key(k)));
                prop_assert!(log.entries.len() <= capacity);
                let _ = log.missing_for(&Digest::default(), usize::MAX);
            }
        }
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
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let dups: Vec<Entry> = shuffled.iter().step_by(3).cloned().collect();
            shuffled.extend(dups);
            let mut a = Log::new(100);
            let mut b = Log::new(100);
            for e in entries {
                a.insert(e);
            }
            for e in shuffled {
                b.insert(e);
            }
            prop_assert_eq!(a.digest_hex(), b.digest_hex());
            prop_assert_eq!(a.shared(), b.shared());
            let max = a.iter().map(super::super::types::Entry::key).max();
            prop_assert_eq!(a.shared().map(super::super::types::Entry::key), max);
        }
    }
}
