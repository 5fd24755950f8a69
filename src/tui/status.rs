//! What the node says about itself and the group, as the screen last heard it: who it is and
//! where it joined, the shared message and the settled mark, its ring neighbours, its counters,
//! and group time (what it rests on, and this host's clock against it).

use std::time::Duration;

use crate::net::Ready;
use crate::proto::{ClockBasis, Entry, Hlc, Neighbours, Stats, Time};

/// The node's status.
#[derive(Debug)]
pub struct NodeStatus {
    me: Option<Ready>,
    shared: Option<Entry>,
    /// Messages stamped before this are held by every live member.
    settled: Hlc,
    ring: Neighbours,
    stats: Stats,
    /// Events the network task dropped because the screen fell behind.
    lagged: u64,
    /// This host's wall clock minus group time.
    skew_ms: i64,
    clock: ClockBasis,
    /// The node's group time at a monotonic instant: the time of the screen's own lines.
    group_anchor: Option<(Hlc, Time)>,
    /// Messages stamped before this were settled while another member was live: they are held
    /// elsewhere too. (Settled alone means nothing more than "here".)
    others_hold: Hlc,
    /// Every name this node has had here, the current one last (at most `MAX_NAMES`): a line
    /// that mentions any of them mentions us.
    names: Vec<String>,
}

/// Names remembered for mentions.
const MAX_NAMES: usize = 16;

impl Default for NodeStatus {
    fn default() -> Self {
        NodeStatus {
            me: None,
            shared: None,
            settled: Hlc(0),
            ring: Neighbours::default(),
            stats: Stats::default(),
            lagged: 0,
            skew_ms: 0,
            clock: ClockBasis::Own,
            group_anchor: None,
            others_hold: Hlc(0),
            names: Vec::new(),
        }
    }
}

impl NodeStatus {
    /// Who this node is and where it joined, once it has.
    pub fn me(&self) -> Option<&Ready> {
        self.me.as_ref()
    }

    /// A keyed (sealed) group.
    pub fn keyed(&self) -> bool {
        self.me.as_ref().is_some_and(|m| m.key.is_some())
    }

    /// This node's name, or nothing before the node is ready.
    pub fn my_name(&self) -> &str {
        self.me.as_ref().map_or("", |m| &*m.name)
    }

    /// The shared message, if there is one.
    pub fn shared(&self) -> Option<&Entry> {
        self.shared.as_ref()
    }

    /// Messages stamped before this are held by every live member.
    pub fn settled(&self) -> Hlc {
        self.settled
    }

    /// This node's ring neighbours.
    pub fn ring(&self) -> Neighbours {
        self.ring
    }

    /// The node's counters, from its latest status report.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Events the network task dropped because the screen fell behind.
    pub fn lagged(&self) -> u64 {
        self.lagged
    }

    /// This host's wall clock minus group time, as the node reports it.
    pub fn skew_ms(&self) -> i64 {
        self.skew_ms
    }

    /// What group time rests on, as the node reports it.
    pub fn clock(&self) -> ClockBasis {
        self.clock
    }

    /// Group time at monotonic `now`, from the node's last report and the monotonic clock since
    /// (before the first report, the wall clock `wall` less the skew), so system lines sit among
    /// the messages of the same moment even on a host whose clock is off or steps.
    pub fn group_now(&self, now: Time, wall: Duration) -> Duration {
        if let Some((time, mono)) = self.group_anchor {
            return time.to_unix() + now.since(mono);
        }
        let ms = (wall.as_millis() as i64).saturating_sub(self.skew_ms);
        Duration::from_millis(ms.max(0) as u64)
    }

    pub(super) fn ready(&mut self, r: Ready) {
        self.had_name(&r.name);
        self.me = Some(r);
    }

    /// The user took another name.
    pub(super) fn renamed(&mut self, name: &str) {
        if let Some(me) = self.me.as_mut() {
            name.clone_into(&mut me.name);
        }
        self.had_name(name);
    }

    fn had_name(&mut self, name: &str) {
        self.names.retain(|n| n != name);
        if self.names.len() >= MAX_NAMES {
            self.names.remove(0);
        }
        self.names.push(name.to_string());
    }

    /// Every name this node has had here, the current one last.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub(super) fn counters(&mut self, stats: Stats) {
        self.stats = stats;
    }

    pub(super) fn lag(&mut self, n: u64) {
        self.lagged += n;
    }

    /// The node's group time `time` at monotonic `mono`, resting on `basis`.
    pub(super) fn group_time(&mut self, time: Hlc, mono: Time, basis: ClockBasis) {
        self.group_anchor = Some((time, mono));
        self.clock = basis;
    }

    /// Group time moved by `by_ms` to agree with the group.
    pub(super) fn regroup(&mut self, by_ms: i64) {
        if let Some((time, mono)) = self.group_anchor {
            self.group_anchor = Some((super::messages::shift(time, by_ms), mono));
        }
    }

    pub(super) fn skew(&mut self, skew_ms: i64) {
        self.skew_ms = skew_ms;
    }

    /// A new shared message (`settled`: every live member holds it).
    pub(super) fn share(&mut self, entry: Entry, settled: bool) {
        if settled {
            self.settle_past(entry.ts);
        }
        self.shared = Some(entry);
    }

    /// A shared message from a resync, if it ranks after the one shown (see `Entry::rank`).
    pub(super) fn share_if_newer(&mut self, entry: Option<Entry>) {
        if entry.as_ref().is_some_and(|s| self.shared.as_ref().is_none_or(|cur| s.rank() > cur.rank())) {
            self.shared = entry;
        }
    }

    /// Everything stamped before `upto` is settled.
    pub(super) fn settle(&mut self, upto: Hlc) {
        self.settled = self.settled.max(upto);
    }

    /// The settled mark is at `upto` while other members are live: what it passed, they hold.
    pub(super) fn others_hold(&mut self, upto: Hlc) {
        self.others_hold = self.others_hold.max(upto.min(self.settled));
    }

    /// Whether a message stamped `ts` is held by another member too (it was settled while one
    /// was live); a message settled while this node was alone is only here.
    pub fn held_elsewhere(&self, ts: Hlc) -> bool {
        ts < self.others_hold
    }

    /// A message stamped `ts` is settled: the mark moves past it.
    pub(super) fn settle_past(&mut self, ts: Hlc) {
        self.settle(Hlc(ts.0.saturating_add(1)));
    }

    pub(super) fn set_ring(&mut self, ring: Neighbours) {
        self.ring = ring;
    }
}
