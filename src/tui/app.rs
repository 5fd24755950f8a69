//! The TUI's model and `update()`: everything the screen shows, changed only by messages.
//! Nothing here draws or does I/O; actions for the network task are returned to the caller.
//!
//! The model is four parts, each with its own file and its own state: the compose box
//! (`Composer`), the messages pane (`MessagePane`), the peers pane (`PeerPane`) and what the node
//! says about itself (`NodeStatus`); here are the few things they share (the clocks, the
//! screen's size, the user's switches) and the routing of every message to the part it changes.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::FixedOffset;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::command::{self, Slash, Typed};
use super::composer::Composer;
use super::messages::{LineKind, LogLine, MessagePane, SystemKind};
use super::peers::{Alone, PeerPane};
use super::status::NodeStatus;
use crate::history::Kept;
use crate::net::{NetEvent, Resync};
use crate::proto::{
    self, ClockCause, Command, DownReason, DownVia, Entry, Event, Neighbours, NodeId, Now, Stats, Status, Time,
};

/// Rows the mouse wheel scrolls.
const WHEEL: usize = 3;

/// What changes the model: input, network news and time.
#[derive(Debug)]
pub enum Msg {
    /// A key, mouse, paste or resize from the terminal.
    Terminal(TermEvent),
    /// Something from the network task.
    Net(NetEvent),
    /// The slow clock tick: ages on screen, lingering peers.
    Tick(Now),
    /// The network task refused a command (or a file could not be written).
    Failed(String),
    /// Something asked of the loop was done (a file saved).
    Saved(String),
}

/// What `update` asks of the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this command to the node.
    Send(Command),
    /// Leave the group and close the TUI.
    Quit,
    /// Take the mouse (wheel scrolling) or leave it to the terminal (selecting text).
    Mouse(bool),
    /// Ring the terminal's bell (your name was mentioned, and `/bell` is on).
    Bell,
    /// Write these lines (JSON, one per line) to the file; say how it went.
    Save(std::path::PathBuf, String),
}

/// Switches the user flips in the TUI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefs {
    /// The screen has the mouse (wheel scrolls); off, the terminal selects text (F2).
    pub mouse: bool,
    /// Ring the bell when a message mentions this node's name (`/bell` toggles).
    pub bell: bool,
    /// Colours on screen (`--colours off`, `colours = "off"` in the config file, or `NO_COLOR`:
    /// the terminal's own colours only).
    pub colours: bool,
}

/// Everything the screen shows.
pub struct App {
    /// The compose box.
    pub composer: Composer,
    /// The messages pane.
    pub messages: MessagePane,
    /// The peers pane.
    pub peers: PeerPane,
    /// What the node says about itself and the group.
    pub node: NodeStatus,
    /// What the user switched on or off here.
    pub prefs: Prefs,
    /// The help (F1) is open, scrolled past this many rows (on a screen too short for all of it).
    help: Option<usize>,
    /// A mention arrived since the loop last looked: ring once.
    bell_due: bool,
    /// The monotonic clock, for ages on screen.
    now: Time,
    /// The wall clock (time since the UNIX epoch): group time before the node first reports it.
    wall: Duration,
    /// The viewer's time zone, fixed at start so rendering reads nothing but the model.
    tz: FixedOffset,
    /// Terminal size, for paging.
    size: (u16, u16),
}

impl App {
    /// An empty screen at `now`, in the time zone `tz`, on a terminal of `size`.
    pub fn new(now: Now, tz: FixedOffset, size: (u16, u16)) -> Self {
        App {
            composer: Composer::default(),
            messages: MessagePane::default(),
            peers: PeerPane::default(),
            node: NodeStatus::default(),
            prefs: Prefs { mouse: true, bell: false, colours: true },
            help: None,
            bell_due: false,
            now: now.mono,
            wall: now.wall,
            tz,
            size,
        }
    }

    /// `--history`: the messages kept from earlier runs go on the screen, with a line saying
    /// where they came from; from now on every message shown is handed to the file too.
    pub fn kept_earlier(&mut self, earlier: &[Kept], from: &std::path::Path, note: Option<String>, keeping: bool) {
        for k in earlier {
            let (node, author, bare) = (k.key.1, k.author.clone(), k.bare);
            let own = false; // this run's id is new: earlier lines of ours are shown as anyone's
            let kind = LineKind::Chat { node, author, own, bare };
            self.messages.insert(LogLine { key: k.key, kind, text: k.text.clone() });
        }
        if keeping {
            self.messages.keep_from_now();
        }
        let text = match (earlier.is_empty(), keeping) {
            (true, _) => format!("keeping the conversation in {}", from.display()),
            (false, true) => {
                format!("{} earlier messages from {}; new ones are kept there too", earlier.len(), from.display())
            }
            (false, false) => format!("{} earlier messages from {}", earlier.len(), from.display()),
        };
        self.system(SystemKind::Info, text);
        if let Some(note) = note {
            self.system(SystemKind::Error, note);
        }
    }

    /// The monotonic clock as of the last tick.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The viewer's time zone.
    pub fn tz(&self) -> FixedOffset {
        self.tz
    }

    /// Whether the help is open.
    pub fn help_open(&self) -> bool {
        self.help.is_some()
    }

    /// Help rows scrolled past.
    pub fn help_scroll(&self) -> usize {
        self.help.unwrap_or(0)
    }

    /// Group time now (see `NodeStatus::group_now`).
    pub fn group_now(&self) -> Duration {
        self.node.group_now(self.now, self.wall)
    }

    /// Whether two or more live members (this node among them) go by `name` now: the screens
    /// then tell them apart by a short id after the name.
    pub fn twin(&self, name: &str) -> bool {
        let mine = self.node.me().is_some_and(|m| m.name == name);
        let others = self.peers.rows().values().filter(|p| p.status.is_member() && p.name == name).count();
        others + usize::from(mine) >= 2
    }

    /// A name as the screens show it for `node`: with a short id after it if it has a twin.
    pub fn shown_name(&self, name: &str, node: crate::proto::NodeId) -> String {
        if self.twin(name) { format!("{name}#{}", &node.short()[..4]) } else { name.to_string() }
    }

    /// Whether a chat line from someone else names this node's user (as a word, any case,
    /// with or without `@`).
    pub fn mentions_me(&self, l: &LogLine) -> bool {
        let LineKind::Chat { own: false, .. } = l.kind else { return false };
        // Any name we have had: a reply to our old name is still to us.
        self.node.names().iter().any(|name| mentions(&l.text, name))
    }

    /// After `ALONE_AFTER` with no other member, why that may be (see `PeerPane::nobody_here`).
    pub fn nobody_here(&self) -> Option<Alone> {
        self.peers.nobody_here(self.node.stats(), self.now)
    }

    /// Rows a page scroll moves: about the height of the messages pane.
    fn page(&self) -> usize {
        usize::from(self.size.1).saturating_sub(12).max(1)
    }

    fn system(&mut self, kind: SystemKind, text: String) {
        let at = self.group_now();
        self.messages.system(kind, text, at);
    }

    fn track_alone(&mut self) {
        self.peers.track_alone(self.node.me().is_some(), self.node.stats(), self.now);
    }
}

/// Applies one message to the model; returns what the caller must do, if anything.
pub fn update(app: &mut App, msg: Msg) -> Option<Action> {
    match msg {
        Msg::Terminal(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => key(app, k),
        Msg::Terminal(TermEvent::Mouse(m)) => {
            match m.kind {
                MouseEventKind::ScrollUp => app.messages.scroll_up(WHEEL),
                MouseEventKind::ScrollDown => app.messages.scroll_down(WHEEL, app.page()),
                _ => {}
            }
            None
        }
        Msg::Terminal(TermEvent::Resize(w, h)) => {
            app.size = (w, h);
            None
        }
        Msg::Terminal(TermEvent::Paste(text)) => {
            // One paste is one edit: its lines stay together and go out as one message.
            app.composer.paste(&text);
            None
        }
        Msg::Terminal(_) => None,
        Msg::Net(ev) => {
            net(app, ev);
            app.track_alone();
            std::mem::take(&mut app.bell_due).then_some(Action::Bell)
        }
        Msg::Tick(reading) => {
            app.now = reading.mono;
            app.wall = reading.wall;
            app.peers.linger(app.now);
            app.track_alone();
            None
        }
        Msg::Failed(e) => {
            app.system(SystemKind::Error, e);
            None
        }
        Msg::Saved(text) => {
            app.system(SystemKind::Info, text);
            None
        }
    }
}

/// `name` appears in `text` as a word of its own (any case; `@name` counts).
pub fn mentions(text: &str, name: &str) -> bool {
    let name = name.trim();
    if name.is_empty() {
        return false;
    }
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    text.match_indices(&name)
        .any(|(i, _)| !word(text[..i].chars().next_back()) && !word(text[i + name.len()..].chars().next()))
}

fn key(app: &mut App, k: KeyEvent) -> Option<Action> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && k.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if let Some(scroll) = app.help {
        // As far as the last row at the bottom of the help on this screen.
        let last = super::help::last_scroll(app.size);
        app.help = match k.code {
            KeyCode::Esc | KeyCode::F(1) | KeyCode::Enter | KeyCode::Char('q') => None,
            KeyCode::Up => Some(scroll.saturating_sub(1)),
            KeyCode::Down => Some((scroll + 1).min(last)),
            KeyCode::PageUp => Some(scroll.saturating_sub(10)),
            KeyCode::PageDown => Some((scroll + 10).min(last)),
            _ => Some(scroll),
        };
        return None;
    }
    if app.messages.search().is_some() {
        app.messages.search_key(k);
        return None;
    }
    if ctrl && k.code == KeyCode::Char('f') {
        app.messages.start_search();
        return None;
    }
    let empty = app.composer.value().is_empty();
    if k.code != KeyCode::Tab {
        app.composer.end_completion();
    }
    match k.code {
        KeyCode::Tab => {
            let peers = &app.peers;
            app.composer.complete(|word| peers.names_starting(word));
        }
        KeyCode::F(1) => app.help = Some(0),
        KeyCode::F(2) => {
            app.prefs.mouse = !app.prefs.mouse;
            let text = if app.prefs.mouse {
                "the mouse wheel scrolls again (F2 leaves the mouse to the terminal, to select text)"
            } else {
                "the terminal has the mouse: drag to select text; F2 takes it back for the wheel"
            };
            app.system(SystemKind::Info, text.to_string());
            return Some(Action::Mouse(app.prefs.mouse));
        }
        KeyCode::Esc => {
            app.composer.clear_error();
            app.messages.follow();
        }
        KeyCode::Enter => return submit(app),
        KeyCode::Up => app.composer.walk(true),
        KeyCode::Down => app.composer.walk(false),
        KeyCode::PageUp => app.messages.scroll_up(app.page()),
        KeyCode::PageDown => app.messages.scroll_down(app.page(), app.page()),
        KeyCode::Home if ctrl || empty => app.messages.scroll_to_top(),
        KeyCode::End if ctrl || empty => app.messages.follow(),
        _ => app.composer.edit(k),
    }
    None
}

/// What `/drops` says: every datagram or frame refused so far, by reason, the commonest first
/// (the reasons are `/state`'s in `groupcast node`, listed in the README).
fn drops_line(stats: &Stats) -> String {
    let total = stats.dropped_total();
    if total == 0 {
        return "nothing refused so far".to_string();
    }
    // (A reason is in the table only once something was refused for it.)
    let mut by: Vec<_> = stats.dropped.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let each: Vec<String> = by.iter().map(|(r, n)| format!("{r} {n}")).collect();
    format!("refused {total} so far: {}", each.join(", "))
}

/// Enter: the line is parsed, then sent or run. Anything refused stays on the box for editing,
/// with the refusal shown on it; what went out or ran is remembered for Up.
fn submit(app: &mut App) -> Option<Action> {
    let line = app.composer.value().to_string();
    let typed = match command::parse(&line) {
        Ok(typed) => typed,
        Err(why) => {
            app.composer.refuse(why);
            return None;
        }
    };
    let (said, remembered) = match typed {
        Typed::Blank => {
            app.composer.reset();
            return None;
        }
        Typed::Say(text) => (text.clone(), text),
        Typed::Command(Slash::Me(action)) => (format!("/me {action}"), line),
        Typed::Command(slash) => {
            let action = run(app, slash);
            app.composer.sent_line(line);
            return action;
        }
    };
    // Nothing is sent and nothing typed is lost if it cannot go out.
    if let Err(e) = proto::check_message(app.node.my_name(), &said) {
        app.composer.refuse(e.to_string());
        return None;
    }
    app.composer.sent_line(remembered);
    app.messages.follow();
    Some(Action::Send(Command::Say(said)))
}

/// Runs a slash command (other than `/me`, which is a message).
fn run(app: &mut App, slash: Slash) -> Option<Action> {
    match slash {
        Slash::Help => app.help = Some(0),
        Slash::Clear => app.messages.clear(),
        Slash::Quit => return Some(Action::Quit),
        Slash::Drops => {
            let text = drops_line(app.node.stats());
            app.system(SystemKind::Info, text);
        }
        Slash::Bell => {
            app.prefs.bell = !app.prefs.bell;
            let text = if app.prefs.bell {
                "the bell rings when a message names you (/bell again: off)"
            } else {
                "no bell for messages that name you"
            };
            app.system(SystemKind::Info, text.to_string());
        }
        Slash::Save(path) => {
            let path = command::save_path(&path, std::env::var_os("HOME"));
            return Some(Action::Save(path, app.messages.chat_jsonl()));
        }
        Slash::Name(name) => {
            app.node.renamed(name.as_ref());
            app.system(SystemKind::Info, format!("you are now {name}"));
            return Some(Action::Send(Command::Rename(name)));
        }
        Slash::Me(action) => return Some(Action::Send(Command::Say(format!("/me {action}")))),
    }
    None
}

fn net(app: &mut App, ev: NetEvent) {
    match ev {
        NetEvent::Ready(r) => {
            let sealed =
                r.key.as_ref().map_or_else(|| "an open group".to_string(), |k| format!("a keyed group (key {k})"));
            let text = format!("joined {} via {} as {} ({}), {sealed}", r.group, r.iface, r.name, r.node.short());
            app.node.ready(r);
            app.system(SystemKind::Info, text);
        }
        NetEvent::Status { peers, stats } => {
            app.peers.merge(&peers, app.now);
            app.node.counters(stats);
        }
        NetEvent::Lagged(n) => app.node.lag(n),
        NetEvent::Resync(r) => resync(app, *r),
        NetEvent::GroupTime { time, mono, basis } => app.node.group_time(time, mono, basis),
        NetEvent::SendFailed(e) => app.system(SystemKind::Error, format!("cannot send: {e}")),
        NetEvent::Core(ev) => core_event(app, ev),
    }
}

fn core_event(app: &mut App, ev: Event) {
    let now = app.now;
    match ev {
        Event::PeerUp { node, name, addr } => peer_up(app, node, &name, addr),
        Event::PeerSuspect { node, .. } => app.peers.set_status(node, Status::Suspect),
        Event::PeerAlive { node, .. } => app.peers.set_status(node, Status::Alive),
        Event::PeerDown { node, name, reason, via } => {
            let (status, text) = match reason {
                DownReason::Left => (Status::Left, format!("{name} left")),
                // The reason is the one its ring neighbour found and put in its notice, so it
                // reads the same on every node; only a notice from a node too old to say why
                // comes without one.
                DownReason::Timeout if via == DownVia::Notice => {
                    (Status::Down, format!("{name} is down (its ring neighbour lost it)"))
                }
                DownReason::Timeout => (Status::Down, format!("{name} is down (no heartbeat)")),
                DownReason::Restarted => (Status::Down, format!("{name} restarted")),
                DownReason::Crashed => (Status::Down, format!("{name} is down (crashed: its process is gone)")),
                DownReason::Silent => (Status::Down, format!("{name} is down (stopped answering: frozen or cut off)")),
            };
            app.peers.gone(node, status, now);
            let kind = if status == Status::Left { SystemKind::Leave } else { SystemKind::Down };
            app.system(kind, text);
        }
        Event::PeerRemoved { node } => app.peers.remove(node),
        Event::PeerRenamed { node, old, new } => {
            app.peers.rename(node, &new);
            app.system(SystemKind::Info, format!("{old} is now {new}"));
        }
        Event::Message { entry, own, settled } => {
            let named = !own && app.prefs.bell && app.node.names().iter().any(|n| mentions(&entry.text, n));
            chat_line(app, &entry, own, settled);
            app.bell_due |= named;
        }
        Event::Shared { entry, settled } => {
            app.node.share(entry, settled);
            others_hold(app);
        }
        Event::Settled { upto, .. } => {
            app.node.settle(upto);
            others_hold(app);
        }
        Event::Ring { prev, next } => app.node.set_ring(Neighbours { prev, next }),
        Event::Gap { node, from, to } => {
            let who = app.peers.name_of(node);
            let which = if from == to {
                format!("message {} from {who} was", from.0)
            } else {
                format!("messages {} to {} from {who} were", from.0, to.0)
            };
            app.system(SystemKind::Error, format!("{which} lost: never received here"));
        }
        Event::Rejected { .. } => {} // counted in the header from the status counters
        Event::Conflict { held, other } => app.system(
            SystemKind::Error,
            format!(
                "two versions of message {} from {} were sent, {:?} and {:?}: one is forged; both are kept",
                other.seq.0,
                other.author(),
                held.text,
                other.text
            ),
        ),
        Event::Impersonated { addr } => app.system(
            SystemKind::Error,
            format!(
                "someone {} sends messages in your name; started a new life so your messages still reach everyone",
                addr.map_or_else(|| "(a peer passed one on)".to_string(), |a| format!("at {a}"))
            ),
        ),
        Event::Clock { skew_ms, cause } => clock_event(app, skew_ms, cause),
    }
}

fn peer_up(app: &mut App, node: NodeId, name: &str, addr: SocketAddr) {
    let back = app.peers.up(node, name.to_string(), addr, app.now);
    let text = if back { format!("{name} is back") } else { format!("{name} joined from {addr}") };
    app.system(SystemKind::Join, text);
}

/// How this node keeps group time changed: the header's mark, this screen's own lines, and a
/// line that says why.
fn clock_event(app: &mut App, skew_ms: i64, cause: ClockCause) {
    app.node.skew(skew_ms);
    if let ClockCause::Group { by_ms } = cause {
        // Lines this screen stamped with the old group time move with it.
        app.node.regroup(by_ms);
        app.messages.regroup(by_ms);
    }
    let text = match cause {
        ClockCause::Step { by_ms } => format!(
            "this host's clock stepped {}; group time runs on (clock now {} off)",
            crate::show::skew_text(by_ms),
            crate::show::skew_text(skew_ms)
        ),
        ClockCause::Group { .. } => format!(
            "this host's clock is {} off the group's: times shown are group time",
            crate::show::skew_text(skew_ms)
        ),
    };
    app.system(SystemKind::Error, text);
}

/// A chat message for the log, unless it is on screen already.
fn chat_line(app: &mut App, entry: &Entry, own: bool, settled: bool) {
    // A message the core had already queued when the screen fell behind comes once in the
    // resync and once more as its own event: it is shown once.
    if app.messages.has_chat(entry.key()) {
        return;
    }
    // A message that arrives already settled (a late joiner's backlog) moves the mark past it:
    // the node's mark is later than its stamp.
    if settled {
        app.node.settle_past(entry.ts);
        others_hold(app);
    }
    app.messages.chat(entry, own);
}

/// The settled mark moved: if another member is live, what it passed is held elsewhere too.
fn others_hold(app: &mut App) {
    if app.peers.alive() > 0 {
        let upto = app.node.settled();
        app.node.others_hold(upto);
    }
}

/// Rebuilds the view from the core after the screen fell behind: every message the core holds
/// is on screen (each once), with the marks and peers as the core has them.
fn resync(app: &mut App, r: Resync) {
    let me = app.node.me().map(|m| m.node);
    for e in r.entries {
        if app.messages.has(e.key()) {
            continue;
        }
        let own = Some(e.node) == me && e.bare_from.is_none();
        core_event(app, Event::Message { entry: e, own, settled: false });
    }
    app.node.settle(r.settled);
    others_hold(app);
    app.node.share_if_newer(r.shared);
    app.node.set_ring(r.ring);
    app.node.skew(r.skew_ms);
    app.peers.merge(&r.peers, app.now);
    app.system(SystemKind::Info, format!("caught up after the screen fell behind ({} events)", r.dropped));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Ready;
    use crate::proto::{ClockBasis, Hlc, Incarnation, PeerView, Seq};
    use ratatui::crossterm::event::{KeyEventState, MouseEvent};

    const T0: u64 = 1_795_000_000_000;

    fn t(ms: u64) -> Time {
        Time::from_millis(T0 + ms)
    }

    fn press(code: KeyCode) -> Msg {
        Msg::Terminal(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn ctrl(c: char) -> Msg {
        Msg::Terminal(TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)))
    }

    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            update(app, press(KeyCode::Char(c)));
        }
    }

    fn app() -> App {
        app_at(Now::synced(t(0)), None)
    }

    /// A joined app at `now`, told the node's group time first if `group` is given.
    fn app_at(now: Now, group: Option<Hlc>) -> App {
        let mut a = App::new(now, FixedOffset::east_opt(0).unwrap(), (80, 24));
        if let Some(time) = group {
            update(&mut a, Msg::Net(NetEvent::GroupTime { time, mono: now.mono, basis: ClockBasis::Own }));
        }
        let ready = Ready {
            node: NodeId(0xaaaa),
            name: "me".into(),
            group: "225.0.0.37:12345".parse().unwrap(),
            iface: "10.0.0.1".into(),
            key: None,
        };
        update(&mut a, Msg::Net(NetEvent::Ready(ready)));
        a
    }

    fn message(app: &mut App, ms: u64, node: u64, text: &str) {
        let entry = Entry {
            ts: Hlc::from_unix(t(ms).0),
            node: NodeId(node),
            incarnation: Incarnation(1),
            seq: Seq(ms),
            name: format!("n{node}").into(),
            text: text.into(),
            bare_from: None,
            over: None,
        };
        update(app, Msg::Net(NetEvent::Core(Event::Message { entry, own: false, settled: false })));
    }

    fn texts(app: &App) -> Vec<&str> {
        app.messages.lines().iter().map(|l| &*l.text).collect()
    }

    #[test]
    fn system_lines_take_group_time_even_when_this_hosts_clock_is_off() {
        // This host's wall clock is ten minutes ahead; the node starts with it as group time.
        let ahead = Duration::from_millis(T0 + 600_000);
        let mut a = app_at(Now { mono: t(0), wall: ahead }, Some(Hlc::from_unix(ahead)));
        // It hears the group and follows its time; then a peer speaks at true time.
        let clock = Event::Clock { skew_ms: 600_000, cause: ClockCause::Group { by_ms: -600_000 } };
        update(&mut a, Msg::Net(NetEvent::Core(clock)));
        message(&mut a, 2_000, 2, "hello at true time");
        let order = texts(&a);
        assert_eq!(order.last(), Some(&"hello at true time"), "no line stuck ten minutes ahead: {order:?}");
        assert!(a.messages.lines().iter().all(|l| l.at().to_unix() < Duration::from_millis(T0 + 5_000)), "{order:?}");
        // A step of the wall clock changes nothing: lines follow the node's group time.
        update(&mut a, Msg::Tick(Now { mono: t(3_000), wall: Duration::from_millis(T0 + 3_603_000) }));
        let step = Event::Clock { skew_ms: 3_600_000, cause: ClockCause::Step { by_ms: 3_000_000 } };
        update(&mut a, Msg::Net(NetEvent::Core(step)));
        let last = a.messages.lines().back().unwrap();
        assert!(last.text.contains("stepped"), "{:?}", texts(&a));
        assert!(last.at().to_unix() < Duration::from_millis(T0 + 5_000), "the step line sits at now, not an hour off");
    }

    #[test]
    fn a_mention_of_a_name_we_had_is_still_ours() {
        let mut a = app();
        typed(&mut a, "/name dave");
        update(&mut a, press(KeyCode::Enter));
        message(&mut a, 1_000, 2, "me: are you there?");
        message(&mut a, 1_100, 2, "dave: and now?");
        message(&mut a, 1_200, 2, "nobody in particular");
        let marked: Vec<bool> = a
            .messages
            .lines()
            .iter()
            .filter(|l| l.text.contains('?') || l.text.starts_with("nobody"))
            .map(|l| a.mentions_me(l))
            .collect();
        assert_eq!(marked, [true, true, false], "the old name, the new one, neither");
    }

    #[test]
    fn a_restarted_member_takes_its_old_row_at_once() {
        let mut a = app();
        let addr = |port| SocketAddr::from(([10, 231, 0, 5], port));
        let core = |e| Msg::Net(NetEvent::Core(e));
        for life in 1..=3u64 {
            update(&mut a, core(Event::PeerUp { node: NodeId(life), name: "alice".into(), addr: addr(12345) }));
            let down = Event::PeerDown {
                node: NodeId(life),
                name: "alice".into(),
                reason: DownReason::Left,
                via: crate::proto::DownVia::Leave,
            };
            update(&mut a, core(down));
        }
        update(&mut a, core(Event::PeerUp { node: NodeId(9), name: "alice".into(), addr: addr(12345) }));
        // Another alice on another host is someone else: her row stays while it lingers.
        update(
            &mut a,
            core(Event::PeerUp { node: NodeId(7), name: "alice".into(), addr: "10.231.0.6:12345".parse().unwrap() }),
        );
        update(
            &mut a,
            core(Event::PeerDown {
                node: NodeId(7),
                name: "alice".into(),
                reason: DownReason::Left,
                via: crate::proto::DownVia::Leave,
            }),
        );
        let rows: Vec<(NodeId, bool)> = a.peers.rows().values().map(|p| (p.node, p.status.is_member())).collect();
        assert_eq!(rows, [(NodeId(7), false), (NodeId(9), true)], "one row for the restarted alice");
    }

    #[test]
    fn enter_sends_the_line_and_clears_it() {
        let mut a = app();
        typed(&mut a, "hello 世界");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), Some(Action::Send(Command::Say("hello 世界".into()))));
        assert_eq!(a.composer.value(), "");
        assert_eq!(*a.composer.sent(), ["hello 世界"]);
    }

    #[test]
    fn an_empty_line_sends_nothing() {
        let mut a = app();
        typed(&mut a, "   ");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None);
        assert!(a.composer.sent().is_empty());
    }

    #[test]
    fn too_long_shows_an_error_and_keeps_the_text() {
        let mut a = app();
        let long = "x".repeat(1300);
        typed(&mut a, &long);
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None);
        assert!(a.composer.error().unwrap().contains("fit one datagram"), "{:?}", a.composer.error());
        assert_eq!(a.composer.value(), long, "nothing typed is lost");
        update(&mut a, press(KeyCode::Backspace));
        assert_eq!(a.composer.error(), None, "editing clears the error");
    }

    #[test]
    fn history_walks_back_and_returns_to_the_draft() {
        let mut a = app();
        for s in ["one", "two"] {
            typed(&mut a, s);
            update(&mut a, press(KeyCode::Enter));
        }
        typed(&mut a, "dra");
        update(&mut a, press(KeyCode::Up));
        assert_eq!(a.composer.value(), "two");
        update(&mut a, press(KeyCode::Up));
        update(&mut a, press(KeyCode::Up));
        assert_eq!(a.composer.value(), "one");
        update(&mut a, press(KeyCode::Down));
        assert_eq!(a.composer.value(), "two");
        update(&mut a, press(KeyCode::Down));
        assert_eq!(a.composer.value(), "dra");
    }

    #[test]
    fn word_delete_and_cursor_keys_come_from_the_line_editor() {
        let mut a = app();
        typed(&mut a, "hello big world");
        update(&mut a, ctrl('w'));
        assert_eq!(a.composer.value(), "hello big ");
        update(&mut a, press(KeyCode::Home));
        typed(&mut a, ">");
        assert_eq!(a.composer.value(), ">hello big ");
    }

    #[test]
    fn only_key_presses_count() {
        let mut a = app();
        let mut release = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        release.state = KeyEventState::NONE;
        update(&mut a, Msg::Terminal(TermEvent::Key(release)));
        assert_eq!(a.composer.value(), "");
    }

    #[test]
    fn late_messages_go_in_their_place() {
        let mut a = app();
        message(&mut a, 3000, 2, "third");
        message(&mut a, 1000, 3, "first");
        message(&mut a, 2000, 2, "second");
        let chat: Vec<&str> = texts(&a).into_iter().filter(|t| !t.starts_with("joined")).collect();
        assert_eq!(chat, ["first", "second", "third"]);
    }

    #[test]
    fn scrolled_up_new_messages_do_not_move_the_view() {
        let mut a = app();
        for i in 0..50 {
            message(&mut a, 1000 + i, 2, &format!("m{i}"));
        }
        update(&mut a, press(KeyCode::PageUp));
        let scroll = a.messages.scroll();
        assert!(scroll > 0);
        let bottom = a.messages.lines()[a.messages.lines().len() - 1 - a.messages.scroll()].text.clone();
        message(&mut a, 5000, 2, "new one");
        message(&mut a, 5001, 2, "new two");
        assert_eq!(a.messages.unseen(), 2);
        assert_eq!(
            a.messages.lines()[a.messages.lines().len() - 1 - a.messages.scroll()].text,
            bottom,
            "same line at the bottom of the view"
        );
        update(&mut a, press(KeyCode::End));
        assert_eq!((a.messages.scroll(), a.messages.unseen()), (0, 0));
        let wheel = MouseEvent { kind: MouseEventKind::ScrollUp, column: 0, row: 0, modifiers: KeyModifiers::NONE };
        update(&mut a, Msg::Terminal(TermEvent::Mouse(wheel)));
        assert_eq!(a.messages.scroll(), 3);
    }

    #[test]
    fn the_log_is_bounded() {
        let mut a = app();
        for i in 0..(super::super::messages::MAX_LINES as u64 + 10) {
            message(&mut a, i, 2, "x");
        }
        assert_eq!(a.messages.lines().len(), super::super::messages::MAX_LINES);
        assert_eq!(a.messages.dropped(), 11);
    }

    #[test]
    fn peers_come_go_and_linger() {
        let mut a = app();
        let addr: SocketAddr = "10.0.0.2:12345".parse().unwrap();
        let up = Event::PeerUp { node: NodeId(2), name: "bob".into(), addr };
        update(&mut a, Msg::Net(NetEvent::Core(up)));
        assert_eq!(a.peers.alive(), 1);
        assert!(texts(&a).contains(&"bob joined from 10.0.0.2:12345"));
        let view = PeerView {
            node: NodeId(2),
            name: "bob".into(),
            addr,
            tcp_port: 0,
            status: Status::Alive,
            loss: 0.25,
            last_seen: t(900),
            skew_ms: 0,
            vouched: true,
        };
        update(&mut a, Msg::Net(NetEvent::Status { peers: vec![view], stats: Stats::default() }));
        assert!((a.peers.rows()[&NodeId(2)].loss - 0.25).abs() < 1e-12);
        update(&mut a, Msg::Net(NetEvent::Core(Event::PeerSuspect { node: NodeId(2), name: "bob".into() })));
        assert_eq!(a.peers.rows()[&NodeId(2)].status, Status::Suspect);
        let down = Event::PeerDown {
            node: NodeId(2),
            name: "bob".into(),
            reason: DownReason::Timeout,
            via: DownVia::Heartbeat,
        };
        update(&mut a, Msg::Net(NetEvent::Core(down)));
        assert_eq!(a.peers.rows()[&NodeId(2)].status, Status::Down);
        assert!(texts(&a).contains(&"bob is down (no heartbeat)"));
        // Each way a peer goes down reads by the reason its ring neighbour found, the same
        // whether this node found it itself or heard the notice; a notice of a node too old to
        // give a reason says only that a neighbour lost it.
        for (name, reason, via, says) in [
            ("carol", DownReason::Crashed, DownVia::Notice, "carol is down (crashed: its process is gone)"),
            ("dave", DownReason::Crashed, DownVia::Link, "dave is down (crashed: its process is gone)"),
            ("erin", DownReason::Silent, DownVia::Link, "erin is down (stopped answering: frozen or cut off)"),
            ("fred", DownReason::Silent, DownVia::Notice, "fred is down (stopped answering: frozen or cut off)"),
            ("gail", DownReason::Timeout, DownVia::Notice, "gail is down (its ring neighbour lost it)"),
        ] {
            let down = Event::PeerDown { node: NodeId(9), name: name.into(), reason, via };
            update(&mut a, Msg::Net(NetEvent::Core(down)));
            assert!(texts(&a).contains(&says), "{says:?} in {:?}", texts(&a));
        }
        update(&mut a, Msg::Tick(Now::synced(t(10_000))));
        assert!(a.peers.rows().contains_key(&NodeId(2)), "shown as down for a while");
        update(&mut a, Msg::Tick(Now::synced(t(31_000))));
        assert!(!a.peers.rows().contains_key(&NodeId(2)), "then removed");
    }

    #[test]
    fn drops_says_what_was_refused_by_reason() {
        let mut a = app();
        typed(&mut a, "/drops");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None, "nothing is sent");
        assert!(texts(&a).contains(&"nothing refused so far"), "{:?}", texts(&a));
        let mut stats = Stats::default();
        stats.dropped.insert(proto::DropReason::Truncated, 3);
        stats.dropped.insert(proto::DropReason::WrongAddress, 12);
        stats.dropped.insert(proto::DropReason::RateLimited, 3);
        update(&mut a, Msg::Net(NetEvent::Status { peers: vec![], stats }));
        typed(&mut a, "/drops");
        update(&mut a, press(KeyCode::Enter));
        let want = "refused 18 so far: wrong_address 12, truncated 3, rate_limited 3";
        assert!(texts(&a).contains(&want), "{:?}", texts(&a));
    }

    #[test]
    fn commands() {
        let mut a = app();
        typed(&mut a, "/name alice");
        assert_eq!(
            update(&mut a, press(KeyCode::Enter)),
            Some(Action::Send(Command::Rename(proto::Name::new("alice").unwrap())))
        );
        assert_eq!(a.node.my_name(), "alice");
        typed(&mut a, "/bogus");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None);
        assert!(a.composer.error().is_some());
        assert_eq!(a.composer.value(), "/bogus");
        update(&mut a, ctrl('u'));
        typed(&mut a, "/clear");
        update(&mut a, press(KeyCode::Enter));
        assert!(a.messages.lines().is_empty());
        typed(&mut a, "/help");
        update(&mut a, press(KeyCode::Enter));
        assert!(a.help_open());
        update(&mut a, press(KeyCode::Char('x')));
        assert_eq!(a.composer.value(), "", "keys go to the help while it is open");
        update(&mut a, press(KeyCode::Esc));
        assert!(!a.help_open());
        update(&mut a, press(KeyCode::F(1)));
        assert!(a.help_open());
        update(&mut a, press(KeyCode::F(1)));
        typed(&mut a, "/quit");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), Some(Action::Quit));
        assert_eq!(update(&mut a, ctrl('c')), Some(Action::Quit));
    }
}
