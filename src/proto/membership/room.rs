//! Room in the table: which addresses have someone in it (a newcomer at an address no one else
//! has cannot be a restart, and most are), and the note that a full table has nothing to forget
//! for a while (a newcomer is then refused without a look through the table: in a group larger
//! than the table, every heartbeat of a member it leaves out would cost one).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::super::{NodeId, Time};
use super::Peer;

/// The address index and the marks that say when a full table may have room again.
#[derive(Default)]
pub(super) struct Room {
    /// The address of every peer in the table, as `ip_key`s, sorted. Four bytes a peer (a
    /// group of 1,000 keeps 999 in each node).
    ip_keys: Vec<u32>,
    /// Bumped by every change that can give something to forget: an entry added or removed, a
    /// member going down or leaving (see `Members::touch`). Not by what only moves the attested
    /// set (reports, confirmations, moves), which changes at nearly every heartbeat.
    roster: u64,
    /// The table was full with nothing to forget at this `roster`, and will be until this time
    /// at least.
    full_at: Option<(u64, Time)>,
}

/// An address in four bytes: an IPv4 address itself, an IPv6 one folded (two addresses may then
/// share a key, which only costs a look through the table).
pub(super) fn ip_key(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            (x as u32) ^ ((x >> 32) as u32) ^ ((x >> 64) as u32) ^ ((x >> 96) as u32)
        }
    }
}

impl Room {
    /// Something changed that can give something to forget.
    pub(super) fn roster_moved(&mut self) {
        self.roster += 1;
    }

    /// A peer at `ip` entered the table.
    pub(super) fn added(&mut self, ip: IpAddr) {
        let k = ip_key(ip);
        self.ip_keys.insert(self.ip_keys.partition_point(|&x| x < k), k);
    }

    /// A peer at `ip` left the table.
    pub(super) fn removed(&mut self, ip: IpAddr) {
        if let Ok(i) = self.ip_keys.binary_search(&ip_key(ip)) {
            self.ip_keys.remove(i);
        }
    }

    /// Whether anyone in the table may be at `ip` (no: surely no one).
    pub(super) fn anyone_at(&self, ip: IpAddr) -> bool {
        self.ip_keys.binary_search(&ip_key(ip)).is_ok()
    }

    /// Whether the table is known to have nothing to forget now (see `nothing_to_forget`).
    pub(super) fn known_full(&self, now: Time) -> bool {
        self.full_at.is_some_and(|(r, until)| r == self.roster && now < until)
    }

    /// A look through the full table found nothing to forget, nor can there be anything before
    /// `until` short of a change of the roster.
    pub(super) fn nothing_to_forget(&mut self, until: Time) {
        self.full_at = Some((self.roster, until));
    }

    /// The index as kept (for tests).
    #[cfg(test)]
    pub(super) fn keys(&self) -> &[u32] {
        &self.ip_keys
    }
}

/// The peer to forget to make room, if any (a walk through the table): the longest-gone down or
/// left peer, or else the member never confirmed that was heard from longest ago, once it has
/// been in the table `young_for`.
pub(super) fn forgettable(peers: &BTreeMap<NodeId, Box<Peer>>, now: Time, young_for: Duration) -> Option<NodeId> {
    let gone = peers.values().filter(|p| !p.status.is_member()).min_by_key(|p| p.since).map(|p| p.id);
    gone.or_else(|| {
        let old_enough = peers.values().filter(|p| !p.confirmed && now.since(p.first_heard) >= young_for);
        old_enough.min_by_key(|p| p.last_seen).map(|p| p.id)
    })
}

/// When the first member never confirmed will have been in the table `young_for` (never, if
/// every member is confirmed: confirmation is never undone).
pub(super) fn young_until(peers: &BTreeMap<NodeId, Box<Peer>>, young_for: Duration) -> Time {
    let until = peers.values().filter(|p| !p.confirmed).map(|p| p.first_heard + young_for).min();
    until.unwrap_or(Time(Duration::MAX))
}
