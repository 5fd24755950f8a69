//! The help page (F1): its rows, and how far it scrolls on a screen of a given size. Both the
//! model (which keeps the scroll within bounds) and the view (which draws it) read it here.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use super::wrap::wrap;

/// The help page (F1): what each key and command does, and what the marks mean.
pub const HELP: &[(&str, &str)] = &[
    ("Enter", "send the message (an empty line sends nothing)"),
    ("↑ / ↓", "earlier / later lines you sent"),
    ("← → Home End", "move the cursor"),
    ("Ctrl-← / Ctrl-→", "move by word"),
    ("Ctrl-W, Alt-Bksp", "delete the word before the cursor"),
    ("Ctrl-U / Ctrl-K", "delete the line / to its end"),
    ("PgUp / PgDn", "scroll the messages"),
    ("Ctrl-Home / End", "oldest / newest message (or Home / End"),
    ("", "  when the line is empty)"),
    ("Mouse wheel", "scroll the messages"),
    ("✓ / ◌ / ◇", "settled (all live members have it) / pending / only here"),
    ("peers 2/3", "header: members alive / all known"),
    ("recv / drop", "header: messages received / datagrams refused"),
    ("", "  (/drops says why each was refused)"),
    ("prev / next", "your ring neighbours, linked over TCP"),
    ("Esc", "follow new messages, clear an error"),
    ("Tab", "complete a peer's name (again: the next one)"),
    ("Ctrl-F", "search the messages (Enter/↑ older, ↓ newer, Esc)"),
    ("F1", "this help"),
    ("F2", "let the terminal select text; F2 again: back"),
    ("Ctrl-C", "leave the group and quit"),
    ("/help", "this help"),
    ("/name NEW", "change your name; peers see it"),
    ("/me ACTION", "say what you do: * alice waves"),
    ("//text", "send a line that starts with /"),
    ("/bell", "bell when a message names you; again: off"),
    ("/save PATH", "write the messages here to PATH (JSON lines)"),
    ("/drops", "what was refused so far, by reason"),
    ("/clear", "clear the messages on this screen only"),
    ("/quit", "leave the group and quit"),
];

/// The help's width on a screen `screen_width` wide, borders included.
pub fn width(screen_width: u16) -> u16 {
    screen_width.min(68)
}

/// The help's rows inside a popup `inner` cells wide: a key and what it does on one row when
/// there is room, else the key on its row and what it does wrapped under it, never cut.
pub fn lines(inner: usize) -> Vec<Line<'static>> {
    let key = Style::new().fg(Color::Cyan).bold();
    let mut out = Vec::new();
    for (k, what) in HELP {
        if inner >= 19 + what.chars().count() || inner >= 60 {
            out.extend(wrap(&[(format!(" {k:<18}"), key), ((*what).to_string(), Style::default())], inner, 19));
        } else {
            if !k.is_empty() {
                out.push(Line::from(Span::styled(format!(" {k}"), key)));
            }
            out.extend(wrap(
                &[("   ".to_string(), Style::default()), (what.trim().to_string(), Style::default())],
                inner,
                3,
            ));
        }
    }
    out
}

/// How far the help scrolls on a screen of `size`: its last row at the bottom.
pub fn last_scroll(size: (u16, u16)) -> usize {
    let len = lines(usize::from(width(size.0).saturating_sub(2))).len();
    let rows = (len + 4).min(usize::from(size.1)).saturating_sub(2);
    len.saturating_sub(rows)
}
