//! The desk for bare-text datagrams from old clients.
//!
//! Bare text arrives at every node at its own time with no stamp. One node (the stamper, the
//! member with the lowest id) stamps it and multicasts the stamped copy; the others hold their
//! own copy here until the stamped one arrives, and stamp it themselves only if it never does.
//! An old client whose stdin closed multicasts its buffer in a tight loop, so each sending host
//! (IP address, whatever its port: rotating ports buys nothing) gets a token bucket, and the whole
//! group one more. (Reports of what is dropped are `Reports`', for every kind of drop.)

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::types::Time;

/// Sending hosts remembered at most.
const MAX_SOURCES: usize = 256;
const MAX_HELD: usize = 256;
/// How long a stamped copy that arrived before our own bare datagram is remembered.
const RELAY_MEMORY: Duration = Duration::from_secs(2);

/// The group's bucket holds this many times one host's rate and burst.
const GROUP_SHARE: f64 = 4.0;

/// A token bucket.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Time,
}

impl Bucket {
    fn full(burst: f64, now: Time) -> Self {
        Bucket { tokens: burst, last: now }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Time) {
        self.tokens = (self.tokens + now.since(self.last).as_secs_f64() * rate).min(burst);
        self.last = self.last.max(now);
    }
}

struct Held {
    addr: SocketAddr,
    text: String,
    deadline: Time,
}

/// Bare text waits at most this many stamping waits for a copy stamped by a member of lower id.
const MAX_RANK: u32 = 4;

/// What became of a bare datagram (see `BareDesk::arrive`).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Arrived {
    /// Over its host's or the group's rate.
    RateLimited,
    /// The stamper's copy came before it: already in the log.
    Stamped,
    /// This node stamps it now.
    Stamp(String),
    /// Held for the stamper's copy.
    Held,
    /// Held copies fill the queue.
    QueueFull,
}

/// Bare text held for the stamper, and the rate limits per old-client host and for the group.
pub(super) struct BareDesk {
    rate: f64,
    burst: f64,
    hosts: BTreeMap<IpAddr, Bucket>,
    group: Option<Bucket>,
    held: VecDeque<Held>,
    relayed: VecDeque<(SocketAddr, String, Time)>,
}

impl BareDesk {
    /// A desk that lets each address send `rate` bare datagrams a second, in bursts of up to `burst`.
    pub(super) fn new(rate: f64, burst: f64) -> Self {
        BareDesk { rate, burst, hosts: BTreeMap::new(), group: None, held: VecDeque::new(), relayed: VecDeque::new() }
    }

    /// May a bare datagram from `addr` be taken now? It needs a token from its host's bucket
    /// and one from the group's.
    pub(super) fn admit(&mut self, addr: SocketAddr, now: Time) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        let ip = addr.ip();
        if !self.hosts.contains_key(&ip) && self.hosts.len() >= MAX_SOURCES {
            // Forget the host heard from longest ago.
            if let Some(oldest) = self.hosts.iter().min_by_key(|(_, b)| b.last).map(|(a, _)| *a) {
                self.hosts.remove(&oldest);
            }
        }
        let host = self.hosts.entry(ip).or_insert(Bucket::full(burst, now));
        host.refill(rate, burst, now);
        let group = self.group.get_or_insert(Bucket::full(burst * GROUP_SHARE, now));
        group.refill(rate * GROUP_SHARE, burst * GROUP_SHARE, now);
        if host.tokens >= 1.0 && group.tokens >= 1.0 {
            host.tokens -= 1.0;
            group.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A bare datagram `text` from `from`, heard by a node of stamping `rank` (how many members
    /// it knows with a lower id, 0 to `MAX_RANK`): what to do with it. The lowest stamps at
    /// once; the others hold their copy one `wait` per rank for the stamper's (see `Node`).
    pub(super) fn arrive(&mut self, from: SocketAddr, text: String, rank: usize, wait: Duration, now: Time) -> Arrived {
        if !self.admit(from, now) {
            return Arrived::RateLimited;
        }
        if self.take_relayed(from, &text) {
            return Arrived::Stamped; // the stamper's copy came first
        }
        let rank = u32::try_from(rank).unwrap_or(u32::MAX).min(MAX_RANK);
        if rank == 0 {
            return Arrived::Stamp(text);
        }
        if self.hold(from, text, now + wait * rank) { Arrived::Held } else { Arrived::QueueFull }
    }

    /// Holds our copy until the stamper's arrives; false if the queue is full.
    pub(super) fn hold(&mut self, addr: SocketAddr, text: String, deadline: Time) -> bool {
        if self.held.len() >= MAX_HELD {
            return false;
        }
        self.held.push_back(Held { addr, text, deadline });
        true
    }

    /// The stamper's copy of a bare datagram from `addr` arrived.
    pub(super) fn relayed(&mut self, addr: SocketAddr, text: &str, now: Time) {
        if let Some(i) = self.held.iter().position(|h| h.addr == addr && h.text == text) {
            self.held.remove(i);
        } else {
            if self.relayed.len() >= MAX_HELD {
                self.relayed.pop_front();
            }
            self.relayed.push_back((addr, text.to_string(), now + RELAY_MEMORY));
        }
    }

    /// Our own copy arrived after the stamper's: true if it is already in the log.
    pub(super) fn take_relayed(&mut self, addr: SocketAddr, text: &str) -> bool {
        match self.relayed.iter().position(|(a, t, _)| *a == addr && t == text) {
            Some(i) => {
                self.relayed.remove(i);
                true
            }
            None => false,
        }
    }

    /// Held datagrams whose stamped copy did not come in time.
    pub(super) fn expired(&mut self, now: Time) -> Vec<(SocketAddr, String)> {
        self.relayed.retain(|(_, _, until)| *until > now);
        let mut out = Vec::new();
        while self.held.front().is_some_and(|h| h.deadline <= now) {
            let h = self.held.pop_front().expect("front exists");
            out.push((h.addr, h.text));
        }
        out
    }

    /// When `expired` next has work: a held datagram falls due or a remembered stamped copy is forgotten.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        let held = self.held.front().map(|h| h.deadline);
        let relayed = self.relayed.iter().map(|r| r.2).min();
        held.into_iter().chain(relayed).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    fn host(n: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 40000))
    }

    #[test]
    fn a_flooding_address_is_limited_and_others_are_not() {
        let mut d = BareDesk::new(20.0, 40.0);
        let now = Time::from_millis(1_000);
        let taken = (0..1000).filter(|_| d.admit(a(1), now)).count();
        assert_eq!(taken, 40, "the burst, then nothing in the same instant");
        assert!(d.admit(host(2), now), "another host has its own bucket");
        let later = Time::from_millis(2_000);
        let more = (0..1000).filter(|_| d.admit(a(1), later)).count();
        assert_eq!(more, 20, "refills at the rate");
    }

    #[test]
    fn rotating_source_ports_buys_nothing_and_the_group_has_a_cap() {
        let mut d = BareDesk::new(20.0, 40.0);
        let now = Time::from_millis(1_000);
        let taken = (0..500u16).filter(|p| d.admit(a(10_000 + p), now)).count();
        assert_eq!(taken, 40, "one host, whatever its ports");
        let mut d = BareDesk::new(20.0, 40.0);
        let taken = (0..500u16).filter(|&n| d.admit(host(n), now)).count();
        assert_eq!(taken, 160, "many hosts at once share the group's bucket");
    }

    #[test]
    fn held_copies_wait_for_the_stamper_then_expire() {
        let mut d = BareDesk::new(20.0, 40.0);
        let t = |ms| Time::from_millis(ms);
        d.hold(a(1), "one".into(), t(1000));
        d.hold(a(1), "two".into(), t(1100));
        d.relayed(a(1), "one", t(50));
        assert_eq!(d.expired(t(2000)), vec![(a(1), "two".to_string())]);
        d.relayed(a(1), "early", t(2000));
        assert!(d.take_relayed(a(1), "early"));
        assert!(!d.take_relayed(a(1), "early"), "matched once");
    }

    #[test]
    fn address_table_is_bounded() {
        let mut d = BareDesk::new(20.0, 40.0);
        for p in 0..2000u16 {
            d.admit(host(p), Time::from_millis(u64::from(p)));
        }
        assert_eq!(d.hosts.len(), MAX_SOURCES);
    }
}
