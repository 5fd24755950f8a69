//! How values read for people, shared by both front ends: clock differences and local times.

use std::fmt::Write as _;

use unicode_segmentation::UnicodeSegmentation as _;
use unicode_width::UnicodeWidthChar as _;

use crate::proto::{ClockBasis, Hlc};

/// A clock difference: "+250 ms", "-3.5 s", "+10m 0s", "-1h 0m 0s".
pub(crate) fn skew_text(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let a = ms.unsigned_abs();
    // Whole seconds above a minute, rounded: a step of an hour less a millisecond reads "1h".
    let s = (a + 500) / 1000;
    if a < 1_000 {
        format!("{sign}{a} ms")
    } else if a < 60_000 {
        format!("{sign}{:.1} s", a as f64 / 1000.0)
    } else if s < 3_600 {
        format!("{sign}{}m {}s", s / 60, s % 60)
    } else if s < 2 * 86_400 {
        format!("{sign}{}h {}m {}s", s / 3_600, s % 3_600 / 60, s % 60)
    } else if s < 2 * 31_557_600 {
        format!("{sign}{} days", (s + 43_200) / 86_400)
    } else {
        // (Julian years: a clock decades off is off by so much that leap days do not matter.)
        format!("{sign}{} years", (s + 15_778_800) / 31_557_600)
    }
}

/// What the clock note says: whose clock is off (the one most off first) and what group time
/// rests on, or nothing when all is well. `short` is a form for a narrow header.
/// Cells a name takes at most in the short clock note.
const SHORT_NAME: usize = 10;

pub(crate) fn clock_note<'a>(
    own_ms: i64,
    basis: ClockBasis,
    peers: impl IntoIterator<Item = (&'a str, i64)>,
    short: bool,
) -> Option<String> {
    let mut off: Vec<(&str, i64)> = peers.into_iter().filter(|(_, ms)| ms.unsigned_abs() >= 1_000).collect();
    off.sort_by_key(|(_, ms)| std::cmp::Reverse(ms.unsigned_abs()));
    let more = |n: usize| match n {
        0 | 1 => String::new(),
        _ if short => format!(" (+{})", n - 1),
        _ => format!(" (+{} more)", n - 1),
    };
    // (Cut in the short form: a long name must not push the warning off a narrow header.)
    let worst = off.first().map(|(name, ms)| {
        let name = if short { clip(name, SHORT_NAME) } else { (*name).to_string() };
        format!("{name} {}{}", skew_text(*ms), more(off.len()))
    });
    let own = skew_text(own_ms);
    Some(match basis {
        ClockBasis::Implausible { voters: 0 } if short => "clock wrong".to_string(),
        ClockBasis::Implausible { voters: 0 } => "this host's clock is wrong; no clock to follow".to_string(),
        ClockBasis::Implausible { .. } if short => format!("clock wrong ({own})"),
        ClockBasis::Implausible { .. } => format!("this host's clock is wrong ({own}); following the group"),
        ClockBasis::Split { .. } if short => worst.map_or("clocks split".to_string(), |w| format!("split: {w}")),
        ClockBasis::Split { voters } => match worst {
            Some(w) => format!("clocks disagree, no majority of {voters}: {w}"),
            None => format!("clocks disagree, no majority of {voters}"),
        },
        _ if own_ms.unsigned_abs() >= 1_000 && short => format!("clock {own}"),
        ClockBasis::Majority { agree, voters } if own_ms.unsigned_abs() >= 1_000 => {
            format!("this host's clock {own}; {agree} of {voters} agree")
        }
        _ if own_ms.unsigned_abs() >= 1_000 => format!("this host's clock {own}"),
        _ if short => worst?,
        _ => {
            let (name, ms) = off.first()?;
            format!("{name}'s clock {}{}", skew_text(*ms), more(off.len()))
        }
    })
}

/// Combining marks kept on one character at most: more stack over the lines around it.
const MAX_MARKS: usize = 2;

/// Text from the network as a terminal may show it, one grapheme cluster at a time, so that
/// what takes a cell in the layout takes that cell on the screen, and borders and the lines
/// around it never move:
/// - control characters (escape sequences that set a window title, clear the screen or read
///   the clipboard; BEL, CR) become U+FFFD, a tab one space; line breaks stay only where the
///   caller lays them out itself (`keep_newlines`);
/// - format characters, which reorder or hide text or join what follows (bidi overrides and
///   isolates, zero-width spaces and joiners, byte-order marks, the soft hyphen, tags), are
///   shown by their code, `<U+202E>`, so a name like "bob<U+202E>exe.txt" cannot pass for
///   another; inside an emoji sequence the joiners are dropped instead, and the emoji stand
///   side by side;
/// - variation selectors and skin-tone modifiers are dropped (terminals disagree about the
///   width they give), as are combining marks past the second on one character;
/// - a combining mark with nothing to sit on (at the start, or after a code shown) sits on
///   U+25CC, as Unicode shows a lone mark, rather than on a border or the character before.
pub(crate) fn clean(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for g in s.graphemes(true) {
        clean_cluster(&mut out, g, keep_newlines);
    }
    out
}

/// `s` cut to at most `cells` terminal cells, a grapheme cluster at a time, with "…" where it
/// was cut (for text already `clean`ed).
pub(crate) fn clip(s: &str, cells: usize) -> String {
    use unicode_width::UnicodeWidthStr as _;
    if s.width() <= cells {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = g.width();
        if used + w + 1 > cells {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out.push('…');
    out
}

fn clean_cluster(out: &mut String, g: &str, keep_newlines: bool) {
    let emoji = g.chars().any(pictographic);
    // Whether the last thing written can carry a mark, and how many it carries.
    let (mut base, mut marks) = (false, 0);
    for c in g.chars() {
        if c == '\n' && keep_newlines {
            out.push('\n');
            base = false;
        } else if c == '\t' {
            // A tab moves a terminal's cursor to a column of its own choosing: one space.
            out.push(' ');
            (base, marks) = (true, 0);
        } else if c.is_control() {
            out.push('\u{fffd}');
            (base, marks) = (true, 0);
        } else if dropped(c) || (emoji && (c == '\u{200D}' || tag(c))) {
            // Nothing: see above.
        } else if format(c) || tag(c) {
            let _ = write!(out, "<U+{:04X}>", u32::from(c));
            base = false;
        } else if c.width() == Some(0) {
            if !base {
                out.push('\u{25CC}');
                (base, marks) = (true, 0);
            }
            marks += 1;
            if marks <= MAX_MARKS {
                out.push(c);
            }
        } else {
            out.push(c);
            (base, marks) = (true, 0);
        }
    }
}

/// Characters that change how wide the one before is drawn, differently from one terminal
/// to the next: variation selectors, skin-tone modifiers.
fn dropped(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' | '\u{1F3FB}'..='\u{1F3FF}')
}

/// Emoji pictographs, which joiners and tags combine.
fn pictographic(c: char) -> bool {
    matches!(c, '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}')
}

/// Tag characters (flag sequences of regions), which draw nothing on their own.
fn tag(c: char) -> bool {
    matches!(c, '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Format characters (general category Cf): bidi embeddings, overrides, isolates and marks;
/// zero-width spaces, non-joiners, joiners and word joiners; byte-order marks, the soft
/// hyphen, invisible operators, and the rest of the category; and the line and paragraph
/// separators (U+2028, U+2029), which terminals may take for line breaks.
fn format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
    )
}

/// A stamp's time in the viewer's time zone (the zone is read here, never in the core).
pub(crate) fn local(ts: Hlc) -> chrono::DateTime<chrono::Local> {
    ts.to_utc().with_timezone(&chrono::Local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_differences_read_naturally() {
        assert_eq!(skew_text(250), "+250 ms");
        assert_eq!(skew_text(-3_500), "-3.5 s");
        assert_eq!(skew_text(600_000), "+10m 0s");
        assert_eq!(skew_text(-3_600_000), "-1h 0m 0s");
        assert_eq!(skew_text(-3_599_999), "-1h 0m 0s", "rounded, not cut");
        assert_eq!(skew_text(5 * 86_400_000), "+5 days");
        assert_eq!(skew_text(-1_796_000_000_000), "-57 years", "a clock reading 1970");
    }

    #[test]
    fn the_clock_note_says_whose_clock_is_off() {
        let m = ClockBasis::Majority { agree: 3, voters: 4 };
        let note = |own, basis, peers: &[(&str, i64)], short| clock_note(own, basis, peers.iter().copied(), short);
        assert_eq!(note(0, m, &[("bob", 200)], false), None, "within a second");
        assert_eq!(note(600_000, m, &[], false).as_deref(), Some("this host's clock +10m 0s; 3 of 4 agree"));
        assert_eq!(note(600_000, m, &[], true).as_deref(), Some("clock +10m 0s"));
        // The one most off is named, whatever order they come in.
        let two = [("frank", -180_000), ("eve", 600_000)];
        assert_eq!(note(0, m, &two, false).as_deref(), Some("eve's clock +10m 0s (+1 more)"));
        assert_eq!(note(0, m, &two, true).as_deref(), Some("eve +10m 0s (+1)"));
        assert_eq!(
            note(0, m, &[("bob", -3_000), ("cy", 2_000)], false).as_deref(),
            Some("bob's clock -3.0 s (+1 more)")
        );
        let split = ClockBasis::Split { voters: 2 };
        assert_eq!(
            note(0, split, &[("bob", 3_000)], false).as_deref(),
            Some("clocks disagree, no majority of 2: bob +3.0 s")
        );
        assert_eq!(note(0, split, &[("bob", 3_000)], true).as_deref(), Some("split: bob +3.0 s"));
        let wrong = ClockBasis::Implausible { voters: 0 };
        assert_eq!(note(0, wrong, &[], false).as_deref(), Some("this host's clock is wrong; no clock to follow"));
        assert_eq!(note(0, wrong, &[], true).as_deref(), Some("clock wrong"));
        let long = [("a-very-long-host-name-indeed", 600_000)];
        assert_eq!(note(0, m, &long, true).as_deref(), Some("a-very-lo… +10m 0s"));
    }

    #[test]
    fn clip_cuts_by_cells_and_says_so() {
        assert_eq!(clip("alice", 12), "alice");
        assert_eq!(clip("abcdefghijklmnop", 6), "abcde…");
        assert_eq!(clip("日本語の名前です", 7), "日本語…", "wide characters take two cells");
    }

    #[test]
    fn control_characters_never_reach_a_terminal() {
        assert_eq!(clean("a\x1b]0;t\x07b\r\nc", false), "a\u{fffd}]0;t\u{fffd}b\u{fffd}\u{fffd}c");
        assert_eq!(clean("one\ntwo\x1b[2J", true), "one\ntwo\u{fffd}[2J");
    }

    #[test]
    fn text_that_reorders_or_hides_is_shown_by_its_code() {
        assert_eq!(clean("bob\u{202E}exe.txt", false), "bob<U+202E>exe.txt");
        assert_eq!(clean("al\u{200B}ice", false), "al<U+200B>ice");
        assert_eq!(clean("\u{2067}x\u{2069}", false), "<U+2067>x<U+2069>");
        assert_eq!(clean("a\u{200D}b", false), "a<U+200D>b", "a joiner outside an emoji sequence");
        assert_eq!(clean("ls\u{2028}ps\u{2029}", false), "ls<U+2028>ps<U+2029>", "line and paragraph separators");
        assert_eq!(clean("a\tb", false), "a b");
    }

    #[test]
    fn each_cluster_is_as_wide_on_a_terminal_as_in_the_layout() {
        use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
        // Emoji sequences a terminal draws as one glyph or as several: side by side, always.
        assert_eq!(clean("👩\u{200D}💻 ok", false), "👩💻 ok");
        assert_eq!(clean("👍\u{1F3FD}", false), "👍");
        assert_eq!(clean("❤\u{FE0F}", false), "❤");
        // A mark with nothing to sit on, and a pile of marks.
        assert_eq!(clean("\u{0301}x", false), "\u{25CC}\u{0301}x");
        assert_eq!(clean("e\u{0301}\u{0302}\u{0303}\u{0304}", false), "e\u{0301}\u{0302}");
        assert_eq!(clean("e\u{200D}\u{0301}", false), "e<U+200D>\u{25CC}\u{0301}");
        // Whatever comes, the layout's width of the text (by clusters, as ratatui counts)
        // is the sum of its characters' widths (as a terminal counts them, one at a time).
        let nasty = [
            "\u{200D}\u{200D}x\u{200D}",
            "👨\u{200D}👩\u{200D}👧\u{200D}👦",
            "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
            "Z\u{0351}\u{0352}\u{0357}\u{035B}a\u{0363}\u{0364}\u{0365}l\u{0366}\u{0367}g\u{0368}o",
            "\u{0308}\u{20DD}\u{200D}\u{FE0F}",
            "🇫🇷🇩",
            "각\u{0301}",
            "\u{1F469}\u{1F3FB}\u{200D}\u{2764}\u{FE0F}\u{200D}\u{1F468}",
        ];
        for raw in nasty {
            let shown = clean(raw, false);
            let by_chars: usize = shown.chars().map(|c| c.width().unwrap_or(0)).sum();
            assert_eq!(shown.width(), by_chars, "{raw:?} shown as {shown:?}");
            assert!(!shown.starts_with(|c: char| c.width() == Some(0)), "{raw:?}: starts with a mark");
        }
    }
}
