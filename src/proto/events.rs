//! What goes in and out of the core: commands from the user, events for front ends, outputs
//! for the driver, and the reasons a peer went down.

use std::net::SocketAddr;

use thiserror::Error;

use super::reasons::{DownVia, DropReason};
use super::types::Name;
use super::types::{Entry, Hlc, Incarnation, NodeId, Over, Seq};
use super::wire::{self, Body, Frame, MessageBody};

/// Why a peer is down or gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DownReason {
    /// It said it was leaving.
    Left,
    /// Its heartbeats stopped for longer than the failure detector tolerates.
    Timeout,
    /// Replaced by a new life of the same name on the same host.
    Restarted,
    /// Its process is gone: a ring neighbour's probe dial was refused.
    Crashed,
    /// It stopped answering: its ring links and its heartbeats fell silent together (the
    /// process frozen or hung, or the host cut off from the LAN).
    Silent,
}

impl DownReason {
    /// The stable word, as in `peer_down` events.
    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::Left => "left",
            DownReason::Timeout => "timeout",
            DownReason::Restarted => "restarted",
            DownReason::Crashed => "crashed",
            DownReason::Silent => "silent",
        }
    }
}

/// What happened, for front ends to show.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A new peer was heard, or a down one came back.
    PeerUp {
        /// The peer.
        node: NodeId,
        /// Its name.
        name: String,
        /// The address its datagrams come from.
        addr: SocketAddr,
    },
    /// A peer has been silent long enough to be suspect.
    PeerSuspect {
        /// The peer.
        node: NodeId,
        /// Its name.
        name: String,
    },
    /// A suspect spoke again.
    PeerAlive {
        /// The peer.
        node: NodeId,
        /// Its name.
        name: String,
    },
    /// A peer is down or has left.
    PeerDown {
        /// The peer.
        node: NodeId,
        /// Its name.
        name: String,
        /// Why it is down.
        reason: DownReason,
        /// What told.
        via: DownVia,
    },
    /// Two versions of one message were sent (same node, life and number): one is forged.
    /// Every node keeps both; `other` has just arrived as a `Message` too.
    Conflict {
        /// The version held first.
        held: Box<Entry>,
        /// The other version.
        other: Box<Entry>,
    },
    /// Someone sends frames in this node's name (numbers it never sent, or a life it never
    /// had). This node started a new life, so that its own messages are not taken for copies of
    /// the forged ones.
    Impersonated {
        /// Where the forged frames come from, as the network says; `None` when a peer passed
        /// on a message in this node's name that it never wrote (the forger used this host's
        /// own address, whose datagrams this host's kernel does not deliver to it).
        addr: Option<SocketAddr>,
    },
    /// A down or left peer has been forgotten.
    PeerRemoved {
        /// The peer forgotten.
        node: NodeId,
    },
    /// A peer changed its name.
    PeerRenamed {
        /// The peer.
        node: NodeId,
        /// Its name before.
        old: String,
        /// Its name now.
        new: String,
    },
    /// A message entered this node's log, in its place in log order.
    Message {
        /// The message.
        entry: Entry,
        /// This node sent it (true for what its user typed, false for bare text it stamped).
        own: bool,
        /// Already settled: every live member holds it.
        settled: bool,
    },
    /// A message became the shared message.
    Shared {
        /// The new shared message.
        entry: Entry,
        /// Already settled: every live member holds it.
        settled: bool,
    },
    /// Every live member holds every message stamped before `upto`; `count` messages just
    /// became settled.
    Settled {
        /// Messages stamped before this are held by every live member.
        upto: Hlc,
        /// How many held messages just became settled.
        count: usize,
    },
    /// The ring neighbours changed.
    Ring {
        /// The neighbour before this node in the ring, if any.
        prev: Option<NodeId>,
        /// The neighbour after this node in the ring, if any.
        next: Option<NodeId>,
    },
    /// Messages of `node` numbered `from..=to` fell out of a neighbour's retention before this
    /// node got them: reported, never silently skipped.
    Gap {
        /// The origin whose messages were lost.
        node: NodeId,
        /// The first message number lost.
        from: Seq,
        /// The last message number lost.
        to: Seq,
    },
    /// How this node keeps group time changed: its wall clock stepped (and group time ran on
    /// without the jump), or its clock was found far from the group's and now follows it.
    /// `skew_ms` is this host's wall clock minus group time from now on.
    Clock {
        /// This host's wall clock minus group time from now on, in milliseconds.
        skew_ms: i64,
        /// What changed it.
        cause: ClockCause,
    },
    /// Something from `addr` was dropped. `count` is how many since the last report from that
    /// address (reports are limited to one per address per second).
    Rejected {
        /// Where it came from.
        addr: SocketAddr,
        /// Why it was dropped.
        reason: DropReason,
        /// Drops since the last report from this address.
        count: u64,
    },
}

/// Why the way this node keeps group time changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockCause {
    /// The wall clock jumped by this much against the monotonic clock.
    Step {
        /// How far the wall clock jumped.
        by_ms: i64,
    },
    /// Group time moved by this much to agree with the median of the peers' clocks.
    Group {
        /// How far group time moved.
        by_ms: i64,
    },
}

/// What the core wants done: something for the driver to send or dial, or an event for the front end.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send this datagram to the group.
    Multicast(Vec<u8>),
    /// Pass this event on to the front end.
    Event(Event),
    /// Open a ring link to `peer`; answer with `handle_link_up` or `handle_link_end`.
    Dial {
        /// The neighbour to link to.
        peer: NodeId,
        /// Its ring listener.
        addr: SocketAddr,
    },
    /// Send a frame on the link to `peer`.
    Link {
        /// The neighbour the link leads to.
        peer: NodeId,
        /// The encoded frame.
        bytes: Vec<u8>,
    },
    /// Close the link to `peer` once what was queued is sent; no `handle_link_end` follows.
    Close {
        /// The neighbour whose link to close.
        peer: NodeId,
    },
}

/// What the user asks the node to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a chat message with this text.
    Say(String),
    /// Take this name from now on, and tell the group.
    Rename(Name),
    /// Multicast a leave (twice) and stop heartbeating.
    Leave,
}

/// Why a command was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    /// The message is empty or only spaces.
    #[error("nothing to send")]
    Empty,
    /// The message does not fit one datagram.
    #[error("message is {len} bytes; at most {max} bytes fit one datagram")]
    TooLong {
        /// Bytes the message has.
        len: usize,
        /// Bytes of it that would fit.
        max: usize,
    },
    /// The node has left the group and sends nothing more.
    #[error("this node has left the group")]
    Left,
}

/// Whether `text` from a node called `name` fits one datagram, without sending it: front ends
/// check before they clear what the user typed.
pub fn check_message(name: &str, text: &str) -> Result<(), CommandError> {
    if text.trim().is_empty() {
        return Err(CommandError::Empty);
    }
    // The largest header, and the largest mark of a message written over another.
    let over = Some(Over { ts: Hlc(u64::MAX), node: NodeId(u64::MAX), depth: u32::MAX });
    let body = Body::Message(MessageBody {
        msg_seq: Seq(u64::MAX),
        name: name.into(),
        text: text.into(),
        bare_from: None,
        over,
    });
    let frame = Frame { sender: NodeId(u64::MAX), incarnation: Incarnation(0), seq: Seq(0), hlc: Hlc(0), body };
    match wire::encode(&frame) {
        Ok(_) => Ok(()),
        Err(e) => Err(CommandError::TooLong { len: text.len(), max: text.len() - (e.len - wire::MAX_FRAME) }),
    }
}
