//! Pure rendering: draws the `App` model into a frame and reads nothing else (no clock, no
//! network). Only the rows that fit are laid out, so a long log costs nothing to draw.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{ALONE_AFTER, Alone, App, LineKind, LogLine, PeerRow, SystemKind};
use crate::proto::{Hlc, NodeId, Status, Time};

/// Below this width or height the peers pane collapses to a count.
const PEERS_MIN_WIDTH: u16 = 70;
const PEERS_MIN_HEIGHT: u16 = 16;

/// Names' colours: xterm-256 mid-tones that read on dark and on light backgrounds (contrast
/// 3:1 or more against both black and white), far apart from each other, and none of them
/// yellow or red (pending and errors), green (settled, joins) or bright magenta (your name
/// mentioned). Azure, teal, olive, violet, rust, plum.
const PALETTE: [Color; 6] = [
    Color::Indexed(33),
    Color::Indexed(30),
    Color::Indexed(64),
    Color::Indexed(98),
    Color::Indexed(130),
    Color::Indexed(96),
];

/// A colour that stays the same for a sender on every screen and every run.
pub fn author_color(key: &str) -> Color {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    PALETTE[(h % PALETTE.len() as u64) as usize]
}

fn node_color(node: NodeId) -> Color {
    author_color(&node.to_string())
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
    at.to_utc().with_timezone(&app.tz).format("%H:%M:%S").to_string()
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

/// Word-wraps styled text to `width` columns; continuation rows start with `indent` spaces.
pub fn wrap(spans: &[(String, Style)], width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent * 2 < width { indent } else { 0 };
    let cells: Vec<(char, Style)> = spans.iter().flat_map(|(t, s)| t.chars().map(move |c| (c, *s))).collect();
    let mut rows: Vec<Vec<(char, Style)>> = vec![Vec::new()];
    let mut used = 0;
    let mut i = 0;
    while i < cells.len() {
        let (c, _) = cells[i];
        if c == '\n' {
            // A line break in the text: the next line starts under the text, not the margin.
            rows.push(std::iter::repeat_n((' ', Style::default()), indent).collect());
            used = indent;
            i += 1;
            continue;
        }
        let w = c.width().unwrap_or(0);
        if used + w > width && used > 0 {
            // Break after the last space in the row, if there is one past the indent.
            let start = if rows.len() > 1 { indent } else { 0 };
            let row = rows.last_mut().expect("a row");
            let split = row.iter().rposition(|(ch, _)| *ch == ' ').filter(|&p| p > start);
            let carry: Vec<(char, Style)> = match split {
                Some(p) if c != ' ' => {
                    let tail = row.split_off(p + 1);
                    row.pop(); // the space the row breaks at
                    tail
                }
                _ => Vec::new(),
            };
            let mut next: Vec<(char, Style)> = std::iter::repeat_n((' ', Style::default()), indent).collect();
            used = indent + carry.iter().map(|(ch, _)| ch.width().unwrap_or(0)).sum::<usize>();
            next.extend(carry);
            rows.push(next);
            if c == ' ' {
                i += 1;
                continue;
            }
        }
        rows.last_mut().expect("a row").push(cells[i]);
        used += w;
        i += 1;
    }
    rows.into_iter()
        .map(|row| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut cur = String::new();
            let mut style = None;
            for (c, s) in row {
                if style != Some(s) && !cur.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut cur), style.unwrap_or_default()));
                }
                style = Some(s);
                cur.push(c);
            }
            if !cur.is_empty() {
                spans.push(Span::styled(cur, style.unwrap_or_default()));
            }
            Line::from(spans)
        })
        .collect()
}

/// Draws the whole screen from the model, reading nothing else.
pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    let small = area.width < PEERS_MIN_WIDTH || area.height < PEERS_MIN_HEIGHT;
    let max_shared = if area.height < 16 { 1 } else { 3 };
    let shared_rows = match &app.shared {
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
    if app.help {
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
    let s = &app.stats;
    // Events the screen fell behind on are recovered by a resync, so they are no loss here.
    let dropped = s.dropped_total();
    let mut right = vec![Span::raw(format!("peers {}/{}", app.alive_peers(), app.peers.len())), sep()];
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
    let left = (0..5)
        .map(|detail| header_left(app, detail))
        .find(|l| l.width() <= room)
        .unwrap_or_else(|| header_left(app, 5));
    f.render_widget(Paragraph::new(left), left_area);
    f.render_widget(Paragraph::new(right), right_area);
}

/// The header's left part; a higher `detail` number leaves more out (at 3 the node's id goes and
/// the clock's note is cut to two words, at 4 the note goes, at 5 keyed or open).
fn header_left(app: &App, detail: u8) -> Line<'static> {
    let dim = Style::new().fg(Color::DarkGray);
    let mut left = vec![Span::styled(" groupcast ", Style::new().bold().fg(Color::Black).bg(Color::Cyan)), " ".into()];
    let Some(me) = &app.me else {
        left.push(Span::styled("joining…", dim));
        return Line::from(left);
    };
    left.push(Span::styled(clean(&me.name), Style::new().bold().fg(node_color(me.node))));
    if detail < 3 {
        left.push(Span::styled(format!(" #{}", me.node.short()), dim));
    }
    if detail < 5 {
        // Keyed or open stays almost to the last: it says whether anyone on the LAN can read along.
        left.push(Span::styled(" │ ", dim));
        left.push(if app.keyed { Span::styled("keyed", Style::new().fg(Color::Green)) } else { Span::raw("open") });
    }
    if detail < 2 {
        left.push(Span::styled(" │ ", dim));
        left.push(Span::raw(me.group.to_string()));
    }
    if detail < 1 {
        left.push(Span::styled(format!(" via {}", me.iface), dim));
    }
    // Only clocks of members the ring vouches for: a replayed or made-up name is no host to blame.
    let peers = app.peers.values().filter(|p| p.status.is_member() && p.vouched).map(|p| (p.name.as_str(), p.skew_ms));
    if let Some(note) = crate::show::clock_note(app.skew_ms, app.clock, peers).filter(|_| detail < 4) {
        let note = if detail < 3 { clean(&note) } else { "clock off".to_string() };
        left.push(Span::styled(" │ ", dim));
        left.push(Span::styled(note, Style::new().fg(Color::Yellow)));
    }
    Line::from(left)
}

/// A stamp ahead of group time (its sender's clock was wrong when it said it): it stays the
/// newest, and messages said since sort before it, until group time passes it. Said so, as fully
/// as `room` columns allow (none of it if even the short form does not fit).
fn ahead(app: &App, ts: Hlc, room: usize) -> Span<'static> {
    let by = ts.to_unix().saturating_sub(app.group_now());
    if by < std::time::Duration::from_secs(1) {
        return Span::raw("");
    }
    let by = crate::show::skew_text(by.as_millis().min(i64::MAX as u128) as i64);
    let by = by.trim_start_matches('+');
    let text = [
        format!("({by} ahead of group time: newer messages sort before it) "),
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
    if let Some(e) = &app.shared {
        let who = clean(&e.author());
        let color = if e.bare_from.is_some() { author_color(&who) } else { node_color(e.node) };
        let at = format!(" at {} ", clock(app, e.ts));
        let mark = if e.ts < app.settled {
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
    let lines = match &app.shared {
        None => vec![Line::styled("(no shared message yet)", dim.italic())],
        Some(e) => {
            let mut l = wrap(&[(clean_text(&e.text), Style::new().bold())], usize::from(inner.width), 0);
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

/// Line `i` of the messages, the search's match shown reversed.
fn spans_at(app: &App, i: usize) -> Vec<(String, Style)> {
    let mut spans = line_spans(app, &app.lines[i]);
    if app.search.as_ref().is_some_and(|s| s.hit == Some(i)) {
        for (_, style) in spans.iter_mut().skip(1) {
            *style = style.add_modifier(Modifier::REVERSED);
        }
    }
    spans
}

fn line_spans(app: &App, l: &LogLine) -> Vec<(String, Style)> {
    let time = (format!("{} ", clock(app, l.at())), Style::new().fg(Color::DarkGray));
    match &l.kind {
        LineKind::Chat { node, author, own, bare } => {
            let author = clean(author);
            let color = if *bare { author_color(&author) } else { node_color(*node) };
            let mut name = Style::new().fg(color).bold();
            let mut text = Style::default();
            if *own {
                // Own lines: the name on its colour, so they stand out at a glance.
                name = Style::new().fg(Color::Black).bg(color).bold();
                text = text.add_modifier(Modifier::BOLD);
            }
            // ✓ once every live member holds it (settled), ◌ until then.
            let mark = if l.at() < app.settled {
                ("✓ ".to_string(), Style::new().fg(Color::Green))
            } else {
                ("◌ ".to_string(), Style::new().fg(Color::Yellow))
            };
            if app.mentions_me(l) {
                // Your name in someone's line: the line is marked, in the one colour no name
                // and no status uses.
                text = Style::new().fg(Color::LightMagenta).add_modifier(Modifier::BOLD);
            }
            if let Some(action) = l.text.strip_prefix("/me ") {
                // `/me waves`: "* alice waves".
                let text = text.add_modifier(Modifier::ITALIC);
                return vec![
                    time,
                    mark,
                    ("* ".into(), text),
                    (author, name),
                    (format!(" {}", clean_text(action)), text),
                ];
            }
            vec![time, mark, (author, name), (": ".into(), Style::default()), (clean_text(&l.text), text)]
        }
        LineKind::System(kind) => {
            let (mark, color) = match kind {
                SystemKind::Join => ("→ ", Color::Green),
                SystemKind::Leave => ("← ", Color::DarkGray),
                SystemKind::Down => ("✖ ", Color::Red),
                SystemKind::Info => ("• ", Color::DarkGray),
                SystemKind::Error => ("! ", Color::LightRed),
            };
            vec![time, (format!("{mark}{}", clean(&l.text)), Style::new().fg(color).italic())]
        }
    }
}

fn render_messages(app: &App, f: &mut Frame, area: Rect, collapsed_peers: bool) {
    let mut title = " Messages ".to_string();
    if collapsed_peers {
        title = format!(" Messages · peers {}/{} ", app.alive_peers(), app.peers.len());
    }
    let mut block = Block::bordered().title(title);
    if app.scroll > 0 {
        let marker = if app.unseen > 0 {
            format!(" ↓ {} new · End to follow ", app.unseen)
        } else {
            " scrolled · End to follow ".to_string()
        };
        block =
            block.title_bottom(Line::styled(marker, Style::new().fg(Color::Black).bg(Color::Yellow)).right_aligned());
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (width, height) = (usize::from(inner.width), usize::from(inner.height));
    // Lay out from the bottom of the view upwards, only as many lines as fit, with a rule
    // where the day changes.
    let bottom = app.lines.len().saturating_sub(app.scroll);
    let day = |l: &LogLine| l.at().to_utc().with_timezone(&app.tz).date_naive();
    let rule = |l: &LogLine| {
        let label = format!(" {} ", l.at().to_utc().with_timezone(&app.tz).format("%A %-d %B %Y"));
        let side = width.saturating_sub(label.chars().count()) / 2;
        Line::styled(format!("{}{label}{}", "─".repeat(side), "─".repeat(side)), Style::new().fg(Color::DarkGray))
    };
    let mut rows: Vec<Line> = Vec::new();
    let mut reached_first = bottom == 0;
    for i in (0..bottom).rev() {
        let l = &app.lines[i];
        let mut wrapped = wrap(&spans_at(app, i), width, 11);
        wrapped.reverse();
        rows.extend(wrapped);
        if i > 0 && day(&app.lines[i - 1]) != day(l) {
            rows.push(rule(l));
        }
        reached_first = i == 0;
        if rows.len() >= height {
            break;
        }
    }
    rows.truncate(height);
    rows.reverse();
    if reached_first && rows.len() < height {
        if app.lines_dropped > 0 {
            let note = format!("… {} older lines not kept", app.lines_dropped);
            rows.insert(0, Line::styled(note, Style::new().fg(Color::DarkGray).italic()));
        }
        // Scrolled to the top (Ctrl-Home): a full first page, not the oldest line alone.
        for i in bottom..app.lines.len() {
            if rows.len() >= height {
                break;
            }
            let l = &app.lines[i];
            if i > 0 && day(&app.lines[i - 1]) != day(l) {
                rows.push(rule(l));
            }
            rows.extend(wrap(&spans_at(app, i), width, 11));
        }
        rows.truncate(height);
    }
    if app.lines.is_empty() {
        rows.push(Line::styled("no messages yet: type below and press Enter", Style::new().fg(Color::DarkGray)));
    }
    if collapsed_peers && let Some(why) = app.nobody_here() {
        // No peers pane on a small screen: the hint takes the bottom of the messages.
        let mut hint = alone_lines(app, why, width, false);
        if hint.len() + 1 > height {
            hint = alone_lines(app, why, width, true);
        }
        let keep = height.saturating_sub(hint.len());
        rows.drain(..rows.len().saturating_sub(keep));
        rows.extend(hint);
    }
    f.render_widget(Paragraph::new(rows), inner);
}

fn status_glyph(s: Status) -> (&'static str, Color) {
    match s {
        Status::Alive => ("●", Color::Green),
        Status::Suspect => ("◐", Color::Yellow),
        Status::Down => ("✖", Color::Red),
        Status::Left => ("○", Color::DarkGray),
    }
}

fn peer_lines(app: &App, p: &PeerRow, width: usize) -> [Line<'static>; 2] {
    let (glyph, color) = status_glyph(p.status);
    let loss = format!("{:.0}%", p.loss * 100.0);
    // This node's ring neighbours, the peers it holds TCP links to.
    let tag = match (app.ring.prev == Some(p.node), app.ring.next == Some(p.node)) {
        (true, true) => "prev·next ",
        (true, false) => "prev ",
        (false, true) => "next ",
        (false, false) => "",
    };
    let name = clean(&p.name);
    let room = width.saturating_sub(3 + loss.len() + tag.chars().count());
    let name: String = name.chars().take(room).collect();
    let pad = width.saturating_sub(2 + name.chars().count() + tag.chars().count() + loss.len() + 1);
    let dim = Style::new().fg(Color::DarkGray);
    let gone = !p.status.is_member();
    let name_style = if gone { dim } else { Style::new().fg(node_color(p.node)) };
    let first = Line::from(vec![
        Span::styled(format!("{glyph} "), Style::new().fg(color)),
        Span::styled(name, name_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(tag, Style::new().fg(Color::Cyan)),
        Span::styled(loss, if p.loss >= 0.05 { Style::new().fg(Color::Yellow) } else { dim }),
    ]);
    let when = match p.status {
        Status::Alive => age(app.now, p.last_seen),
        Status::Suspect => format!("silent {}", age(app.now, p.last_seen)),
        Status::Down => format!("down {}", age(app.now, p.since)),
        Status::Left => format!("left {}", age(app.now, p.since)),
    };
    let when = match skew_note(p.skew_ms) {
        Some(note) => format!("{note} {when}"),
        None => when,
    };
    // Too long for the row (an IPv6 address): without the port (every node sends from the
    // group's), then cut.
    let mut addr = p.addr.to_string();
    let room = width.saturating_sub(3 + when.chars().count());
    if addr.chars().count() > room {
        addr = p.addr.ip().to_string();
    }
    if addr.chars().count() > room {
        addr = format!("{}…", addr.chars().take(room.saturating_sub(1)).collect::<String>());
    }
    let pad = width.saturating_sub(2 + addr.chars().count() + when.chars().count());
    let second =
        Line::from(vec![Span::raw("  "), Span::styled(addr, dim), Span::raw(" ".repeat(pad)), Span::styled(when, dim)]);
    [first, second]
}

fn render_peers(app: &App, f: &mut Frame, area: Rect) {
    let title = format!(" Peers {}/{} ", app.alive_peers(), app.peers.len());
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    if let Some(me) = &app.me {
        lines.push(Line::from(vec![
            Span::styled("● ", Style::new().fg(Color::Green)),
            Span::styled(clean(&me.name), Style::new().fg(node_color(me.node)).bold()),
            Span::styled(" (you)", Style::new().fg(Color::DarkGray)),
        ]));
        lines.push(Line::styled(format!("  {}", me.iface), Style::new().fg(Color::DarkGray)));
    }
    for p in app.peers_sorted() {
        lines.extend(peer_lines(app, p, width));
    }
    if let Some(why) = app.nobody_here() {
        lines.push(Line::raw(""));
        lines.extend(alone_lines(app, why, width, false));
    }
    let more = lines.len().saturating_sub(usize::from(inner.height));
    if more > 0 {
        lines.truncate(usize::from(inner.height).saturating_sub(1));
        lines.push(Line::styled(format!("  … {} more", more.div_ceil(2)), Style::new().fg(Color::DarkGray)));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// What the screen says after some time with no peer: the likely cause, and the doctor
/// (`brief`: the cause's title and the doctor only, for small screens).
fn alone_lines(app: &App, why: Alone, width: usize, brief: bool) -> Vec<Line<'static>> {
    let group = app.me.as_ref().map_or_else(|| "the group".to_string(), |m| m.group.to_string());
    let port = app.me.as_ref().map_or(12345, |m| m.group.port());
    let (title, text) = match why {
        Alone::DeafHere => (
            "Nothing heard here".to_string(),
            format!("not even this node's own datagrams came back: a firewall on this host drops UDP port {port}."),
        ),
        Alone::KeyedGroup => (
            "A keyed group is here".to_string(),
            "its datagrams are sealed with a key this node does not have (or another one).".to_string(),
        ),
        Alone::InboundBlocked => (
            "Inbound multicast blocked".to_string(),
            "peers reach this host over TCP, but none of their multicast arrives.".to_string(),
        ),
        Alone::Nobody => (
            "Nobody here yet".to_string(),
            format!(
                "no other node heard on {group} for {} s. If others run groupcast: Wi-Fi client isolation, a VPN \
                 as the default route, IGMP snooping or a firewall may block multicast.",
                ALONE_AFTER.as_secs()
            ),
        ),
    };
    let warn = Style::new().fg(Color::Yellow);
    let dim = Style::new().fg(Color::Gray);
    let mut lines = wrap(&[(title, warn.bold())], width, 0);
    if !brief {
        lines.extend(wrap(&[(text, dim)], width, 0));
    }
    lines.extend(wrap(
        &[("Run ".into(), dim), ("groupcast doctor".into(), Style::new().bold()), (" to find out.".into(), dim)],
        width,
        0,
    ));
    lines
}

fn render_compose(app: &App, f: &mut Frame, area: Rect) {
    if let Some(search) = &app.search {
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
    if let Some(e) = &app.error {
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
        app.input.value().chars().take(app.input.cursor()).map(|c| shown_char(c).width().unwrap_or(0)).sum();
    let scroll = (cursor + 1).saturating_sub(width);
    let mut shown = String::new();
    let mut col = 0;
    for c in app.input.value().chars().map(shown_char) {
        let w = c.width().unwrap_or(0);
        if col >= scroll && col + w <= scroll + width {
            shown.push(c);
        }
        col += w;
    }
    let line = Line::from(vec![Span::styled(prompt, Style::new().fg(Color::Cyan)), Span::raw(shown)]);
    f.render_widget(Paragraph::new(line), inner);
    if !app.help {
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
    ("✓ / ◌", "settled (every live member has it) / pending"),
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
pub fn help_width(screen_width: u16) -> u16 {
    screen_width.min(68)
}

/// The help's rows inside a popup `inner` cells wide: a key and what it does on one row when
/// there is room, else the key on its row and what it does wrapped under it, never cut.
pub fn help_lines(inner: usize) -> Vec<Line<'static>> {
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
pub fn help_last_scroll(size: (u16, u16)) -> usize {
    let len = help_lines(usize::from(help_width(size.0).saturating_sub(2))).len();
    let rows = (len + 4).min(usize::from(size.1)).saturating_sub(2);
    len.saturating_sub(rows)
}

fn render_help(app: &App, f: &mut Frame, area: Rect) {
    let w = help_width(area.width);
    let lines = help_lines(usize::from(w.saturating_sub(2)));
    let h = (lines.len() as u16 + 4).min(area.height);
    let popup = Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h);
    f.render_widget(Clear, popup);
    // Taller than the screen: it scrolls (↑↓ PgUp PgDn), and says there is more.
    let rows = usize::from(h.saturating_sub(2));
    let top = app.help_scroll.min(lines.len().saturating_sub(rows));
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

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn wraps_at_words_with_a_hanging_indent() {
        let l =
            wrap(&[("12:00:00 ".into(), Style::default()), ("alpha beta gamma delta".into(), Style::default())], 20, 9);
        assert_eq!(text(&l), vec!["12:00:00 alpha beta", "         gamma delta"]);
    }

    #[test]
    fn wraps_long_words_and_wide_characters_by_width() {
        let l = wrap(&[("世界世界世界".into(), Style::default())], 5, 0);
        assert_eq!(text(&l), vec!["世界", "世界", "世界"]);
        let l = wrap(&[("abcdefghij".into(), Style::default())], 4, 0);
        assert_eq!(text(&l), vec!["abcd", "efgh", "ij"]);
    }

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
        assert!(used.len() >= 6, "forty senders share only {} colours", used.len());
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
