//! The ring of TCP links (the original notes' "connect to the closest address above and below"):
//! who a node's neighbours are, who dials whom, and the state of each link and dial.
//!
//! Members are ordered by (IP, TCP port, node id); each node links to its predecessor and
//! successor, wrapping around. One member: no link. Two: one link, both neighbours the same.
//! Of each neighbouring pair, the one earlier in the order dials, so no pair dials twice.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::types::{NodeId, Time};

/// A member's place in the ring order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RingKey {
    /// The member's address on the group's interface.
    pub ip: IpAddr,
    /// Its ring listener's TCP port.
    pub port: u16,
    /// Its id, which breaks ties between members on one host and port.
    pub node: NodeId,
}

impl RingKey {
    /// Where to dial the member.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

/// A node's two ring neighbours (the same peer twice in a group of two; none when alone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbours {
    /// The member before this one in the ring order.
    pub prev: Option<NodeId>,
    /// The member after this one in the ring order.
    pub next: Option<NodeId>,
}

impl Neighbours {
    /// Is `n` one of the two?
    pub fn contains(&self, n: NodeId) -> bool {
        self.prev == Some(n) || self.next == Some(n)
    }
}

/// The neighbours of `me` among `members` (which may include `me`).
pub(super) fn neighbours(me: RingKey, members: impl IntoIterator<Item = RingKey>) -> Neighbours {
    let mut ring: Vec<RingKey> = members.into_iter().filter(|k| *k != me).collect();
    if ring.is_empty() {
        return Neighbours::default();
    }
    ring.push(me);
    ring.sort();
    ring.dedup();
    let i = ring.iter().position(|k| *k == me).expect("me is in the ring");
    let n = ring.len();
    Neighbours { prev: Some(ring[(i + n - 1) % n].node), next: Some(ring[(i + 1) % n].node) }
}

/// Whether `me` is one of `newcomer`'s two neighbours in the ring of `members` (and both): one
/// pass, no sort, as it is asked for every newcomer heard.
pub(super) fn is_neighbour_of(me: RingKey, newcomer: RingKey, members: impl IntoIterator<Item = RingKey>) -> bool {
    // Strictly between a and b, going forward round the ring from a.
    let between = |a: RingKey, k: RingKey, b: RingKey| if a < b { a < k && k < b } else { k > a || k < b };
    let (mut next, mut prev) = (true, true);
    for k in members {
        if k == me || k == newcomer {
            continue;
        }
        next &= !between(newcomer, k, me);
        prev &= !between(me, k, newcomer);
        if !next && !prev {
            return false;
        }
    }
    next || prev
}

/// Why a link or a dial ended, as the network task saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    /// The connection closed or failed (EOF, reset, I/O error).
    Broken,
    /// A dial was refused: nothing listens there any more.
    Refused,
    /// A dial timed out or the host is unreachable.
    Unreachable,
}

/// One open ring link as the core sees it.
#[derive(Clone, Debug)]
struct Link {
    /// Where the connection comes from, as the network saw it: what is refused on the link
    /// is reported with it.
    addr: SocketAddr,
    last_recv: Time,
    last_sent: Time,
    /// The peer said Bye: its close is deliberate.
    bye: bool,
    /// When this link stopped being to a neighbour, if it has.
    not_neighbour_since: Option<Time>,
}

/// Dialling a neighbour: whether a dial is out, and when to try again.
#[derive(Clone, Debug)]
struct Dial {
    in_flight: bool,
    next_try: Time,
    backoff: Duration,
    /// This dial checks whether a peer whose link broke is still there.
    probe: bool,
}

impl Dial {
    /// Not out any more: the next try waits for the backoff, which doubles.
    fn back_off(&mut self, now: Time) {
        self.in_flight = false;
        self.next_try = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A peer that answered a probe is taken to be there this long: its link closing again within
/// it is not probed again (two nodes that disagree for a moment about who neighbours whom would
/// dial and close at the speed of the LAN, a suspicion and a recovery each time).
const PROBE_ANSWERED: Duration = Duration::from_secs(1);

/// What tending the links found for one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkChore {
    /// Silent for longer than the timeout: taken as broken (it is already forgotten). Its
    /// last frame came at `last_heard`.
    Broken {
        /// When the link last spoke.
        last_heard: Time,
    },
    /// No longer to a neighbour, for longer than the grace: close it with a goodbye.
    Retire,
    /// Nothing sent for a heartbeat: send a keepalive.
    Ping,
}

/// The node's ring neighbours, links and dials. Callers say what happened (`up`, `heard`,
/// `sent`, `bye`, `remove`, `dial_failed`) and ask what to do (`tend`); the table itself stays
/// private.
#[derive(Default)]
pub(super) struct Links {
    open: BTreeMap<NodeId, Link>,
    dials: BTreeMap<NodeId, Dial>,
    /// The neighbours as last worked out, and since when.
    ring: Neighbours,
    ring_since: Time,
    /// When the ring was last looked after.
    last_tend: Time,
    /// Peers that answered a probe dial lately, and when.
    answered: BTreeMap<NodeId, Time>,
}

impl Links {
    /// The neighbours as last worked out.
    pub(super) fn neighbours(&self) -> Neighbours {
        self.ring
    }

    /// The neighbours worked out anew at `now`; true if they changed.
    pub(super) fn set_neighbours(&mut self, ring: Neighbours, now: Time) -> bool {
        let changed = std::mem::replace(&mut self.ring, ring) != ring;
        if changed {
            self.ring_since = now;
        }
        changed
    }

    /// When the neighbours last changed.
    pub(super) fn neighbours_since(&self) -> Time {
        self.ring_since
    }

    /// When the link to `peer` last spoke, if there is one.
    pub(super) fn last_heard(&self, peer: NodeId) -> Option<Time> {
        self.open.get(&peer).map(|l| l.last_recv)
    }

    /// When the ring was last looked after.
    pub(super) fn last_tended(&self) -> Time {
        self.last_tend
    }

    /// Peers with an open link.
    pub(super) fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.open.keys().copied()
    }

    /// Where the link to `peer` comes from, if there is one.
    pub(super) fn addr(&self, peer: NodeId) -> Option<SocketAddr> {
        self.open.get(&peer).map(|l| l.addr)
    }

    /// Something arrived on the link to `peer`; false if there is no such link.
    pub(super) fn heard(&mut self, peer: NodeId, now: Time) -> bool {
        self.open.get_mut(&peer).map(|l| l.last_recv = now).is_some()
    }

    /// Was something heard on a link to `peer` within `d`?
    pub(super) fn heard_within(&self, peer: NodeId, now: Time, d: Duration) -> bool {
        self.open.get(&peer).is_some_and(|l| now.since(l.last_recv) < d)
    }

    /// Something was sent on the link to `peer`.
    pub(super) fn sent(&mut self, peer: NodeId, now: Time) {
        if let Some(l) = self.open.get_mut(&peer) {
            l.last_sent = now;
        }
    }

    /// `peer` said goodbye: its close will be deliberate.
    pub(super) fn bye(&mut self, peer: NodeId) {
        if let Some(l) = self.open.get_mut(&peer) {
            l.bye = true;
        }
    }

    /// Forgets the link to `peer`; `Some(true)` if it had said goodbye.
    pub(super) fn remove(&mut self, peer: NodeId) -> Option<bool> {
        self.open.remove(&peer).map(|l| l.bye)
    }

    /// Up to `max` links and how long ago each was last heard (ms): vouches for heartbeats.
    pub(super) fn heard_ages(&self, now: Time, max: usize) -> Vec<(NodeId, u32)> {
        self.open
            .iter()
            .take(max)
            .map(|(id, l)| (*id, now.since(l.last_recv).as_millis().min(u128::from(u32::MAX)) as u32))
            .collect()
    }

    /// What each link needs now, given the ring: links silent past `timeout` are dropped and
    /// reported `Broken`; links no longer to a neighbour for `grace` are to be retired; links
    /// idle for `ping_after` want a ping. Dial state for peers no longer wanted is forgotten.
    pub(super) fn tend(
        &mut self,
        now: Time,
        timeout: Duration,
        grace: Duration,
        ping_after: Duration,
    ) -> Vec<(NodeId, LinkChore)> {
        let ring = self.ring;
        self.last_tend = now;
        let mut chores = Vec::new();
        // When one link wants a ping, links idle for half as long get theirs in the same
        // wake-up: the pings of all links go out together, not each at its own moment.
        let ping_due = self.open.values().any(|l| now.since(l.last_sent) >= ping_after);
        let ping_after = if ping_due { ping_after / 2 } else { ping_after };
        self.open.retain(|&peer, link| {
            if now.since(link.last_recv) > timeout {
                chores.push((peer, LinkChore::Broken { last_heard: link.last_recv }));
                return false;
            }
            if ring.contains(peer) {
                link.not_neighbour_since = None;
            } else if now.since(*link.not_neighbour_since.get_or_insert(now)) > grace {
                chores.push((peer, LinkChore::Retire));
                return true;
            }
            if now.since(link.last_sent) >= ping_after {
                chores.push((peer, LinkChore::Ping));
            }
            true
        });
        self.dials.retain(|p, d| d.in_flight || ring.contains(*p));
        chores
    }

    /// When `tend` next has something to do for the links: a ping to send, a silence that
    /// becomes a broken link, a former neighbour's link to retire.
    pub(super) fn next_deadline(&self, timeout: Duration, grace: Duration, ping_after: Duration) -> Option<Time> {
        let tick = Duration::from_millis(1);
        self.open
            .values()
            .flat_map(|l| {
                let retire = l.not_neighbour_since.map(|t| t + grace + tick);
                [Some(l.last_sent + ping_after), Some(l.last_recv + timeout + tick), retire]
            })
            .flatten()
            .min()
    }

    /// When a dial to `peer` may go out (now, if none was tried); `None` while one is out or a
    /// link is up.
    pub(super) fn next_dial(&self, peer: NodeId, now: Time) -> Option<Time> {
        if self.open.contains_key(&peer) {
            return None;
        }
        match self.dials.get(&peer) {
            Some(d) if d.in_flight => None,
            Some(d) => Some(d.next_try),
            None => Some(now),
        }
    }

    /// A link to `peer`, from `addr`, is open; false if one already was (one link per peer).
    pub(super) fn up(&mut self, peer: NodeId, addr: SocketAddr, now: Time) -> bool {
        if self.dials.remove(&peer).is_some_and(|d| d.probe) {
            // Answered: its process is there. Kept a while, a few peers at most.
            self.answered.retain(|_, t| now.since(*t) < PROBE_ANSWERED);
            self.answered.insert(peer, now);
        }
        if self.open.contains_key(&peer) {
            return false;
        }
        let link = Link { addr, last_recv: now, last_sent: now, bye: false, not_neighbour_since: None };
        self.open.insert(peer, link);
        true
    }

    /// May we dial `peer` now?
    pub(super) fn may_dial(&self, peer: NodeId, now: Time) -> bool {
        !self.open.contains_key(&peer) && self.dials.get(&peer).is_none_or(|d| !d.in_flight && d.next_try <= now)
    }

    /// A dial to `peer` is going out; a `probe` checks whether a peer whose link broke is there.
    pub(super) fn dialing(&mut self, peer: NodeId, probe: bool) {
        let d = self.dials.entry(peer).or_insert(Dial {
            in_flight: false,
            next_try: Time::default(),
            backoff: FIRST_BACKOFF,
            probe: false,
        });
        d.in_flight = true;
        d.probe = probe;
    }

    /// A dial failed: back off. Returns whether it was a probe.
    pub(super) fn dial_failed(&mut self, peer: NodeId, now: Time) -> bool {
        match self.dials.get_mut(&peer) {
            Some(d) => {
                d.back_off(now);
                std::mem::take(&mut d.probe)
            }
            None => false,
        }
    }

    /// Whether `peer` answered a probe dial of ours less than `PROBE_ANSWERED` ago: its link
    /// closing now is no sign that its process is gone (it may not take us as its neighbour).
    pub(super) fn answered_lately(&self, peer: NodeId, now: Time) -> bool {
        self.answered.get(&peer).is_some_and(|t| now.since(*t) < PROBE_ANSWERED)
    }

    /// `peer` closed our link with a goodbye: dial it again only after a pause.
    pub(super) fn pause_dials(&mut self, peer: NodeId, now: Time) {
        let d = self.dials.entry(peer).or_insert(Dial {
            in_flight: false,
            next_try: now,
            backoff: FIRST_BACKOFF,
            probe: false,
        });
        d.back_off(now);
    }

    /// A dial of ours to `peer` came up after `peer` stopped being a neighbour, and this node
    /// closed it: the dial is over, and may be made again after a pause. (Nothing is kept for
    /// a peer that was not dialled.)
    pub(super) fn dial_refused_here(&mut self, peer: NodeId, now: Time) {
        if let Some(d) = self.dials.get_mut(&peer) {
            d.back_off(now);
        }
    }

    /// This node was paused: the silence on its links was its own, so it counts from `now`.
    pub(super) fn forgive(&mut self, now: Time) {
        for l in self.open.values_mut() {
            l.last_recv = l.last_recv.max(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(last: u8, port: u16, node: u64) -> RingKey {
        RingKey { ip: IpAddr::from([10, 0, 0, last]), port, node: NodeId(node) }
    }

    #[test]
    fn one_node_has_no_neighbours_and_two_have_one_link() {
        let a = key(1, 9000, 1);
        let b = key(2, 9000, 2);
        assert_eq!(neighbours(a, [a]), Neighbours::default());
        assert_eq!(neighbours(a, [a, b]), Neighbours { prev: Some(NodeId(2)), next: Some(NodeId(2)) });
    }

    #[test]
    fn the_ring_follows_address_then_port_then_id_and_wraps() {
        let keys = [key(3, 1, 30), key(1, 2, 11), key(1, 1, 10), key(2, 1, 20), key(1, 1, 9)];
        // Order: (1,1,9) (1,1,10) (1,2,11) (2,1,20) (3,1,30)
        let n = |k| neighbours(k, keys);
        assert_eq!(n(key(1, 1, 9)), Neighbours { prev: Some(NodeId(30)), next: Some(NodeId(10)) });
        assert_eq!(n(key(1, 2, 11)), Neighbours { prev: Some(NodeId(10)), next: Some(NodeId(20)) });
        assert_eq!(n(key(3, 1, 30)), Neighbours { prev: Some(NodeId(20)), next: Some(NodeId(9)) });
    }

    #[test]
    fn a_newcomers_neighbours_are_found_in_one_pass_as_the_sorted_ring_has_them() {
        let keys: Vec<RingKey> = [(3, 30), (1, 10), (5, 50), (2, 20), (4, 40)].map(|(ip, n)| key(ip, 1, n)).to_vec();
        for &newcomer in &keys {
            let theirs = neighbours(newcomer, keys.iter().copied());
            for &me in &keys {
                if me != newcomer {
                    assert_eq!(is_neighbour_of(me, newcomer, keys.iter().copied()), theirs.contains(me.node));
                }
            }
        }
        assert!(is_neighbour_of(keys[0], keys[1], keys[..2].iter().copied()), "two nodes: each the other's");
    }

    #[test]
    fn dials_back_off_and_probes_are_reported_once() {
        let mut l = Links::default();
        let t = Time::from_millis(1000);
        assert!(l.may_dial(NodeId(2), t));
        l.dialing(NodeId(2), true);
        assert!(!l.may_dial(NodeId(2), t));
        assert!(l.dial_failed(NodeId(2), t));
        assert!(!l.may_dial(NodeId(2), t));
        assert!(l.may_dial(NodeId(2), Time::from_millis(1100)));
        l.dialing(NodeId(2), false);
        assert!(!l.dial_failed(NodeId(2), Time::from_millis(1100)));
        assert_eq!(l.dials[&NodeId(2)].backoff, Duration::from_millis(400));
        let from = SocketAddr::from(([10, 0, 0, 2], 7000));
        assert!(l.up(NodeId(2), from, t));
        assert!(!l.up(NodeId(2), from, t), "one link per peer");
        assert_eq!(l.addr(NodeId(2)), Some(from));
        assert!(!l.may_dial(NodeId(2), Time::from_millis(99_999)));
    }
}
