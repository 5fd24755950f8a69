//! What a node can tell about itself at any moment: counters, the peer table as front ends
//! see it, and the whole snapshot that `/state` prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::clock::ClockBasis;
use super::peers::Status;
use super::reasons::DropReason;
use super::ring::Neighbours;
use super::types::{Entry, Hlc, NodeId, Time};

/// What this node has sent, received and dropped since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames multicast to the group.
    pub frames_sent: u64,
    /// Datagrams that carried several of those frames at once (a burst, bundled).
    pub bundles_sent: u64,
    /// Frames taken from the group (this node's own echo aside).
    pub frames_received: u64,
    /// Chat messages this node sent.
    pub messages_sent: u64,
    /// Chat messages taken from the group by multicast.
    pub messages_received: u64,
    /// Messages that arrived by repair over the ring, not by multicast.
    pub repaired: u64,
    /// Frames sent on ring links.
    pub link_frames_sent: u64,
    /// Frames taken from ring links.
    pub link_frames_received: u64,
    /// Copies of messages already in the log (senders may repeat a message on purpose).
    pub duplicates: u64,
    /// Received stamps further ahead than `max_clock_ahead`: taken, but the clock held back.
    pub clock_held: u64,
    /// Times this node was paused (stopped, starved) long enough to judge its peers unfairly.
    pub pauses: u64,
    /// This node's own frames heard back from the group (multicast loops back on this host):
    /// none at all means something here drops the group's datagrams (`groupcast doctor`).
    pub own_echoes: u64,
    /// Frames heard in this node's own name that it never sent (see `Event::Impersonated`).
    pub impersonations: u64,
    /// Messages held in more than one version (one forged; see `Event::Conflict`).
    pub conflicts: u64,
    /// Everything dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
}

impl Stats {
    /// Everything dropped, over all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// One peer as front ends show it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerView {
    /// The peer.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// The address its datagrams come from.
    pub addr: SocketAddr,
    /// Its ring listener's port (0: not in the ring).
    pub tcp_port: u16,
    /// Alive, suspect, down or left.
    pub status: Status,
    /// Fraction of its recent frames that never arrived, 0 to 1.
    pub loss: f64,
    /// When this node last heard from it.
    pub last_seen: Time,
    /// Its wall clock minus group time: as this node measures it once its heartbeats are heard
    /// (two hosts whose clocks split each keep their own, and each sees the other's off), else
    /// as it reports.
    pub skew_ms: i64,
    /// The ring vouches for it (linked with this node, or heard on the links of those that are):
    /// a node for real, not only a name heard (a replay of a gone life, a made-up peer).
    pub vouched: bool,
}

/// Everything a node can tell about itself at one moment, as `/state` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// This node.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// This host's wall clock minus the group time it stamps with.
    pub skew_ms: i64,
    /// What group time rests on.
    pub clock: ClockBasis,
    /// Group time when the snapshot was taken.
    pub group_now: Hlc,
    /// The shared message, if there is one.
    pub shared: Option<Entry>,
    /// Messages stamped before this are held by every live member.
    pub settled: Hlc,
    /// This node's ring neighbours.
    pub ring: Neighbours,
    /// Peers this node holds a ring link to.
    pub links: Vec<NodeId>,
    /// Sorted by address, then node id.
    pub peers: Vec<PeerView>,
    /// Messages in the log.
    pub messages: usize,
    /// Messages not yet settled.
    pub pending: usize,
    /// Messages dropped from the log because it was full.
    pub evicted: u64,
    /// Messages known lost: they fell out of retention before this node got them.
    pub lost: u64,
    /// SHA-256 of the log in hex: nodes holding the same messages have the same digest.
    pub log_digest: String,
    /// Counters since start.
    pub stats: Stats,
}
