//! The small value types the protocol speaks in: who (`NodeId`, `Incarnation`), in what order
//! (`Seq`, `Hlc`), and when on the local machine (`Time`).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A node's identity for one run: random at start, never zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

impl NodeId {
    /// Six hex digits, enough to tell peers apart on a screen.
    pub fn short(self) -> String {
        format!("{:016x}", self.0)[..6].to_string()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// A life of a node: the wall-clock millisecond it started. A restarted node has a larger one,
/// so peers can tell its new life from stale frames of the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Incarnation(pub u64);

/// A per-sender counter. Frame sequence numbers count every datagram a node sends (for loss);
/// message sequence numbers count only its messages (for de-duplication and gaps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seq(pub u64);

/// A hybrid-logical-clock time: NTP64 (32 bits of seconds since the UNIX epoch, 32 bits of
/// fraction), the low 4 bits of which are the HLC's logical counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc(pub u64);

impl Hlc {
    /// Bits of the logical counter, below the physical part.
    pub const LOGICAL_BITS: u32 = 4;

    /// The HLC time of a physical reading (time since the UNIX epoch), counter zero.
    pub fn from_unix(d: Duration) -> Hlc {
        let secs = d.as_secs().min(u64::from(u32::MAX));
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        Hlc(((secs << 32) | frac) & !((1 << Self::LOGICAL_BITS) - 1))
    }

    /// The physical part, as time since the UNIX epoch.
    pub fn to_unix(self) -> Duration {
        let secs = self.0 >> 32;
        let nanos = ((self.0 & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
        Duration::new(secs, nanos as u32)
    }

    /// The physical part as a UTC date and time (the epoch for a value out of range).
    pub fn to_utc(self) -> chrono::DateTime<chrono::Utc> {
        let d = self.to_unix();
        chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default()
    }

    /// RFC 3339 in UTC with milliseconds, as the JSON events show it.
    pub fn to_rfc3339(self) -> String {
        self.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// A monotonic instant, as time since an origin the driver chose (its start): what every timer,
/// failure detector and "how long since" in the core counts in. It never steps, whatever the
/// wall clock does. The core never reads a clock; the network task (or a simulation) says what
/// time it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub Duration);

/// What the driver read just before an input: the monotonic instant, and the wall clock (time
/// since the UNIX epoch), which feeds only the HLC and what is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The monotonic instant.
    pub mono: Time,
    /// The wall clock, as time since the UNIX epoch.
    pub wall: Duration,
}

impl Now {
    /// A reading whose wall clock agrees with the monotonic one (both since the UNIX epoch):
    /// for simulations and tests that start from a wall time.
    pub fn synced(t: Time) -> Now {
        Now { mono: t, wall: t.0 }
    }
}

impl Time {
    /// The instant `ms` milliseconds after the origin.
    pub fn from_millis(ms: u64) -> Self {
        Time(Duration::from_millis(ms))
    }

    /// Whole milliseconds since the origin.
    pub fn as_millis(self) -> u64 {
        self.0.as_millis() as u64
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The instant `d` before this one, or the origin.
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(d))
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0 + d)
    }
}

/// One chat message as every node keeps it in its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was stamped, on the group's hybrid logical clock.
    pub ts: Hlc,
    /// The node that stamped it: the sender, or for bare text the node that relayed it.
    pub node: NodeId,
    /// The life of the stamping node.
    pub incarnation: Incarnation,
    /// Its number among that life's messages, from 1.
    pub seq: Seq,
    /// The author's name when it was sent.
    #[serde(deserialize_with = "shared_str")]
    pub name: Arc<str>,
    /// What was said.
    #[serde(deserialize_with = "shared_str")]
    pub text: Arc<str>,
    /// The old client's address, for a bare-text datagram.
    pub bare_from: Option<SocketAddr>,
    /// The shared message its writer held, when that one's stamp was after this one's (a clock
    /// ahead stamped it): this message replaces it as the shared message all the same.
    #[serde(default)]
    pub over: Option<Over>,
}

/// What a message was written over (see `Entry::over`): the shared message's place in the
/// register's order, and how many writes over it came before this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Over {
    /// The stamp the writes over it go by: the first one's that was not written over another.
    pub ts: Hlc,
    /// Its node.
    pub node: NodeId,
    /// This write's place in the line of writes over it, from 1.
    pub depth: u32,
}

/// A message's place in the shared message's order (a last-writer-wins register): by its stamp,
/// or, written over a message stamped after it, just after that one (see `Entry::over`).
pub(crate) type Rank = (Hlc, NodeId, u32, Key);

/// Reads a string straight into the one allocation that the log, its events and the front ends
/// then share (serde's own `Arc<str>` goes through a `Box<str>` first: two).
pub(crate) fn shared_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    struct Shared;
    impl serde::de::Visitor<'_> for Shared {
        type Value = Arc<str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Arc<str>, E> {
            Ok(Arc::from(s))
        }
    }
    d.deserialize_str(Shared)
}

/// Position in the log. The sequence number only breaks a tie that a correct HLC never makes.
pub(crate) type Key = (Hlc, NodeId, Seq);

impl Entry {
    /// Its position in the log.
    pub fn key(&self) -> Key {
        (self.ts, self.node, self.seq)
    }

    /// Its place in the shared message's order.
    pub fn rank(&self) -> Rank {
        match self.over {
            Some(o) => (o.ts, o.node, o.depth, self.key()),
            None => (self.ts, self.node, 0, self.key()),
        }
    }

    /// What a message stamped `ts` by `node` is written over, if this shared message sorts
    /// after it: then it must say so to take its place.
    pub fn over_for(&self, ts: Hlc, node: NodeId) -> Option<Over> {
        let (base_ts, base_node, depth, _) = self.rank();
        ((base_ts, base_node) > (ts, node)).then(|| Over {
            ts: base_ts,
            node: base_node,
            depth: depth.saturating_add(1),
        })
    }

    /// Drops an `over` that does not rank it after its own stamp: only a message stamped
    /// before the one it was written over needs one, and no other is taken.
    pub(crate) fn true_over(mut self) -> Entry {
        self.over = self.over.filter(|o| (o.ts, o.node) > (self.ts, self.node));
        self
    }

    /// Who to show as the author: the old client's `IP:port`, or the node's name.
    pub fn author(&self) -> Arc<str> {
        match self.bare_from {
            Some(a) => a.to_string().into(),
            None => Arc::clone(&self.name),
        }
    }
}

/// A node's name, in the one form every node keeps whether it comes from the command line, a
/// rename, a heartbeat, a message or a repair: 1 to `Name::MAX` bytes, no control characters, no
/// surrounding spaces.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Name(String);

/// A name the user typed that cannot be used as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a name is 1 to {} bytes, without control characters", Name::MAX)]
pub struct BadName;

impl Name {
    /// Longest name, in bytes.
    pub const MAX: usize = 64;

    /// A name exactly as typed (surrounding spaces aside), or an error: what a user types is
    /// never silently cut or changed.
    pub fn new(raw: &str) -> Result<Name, BadName> {
        let raw = raw.trim();
        let name = Name::clip(raw);
        if raw.is_empty() || name.0 != raw { Err(BadName) } else { Ok(name) }
    }

    /// Whatever arrived, in the kept form: control characters dropped, trimmed, cut to
    /// `Name::MAX` bytes at a character boundary; "?" if nothing is left.
    pub fn clip(raw: &str) -> Name {
        let clean: String = raw.chars().filter(|c| !c.is_control()).collect();
        let mut name = clean.trim();
        if name.len() > Self::MAX {
            let mut end = Self::MAX;
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            name = name[..end].trim_end();
        }
        Name(if name.is_empty() { "?".into() } else { name.to_string() })
    }

    /// `Name::clip` of a name that arrived: the same text, not a copy, when it is already in
    /// the kept form (as every name a node sends is).
    pub fn clip_shared(raw: Arc<str>) -> Arc<str> {
        let kept = !raw.is_empty()
            && raw.len() <= Self::MAX
            && raw.trim().len() == raw.len()
            && !raw.chars().any(char::is_control);
        if kept { raw } else { Name::clip(&raw).0.into() }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_one_way_in_bytes() {
        assert_eq!(Name::new("  alice ").unwrap(), "alice");
        assert_eq!(Name::new(""), Err(BadName));
        assert_eq!(Name::new("a\x1b[2Jb"), Err(BadName), "control characters are refused when typed");
        assert_eq!(Name::new(&"é".repeat(32)).unwrap().len(), 64, "64 bytes fit");
        assert_eq!(Name::new(&"é".repeat(33)), Err(BadName), "65 bytes do not, though 33 characters");
        // From the network: kept, in the same form.
        assert_eq!(Name::clip(&"é".repeat(40)).len(), 64);
        assert_eq!(Name::clip("a\x07b"), "ab");
        assert_eq!(Name::clip("\n"), "?");
    }
}
