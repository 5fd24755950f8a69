//! The messages pane, drawn: the lines that fit, from the bottom of the view upwards, with a
//! rule where the day changes and the search's match shown reversed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use super::super::app::App;
use super::super::messages::{LineKind, LogLine, SystemKind};
use super::super::wrap::wrap;
use super::{author_color, clean, clean_text, clock, peers::alone_lines};

/// Line `i` of the messages, the search's match shown reversed.
fn spans_at(app: &App, i: usize) -> Vec<(String, Style)> {
    let mut spans = line_spans(app, &app.messages.lines()[i]);
    if app.messages.search().is_some_and(|s| s.hit == Some(i)) {
        for (_, style) in spans.iter_mut().skip(1) {
            *style = style.add_modifier(Modifier::REVERSED);
        }
    }
    spans
}

fn line_spans(app: &App, l: &LogLine) -> Vec<(String, Style)> {
    let time = (format!("{} ", clock(app, l.at())), Style::new().fg(Color::DarkGray));
    match &l.kind {
        LineKind::Chat { author, own, node, bare } => {
            let color = author_color(&clean(author));
            // Two live members of one name are told apart by a short id.
            let author = if *bare { clean(author) } else { clean(&app.shown_name(author, *node)) };
            let mut name = Style::new().fg(color).bold();
            let mut text = Style::default();
            if *own {
                // Own lines: the name on its colour, so they stand out at a glance.
                name = Style::new().fg(Color::Black).bg(color).bold();
                text = text.add_modifier(Modifier::BOLD);
            }
            // ✓ once every live member holds it (settled), ◌ until then; ◇ for our own line
            // settled while no one else was here: it is only here.
            let mark = if l.at() < app.node.settled() && *own && !app.node.held_elsewhere(l.at()) {
                ("◇ ".to_string(), Style::new().fg(Color::DarkGray))
            } else if l.at() < app.node.settled() {
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

pub(super) fn render_messages(app: &App, f: &mut Frame, area: Rect, collapsed_peers: bool) {
    let mut title = " Messages ".to_string();
    if collapsed_peers {
        title = format!(" Messages · peers {}/{} ", app.peers.alive(), app.peers.rows().len());
    }
    let mut block = Block::bordered().title(title);
    if app.messages.scroll() > 0 {
        let marker = if app.messages.unseen() > 0 {
            format!(" ↓ {} new · End to follow ", app.messages.unseen())
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
    let bottom = app.messages.lines().len().saturating_sub(app.messages.scroll());
    let day = |l: &LogLine| l.at().to_utc().with_timezone(&app.tz()).date_naive();
    let rule = |l: &LogLine| {
        let label = format!(" {} ", l.at().to_utc().with_timezone(&app.tz()).format("%A %-d %B %Y"));
        let side = width.saturating_sub(label.chars().count()) / 2;
        Line::styled(format!("{}{label}{}", "─".repeat(side), "─".repeat(side)), Style::new().fg(Color::DarkGray))
    };
    let mut rows: Vec<Line> = Vec::new();
    let mut reached_first = bottom == 0;
    for i in (0..bottom).rev() {
        let l = &app.messages.lines()[i];
        let mut wrapped = wrap(&spans_at(app, i), width, 11);
        wrapped.reverse();
        rows.extend(wrapped);
        if i > 0 && day(&app.messages.lines()[i - 1]) != day(l) {
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
        if app.messages.dropped() > 0 {
            let note = format!("… {} older lines not kept", app.messages.dropped());
            rows.insert(0, Line::styled(note, Style::new().fg(Color::DarkGray).italic()));
        }
        // Scrolled to the top (Ctrl-Home): a full first page, not the oldest line alone.
        for i in bottom..app.messages.lines().len() {
            if rows.len() >= height {
                break;
            }
            let l = &app.messages.lines()[i];
            if i > 0 && day(&app.messages.lines()[i - 1]) != day(l) {
                rows.push(rule(l));
            }
            rows.extend(wrap(&spans_at(app, i), width, 11));
        }
        rows.truncate(height);
    }
    if app.messages.lines().is_empty() {
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
