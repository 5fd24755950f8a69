//! The headless commands: `node` (the original server: print what the group says, broadcast
//! what stdin says) and `send` (the original client: multicast one message and exit).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use crate::error::UserError;
use crate::history::{History, Kept};
use crate::net::{self, NetConfig, NetEvent, new_identity, socket};
use crate::output::{Line, Message, from_of, human_time};
use crate::proto::log::Key;
use crate::proto::types::Rank;
use crate::proto::{self, Command, Event, Hlc, Node, NodeId, Output, Snapshot};
use crate::show::skew_text;

/// `groupcast node`: a user's mistake comes back as a `UserError`; anything else is unexpected.
pub async fn run_node(
    netcfg: NetConfig,
    cfg: proto::Config,
    json: bool,
    history: Option<std::path::PathBuf>,
) -> color_eyre::Result<()> {
    let out = Arc::new(Printer::new(json));
    // The conversation kept across runs: opened first, so a wrong path is one line and exit 2.
    let history = match &history {
        Some(p) => {
            let opened = History::open(p).map_err(UserError::Usage)?;
            if let Some(note) = opened.note() {
                out.error(&note);
            }
            opened.history
        }
        None => None,
    };
    // Listened for once, not anew on every pass of the loop (which costs a registration each).
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // The node's events are printed on its network task, as they come: from the socket to
    // stdout with no queue and no hop between tasks.
    let sink = Box::new(Lines { out: Arc::clone(&out), history, kept: Vec::new() });
    // Started before the network is up (at boot, on a laptop between networks): wait for it.
    let started = net::start_node_when_up(&netcfg, cfg, Some(sink), |e: &net::SetupError| {
        // On an IPv6-only host the IPv4 group will never come: that is the one thing to say.
        let reason = socket::family_hint(netcfg.group).unwrap_or_else(|| e.to_string());
        out.print(&Line::Waiting { reason });
        out.flush();
    });
    let mut node = tokio::select! {
        n = started => n.map_err(UserError::from)?,
        _ = int.recv() => return Ok(()),
        _ = term.recv() => return Ok(()),
    };
    let (input_tx, mut input) = tokio::sync::mpsc::channel::<Input>(64);
    // Chat lines go from the stdin task straight to the node; what this loop has to do (report
    // refusals, run a command line) comes here. At the end of stdin the node keeps running (it
    // may be a daemon with stdin on /dev/null).
    let requests = node.requests.clone();
    tokio::spawn(crate::stdin_lines::forward(async move |lines: Vec<String>| feed(&requests, &input_tx, lines).await));
    let mut stdin_open = true;
    loop {
        tokio::select! {
            // (The events go to the sink: this channel only ends, with the node's task.)
            None = node.events.recv() => break,
            got = input.recv(), if stdin_open => match got {
                Some(Input::Answers(answers)) => {
                    report(&out, answers).await;
                    out.flush();
                }
                Some(Input::Command(line, done)) => {
                    let flow = handle_line(&node, &out, line).await;
                    out.flush();
                    if flow == Flow::Quit {
                        break;
                    }
                    let _ = done.send(());
                }
                None => stdin_open = false,
            },
            _ = int.recv() => break,
            _ = term.recv() => break,
        }
    }
    let _ = node.command(Command::Leave).await;
    // The task ends once the leave is on the wire, having printed what it said on the way out.
    let _ = (&mut node.task).await;
    out.flush();
    Ok(())
}

/// The node's events as lines on stdout, on the network task; and the messages among them
/// kept in the history file, when there is one.
struct Lines {
    out: Arc<Printer>,
    history: Option<History>,
    kept: Vec<Kept>,
}

impl net::EventSink for Lines {
    fn event(&mut self, ev: NetEvent) {
        self.out.event(&ev);
        keep(&mut self.kept, &ev, self.history.is_some());
    }

    fn flush(&mut self) {
        self.out.flush();
        let added = self.history.as_mut().map(|h| h.add(self.kept.iter()));
        self.kept.clear();
        if let Some(Err(e)) = added {
            // Said once; the node runs on without it.
            self.out.error(&format!("{e}; the conversation is no longer kept"));
            self.out.flush();
            self.history = None;
        }
    }
}

/// The messages of `ev` for the history file (when there is one).
fn keep(kept: &mut Vec<Kept>, ev: &NetEvent, keeping: bool) {
    if !keeping {
        return;
    }
    match ev {
        NetEvent::Core(Event::Message { entry, .. }) => kept.push(Kept::of(entry)),
        NetEvent::Resync(r) => kept.extend(r.entries.iter().map(Kept::of)),
        _ => {}
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Quit,
}

/// The node's answers to chat lines, to be reported (a refusal is printed).
type Answers = Vec<tokio::sync::oneshot::Receiver<Result<(), proto::CommandError>>>;

/// What the stdin task leaves to the main loop.
enum Input {
    /// Answers to chat lines already handed to the node.
    Answers(Answers),
    /// A command line (`/state`, `/name`, `/quit`); `done` once it has run.
    Command(String, tokio::sync::oneshot::Sender<()>),
}

/// The lines of one read of stdin, in order, in the stdin task. Chat lines go to the node
/// without waiting for each answer, so a burst costs one wake-up of the node and leaves in
/// bundled datagrams; their answers go to the main loop. A command line waits for the main
/// loop to run it (after the answers before it), so nothing said after `/name` overtakes it.
/// False once the node or the main loop is gone.
async fn feed(
    requests: &tokio::sync::mpsc::Sender<net::Request>,
    main: &tokio::sync::mpsc::Sender<Input>,
    lines: Vec<String>,
) -> bool {
    let mut answers = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.starts_with('/') {
            let (tx, rx) = tokio::sync::oneshot::channel();
            // If the node is gone, `tx` is dropped with the request and `rx` reports it.
            let _ = requests.send(net::Request::Command(Command::Say(line), tx)).await;
            answers.push(rx);
            continue;
        }
        if !answers.is_empty() && main.send(Input::Answers(std::mem::take(&mut answers))).await.is_err() {
            return false;
        }
        let (done, ran) = tokio::sync::oneshot::channel();
        if main.send(Input::Command(line, done)).await.is_err() || ran.await.is_err() {
            return false;
        }
    }
    answers.is_empty() || main.send(Input::Answers(answers)).await.is_ok()
}

async fn report(out: &Printer, answers: Answers) {
    for a in answers {
        if let Err(e) = a.await.unwrap_or(Err(proto::CommandError::Left)) {
            out.error(&e.to_string());
        }
    }
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
    let iface = net::resolve_iface(netcfg.iface.as_deref(), netcfg.group).map_err(UserError::from)?;
    let sock = socket::open_sender(&netcfg, iface).map_err(UserError::from)?;
    let datagram = if plain {
        if cfg.key.is_some() {
            return Err(UserError::Usage(
                "--plain sends bare text, which a keyed group ignores; leave out --plain".into(),
            )
            .into());
        }
        // As the original client's fgets buffer: the text and its newline, no NUL.
        let text = text.trim_end_matches('\n');
        if text.trim().is_empty() {
            return Err(UserError::Message(proto::CommandError::Empty).into());
        }
        if text.len() > proto::wire::MAX_BARE || text.as_bytes().starts_with(&proto::wire::MAGIC) {
            return Err(UserError::BareTooLong(proto::wire::MAX_BARE).into());
        }
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\n');
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
    let group = socket::scoped_group(netcfg.group, iface);
    // A stamped frame goes out twice, as a guard against one lost datagram: receivers drop the
    // copy by its sequence number. Bare text cannot be de-duplicated, so it goes once.
    let copies = if plain { 1 } else { 2 };
    for i in 0..copies {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        if let Err(e) = sock.send_to(&datagram, group).await {
            let why = socket::unreachable_hint(&e, iface, netcfg.group).unwrap_or_else(|| format!("cannot send: {e}"));
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
    /// What was printed, for a resync to print only what was missed. Behind a lock, as the
    /// writer is, so the network task (printing events) and the main loop (answers to commands)
    /// share one `Printer` (on one thread: the lock is never waited for).
    seen: std::sync::Mutex<Seen>,
    /// Lines are written here (stdout, buffered) and flushed once per batch of events.
    out: std::sync::Mutex<Box<dyn Write + Send>>,
}

/// What a `Printer` has printed.
#[derive(Default)]
struct Seen {
    me: Option<NodeId>,
    printed: BTreeSet<Key>,
    /// The rank of the shared message last printed (a resync can bring it again).
    shared: Option<Rank>,
    /// The settled mark last printed (likewise).
    settled: Hlc,
}

impl Seen {
    fn remember(&mut self, key: Key) -> bool {
        let new = self.printed.insert(key);
        if self.printed.len() > MAX_PRINTED {
            self.printed.pop_first();
        }
        new
    }
}

fn ctime_now() -> String {
    chrono::Local::now().format("%a %b %e %H:%M:%S %Y").to_string()
}

/// The `/state` snapshot as the JSON object `node --json` prints.
pub fn state_json(s: &Snapshot) -> Value {
    let shared = s.shared.as_ref().map(|e| {
        // Stamped ahead of group time (a clock was wrong): it settles only when that time comes.
        let ahead = e.ts.to_unix().saturating_sub(s.group_now.to_unix()).as_millis();
        let ahead = (ahead >= 1_000).then_some(ahead as u64);
        json!({"text": e.text, "from": from_of(e), "name": e.author(), "ts": e.ts.to_rfc3339(),
            "settled": e.ts < s.settled, "ahead_ms": ahead})
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
    // Whose clock is off the group's time (by more than a second), this host's first.
    let mut off: Vec<Value> = Vec::new();
    if s.skew_ms.unsigned_abs() >= 1_000 {
        off.push(json!({"node": s.node.to_string(), "name": s.name, "offset_ms": s.skew_ms}));
    }
    // (Only members the ring vouches for: a replayed or made-up name is no host to blame.)
    for p in s.peers.iter().filter(|p| p.status.is_member() && p.vouched && p.skew_ms.unsigned_abs() >= 1_000) {
        off.push(json!({"node": p.node.to_string(), "name": p.name, "offset_ms": p.skew_ms}));
    }
    let agree = match s.clock {
        proto::ClockBasis::Majority { agree, .. } => Some(agree),
        _ => None,
    };
    let clock = json!({"basis": s.clock.as_str(), "agree": agree, "voters": s.clock.voters(), "off": off});
    let ring = json!({"prev": id(s.ring.prev), "next": id(s.ring.next),
        "links": s.links.iter().map(std::string::ToString::to_string).collect::<Vec<_>>()});
    json!({"event": "state", "node": s.node.to_string(), "name": s.name, "clock_offset_ms": s.skew_ms,
        "clock": clock, "shared": shared, "peers": peers,
        "ring": ring, "messages": s.messages, "pending": s.pending, "settled_upto": s.settled.to_rfc3339(),
        "evicted": s.evicted, "lost": s.lost, "log_digest": s.log_digest,
        "sent": s.stats.frames_sent, "bundles_sent": s.stats.bundles_sent, "received": s.stats.frames_received, "repaired": s.stats.repaired,
        "duplicates": s.stats.duplicates, "clock_held": s.stats.clock_held, "pauses": s.stats.pauses,
        "own_echoes": s.stats.own_echoes,
        "impersonations": s.stats.impersonations,
        "conflicts": s.stats.conflicts,
        "dropped": s.stats.dropped})
}

impl Printer {
    fn new(json: bool) -> Self {
        Self::to(json, Box::new(std::io::BufWriter::with_capacity(64 << 10, std::io::stdout())))
    }

    fn to(json: bool, out: Box<dyn Write + Send>) -> Self {
        Printer { json, seen: std::sync::Mutex::default(), out: std::sync::Mutex::new(out) }
    }

    /// After a lag: print the messages the core holds that never reached the screen, in log
    /// order, and the settled mark they came with.
    fn resync(&self, seen: &mut Seen, r: &net::Resync) {
        let mut recovered = 0;
        for e in &r.entries {
            if seen.printed.first().is_some_and(|k| e.key() < *k) && seen.printed.len() >= MAX_PRINTED {
                continue; // older than anything remembered: printed long ago
            }
            if seen.remember(e.key()) {
                recovered += 1;
                let own = Some(e.node) == seen.me && e.bare_from.is_none();
                self.print(&Line::Message(Message::new(e, own, e.ts < r.settled)));
            }
        }
        self.print(&Line::Resync { recovered, messages: r.entries.len() });
        // Only what settled since the last mark printed, once.
        if r.settled > seen.settled {
            let count = r.entries.iter().filter(|e| e.ts >= seen.settled && e.ts < r.settled).count();
            seen.settled = r.settled;
            self.print(&Line::Settled { upto: r.settled.to_rfc3339(), count });
        }
    }

    /// One line, as JSON or for people.
    fn print(&self, line: &Line) {
        if self.json {
            // Straight into the buffered output: no string of its own for each line.
            let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if serde_json::to_writer(&mut *out, line).is_ok() {
                let _ = out.write_all(b"\n");
            }
        } else if line.for_people() {
            self.line(&format!("{}: {line}", human_time(line, &ctime_now())));
        }
    }

    fn line(&self, text: &str) {
        // A closed stdout (the reader went away) is not worth dying for; the node runs on.
        let _ = writeln!(self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner), "{text}");
    }

    /// Sends what was printed on to the reader.
    fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner).flush();
    }

    fn event(&self, ev: &NetEvent) {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match ev {
            NetEvent::Ready(r) => seen.me = Some(r.node),
            // A message the core had already queued when the screen fell behind comes once in
            // the resync and once more as its own event: it is printed once.
            NetEvent::Core(Event::Message { entry, .. }) if !seen.remember(entry.key()) => return,
            NetEvent::Core(Event::Shared { entry, .. }) if seen.shared.is_some_and(|k| entry.rank() <= k) => return,
            NetEvent::Core(Event::Shared { entry, .. }) => seen.shared = Some(entry.rank()),
            NetEvent::Core(Event::Settled { upto, .. }) if *upto <= seen.settled => return,
            NetEvent::Core(Event::Settled { upto, .. }) => seen.settled = *upto,
            NetEvent::Resync(r) => return self.resync(&mut seen, r),
            _ => {}
        }
        if let Some(line) = Line::of(ev) {
            self.print(&line);
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
        let name = crate::show::clean(&s.name, false);
        self.line(&format!("state: {name} ({}){} shared: {shared}", s.node.short(), clock(s.skew_ms)));
        let peers = s.peers.iter().filter(|p| p.status.is_member() && p.vouched).map(|p| (p.name.as_str(), p.skew_ms));
        if let Some(note) = crate::show::clock_note(s.skew_ms, s.clock, peers, false) {
            self.line(&format!("  clock: {}", crate::show::clean(&note, false)));
        }
        for p in &s.peers {
            self.line(&format!(
                "  {:<8} {} ({}) {} loss {:.0}%{}",
                p.status.as_str(),
                crate::show::clean(&p.name, false),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Incarnation, Neighbours, Seq};
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn entry(seq: u64, text: &str) -> proto::Entry {
        proto::Entry {
            ts: Hlc(1_000 << 32 | seq << 8),
            node: NodeId(5),
            incarnation: Incarnation(1),
            seq: Seq(seq),
            name: "bob".into(),
            text: text.into(),
            bare_from: None,
            over: None,
        }
    }

    #[test]
    fn a_message_the_resync_brought_is_printed_once_when_its_own_event_follows() {
        let sink = Sink::default();
        let p = Printer::to(true, Box::new(sink.clone()));
        let say = |e: proto::Entry| NetEvent::Core(Event::Message { entry: e, own: false, settled: false });
        let shared = |e: proto::Entry| NetEvent::Core(Event::Shared { entry: e, settled: false });
        let settled = |upto: Hlc, count: usize| NetEvent::Core(Event::Settled { upto, count });
        let mark = |seq: u64| Hlc(entry(seq, "").ts.0 + 1);
        p.event(&say(entry(1, "one")));
        p.event(&shared(entry(1, "one")));
        p.event(&settled(mark(1), 1));
        // Events for 2 were dropped; the core had already queued those for 3 when the resync
        // was taken, so they follow it.
        let resync = net::Resync {
            entries: vec![entry(1, "one"), entry(2, "two"), entry(3, "three")],
            settled: mark(2),
            shared: Some(entry(3, "three")),
            peers: Vec::new(),
            ring: Neighbours::default(),
            skew_ms: 0,
            dropped: 4,
        };
        p.event(&NetEvent::Lagged(4));
        p.event(&NetEvent::Resync(Box::new(resync)));
        p.event(&say(entry(3, "three")));
        p.event(&shared(entry(3, "three")));
        p.event(&shared(entry(1, "one")));
        p.event(&settled(mark(2), 1));
        // Written over "three" by a clock behind it: stamped before it, and shared after it.
        let mut over = entry(2, "over three");
        over.over = entry(3, "").over_for(over.ts, over.node);
        p.event(&shared(over));
        p.flush();
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let count = |kind: &str, text: &str| {
            out.lines()
                .filter(|l| l.contains(&format!(r#""event":"{kind}""#)) && l.contains(&format!(r#""text":"{text}""#)))
                .count()
        };
        assert_eq!((count("message", "one"), count("message", "two"), count("message", "three")), (1, 1, 1), "{out}");
        assert_eq!((count("shared", "one"), count("shared", "three")), (1, 1), "no older shared after a newer: {out}");
        assert_eq!(count("shared", "over three"), 1, "one written over it is newer: {out}");
        // Settled: 1 before the lag, 2 by the resync; the core's own report of 2 is not repeated,
        // and the counts add up to the messages settled.
        let settled: Vec<u64> = out
            .lines()
            .filter(|l| l.contains(r#""event":"settled""#))
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["count"].as_u64().unwrap())
            .collect();
        assert_eq!(settled, [1, 1], "{out}");
    }
}
