//! Word wrapping of styled text by display width, for every pane and the help.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Word-wraps styled text to `width` columns; continuation rows start with `indent` spaces.
pub(super) fn wrap(spans: &[(String, Style)], width: usize, indent: usize) -> Vec<Line<'static>> {
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
}
