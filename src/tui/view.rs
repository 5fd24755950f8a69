//! Pure rendering: draws the `App` model into a frame and reads nothing else (no clock, no
//! network). Only the rows that fit are laid out, so a long log costs nothing to draw.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

mod messages;
mod peers;

use super::app::App;
use super::help;
use super::wrap::wrap;
use crate::proto::{Hlc, Time};
use messages::render_messages;
use peers::render_peers;

/// Below this width or height the peers pane collapses to a count.
const PEERS_MIN_WIDTH: u16 = 70;
const PEERS_MIN_HEIGHT: u16 = 16;

/// Names' colours: twelve xterm-256 mid-tones that read on dark and on light backgrounds
/// (contrast 3:1 or more against both black and white), far apart from each other, and none of
/// them yellow or red (pending and errors), green (settled, joins) or bright magenta (your name
/// mentioned). Azure, sea green, olive, violet, orange, orchid, navy, slate, steel, purple, tan,
/// berry.
const PALETTE: [Color; 12] = [
    Color::Indexed(33),
    Color::Indexed(29),
    Color::Indexed(64),
    Color::Indexed(171),
    Color::Indexed(166),
    Color::Indexed(133),
    Color::Indexed(25),
    Color::Indexed(63),
    Color::Indexed(67),
    Color::Indexed(93),
    Color::Indexed(137),
    Color::Indexed(126),
];

/// A colour that stays the same for a name (or an old client's address) on every screen, in
/// every run and every life of its node: it follows the name, not the node's id.
pub fn author_color(key: &str) -> Color {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    PALETTE[(h % PALETTE.len() as u64) as usize]
}

/// Text from the network may hold escape sequences: never let them reach the terminal.
fn clean(s: &str) -> String {
    crate::show::clean(s, false)
}

/// As `clean`, but a message's line breaks stay (`wrap` lays them out with a hanging indent).
fn clean_text(s: &str) -> String {
    crate::show::clean(s, true)
}

/// A clock far enough off to mention (the node follows the group beyond a second).
fn skew_note(ms: i64) -> Option<String> {
    (ms.unsigned_abs() >= 1_000).then(|| format!("clock {}", crate::show::skew_text(ms)))
}

fn clock(app: &App, at: Hlc) -> String {
    at.to_utc().with_timezone(&app.tz()).format("%H:%M:%S").to_string()
}

fn age(now: Time, then: Time) -> String {
    let s = now.since(then).as_secs();
    match s {
        0 => "now".into(),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

/// Draws the whole screen from the model, reading nothing else.
pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    let small = area.width < PEERS_MIN_WIDTH || area.height < PEERS_MIN_HEIGHT;
    let max_shared = if area.height < 16 { 1 } else { 3 };
    let shared_rows = match app.node.shared() {
        Some(e) => wrap(&[(clean_text(&e.text), Style::new())], usize::from(area.width.saturating_sub(2)), 0).len(),
        None => 1,
    }
    .clamp(1, max_shared) as u16;
    let footer = u16::from(area.height >= 16);
    let [header, shared, middle, compose, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(shared_rows + 2),
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(footer),
    ])
    .areas(area);
    render_header(app, f, header);
    render_shared(app, f, shared, shared_rows as usize);
    if small {
        render_messages(app, f, middle, true);
    } else {
        let peers_width = if area.width >= 110 { 40 } else { 30 };
        let [msgs, peers] = Layout::horizontal([Constraint::Min(20), Constraint::Length(peers_width)]).areas(middle);
        render_messages(app, f, msgs, false);
        render_peers(app, f, peers);
    }
    render_compose(app, f, compose);
    if footer > 0 {
        render_footer(f, foot);
    }
    if app.help_open() {
        render_help(app, f, area);
    }
    if !app.prefs.colours {
        // Monochrome (`colours = "off"`, or NO_COLOR): the terminal's own colours everywhere;
        // bold, dim and reverse still tell things apart.
        for cell in &mut f.buffer_mut().content {
            cell.set_fg(Color::Reset);
            cell.set_bg(Color::Reset);
        }
    }
}

fn render_header(app: &App, f: &mut Frame, area: Rect) {
    let dim = Style::new().fg(Color::DarkGray);
    let sep = || Span::styled(" │ ", dim);
    // Right: the counts, always whole. Left: where and who, cut first when narrow.
    let s = app.node.stats();
    // Events the screen fell behind on are recovered by a resync, so they are no loss here.
    let dropped = s.dropped_total();
    let mut right = vec![Span::raw(format!("peers {}/{}", app.peers.alive(), app.peers.rows().len())), sep()];
    if area.width >= 60 {
        right.push(Span::raw(format!("sent {} recv {} ", s.messages_sent, s.messages_received + s.repaired)));
    }
    right
        .push(Span::styled(format!("drop {dropped} "), if dropped > 0 { Style::new().fg(Color::Yellow) } else { dim }));
    let right = Line::from(right);
    let right_width = (right.width() as u16).min(area.width);
    let [left_area, right_area] = Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    // The most detail that fits, leaving a space before the counts.
    let room = usize::from(left_area.width).saturating_sub(2);
    let left = (0..6)
        .map(|detail| header_left(app, detail))
        .find(|l| l.width() <= room)
        .unwrap_or_else(|| header_left(app, 6));
    f.render_widget(Paragraph::new(left), left_area);
    f.render_widget(Paragraph::new(right), right_area);
}

/// Cells our own name takes at most in a narrow header.
const OWN_NAME_NARROW: usize = 16;

/// The header's left part; a higher `detail` number leaves more out (at 3 the node's id goes, our
/// name is cut and the clock's note takes its short form, at 4 our name goes, at 5 the note, at 6
/// keyed or open: a warning about a clock matters more than our own name, which the peers pane
/// shows too).
fn header_left(app: &App, detail: u8) -> Line<'static> {
    let dim = Style::new().fg(Color::DarkGray);
    let mut left = vec![Span::styled(" groupcast ", Style::new().bold().fg(Color::Black).bg(Color::Cyan)), " ".into()];
    let Some(me) = app.node.me() else {
        left.push(Span::styled("joining…", dim));
        return Line::from(left);
    };
    // Only clocks of members the ring vouches for: a replayed or made-up name is no host to blame.
    let peers =
        app.peers.rows().values().filter(|p| p.status.is_member() && p.vouched).map(|p| (p.name.as_str(), p.skew_ms));
    let note = (detail < 5).then(|| crate::show::clock_note(app.node.skew_ms(), app.node.clock(), peers, detail >= 3));
    let note = note.flatten();
    // Narrow: a long name of ours is cut, then left out for the clock's warning (if there is one).
    let name = if detail < 3 { clean(&me.name) } else { crate::show::clip(&clean(&me.name), OWN_NAME_NARROW) };
    let with_name = detail != 4 || note.is_none();
    if with_name {
        left.push(Span::styled(name, Style::new().bold().fg(author_color(&me.name))));
    }
    if detail < 3 {
        left.push(Span::styled(format!(" #{}", me.node.short()), dim));
    }
    if detail < 6 {
        // Keyed or open stays almost to the last: it says whether anyone on the LAN can read along.
        if with_name {
            left.push(Span::styled(" │ ", dim));
        }
        left.push(if app.node.keyed() {
            Span::styled("keyed", Style::new().fg(Color::Green))
        } else {
            Span::raw("open")
        });
    }
    if detail < 2 {
        left.push(Span::styled(" │ ", dim));
        left.push(Span::raw(me.group.to_string()));
    }
    if detail < 1 {
        left.push(Span::styled(format!(" via {}", me.iface), dim));
    }
    if let Some(note) = note {
        let note = clean(&note);
        left.push(Span::styled(" │ ", dim));
        left.push(Span::styled(note, Style::new().fg(Color::Yellow)));
    }
    Line::from(left)
}

/// A stamp ahead of group time (its sender's clock was wrong when it said it): messages said
/// since sort before it in the log, and it settles only when group time passes it (the next
/// message written takes its place as the shared message). Said so, as fully as `room` columns
/// allow (none of it if even the short form does not fit).
fn ahead(app: &App, ts: Hlc, room: usize) -> Span<'static> {
    let by = ts.to_unix().saturating_sub(app.group_now());
    if by < std::time::Duration::from_secs(1) {
        return Span::raw("");
    }
    let by = crate::show::skew_text(by.as_millis().min(i64::MAX as u128) as i64);
    let by = by.trim_start_matches('+');
    let text = [
        format!("({by} ahead of group time: settles when that time comes) "),
        format!("({by} ahead of group time) "),
        format!("({by} ahead) "),
    ]
    .into_iter()
    .find(|t| t.chars().count() <= room);
    Span::styled(text.unwrap_or_default(), Style::new().fg(Color::Yellow))
}

fn render_shared(app: &App, f: &mut Frame, area: Rect, rows: usize) {
    let dim = Style::new().fg(Color::DarkGray);
    let mut block = Block::bordered().title(" Shared message ").border_style(Style::new().fg(Color::Cyan));
    if let Some(e) = app.node.shared() {
        let who = clean(&e.author());
        let color = author_color(&who);
        let at = format!(" at {} ", clock(app, e.ts));
        let ours = app.node.me().is_some_and(|m| m.node == e.node) && e.bare_from.is_none();
        let mark = if e.ts < app.node.settled() && ours && !app.node.held_elsewhere(e.ts) {
            Span::styled("◇ only here ", Style::new().fg(Color::DarkGray))
        } else if e.ts < app.node.settled() {
            Span::styled("✓ settled ", Style::new().fg(Color::Green))
        } else {
            Span::styled("◌ pending ", Style::new().fg(Color::Yellow))
        };
        // The note on a stamp ahead takes what the rest leaves of the bottom border.
        let taken = " set by ".len() + UnicodeWidthStr::width(who.as_str()) + at.chars().count() + mark.width();
        let room = usize::from(area.width).saturating_sub(2 + taken);
        block = block.title_bottom(
            Line::from(vec![
                Span::styled(" set by ", dim),
                Span::styled(who, Style::new().fg(color)),
                Span::styled(at, dim),
                ahead(app, e.ts, room),
                mark,
            ])
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines = match app.node.shared() {
        None => vec![Line::styled("(no shared message yet)", dim.italic())],
        Some(e) => {
            // `/me waves` reads "* alice waves" here as in the log.
            let text = match e.text.strip_prefix("/me ") {
                Some(action) => format!("* {} {}", e.author(), action),
                None => e.text.to_string(),
            };
            let mut l = wrap(&[(clean_text(&text), Style::new().bold())], usize::from(inner.width), 0);
            if l.len() > rows {
                l.truncate(rows);
                if let Some(last) = l.last_mut() {
                    last.spans.push(Span::raw("…"));
                }
            }
            l
        }
    };
    f.render_widget(Paragraph::new(lines), inner);
}

fn render_compose(app: &App, f: &mut Frame, area: Rect) {
    if let Some(search) = app.messages.search() {
        let found = match (search.hit, search.matches) {
            (_, 0) if search.query.is_empty() => "type to search the messages".to_string(),
            (_, 0) => "no match".to_string(),
            (_, n) => {
                format!("{n} matching line{} · Enter/↑ older · ↓ newer · Esc done", if n == 1 { "" } else { "s" })
            }
        };
        let block = Block::bordered()
            .title(" Search ")
            .border_style(Style::new().fg(Color::Cyan))
            .title_bottom(Line::styled(format!(" {found} "), Style::new().fg(Color::Cyan)).right_aligned());
        let inner = block.inner(area);
        f.render_widget(block, area);
        let line =
            Line::from(vec![Span::styled("find: ", Style::new().fg(Color::Cyan)), Span::raw(clean(&search.query))]);
        f.render_widget(Paragraph::new(line), inner);
        return;
    }
    let mut block = Block::new().borders(Borders::ALL).title(" Compose ");
    if let Some(e) = app.composer.error() {
        block = block
            .border_style(Style::new().fg(Color::LightRed))
            .title_bottom(Line::styled(format!(" {e} "), Style::new().fg(Color::LightRed)));
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let prompt = "› ";
    let width = usize::from(inner.width).saturating_sub(prompt.len() - 1).max(1);
    // A pasted line break shows as ↵ (one column); the message keeps it.
    let shown_char = |c: char| match c {
        '\n' => '↵',
        c if c.is_control() => '\u{fffd}',
        c => c,
    };
    let cursor: usize =
        app.composer.value().chars().take(app.composer.cursor()).map(|c| shown_char(c).width().unwrap_or(0)).sum();
    let scroll = (cursor + 1).saturating_sub(width);
    let mut shown = String::new();
    let mut col = 0;
    for c in app.composer.value().chars().map(shown_char) {
        let w = c.width().unwrap_or(0);
        if col >= scroll && col + w <= scroll + width {
            shown.push(c);
        }
        col += w;
    }
    let line = Line::from(vec![Span::styled(prompt, Style::new().fg(Color::Cyan)), Span::raw(shown)]);
    f.render_widget(Paragraph::new(line), inner);
    if !app.help_open() {
        let x = inner.x + 2 + cursor.saturating_sub(scroll) as u16;
        f.set_cursor_position(Position::new(x.min(inner.right().saturating_sub(1)), inner.y));
    }
}

fn render_footer(f: &mut Frame, area: Rect) {
    let key = Style::new().fg(Color::Black).bg(Color::DarkGray);
    let hints = [("Enter", "send"), ("↑↓", "history"), ("PgUp/PgDn", "scroll"), ("F1", "help"), ("Ctrl-C", "quit")];
    let mut spans = Vec::new();
    for (k, what) in hints {
        spans.push(Span::styled(format!(" {k} "), key));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_help(app: &App, f: &mut Frame, area: Rect) {
    let w = help::width(area.width);
    let lines = help::lines(usize::from(w.saturating_sub(2)));
    let h = (lines.len() as u16 + 4).min(area.height);
    let popup = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    f.render_widget(Clear, popup);
    // Taller than the screen: it scrolls (↑↓ PgUp PgDn), and says there is more.
    let rows = usize::from(h.saturating_sub(2));
    let top = app.help_scroll().min(lines.len().saturating_sub(rows));
    let more = match (top > 0, top + rows < lines.len()) {
        (true, true) => " ↑↓ more ",
        (true, false) => " ↑ more ",
        (false, true) => " ↓ more ",
        (false, false) => "",
    };
    let block = Block::bordered()
        .title(" Help ")
        .title_bottom(Line::from(more).alignment(Alignment::Left))
        .title_bottom(Line::from(" Esc or F1 to close ").alignment(Alignment::Right))
        .border_style(Style::new().fg(Color::Cyan));
    let inner = block.inner(popup);
    f.render_widget(block, popup);
    let shown: Vec<Line> = lines.into_iter().skip(top).collect();
    f.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stable_across_runs_and_spread_over_the_palette() {
        // FNV-1a of the key picks the colour: the same on every screen, in every run (a
        // per-process hasher would fail this).
        let h = "10.0.0.1:5000"
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        assert_eq!(author_color("10.0.0.1:5000"), PALETTE[(h % PALETTE.len() as u64) as usize]);
        let used: std::collections::BTreeSet<String> =
            (1..=40).map(|i| format!("{:?}", author_color(&format!("10.0.0.{i}:5000")))).collect();
        assert!(used.len() >= 12, "forty senders share only {} colours", used.len());
    }

    /// The red, green and blue of an xterm-256 colour of the 6×6×6 cube.
    fn rgb(c: Color) -> [f64; 3] {
        let Color::Indexed(i @ 16..=231) = c else { panic!("{c:?} is not in the colour cube") };
        let i = i - 16;
        let level = |v: u8| if v == 0 { 0.0 } else { 55.0 + 40.0 * f64::from(v) };
        [level(i / 36), level((i / 6) % 6), level(i % 6)]
    }

    fn luminance([r, g, b]: [f64; 3]) -> f64 {
        let ch = |v: f64| {
            let v = v / 255.0;
            if v <= 0.039_28 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)
    }

    #[test]
    fn names_read_on_dark_and_light_terminals_and_no_two_colours_are_alike() {
        for c in PALETTE {
            let l = luminance(rgb(c));
            let on_white = 1.05 / (l + 0.05);
            let on_black = (l + 0.05) / 0.05;
            assert!(
                on_white >= 3.0 && on_black >= 3.0,
                "{c:?}: contrast {on_white:.2} on white, {on_black:.2} on black"
            );
            // Not red or yellow: the hue is outside 330°–20° and 40°–70°.
            let [r, g, b] = rgb(c);
            let (max, min) = (r.max(g).max(b), r.min(g).min(b));
            let hue = if max - min < 1.0 {
                0.0
            } else if (max - r).abs() < 1.0 {
                (60.0 * (g - b) / (max - min)).rem_euclid(360.0)
            } else if (max - g).abs() < 1.0 {
                60.0 * (b - r) / (max - min) + 120.0
            } else {
                60.0 * (r - g) / (max - min) + 240.0
            };
            assert!(!(hue >= 330.0 || hue <= 20.0 || (40.0..=70.0).contains(&hue)), "{c:?}: hue {hue:.0}°");
        }
        for (i, a) in PALETTE.iter().enumerate() {
            for b in &PALETTE[i + 1..] {
                let d = rgb(*a).iter().zip(rgb(*b)).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
                assert!(d >= 80.0, "{a:?} and {b:?} are too alike ({d:.0})");
            }
        }
    }

    #[test]
    fn escape_sequences_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[2Jb\n"), "a\u{fffd}[2Jb\u{fffd}");
    }
}
