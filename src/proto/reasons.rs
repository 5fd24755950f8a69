//! Why things happen, as types: why something received was dropped, and what told a node that
//! a peer is down. Each has one stable word for counters, JSON and logs.

use serde::Serialize;

/// Why something received (or about to be sent) was dropped. Every drop is counted under one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Shorter than a frame header.
    Truncated,
    /// Another wire version.
    Version,
    /// Sealed with a group key this node does not have.
    Sealed,
    /// Unknown flag bits.
    Flags,
    /// Unknown frame kind.
    UnknownKind,
    /// The body does not decode.
    Malformed,
    /// Bare text with nothing in it.
    Empty,
    /// A bare-text datagram over the size an old client can send.
    TooLong,
    /// Bare text that fits a datagram but not, with its stamp, one message frame.
    TooLongToStamp,
    /// A ring-link kind that arrived by multicast.
    LinkFrameOnMulticast,
    /// Bare text beyond its sender's rate.
    RateLimited,
    /// Bare text while the queue of copies awaiting the stamper's was full.
    BareQueueFull,
    /// Older than everything a full log keeps.
    TooOld,
    /// A ring-link frame that does not decode or names another sender (the link is closed).
    LinkBadFrame,
    /// A kind that has no business on a ring link.
    LinkUnexpectedKind,
    /// A frame of our own that would not fit (never sent).
    OwnFrameTooLong,
    /// A new peer while the peer table was full of live ones.
    PeerTableFull,
    /// Sealed, but not with this group's key and label, or changed on the way.
    BadKey,
    /// An open frame in a keyed group.
    Unsealed,
    /// Bare text in a keyed group (old clients cannot seal).
    BareIgnored,
    /// A frame taken before, sent again (keyed groups).
    Replay,
    /// A frame of an older life of its sender than one already heard (keyed groups).
    Stale,
    /// A ring link from a node that is not one of this node's neighbours (closed at once).
    LinkNotNeighbour,
    /// A ring connection refused before hello: too many were waiting to say it.
    LinkBusy,
    /// Accepting a ring connection failed (out of file descriptors, most likely).
    AcceptFailed,
    /// A frame in a known member's name from another address than the member's (open groups).
    WrongAddress,
    /// A leave numbered below frames already heard from that life, or one the peer disproved
    /// by speaking on (open groups).
    ForgedLeave,
    /// A down notice about a peer this node hears on its own link, or from a non-member.
    DownDisputed,
    /// A ring neighbour's link frames are of an older life than the one heard on the group in
    /// its name: that life was forged (open groups; the neighbour is told).
    ForgedLife,
    /// A fifth version of one message (same node, life and number; open groups): four are
    /// kept, as forgeries and the real one side by side, and no more.
    Conflict,
    /// A message numbered past the run of messages this node tracks above a hole of its
    /// sender's (a long burst at a lossy receiver): not taken now, so nothing is given up
    /// as lost; the ring brings it once the hole is filled.
    Ahead,
    /// A datagram longer than any frame or bundle a node sends (1,200 bytes a frame and its
    /// seal, 1,400 a bundle), or a repaired entry longer than one message frame can carry.
    Oversized,
    /// A connection to the ring port that never said hello: it timed out, closed, or sent
    /// something else first (a frame too large, or not a hello).
    LinkNoHello,
}

impl DropReason {
    /// The stable word, as in `/state` and `rejected` events.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Version => "version",
            DropReason::Sealed => "sealed",
            DropReason::Flags => "flags",
            DropReason::UnknownKind => "unknown_kind",
            DropReason::Malformed => "malformed",
            DropReason::Empty => "empty",
            DropReason::TooLong => "too_long",
            DropReason::TooLongToStamp => "too_long_to_stamp",
            DropReason::LinkFrameOnMulticast => "link_frame_on_multicast",
            DropReason::RateLimited => "rate_limited",
            DropReason::BareQueueFull => "bare_queue_full",
            DropReason::TooOld => "too_old",
            DropReason::LinkBadFrame => "link_bad_frame",
            DropReason::LinkUnexpectedKind => "link_unexpected_kind",
            DropReason::OwnFrameTooLong => "own_frame_too_long",
            DropReason::PeerTableFull => "peer_table_full",
            DropReason::BadKey => "bad_key",
            DropReason::Unsealed => "unsealed",
            DropReason::BareIgnored => "bare_ignored",
            DropReason::Replay => "replay",
            DropReason::Stale => "stale",
            DropReason::LinkNotNeighbour => "link_not_neighbour",
            DropReason::LinkBusy => "link_busy",
            DropReason::AcceptFailed => "accept_failed",
            DropReason::WrongAddress => "wrong_address",
            DropReason::ForgedLeave => "forged_leave",
            DropReason::DownDisputed => "down_disputed",
            DropReason::ForgedLife => "forged_life",
            DropReason::Conflict => "conflict",
            DropReason::Ahead => "ahead",
            DropReason::Oversized => "oversized",
            DropReason::LinkNoHello => "link_no_hello",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What told a node that a peer is down or gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DownVia {
    /// Its heartbeats stopped (the failure detector).
    Heartbeat,
    /// Its ring link broke and a re-dial was refused.
    Link,
    /// A ring neighbour of it confirmed it gone.
    Notice,
    /// It said so.
    Leave,
    /// A new life of it appeared.
    Restart,
}

impl DownVia {
    /// The stable word, as in `peer_down` events.
    pub fn as_str(self) -> &'static str {
        match self {
            DownVia::Heartbeat => "heartbeat",
            DownVia::Link => "link",
            DownVia::Notice => "notice",
            DownVia::Leave => "leave",
            DownVia::Restart => "restart",
        }
    }
}

impl std::fmt::Display for DownVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_word_is_the_display_word() {
        for r in [DropReason::UnknownKind, DropReason::TooLongToStamp, DropReason::LinkBadFrame] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(serde_json::to_value(DownVia::Heartbeat).unwrap(), "heartbeat");
    }
}
