//! The outbox: what this node says, numbered, sealed and queued.
//!
//! `Outbox` owns the numbering of this life's frames (multicast frames count for loss, messages
//! are numbered on their own, ring-link frames on a count of their own from `LINK_SEQ` up), the
//! stamps of the multicast frames sent lately (to tell our own echo from a forgery), the group key
//! it seals with, and the queue of outputs for the driver, from which messages queued together
//! leave bundled. `Tx` is the short-lived handle the node's parts speak through: it stamps with
//! the clock, numbers and seals through the outbox, and counts and reports through the node's
//! counters.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::clock::Clock;
use super::reports::Reports;
use super::ring::Links;
use super::seal::{GroupKey, LINK_SEQ};
use super::wire::{self, Body, Frame};
use super::{DropReason, Event, Hlc, Incarnation, NodeId, Output, Seq, Stats, Time};

/// Multicast frames whose stamps are remembered to recognise our echo.
const SENT_MEMORY: usize = 4096;
/// Queued outputs looked through for datagrams to bundle with the first.
const BUNDLE_LOOKAHEAD: usize = 256;

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

/// This life's numbering, the stamps sent lately, the key, and the queue of outputs.
pub(super) struct Outbox {
    key: Option<GroupKey>,
    /// The last multicast frame number used in this life.
    seq: Seq,
    /// The last message number used in this life.
    msg_seq: Seq,
    /// Ring-link frames sent in this run (their own count, see `link`).
    link_seq: u64,
    sent: SentFrames,
    out: VecDeque<Output>,
}

impl Outbox {
    /// An empty outbox sealing with `key` (an open group: `None`).
    pub(super) fn new(key: Option<GroupKey>) -> Self {
        Outbox { key, seq: Seq(0), msg_seq: Seq(0), link_seq: 0, sent: SentFrames::default(), out: VecDeque::new() }
    }

    /// The last message number used in this life.
    pub(super) fn msg_seq(&self) -> Seq {
        self.msg_seq
    }

    /// A new life: its frames and messages are numbered from 1 again.
    pub(super) fn new_life(&mut self) {
        self.seq = Seq(0);
        self.msg_seq = Seq(0);
        self.sent = SentFrames::default();
    }

    /// Could frame `seq` stamped `hlc`, of this life, be one this node sent?
    pub(super) fn may_be_ours(&self, seq: Seq, hlc: Hlc) -> bool {
        seq <= self.seq && self.sent.may_be(seq, hlc, self.seq)
    }

    /// Seals an encoded frame in a keyed group.
    pub(super) fn sealed(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if let Some(key) = &self.key {
            key.seal(&mut bytes);
        }
        bytes
    }

    /// Numbers `body` as this life's next multicast frame (and, with `message`, as its next
    /// message too, numbered in the body by the caller from `next_msg_seq`), encodes and seals it,
    /// and queues it. A frame too long for a datagram numbers nothing and is returned as such.
    pub(super) fn multicast(
        &mut self,
        id: NodeId,
        inc: Incarnation,
        hlc: Hlc,
        body: Body,
    ) -> Result<(), wire::TooLong> {
        let message = matches!(body, Body::Message(_));
        let frame = Frame { sender: id, incarnation: inc, seq: Seq(self.seq.0 + 1), hlc, body };
        let bytes = wire::encode(&frame)?;
        self.seq = frame.seq;
        if message {
            self.msg_seq = Seq(self.msg_seq.0 + 1);
        }
        self.sent.record(frame.seq, frame.hlc);
        let bytes = self.sealed(bytes);
        self.out.push_back(Output::Multicast(bytes));
        Ok(())
    }

    /// The number the next message of this life will have.
    pub(super) fn next_msg_seq(&self) -> Seq {
        Seq(self.msg_seq.0 + 1)
    }

    /// A ring-link frame, numbered on the link count (from `LINK_SEQ` up), encoded and sealed.
    pub(super) fn link_frame(&mut self, id: NodeId, inc: Incarnation, hlc: Hlc, body: Body) -> Option<Vec<u8>> {
        self.link_seq += 1;
        let seq = Seq(LINK_SEQ | self.link_seq);
        let frame = Frame { sender: id, incarnation: inc, seq, hlc, body };
        wire::encode_link(&frame).ok().map(|b| self.sealed(b))
    }

    /// Queues an output as it is.
    pub(super) fn push(&mut self, o: Output) {
        self.out.push_back(o);
    }

    /// The next output, oldest first. Messages queued together (a burst) go out as one bundle,
    /// as many as fit one Ethernet datagram; only reports may lie between them, so nothing else
    /// changes order. Other frames go alone: a leave or a down notice is sent twice so that one
    /// lost datagram does not lose it, and a bundle would lose both copies at once. The flag
    /// says the output is a bundle.
    pub(super) fn poll(&mut self) -> Option<(Output, bool)> {
        let out = self.out.pop_front()?;
        let Output::Multicast(first) = out else { return Some((out, false)) };
        if !wire::is_message(&first) {
            return Some((Output::Multicast(first), false));
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
            return Some((Output::Multicast(first), false));
        }
        let mut frames = Vec::with_capacity(picked.len() + 1);
        for &i in picked.iter().rev() {
            if let Some(Output::Multicast(b)) = self.out.remove(i) {
                frames.push(b);
            }
        }
        frames.push(first);
        frames.reverse();
        Some((Output::Multicast(wire::bundle(frames.iter().map(Vec::as_slice))), true))
    }
}

/// What a part speaks through while it handles an input: the node's identity and clock, the
/// outbox, the counters and the reports of what was refused.
pub(super) struct Tx<'a> {
    pub id: NodeId,
    pub inc: Incarnation,
    pub clock: &'a mut Clock,
    pub out: &'a mut Outbox,
    pub stats: &'a mut Stats,
    pub reports: &'a mut Reports,
}

impl Tx<'_> {
    /// The same, borrowed again for a moment (for a handle made from another).
    pub(super) fn again(&mut self) -> Tx<'_> {
        Tx {
            id: self.id,
            inc: self.inc,
            clock: &mut *self.clock,
            out: &mut *self.out,
            stats: &mut *self.stats,
            reports: &mut *self.reports,
        }
    }

    /// Multicasts `body` as this life's next frame, stamped now.
    pub(super) fn send(&mut self, body: Body) {
        let hlc = self.clock.stamp();
        match self.out.multicast(self.id, self.inc, hlc, body) {
            Ok(()) => self.stats.frames_sent += 1,
            Err(_) => self.count(DropReason::OwnFrameTooLong),
        }
    }

    /// Sends `body` on the ring link to `peer`.
    pub(super) fn link(&mut self, links: &mut Links, peer: NodeId, body: Body, now: Time) {
        let hlc = self.clock.stamp();
        let Some(bytes) = self.out.link_frame(self.id, self.inc, hlc, body) else {
            self.count(DropReason::OwnFrameTooLong);
            return;
        };
        links.sent(peer, now);
        self.stats.link_frames_sent += 1;
        self.out.push(Output::Link { peer, bytes });
    }

    /// Sends `body` on every ring link but the one it came from.
    pub(super) fn on_ring(&mut self, links: &mut Links, body: &Body, came_from: Option<NodeId>, now: Time) {
        let others: Vec<NodeId> = links.ids().filter(|p| Some(*p) != came_from).collect();
        for peer in others {
            self.link(links, peer, body.clone(), now);
        }
    }

    /// A received stamp moves our clock forward (held at the cap; counted when it is).
    pub(super) fn observe(&mut self, seen: Hlc) {
        if self.clock.observe(seen) {
            self.stats.clock_held += 1;
        }
    }

    /// Queues an event for the front end.
    pub(super) fn emit(&mut self, e: Event) {
        self.out.push(Output::Event(e));
    }

    /// Counts a drop.
    pub(super) fn count(&mut self, reason: DropReason) {
        *self.stats.dropped.entry(reason).or_default() += 1;
    }

    /// Counts a drop from `addr`, and reports it (at most once a second per address).
    pub(super) fn reject(&mut self, addr: SocketAddr, reason: DropReason, now: Time) {
        self.count(reason);
        if let Some(count) = self.reports.report(addr, reason, now) {
            self.emit(Event::Rejected { addr, reason, count });
        }
    }
}
