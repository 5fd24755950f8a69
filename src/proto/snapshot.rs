//! What a node can tell about itself at any moment: counters, the peer table as front ends
//! see it, and the whole snapshot that `/state` prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::peers::Status;
use super::reasons::DropReason;
use super::ring::Neighbours;
use super::types::{Entry, Hlc, NodeId, Time};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_sent: u64,
    pub frames_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Messages that arrived by repair over the ring, not by multicast.
    pub repaired: u64,
    pub link_frames_sent: u64,
    pub link_frames_received: u64,
    /// Copies of messages already in the log (senders may repeat a message on purpose).
    pub duplicates: u64,
    /// Received stamps further ahead than `max_clock_ahead`: taken, but the clock held back.
    pub clock_held: u64,
    /// Times this node was paused (stopped, starved) long enough to judge its peers unfairly.
    pub pauses: u64,
    /// Everything dropped, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
}

impl Stats {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PeerView {
    pub node: NodeId,
    pub name: String,
    pub addr: SocketAddr,
    /// Its ring listener's port (0: not in the ring).
    pub tcp_port: u16,
    pub status: Status,
    pub loss: f64,
    pub last_seen: Time,
    /// Its wall clock minus group time, as it reports.
    pub skew_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub node: NodeId,
    pub name: String,
    /// This host's wall clock minus the group time it stamps with.
    pub skew_ms: i64,
    pub shared: Option<Entry>,
    /// Messages stamped before this are held by every live member.
    pub settled: Hlc,
    pub ring: Neighbours,
    /// Peers this node holds a ring link to.
    pub links: Vec<NodeId>,
    /// Sorted by address, then node id.
    pub peers: Vec<PeerView>,
    pub messages: usize,
    /// Messages not yet settled.
    pub pending: usize,
    pub evicted: u64,
    /// Messages known lost: they fell out of retention before this node got them.
    pub lost: u64,
    pub log_digest: String,
    pub stats: Stats,
}
