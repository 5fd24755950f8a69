//! The TUI's model and `update()`: everything the screen shows, changed only by messages.
//! Nothing here draws or does I/O; actions for the network task are returned to the caller.

use crate::history::Kept;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::FixedOffset;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use crate::net::{NetEvent, Ready, Resync};
use crate::proto::{
    self, ClockBasis, ClockCause, Command, DownReason, DownVia, Entry, Event, Hlc, Neighbours, NodeId, Now, PeerView,
    Seq, Stats, Status, Time,
};

/// Lines kept in the messages pane: twice the core's default retention (10,000 messages), so
/// everything the log holds can be scrolled back to, with room for system lines.
pub const MAX_LINES: usize = 20_000;
/// Sent lines remembered for Up and Down in the compose box.
pub const MAX_HISTORY: usize = 100;
/// How long a peer that went down or left stays on screen.
pub const LINGER: Duration = Duration::from_secs(30);
/// Rows the mouse wheel scrolls.
const WHEEL: usize = 3;

/// What a system line reports, which sets its mark and colour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SystemKind {
    /// A peer joined or came back.
    Join,
    /// A peer left.
    Leave,
    /// A peer went down or restarted.
    Down,
    /// News about this node or the group.
    Info,
    /// Something went wrong or was lost.
    Error,
}

/// What a line in the messages pane is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// A chat message.
    Chat {
        /// The node that stamped it.
        node: NodeId,
        /// Who to show as the author.
        author: Arc<str>,
        /// This node's user sent it.
        own: bool,
        /// From an old client: `author` is its `IP:port`.
        bare: bool,
    },
    /// A line from the TUI itself about what happened.
    System(SystemKind),
}

/// One line of the messages pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Position: chat lines by (HLC, node, seq) as in the core's log; system lines by local time.
    pub key: (Hlc, NodeId, Seq),
    /// A chat message or a system line.
    pub kind: LineKind,
    /// What it says (a chat line's is the log's own text, not a copy).
    pub text: Arc<str>,
}

impl LogLine {
    /// When it was stamped (for system lines, group time when they were written).
    pub fn at(&self) -> Hlc {
        self.key.0
    }
}

/// One peer in the peers pane.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRow {
    /// The peer.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// The address its datagrams come from.
    pub addr: SocketAddr,
    /// Its ring listener's port: with the address, its place in the ring.
    pub tcp_port: u16,
    /// Alive, suspect, down or left.
    pub status: Status,
    /// When this node last heard from it.
    pub last_seen: Time,
    /// Fraction of its recent frames that never arrived, 0 to 1.
    pub loss: f64,
    /// When it went down or left.
    pub since: Time,
    /// Its wall clock minus group time (see `PeerView::skew_ms`).
    pub skew_ms: i64,
    /// The ring vouches for it (see `PeerView::vouched`).
    pub vouched: bool,
}

impl PeerRow {
    fn from_view(v: &PeerView, now: Time) -> Self {
        PeerRow {
            node: v.node,
            name: v.name.clone(),
            addr: v.addr,
            tcp_port: v.tcp_port,
            status: v.status,
            last_seen: v.last_seen,
            loss: v.loss,
            since: now,
            skew_ms: v.skew_ms,
            vouched: v.vouched,
        }
    }
}

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

/// Everything the screen shows.
pub struct App {
    /// Who this node is and where it joined, once it has.
    pub me: Option<Ready>,
    /// A keyed (sealed) group.
    pub keyed: bool,
    /// The shared message, if there is one.
    pub shared: Option<Entry>,
    /// Messages stamped before this are held by every live member.
    pub settled: Hlc,
    /// This node's ring neighbours.
    pub ring: Neighbours,
    /// The messages pane's lines, in log order.
    pub lines: VecDeque<LogLine>,
    /// Lines dropped off the top of the pane.
    pub lines_dropped: u64,
    /// The peers pane's rows, by node id.
    pub peers: BTreeMap<NodeId, PeerRow>,
    /// The node's counters, from its latest status report.
    pub stats: Stats,
    /// Events the network task dropped because the screen fell behind.
    pub lagged: u64,
    /// Lines hidden below the view: 0 follows new messages.
    pub scroll: usize,
    /// Lines that arrived below the view while scrolled up.
    pub unseen: usize,
    /// The compose box.
    pub input: Input,
    /// Lines sent, oldest first, for Up and Down.
    pub history: VecDeque<String>,
    history_pos: Option<usize>,
    draft: String,
    /// A refusal shown on the compose box until the next edit.
    pub error: Option<String>,
    /// The help (F1) is open.
    pub help: bool,
    /// Help rows scrolled past (on a screen too short for all of it).
    pub help_scroll: usize,
    /// What the user switched on or off here.
    pub prefs: Prefs,
    /// Searching the messages (Ctrl-F), if under way.
    pub search: Option<Search>,
    /// A mention arrived since the loop last looked: ring once.
    bell_due: bool,
    /// Tab completion under way: the word's start, the candidates, the one shown.
    tab: Option<(usize, Vec<String>, usize)>,
    /// The monotonic clock, for ages on screen.
    pub now: Time,
    /// The wall clock (time since the UNIX epoch): group time before the node first reports it.
    pub wall: Duration,
    /// This host's wall clock minus group time, as the node reports it.
    pub skew_ms: i64,
    /// What group time rests on, as the node reports it.
    pub clock: ClockBasis,
    /// The node's group time at a monotonic instant: the time of the screen's own lines.
    group_anchor: Option<(Hlc, Time)>,
    /// The viewer's time zone, fixed at start so rendering reads nothing but the model.
    pub tz: FixedOffset,
    /// Terminal size, for paging.
    pub size: (u16, u16),
    sys_seq: u64,
    /// Since when no other member has been listed, and the ring links refused by then (a
    /// peer dialling us heard us, though we did not hear it).
    alone: Option<(Time, u64)>,
    /// With `--history`: messages shown since the loop last took them, for the file.
    pub to_keep: Option<Vec<Kept>>,
}

/// A search of the messages: what is sought, and the line shown (an index into `lines`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    /// The text sought (any case), in the author's name or the line.
    pub query: String,
    /// The matching line shown, if any matches.
    pub hit: Option<usize>,
    /// How many lines match.
    pub matches: usize,
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

/// No peer for a while: what the screen says about it (see `App::nobody_here`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alone {
    /// Nothing heard, not even this node's own datagrams: something here drops the group's port.
    DeafHere,
    /// Peers dial this node's ring port (so they hear it), but none of their multicast arrives.
    InboundBlocked,
    /// Datagrams sealed with a key this node does not have (or another key): a keyed group.
    KeyedGroup,
    /// Simply nobody heard: the usual causes, and the doctor.
    Nobody,
}

/// How long the screen waits, alone, before it says so.
pub const ALONE_AFTER: Duration = Duration::from_secs(10);

impl App {
    /// An empty screen at `now`, in the time zone `tz`, on a terminal of `size`.
    pub fn new(now: Now, tz: FixedOffset, size: (u16, u16)) -> Self {
        App {
            me: None,
            keyed: false,
            shared: None,
            settled: Hlc(0),
            ring: Neighbours::default(),
            lines: VecDeque::new(),
            lines_dropped: 0,
            peers: BTreeMap::new(),
            stats: Stats::default(),
            lagged: 0,
            scroll: 0,
            unseen: 0,
            input: Input::default(),
            history: VecDeque::new(),
            history_pos: None,
            draft: String::new(),
            error: None,
            help: false,
            help_scroll: 0,
            prefs: Prefs { mouse: true, bell: false, colours: true },
            search: None,
            bell_due: false,
            tab: None,
            now: now.mono,
            wall: now.wall,
            skew_ms: 0,
            clock: ClockBasis::Own,
            group_anchor: None,
            tz,
            size,
            sys_seq: 0,
            alone: None,
            to_keep: None,
        }
    }

    /// `--history`: the messages kept from earlier runs go on the screen, with a line saying
    /// where they came from; from now on every message shown is handed to the file too.
    pub fn kept_earlier(&mut self, earlier: &[Kept], from: &std::path::Path, note: Option<String>, keeping: bool) {
        for k in earlier {
            let (node, author, bare) = (k.key.1, k.author.clone(), k.bare);
            let own = false; // this run's id is new: earlier lines of ours are shown as anyone's
            self.insert_line(LogLine {
                key: k.key,
                kind: LineKind::Chat { node, author, own, bare },
                text: k.text.clone(),
            });
        }
        if keeping {
            self.to_keep = Some(Vec::new());
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

    /// Group time now, from the node's last report and the monotonic clock since (before the
    /// first report, the wall clock less the skew), so system lines sit among the messages of
    /// the same moment even on a host whose clock is off or steps.
    pub fn group_now(&self) -> Duration {
        if let Some((time, mono)) = self.group_anchor {
            return time.to_unix() + self.now.since(mono);
        }
        let ms = (self.wall.as_millis() as i64).saturating_sub(self.skew_ms);
        Duration::from_millis(ms.max(0) as u64)
    }

    /// This node's name, or nothing before the node is ready.
    pub fn my_name(&self) -> &str {
        self.me.as_ref().map_or("", |m| &*m.name)
    }

    /// Peers on screen in ring order: by address, then node id.
    pub fn peers_sorted(&self) -> Vec<&PeerRow> {
        let mut v: Vec<&PeerRow> = self.peers.values().collect();
        v.sort_by_key(|p| (p.addr.ip(), p.tcp_port, p.node));
        v
    }

    /// Peers that are members (alive or suspect).
    pub fn alive_peers(&self) -> usize {
        self.peers.values().filter(|p| p.status.is_member()).count()
    }

    /// Whether a chat line from someone else names this node's user (as a word, any case,
    /// with or without `@`).
    pub fn mentions_me(&self, l: &LogLine) -> bool {
        let LineKind::Chat { own: false, .. } = l.kind else { return false };
        let Some(me) = &self.me else { return false };
        mentions(&l.text, &me.name)
    }

    /// The chat lines, oldest first, as JSON lines (what `/save` writes).
    pub fn chat_jsonl(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            if let LineKind::Chat { author, bare, .. } = &l.kind {
                let k = Kept { key: l.key, author: author.clone(), bare: *bare, text: l.text.clone() };
                out.push_str(&k.line());
                out.push('\n');
            }
        }
        out
    }

    /// After `ALONE_AFTER` with no other member, why that may be; `None` while there are peers
    /// (or before the node is up).
    pub fn nobody_here(&self) -> Option<Alone> {
        let (since, refused) = self.alone?;
        if self.now.since(since) < ALONE_AFTER {
            return None;
        }
        let refused_now = self.stats.dropped.get(&proto::DropReason::LinkNotNeighbour).copied().unwrap_or(0);
        let sealed = [proto::DropReason::Sealed, proto::DropReason::BadKey]
            .iter()
            .map(|r| self.stats.dropped.get(r).copied().unwrap_or(0))
            .sum::<u64>();
        Some(if self.stats.own_echoes == 0 {
            Alone::DeafHere
        } else if sealed > 0 {
            Alone::KeyedGroup
        } else if refused_now > refused {
            Alone::InboundBlocked
        } else {
            Alone::Nobody
        })
    }

    /// Starts or ends the time alone, after anything that may change the members.
    fn track_alone(&mut self) {
        if self.me.is_none() || self.alive_peers() > 0 {
            self.alone = None;
        } else if self.alone.is_none() {
            let refused = self.stats.dropped.get(&proto::DropReason::LinkNotNeighbour).copied().unwrap_or(0);
            self.alone = Some((self.now, refused));
        }
    }

    /// Rows a page scroll moves: about the height of the messages pane.
    fn page(&self) -> usize {
        usize::from(self.size.1).saturating_sub(12).max(1)
    }

    // ---- the log pane -----------------------------------------------------------------------

    fn insert_line(&mut self, line: LogLine) {
        let pos = self.lines.partition_point(|l| l.key <= line.key);
        let last_visible = self.lines.len().checked_sub(1 + self.scroll);
        self.lines.insert(pos, line);
        // Scrolled up: a line landing below the view must not move it.
        if self.scroll > 0 && last_visible.is_none_or(|v| pos > v) {
            self.scroll += 1;
            self.unseen += 1;
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            self.lines_dropped += 1;
        }
        self.scroll = self.scroll.min(self.lines.len().saturating_sub(1));
    }

    fn system(&mut self, kind: SystemKind, text: String) {
        self.sys_seq += 1;
        let at = Hlc::from_unix(self.group_now());
        self.insert_line(LogLine {
            key: (at, NodeId(0), Seq(self.sys_seq)),
            kind: LineKind::System(kind),
            text: text.into(),
        });
    }

    fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.lines.len().saturating_sub(1));
    }

    fn scroll_down(&mut self, n: usize) {
        // At the top the screen shows a full first page (lines below the nominal bottom):
        // moving down starts from the page's real bottom.
        let len = self.lines.len();
        if len.saturating_sub(self.scroll) < self.page() {
            self.scroll = len.saturating_sub(self.page());
        }
        self.scroll = self.scroll.saturating_sub(n);
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    fn follow(&mut self) {
        self.scroll = 0;
        self.unseen = 0;
    }
}

/// Applies one message to the model; returns what the caller must do, if anything.
pub fn update(app: &mut App, msg: Msg) -> Option<Action> {
    match msg {
        Msg::Terminal(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => key(app, k),
        Msg::Terminal(TermEvent::Mouse(m)) => {
            match m.kind {
                MouseEventKind::ScrollUp => app.scroll_up(WHEEL),
                MouseEventKind::ScrollDown => app.scroll_down(WHEEL),
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
            let text = text.replace("\r\n", "\n").replace('\r', "\n");
            let text = text.trim_end_matches('\n');
            for c in text.chars().filter(|c| *c == '\n' || !c.is_control()) {
                app.input.handle(tui_input::InputRequest::InsertChar(c));
            }
            app.error = None;
            None
        }
        Msg::Terminal(_) => None,
        Msg::Net(ev) => {
            net(app, ev);
            app.track_alone();
            std::mem::take(&mut app.bell_due).then_some(Action::Bell)
        }
        Msg::Tick(reading) => {
            let now = reading.mono;
            app.now = now;
            app.wall = reading.wall;
            app.peers.retain(|_, p| p.status.is_member() || now.since(p.since) < LINGER);
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

/// Tab: completes the word before the cursor to a peer's name (again: the next one). At the
/// start of the line the name gets ": ", as chat habits have it.
fn complete(app: &mut App) {
    let value: Vec<char> = app.input.value().chars().collect();
    let cursor = app.input.cursor().min(value.len());
    let (start, candidates, index) = match app.tab.take() {
        Some((start, names, i)) if !names.is_empty() => (start, names.clone(), (i + 1) % names.len()),
        _ => {
            let start = value[..cursor].iter().rposition(|c| c.is_whitespace()).map_or(0, |i| i + 1);
            let word: String = value[start..cursor].iter().collect();
            let word = word.trim_start_matches('@').to_lowercase();
            let mut names: Vec<String> = app
                .peers
                .values()
                .filter(|p| p.status.is_member())
                .map(|p| p.name.clone())
                .filter(|n| n.to_lowercase().starts_with(&word))
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                return;
            }
            (start, names, 0)
        }
    };
    let at = if value.get(start) == Some(&'@') { "@" } else { "" };
    let suffix = if start == 0 { ": " } else { " " };
    let name = &candidates[index];
    // Replace from the word's start to the cursor (a previous completion included).
    let before: String = value[..start].iter().collect();
    let after: String = value[cursor..].iter().collect();
    let inserted = format!("{at}{name}{suffix}");
    let new_cursor = before.chars().count() + inserted.chars().count();
    app.input = Input::new(format!("{before}{inserted}{after}")).with_cursor(new_cursor);
    app.tab = Some((start, candidates, index));
}

fn key(app: &mut App, k: KeyEvent) -> Option<Action> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && k.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if app.help {
        // As far as the last row at the bottom of the help on this screen (see `render_help`).
        let last = crate::tui::view::help_last_scroll(app.size);
        match k.code {
            KeyCode::Esc | KeyCode::F(1) | KeyCode::Enter | KeyCode::Char('q') => {
                app.help = false;
                app.help_scroll = 0;
            }
            KeyCode::Up => app.help_scroll = app.help_scroll.saturating_sub(1),
            KeyCode::Down => app.help_scroll = (app.help_scroll + 1).min(last),
            KeyCode::PageUp => app.help_scroll = app.help_scroll.saturating_sub(10),
            KeyCode::PageDown => app.help_scroll = (app.help_scroll + 10).min(last),
            _ => {}
        }
        return None;
    }
    if app.search.is_some() {
        search_key(app, k);
        return None;
    }
    if ctrl && k.code == KeyCode::Char('f') {
        app.search = Some(Search::default());
        return None;
    }
    let empty = app.input.value().is_empty();
    if k.code != KeyCode::Tab {
        app.tab = None;
    }
    match k.code {
        KeyCode::Tab => complete(app),
        KeyCode::F(1) => app.help = true,
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
            app.error = None;
            app.follow();
        }
        KeyCode::Enter => return submit(app),
        KeyCode::Up => history(app, true),
        KeyCode::Down => history(app, false),
        KeyCode::PageUp => app.scroll_up(app.page()),
        KeyCode::PageDown => app.scroll_down(app.page()),
        KeyCode::Home if ctrl || empty => app.scroll = app.lines.len().saturating_sub(1),
        KeyCode::End if ctrl || empty => app.follow(),
        _ => {
            if app.input.handle_event(&TermEvent::Key(k)).is_some_and(|c| c.value) {
                app.error = None;
                app.history_pos = None;
            }
        }
    }
    None
}

/// Whether a line matches a search (any case, in the text or the author's name).
fn matches(l: &LogLine, lowered: &str) -> bool {
    let author = match &l.kind {
        LineKind::Chat { author, .. } => author,
        LineKind::System(_) => "",
    };
    !lowered.is_empty() && (l.text.to_lowercase().contains(lowered) || author.to_lowercase().contains(lowered))
}

/// Keys while searching: typing refines the search (the newest match is shown), Enter, ↑ or
/// Ctrl-F go to the next older match, ↓ to the next newer one, Esc ends it where it is.
fn search_key(app: &mut App, k: KeyEvent) {
    let Some(mut search) = app.search.take() else { return };
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    match k.code {
        KeyCode::Esc => return,
        KeyCode::Backspace => {
            search.query.pop();
            search.hit = None;
        }
        KeyCode::Char(c) if !ctrl => {
            search.query.push(c);
            search.hit = None;
        }
        _ => {}
    }
    let q = search.query.to_lowercase();
    let older = |before: usize| (0..before).rev().find(|&i| matches(&app.lines[i], &q));
    search.hit = match (k.code, search.hit) {
        // A new query: its newest match.
        (_, None) => older(app.lines.len()),
        (KeyCode::Enter | KeyCode::Up, Some(h)) => older(h).or(Some(h)),
        (KeyCode::Char('f'), Some(h)) if ctrl => older(h).or(Some(h)),
        (KeyCode::Down, Some(h)) => (h + 1..app.lines.len()).find(|&i| matches(&app.lines[i], &q)).or(Some(h)),
        (_, hit) => hit,
    };
    search.matches = app.lines.iter().filter(|l| matches(l, &q)).count();
    if let Some(h) = search.hit {
        // The match at the bottom of the view.
        app.scroll = app.lines.len() - 1 - h;
    }
    app.search = Some(search);
}

/// Up (`back`) and Down through sent lines; what was being typed comes back at the bottom.
fn history(app: &mut App, back: bool) {
    let len = app.history.len();
    let next = match (app.history_pos, back) {
        (None, true) if len > 0 => {
            app.draft = app.input.value().to_string();
            Some(len - 1)
        }
        (None, _) => return,
        (Some(i), true) => Some(i.saturating_sub(1)),
        (Some(i), false) if i + 1 < len => Some(i + 1),
        (Some(_), false) => None,
    };
    app.history_pos = next;
    let text = next.map_or_else(|| std::mem::take(&mut app.draft), |i| app.history[i].clone());
    app.input = Input::new(text);
}

fn remember(app: &mut App, line: String) {
    if app.history.back() != Some(&line) {
        app.history.push_back(line);
        if app.history.len() > MAX_HISTORY {
            app.history.pop_front();
        }
    }
    app.history_pos = None;
    app.draft.clear();
    app.input.reset();
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

fn submit(app: &mut App) -> Option<Action> {
    let line = app.input.value().to_string();
    if line.trim().is_empty() {
        app.input.reset();
        return None;
    }
    // `//text` sends `/text` (a line that starts with a slash but is not a command).
    let line = match line.strip_prefix("//") {
        Some(rest) => format!("/{rest}"),
        None => line,
    };
    if let Some(cmd) = line.trim().strip_prefix('/').filter(|_| !app.input.value().starts_with("//")) {
        let (word, arg) = cmd.split_once(' ').map_or((cmd, ""), |(w, a)| (w, a.trim()));
        let action = match word {
            "help" => {
                app.help = true;
                None
            }
            "clear" => {
                app.lines.clear();
                app.follow();
                None
            }
            "quit" | "exit" => Some(Action::Quit),
            "me" if !arg.is_empty() => {
                let text = format!("/me {arg}");
                if let Err(e) = proto::check_message(app.my_name(), &text) {
                    app.error = Some(e.to_string());
                    return None;
                }
                app.follow();
                Some(Action::Send(Command::Say(text)))
            }
            "drops" => {
                let text = drops_line(&app.stats);
                app.system(SystemKind::Info, text);
                None
            }
            "bell" => {
                app.prefs.bell = !app.prefs.bell;
                let text = if app.prefs.bell {
                    "the bell rings when a message names you (/bell again: off)"
                } else {
                    "no bell for messages that name you"
                };
                app.system(SystemKind::Info, text.to_string());
                None
            }
            "save" if !arg.is_empty() => {
                let path = match (arg.strip_prefix("~/"), std::env::var_os("HOME")) {
                    (Some(rest), Some(home)) => std::path::PathBuf::from(home).join(rest),
                    _ => std::path::PathBuf::from(arg),
                };
                Some(Action::Save(path, app.chat_jsonl()))
            }
            "name" => match proto::Name::new(arg) {
                Ok(name) => {
                    if let Some(me) = app.me.as_mut() {
                        me.name = name.to_string();
                    }
                    app.system(SystemKind::Info, format!("you are now {name}"));
                    Some(Action::Send(Command::Rename(name)))
                }
                Err(e) => {
                    app.error = Some(format!("usage: /name NEW ({e})"));
                    return None;
                }
            },
            "me" | "save" => {
                app.error = Some(format!("usage: /{word} {}", if word == "me" { "ACTION" } else { "PATH" }));
                return None;
            }
            _ => {
                app.error = Some(format!("unknown command /{word}: try /help"));
                return None;
            }
        };
        remember(app, line);
        return action;
    }
    match proto::check_message(app.my_name(), &line) {
        Ok(()) => {
            remember(app, line.clone());
            app.follow();
            Some(Action::Send(Command::Say(line)))
        }
        Err(e) => {
            // Nothing is sent and nothing typed is lost: the line stays for editing.
            app.error = Some(e.to_string());
            None
        }
    }
}

fn net(app: &mut App, ev: NetEvent) {
    match ev {
        NetEvent::Ready(r) => {
            let sealed =
                r.key.as_ref().map_or_else(|| "an open group".to_string(), |k| format!("a keyed group (key {k})"));
            let text = format!("joined {} via {} as {} ({}), {sealed}", r.group, r.iface, r.name, r.node.short());
            app.keyed = r.key.is_some();
            app.me = Some(r);
            app.system(SystemKind::Info, text);
        }
        NetEvent::Status { peers, stats } => {
            merge_peers(app, &peers);
            app.stats = stats;
        }
        NetEvent::Lagged(n) => app.lagged += n,
        NetEvent::Resync(r) => resync(app, *r),
        NetEvent::GroupTime { time, mono, basis } => {
            app.group_anchor = Some((time, mono));
            app.clock = basis;
        }
        NetEvent::SendFailed(e) => app.system(SystemKind::Error, format!("cannot send: {e}")),
        NetEvent::Core(ev) => core_event(app, ev),
    }
}

fn core_event(app: &mut App, ev: Event) {
    let now = app.now;
    match ev {
        Event::PeerUp { node, name, addr } => {
            let back = app.peers.get(&node).is_some_and(|p| p.status == Status::Down);
            let tcp_port = app.peers.get(&node).map_or(0, |p| p.tcp_port);
            let (skew_ms, vouched) = app.peers.get(&node).map_or((0, false), |p| (p.skew_ms, p.vouched));
            let row = PeerRow {
                node,
                name: name.clone(),
                addr,
                tcp_port,
                status: Status::Alive,
                last_seen: now,
                loss: 0.0,
                since: now,
                skew_ms,
                vouched,
            };
            app.peers.insert(node, row);
            let text = if back { format!("{name} is back") } else { format!("{name} joined from {addr}") };
            app.system(SystemKind::Join, text);
        }
        Event::PeerSuspect { node, .. } => set_status(app, node, Status::Suspect),
        Event::PeerAlive { node, .. } => set_status(app, node, Status::Alive),
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
            set_status(app, node, status);
            if let Some(p) = app.peers.get_mut(&node) {
                p.since = now;
            }
            let kind = if status == Status::Left { SystemKind::Leave } else { SystemKind::Down };
            app.system(kind, text);
        }
        Event::PeerRemoved { node } => {
            app.peers.remove(&node);
        }
        Event::PeerRenamed { node, old, new } => {
            if let Some(p) = app.peers.get_mut(&node) {
                p.name.clone_from(&new);
            }
            app.system(SystemKind::Info, format!("{old} is now {new}"));
        }
        Event::Message { entry, own, settled } => {
            let named = !own && app.prefs.bell && app.me.as_ref().is_some_and(|m| mentions(&entry.text, &m.name));
            chat_line(app, &entry, own, settled);
            app.bell_due |= named;
        }
        Event::Shared { entry, settled } => {
            if settled {
                app.settled = app.settled.max(Hlc(entry.ts.0.saturating_add(1)));
            }
            app.shared = Some(entry);
        }
        Event::Settled { upto, .. } => app.settled = app.settled.max(upto),
        Event::Ring { prev, next } => app.ring = Neighbours { prev, next },
        Event::Gap { node, from, to } => {
            let who = app.peers.get(&node).map_or_else(|| node.short(), |p| p.name.clone());
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

/// How this node keeps group time changed: the header's mark, this screen's own lines, and a
/// line that says why.
fn clock_event(app: &mut App, skew_ms: i64, cause: ClockCause) {
    app.skew_ms = skew_ms;
    if let ClockCause::Group { by_ms } = cause {
        regroup_system_lines(app, by_ms);
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
    // A message the core had already queued when the screen fell behind comes once in
    // the resync and once more as its own event: it is shown once.
    let key = entry.key();
    let pos = app.lines.partition_point(|l| l.key < key);
    if app.lines.get(pos).is_some_and(|l| l.key == key && matches!(l.kind, LineKind::Chat { .. })) {
        return;
    }
    // A message that arrives already settled (a late joiner's backlog) moves the mark
    // past it: the node's mark is later than its stamp.
    if settled {
        app.settled = app.settled.max(Hlc(entry.ts.0.saturating_add(1)));
    }
    let line = LogLine {
        key: entry.key(),
        kind: LineKind::Chat { node: entry.node, author: entry.author(), own, bare: entry.bare_from.is_some() },
        text: entry.text.clone(),
    };
    app.insert_line(line);
    if let Some(keep) = app.to_keep.as_mut() {
        keep.push(Kept::of(entry));
    }
}

/// The node's group time moved by `by_ms` to agree with the group: lines this screen stamped
/// with the old group time move with it (chat lines keep their senders' stamps).
fn regroup_system_lines(app: &mut App, by_ms: i64) {
    let shift = |t: Hlc| {
        let ms = (t.to_unix().as_millis() as i64).saturating_add(by_ms).max(0) as u64;
        Hlc::from_unix(Duration::from_millis(ms))
    };
    if let Some((time, mono)) = app.group_anchor {
        app.group_anchor = Some((shift(time), mono));
    }
    for l in &mut app.lines {
        if matches!(l.kind, LineKind::System(_)) {
            l.key.0 = shift(l.key.0);
        }
    }
    app.lines.make_contiguous().sort_by_key(|l| l.key);
}

/// The core's peer table, once a second or after a lag: rows the screen missed appear, and
/// every row takes the core's status, so no peer is ever missing for good.
fn merge_peers(app: &mut App, views: &[PeerView]) {
    let now = app.now;
    for v in views {
        match app.peers.get_mut(&v.node) {
            Some(p) => {
                if p.status != v.status {
                    p.since = now;
                }
                p.status = v.status;
                p.name.clone_from(&v.name);
                p.addr = v.addr;
                p.last_seen = v.last_seen;
                p.loss = v.loss;
                p.tcp_port = v.tcp_port;
                p.skew_ms = v.skew_ms;
                p.vouched = v.vouched;
            }
            // A member the screen never heard of (its event was dropped) appears; the gone
            // are not brought back once their row has lingered and gone.
            None if v.status.is_member() => {
                app.peers.insert(v.node, PeerRow::from_view(v, now));
            }
            None => {}
        }
    }
    // Members the core no longer lists were forgotten there.
    app.peers.retain(|id, p| !p.status.is_member() || views.iter().any(|v| v.node == *id));
}

/// Rebuilds the view from the core after the screen fell behind: every message the core holds
/// is on screen (each once), with the marks and peers as the core has them.
fn resync(app: &mut App, r: Resync) {
    let me = app.me.as_ref().map(|m| m.node);
    for e in r.entries {
        let key = e.key();
        let pos = app.lines.partition_point(|l| l.key < key);
        if app.lines.get(pos).is_some_and(|l| l.key == key) {
            continue;
        }
        let own = Some(e.node) == me && e.bare_from.is_none();
        core_event(app, Event::Message { entry: e, own, settled: false });
    }
    app.settled = app.settled.max(r.settled);
    if r.shared.as_ref().is_some_and(|s| app.shared.as_ref().is_none_or(|cur| s.key() > cur.key())) {
        app.shared = r.shared;
    }
    app.ring = r.ring;
    app.skew_ms = r.skew_ms;
    merge_peers(app, &r.peers);
    app.system(SystemKind::Info, format!("caught up after the screen fell behind ({} events)", r.dropped));
}

fn set_status(app: &mut App, node: NodeId, status: Status) {
    if let Some(p) = app.peers.get_mut(&node) {
        p.status = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Incarnation;
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
        };
        update(app, Msg::Net(NetEvent::Core(Event::Message { entry, own: false, settled: false })));
    }

    fn texts(app: &App) -> Vec<&str> {
        app.lines.iter().map(|l| &*l.text).collect()
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
        assert!(a.lines.iter().all(|l| l.at().to_unix() < Duration::from_millis(T0 + 5_000)), "{order:?}");
        // A step of the wall clock changes nothing: lines follow the node's group time.
        update(&mut a, Msg::Tick(Now { mono: t(3_000), wall: Duration::from_millis(T0 + 3_603_000) }));
        let step = Event::Clock { skew_ms: 3_600_000, cause: ClockCause::Step { by_ms: 3_000_000 } };
        update(&mut a, Msg::Net(NetEvent::Core(step)));
        let last = a.lines.back().unwrap();
        assert!(last.text.contains("stepped"), "{:?}", texts(&a));
        assert!(last.at().to_unix() < Duration::from_millis(T0 + 5_000), "the step line sits at now, not an hour off");
    }

    #[test]
    fn enter_sends_the_line_and_clears_it() {
        let mut a = app();
        typed(&mut a, "hello 世界");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), Some(Action::Send(Command::Say("hello 世界".into()))));
        assert_eq!(a.input.value(), "");
        assert_eq!(a.history, ["hello 世界"]);
    }

    #[test]
    fn an_empty_line_sends_nothing() {
        let mut a = app();
        typed(&mut a, "   ");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None);
        assert!(a.history.is_empty());
    }

    #[test]
    fn too_long_shows_an_error_and_keeps_the_text() {
        let mut a = app();
        let long = "x".repeat(1300);
        typed(&mut a, &long);
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None);
        assert!(a.error.as_deref().unwrap().contains("fit one datagram"), "{:?}", a.error);
        assert_eq!(a.input.value(), long, "nothing typed is lost");
        update(&mut a, press(KeyCode::Backspace));
        assert_eq!(a.error, None, "editing clears the error");
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
        assert_eq!(a.input.value(), "two");
        update(&mut a, press(KeyCode::Up));
        update(&mut a, press(KeyCode::Up));
        assert_eq!(a.input.value(), "one");
        update(&mut a, press(KeyCode::Down));
        assert_eq!(a.input.value(), "two");
        update(&mut a, press(KeyCode::Down));
        assert_eq!(a.input.value(), "dra");
    }

    #[test]
    fn word_delete_and_cursor_keys_come_from_the_line_editor() {
        let mut a = app();
        typed(&mut a, "hello big world");
        update(&mut a, ctrl('w'));
        assert_eq!(a.input.value(), "hello big ");
        update(&mut a, press(KeyCode::Home));
        typed(&mut a, ">");
        assert_eq!(a.input.value(), ">hello big ");
    }

    #[test]
    fn only_key_presses_count() {
        let mut a = app();
        let mut release = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        release.state = KeyEventState::NONE;
        update(&mut a, Msg::Terminal(TermEvent::Key(release)));
        assert_eq!(a.input.value(), "");
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
        let scroll = a.scroll;
        assert!(scroll > 0);
        let bottom = a.lines[a.lines.len() - 1 - a.scroll].text.clone();
        message(&mut a, 5000, 2, "new one");
        message(&mut a, 5001, 2, "new two");
        assert_eq!(a.unseen, 2);
        assert_eq!(a.lines[a.lines.len() - 1 - a.scroll].text, bottom, "same line at the bottom of the view");
        update(&mut a, press(KeyCode::End));
        assert_eq!((a.scroll, a.unseen), (0, 0));
        let wheel = MouseEvent { kind: MouseEventKind::ScrollUp, column: 0, row: 0, modifiers: KeyModifiers::NONE };
        update(&mut a, Msg::Terminal(TermEvent::Mouse(wheel)));
        assert_eq!(a.scroll, 3);
    }

    #[test]
    fn the_log_is_bounded() {
        let mut a = app();
        for i in 0..(MAX_LINES as u64 + 10) {
            message(&mut a, i, 2, "x");
        }
        assert_eq!(a.lines.len(), MAX_LINES);
        assert_eq!(a.lines_dropped, 11);
    }

    #[test]
    fn peers_come_go_and_linger() {
        let mut a = app();
        let addr: SocketAddr = "10.0.0.2:12345".parse().unwrap();
        let up = Event::PeerUp { node: NodeId(2), name: "bob".into(), addr };
        update(&mut a, Msg::Net(NetEvent::Core(up)));
        assert_eq!(a.alive_peers(), 1);
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
        assert!((a.peers[&NodeId(2)].loss - 0.25).abs() < 1e-12);
        update(&mut a, Msg::Net(NetEvent::Core(Event::PeerSuspect { node: NodeId(2), name: "bob".into() })));
        assert_eq!(a.peers[&NodeId(2)].status, Status::Suspect);
        let down = Event::PeerDown {
            node: NodeId(2),
            name: "bob".into(),
            reason: DownReason::Timeout,
            via: DownVia::Heartbeat,
        };
        update(&mut a, Msg::Net(NetEvent::Core(down)));
        assert_eq!(a.peers[&NodeId(2)].status, Status::Down);
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
        assert!(a.peers.contains_key(&NodeId(2)), "shown as down for a while");
        update(&mut a, Msg::Tick(Now::synced(t(31_000))));
        assert!(!a.peers.contains_key(&NodeId(2)), "then removed");
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
        assert_eq!(a.my_name(), "alice");
        typed(&mut a, "/bogus");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), None);
        assert!(a.error.is_some());
        assert_eq!(a.input.value(), "/bogus");
        update(&mut a, ctrl('u'));
        typed(&mut a, "/clear");
        update(&mut a, press(KeyCode::Enter));
        assert!(a.lines.is_empty());
        typed(&mut a, "/help");
        update(&mut a, press(KeyCode::Enter));
        assert!(a.help);
        update(&mut a, press(KeyCode::Char('x')));
        assert_eq!(a.input.value(), "", "keys go to the help while it is open");
        update(&mut a, press(KeyCode::Esc));
        assert!(!a.help);
        update(&mut a, press(KeyCode::F(1)));
        assert!(a.help);
        update(&mut a, press(KeyCode::F(1)));
        typed(&mut a, "/quit");
        assert_eq!(update(&mut a, press(KeyCode::Enter)), Some(Action::Quit));
        assert_eq!(update(&mut a, ctrl('c')), Some(Action::Quit));
    }
}
