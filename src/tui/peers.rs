//! The peers pane's model: a row for every peer the node reports (the gone linger a while), and
//! how long this node has been alone, with what that likely means.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::proto::{DropReason, NodeId, PeerView, Stats, Status, Time};

/// How long a peer that went down or left stays on screen.
pub const LINGER: Duration = Duration::from_secs(30);
/// How long the screen waits, alone, before it says so.
pub const ALONE_AFTER: Duration = Duration::from_secs(10);

/// One peer in the peers pane.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRow {
    /// The peer.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// The address its datagrams come from.
    pub addr: SocketAddr,
    /// Its ring listener's port: with the address, its place in the ring.
    pub tcp_port: u16,
    /// Alive, suspect, down or left.
    pub status: Status,
    /// When this node last heard from it.
    pub last_seen: Time,
    /// Fraction of its recent frames that never arrived, 0 to 1.
    pub loss: f64,
    /// When it went down or left.
    pub since: Time,
    /// Its wall clock minus group time (see `PeerView::skew_ms`).
    pub skew_ms: i64,
    /// The ring vouches for it (see `PeerView::vouched`).
    pub vouched: bool,
}

impl PeerRow {
    fn from_view(v: &PeerView, now: Time) -> Self {
        PeerRow {
            node: v.node,
            name: v.name.clone(),
            addr: v.addr,
            tcp_port: v.tcp_port,
            status: v.status,
            last_seen: v.last_seen,
            loss: v.loss,
            since: now,
            skew_ms: v.skew_ms,
            vouched: v.vouched,
        }
    }
}

/// No peer for a while: what the screen says about it (see `PeerPane::nobody_here`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alone {
    /// Nothing heard, not even this node's own datagrams: something here drops the group's port.
    DeafHere,
    /// Peers dial this node's ring port (so they hear it), but none of their multicast arrives.
    InboundBlocked,
    /// Datagrams sealed with a key this node does not have (or another key): a keyed group.
    KeyedGroup,
    /// Simply nobody heard: the usual causes, and the doctor.
    Nobody,
}

/// The peers pane.
#[derive(Debug, Default)]
pub struct PeerPane {
    rows: BTreeMap<NodeId, PeerRow>,
    /// Since when no other member has been listed, and the ring links refused by then (a peer
    /// dialling us heard us, though we did not hear it).
    alone: Option<(Time, u64)>,
}

/// Ring links refused because the dialler is no neighbour of ours, so far.
fn refused_links(stats: &Stats) -> u64 {
    stats.dropped.get(&DropReason::LinkNotNeighbour).copied().unwrap_or(0)
}

impl PeerPane {
    /// The rows, by node id.
    pub fn rows(&self) -> &BTreeMap<NodeId, PeerRow> {
        &self.rows
    }

    /// Rows in ring order: by address, then node id.
    pub fn sorted(&self) -> Vec<&PeerRow> {
        let mut v: Vec<&PeerRow> = self.rows.values().collect();
        v.sort_by_key(|p| (p.addr.ip(), p.tcp_port, p.node));
        v
    }

    /// Peers that are members (alive or suspect).
    pub fn alive(&self) -> usize {
        self.rows.values().filter(|p| p.status.is_member()).count()
    }

    /// Members' names that start with `lowered` (any case), for Tab.
    pub(super) fn names_starting(&self, lowered: &str) -> Vec<String> {
        let members = self.rows.values().filter(|p| p.status.is_member());
        members.map(|p| p.name.clone()).filter(|n| n.to_lowercase().starts_with(lowered)).collect()
    }

    /// The name to show for `node`: its name if listed, else its short id.
    pub(super) fn name_of(&self, node: NodeId) -> String {
        self.rows.get(&node).map_or_else(|| node.short(), |p| p.name.clone())
    }

    /// `node` joined or came back, at `addr`: true if it was shown down (so it is back).
    pub(super) fn up(&mut self, node: NodeId, name: String, addr: SocketAddr, now: Time) -> bool {
        // A new life of a member shown gone (a restart: the same name from the same host, under
        // a new id) takes its row at once, rather than lingering beside it.
        self.rows.retain(|id, p| *id == node || p.status.is_member() || p.name != name || p.addr.ip() != addr.ip());
        let old = self.rows.get(&node);
        let back = old.is_some_and(|p| p.status == Status::Down);
        let tcp_port = old.map_or(0, |p| p.tcp_port);
        let (skew_ms, vouched) = old.map_or((0, false), |p| (p.skew_ms, p.vouched));
        let row = PeerRow {
            node,
            name,
            addr,
            tcp_port,
            status: Status::Alive,
            last_seen: now,
            loss: 0.0,
            since: now,
            skew_ms,
            vouched,
        };
        self.rows.insert(node, row);
        back
    }

    pub(super) fn set_status(&mut self, node: NodeId, status: Status) {
        if let Some(p) = self.rows.get_mut(&node) {
            p.status = status;
        }
    }

    /// `node` went down or left (`status`) at `now`.
    pub(super) fn gone(&mut self, node: NodeId, status: Status, now: Time) {
        if let Some(p) = self.rows.get_mut(&node) {
            p.status = status;
            p.since = now;
        }
    }

    pub(super) fn remove(&mut self, node: NodeId) {
        self.rows.remove(&node);
    }

    pub(super) fn rename(&mut self, node: NodeId, new: &str) {
        if let Some(p) = self.rows.get_mut(&node) {
            new.clone_into(&mut p.name);
        }
    }

    /// The gone stay on screen for `LINGER`, then go.
    pub(super) fn linger(&mut self, now: Time) {
        self.rows.retain(|_, p| p.status.is_member() || now.since(p.since) < LINGER);
    }

    /// The core's peer table, once a second or after a lag: rows the screen missed appear, and
    /// every row takes the core's status, so no peer is ever missing for good.
    pub(super) fn merge(&mut self, views: &[PeerView], now: Time) {
        for v in views {
            match self.rows.get_mut(&v.node) {
                Some(p) => {
                    if p.status != v.status {
                        p.since = now;
                    }
                    p.status = v.status;
                    p.name.clone_from(&v.name);
                    p.addr = v.addr;
                    p.last_seen = v.last_seen;
                    p.loss = v.loss;
                    p.tcp_port = v.tcp_port;
                    p.skew_ms = v.skew_ms;
                    p.vouched = v.vouched;
                }
                // A member the screen never heard of (its event was dropped) appears; the gone
                // are not brought back once their row has lingered and gone.
                None if v.status.is_member() => {
                    self.rows.insert(v.node, PeerRow::from_view(v, now));
                }
                None => {}
            }
        }
        // Members the core no longer lists were forgotten there.
        self.rows.retain(|id, p| !p.status.is_member() || views.iter().any(|v| v.node == *id));
    }

    /// Starts or ends the time alone, after anything that may change the members (`joined`:
    /// the node is up).
    pub(super) fn track_alone(&mut self, joined: bool, stats: &Stats, now: Time) {
        if !joined || self.alive() > 0 {
            self.alone = None;
        } else if self.alone.is_none() {
            self.alone = Some((now, refused_links(stats)));
        }
    }

    /// After `ALONE_AFTER` with no other member, why that may be; `None` while there are peers
    /// (or before the node is up).
    pub fn nobody_here(&self, stats: &Stats, now: Time) -> Option<Alone> {
        let (since, refused) = self.alone?;
        if now.since(since) < ALONE_AFTER {
            return None;
        }
        let sealed = [DropReason::Sealed, DropReason::BadKey]
            .iter()
            .map(|r| stats.dropped.get(r).copied().unwrap_or(0))
            .sum::<u64>();
        Some(if stats.own_echoes == 0 {
            Alone::DeafHere
        } else if sealed > 0 {
            Alone::KeyedGroup
        } else if refused_links(stats) > refused {
            Alone::InboundBlocked
        } else {
            Alone::Nobody
        })
    }
}
