//! The node: one member of the group. It owns the parts of the core (each keeps its state
//! private), takes every input and routes it to the parts it concerns; work that reaches across
//! several parts goes through short-lived handles that borrow just those (`Tx`, `Tending`,
//! `Settling`, `Timekeeping`, `Lives`, `Writing`).

use std::net::SocketAddr;
use std::time::Duration;

use super::acks::{Acks, Settling};
use super::bare::{Arrived, BareDesk};
use super::beats::{self, Beats};
use super::failures::{Failures, Notice};
use super::life::{Life, Lives};
use super::membership::{Header, Members};
use super::outbox::{Outbox, Tx};
use super::pauses::Pauses;
use super::repair::Repair;
use super::replay::{Path, ReplayGuard};
use super::reports::Reports;
use super::ring::Links;
use super::seal;
use super::tending::{self, SEND_SLACK, Tending};
use super::timekeeping::{Followed, Timekeeping};
use super::timer::{Timer, TimerTable};
use super::verdicts::Verdicts;
use super::wire::{self, Beat, Body, Datagram, Frame};
use super::writing::{Writing, Wrote};
use super::{
    ClockBasis, ClockCause, Command, CommandError, Config, DropReason, Event, Hlc, Incarnation, LinkEnd, Log,
    Neighbours, NodeId, Now, Output, PeerView, Snapshot, Stats, Status, Time, check_message,
};
use super::{clock::Clock, holding::Holding};

/// A `Tx` over the node's own parts.
macro_rules! tx {
    ($n:ident) => {
        Tx {
            id: $n.id,
            inc: $n.life.incarnation(),
            clock: &mut $n.clock,
            out: &mut $n.out,
            stats: &mut $n.stats,
            reports: &mut $n.reports,
        }
    };
}

/// A handle borrowing the named parts of the node (shared where the handle only reads them),
/// with a `Tx` over the parts it speaks through, and the values given after.
macro_rules! handle {
    ($n:ident, $T:ident { $($f:ident),* } $(, $k:ident: $v:expr)*) => {
        $T { tx: tx!($n), $($f: &mut $n.$f,)* $($k: $v,)* }
    };
}

/// One member of the group: the whole protocol state of a node, driven by its inputs.
pub struct Node {
    id: NodeId,
    cfg: Config,
    life: Life,
    clock: Clock,
    holding: Holding,
    out: Outbox,
    beats: Beats,
    members: Members,
    log: Log,
    bare: BareDesk,
    reports: Reports,
    stats: Stats,
    timers: TimerTable,
    left: bool,
    links: Links,
    repair: Repair,
    replay: ReplayGuard,
    verdicts: Verdicts,
    pauses: Pauses,
    acks: Acks,
}

impl Node {
    /// A node with a fresh table and log, about to announce itself. `id` is random per run;
    /// `incarnation` counts its lives.
    pub fn new(id: NodeId, incarnation: Incarnation, cfg: Config, now: Now) -> Self {
        Node {
            id,
            life: Life::new(incarnation),
            clock: Clock::new(now, cfg.max_clock_ahead),
            holding: Holding::new(cfg.clock_wait.is_zero()),
            out: Outbox::new(cfg.key.clone()),
            beats: Beats::new(now.mono, cfg.heartbeat),
            members: Members::new(&cfg),
            log: Log::with_bytes(cfg.log_capacity, cfg.log_bytes),
            bare: BareDesk::new(cfg.bare_rate, cfg.bare_burst),
            reports: Reports::default(),
            stats: Stats::default(),
            timers: TimerTable::starting(now.mono),
            left: false,
            links: Links::default(),
            repair: Repair::default(),
            replay: ReplayGuard::default(),
            verdicts: Verdicts::default(),
            pauses: Pauses::new(now.mono, cfg.link_ping, cfg.heartbeat),
            acks: Acks::default(),
            cfg,
        }
    }

    fn tending(&mut self) -> Tending<'_> {
        handle! { self, Tending { cfg, life, links, members, verdicts, pauses, log, repair, timers }, left: self.left }
    }

    fn failures(&mut self) -> Failures<'_> {
        handle! { self, Failures { cfg, links, members, verdicts, pauses, timers } }
    }

    fn settling(&mut self) -> Settling<'_> {
        handle! { self, Settling { acks, timers, repair, members, links, log }, left: self.left }
    }

    fn lives(&mut self) -> Lives<'_> {
        handle! { self, Lives { cfg, life, beats, pauses, repair, links }, left: self.left }
    }

    fn writing(&mut self) -> Writing<'_> {
        handle! { self, Writing { log, repair, links } }
    }

    fn timekeeping(&mut self) -> Timekeeping<'_> {
        let Node { cfg, clock, members, links, holding, out, .. } = self;
        Timekeeping { cfg, clock, members, links, holding, out }
    }

    /// Takes the driver's reading at the start of every input: the clock notes a wall-clock
    /// step, and a long silence of our own (the process was stopped or starved) gives peers a
    /// fresh start rather than a verdict. Returns the monotonic instant the core counts in.
    fn enter(&mut self, now: Now) -> Time {
        if let Some(by_ms) = self.clock.advance(now) {
            // Peers' clocks were compared with our wall clock before it stepped.
            self.members.clock_stepped(by_ms);
            let e = Event::Clock { skew_ms: self.clock.skew_ms(), cause: ClockCause::Step { by_ms } };
            tx!(self).emit(e);
        }
        let (t, gap) = self.pauses.enter(now.mono);
        if gap.stalled {
            // Starved, or stopped for less than a pause: the links' silence meanwhile was ours.
            self.links.forgive(t);
        }
        if gap.paused {
            // Stopped: the peers' silence was ours too. Detectors count from now.
            self.stats.pauses += 1;
            self.members.forgive(t);
        }
        t
    }

    /// How often this node heartbeats now (see `Beats::interval`).
    pub fn beat_interval(&self) -> Duration {
        self.beats.interval()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's life (see `Body::Down`, `impersonated`).
    pub fn incarnation(&self) -> Incarnation {
        self.life.incarnation()
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
        self.links.neighbours()
    }

    /// Group time at the latest input (what this node stamps with, less the logical part).
    pub fn group_now(&self) -> Hlc {
        self.clock.now_hlc()
    }

    /// What group time rests on, as last worked out.
    pub fn clock_basis(&self) -> ClockBasis {
        self.clock.basis()
    }

    /// The group's settled mark: messages stamped before it are held by every live member.
    pub fn settled(&self) -> Hlc {
        self.repair.settled()
    }

    /// The next thing this node wants done (send, dial, close, report), oldest first; messages
    /// queued together leave as one bundle (see `Outbox::poll`).
    pub fn poll_output(&mut self) -> Option<Output> {
        let (out, bundled) = self.out.poll()?;
        if bundled {
            self.stats.bundles_sent += 1;
        }
        Some(out)
    }

    /// When `handle_timer` next has work to do.
    pub fn next_deadline(&self) -> Time {
        let timers = self.timers.next().unwrap_or(self.pauses.last_input() + beats::CHECK_EVERY);
        let later = [self.ring_deadline(), self.bare.next_deadline(), self.reports.next_deadline()];
        later.into_iter().flatten().fold(timers, Time::min)
    }

    /// When the ring wants looking after (see `tending::deadline`).
    fn ring_deadline(&self) -> Option<Time> {
        let parts = (&self.links, &self.members, &self.verdicts);
        tending::deadline(&self.cfg, self.id, parts, self.pauses.last_input()).filter(|_| !self.left)
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
        self.members.views(self.links.ids(), self.clock.offset_ms(), self.pauses.last_input())
    }

    /// Everything a front end shows at once (`/state`, a resync).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            node: self.id,
            name: self.cfg.name.to_string(),
            skew_ms: self.clock.skew_ms(),
            clock: self.clock.basis(),
            group_now: self.clock.now_hlc(),
            shared: self.log.shared().cloned(),
            settled: self.repair.settled(),
            ring: self.links.neighbours(),
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

    /// Counts a drop the network task saw (a connection refused before hello, a failed accept).
    pub fn count_drop(&mut self, reason: DropReason) {
        tx!(self).count(reason);
    }

    /// The first frame to send on a new ring link: it names this node.
    pub fn hello(&mut self, now: Now) -> Vec<u8> {
        self.enter(now);
        let hlc = self.clock.stamp();
        self.out.link_frame(self.id, self.life.incarnation(), hlc, Body::Hello).unwrap_or_default()
    }

    // ---- inputs -------------------------------------------------------------------------

    /// What the user asked for: say, rename or leave. A refused message is not sent at all.
    pub fn handle_command(&mut self, cmd: Command, now: Now) -> Result<(), CommandError> {
        let now = self.enter(now);
        if self.left {
            return Err(CommandError::Left);
        }
        match cmd {
            Command::Say(text) => {
                check_message(&self.cfg.name, &text)?;
                let Some(text) = self.holding.hold(text) else { return Ok(()) };
                // Held lines go first, in order, even when there were too many to hold.
                self.clock_is_known(now);
                self.say(&text, None, now)
            }
            Command::Rename(name) => {
                self.cfg.name = name;
                self.lives().beat(false, now);
                Ok(())
            }
            Command::Leave => {
                // What the user said is sent, clock known or not, before the goodbye.
                self.clock_is_known(now);
                // Twice: one lost datagram should not leave peers waiting for a timeout.
                (0..2).for_each(|_| tx!(self).send(Body::Leave));
                self.tending().close_all(now);
                self.left = true;
                self.timers.left();
                Ok(())
            }
        }
    }

    /// Whether `handle_timer` would find work now, taking each chore's slack (heartbeats and
    /// pings a little early, checks and digests more so). A driver awake for some other input
    /// asks this and, if so, does the chores in the same wake-up instead of waking again soon.
    pub fn due_within_slack(&self, now: Now) -> bool {
        let ring = self.ring_deadline().map(|d| d.saturating_sub(SEND_SLACK));
        let others = ring.into_iter().chain(self.bare.next_deadline()).chain(self.reports.next_deadline());
        self.timers.any_due_soon(now.mono.max(self.pauses.last_input()), others)
    }

    /// Called at `next_deadline()` (or later, or a little early when `due_within_slack`):
    /// heartbeats, detector checks, ring tending, digests, and bare text whose stamper stayed
    /// silent.
    pub fn handle_timer(&mut self, now: Now) {
        let now = self.enter(now);
        if self.timers.is_due_soon(Timer::Heartbeat, now) {
            let followed = self.timekeeping().follow(now);
            self.followed(followed, now);
            let want = self.tending().pace(now);
            let (announce, next) = self.beats.due(want, now);
            self.lives().beat(announce, now);
            self.timers.set(Timer::Heartbeat, next);
        }
        let (heard, waited) = (self.members.ids().next().is_some(), now.since(self.beats.started()));
        if self.holding.waited_enough(waited, heard, self.cfg.clock_wait, self.beats.interval()) {
            self.clock_is_known(now); // no one answered (alone, or the first), or no majority
        }
        let check = self.timers.is_due_soon(Timer::Check, now);
        if check {
            self.timers.set(Timer::Check, now + self.beats.check_every());
            self.failures().check(now);
        }
        if !self.left && (check || self.ring_deadline().is_some_and(|t| t <= now + SEND_SLACK)) {
            self.tending().tend(now);
            if check {
                self.settling().settle(now);
            }
        }
        if self.timers.is_due(Timer::Ack, now) {
            self.settling().send(now);
        }
        if self.timers.is_due_soon(Timer::Sync, now) {
            self.timers.set(Timer::Sync, now + self.cfg.sync_every);
            self.tending().sync_all(now);
            for e in self.repair.close_holes(&mut self.log, &self.members, now) {
                tx!(self).emit(e);
            }
        }
        for (addr, reason, count) in self.reports.due(now) {
            tx!(self).emit(Event::Rejected { addr, reason, count });
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
        match wire::frames(bytes) {
            Ok(frames) => frames.into_iter().for_each(|f| self.datagram(f, from, now)),
            Err(reason) => tx!(self).reject(from, reason, now),
        }
    }

    fn datagram(&mut self, bytes: &[u8], from: SocketAddr, now: Time) {
        let decoded = seal::opened(self.cfg.key.as_ref(), bytes).and_then(|b| wire::decode(&b).map_err(|e| e.reason()));
        match decoded {
            Ok(Datagram::Frame(f)) if f.sender == self.id => self.lives().own_name_heard(&f, from, now),
            Ok(Datagram::Frame(f)) if f.body.link_only() => {
                tx!(self).reject(from, DropReason::LinkFrameOnMulticast, now);
            }
            Ok(Datagram::Frame(f)) if !self.admit(&f, Path::Multicast, from, now) => {}
            Ok(Datagram::Frame(f)) => {
                tx!(self).observe(f.hlc);
                self.stats.frames_received += 1;
                self.handle_frame(f, from, now);
            }
            Ok(Datagram::Bare(text)) => {
                let rank = self.tending().stamper_rank(now);
                match self.bare.arrive(from, text, rank, self.cfg.bare_wait, now) {
                    Arrived::RateLimited => tx!(self).reject(from, DropReason::RateLimited, now),
                    Arrived::Stamp(text) => self.stamp_bare(from, &text, now),
                    Arrived::QueueFull => tx!(self).count(DropReason::BareQueueFull),
                    Arrived::Stamped | Arrived::Held => {}
                }
            }
            Err(reason) => tx!(self).reject(from, reason, now),
        }
    }

    /// A ring link to `peer` is open (dialled by either side): the connection from `from` said
    /// hello as `peer`. Only ring neighbours keep a link: to anyone else this node says goodbye
    /// and closes it (`Output::Close`), and returns false.
    pub fn handle_link_up(&mut self, peer: NodeId, from: SocketAddr, now: Now) -> bool {
        let now = self.enter(now);
        if self.left || !self.tending().link_up(peer, from, now) {
            return false;
        }
        if !self.holding.known() {
            // Its clock (heard in its heartbeats) votes now that the ring vouches for it.
            let followed = self.timekeeping().follow(now);
            self.followed(followed, now);
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
        let f = match seal::opened(self.cfg.key.as_ref(), bytes).map(|b| wire::decode(&b)) {
            Ok(Ok(Datagram::Frame(f))) if f.sender == peer => f,
            _ => return self.tending().bad_frame(peer),
        };
        let from = self.links.addr(peer).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        if !self.admit(&f, Path::Link, from, now) {
            return;
        }
        self.tending().link_life(peer, f.incarnation, now);
        tx!(self).observe(f.hlc);
        if f.body != Body::Bye {
            // (A goodbye is no sign of life: a leave may be on its way.)
            self.failures().vouch(peer, now, now);
        }
        let hdr = Header { sender: peer, incarnation: f.incarnation, seq: f.seq, hlc: f.hlc };
        match f.body {
            Body::Ping | Body::Hello => {}
            Body::Bye => self.links.bye(peer),
            Body::Digest(d) => self.writing().answer(peer, &d, now),
            Body::Entries(e) => {
                let wrote = self.writing().repaired(peer, e, now);
                self.after_writing(wrote, now);
            }
            body @ (Body::Down { .. } | Body::Silent { .. }) => self.notice(&body, Some(peer), now),
            Body::Ack(a) => self.ack(hdr, a, now),
            _ => tx!(self).count(DropReason::LinkUnexpectedKind),
        }
    }

    /// The link to `peer` ended, or a dial to it failed.
    pub fn handle_link_end(&mut self, peer: NodeId, end: LinkEnd, now: Now) {
        let now = self.enter(now);
        self.tending().link_end(peer, end, now);
    }

    fn handle_frame(&mut self, f: Frame, from: SocketAddr, now: Time) {
        let hdr = Header { sender: f.sender, incarnation: f.incarnation, seq: f.seq, hlc: f.hlc };
        if !self.members.source_ok(hdr, from, now) {
            // A known member's name from another address: someone else's frame.
            tx!(self).reject(from, DropReason::WrongAddress, now);
            return;
        }
        // Every multicast frame counts for loss, whatever its kind (a leave once it is judged
        // against the frames heard before it).
        if !matches!(f.body, Body::Leave) {
            self.members.frame_seen(hdr);
        }
        let member = self.members.status(f.sender).is_some_and(Status::is_member);
        match f.body {
            Body::Announce(beat) => self.on_beat(hdr, &beat, true, from, now),
            Body::Heartbeat(beat) => self.on_beat(hdr, &beat, false, from, now),
            Body::Leave => self.failures().leave_heard(hdr, from, now),
            Body::Message(m) => {
                self.members.message_seen(hdr, now);
                if let Some(addr) = m.bare_from {
                    self.bare.relayed(addr, &m.text, now);
                }
                let wrote = self.writing().heard(hdr, m, from, now);
                self.after_writing(wrote, now);
            }
            body @ (Body::Down { .. } | Body::Silent { .. }) if member => self.notice(&body, None, now),
            Body::Down { .. } | Body::Silent { .. } => tx!(self).reject(from, DropReason::DownDisputed, now),
            Body::Ack(a) => self.ack(hdr, a, now),
            _ => {}
        }
    }

    fn on_beat(&mut self, f: Header, beat: &Beat, announce: bool, from: SocketAddr, now: Time) {
        if !self.tending().beat(f, beat, announce, from, now) {
            return;
        }
        if !self.pauses.just_resumed(now) {
            let followed = self.timekeeping().sample(f.sender, beat, now);
            self.followed(followed, now);
        }
        self.tending().beat_report(f, beat, now);
    }

    /// An ack from `f.sender`: the marks, and the ring asked for what it showed we lack.
    fn ack(&mut self, f: Header, ack: wire::Ack, now: Time) {
        if self.settling().on_ack(f, ack, now) {
            self.tending().sync_all(now);
        }
    }

    fn say(&mut self, text: &str, bare_from: Option<SocketAddr>, now: Time) -> Result<(), CommandError> {
        let name = self.cfg.name.as_str().into();
        let wrote = self.writing().say(text, name, bare_from, now)?;
        self.after_writing(wrote, now);
        Ok(())
    }

    /// What writing to the log left to do: peers to ack (it holds a new message), and a new
    /// life above each life a message in our name showed someone uses.
    fn after_writing(&mut self, wrote: Wrote, now: Time) {
        if wrote.new {
            self.settling().want(now);
        }
        for inc in wrote.renew {
            self.lives().impersonated(inc, None, now);
        }
    }

    /// The group's clock is known (or no one answered in time): what the user said meanwhile
    /// is stamped and sent now, in order.
    fn clock_is_known(&mut self, now: Time) {
        for text in self.holding.release() {
            // Checked when it was said; a rename since may have made it too long to send.
            if self.say(&text, None, now).is_err() {
                tx!(self).count(DropReason::OwnFrameTooLong);
            }
        }
    }

    /// What following the group's clock asks: a new life, the held lines sent.
    fn followed(&mut self, f: Followed, now: Time) {
        if f.new_life {
            let inc = self.life.incarnation();
            self.lives().renew_above(inc, now);
        }
        if f.known {
            self.clock_is_known(now);
        }
    }

    /// A neighbour's word about a node (a down notice, or a claim that its link went silent),
    /// heard on the group or on the ring from `via`; and what it asks of this node itself.
    fn notice(&mut self, body: &Body, via: Option<NodeId>, now: Time) {
        let notice = match *body {
            Body::Down { node, incarnation, why } => self.failures().down_notice(node, incarnation, why, via, now),
            Body::Silent { node, incarnation } => self.failures().silent_claim(node, incarnation, now),
            _ => Notice::Done,
        };
        match notice {
            Notice::Done => {}
            Notice::Answer => self.lives().beat(false, now),
            Notice::Forged(inc) => self.lives().impersonated(inc, None, now),
        }
    }

    /// Bare text carries no stamp, and every node hears it at its own time. So one node stamps
    /// it for the group: the member with the lowest node id (see `Tending::stamper_rank`). Its
    /// stamped copy is an ordinary message, which every log orders the same way; the others hold
    /// their own copy (see `BareDesk::arrive`) and stamp it only if that copy never comes.
    fn stamp_bare(&mut self, addr: SocketAddr, text: &str, now: Time) {
        if let Some(Err(e)) = (!self.left).then(|| self.say(text, Some(addr), now)) {
            let reason = if matches!(e, CommandError::Empty) { DropReason::Empty } else { DropReason::TooLongToStamp };
            tx!(self).reject(addr, reason, now);
        }
    }

    /// In a keyed group, a frame that opened is taken once (see `replay.rs`); a replayed or
    /// stale one is counted and changes nothing. Open groups take every frame.
    fn admit(&mut self, f: &Frame, path: Path, from: SocketAddr, now: Time) -> bool {
        let refused =
            self.cfg.key.as_ref().and_then(|_| self.replay.admit((f.sender, f.incarnation, f.seq), path, now).err());
        refused.inspect(|reason| tx!(self).reject(from, *reason, now)).is_none()
    }
}
