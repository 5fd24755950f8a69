//! The peers pane, drawn: this node, then every peer in ring order on two rows (status, name,
//! ring tag and loss; address, clock and age), and what it means to be alone.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::super::app::App;
use super::super::peers::{ALONE_AFTER, Alone, PeerRow};
use super::super::wrap::wrap;
use super::{age, author_color, clean, skew_note};
use crate::proto::Status;

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
    let tag = match (app.node.ring().prev == Some(p.node), app.node.ring().next == Some(p.node)) {
        (true, true) => "prev·next ",
        (true, false) => "prev ",
        (false, true) => "next ",
        (false, false) => "",
    };
    let name = clean(&app.shown_name(&p.name, p.node));
    let room = width.saturating_sub(3 + loss.len() + tag.chars().count());
    let name: String = name.chars().take(room).collect();
    let pad = width.saturating_sub(2 + name.chars().count() + tag.chars().count() + loss.len() + 1);
    let dim = Style::new().fg(Color::DarkGray);
    let gone = !p.status.is_member();
    let name_style = if gone { dim } else { Style::new().fg(author_color(&p.name)) };
    let first = Line::from(vec![
        Span::styled(format!("{glyph} "), Style::new().fg(color)),
        Span::styled(name, name_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(tag, Style::new().fg(Color::Cyan)),
        Span::styled(loss, if p.loss >= 0.05 { Style::new().fg(Color::Yellow) } else { dim }),
    ]);
    let when = match p.status {
        Status::Alive => age(app.now(), p.last_seen),
        Status::Suspect => format!("silent {}", age(app.now(), p.last_seen)),
        Status::Down => format!("down {}", age(app.now(), p.since)),
        Status::Left => format!("left {}", age(app.now(), p.since)),
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

pub(super) fn render_peers(app: &App, f: &mut Frame, area: Rect) {
    let title = format!(" Peers {}/{} ", app.peers.alive(), app.peers.rows().len());
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    if let Some(me) = app.node.me() {
        lines.push(Line::from(vec![
            Span::styled("● ", Style::new().fg(Color::Green)),
            Span::styled(clean(&app.shown_name(&me.name, me.node)), Style::new().fg(author_color(&me.name)).bold()),
            Span::styled(" (you)", Style::new().fg(Color::DarkGray)),
        ]));
        lines.push(Line::styled(format!("  {}", me.iface), Style::new().fg(Color::DarkGray)));
    }
    for p in app.peers.sorted() {
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
pub(super) fn alone_lines(app: &App, why: Alone, width: usize, brief: bool) -> Vec<Line<'static>> {
    let group = app.node.me().map_or_else(|| "the group".to_string(), |m| m.group.to_string());
    let port = app.node.me().map_or(12345, |m| m.group.port());
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
