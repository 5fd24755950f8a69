//! The compose box's model: the line being typed (a `tui_input` line editor), the lines sent
//! (Up and Down walk back through them, and return to what was being typed), Tab completion of
//! peers' names, and a refusal shown on the box until the next edit.

use std::collections::VecDeque;

use ratatui::crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::backend::crossterm::EventHandler;
use tui_input::{Input, InputRequest};

/// Sent lines remembered for Up and Down.
pub const MAX_HISTORY: usize = 100;

/// The compose box.
#[derive(Debug, Default)]
pub struct Composer {
    input: Input,
    /// Lines sent, oldest first.
    sent: VecDeque<String>,
    /// Where Up and Down stand in `sent`, while walking it.
    walking: Option<usize>,
    /// What was being typed when the walk began: it comes back at the bottom.
    draft: String,
    error: Option<String>,
    /// Tab completion under way: the word's start, the candidates, the one shown.
    tab: Option<(usize, Vec<String>, usize)>,
}

impl Composer {
    /// What is typed.
    pub fn value(&self) -> &str {
        self.input.value()
    }

    /// Where the cursor is, in characters.
    pub fn cursor(&self) -> usize {
        self.input.cursor()
    }

    /// The refusal shown on the box, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Lines sent, oldest first.
    pub fn sent(&self) -> &VecDeque<String> {
        &self.sent
    }

    /// Shows a refusal on the box; what is typed stays for editing.
    pub(super) fn refuse(&mut self, why: String) {
        self.error = Some(why);
    }

    /// Takes the refusal off the box.
    pub(super) fn clear_error(&mut self) {
        self.error = None;
    }

    /// Empties the line (a blank line is not worth keeping).
    pub(super) fn reset(&mut self) {
        self.input.reset();
    }

    /// A paste: one edit, its lines kept together (line breaks as `\n`, other controls out).
    pub(super) fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        for c in text.trim_end_matches('\n').chars().filter(|c| *c == '\n' || !c.is_control()) {
            self.input.handle(InputRequest::InsertChar(c));
        }
        self.error = None;
    }

    /// A key for the line editor (typing, cursor moves, word deletes); an edit ends a walk
    /// through the sent lines and clears a refusal.
    pub(super) fn edit(&mut self, k: KeyEvent) {
        if self.input.handle_event(&TermEvent::Key(k)).is_some_and(|c| c.value) {
            self.error = None;
            self.walking = None;
        }
    }

    /// Any key but Tab ends a completion under way.
    pub(super) fn end_completion(&mut self) {
        self.tab = None;
    }

    /// Tab: completes the word before the cursor to one of the names `names` gives for its
    /// (lowercased) start; again, to the next one. At the start of the line the name gets ": ",
    /// as chat habits have it.
    pub(super) fn complete(&mut self, names: impl FnOnce(&str) -> Vec<String>) {
        let value: Vec<char> = self.input.value().chars().collect();
        let cursor = self.input.cursor().min(value.len());
        let (start, candidates, index) = match self.tab.take() {
            Some((start, names, i)) if !names.is_empty() => {
                let next = (i + 1) % names.len();
                (start, names, next)
            }
            _ => {
                let start = value[..cursor].iter().rposition(|c| c.is_whitespace()).map_or(0, |i| i + 1);
                let word: String = value[start..cursor].iter().collect();
                let mut names = names(&word.trim_start_matches('@').to_lowercase());
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
        // Replace from the word's start to the cursor (a previous completion included).
        let before: String = value[..start].iter().collect();
        let after: String = value[cursor..].iter().collect();
        let inserted = format!("{at}{}{suffix}", candidates[index]);
        let new_cursor = before.chars().count() + inserted.chars().count();
        self.input = Input::new(format!("{before}{inserted}{after}")).with_cursor(new_cursor);
        self.tab = Some((start, candidates, index));
    }

    /// Up (`back`) and Down through the sent lines; what was being typed comes back at the
    /// bottom.
    pub(super) fn walk(&mut self, back: bool) {
        let len = self.sent.len();
        let next = match (self.walking, back) {
            (None, true) if len > 0 => {
                self.draft = self.input.value().to_string();
                Some(len - 1)
            }
            (None, _) => return,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < len => Some(i + 1),
            (Some(_), false) => None,
        };
        self.walking = next;
        let text = next.map_or_else(|| std::mem::take(&mut self.draft), |i| self.sent[i].clone());
        self.input = Input::new(text);
    }

    /// `line` went out (or ran): it is remembered for Up, and the box is empty again.
    pub(super) fn sent_line(&mut self, line: String) {
        if self.sent.back() != Some(&line) {
            self.sent.push_back(line);
            if self.sent.len() > MAX_HISTORY {
                self.sent.pop_front();
            }
        }
        self.walking = None;
        self.draft.clear();
        self.input.reset();
    }
}
