//! What `groupcast node` prints, described once: every event becomes a `Line`, whose fields are
//! the JSON object's (serde writes it, tagged by `"event"`) and whose `Display` is the human line.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::net::NetEvent;
use crate::proto::{ClockCause, DownReason, DownVia, DropReason, Entry, Event, Hlc};
use crate::show::{clean, local, skew_text};

/// Why a `clock` line was printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClockReason {
    /// This host's wall clock jumped; group time ran on.
    Step,
    /// The clock was far off the group's and now follows it.
    Group,
}

/// One printed event. Node ids are their 16 hex digits; times are RFC 3339 in UTC.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Line {
    /// The node is up and has joined the group.
    Ready {
        /// This node's id.
        node: String,
        /// Its name.
        name: String,
        /// The multicast group, as `address:port`.
        group: String,
        /// The interface address in use.
        iface: String,
        /// Whether the group is keyed.
        keyed: bool,
        /// The group key's fingerprint, in a keyed group.
        key: Option<String>,
    },
    /// Events were dropped because the output did not keep up; a resync follows.
    Lagged {
        /// How many were dropped.
        dropped: u64,
    },
    /// The network is not up yet (no route, the interface down or without its address): the
    /// node waits and joins when it comes.
    Waiting {
        /// Why it cannot join yet.
        reason: String,
    },
    /// A datagram could not be sent; the node carries on.
    SendFailed {
        /// What the system said.
        error: String,
    },
    /// A new peer was heard, or a down one came back.
    PeerUp {
        /// The peer's id.
        node: String,
        /// Its name.
        name: String,
        /// The address its datagrams come from.
        addr: String,
    },
    /// A peer has been silent long enough to be suspect.
    PeerSuspect {
        /// The peer's id.
        node: String,
        /// Its name.
        name: String,
    },
    /// A suspect peer spoke again.
    PeerAlive {
        /// The peer's id.
        node: String,
        /// Its name.
        name: String,
    },
    /// A peer is down or has left.
    PeerDown {
        /// The peer's id.
        node: String,
        /// Its name.
        name: String,
        /// Why: `left`, `timeout`, `restarted` or `crashed`.
        reason: DownReason,
        /// What told this node.
        via: DownVia,
    },
    /// A down or left peer has been forgotten.
    PeerRemoved {
        /// The peer's id.
        node: String,
    },
    /// A peer changed its name.
    PeerRenamed {
        /// The peer's id.
        node: String,
        /// Its name before.
        old: String,
        /// Its name now.
        new: String,
    },
    /// A chat message entered the log.
    Message(Message),
    /// The shared message changed.
    Shared {
        /// What it says.
        text: Arc<str>,
        /// The node id, or the old client's `IP:port` for bare text.
        from: String,
        /// Who to show as the author.
        name: Arc<str>,
        /// Its stamp.
        ts: String,
        /// Every live member already holds it.
        settled: bool,
    },
    /// More messages are held by every live member.
    Settled {
        /// Messages stamped before this are held by every live member.
        upto: String,
        /// How many messages became settled.
        count: usize,
    },
    /// The ring neighbours changed.
    Ring {
        /// The neighbour before this node, if any.
        prev: Option<String>,
        /// The neighbour after this node, if any.
        next: Option<String>,
    },
    /// Messages that fell out of a neighbour's retention before this node got them.
    Gap {
        /// The node whose messages were lost.
        node: String,
        /// The first message number lost.
        from: u64,
        /// The last message number lost.
        to: u64,
    },
    /// Two versions of one message were sent (one is forged); every node keeps both.
    Conflict {
        /// Who it is in the name of.
        node: String,
        /// The name shown with it.
        name: Arc<str>,
        /// Its number.
        seq: u64,
        /// The text of the version held first.
        held: Arc<str>,
        /// The text of the other.
        other: Arc<str>,
    },
    /// Someone sends frames in this node's name; it started a new life.
    Impersonated {
        /// Where the forged frames come from; null when a peer passed one on (see
        /// `Event::Impersonated`).
        addr: Option<String>,
    },
    /// Something from an address was dropped.
    Rejected {
        /// Where it came from.
        addr: String,
        /// Why it was dropped.
        reason: DropReason,
        /// Drops since the last report from this address.
        count: u64,
    },
    /// How this node keeps group time changed.
    Clock {
        /// This host's wall clock minus group time from now on, in milliseconds.
        offset_ms: i64,
        /// `step` (the wall clock jumped) or `group` (the clock now follows the group's).
        reason: ClockReason,
        /// How far the wall clock jumped or group time moved, in milliseconds.
        by_ms: i64,
    },
    /// The output caught up after a lag, from the node's log.
    Resync {
        /// Messages printed now that the lag had kept from the output.
        recovered: usize,
        /// Messages in the node's log.
        messages: usize,
    },
}

/// A message as printed (also what a resync prints for each message the output missed).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Message {
    /// The node id, or the old client's `IP:port` for bare text.
    pub from: String,
    /// Who to show as the author.
    pub name: Arc<str>,
    /// What was said.
    pub text: Arc<str>,
    /// Its stamp.
    pub ts: String,
    /// This node sent it.
    pub own: bool,
    /// Every live member already holds it.
    pub settled: bool,
    /// The node that stamped it.
    pub node: String,
    /// Its number among that node's messages in this life.
    pub seq: u64,
    /// The stamp, for the human line's local time.
    #[serde(skip)]
    pub at: Hlc,
}

impl Message {
    /// The printed form of a log entry.
    pub(crate) fn new(entry: &Entry, own: bool, settled: bool) -> Self {
        Message {
            from: from_of(entry),
            name: entry.author(),
            text: entry.text.clone(),
            ts: entry.ts.to_rfc3339(),
            own,
            settled,
            node: entry.node.to_string(),
            seq: entry.seq.0,
            at: entry.ts,
        }
    }
}

/// Who wrote an entry, as an id: the node, or the old client's `IP:port`.
pub(crate) fn from_of(e: &Entry) -> String {
    match e.bare_from {
        Some(a) => a.to_string(),
        None => e.node.to_string(),
    }
}

impl Line {
    /// The line for a network event; `None` for what is not printed (status reports, group
    /// time, and a resync, which the printer expands itself).
    pub(crate) fn of(ev: &NetEvent) -> Option<Line> {
        let id = |n: crate::proto::NodeId| n.to_string();
        Some(match ev {
            NetEvent::Status { .. } | NetEvent::Resync(_) | NetEvent::GroupTime { .. } => return None,
            NetEvent::Ready(r) => Line::Ready {
                node: id(r.node),
                name: r.name.clone(),
                group: r.group.to_string(),
                iface: r.iface.clone(),
                keyed: r.key.is_some(),
                key: r.key.clone(),
            },
            NetEvent::Lagged(n) => Line::Lagged { dropped: *n },
            NetEvent::SendFailed(e) => Line::SendFailed { error: e.clone() },
            NetEvent::Core(ev) => match ev {
                Event::PeerUp { node, name, addr } => {
                    Line::PeerUp { node: id(*node), name: name.clone(), addr: addr.to_string() }
                }
                Event::PeerSuspect { node, name } => Line::PeerSuspect { node: id(*node), name: name.clone() },
                Event::PeerAlive { node, name } => Line::PeerAlive { node: id(*node), name: name.clone() },
                Event::PeerDown { node, name, reason, via } => {
                    Line::PeerDown { node: id(*node), name: name.clone(), reason: *reason, via: *via }
                }
                Event::PeerRemoved { node } => Line::PeerRemoved { node: id(*node) },
                Event::PeerRenamed { node, old, new } => {
                    Line::PeerRenamed { node: id(*node), old: old.clone(), new: new.clone() }
                }
                Event::Message { entry, own, settled } => Line::Message(Message::new(entry, *own, *settled)),
                Event::Shared { entry, settled } => Line::Shared {
                    text: entry.text.clone(),
                    from: from_of(entry),
                    name: entry.author(),
                    ts: entry.ts.to_rfc3339(),
                    settled: *settled,
                },
                Event::Settled { upto, count } => Line::Settled { upto: upto.to_rfc3339(), count: *count },
                Event::Ring { prev, next } => Line::Ring { prev: prev.map(id), next: next.map(id) },
                Event::Gap { node, from, to } => Line::Gap { node: id(*node), from: from.0, to: to.0 },
                Event::Rejected { addr, reason, count } => {
                    Line::Rejected { addr: addr.to_string(), reason: *reason, count: *count }
                }
                Event::Conflict { held, other } => Line::Conflict {
                    node: id(other.node),
                    name: other.author(),
                    seq: other.seq.0,
                    held: held.text.clone(),
                    other: other.text.clone(),
                },
                Event::Impersonated { addr } => Line::Impersonated { addr: addr.map(|a| a.to_string()) },
                Event::Clock { skew_ms, cause } => {
                    let (reason, by_ms) = match cause {
                        ClockCause::Step { by_ms } => (ClockReason::Step, *by_ms),
                        ClockCause::Group { by_ms } => (ClockReason::Group, *by_ms),
                    };
                    Line::Clock { offset_ms: *skew_ms, reason, by_ms }
                }
            },
        })
    }

    /// Whether the human output shows it (every message settles soon after it is sent: a line
    /// each would drown the chat).
    pub(crate) fn for_people(&self) -> bool {
        !matches!(self, Line::Settled { .. })
    }
}

/// Six hex digits of a node id, enough to tell peers apart on a screen.
fn short(node: &str) -> &str {
    node.get(..6).unwrap_or(node)
}

impl fmt::Display for Line {
    /// The human line, after the time it is printed at (messages carry their own time). Names,
    /// texts and errors come from the network: the line is cleaned of control characters as a
    /// whole, keeping only the line breaks a message is laid out with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&clean(&self.raw(), true))
    }
}

impl Line {
    fn raw(&self) -> String {
        match self {
            Line::Ready { node, name, group, iface, key, .. } => {
                let sealed = key
                    .as_ref()
                    .map_or_else(|| "open group (no key)".to_string(), |k| format!("keyed group (key {k})"));
                format!("ready: {name} ({}) on group {group} via {iface}, {sealed}", short(node))
            }
            Line::Lagged { dropped } => format!("({dropped} events dropped: output too slow; a resync follows)"),
            Line::SendFailed { error } => format!("cannot send: {error}"),
            Line::Waiting { reason } => format!("waiting for the network ({reason}); joins when it is up"),
            Line::PeerUp { node, name, addr } => format!("+ {name} ({}) joined from {addr}", short(node)),
            Line::PeerSuspect { node, name } => format!("? {name} ({}) is silent", short(node)),
            Line::PeerAlive { node, name } => format!("+ {name} ({}) is back", short(node)),
            Line::PeerDown { node, name, reason, via } => {
                format!("- {name} ({}) is gone: {} ({via})", short(node), reason.as_str())
            }
            Line::PeerRemoved { node } => format!("- {} forgotten", short(node)),
            Line::PeerRenamed { node, old, new } => format!("{old} ({}) is now {new}", short(node)),
            Line::Message(m) => {
                // A multi-line message keeps its lines together, indented under the first; no
                // other line break (a name's, a CR) survives the cleaning.
                let text = clean(&m.text, true).replace('\n', "\n    ");
                match text.strip_prefix("/me ") {
                    // `/me waves` from a chat user: "* alice waves".
                    Some(action) => format!("* {} {action}", clean(&m.name, false)),
                    None => format!("{}: {text}", clean(&m.name, false)),
                }
            }
            Line::Shared { text, name, .. } => format!("shared message is now \"{text}\" (from {name})"),
            Line::Settled { upto, count } => format!("{count} more messages settled (up to {upto})"),
            Line::Ring { prev, next } => {
                let n = |x: &Option<String>| x.as_deref().map_or("none", short).to_string();
                format!("ring: prev {}, next {}", n(prev), n(next))
            }
            Line::Gap { node, from, to } if from == to => {
                format!("message {from} of {} lost: never received here", short(node))
            }
            Line::Gap { node, from, to } => {
                format!("messages {from} to {to} of {} lost: never received here", short(node))
            }
            Line::Rejected { addr, reason, count } => format!("rejected {count} from {addr}: {reason}"),
            Line::Conflict { name, seq, held, other, .. } => format!(
                "two versions of message {seq} from {name} were sent, {held:?} and {other:?}: one is forged; both are kept"
            ),
            Line::Impersonated { addr } => format!(
                "someone {} sends frames in this node's name; started a new life so they cannot hide ours",
                addr.as_ref().map_or_else(|| "(a peer passed on their message)".to_string(), |a| format!("at {a}"))
            ),
            Line::Clock { offset_ms, reason: ClockReason::Step, by_ms } => format!(
                "this host's wall clock stepped {}; group time runs on (host clock now {} off)",
                skew_text(*by_ms),
                skew_text(*offset_ms)
            ),
            Line::Clock { offset_ms, .. } => {
                format!("this host's clock is {} off the group's; stamping with group time", skew_text(*offset_ms))
            }
            Line::Resync { recovered, .. } => format!("(caught up: {recovered} messages recovered from the log)"),
        }
    }
}

/// The time a human line is printed with: a message's own stamp in local time, else `now`.
pub(crate) fn human_time(line: &Line, now: &str) -> String {
    match line {
        Line::Message(m) => local(m.at).format("%a %b %e %H:%M:%S %Y").to_string(),
        _ => now.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Incarnation, NodeId, Seq};

    fn entry_with(text: &str) -> Entry {
        Entry {
            ts: Hlc::from_unix(std::time::Duration::from_secs(1_780_000_000)),
            node: NodeId(1),
            incarnation: Incarnation(1),
            seq: Seq(1),
            name: "x".into(),
            text: text.into(),
            bare_from: None,
            over: None,
        }
    }

    #[test]
    fn one_description_two_forms() {
        let entry = Entry {
            ts: Hlc::from_unix(std::time::Duration::from_secs(1_780_000_000)),
            node: NodeId(0xabcd_ef01_2345_6789),
            incarnation: Incarnation(1),
            seq: Seq(7),
            name: "bob".into(),
            text: "two\nlines".into(),
            bare_from: None,
            over: None,
        };
        let line = Line::of(&NetEvent::Core(Event::Message { entry, own: false, settled: true })).unwrap();
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["event"], "message");
        assert_eq!(json["node"], "abcdef0123456789");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["ts"], "2026-05-28T20:26:40.000Z");
        assert!(json.get("at").is_none(), "the stamp is printed once, as ts");
        assert_eq!(line.to_string(), "bob: two\n    lines");
        let down = Line::PeerDown {
            node: "abcdef0123456789".into(),
            name: "c".into(),
            reason: DownReason::Crashed,
            via: DownVia::Link,
        };
        assert_eq!(serde_json::to_value(&down).unwrap()["via"], "link");
        assert_eq!(down.to_string(), "- c (abcdef) is gone: crashed (link)");
        // What a peer sends cannot drive the terminal: no ESC, BEL or CR reaches it.
        let mut m = Message::new(&entry_with("\x1b]0;owned\x07\x1b[2J\rfake log line"), false, false);
        m.name = "mallory".into();
        let shown = Line::Message(m).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
}
