//! What goes in and out of the core: commands from the user, events for front ends, outputs
//! for the driver, and the reasons a peer went down.

use std::net::SocketAddr;

use thiserror::Error;

use super::reasons::{DownVia, DropReason};
use super::types::Name;
use super::types::{Entry, Hlc, Incarnation, NodeId, Seq};
use super::wire::{self, Body, Frame, MessageBody};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    Left,
    Timeout,
    /// Replaced by a new life of the same name on the same host.
    Restarted,
    /// Its process is gone: a ring neighbour's probe dial was refused.
    Crashed,
}

impl DownReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::Left => "left",
            DownReason::Timeout => "timeout",
            DownReason::Restarted => "restarted",
            DownReason::Crashed => "crashed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    PeerUp {
        node: NodeId,
        name: String,
        addr: SocketAddr,
    },
    PeerSuspect {
        node: NodeId,
        name: String,
    },
    /// A suspect spoke again.
    PeerAlive {
        node: NodeId,
        name: String,
    },
    PeerDown {
        node: NodeId,
        name: String,
        reason: DownReason,
        /// What told.
        via: DownVia,
    },
    /// A down or left peer has been forgotten.
    PeerRemoved {
        node: NodeId,
    },
    PeerRenamed {
        node: NodeId,
        old: String,
        new: String,
    },
    Message {
        entry: Entry,
        own: bool,
        settled: bool,
    },
    Shared {
        entry: Entry,
        settled: bool,
    },
    /// Every live member holds every message stamped before `upto`; `count` messages just
    /// became settled.
    Settled {
        upto: Hlc,
        count: usize,
    },
    /// The ring neighbours changed.
    Ring {
        prev: Option<NodeId>,
        next: Option<NodeId>,
    },
    /// Messages of `node` numbered `from..=to` fell out of a neighbour's retention before this
    /// node got them: reported, never silently skipped.
    Gap {
        node: NodeId,
        from: Seq,
        to: Seq,
    },
    /// How this node keeps group time changed: its wall clock stepped (and group time ran on
    /// without the jump), or its clock was found far from the group's and now follows it.
    /// `skew_ms` is this host's wall clock minus group time from now on.
    Clock {
        skew_ms: i64,
        cause: ClockCause,
    },
    /// Something from `addr` was dropped. `count` is how many since the last report from that
    /// address (reports are limited to one per address per second).
    Rejected {
        addr: SocketAddr,
        reason: DropReason,
        count: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockCause {
    /// The wall clock jumped by this much against the monotonic clock.
    Step { by_ms: i64 },
    /// Group time moved by this much to agree with the median of the peers' clocks.
    Group { by_ms: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Multicast(Vec<u8>),
    Event(Event),
    /// Open a ring link to `peer`; answer with `handle_link_up` or `handle_link_end`.
    Dial {
        peer: NodeId,
        addr: SocketAddr,
    },
    /// Send a frame on the link to `peer`.
    Link {
        peer: NodeId,
        bytes: Vec<u8>,
    },
    /// Close the link to `peer` once what was queued is sent; no `handle_link_end` follows.
    Close {
        peer: NodeId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Say(String),
    Rename(Name),
    /// Multicast a leave (twice) and stop heartbeating.
    Leave,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("nothing to send")]
    Empty,
    #[error("message is {len} bytes; at most {max} bytes fit one datagram")]
    TooLong { len: usize, max: usize },
    #[error("this node has left the group")]
    Left,
}

/// Whether `text` from a node called `name` fits one datagram, without sending it: front ends
/// check before they clear what the user typed.
pub fn check_message(name: &str, text: &str) -> Result<(), CommandError> {
    if text.trim().is_empty() {
        return Err(CommandError::Empty);
    }
    let body =
        Body::Message(MessageBody { msg_seq: Seq(u64::MAX), name: name.into(), text: text.into(), bare_from: None });
    let frame = Frame { sender: NodeId(u64::MAX), incarnation: Incarnation(0), seq: Seq(0), hlc: Hlc(0), body };
    match wire::encode(&frame) {
        Ok(_) => Ok(()),
        Err(e) => Err(CommandError::TooLong { len: text.len(), max: text.len() - (e.len - wire::MAX_FRAME) }),
    }
}
