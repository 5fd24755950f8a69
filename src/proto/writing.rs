//! Writing to the log: what this node says, messages heard on the group, and what the ring
//! repairs, each put in its place; the events that follow; second versions of a message kept
//! beside the first and sent around the ring; and the answer to a neighbour's digest.
//!
//! `Writing` is a handle: the state is the `Log`'s. What only the node can do (ack what it now
//! holds, start a new life when a message shows someone uses its name) it hands back in `Wrote`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::log::{Inserted, Log};
use super::membership::Header;
use super::outbox::Tx;
use super::repair::Repair;
use super::ring::Links;
use super::wire::{self, Body, Digest, Entries, MessageBody};
use super::{CommandError, DropReason, Entry, Event, Incarnation, Name, NodeId, check_message};

/// Bytes of messages one repair reply carries at most (more follow on request).
const REPAIR_BUDGET: usize = 128 << 10;

/// What writing left for the node to do.
#[derive(Debug, Default)]
pub(super) struct Wrote {
    /// A message new to the log: peers' settled marks wait on where this node stands.
    pub new: bool,
    /// Messages in our name that we never wrote, in these lives: someone uses our name.
    pub renew: Vec<Incarnation>,
}

/// Where an entry comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// This node's user said it (or an old client's line it stamped: `Heard` for the screens).
    Own,
    /// Heard on the group, or one version of a message passed on.
    Heard,
    /// A repair: one of a batch, whose shared message is told once, after it.
    Repaired,
}

/// The log being written, for the length of one input.
pub(super) struct Writing<'a> {
    pub log: &'a mut Log,
    pub repair: &'a Repair,
    pub links: &'a mut Links,
    pub tx: Tx<'a>,
}

impl Writing<'_> {
    /// This node says `text` under `name` (or stamps an old client's at `bare_from`): stamped,
    /// sent, and in its own log before anyone else's (it reads its own writes).
    pub(super) fn say(
        &mut self,
        text: &str,
        name: Arc<str>,
        bare_from: Option<SocketAddr>,
        now: super::Time,
    ) -> Result<Wrote, CommandError> {
        let text: Arc<str> = text.trim_end_matches(['\n', '\r']).into();
        check_message(&name, &text)?;
        let seq = self.tx.out.next_msg_seq();
        let ts = self.tx.clock.stamp();
        // Written over the shared message this node holds, even if that one's stamp is ahead.
        let over = self.log.shared().and_then(|s| s.over_for(ts, self.tx.id));
        let (name2, text2) = (Arc::clone(&name), Arc::clone(&text));
        let body = Body::Message(MessageBody { msg_seq: seq, name: name2, text: text2, bare_from, over });
        // check_message sized a frame without a bare-text address; one adds a few bytes.
        self.tx.out.multicast(self.tx.id, self.tx.inc, ts, body).map_err(|e| CommandError::TooLong {
            len: text.len(),
            max: text.len().saturating_sub(e.len - wire::MAX_FRAME),
        })?;
        self.tx.stats.frames_sent += 1;
        // What this node's user said (an old client's line it stamps is not).
        if bare_from.is_none() {
            self.tx.stats.messages_sent += 1;
        }
        let entry = Entry { ts, node: self.tx.id, incarnation: self.tx.inc, seq, name, text, bare_from, over };
        let mut wrote = Wrote::default();
        let source = if bare_from.is_none() { Source::Own } else { Source::Heard };
        self.add(entry, source, SocketAddr::from(([0, 0, 0, 0], 0)), now, &mut wrote);
        Ok(wrote)
    }

    /// A message heard on the group from `from`, in the frame `f`.
    pub(super) fn heard(&mut self, f: Header, m: MessageBody, from: SocketAddr, now: super::Time) -> Wrote {
        let entry = Entry {
            ts: f.hlc,
            node: f.sender,
            incarnation: f.incarnation,
            seq: m.msg_seq,
            name: Name::clip_shared(m.name),
            text: m.text,
            bare_from: m.bare_from,
            over: m.over,
        }
        .true_over();
        let mut wrote = Wrote::default();
        // Counted once: a copy (a one-shot sender sends each twice) is a duplicate.
        if self.add(entry, Source::Heard, from, now, &mut wrote) {
            self.tx.stats.messages_received += 1;
        }
        wrote
    }

    /// Puts an entry in the log; true if it was new.
    fn add(&mut self, entry: Entry, source: Source, from: SocketAddr, now: super::Time, wrote: &mut Wrote) -> bool {
        match self.log.insert(entry.clone()) {
            Inserted::New { shared } => {
                wrote.new = true;
                let settled = entry.ts < self.repair.settled();
                self.tx.emit(Event::Message { entry: entry.clone(), own: source == Source::Own, settled });
                if shared && source != Source::Repaired {
                    self.tx.emit(Event::Shared { entry, settled });
                }
                true
            }
            Inserted::Duplicate => {
                self.tx.stats.duplicates += 1;
                false
            }
            Inserted::TooOld => {
                self.tx.reject(from, DropReason::TooOld, now);
                false
            }
            Inserted::Version { shared, held } => {
                self.another_version(&entry, &held, shared && source != Source::Repaired, now, wrote);
                false
            }
            Inserted::Ahead => {
                // Not lost: refused for now, and repaired once the hole below it is filled.
                self.tx.count(DropReason::Ahead);
                false
            }
            Inserted::TooManyVersions => {
                self.tx.reject(from, DropReason::Conflict, now);
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
    fn another_version(&mut self, entry: &Entry, held: &Entry, shared: bool, now: super::Time, wrote: &mut Wrote) {
        self.tx.stats.conflicts += 1;
        let settled = entry.ts < self.repair.settled();
        self.tx.emit(Event::Message { entry: entry.clone(), own: false, settled });
        if shared {
            self.tx.emit(Event::Shared { entry: entry.clone(), settled });
        }
        self.tx.emit(Event::Conflict { held: Box::new(held.clone()), other: Box::new(entry.clone()) });
        let both = Entries { entries: vec![held.clone(), entry.clone()], ..Entries::default() };
        self.tx.on_ring(self.links, &Body::Entries(both), None, now);
        if entry.node == self.tx.id && entry.incarnation >= self.tx.inc {
            wrote.renew.push(entry.incarnation);
        }
    }

    /// Messages the ring neighbour `from` sent this node, which it lacked (or had lost track of).
    pub(super) fn repaired(&mut self, from: NodeId, e: Entries, now: super::Time) -> Wrote {
        let addr = self.links.addr(from).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut wrote = Wrote::default();
        let mut fresh = Vec::new();
        let before = self.log.shared().map(Entry::rank);
        // In the log's order, not the origins' one after another: the screens show a late
        // joiner's backlog as the group said it.
        let mut entries = e.entries;
        entries.sort_by_key(Entry::key);
        for entry in entries {
            let mut entry = entry.true_over();
            if !wire::entry_fits(&entry) {
                // More than one message frame could have carried: never a real message.
                self.tx.reject(addr, DropReason::Oversized, now);
                continue;
            }
            entry.name = Name::clip_shared(entry.name);
            // What this node writes enters its log as it is said, so a message of this life
            // that is new here was never written by it: forged, most likely sent from this
            // host's own address (which this host's kernel does not deliver to it) and taken
            // by a peer. Its number would hide our next message.
            let forged = entry.node == self.tx.id && entry.incarnation >= self.tx.inc;
            let inc = entry.incarnation;
            if self.add(entry.clone(), Source::Repaired, addr, now, &mut wrote) {
                self.tx.stats.repaired += 1;
                fresh.push(entry);
                if forged {
                    wrote.renew.push(inc);
                }
            }
        }
        for (node, inc, first, last) in e.gaps {
            if self.log.mark_lost(node, inc, first, last) > 0 {
                self.tx.emit(Event::Gap { node, from: first, to: last });
            }
        }
        if let Some(s) = e.shared.map(Entry::true_over) {
            if !wire::entry_fits(&s) {
                self.tx.reject(addr, DropReason::Oversized, now);
            } else if !self.add(s.clone(), Source::Repaired, addr, now, &mut wrote) {
                // Normally in the log too; this covers a shared message evicted from a full log.
                self.log.offer_shared(&s);
            }
        }
        // A late joiner's batch moves the shared message many times over: told once.
        if let Some(s) = self.log.shared().filter(|s| Some(s.rank()) != before).cloned() {
            let settled = s.ts < self.repair.settled();
            self.tx.emit(Event::Shared { entry: s, settled });
        }
        let progress = !fresh.is_empty();
        if progress {
            // Pass repairs on around the ring, so one hop's repair reaches every node.
            let body = Body::Entries(Entries { entries: fresh, ..Entries::default() });
            self.tx.on_ring(self.links, &body, Some(from), now);
        }
        if e.more && progress {
            // Ask for the rest only while asking brings something new.
            let d = self.log.digest();
            self.tx.link(self.links, from, Body::Digest(d), now);
        }
        wrote
    }

    /// A ring neighbour says what it holds: it is sent what it lacks, if anything.
    pub(super) fn answer(&mut self, peer: NodeId, theirs: &Digest, now: super::Time) {
        let reply = self.log.missing_for(theirs, REPAIR_BUDGET);
        if !reply.entries.is_empty() || !reply.gaps.is_empty() || reply.shared.is_some() {
            self.tx.link(self.links, peer, Body::Entries(reply), now);
        }
    }
}
