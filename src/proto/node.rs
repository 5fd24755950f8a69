//! The node: one member of the group. It owns the parts of the core, takes every input, routes
//! it to the part it concerns, and queues what the parts' changes call for (datagrams, link
//! frames, dials, events).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

mod linking;
mod settling;
mod timekeeping;

use super::bare::BareDesk;
use super::clock::Clock;
use super::membership::{Header, Heard, Leave, Members};
use super::repair::Repair;
use super::replay::{Path, ReplayGuard};
use super::ring::Links;
use super::seal::{LINK_SEQ, OpenError};
use super::timer::{Timer, TimerTable};
use super::verdicts::Verdicts;
use super::wire::{self, Beat, Body, Datagram, Frame, MessageBody};
use super::{
    ClockCause, Command, CommandError, Config, DropReason, Entry, Event, Hlc, Incarnation, Inserted, LinkEnd, Log,
    Name, Neighbours, NodeId, Now, Output, PeerView, Seq, Snapshot, Stats, Status, Time, check_message,
};

/// Announces sent at start, at these offsets, so peers list a newcomer at once even if one is lost.
const ANNOUNCE_OFFSETS_MS: [u64; 3] = [0, 30, 90];
/// Messages a new node holds while it waits to hear the group's clock; one more sends them all
/// at once, in order, before it.
const MAX_HELD_SAYS: usize = 1024;
/// How often the failure detectors and the settled marks are looked at between heartbeats. The
/// ring is looked at when its links want it (`Links::next_deadline`) or the members changed.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// In a paced group (see `PACED_ABOVE_HOSTS`), whose silences are judged against slower
/// heartbeats, checks come in proportion to the pace, up to this far apart: each walks the
/// whole peer table, a thousand peers at a thousand members.
const CHECK_EVERY_PACED_MAX: Duration = Duration::from_secs(2);
/// Checks and digests are done this much early when the node is awake anyway (for a ping, a
/// heartbeat), so an idle node wakes for them only when nothing else wakes it.
const CHECK_SLACK: Duration = Duration::from_millis(150);
const SYNC_SLACK: Duration = Duration::from_millis(300);
/// Heartbeats and link pings go out this much early when the node is awake anyway (a datagram
/// or a link frame came), rather than waking it again a moment later: an idle node's own sends
/// ride on what it hears. (Intervals shrink by at most this; silences are never judged early.)
const SEND_SLACK: Duration = Duration::from_millis(20);
/// A newcomer's announce is answered by a heartbeat within this.
const ANSWER_WITHIN: Duration = Duration::from_millis(20);
/// In groups smaller than this, every member answers a newcomer's announce.
const ANSWER_ALL_BELOW: usize = 16;
/// Up to this many hosts, a node heartbeats at the configured interval; in a larger group the
/// interval grows in proportion, so the heartbeats each node hears a second stay at most this
/// many per interval configured (40 a second with the default 500 ms), however large the group.
/// Failures of ring neighbours are still caught by the links' pings, and a node's silence on the
/// group is judged against the interval it last said it keeps.
const PACED_ABOVE_HOSTS: usize = 20;
/// The heartbeat interval grows by at most this factor from one heartbeat to the next.
const BEAT_GROWTH: f64 = 1.5;
/// The ring is looked at no more often than this.
const RING_MIN_GAP: Duration = Duration::from_millis(5);
/// Bytes of messages one repair reply carries at most (more follow on request).
const REPAIR_BUDGET: usize = 128 << 10;
/// Peers vouched for in one heartbeat.
const MAX_VOUCHES: usize = 4;
/// A node whose name others use starts a new life at most this often.
const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// Multicast frames whose stamps are remembered to recognise our echo.
const SENT_MEMORY: usize = 4096;
/// Queued outputs looked through for datagrams to bundle with the first.
const BUNDLE_LOOKAHEAD: usize = 256;
/// Bare text waits at most this many stamping waits for a copy stamped by a member of lower id.
const MAX_BARE_RANK: u32 = 4;

/// The stamps of the last `SENT_MEMORY` multicast frames sent, by frame number. The slots
/// grow with the frames sent (a node that has sent a few keeps a few: simulations of a
/// thousand nodes would otherwise start with 64 KiB each).
#[derive(Default)]
struct SentFrames {
    slots: Vec<(Seq, Hlc)>,
}

impl SentFrames {
    fn slot(seq: Seq) -> usize {
        (seq.0 % SENT_MEMORY as u64) as usize
    }

    fn record(&mut self, seq: Seq, hlc: Hlc) {
        let i = Self::slot(seq);
        if i >= self.slots.len() {
            self.slots.resize(i + 1, (Seq(0), Hlc(0)));
        }
        self.slots[i] = (seq, hlc);
    }

    /// Could frame `seq` stamped `hlc` be one we sent (our highest being `latest`)? Frames too
    /// old to remember are given the benefit of the doubt.
    fn may_be(&self, seq: Seq, hlc: Hlc, latest: Seq) -> bool {
        latest.0 - seq.0 >= SENT_MEMORY as u64 || self.slots.get(Self::slot(seq)) == Some(&(seq, hlc))
    }
}

/// One member of the group: the whole protocol state of a node, driven by its inputs.
pub struct Node {
    id: NodeId,
    incarnation: Incarnation,
    cfg: Config,
    clock: Clock,
    seq: Seq,
    msg_seq: Seq,
    members: Members,
    log: Log,
    bare: BareDesk,
    out: VecDeque<Output>,
    stats: Stats,
    started: Time,
    announces_sent: usize,
    /// The heartbeat interval in force (see `beat_interval`).
    beat_every: Duration,
    timers: TimerTable,
    left: bool,
    links: Links,
    ring: Neighbours,
    repair: Repair,
    /// Frames taken, per sender and life (keyed groups only).
    replay: ReplayGuard,
    /// Ring-link frames sent in this run (their own count, see `link_frame`).
    link_seq: u64,
    /// The stamps of the multicast frames sent lately, to tell our echo from a forgery.
    sent: SentFrames,
    /// When this node last started a new life because someone used its name.
    renewed_at: Option<Time>,
    /// Words held against what our own links hear, and links that went silent.
    verdicts: Verdicts,
    /// The monotonic instant of the latest input, to notice when this node was paused.
    last_input: Time,
    /// The latest input that came after a gap of over two link pings: this node was not
    /// listening (stopped, or starved) for part of any silence it sees until a ping after it,
    /// while what waited in its sockets is taken in.
    stalled_at: Option<Time>,
    /// When a ring neighbour was last told that a newer life in its name is forged.
    forged_life_told: Option<Time>,
    /// When this node last came back from a pause of its own.
    resumed_at: Option<Time>,
    /// The group's clock has been heard (or waited for long enough).
    clock_known: bool,
    /// What the user said before that, in order.
    held_says: VecDeque<String>,
    /// When this node last sent an ack (see `settling.rs`).
    last_ack: Option<Time>,
    /// Acks still to repeat while messages are unsettled.
    ack_repeats: u32,
    /// When the ring was last looked after.
    last_tend: Time,
}

impl Node {
    /// A node with a fresh table and log, about to announce itself. `id` is random per run;
    /// `incarnation` counts its lives.
    pub fn new(id: NodeId, incarnation: Incarnation, cfg: Config, now: Now) -> Self {
        let clock = Clock::new(now, cfg.max_clock_ahead);
        let now = now.mono;
        Node {
            id,
            incarnation,
            clock,
            seq: Seq(0),
            msg_seq: Seq(0),
            members: Members::new(&cfg),
            log: Log::with_bytes(cfg.log_capacity, cfg.log_bytes),
            bare: BareDesk::new(cfg.bare_rate, cfg.bare_burst),
            out: VecDeque::new(),
            stats: Stats::default(),
            started: now,
            announces_sent: 0,
            beat_every: cfg.heartbeat,
            timers: {
                let mut t = TimerTable::default();
                for timer in [Timer::Heartbeat, Timer::Check, Timer::Sync] {
                    t.set(timer, now);
                }
                t
            },
            left: false,
            links: Links::default(),
            ring: Neighbours::default(),
            repair: Repair::default(),
            replay: ReplayGuard::default(),
            link_seq: 0,
            sent: SentFrames::default(),
            renewed_at: None,
            verdicts: Verdicts::default(),
            last_input: now,
            stalled_at: None,
            forged_life_told: None,
            resumed_at: None,
            clock_known: cfg.clock_wait.is_zero(),
            held_says: VecDeque::new(),
            last_ack: None,
            ack_repeats: 0,
            last_tend: now,
            cfg,
        }
    }

    /// Takes the driver's reading at the start of every input: the clock notes a wall-clock
    /// step, and a long silence of our own (the process was stopped or starved) gives peers a
    /// fresh start rather than a verdict. Returns the monotonic instant the core counts in.
    fn enter(&mut self, now: Now) -> Time {
        if let Some(by_ms) = self.clock.advance(now) {
            // Peers' clocks were compared with our wall clock before it stepped.
            self.members.clock_stepped(by_ms);
            self.emit(Event::Clock { skew_ms: self.clock.skew_ms(), cause: ClockCause::Step { by_ms } });
        }
        let t = now.mono.max(self.last_input);
        let gap = t.since(self.last_input);
        if gap > self.cfg.link_ping * 2 {
            // Stalled (starved, or stopped for less than a pause): the links' silence meanwhile
            // was ours, so they count from now, as after a pause.
            self.stalled_at = Some(t);
            self.links.forgive(t);
        }
        if gap > self.pause_gap() {
            self.resumed(t);
        }
        self.last_input = t;
        t
    }

    /// Longer than the driver ever waits between timer calls: a gap like this is our pause.
    fn pause_gap(&self) -> Duration {
        (self.cfg.heartbeat * 2).max(Duration::from_millis(1500))
    }

    /// How often this node heartbeats now: the configured interval, longer in a group of more
    /// than `PACED_ABOVE_HOSTS` hosts (see there), and never over a minute. It grows by at most
    /// half from one heartbeat to the next, so a peer that missed the heartbeat saying so is not
    /// taken aback by the longer silence (it shrinks at once: a shorter one alarms no one).
    pub fn beat_interval(&self) -> Duration {
        self.beat_every
    }

    /// How often the detectors and the settled marks are looked at: `CHECK_EVERY`, longer in
    /// proportion in a paced group (up to `CHECK_EVERY_PACED_MAX`).
    fn check_every(&self) -> Duration {
        let stretch = self.beat_every.as_secs_f64() / self.cfg.heartbeat.as_secs_f64();
        CHECK_EVERY.mul_f64(stretch.max(1.0)).min(CHECK_EVERY_PACED_MAX)
    }

    /// The interval the group's size calls for.
    fn paced_interval(&mut self, now: Time) -> Duration {
        let attested = self.members.attested(self.links.ids(), now);
        let hosts = self.members.hosts_among(&attested) + 1;
        let stretch = (hosts as f64 / PACED_ABOVE_HOSTS as f64).max(1.0);
        self.cfg.heartbeat.mul_f64(stretch).min(Duration::from_secs(60)).max(self.cfg.heartbeat)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's life (see `Body::Down`, `impersonated`).
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// The name this node goes by now.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// How this node was set up (the name follows renames).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The messages this node holds, in group order.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// What this node has counted so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The user left: the node sends nothing more and takes no commands.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// This node's ring neighbours as last worked out.
    pub fn ring(&self) -> Neighbours {
        self.ring
    }

    /// Group time at the latest input (what this node stamps with, less the logical part).
    pub fn group_now(&self) -> Hlc {
        self.clock.now_hlc()
    }

    /// What group time rests on, as last worked out.
    pub fn clock_basis(&self) -> super::ClockBasis {
        self.clock.basis()
    }

    /// The group's settled mark: messages stamped before it are held by every live member.
    pub fn settled(&self) -> Hlc {
        self.repair.settled()
    }

    /// The next thing this node wants done (send, dial, close, report), oldest first.
    /// Messages queued together (a burst) go out as one bundle, as many as fit one Ethernet
    /// datagram; only reports may lie between them, so nothing else changes order. Other
    /// frames go alone: a leave or a down notice is sent twice so that one lost datagram does
    /// not lose it, and a bundle would lose both copies at once.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.out.pop_front()?;
        let Output::Multicast(first) = out else { return Some(out) };
        if !wire::is_message(&first) {
            return Some(Output::Multicast(first));
        }
        let mut len = wire::bundled_len([first.len()]);
        let mut picked = Vec::new();
        for (i, o) in self.out.iter().enumerate().take(BUNDLE_LOOKAHEAD) {
            match o {
                Output::Multicast(b)
                    if wire::is_message(b)
                        && len + 2 + b.len() <= wire::MAX_BUNDLE
                        && picked.len() + 1 < wire::MAX_BUNDLED =>
                {
                    len += 2 + b.len();
                    picked.push(i);
                }
                Output::Event(_) => {}
                _ => break,
            }
        }
        if picked.is_empty() {
            return Some(Output::Multicast(first));
        }
        let mut frames = Vec::with_capacity(picked.len() + 1);
        for &i in picked.iter().rev() {
            if let Some(Output::Multicast(b)) = self.out.remove(i) {
                frames.push(b);
            }
        }
        frames.push(first);
        frames.reverse();
        self.stats.bundles_sent += 1;
        Some(Output::Multicast(wire::bundle(frames.iter().map(Vec::as_slice))))
    }

    /// When `handle_timer` next has work to do.
    pub fn next_deadline(&self) -> Time {
        let timers = self.timers.next().unwrap_or(self.last_input + CHECK_EVERY);
        let timers = self.ring_deadline().map_or(timers, |r| r.min(timers));
        self.bare.next_deadline().map_or(timers, |b| b.min(timers))
    }

    /// When the ring wants looking after: at once if the members changed (the ring may
    /// have moved), else when its links next want something.
    fn ring_deadline(&self) -> Option<Time> {
        if self.left || self.cfg.ring_addr.is_none() {
            return None;
        }
        // Never sooner than a few milliseconds after the last look: a deadline that tending
        // does not move cannot make the node spin.
        let soonest = self.last_tend + RING_MIN_GAP;
        if self.members.changed() {
            return Some(soonest);
        }
        let me = self.my_ring_key()?;
        let (timeout, grace, ping_after) = (self.link_timeout(), self.cfg.heartbeat * 2, self.cfg.link_ping);
        let links =
            self.links.next_deadline(timeout, grace, ping_after).into_iter().chain(self.silent_links_deadline());
        // Dials this node makes (the earlier of each pair in the ring order dials).
        let dials = [self.ring.prev, self.ring.next]
            .into_iter()
            .flatten()
            .filter(|n| self.ring_key_of(*n).is_some_and(|k| me < k))
            .filter_map(|n| self.links.next_dial(n, self.last_input));
        links.chain(dials).min().map(|t| t.max(soonest))
    }

    /// What this node thinks of peer `id`, if it is in the table.
    pub fn peer_status(&self, id: NodeId) -> Option<Status> {
        self.members.status(id)
    }

    /// Ids of the peers this node counts as members (alive or suspect).
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members.ids()
    }

    /// Peers this node holds a ring link to.
    pub fn linked(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.links.ids()
    }

    /// The peer table, sorted by address then node id (the ring's order).
    pub fn peer_views(&self) -> Vec<PeerView> {
        self.members.views()
    }

    /// Everything a front end shows at once (`/state`, a resync).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            node: self.id,
            name: self.cfg.name.to_string(),
            skew_ms: self.clock.skew_ms(),
            clock: self.clock.basis(),
            shared: self.log.shared().cloned(),
            settled: self.repair.settled(),
            ring: self.ring,
            links: self.linked().collect(),
            peers: self.peer_views(),
            messages: self.log.len(),
            pending: self.log.range_from(self.repair.settled()).count(),
            evicted: self.log.evicted(),
            lost: self.log.lost(),
            log_digest: self.log.digest_hex(),
            stats: self.stats.clone(),
        }
    }

    /// Counts a drop that the network task saw (a connection refused before it said hello, a
    /// failed accept), so every drop shows in one place.
    pub fn count_drop(&mut self, reason: DropReason) {
        self.count(reason);
    }

    /// The first frame to send on a new ring link: it names this node.
    pub fn hello(&mut self, now: Now) -> Vec<u8> {
        self.enter(now);
        self.link_frame(Body::Hello).unwrap_or_default()
    }

    // ---- inputs -------------------------------------------------------------------------

    /// What the user asked for: say, rename or leave. A refused message is not sent at all.
    pub fn handle_command(&mut self, cmd: Command, now: Now) -> Result<(), CommandError> {
        let now = self.enter(now);
        if self.left {
            return Err(CommandError::Left);
        }
        match cmd {
            Command::Say(text) if !self.clock_known && self.held_says.len() < MAX_HELD_SAYS => {
                check_message(&self.cfg.name, &text)?;
                self.held_says.push_back(text);
                Ok(())
            }
            Command::Say(text) => {
                // Held lines go first, in order, even when there were too many to hold.
                if !self.clock_known {
                    self.clock_is_known(now);
                }
                self.say(&text, None, now)
            }
            Command::Rename(name) => {
                self.cfg.name = name;
                self.send_beat(false, now);
                Ok(())
            }
            Command::Leave => {
                // What the user said is sent, clock known or not, before the goodbye.
                self.clock_is_known(now);
                // Twice: one lost datagram should not leave peers waiting for a timeout.
                self.send(Body::Leave);
                self.send(Body::Leave);
                let peers: Vec<NodeId> = self.linked().collect();
                for peer in peers {
                    self.close_link(peer, now);
                }
                self.left = true;
                self.timers.stop(Timer::Heartbeat);
                self.timers.stop(Timer::Sync);
                self.timers.stop(Timer::Ack);
                Ok(())
            }
        }
    }

    /// Whether `handle_timer` would find work now, taking each chore's slack (heartbeats and
    /// pings a little early, checks and digests more so). A driver awake for some other input
    /// asks this and, if so, does the chores in the same wake-up instead of waking again soon.
    pub fn due_within_slack(&self, now: Now) -> bool {
        let t = now.mono.max(self.last_input);
        let soft = [
            self.timers.get(Timer::Heartbeat).map(|d| d.saturating_sub(SEND_SLACK)),
            self.timers.get(Timer::Check).map(|d| d.saturating_sub(CHECK_SLACK)),
            self.timers.get(Timer::Sync).map(|d| d.saturating_sub(SYNC_SLACK)),
            self.timers.get(Timer::Ack),
            self.ring_deadline().map(|d| d.saturating_sub(SEND_SLACK)),
            self.bare.next_deadline(),
        ];
        soft.into_iter().flatten().any(|d| d <= t)
    }

    /// Called at `next_deadline()` (or later, or a little early when `due_within_slack`):
    /// heartbeats, detector checks, ring tending, digests, and bare text whose stamper stayed
    /// silent.
    pub fn handle_timer(&mut self, now: Now) {
        let now = self.enter(now);
        if self.timers.is_due_within(Timer::Heartbeat, now, SEND_SLACK) {
            self.follow_group_clock(now);
            let announce = self.announces_sent < ANNOUNCE_OFFSETS_MS.len();
            let want = self.paced_interval(now);
            self.beat_every = want.min(self.beat_every.mul_f64(BEAT_GROWTH));
            self.members.set_paced(if want > self.cfg.heartbeat { want } else { Duration::ZERO });
            self.send_beat(announce, now);
            let next = match ANNOUNCE_OFFSETS_MS.get(self.announces_sent) {
                Some(&ms) => self.started + Duration::from_millis(ms),
                None => now + self.beat_interval(),
            };
            self.timers.set(Timer::Heartbeat, next);
        }
        if !self.clock_known && now.since(self.started) >= self.cfg.clock_wait {
            self.clock_is_known(now); // no one answered: alone, or the first
        }
        let check = self.timers.is_due_within(Timer::Check, now, CHECK_SLACK);
        if check {
            self.timers.set(Timer::Check, now + self.check_every());
            for e in self.members.check(now) {
                self.emit(e);
            }
            // Leaves held while their links lived on: forged.
            let forged = self.verdicts.forged_leaves(now);
            if forged > 0 {
                *self.stats.dropped.entry(DropReason::ForgedLeave).or_default() += forged;
            }
        }
        if !self.left && (check || self.ring_deadline().is_some_and(|t| t <= now + SEND_SLACK)) {
            self.tend_ring(now);
            if check {
                self.settle(now);
            }
        }
        if self.timers.is_due(Timer::Ack, now) {
            self.send_ack(now);
        }
        if self.timers.is_due_within(Timer::Sync, now, SYNC_SLACK) {
            self.timers.set(Timer::Sync, now + self.cfg.sync_every);
            self.sync_all(now);
            for e in self.repair.close_holes(&mut self.log, &self.members, now) {
                self.emit(e);
            }
        }
        for (addr, text) in self.bare.expired(now) {
            // The stamper's copy never came (it may be down, or its datagram was lost):
            // stamp it here rather than lose it.
            self.stamp_bare(addr, &text, now);
        }
    }

    /// A datagram arrived on the group from `from`: a frame, a bundle of frames, or bare text.
    pub fn handle_datagram(&mut self, bytes: &[u8], from: SocketAddr, now: Now) {
        let now = self.enter(now);
        if wire::oversized(bytes) {
            // Longer than anything a node sends: refused whole, before it is opened.
            self.reject(from, DropReason::Oversized, now);
            return;
        }
        if wire::is_bundle(bytes) {
            match wire::unbundle(bytes) {
                Ok(frames) => {
                    for f in frames {
                        self.datagram(f, from, now);
                    }
                }
                Err(e) => self.reject(from, e.reason(), now),
            }
            return;
        }
        self.datagram(bytes, from, now);
    }

    fn datagram(&mut self, bytes: &[u8], from: SocketAddr, now: Time) {
        let opened;
        let bytes = match &self.cfg.key {
            None => bytes,
            Some(key) => match key.open(bytes) {
                Ok(b) => {
                    opened = b;
                    &opened[..]
                }
                Err(e) => {
                    // A keyed group hears only its own: open frames and old clients' bare text
                    // are someone else's, and a frame that does not open is forged or changed.
                    let reason = match e {
                        OpenError::BadKey => DropReason::BadKey,
                        OpenError::Unsealed if bytes.starts_with(&wire::MAGIC) => DropReason::Unsealed,
                        OpenError::Unsealed => DropReason::BareIgnored,
                    };
                    self.reject(from, reason, now);
                    return;
                }
            },
        };
        match wire::decode(bytes) {
            Ok(Datagram::Frame(f)) if f.sender == self.id => self.own_name_heard(&f, from, now),
            Ok(Datagram::Frame(f)) if f.body.link_only() => self.reject(from, DropReason::LinkFrameOnMulticast, now),
            Ok(Datagram::Frame(f)) if !self.admit(&f, Path::Multicast, from, now) => {}
            Ok(Datagram::Frame(f)) => {
                self.observe_stamp(f.hlc);
                self.stats.frames_received += 1;
                self.handle_frame(f, from, now);
            }
            Ok(Datagram::Bare(text)) => {
                if !self.bare.admit(from, now) {
                    self.reject(from, DropReason::RateLimited, now);
                    return;
                }
                if self.bare.take_relayed(from, &text) {
                    return; // the stamper's copy came first
                }
                let rank = self.bare_rank();
                if rank == 0 {
                    self.stamp_bare(from, &text, now);
                } else if !self.bare.hold(from, text, now + self.cfg.bare_wait * rank) {
                    self.count(DropReason::BareQueueFull);
                }
            }
            Err(e) => self.reject(from, e.reason(), now),
        }
    }

    /// A ring link to `peer` is open (dialled by either side): the connection from `from` said
    /// hello as `peer`. Only ring neighbours keep a link: to anyone else this node says goodbye
    /// and closes it (`Output::Close`), and returns false.
    pub fn handle_link_up(&mut self, peer: NodeId, from: SocketAddr, now: Now) -> bool {
        let now = self.enter(now);
        if self.left {
            return false;
        }
        self.refresh_ring();
        if !self.ring.contains(peer) {
            // A stranger, a forged name, or a peer whose view of the ring differs from ours for
            // now (it dials again after a pause, and the views agree within a heartbeat).
            self.count(DropReason::LinkNotNeighbour);
            // If it answers a dial of ours, that dial is over: when the peer is a neighbour
            // again it is dialled again (after a pause), not taken as still out.
            self.links.dial_refused_here(peer, now);
            if let Some(bytes) = self.link_frame(Body::Bye) {
                self.out.push_back(Output::Link { peer, bytes });
            }
            self.out.push_back(Output::Close { peer });
            return false;
        }
        if !self.links.up(peer, from, now) {
            return false;
        }
        // A working link confirms it (it may not have been heard long enough to be confirmed
        // by its heartbeats yet).
        self.members.confirm(peer);
        self.vouch(peer, now, now);
        self.send_digest(peer, now);
        if !self.clock_known {
            // Its clock (heard in its heartbeats) votes now that the ring vouches for it.
            self.follow_group_clock(now);
        }
        true
    }

    /// A frame arrived on the link to `peer`.
    pub fn handle_link_frame(&mut self, peer: NodeId, bytes: &[u8], now: Now) {
        let now = self.enter(now);
        if !self.links.heard(peer, now) {
            return;
        }
        self.stats.link_frames_received += 1;
        let opened = match &self.cfg.key {
            Some(key) => key.open(bytes).ok(),
            None => Some(bytes.to_vec()),
        };
        let decoded = opened.as_deref().map(wire::decode);
        let f = match decoded {
            Some(Ok(Datagram::Frame(f))) if f.sender == peer => f,
            _ => {
                // A peer that sends garbage loses its link; it may dial again.
                self.count(DropReason::LinkBadFrame);
                self.links.remove(peer);
                self.out.push_back(Output::Close { peer });
                return;
            }
        };
        if !self.admit(&f, Path::Link, self.link_addr(peer), now) {
            return;
        }
        if let Some(p) = self.members.get(peer)
            && f.incarnation < p.incarnation()
        {
            // The peer itself (a TCP link cannot be spoofed blind) speaks in an older life than
            // the one the group heard: that newer life was forged, most likely from the peer's
            // own address, which its kernel never delivers to it. Tell it, on this link only:
            // it starts a life above the forged one, and everyone follows it there.
            let forged = p.incarnation();
            self.count(DropReason::ForgedLife);
            if self.forged_life_told.is_none_or(|t| now.since(t) >= RENEW_AT_MOST_EVERY) {
                self.forged_life_told = Some(now);
                self.send_link(peer, Body::Down { node: peer, incarnation: forged, why: None }, now);
            }
        }
        self.observe_stamp(f.hlc);
        if f.body != Body::Bye {
            // (A goodbye is no sign of life: a leave may be on its way.)
            self.vouch(peer, now, now);
        }
        match f.body {
            Body::Ping | Body::Hello => {}
            Body::Bye => self.links.bye(peer),
            Body::Digest(d) => {
                let reply = self.log.missing_for(&d, REPAIR_BUDGET);
                if !reply.entries.is_empty() || !reply.gaps.is_empty() || reply.shared.is_some() {
                    self.send_link(peer, Body::Entries(reply), now);
                }
            }
            Body::Entries(e) => self.apply_repair(peer, e, now),
            Body::Down { node, incarnation, why } => self.down_notice(node, incarnation, why, Some(peer), now),
            Body::Silent { node, incarnation } => self.silent_claim(node, incarnation, now),
            Body::Ack(a) => {
                let hdr = Header { sender: peer, incarnation: f.incarnation, seq: f.seq, hlc: f.hlc };
                self.on_ack(hdr, a, now);
            }
            _ => self.count(DropReason::LinkUnexpectedKind),
        }
    }

    /// The link to `peer` ended, or a dial to it failed.
    pub fn handle_link_end(&mut self, peer: NodeId, end: LinkEnd, now: Now) {
        let now = self.enter(now);
        match end {
            LinkEnd::Broken if self.verdicts.holds_leave(peer) => {
                // A leave in its name came just before: its link ended with it, so it was its own.
                self.links.remove(peer);
                if let Some((f, from)) = self.verdicts.take_leave(peer, now) {
                    self.leave(f, from, now);
                }
                self.links.pause_dials(peer, now);
            }
            LinkEnd::Broken => match self.links.remove(peer) {
                Some(false) if !self.left => self.link_broke(peer, now),
                // It said goodbye (it left the ring, or did not take us as a neighbour): not a
                // failure, but no dial straight back either.
                Some(_) => self.links.pause_dials(peer, now),
                // Closed before the link was up on our side: the dial failed.
                None => {
                    self.links.dial_failed(peer, now);
                }
            },
            LinkEnd::Refused | LinkEnd::Unreachable => {
                let probe = self.links.dial_failed(peer, now);
                if probe && end == LinkEnd::Refused {
                    self.confirm_down(peer, now);
                } else {
                    self.members.dial_failed(peer, end == LinkEnd::Refused, now);
                }
            }
        }
    }

    // ---- frames -------------------------------------------------------------------------

    fn handle_frame(&mut self, f: Frame, from: SocketAddr, now: Time) {
        let hdr = Header { sender: f.sender, incarnation: f.incarnation, seq: f.seq, hlc: f.hlc };
        if !self.members.source_ok(hdr, from, now) {
            // A known member's name from another address: someone else's frame.
            self.reject(from, DropReason::WrongAddress, now);
            return;
        }
        // Every multicast frame counts for loss, whatever its kind (a leave once it is judged
        // against the frames heard before it).
        if !matches!(f.body, Body::Leave) {
            self.members.frame_seen(hdr);
        }
        match f.body {
            Body::Announce(beat) => self.on_beat(hdr, &beat, true, from, now),
            Body::Heartbeat(beat) => self.on_beat(hdr, &beat, false, from, now),
            Body::Leave if self.links.heard_within(f.sender, now, self.cfg.heartbeat * 2) => {
                // Our link to it spoke just now. A real leave is followed at once by its goodbye
                // on the link (see `handle_link_end`); a forged one is not, and is dropped.
                self.verdicts.hold_leave(hdr, from, now);
                self.vouch_soon(now);
            }
            Body::Leave => self.leave(hdr, from, now),
            Body::Message(m) => {
                self.members.message_seen(hdr, now);
                if let Some(addr) = m.bare_from {
                    self.bare.relayed(addr, &m.text, now);
                }
                let entry = Entry {
                    ts: f.hlc,
                    node: f.sender,
                    incarnation: f.incarnation,
                    seq: m.msg_seq,
                    name: Name::clip_shared(m.name),
                    text: m.text,
                    bare_from: m.bare_from,
                };
                self.stats.messages_received += 1;
                self.add_entry(entry, false, from, now);
            }
            Body::Down { node, incarnation, why } if self.members.status(f.sender).is_some_and(Status::is_member) => {
                self.down_notice(node, incarnation, why, None, now);
            }
            Body::Silent { node, incarnation } if self.members.status(f.sender).is_some_and(Status::is_member) => {
                self.silent_claim(node, incarnation, now);
            }
            Body::Down { .. } | Body::Silent { .. } => self.reject(from, DropReason::DownDisputed, now),
            Body::Ack(a) => self.on_ack(hdr, a, now),
            _ => {}
        }
    }

    // ---- heartbeats ---------------------------------------------------------------------

    fn on_beat(&mut self, f: Header, beat: &Beat, announce: bool, from: SocketAddr, now: Time) {
        let mut ev = Vec::new();
        let heard = self.members.beat(f, beat, from, now, &mut ev);
        for e in ev {
            self.emit(e);
        }
        if heard != Heard::Full {
            // A stamp from the future (forged, or a clock far ahead) is taken as now: it must
            // not hold this origin's frontier until real time catches up with it. (One the
            // table left out is not recorded: the log's records of origins are bounded too,
            // and a group larger than the table would have them turn over at every heartbeat.)
            self.log.on_beat(f.sender, f.incarnation, beat.msg_seq, f.hlc.min(self.clock.now_hlc()));
        }
        match heard {
            Heard::Stale => return,
            Heard::Revived => self.count(DropReason::ForgedLeave),
            Heard::Full => {
                self.count(DropReason::PeerTableFull);
                return;
            }
            Heard::New if announce && !self.left && self.answers_newcomer(f.sender) => {
                // Answer a newcomer within its announce burst, so it lists us at once: the next
                // heartbeat comes forward. One heartbeat answers every newcomer heard meanwhile
                // (when many start together, each member sends a few, not one per newcomer).
                let soon = now + ANSWER_WITHIN;
                if self.timers.get(Timer::Heartbeat).is_none_or(|t| t > soon) {
                    self.timers.set(Timer::Heartbeat, soon);
                }
            }
            Heard::New | Heard::Known => {}
        }
        self.clock_sample(f.sender, beat, now);
        // Peers it hears on its ring links are alive, and in the ring for real.
        let mut heard_on_links = Vec::new();
        for &(node, age_ms) in beat.links.iter().take(MAX_VOUCHES) {
            let heard = Time(now.0.saturating_sub(Duration::from_millis(u64::from(age_ms))));
            if node != self.id && age_ms < self.link_timeout().as_millis() as u32 {
                self.vouch(node, heard, now);
                heard_on_links.push(node);
            }
        }
        self.members.links_heard(f.sender, heard_on_links, now);
        if self.repair.news(&mut self.log, f.sender, f.incarnation, beat.msg_seq, now) {
            self.sync_all(now);
        }
    }

    /// Whether this node answers `newcomer`'s announce at once. In a small group everyone
    /// does, so a newcomer lists the whole group within its announce burst; in a larger one only
    /// its ring neighbours-to-be do (it needs them at once, to link), and the rest are listed
    /// from their next heartbeats. N joins then cost about N² deliveries, not N³.
    fn answers_newcomer(&self, newcomer: NodeId) -> bool {
        if self.members.ids().nth(ANSWER_ALL_BELOW - 1).is_none() {
            return true;
        }
        let (Some(me), Some(key)) = (self.my_ring_key(), self.ring_key_of(newcomer)) else { return false };
        super::ring::is_neighbour_of(me, key, self.members.ring_keys())
    }

    /// `node` was heard alive at `at`, second-hand or on its link.
    fn vouch(&mut self, node: NodeId, at: Time, now: Time) {
        let was = self.members.status(node);
        if let Some(e) = self.members.vouch(node, at, now) {
            // Heard on a ring link after it was shown gone: the word against it was wrong.
            match (was, &e) {
                (Some(Status::Left), Event::PeerUp { .. }) => self.count(DropReason::ForgedLeave),
                (Some(Status::Down), Event::PeerUp { .. }) => self.count(DropReason::DownDisputed),
                _ => {}
            }
            self.emit(e);
        }
    }

    /// `f.sender` said goodbye (or someone did in its name, from `from`).
    fn leave(&mut self, f: Header, from: SocketAddr, now: Time) {
        match self.members.left(f, now) {
            Leave::Left(e) => self.emit(e),
            Leave::Ignored => {}
            Leave::Implausible => self.reject(from, DropReason::ForgedLeave, now),
        }
    }

    // ---- the log ------------------------------------------------------------------------

    fn say(&mut self, text: &str, bare_from: Option<SocketAddr>, now: Time) -> Result<(), CommandError> {
        let text: Arc<str> = text.trim_end_matches(['\n', '\r']).into();
        check_message(&self.cfg.name, &text)?;
        let msg_seq = Seq(self.msg_seq.0 + 1);
        let name: Arc<str> = self.cfg.name.as_str().into();
        let body = Body::Message(MessageBody { msg_seq, name: Arc::clone(&name), text: Arc::clone(&text), bare_from });
        let ts = self.clock.stamp();
        let frame = Frame { sender: self.id, incarnation: self.incarnation, seq: Seq(self.seq.0 + 1), hlc: ts, body };
        // check_message sized a frame without a bare-text address; one adds a few bytes.
        let bytes = wire::encode(&frame).map_err(|e| CommandError::TooLong {
            len: text.len(),
            max: text.len().saturating_sub(e.len - wire::MAX_FRAME),
        })?;
        self.seq = frame.seq;
        self.msg_seq = msg_seq;
        self.sent.record(frame.seq, frame.hlc);
        let bytes = self.sealed(bytes);
        self.out.push_back(Output::Multicast(bytes));
        self.stats.frames_sent += 1;
        self.stats.messages_sent += 1;
        let entry = Entry { ts, node: self.id, incarnation: self.incarnation, seq: msg_seq, name, text, bare_from };
        let from = SocketAddr::from(([0, 0, 0, 0], 0));
        self.add_entry(entry, bare_from.is_none(), from, now);
        Ok(())
    }

    /// Puts an entry in the log; true if it was new.
    fn add_entry(&mut self, entry: Entry, own: bool, from: SocketAddr, now: Time) -> bool {
        match self.log.insert(entry.clone()) {
            Inserted::New { shared } => {
                self.want_ack(now);
                let settled = entry.ts < self.repair.settled();
                self.emit(Event::Message { entry: entry.clone(), own, settled });
                if shared {
                    self.emit(Event::Shared { entry, settled });
                }
                true
            }
            Inserted::Duplicate => {
                self.stats.duplicates += 1;
                false
            }
            Inserted::TooOld => {
                self.reject(from, DropReason::TooOld, now);
                false
            }
            Inserted::Version { shared, held } => {
                self.another_version(&entry, &held, shared, now);
                false
            }
            Inserted::Ahead => {
                // Not lost: refused for now, and repaired once the hole below it is filled.
                self.count(DropReason::Ahead);
                false
            }
            Inserted::TooManyVersions => {
                self.reject(from, DropReason::Conflict, now);
                false
            }
        }
    }

    /// Another version of a message held (same node, life and number): one of the two is
    /// forged, and nothing tells which. Both are kept, in every log: a forger can add a line
    /// under someone's name (as in any open group) but never rewrite or erase one, and no
    /// version makes anyone say anything again. The first time a node holds a version it sends
    /// both around the ring, so every log ends up with both, and the node whose name was used
    /// hears of it: if it is of its current life, it starts a new one.
    fn another_version(&mut self, entry: &Entry, held: &Entry, shared: bool, now: Time) {
        self.stats.conflicts += 1;
        let settled = entry.ts < self.repair.settled();
        self.emit(Event::Message { entry: entry.clone(), own: false, settled });
        if shared {
            self.emit(Event::Shared { entry: entry.clone(), settled });
        }
        self.emit(Event::Conflict { held: Box::new(held.clone()), other: Box::new(entry.clone()) });
        let both = wire::Entries { entries: vec![held.clone(), entry.clone()], ..wire::Entries::default() };
        self.pass_on_ring(&Body::Entries(both), None, now);
        if entry.node == self.id && entry.incarnation >= self.incarnation {
            self.impersonated(entry.incarnation, None, now);
        }
    }

    /// Bare text carries no stamp, and every node hears it at its own time. So one node stamps
    /// it for the group: the member with the lowest node id. Its stamped copy is an ordinary
    /// message, which every log orders the same way. This node's rank is how many members it
    /// knows of with a lower id (0: it stamps at once). Every member known counts, confirmed or
    /// not, so that nodes which have heard each other agree on the stamper even before they
    /// have linked. Should the stamper's copy not come (it crashed, or is a forged name), the
    /// next in rank stamps after one wait, the one after it after two, and so on: one copy
    /// enters the log, not one per node.
    fn bare_rank(&self) -> u32 {
        let below = self.members.ids().filter(|m| *m < self.id).count();
        u32::try_from(below).unwrap_or(u32::MAX).min(MAX_BARE_RANK)
    }

    fn stamp_bare(&mut self, addr: SocketAddr, text: &str, now: Time) {
        if self.left {
            return;
        }
        if let Err(e) = self.say(text, Some(addr), now) {
            let reason = if matches!(e, CommandError::Empty) { DropReason::Empty } else { DropReason::TooLongToStamp };
            self.reject(addr, reason, now);
        }
    }

    // ---- sending and reporting ------------------------------------------------------------

    fn send_beat(&mut self, announce: bool, now: Time) {
        let links = self.links.heard_ages(now, MAX_VOUCHES);
        let beat = Beat {
            time_ms: self.clock.group_now().as_millis().min(u128::from(u64::MAX)) as u64,
            skew_ms: self.clock.skew_ms(),
            name: self.cfg.name.to_string(),
            msg_seq: self.msg_seq,
            interval_ms: self.beat_interval().as_millis().min(u128::from(u32::MAX)) as u32,
            tcp_port: self.cfg.ring_addr.map_or(0, |a| a.port()),
            frontier: self.repair.frontier(),
            links,
        };
        if announce {
            self.announces_sent += 1;
        }
        self.send(if announce { Body::Announce(beat) } else { Body::Heartbeat(beat) });
    }

    fn send(&mut self, body: Body) {
        self.seq = Seq(self.seq.0 + 1);
        let frame =
            Frame { sender: self.id, incarnation: self.incarnation, seq: self.seq, hlc: self.clock.stamp(), body };
        self.sent.record(frame.seq, frame.hlc);
        match wire::encode(&frame) {
            Ok(bytes) => {
                let bytes = self.sealed(bytes);
                self.out.push_back(Output::Multicast(bytes));
                self.stats.frames_sent += 1;
            }
            Err(_) => self.count(DropReason::OwnFrameTooLong),
        }
    }

    /// Link frames are numbered on a count of their own (from `LINK_SEQ` up), apart from the
    /// multicast frames whose numbers measure loss.
    fn link_frame(&mut self, body: Body) -> Option<Vec<u8>> {
        self.link_seq += 1;
        let seq = Seq(LINK_SEQ | self.link_seq);
        let frame = Frame { sender: self.id, incarnation: self.incarnation, seq, hlc: self.clock.stamp(), body };
        wire::encode_link(&frame).ok().map(|b| self.sealed(b))
    }

    /// A frame in our own name: our echo, or someone else using our id. A forgery is reported
    /// and counted, and makes this node start a new life (at most once a second), so that
    /// forged messages numbered ahead of ours cannot make peers drop our real ones.
    fn own_name_heard(&mut self, f: &Frame, from: SocketAddr, now: Time) {
        let ours = match f.incarnation.cmp(&self.incarnation) {
            std::cmp::Ordering::Less => true, // an echo from before a new life
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => f.seq <= self.seq && self.sent.may_be(f.seq, f.hlc, self.seq),
        };
        if ours {
            self.stats.own_echoes += 1;
        } else {
            self.impersonated(f.incarnation, Some(from), now);
        }
    }

    /// Someone uses this node's name in life `inc` (or one before it): report it, and start a
    /// new life above it, at most once a second.
    pub(super) fn impersonated(&mut self, inc: Incarnation, from: Option<SocketAddr>, now: Time) {
        self.stats.impersonations += 1;
        if self.renewed_at.is_some_and(|t| now.since(t) < RENEW_AT_MOST_EVERY) {
            return;
        }
        self.renewed_at = Some(now);
        self.emit(Event::Impersonated { addr: from });
        self.new_life_above(inc, now);
    }

    /// Seals an encoded frame in a keyed group.
    fn sealed(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if let Some(key) = &self.cfg.key {
            key.seal(&mut bytes);
        }
        bytes
    }

    /// In a keyed group, a frame that opened is taken once (see `replay.rs`); a replayed or
    /// stale one is counted and changes nothing. Open groups take every frame.
    fn admit(&mut self, f: &Frame, path: Path, from: SocketAddr, now: Time) -> bool {
        if self.cfg.key.is_none() {
            return true;
        }
        match self.replay.admit((f.sender, f.incarnation, f.seq), path, now) {
            Ok(()) => true,
            Err(reason) => {
                self.reject(from, reason, now);
                false
            }
        }
    }

    /// Where the link to `peer` comes from, for what is refused on it.
    fn link_addr(&self, peer: NodeId) -> SocketAddr {
        self.links.addr(peer).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn send_link(&mut self, peer: NodeId, body: Body, now: Time) {
        let Some(bytes) = self.link_frame(body) else {
            self.count(DropReason::OwnFrameTooLong);
            return;
        };
        self.links.sent(peer, now);
        self.stats.link_frames_sent += 1;
        self.out.push_back(Output::Link { peer, bytes });
    }

    fn emit(&mut self, e: Event) {
        if let Event::PeerUp { node, .. } | Event::PeerAlive { node, .. } = &e {
            // Back, or cleared: a down notice held against it earlier is spent (else a link
            // that churns as it comes back would be taken for the crash that notice meant).
            self.verdicts.notice_spent(*node);
        }
        self.out.push_back(Output::Event(e));
    }

    fn count(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_default() += 1;
    }

    fn reject(&mut self, addr: SocketAddr, reason: DropReason, now: Time) {
        self.count(reason);
        if let Some(count) = self.bare.report(addr, now) {
            self.emit(Event::Rejected { addr, reason, count });
        }
    }
}
