//! The headless commands: `node` (the original server: print what the group says, broadcast
//! what stdin says) and `send` (the original client: multicast one message and exit).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::UserError;
use crate::net::{self, NetConfig, NetEvent, new_identity, socket, start_node};
use crate::proto::log::Key;
use crate::proto::{self, ClockCause, Command, Entry, Event, Hlc, Node, NodeId, Output, Snapshot};
use crate::show::skew_text;

/// `groupcast node`: a user's mistake comes back as a `UserError`; anything else is unexpected.
pub async fn run_node(netcfg: NetConfig, cfg: proto::Config, json: bool) -> color_eyre::Result<()> {
    let mut node = start_node(&netcfg, cfg).map_err(UserError::from)?;
    let mut out = Printer::new(json);
    let (line_tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if line_tx.send(line).await.is_err() {
                break;
            }
        }
        // End of stdin: the node keeps running (it may be a daemon with stdin on /dev/null).
    });
    let mut term = signal(SignalKind::terminate())?;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            ev = node.events.recv() => match ev {
                Some(ev) => out.event(&ev),
                None => break,
            },
            line = lines.recv(), if stdin_open => match line {
                Some(line) => {
                    if handle_line(&node, &out, line).await == Flow::Quit {
                        break;
                    }
                }
                None => stdin_open = false,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    let _ = node.command(Command::Leave).await;
    // The task ends once the leave is on the wire; print what it said on the way out.
    let _ = (&mut node.task).await;
    while let Ok(ev) = node.events.try_recv() {
        out.event(&ev);
    }
    Ok(())
}

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Quit,
}

async fn handle_line(node: &net::NodeHandle, out: &Printer, line: String) -> Flow {
    let trimmed = line.trim();
    if let Some(cmd) = trimmed.strip_prefix('/') {
        let (word, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
        match word {
            "quit" | "exit" => return Flow::Quit,
            "state" => {
                if let Some(s) = node.snapshot().await {
                    out.state(&s);
                }
            }
            "name" => match proto::Name::new(arg) {
                Ok(name) => {
                    if let Err(e) = node.command(Command::Rename(name)).await {
                        out.error(&e.to_string());
                    }
                }
                Err(e) => out.error(&e.to_string()),
            },
            _ => out.error(&format!("unknown command /{word} (try /state, /name NEW, /quit)")),
        }
        return Flow::Go;
    }
    if trimmed.is_empty() {
        return Flow::Go;
    }
    if let Err(e) = node.command(Command::Say(line)).await {
        out.error(&e.to_string());
    }
    Flow::Go
}

/// `groupcast send`: a user's mistake comes back as a `UserError`; anything else is unexpected.
pub async fn run_send(netcfg: NetConfig, cfg: proto::Config, text: String, plain: bool) -> color_eyre::Result<()> {
    let iface = net::resolve_iface(netcfg.iface.as_deref()).map_err(UserError::from)?;
    let sock = socket::open_sender(&netcfg, iface).map_err(UserError::from)?;
    let datagram = if plain {
        // As the original client's fgets buffer: the text and its newline, no NUL.
        let mut bytes = text.trim_end_matches('\n').as_bytes().to_vec();
        bytes.push(b'\n');
        if bytes.len() > proto::wire::MAX_BARE || bytes.starts_with(&proto::wire::MAGIC) {
            return Err(UserError::BareTooLong(proto::wire::MAX_BARE).into());
        }
        bytes
    } else {
        let (id, inc) = new_identity();
        // A one-shot sender hears no one, so it cannot wait to hear the group's clock.
        let cfg = proto::Config { clock_wait: std::time::Duration::ZERO, ..cfg };
        let mut core = Node::new(id, inc, cfg, net::now());
        core.handle_command(Command::Say(text), net::now()).map_err(UserError::from)?;
        std::iter::from_fn(|| core.poll_output())
            .find_map(|o| match o {
                Output::Multicast(b) => Some(b),
                _ => None,
            })
            .ok_or(UserError::Message(proto::CommandError::Empty))?
    };
    let group = SocketAddr::V4(netcfg.group);
    // A stamped frame goes out twice, as a guard against one lost datagram: receivers drop the
    // copy by its sequence number. Bare text cannot be de-duplicated, so it goes once.
    let copies = if plain { 1 } else { 2 };
    for i in 0..copies {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        if let Err(e) = sock.send_to(&datagram, group).await {
            let why = socket::unreachable_hint(&e, iface).unwrap_or_else(|| format!("cannot send: {e}"));
            return Err(UserError::Send(why).into());
        }
    }
    Ok(())
}

// ---- output ---------------------------------------------------------------------------------

/// Message keys remembered as printed, so a resync prints only what was missed.
const MAX_PRINTED: usize = 50_000;

struct Printer {
    json: bool,
    me: Option<NodeId>,
    printed: BTreeSet<Key>,
}

/// Who wrote an entry, as an id: the node, or the old client's `IP:port`.
fn from_of(e: &Entry) -> String {
    match e.bare_from {
        Some(a) => a.to_string(),
        None => e.node.to_string(),
    }
}

fn ctime_now() -> String {
    chrono::Local::now().format("%a %b %e %H:%M:%S %Y").to_string()
}

/// The JSON line for an event; `None` for the periodic status, which is not an event.
pub fn event_json(ev: &NetEvent) -> Option<Value> {
    Some(match ev {
        NetEvent::Status { .. } | NetEvent::Resync(_) | NetEvent::GroupTime { .. } => return None,
        NetEvent::Ready(r) => json!({"event": "ready", "node": r.node.to_string(), "name": r.name,
            "group": r.group.to_string(), "iface": r.iface}),
        NetEvent::Lagged(n) => json!({"event": "lagged", "dropped": n}),
        NetEvent::SendFailed(e) => json!({"event": "send_failed", "error": e}),
        NetEvent::Core(ev) => match ev {
            Event::PeerUp { node, name, addr } => {
                json!({"event": "peer_up", "node": node.to_string(), "name": name, "addr": addr.to_string()})
            }
            Event::PeerSuspect { node, name } => {
                json!({"event": "peer_suspect", "node": node.to_string(), "name": name})
            }
            Event::PeerAlive { node, name } => json!({"event": "peer_alive", "node": node.to_string(), "name": name}),
            Event::PeerDown { node, name, reason, via } => json!({"event": "peer_down", "node": node.to_string(),
                "name": name, "reason": reason.as_str(), "via": via}),
            Event::PeerRemoved { node } => json!({"event": "peer_removed", "node": node.to_string()}),
            Event::PeerRenamed { node, old, new } => {
                json!({"event": "peer_renamed", "node": node.to_string(), "old": old, "new": new})
            }
            Event::Message { entry, own, settled } => message_json(entry, *own, *settled),
            Event::Shared { entry, settled } => json!({"event": "shared", "text": entry.text, "from": from_of(entry),
                "name": entry.author(), "ts": entry.ts.to_rfc3339(), "settled": settled}),
            Event::Settled { upto, count } => json!({"event": "settled", "upto": upto.to_rfc3339(), "count": count}),
            Event::Ring { prev, next } => json!({"event": "ring", "prev": prev.map(|n| n.to_string()),
                "next": next.map(|n| n.to_string())}),
            Event::Gap { node, from, to } => json!({"event": "gap", "node": node.to_string(), "from": from.0,
                "to": to.0}),
            Event::Rejected { addr, reason, count } => {
                json!({"event": "rejected", "addr": addr.to_string(), "reason": reason, "count": count})
            }
            Event::Clock { skew_ms, cause } => {
                let (reason, by) = match cause {
                    ClockCause::Step { by_ms } => ("step", by_ms),
                    ClockCause::Group { by_ms } => ("group", by_ms),
                };
                json!({"event": "clock", "offset_ms": skew_ms, "reason": reason, "by_ms": by})
            }
        },
    })
}

fn message_json(entry: &Entry, own: bool, settled: bool) -> Value {
    json!({"event": "message", "from": from_of(entry), "name": entry.author(), "text": entry.text,
        "ts": entry.ts.to_rfc3339(), "own": own, "settled": settled, "node": entry.node.to_string(),
        "seq": entry.seq.0})
}

fn message_human(entry: &Entry) -> String {
    let when = crate::show::local(entry.ts).format("%a %b %e %H:%M:%S %Y");
    // A multi-line message keeps its lines together, indented under the first.
    format!("{when}: {}: {}", entry.author(), entry.text.replace('\n', "\n    "))
}

pub fn event_human(ev: &NetEvent) -> Option<String> {
    let now = ctime_now();
    Some(match ev {
        NetEvent::Status { .. } | NetEvent::Resync(_) | NetEvent::GroupTime { .. } => return None,
        NetEvent::Ready(r) => {
            format!("{now}: ready: {} ({}) on group {} via {}", r.name, r.node.short(), r.group, r.iface)
        }
        NetEvent::Lagged(n) => format!("{now}: ({n} events dropped: output too slow)"),
        NetEvent::SendFailed(e) => format!("{now}: cannot send: {e}"),
        NetEvent::Core(ev) => match ev {
            Event::PeerUp { node, name, addr } => format!("{now}: + {name} ({}) joined from {addr}", node.short()),
            Event::PeerSuspect { node, name } => format!("{now}: ? {name} ({}) is silent", node.short()),
            Event::PeerAlive { node, name } => format!("{now}: + {name} ({}) is back", node.short()),
            Event::PeerDown { node, name, reason, via } => {
                format!("{now}: - {name} ({}) is gone: {} ({via})", node.short(), reason.as_str())
            }
            Event::PeerRemoved { node } => format!("{now}: - {} forgotten", node.short()),
            Event::PeerRenamed { node, old, new } => format!("{now}: {old} ({}) is now {new}", node.short()),
            Event::Message { entry, .. } => message_human(entry),
            Event::Shared { entry, .. } => {
                format!("{now}: shared message is now {:?} (from {})", entry.text, entry.author())
            }
            // Every message settles soon after it is sent: a line each would drown the chat.
            Event::Settled { .. } => return None,
            Event::Ring { prev, next } => {
                let name = |n: &Option<NodeId>| n.map_or("none".to_string(), super::proto::types::NodeId::short);
                format!("{now}: ring: prev {}, next {}", name(prev), name(next))
            }
            Event::Gap { node, from, to } => {
                let which =
                    if from == to { format!("message {}", from.0) } else { format!("messages {} to {}", from.0, to.0) };
                format!("{now}: {which} of {} lost: never received here", node.short())
            }
            Event::Rejected { addr, reason, count } => format!("{now}: rejected {count} from {addr}: {reason}"),
            Event::Clock { skew_ms, cause: ClockCause::Step { by_ms } } => format!(
                "{now}: this host's wall clock stepped {}; group time runs on (host clock now {} off)",
                skew_text(*by_ms),
                skew_text(*skew_ms)
            ),
            Event::Clock { skew_ms, cause: ClockCause::Group { .. } } => {
                format!("{now}: this host's clock is {} off the group's; stamping with group time", skew_text(*skew_ms))
            }
        },
    })
}

pub fn state_json(s: &Snapshot) -> Value {
    let shared = s.shared.as_ref().map(|e| {
        json!({"text": e.text, "from": from_of(e), "name": e.author(), "ts": e.ts.to_rfc3339(),
            "settled": e.ts < s.settled})
    });
    let peers: Vec<Value> = s
        .peers
        .iter()
        .map(|p| {
            json!({"node": p.node.to_string(), "name": p.name, "addr": p.addr.to_string(),
                "status": p.status.as_str(), "loss": (p.loss * 1000.0).round() / 1000.0,
                "clock_offset_ms": p.skew_ms})
        })
        .collect();
    let id = |n: Option<NodeId>| n.map(|n| n.to_string());
    let ring = json!({"prev": id(s.ring.prev), "next": id(s.ring.next),
        "links": s.links.iter().map(std::string::ToString::to_string).collect::<Vec<_>>()});
    json!({"event": "state", "node": s.node.to_string(), "name": s.name, "clock_offset_ms": s.skew_ms,
        "shared": shared, "peers": peers,
        "ring": ring, "messages": s.messages, "pending": s.pending, "settled_upto": s.settled.to_rfc3339(),
        "evicted": s.evicted, "lost": s.lost, "log_digest": s.log_digest,
        "sent": s.stats.frames_sent, "received": s.stats.frames_received, "repaired": s.stats.repaired,
        "duplicates": s.stats.duplicates, "clock_held": s.stats.clock_held, "pauses": s.stats.pauses,
        "dropped": s.stats.dropped})
}

impl Printer {
    fn new(json: bool) -> Self {
        Printer { json, me: None, printed: BTreeSet::new() }
    }

    fn remember(&mut self, key: Key) -> bool {
        let new = self.printed.insert(key);
        if self.printed.len() > MAX_PRINTED {
            self.printed.pop_first();
        }
        new
    }

    /// After a lag: print the messages the core holds that never reached the screen, in log
    /// order, and the settled mark they came with.
    fn resync(&mut self, r: &net::Resync) {
        let mut recovered = 0;
        for e in &r.entries {
            if self.printed.first().is_some_and(|k| e.key() < *k) && self.printed.len() >= MAX_PRINTED {
                continue; // older than anything remembered: printed long ago
            }
            if self.remember(e.key()) {
                recovered += 1;
                let line = if self.json {
                    message_json(e, Some(e.node) == self.me && e.bare_from.is_none(), e.ts < r.settled).to_string()
                } else {
                    message_human(e)
                };
                self.line(&line);
            }
        }
        let count = r.entries.iter().filter(|e| e.ts < r.settled).count();
        if self.json {
            self.line(&json!({"event": "resync", "recovered": recovered, "messages": r.entries.len()}).to_string());
            if r.settled > Hlc(0) {
                self.line(&json!({"event": "settled", "upto": r.settled.to_rfc3339(), "count": count}).to_string());
            }
        } else {
            self.line(&format!("{}: (caught up: {recovered} messages recovered from the log)", ctime_now()));
        }
    }

    #[expect(clippy::unused_self, reason = "a printer writes lines; it may hold a writer later")]
    fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (the reader went away) is not worth dying for; the node runs on.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn event(&mut self, ev: &NetEvent) {
        match ev {
            NetEvent::Ready(r) => self.me = Some(r.node),
            NetEvent::Core(Event::Message { entry, .. }) => {
                self.remember(entry.key());
            }
            NetEvent::Resync(r) => return self.resync(r),
            _ => {}
        }
        let line = if self.json { event_json(ev).map(|v| v.to_string()) } else { event_human(ev) };
        if let Some(line) = line {
            self.line(&line);
        }
    }

    fn state(&self, s: &Snapshot) {
        if self.json {
            self.line(&state_json(s).to_string());
            return;
        }
        let shared = s.shared.as_ref().map_or("(none)".to_string(), |e| format!("{:?} from {}", e.text, e.author()));
        let clock =
            |ms: i64| if ms.unsigned_abs() >= 1_000 { format!(" clock {}", skew_text(ms)) } else { String::new() };
        self.line(&format!("state: {} ({}){} shared: {shared}", s.name, s.node.short(), clock(s.skew_ms)));
        for p in &s.peers {
            self.line(&format!(
                "  {:<8} {} ({}) {} loss {:.0}%{}",
                p.status.as_str(),
                p.name,
                p.node.short(),
                p.addr,
                p.loss * 100.0,
                clock(p.skew_ms)
            ));
        }
        self.line(&format!("  {} messages, log digest {}", s.messages, s.log_digest));
    }

    fn error(&self, msg: &str) {
        if self.json {
            self.line(&json!({"event": "error", "message": msg}).to_string());
        } else {
            eprintln!("error: {msg}");
        }
    }
}
