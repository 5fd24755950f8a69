//! The messages pane's model: chat and system lines in log order (bounded), where the view is
//! scrolled to and what arrived below it, a search of the lines, and the messages to hand to the
//! history file.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::history::Kept;
use crate::proto::{Entry, Hlc, NodeId, Seq};

/// Lines kept in the pane: twice the core's default retention (10,000 messages), so everything
/// the log holds can be scrolled back to, with room for system lines.
pub const MAX_LINES: usize = 20_000;

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
    /// Position: chat lines by (HLC, node, seq) as in the core's log; system lines by group time.
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

/// A search of the messages: what is sought, and the line shown (an index into the lines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    /// The text sought (any case), in the author's name or the line.
    pub query: String,
    /// The matching line shown, if any matches.
    pub hit: Option<usize>,
    /// How many lines match.
    pub matches: usize,
}

/// The messages pane.
#[derive(Debug, Default)]
pub struct MessagePane {
    lines: VecDeque<LogLine>,
    /// Lines dropped off the top.
    dropped: u64,
    /// Lines hidden below the view: 0 follows new messages.
    scroll: usize,
    /// Lines that arrived below the view while scrolled up.
    unseen: usize,
    search: Option<Search>,
    /// Numbers the system lines, which share their stamp's millisecond.
    system_seq: u64,
    /// With `--history`: messages shown since the loop last took them, for the file.
    to_keep: Option<Vec<Kept>>,
}

impl MessagePane {
    /// The lines, in log order.
    pub fn lines(&self) -> &VecDeque<LogLine> {
        &self.lines
    }

    /// Lines dropped off the top (over `MAX_LINES`).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines hidden below the view: 0 follows new messages.
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// Lines that arrived below the view while scrolled up.
    pub fn unseen(&self) -> usize {
        self.unseen
    }

    /// The search under way, if any.
    pub fn search(&self) -> Option<&Search> {
        self.search.as_ref()
    }

    /// A line in its place by key. Scrolled up, a line landing below the view does not move
    /// it; beyond `MAX_LINES` the oldest go.
    pub(super) fn insert(&mut self, line: LogLine) {
        let pos = self.lines.partition_point(|l| l.key <= line.key);
        let last_visible = self.lines.len().checked_sub(1 + self.scroll);
        self.lines.insert(pos, line);
        if self.scroll > 0 && last_visible.is_none_or(|v| pos > v) {
            self.scroll += 1;
            self.unseen += 1;
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.scroll = self.scroll.min(self.lines.len().saturating_sub(1));
    }

    /// A system line, at group time `now`.
    pub(super) fn system(&mut self, kind: SystemKind, text: String, now: Duration) {
        self.system_seq += 1;
        let key = (Hlc::from_unix(now), NodeId(0), Seq(self.system_seq));
        self.insert(LogLine { key, kind: LineKind::System(kind), text: text.into() });
    }

    /// Whether a chat line with this key is shown.
    pub(super) fn has_chat(&self, key: (Hlc, NodeId, Seq)) -> bool {
        let pos = self.lines.partition_point(|l| l.key < key);
        self.lines.get(pos).is_some_and(|l| l.key == key && matches!(l.kind, LineKind::Chat { .. }))
    }

    /// Whether any line has this key.
    pub(super) fn has(&self, key: (Hlc, NodeId, Seq)) -> bool {
        let pos = self.lines.partition_point(|l| l.key < key);
        self.lines.get(pos).is_some_and(|l| l.key == key)
    }

    /// A chat message (`own`: this node's user sent it); for the history file too.
    pub(super) fn chat(&mut self, entry: &Entry, own: bool) {
        let kind = LineKind::Chat { node: entry.node, author: entry.author(), own, bare: entry.bare_from.is_some() };
        self.insert(LogLine { key: entry.key(), kind, text: entry.text.clone() });
        if let Some(keep) = self.to_keep.as_mut() {
            keep.push(Kept::of(entry));
        }
    }

    /// Group time moved by `by_ms`: lines this screen stamped with the old group time move with
    /// it (chat lines keep their senders' stamps).
    pub(super) fn regroup(&mut self, by_ms: i64) {
        for l in &mut self.lines {
            if matches!(l.kind, LineKind::System(_)) {
                l.key.0 = shift(l.key.0, by_ms);
            }
        }
        self.lines.make_contiguous().sort_by_key(|l| l.key);
    }

    /// `/clear`: nothing on screen (the node keeps its log).
    pub(super) fn clear(&mut self) {
        self.lines.clear();
        self.follow();
    }

    pub(super) fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.lines.len().saturating_sub(1));
    }

    /// Down by `n`, in a pane `page` rows high.
    pub(super) fn scroll_down(&mut self, n: usize, page: usize) {
        // At the top the screen shows a full first page (lines below the nominal bottom):
        // moving down starts from the page's real bottom.
        let len = self.lines.len();
        if len.saturating_sub(self.scroll) < page {
            self.scroll = len.saturating_sub(page);
        }
        self.scroll = self.scroll.saturating_sub(n);
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    /// Back to the newest line, following new ones.
    pub(super) fn follow(&mut self) {
        self.scroll = 0;
        self.unseen = 0;
    }

    /// To the oldest line.
    pub(super) fn scroll_to_top(&mut self) {
        self.scroll = self.lines.len().saturating_sub(1);
    }

    pub(super) fn start_search(&mut self) {
        self.search = Some(Search::default());
    }

    /// Keys while searching: typing refines the search (the newest match is shown), Enter, ↑
    /// or Ctrl-F go to the next older match, ↓ to the next newer one, Esc ends it where it is.
    pub(super) fn search_key(&mut self, k: KeyEvent) {
        let Some(mut search) = self.search.take() else { return };
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
        let older = |before: usize| (0..before).rev().find(|&i| matches(&self.lines[i], &q));
        search.hit = match (k.code, search.hit) {
            // A new query: its newest match.
            (_, None) => older(self.lines.len()),
            (KeyCode::Enter | KeyCode::Up, Some(h)) => older(h).or(Some(h)),
            (KeyCode::Char('f'), Some(h)) if ctrl => older(h).or(Some(h)),
            (KeyCode::Down, Some(h)) => (h + 1..self.lines.len()).find(|&i| matches(&self.lines[i], &q)).or(Some(h)),
            (_, hit) => hit,
        };
        search.matches = self.lines.iter().filter(|l| matches(l, &q)).count();
        if let Some(h) = search.hit {
            // The match at the bottom of the view.
            self.scroll = self.lines.len() - 1 - h;
        }
        self.search = Some(search);
    }

    /// The chat lines, oldest first, as JSON lines (what `/save` writes).
    pub(super) fn chat_jsonl(&self) -> String {
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

    /// From now on every message shown is handed to the history file too.
    pub(super) fn keep_from_now(&mut self) {
        self.to_keep = Some(Vec::new());
    }

    /// The messages shown since last asked, for the history file (when there is one).
    pub fn to_keep(&mut self) -> Option<&mut Vec<Kept>> {
        self.to_keep.as_mut()
    }

    /// The history file is gone: nothing more is kept for it.
    pub fn stop_keeping(&mut self) {
        self.to_keep = None;
    }
}

/// `t` moved by `by_ms` (not before the epoch).
pub(super) fn shift(t: Hlc, by_ms: i64) -> Hlc {
    let ms = (t.to_unix().as_millis() as i64).saturating_add(by_ms).max(0) as u64;
    Hlc::from_unix(Duration::from_millis(ms))
}

/// Whether a line matches a search (any case, in the text or the author's name).
fn matches(l: &LogLine, lowered: &str) -> bool {
    let author = match &l.kind {
        LineKind::Chat { author, .. } => author,
        LineKind::System(_) => "",
    };
    !lowered.is_empty() && (l.text.to_lowercase().contains(lowered) || author.to_lowercase().contains(lowered))
}
