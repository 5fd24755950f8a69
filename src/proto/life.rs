//! This node's life: its incarnation, and how often it may start a new one or tell a ring
//! neighbour that a life in the neighbour's name was forged; and what it says of itself in its
//! heartbeats.
//!
//! `Life` owns the incarnation and those two instants. A node starts a new life when its clock
//! moves back past stamps it already sent, and when someone uses its name (at most once a
//! second: a forger cannot make it renew endlessly). `Lives` is the handle through which the
//! node renews its life and heartbeats.

use std::net::SocketAddr;
use std::time::Duration;

use super::Event;
use super::beats::{self, Beats, Said};
use super::config::Config;
use super::outbox::Tx;
use super::pauses::Pauses;
use super::repair::Repair;
use super::ring::Links;
use super::tending::MAX_VOUCHES;
use super::types::{Incarnation, Time};
use super::wire::Frame;

/// A node whose name others use starts a new life at most this often; a neighbour is told of a
/// forged life in its name at most this often.
const AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// This node's incarnation, and when it last renewed it or told of a forged one.
pub(super) struct Life {
    incarnation: Incarnation,
    renewed_at: Option<Time>,
    told_at: Option<Time>,
}

impl Life {
    /// The life `incarnation`, just begun.
    pub(super) fn new(incarnation: Incarnation) -> Self {
        Life { incarnation, renewed_at: None, told_at: None }
    }

    /// This life.
    pub(super) fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Starts the next life, numbered above `inc` as well as above our own.
    pub(super) fn next_above(&mut self, inc: Incarnation) -> Incarnation {
        self.incarnation = Incarnation(self.incarnation.0.max(inc.0).saturating_add(1));
        self.incarnation
    }

    /// Someone uses our name: may we renew our life now (at most once per `AT_MOST_EVERY`)?
    pub(super) fn may_renew(&mut self, now: Time) -> bool {
        if self.renewed_at.is_some_and(|t| now.since(t) < AT_MOST_EVERY) {
            return false;
        }
        self.renewed_at = Some(now);
        true
    }

    /// A neighbour's link speaks in an older life than one heard in its name: may we tell it
    /// now (at most once per `AT_MOST_EVERY`)?
    pub(super) fn may_tell_forged(&mut self, now: Time) -> bool {
        if self.told_at.is_some_and(|t| now.since(t) < AT_MOST_EVERY) {
            return false;
        }
        self.told_at = Some(now);
        true
    }
}

/// This node's life and heartbeats, for the length of one input.
pub(super) struct Lives<'a> {
    pub cfg: &'a Config,
    pub life: &'a mut Life,
    pub beats: &'a Beats,
    pub pauses: &'a Pauses,
    pub repair: &'a mut Repair,
    pub links: &'a Links,
    pub tx: Tx<'a>,
    /// The node has left: it says nothing more.
    pub left: bool,
}

impl Lives<'_> {
    /// Multicasts a heartbeat (or an announce): what this node is, where it stands, what it
    /// hears on its ring links, and whether it came back from being stopped a moment ago.
    pub(super) fn beat(&mut self, announce: bool, now: Time) {
        let said = Said {
            name: self.cfg.name.to_string(),
            tcp_port: self.cfg.ring_addr.map_or(0, |a| a.port()),
            frontier: self.repair.frontier(),
            links: self.links.heard_ages(now, MAX_VOUCHES),
            resumed: self.pauses.was_away(now),
        };
        beats::send(&mut self.tx, said, self.beats.interval(), announce);
    }

    /// A frame in our own name: our echo, or someone else using our id. A forgery is reported
    /// and counted, and makes this node start a new life (at most once a second), so that
    /// forged messages numbered ahead of ours cannot make peers drop our real ones.
    pub(super) fn own_name_heard(&mut self, f: &Frame, from: SocketAddr, now: Time) {
        let ours = match f.incarnation.cmp(&self.life.incarnation()) {
            std::cmp::Ordering::Less => true, // an echo from before a new life
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => self.tx.out.may_be_ours(f.seq, f.hlc),
        };
        if ours {
            self.tx.stats.own_echoes += 1;
        } else {
            self.impersonated(f.incarnation, Some(from), now);
        }
    }

    /// Someone uses this node's name in life `inc` (or one before it): report it, and start a
    /// new life above it, at most once a second.
    pub(super) fn impersonated(&mut self, inc: Incarnation, from: Option<SocketAddr>, now: Time) {
        self.tx.stats.impersonations += 1;
        if self.life.may_renew(now) {
            self.tx.emit(Event::Impersonated { addr: from });
            self.renew_above(inc, now);
        }
    }

    /// A new life, numbered above `inc` as well as above our own: the clock started over, or
    /// someone used our name. Peers take it for the same member with fresh counters.
    pub(super) fn renew_above(&mut self, inc: Incarnation, now: Time) {
        self.tx.inc = self.life.next_above(inc);
        self.tx.out.new_life();
        self.repair.restart_at(self.tx.clock.now_hlc());
        if !self.left {
            self.beat(false, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lives_only_grow_and_renewals_are_rationed() {
        let mut l = Life::new(Incarnation(10));
        assert_eq!(l.next_above(Incarnation(3)), Incarnation(11));
        assert_eq!(l.next_above(Incarnation(50)), Incarnation(51));
        let t = Time::from_millis(5_000);
        assert!(l.may_renew(t) && !l.may_renew(t + Duration::from_millis(900)));
        assert!(l.may_renew(t + AT_MOST_EVERY));
        assert!(l.may_tell_forged(t) && !l.may_tell_forged(t));
    }
}
