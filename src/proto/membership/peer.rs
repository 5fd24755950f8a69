//! One peer as this node knows it: its life, address, status and the evidence about it (its
//! detector, its loss, its clock, its ring report). Only `Members` changes it: its fields are
//! open to the membership module alone, and everything else reads it through the methods here.

use std::net::SocketAddr;
use std::time::Duration;

use super::super::detector::{DetectorConfig, PhiDetector};
use super::super::peers::{LossWindow, PeerClock};
use super::super::ring::RingKey;
use super::super::snapshot::PeerView;
use super::super::wire::Beat;
use super::super::{DownReason, DownVia, Event, Hlc, Incarnation, NodeId, Seq, Status, Time};
use super::{Header, Leave};

/// A ring report (the links a peer's heartbeat says it hears) counts as fresh for this many of
/// the reporter's heartbeat intervals (see `Members::attested`).
const REPORT_FRESH_FOR: u32 = 3;
/// A leave may be numbered at most this far above the highest frame heard from its life.
const LEAVE_AHEAD: u64 = 64;
/// Frames of a life sent before its leave may arrive after it (reordered) for about this long;
/// a frame numbered above everything heard before the leave that comes later than this was
/// sent after it: the leave was not its last word, so someone else's.
const STRAGGLERS_FOR: Duration = Duration::from_millis(250);
/// A peer shown down or left that a ring neighbour heard on its link later than this after
/// it was shown so is alive: the word against it was wrong (what the neighbour heard before
/// the word, and the delays of the report, stay well inside this).
const HEARD_AFTER: Duration = Duration::from_millis(50);

/// One peer as this node knows it. Only `Members` changes it.
#[derive(Clone, Debug)]
pub(in crate::proto) struct Peer {
    pub(super) id: NodeId,
    pub(super) incarnation: Incarnation,
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    pub(super) status: Status,
    pub(super) last_seen: Time,
    /// When the status last changed.
    pub(super) since: Time,
    pub(super) detector: PhiDetector,
    pub(super) loss: LossWindow,
    /// TCP port of its ring listener (0: not in the ring).
    pub(super) tcp_port: u16,
    /// Its applied frontier, as last reported.
    pub(super) frontier: Hlc,
    pub(super) clock: PeerClock,
    /// A ring link with it worked, or it has heartbeated from one address for a while.
    pub(super) confirmed: bool,
    /// A ring link with it worked (in this life).
    pub(super) linked: bool,
    pub(super) first_heard: Time,
    /// When its current life was first heard.
    pub(super) life_since: Time,
    /// If it left: the frame number of its leave, and the highest heard before it. Any frame
    /// of the life numbered above the leave undoes it, and so does one numbered above what was
    /// heard before it that comes too late to be a straggler.
    pub(super) left_seq: Option<(Seq, Seq)>,
    /// A ring port at which a dial was refused: it is left out of the ring until it names
    /// another.
    pub(super) refused_port: u16,
    /// Never linked, and a dial to it failed: out of the ring (and the settled marks) until
    /// then, or until it links with us.
    pub(super) unlinkable_until: Option<Time>,
    /// Dials to it that failed since it last linked: each doubles the time out of the ring.
    pub(super) failed_dials: u32,
    /// The peers its last heartbeat said it hears on its ring links, and when that arrived.
    pub(super) links: Vec<NodeId>,
    pub(super) links_at: Time,
    /// Its heartbeat interval, as its last heartbeat said (ms): groups that grow beat slower.
    pub(super) interval_ms: u32,
}

/// What a heartbeat changed about a known peer (see `Peer::heartbeat`).
pub(super) struct Refreshed {
    /// Its place in the ring or whether it takes part changed (confirmed, moved, new port).
    pub ring: bool,
    /// It moved from this address to another host's.
    pub moved_from: Option<std::net::IpAddr>,
    /// Until when its ring report counted before and after (see `Peer::report_fresh_until`).
    pub report: (Option<Time>, Option<Time>),
}

/// What the failure detector and the forgetting clock decided about a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Suspect,
    Down,
    /// Down or gone long enough: drop it from the table.
    Forget,
}

impl Peer {
    /// A peer first heard in `f`, a heartbeat or an announce from `from`.
    pub(super) fn new(f: Header, beat: &Beat, name: String, from: SocketAddr, interval_ms: u32, now: Time) -> Peer {
        Peer {
            id: f.sender,
            incarnation: f.incarnation,
            name,
            addr: from,
            status: Status::Alive,
            last_seen: now,
            since: now,
            detector: PhiDetector::new(now, Duration::from_millis(u64::from(interval_ms))),
            loss: LossWindow::new(f.seq),
            tcp_port: beat.tcp_port,
            frontier: beat.frontier,
            clock: PeerClock::default(),
            confirmed: false,
            first_heard: now,
            life_since: now,
            left_seq: None,
            refused_port: 0,
            linked: false,
            unlinkable_until: None,
            failed_dials: 0,
            links: Vec::new(),
            links_at: now,
            interval_ms,
        }
    }

    /// Its heartbeat interval, as it last said: silences of this peer are judged against it.
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }

    pub(crate) fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// When its current life was first heard.
    pub(crate) fn life_since(&self) -> Time {
        self.life_since
    }

    pub(crate) fn last_seen(&self) -> Time {
        self.last_seen
    }

    pub(crate) fn status(&self) -> Status {
        self.status
    }

    /// Alive or suspect, in the life `inc`.
    pub(crate) fn is_member_in(&self, inc: Incarnation) -> bool {
        self.incarnation == inc && self.status.is_member()
    }

    /// Its place in the ring order, if it takes part in the ring.
    pub(crate) fn ring_key(&self) -> Option<RingKey> {
        (self.tcp_port != 0 && self.tcp_port != self.refused_port && self.unlinkable_until.is_none()).then(|| RingKey {
            ip: self.addr.ip(),
            port: self.tcp_port,
            node: self.id,
        })
    }

    /// Until when its ring report counts (see `Members::attested`), if it does now: a member
    /// whose last report is fresh.
    pub(super) fn report_fresh_until(&self, now: Time) -> Option<Time> {
        let until = self.links_at + self.interval() * REPORT_FRESH_FOR;
        (self.status.is_member() && now <= until).then_some(until)
    }

    /// A member that counts for the settled marks and the group clock.
    pub(super) fn counts(&self) -> bool {
        self.confirmed && self.status.is_member()
    }

    /// A new life of the same node (ids are random per run): it carries on as the same member,
    /// with fresh counters.
    pub(super) fn new_life(&mut self, f: Header, now: Time) {
        self.incarnation = f.incarnation;
        self.life_since = now;
        self.loss = LossWindow::new(f.seq);
        self.frontier = Hlc(0);
        self.clock = PeerClock::default();
    }

    /// A heartbeat (or announce) of its current life from `from`, claiming `interval_ms`;
    /// `base` is the configured interval, over which heartbeats from one address confirm it.
    pub(super) fn heartbeat(
        &mut self,
        beat: &Beat,
        interval_ms: u32,
        from: SocketAddr,
        now: Time,
        (detector, base): (&DetectorConfig, Duration),
    ) -> Refreshed {
        self.detector.heartbeat(now, detector);
        let report_before = self.report_fresh_until(now);
        self.interval_ms = interval_ms;
        let report_after = self.report_fresh_until(now);
        let scaled_to = self.detector.expected_ms();
        if interval_ms.abs_diff(scaled_to) > scaled_to / 8 {
            // Its rhythm changed (its group grew or shrank): the gaps learnt at the old one
            // would make the new one look like silence, or hide a real one.
            self.detector.rescale(self.interval());
        }
        self.last_seen = now;
        let mut ring = false;
        if !self.confirmed && self.addr == from && now.since(self.first_heard) >= self.interval().max(base) {
            // Heartbeats from one address over a heartbeat interval: a node, not one forged
            // datagram.
            self.confirmed = true;
            ring = true;
        }
        let mut moved_from = None;
        if self.addr != from {
            // Its place in the ring is its address: a move re-forms the ring.
            let was = std::mem::replace(&mut self.addr, from).ip();
            ring = true;
            moved_from = (was != from.ip()).then_some(was);
        }
        self.frontier = self.frontier.max(beat.frontier);
        if self.tcp_port != beat.tcp_port {
            self.tcp_port = beat.tcp_port;
            ring = true;
        }
        Refreshed { ring, moved_from, report: (report_before, report_after) }
    }

    /// It goes by `name` now: its old name, if that changed.
    pub(super) fn renamed(&mut self, name: &str) -> Option<String> {
        (self.name != name).then(|| std::mem::replace(&mut self.name, name.to_string()))
    }

    /// What its detector (judged by `detector`, for a group paced at `paced`) or the time since
    /// it went (against `forget_after`) says now, if anything.
    pub(super) fn verdict(
        &self,
        now: Time,
        (detector, paced, forget_after): (&DetectorConfig, Duration, Duration),
    ) -> Option<Verdict> {
        match self.status {
            Status::Alive | Status::Suspect => {
                let phi = self.detector.phi_paced(now, detector, paced);
                if phi >= detector.down_phi {
                    Some(Verdict::Down)
                } else if phi >= detector.suspect_phi && self.status == Status::Alive {
                    Some(Verdict::Suspect)
                } else {
                    None
                }
            }
            Status::Down | Status::Left => (now.since(self.since) >= forget_after).then_some(Verdict::Forget),
        }
    }

    /// Its goodbye `f` (see `Members::left`).
    pub(super) fn leave(&mut self, f: Header, now: Time) -> Leave {
        if self.incarnation != f.incarnation || self.status == Status::Left {
            return Leave::Ignored;
        }
        // Its last word comes right after what was heard: not below it, nor far beyond (a leave
        // numbered far ahead would outrank every real frame that could undo it).
        let heard = self.loss.highest();
        if f.seq < heard || f.seq.0 > heard.0.saturating_add(LEAVE_AHEAD) {
            return Leave::Implausible;
        }
        self.loss.record(f.seq);
        self.status = Status::Left;
        self.since = now;
        self.left_seq = Some((f.seq, heard));
        Leave::Left(Event::PeerDown {
            node: self.id,
            name: self.name.clone(),
            reason: DownReason::Left,
            via: DownVia::Leave,
        })
    }

    /// Whether `f`, of the life it left, was sent after its leave: numbered above the leave, or
    /// above everything heard before it and too late to be a straggler.
    pub(super) fn speaks_after_leave(&self, f: Header, now: Time) -> bool {
        let Some((left, before)) = self.left_seq.filter(|_| self.status == Status::Left) else { return false };
        f.incarnation == self.incarnation
            && (f.seq > left || (f.seq > before && now.since(self.since) >= STRAGGLERS_FOR))
    }

    /// How front ends see it. `offset_ms`: our group time minus our wall clock; `vouched`: the
    /// ring vouches for it.
    pub(super) fn view(&self, offset_ms: i64, vouched: bool) -> PeerView {
        PeerView {
            node: self.id,
            name: self.name.clone(),
            addr: self.addr,
            tcp_port: self.tcp_port,
            status: self.status,
            loss: self.loss.loss(),
            last_seen: self.last_seen,
            skew_ms: self.clock.offset_ms().map_or(self.clock.skew_ms, |o| o.saturating_sub(offset_ms)),
            vouched,
        }
    }

    /// Heard alive at `at`, second-hand or on its link (see `Members::vouch`): one shown gone
    /// comes back if that was well after it was shown so; a suspect one is cleared if its
    /// detector (judged by `detector` in a group paced at `paced`) agrees.
    pub(super) fn vouch(
        &mut self,
        at: Time,
        now: Time,
        (detector, paced): (&DetectorConfig, Duration),
    ) -> Option<Event> {
        if !self.status.is_member() {
            if at < self.since + HEARD_AFTER {
                return None;
            }
            self.left_seq = None;
            self.detector.vouch(at);
            self.status = Status::Alive;
            self.since = now;
            return Some(Event::PeerUp { node: self.id, name: self.name.clone(), addr: self.addr });
        }
        self.detector.vouch(at);
        if self.status == Status::Suspect && self.detector.phi_paced(now, detector, paced) < detector.suspect_phi {
            self.status = Status::Alive;
            self.since = now;
            return Some(Event::PeerAlive { node: self.id, name: self.name.clone() });
        }
        None
    }
}
