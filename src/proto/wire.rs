//! Wire format v3 (see `docs/PROTOCOL.md`): a fixed header after a magic prefix, then a
//! postcard-encoded body chosen by the kind byte. Anything that does not start with the magic is
//! a bare-text datagram, as the original C client sends.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::reasons::DropReason;
use super::types::{Entry, Hlc, Incarnation, NodeId, Over, Rank, Seq};

/// First bytes of every groupcast frame. The first byte is not printable ASCII, so no text line
/// from an old client can be mistaken for a frame.
pub const MAGIC: [u8; 4] = [0xF0, b'G', b'C', b'S'];
/// The wire format's version, sent in every header.
pub const VERSION: u8 = 3;
/// Flag bit of frames sealed with a group key (see `seal.rs`). An open-group node drops sealed
/// frames and counts them.
pub const FLAG_SEALED: u8 = 0x01;
/// Flag of a bundle: several frames in one datagram (see `bundle`). A bundle carries no frame
/// header of its own; each frame in it is whole (and sealed, in a keyed group).
pub const FLAG_BUNDLE: u8 = 0x02;
/// Bytes before the first frame of a bundle: magic, version, flags.
pub const BUNDLE_HEADER_LEN: usize = 4 + 1 + 1;
/// A bundle stays under this, so it fits one Ethernet datagram (1472 bytes of UDP payload).
pub const MAX_BUNDLE: usize = 1400;
/// Frames one bundle carries at most.
pub const MAX_BUNDLED: usize = 64;
/// Bytes before the body: magic, version, flags, sender, incarnation, seq, hlc, kind.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 8 + 8 + 8 + 8 + 1;
/// Every frame stays under this, so it fits one Ethernet datagram with room for a seal.
pub const MAX_FRAME: usize = 1200;
/// A frame as it travels in a keyed group: with its seal's tag.
pub const MAX_SEALED_FRAME: usize = MAX_FRAME + super::seal::TAG_LEN;
/// Bytes of name and text one message frame can carry at most (the header aside, and more
/// than the body's own few bytes leave): a repaired entry with more was never one message.
pub const MAX_ENTRY_TEXT: usize = MAX_FRAME - HEADER_LEN;
/// Largest frame on a TCP ring link (repair batches are bigger than one datagram).
pub const MAX_LINK_FRAME: usize = 2 << 20;
/// Longest bare-text datagram accepted (the original client sends at most 100 bytes).
pub const MAX_BARE: usize = 1024;

/// Liveness data carried by announces and heartbeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beat {
    /// The sender's group time when it sent this (ms since the UNIX epoch): peers compare it
    /// with their own to see whose clock is off.
    pub time_ms: u64,
    /// The sender's wall clock minus its group time (ms): how far off its own clock is.
    pub skew_ms: i64,
    /// The sender's name.
    pub name: String,
    /// Highest message sequence number this node has sent in this life.
    pub msg_seq: Seq,
    /// The sender's heartbeat interval, so receivers can size their failure detector.
    pub interval_ms: u32,
    /// TCP port of the sender's ring listener; 0 if it takes no part in the ring.
    pub tcp_port: u16,
    /// The sender's applied frontier: it holds every message stamped before this that it can
    /// know of (see docs/PROTOCOL.md, settled marks).
    pub frontier: Hlc,
    /// Ring links the sender holds, with how long ago it last heard on each (ms): evidence that
    /// those peers are alive, for nodes whose own datagrams from them were lost.
    pub links: Vec<(NodeId, u32)>,
    /// The sender came back a moment ago from being stopped or starved (SIGSTOP, a suspended
    /// VM, no CPU): the silence its peers saw was its own, not its ring links failing while it
    /// spoke on.
    pub resumed: bool,
}

/// Runs of message numbers a digest describes above an origin's contiguous mark, at most.
pub const MAX_RUNS: usize = 64;

/// What a node holds of one origin (node, life): every message numbered up to `contig`, and
/// the runs `(first, last)` it holds above that (up to `MAX_RUNS`, lowest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The origin node.
    pub node: NodeId,
    /// The origin's life.
    pub incarnation: Incarnation,
    /// Every message numbered up to this is held.
    pub contig: Seq,
    /// Runs `(first, last)` held above `contig`.
    pub above: Vec<(Seq, Seq)>,
}

impl Held {
    /// Whether the holder has message `seq`.
    pub fn has(&self, seq: Seq) -> bool {
        seq <= self.contig || self.above.iter().any(|(a, b)| (*a..=*b).contains(&seq))
    }
}

/// What a node holds, sent to a ring neighbour: per origin, what it has (`Held`); and the key
/// of its shared message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// What is held of each origin.
    pub origins: Vec<Held>,
    /// The rank of the shared message, if any.
    pub shared: Option<Rank>,
}

/// Messages a neighbour lacks, and ranges that fell out of the sender's retention.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entries {
    /// Messages the neighbour lacks, in log order.
    pub entries: Vec<Entry>,
    /// (origin, life, first, last): messages the sender had but no longer keeps.
    pub gaps: Vec<(NodeId, Incarnation, Seq, Seq)>,
    /// The sender's shared message, if it is newer than the receiver's.
    pub shared: Option<Entry>,
    /// More is waiting: send a fresh digest for the rest.
    pub more: bool,
}

/// Where the sender stands, sent soon after it holds a new message and while messages are not
/// yet settled: the settled marks move without waiting for heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Highest message sequence number the sender has sent in this life.
    pub msg_seq: Seq,
    /// The sender's applied frontier (as in a heartbeat).
    pub frontier: Hlc,
    /// The sender's settled mark: a peer ahead of it answers with an ack of its own.
    pub settled: Hlc,
}

/// A chat message; it also becomes the shared message if it is the newest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// Its number among the sender's messages in this life, from 1.
    pub msg_seq: Seq,
    /// The author's name.
    #[serde(deserialize_with = "super::types::shared_str")]
    pub name: Arc<str>,
    /// What was said.
    #[serde(deserialize_with = "super::types::shared_str")]
    pub text: Arc<str>,
    /// Set when this frame stamps a bare-text datagram heard from an old client at this address.
    pub bare_from: Option<SocketAddr>,
    /// The shared message it was written over, if that one is stamped after it.
    pub over: Option<Over>,
}

/// Why a ring neighbour found a node down (the reason a kind 12 notice carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gone {
    /// Its process is gone: a dial to its ring port was refused.
    Crashed,
    /// It stopped answering: its ring links went silent and so did its heartbeats (frozen,
    /// hung, or cut off from the LAN).
    Silent,
}

/// What a frame carries, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Sent in a burst at start: "I am new, tell me who you are."
    Announce(Beat),
    /// Sent every heartbeat interval: "I am alive, and this is where I stand."
    Heartbeat(Beat),
    /// Sent (twice) when a node quits, so peers drop it at once.
    Leave,
    /// A chat message, stamped with the frame's HLC.
    Message(MessageBody),
    /// Link keepalive.
    Ping,
    /// What the sender holds, for a ring neighbour to compare with its own.
    Digest(Digest),
    /// What the receiver lacks, in answer to its digest.
    Entries(Entries),
    /// First frame each side sends on a new ring link: it names the sender (header).
    Hello,
    /// Sent before a deliberate close, so the other side does not take it for a crash.
    Bye,
    /// Sent by a ring neighbour that has found a node down (a re-dial refused, or its links
    /// and its heartbeats silent), on the group and around the ring, so every node drops it at
    /// once and says why. Kind 12 carries the reason; kind 10, without one, is what nodes sent
    /// before reasons (still taken), and tells a neighbour that a life in its name was forged.
    Down {
        /// The node found down.
        node: NodeId,
        /// The life of it that is down.
        incarnation: Incarnation,
        /// Why, as the neighbour found it (kind 12); `None` in a kind 10 notice.
        why: Option<Gone>,
    },
    /// Sent by a ring neighbour whose link to a node went silent while the node's heartbeats
    /// were not yet overdue (in a large group they come seconds apart): it asks the node's
    /// other neighbour, whose own link is the second witness, to say whether it hears the node.
    Silent {
        /// The node whose link went silent.
        node: NodeId,
        /// Its life.
        incarnation: Incarnation,
    },
    /// Where the sender stands on the messages (`Ack`), on the group and on ring links.
    Ack(Ack),
}

impl Body {
    fn kind(&self) -> u8 {
        match self {
            Body::Announce(_) => 1,
            Body::Heartbeat(_) => 2,
            Body::Leave => 3,
            Body::Message(_) => KIND_MESSAGE,
            Body::Ping => 5,
            Body::Digest(_) => 6,
            Body::Entries(_) => 7,
            Body::Hello => 8,
            Body::Bye => 9,
            Body::Down { why: None, .. } => 10,
            Body::Ack(_) => 11,
            Body::Down { why: Some(_), .. } => 12,
            Body::Silent { .. } => 13,
        }
    }

    /// Kinds that travel only on ring links, never multicast.
    pub fn link_only(&self) -> bool {
        matches!(self, Body::Ping | Body::Digest(_) | Body::Entries(_) | Body::Hello | Body::Bye)
    }
}

/// A decoded groupcast frame: header and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The node that sent it.
    pub sender: NodeId,
    /// The sender's life.
    pub incarnation: Incarnation,
    /// Counts every frame the sender sends in this life: gaps measure loss.
    pub seq: Seq,
    /// The sender's HLC when it sent the frame; a message's stamp.
    pub hlc: Hlc,
    /// What it carries.
    pub body: Body,
}

/// What a received datagram turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datagram {
    /// A groupcast frame.
    Frame(Frame),
    /// Text from an old client: cut at the first NUL, trailing newline removed.
    Bare(String),
}

/// Why a received datagram was dropped.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than a frame header.
    #[error("frame shorter than its header")]
    Truncated,
    /// A wire version this node does not speak.
    #[error("unsupported version {0}")]
    Version(u8),
    /// Sealed, but this group has no key.
    #[error("sealed frame, but this group has no key")]
    Sealed,
    /// Flag bits this node does not know.
    #[error("unknown flags {0:#04x}")]
    Flags(u8),
    /// A frame kind this node does not know.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// The body does not decode as its kind says.
    #[error("malformed body")]
    Body,
    /// A bare-text datagram with no text.
    #[error("empty bare-text datagram")]
    EmptyBare,
    /// A bare-text datagram longer than `MAX_BARE` bytes.
    #[error("bare-text datagram longer than {MAX_BARE} bytes")]
    LongBare,
}

impl DecodeError {
    /// What the drop is counted as.
    pub fn reason(&self) -> DropReason {
        match self {
            DecodeError::Truncated => DropReason::Truncated,
            DecodeError::Version(_) => DropReason::Version,
            DecodeError::Sealed => DropReason::Sealed,
            DecodeError::Flags(_) => DropReason::Flags,
            DecodeError::Kind(_) => DropReason::UnknownKind,
            DecodeError::Body => DropReason::Malformed,
            DecodeError::EmptyBare => DropReason::Empty,
            DecodeError::LongBare => DropReason::TooLong,
        }
    }
}

/// A frame too large to encode.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("frame would be {len} bytes; at most {MAX_FRAME} fit one datagram")]
pub struct TooLong {
    /// How many bytes it would have taken.
    pub len: usize,
}

/// A frame for multicast: at most `MAX_FRAME` bytes.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, TooLong> {
    encode_within(frame, MAX_FRAME)
}

/// A frame for a ring link: at most `MAX_LINK_FRAME` bytes.
pub fn encode_link(frame: &Frame) -> Result<Vec<u8>, TooLong> {
    encode_within(frame, MAX_LINK_FRAME)
}

fn encode_within(frame: &Frame, limit: usize) -> Result<Vec<u8>, TooLong> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(0); // flags: open group
    out.extend_from_slice(&frame.sender.0.to_le_bytes());
    out.extend_from_slice(&frame.incarnation.0.to_le_bytes());
    out.extend_from_slice(&frame.seq.0.to_le_bytes());
    out.extend_from_slice(&frame.hlc.0.to_le_bytes());
    out.push(frame.body.kind());
    // Serializing these plain structs into a Vec cannot fail.
    let body = match &frame.body {
        Body::Announce(b) | Body::Heartbeat(b) => postcard::to_extend(b, out),
        Body::Leave | Body::Ping | Body::Hello | Body::Bye => Ok(out),
        Body::Message(m) => postcard::to_extend(m, out),
        Body::Digest(d) => postcard::to_extend(d, out),
        Body::Entries(e) => postcard::to_extend(e, out),
        Body::Down { node, incarnation, why: None } | Body::Silent { node, incarnation } => {
            postcard::to_extend(&(node, incarnation), out)
        }
        Body::Down { node, incarnation, why: Some(why) } => postcard::to_extend(&(node, incarnation, why), out),
        Body::Ack(a) => postcard::to_extend(a, out),
    };
    let out = body.expect("postcard encoding into a Vec");
    if out.len() > limit {
        return Err(TooLong { len: out.len() });
    }
    Ok(out)
}

/// Whether a datagram is longer than anything a node sends: a bundle over `MAX_BUNDLE`, a
/// frame over `MAX_SEALED_FRAME`. (Bare text has its own limit, `MAX_BARE`.) Refused whole,
/// before it is opened or decoded.
pub fn oversized(bytes: &[u8]) -> bool {
    if is_bundle(bytes) {
        bytes.len() > MAX_BUNDLE
    } else {
        bytes.starts_with(&MAGIC) && bytes.len() > MAX_SEALED_FRAME
    }
}

/// The frames a datagram carries (one, or those of a bundle), or why it is refused whole: it
/// is longer than anything a node sends (refused before it is opened), or a broken bundle.
pub fn frames(bytes: &[u8]) -> Result<Vec<&[u8]>, DropReason> {
    if oversized(bytes) {
        return Err(DropReason::Oversized);
    }
    if is_bundle(bytes) { unbundle(bytes).map_err(|e| e.reason()) } else { Ok(vec![bytes]) }
}

/// Whether a message received whole (by repair) is one that a single message frame could
/// have carried: its name and text together fit `MAX_ENTRY_TEXT`.
pub fn entry_fits(e: &Entry) -> bool {
    e.name.len().saturating_add(e.text.len()) <= MAX_ENTRY_TEXT
}

/// Whether a datagram is a bundle of frames.
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.len() >= BUNDLE_HEADER_LEN && bytes.starts_with(&MAGIC) && bytes[4] == VERSION && bytes[5] == FLAG_BUNDLE
}

/// The kind byte of a chat message.
const KIND_MESSAGE: u8 = 4;

/// Whether an encoded frame (open or sealed: the header is clear) is a chat message.
pub fn is_message(frame: &[u8]) -> bool {
    frame.len() >= HEADER_LEN && frame.starts_with(&MAGIC) && frame[HEADER_LEN - 1] == KIND_MESSAGE
}

/// Several encoded frames (each at most `MAX_FRAME` bytes) in one datagram: the bundle header,
/// then each frame after its length (two bytes, little-endian). The caller keeps the total
/// under `MAX_BUNDLE` (`bundled_len`).
pub fn bundle<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_BUNDLE);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(FLAG_BUNDLE);
    for f in frames {
        out.extend_from_slice(&(f.len() as u16).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The size of a bundle of frames of these sizes.
pub fn bundled_len(frame_lens: impl IntoIterator<Item = usize>) -> usize {
    BUNDLE_HEADER_LEN + frame_lens.into_iter().map(|n| n + 2).sum::<usize>()
}

/// The frames of a bundle, in order; an error if its lengths do not add up, it is empty, it
/// carries more than `MAX_BUNDLED` frames, or a frame in it is not a chat message frame.
pub fn unbundle(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    let mut rest = bytes.get(BUNDLE_HEADER_LEN..).ok_or(DecodeError::Truncated)?;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let [a, b, tail @ ..] = rest else { return Err(DecodeError::Body) };
        let len = usize::from(u16::from_le_bytes([*a, *b]));
        // Only chat messages are bundled: anything else in a bundle (bare text, an announce
        // that would make every member answer) makes the whole bundle malformed.
        if len == 0
            || len > tail.len()
            || len > MAX_SEALED_FRAME
            || frames.len() == MAX_BUNDLED
            || !is_message(&tail[..len])
        {
            return Err(DecodeError::Body);
        }
        frames.push(&tail[..len]);
        rest = &tail[len..];
    }
    if frames.is_empty() {
        return Err(DecodeError::Body);
    }
    Ok(frames)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn body<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        _ => Err(DecodeError::Body),
    }
}

/// Decode any bytes from the network. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Datagram, DecodeError> {
    if !bytes.is_empty() && MAGIC.starts_with(bytes) {
        // The first bytes of a frame and nothing more: a frame cut short, not an old client's
        // text (which the magic's first byte, not valid UTF-8 alone, never starts).
        return Err(DecodeError::Truncated);
    }
    if !bytes.starts_with(&MAGIC) {
        return decode_bare(bytes).map(Datagram::Bare);
    }
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    if bytes[4] != VERSION {
        return Err(DecodeError::Version(bytes[4]));
    }
    match bytes[5] {
        0 => {}
        FLAG_SEALED => return Err(DecodeError::Sealed),
        f => return Err(DecodeError::Flags(f)),
    }
    let sender = NodeId(u64_at(bytes, 6));
    let incarnation = Incarnation(u64_at(bytes, 14));
    let seq = Seq(u64_at(bytes, 22));
    let hlc = Hlc(u64_at(bytes, 30));
    let rest = &bytes[HEADER_LEN..];
    let body = match bytes[HEADER_LEN - 1] {
        1 => Body::Announce(body(rest)?),
        2 => Body::Heartbeat(body(rest)?),
        3 | 5 | 8 | 9 if !rest.is_empty() => return Err(DecodeError::Body),
        3 => Body::Leave,
        4 => Body::Message(body(rest)?),
        5 => Body::Ping,
        6 => Body::Digest(body(rest)?),
        7 => Body::Entries(body(rest)?),
        8 => Body::Hello,
        9 => Body::Bye,
        10 => {
            let (node, incarnation) = body(rest)?;
            Body::Down { node, incarnation, why: None }
        }
        11 => Body::Ack(body(rest)?),
        12 => {
            let (node, incarnation, why) = body(rest)?;
            Body::Down { node, incarnation, why: Some(why) }
        }
        13 => {
            let (node, incarnation) = body(rest)?;
            Body::Silent { node, incarnation }
        }
        k => return Err(DecodeError::Kind(k)),
    };
    if sender.0 == 0 {
        return Err(DecodeError::Body);
    }
    Ok(Datagram::Frame(Frame { sender, incarnation, seq, hlc, body }))
}

/// The original C client sends its `fgets` buffer: text, often a trailing newline, sometimes a
/// NUL and garbage after it.
fn decode_bare(bytes: &[u8]) -> Result<String, DecodeError> {
    let text = match bytes.iter().position(|&b| b == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    };
    // The limit counts the text, not the line end the client appends.
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.len() > MAX_BARE {
        return Err(DecodeError::LongBare);
    }
    let text = String::from_utf8_lossy(text);
    // Normalised here, once, before anyone holds, matches or stamps it: every node that hears
    // the same datagram must see the same text (an arrow key's ESC, a CR, a BEL are dropped).
    let text: String = text.trim_end_matches(['\n', '\r']).chars().filter(|c| !c.is_control() || *c == '\t').collect();
    if text.trim().is_empty() {
        return Err(DecodeError::EmptyBare);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_gives_back_its_frames_and_a_broken_one_is_refused() {
        let say = |text: &str| {
            let m = MessageBody { msg_seq: Seq(1), name: "a".into(), text: text.into(), bare_from: None, over: None };
            encode(&frame(Body::Message(m))).unwrap()
        };
        let (a, b) = (say("one"), say("two"));
        let bundled = bundle([&a[..], &b[..]]);
        assert!(is_bundle(&bundled));
        assert_eq!(bundled.len(), bundled_len([a.len(), b.len()]));
        assert_eq!(unbundle(&bundled).unwrap(), vec![&a[..], &b[..]]);
        // A frame alone is no bundle, and decoding a bundle as a frame fails cleanly.
        assert!(!is_bundle(&a));
        assert_eq!(decode(&bundled), Err(DecodeError::Flags(FLAG_BUNDLE)));
        // Lengths that run past the end, a zero length, an empty bundle, a bundle in a bundle.
        assert!(unbundle(&bundled[..bundled.len() - 1]).is_err());
        assert!(unbundle(&bundle([&[][..]])).is_err());
        assert!(unbundle(&bundle([])).is_err());
        assert!(unbundle(&bundle([&bundled[..]])).is_err());
        // Anything but a chat message: a leave, an announce, bare text.
        let leave = encode(&frame(Body::Leave)).unwrap();
        assert!(unbundle(&bundle([&a[..], &leave[..]])).is_err());
        assert!(unbundle(&bundle([&b"hello"[..]])).is_err());
        let too_many: Vec<&[u8]> = (0..=MAX_BUNDLED).map(|_| &a[..]).collect();
        assert!(unbundle(&bundle(too_many)).is_err());
    }

    fn frame(body: Body) -> Frame {
        Frame {
            sender: NodeId(0x1234_5678_9abc_def0),
            incarnation: Incarnation(1_700_000_000_000),
            seq: Seq(42),
            hlc: Hlc(0x6543_2100_0000_0010),
            body,
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let beat = Beat {
            time_ms: 1_780_000_000_000,
            skew_ms: -3_600_000,
            name: "alice".into(),
            msg_seq: Seq(7),
            interval_ms: 500,
            tcp_port: 40123,
            frontier: Hlc(99),
            links: vec![(NodeId(5), 120)],
            resumed: false,
        };
        let entry = Entry {
            ts: Hlc(5),
            node: NodeId(6),
            incarnation: Incarnation(7),
            seq: Seq(8),
            name: "n".into(),
            text: "t".into(),
            bare_from: None,
            over: None,
        };
        let bodies = [
            Body::Announce(beat.clone()),
            Body::Heartbeat(beat),
            Body::Leave,
            Body::Message(MessageBody {
                msg_seq: Seq(3),
                name: "bob".into(),
                text: "héllo 世界".into(),
                bare_from: Some("10.0.0.9:41000".parse().unwrap()),
                over: Some(Over { ts: Hlc(9), node: NodeId(2), depth: 3 }),
            }),
            Body::Ping,
            Body::Digest(Digest {
                origins: vec![Held {
                    node: NodeId(1),
                    incarnation: Incarnation(2),
                    contig: Seq(3),
                    above: vec![(Seq(5), Seq(7))],
                }],
                shared: Some((Hlc(8), NodeId(1), 1, (Hlc(4), NodeId(2), Seq(5)))),
            }),
            Body::Entries(Entries {
                entries: vec![entry.clone()],
                gaps: vec![(NodeId(1), Incarnation(2), Seq(3), Seq(9))],
                shared: Some(entry),
                more: true,
            }),
            Body::Hello,
            Body::Bye,
            Body::Down { node: NodeId(3), incarnation: Incarnation(4), why: None },
            Body::Down { node: NodeId(3), incarnation: Incarnation(4), why: Some(Gone::Crashed) },
            Body::Down { node: NodeId(3), incarnation: Incarnation(4), why: Some(Gone::Silent) },
            Body::Silent { node: NodeId(3), incarnation: Incarnation(4) },
            Body::Ack(Ack { msg_seq: Seq(7), frontier: Hlc(90), settled: Hlc(80) }),
        ];
        for b in bodies {
            let f = frame(b);
            let bytes = encode_link(&f).unwrap();
            assert!(bytes.starts_with(&MAGIC));
            assert_eq!(bytes[4], VERSION);
            assert_eq!(decode(&bytes), Ok(Datagram::Frame(f)));
        }
    }

    #[test]
    fn bare_text_as_the_c_client_sends_it() {
        assert_eq!(decode(b"hello\n"), Ok(Datagram::Bare("hello".into())));
        assert_eq!(decode(b"hi there\0garbage"), Ok(Datagram::Bare("hi there".into())));
        assert_eq!(decode(b"crlf\r\n"), Ok(Datagram::Bare("crlf".into())));
        assert_eq!(decode(b"\n"), Err(DecodeError::EmptyBare));
        assert_eq!(decode(b"up\x1b[Aarrow\x07\n"), Ok(Datagram::Bare("up[Aarrow".into())), "control characters go");
        assert_eq!(decode(&[b'x'; MAX_BARE + 1]), Err(DecodeError::LongBare));
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let good = encode(&frame(Body::Leave)).unwrap();
        assert_eq!(decode(&good[..10]), Err(DecodeError::Truncated));
        for cut in 1..=MAGIC.len() {
            assert_eq!(decode(&good[..cut]), Err(DecodeError::Truncated), "cut to {cut} bytes: not shown as text");
        }
        let mut other = good.clone();
        other[4] = VERSION + 1;
        assert_eq!(decode(&other), Err(DecodeError::Version(VERSION + 1)));
        let mut sealed = good.clone();
        sealed[5] = FLAG_SEALED;
        assert_eq!(decode(&sealed), Err(DecodeError::Sealed));
        let mut kind = good.clone();
        kind[HEADER_LEN - 1] = 200;
        assert_eq!(decode(&kind), Err(DecodeError::Kind(200)));
        let mut trailing = good;
        trailing.push(1);
        assert_eq!(decode(&trailing), Err(DecodeError::Body));
    }

    #[test]
    fn oversized_frames_are_refused() {
        let f = frame(Body::Message(MessageBody {
            msg_seq: Seq(1),
            name: "n".into(),
            text: "x".repeat(MAX_FRAME).into(),
            bare_from: None,
            over: None,
        }));
        assert!(encode(&f).unwrap_err().len > MAX_FRAME);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1500)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_bodies_after_a_valid_header_never_panic(
            kind in 0u8..15,
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
        ) {
            let mut bytes = encode(&frame(Body::Leave)).unwrap();
            bytes[HEADER_LEN - 1] = kind;
            bytes.extend_from_slice(&tail);
            let _ = decode(&bytes);
        }

        #[test]
        fn messages_round_trip(text in ".{0,200}", name in "[a-z]{1,20}", seq in 0u64..u64::MAX) {
            let f = frame(Body::Message(MessageBody { msg_seq: Seq(seq), name: name.into(), text: text.into(), bare_from: None, over: None }));
            let bytes = encode(&f).unwrap();
            proptest::prop_assert_eq!(decode(&bytes), Ok(Datagram::Frame(f)));
        }
    }
}
