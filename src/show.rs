//! How values read for people, shared by both front ends: clock differences and local times.

use std::fmt::Write as _;

use crate::proto::Hlc;

/// A clock difference: "+250 ms", "-3.5 s", "+10m 0s", "-1h 0m 0s".
pub fn skew_text(ms: i64) -> String {
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
    } else {
        format!("{sign}{}h {}m {}s", s / 3_600, s % 3_600 / 60, s % 60)
    }
}

/// Text from the network may hold escape sequences (a window title, a cleared screen, the
/// clipboard), BEL, CR: every control character becomes U+FFFD before it reaches a terminal.
/// Line breaks stay only where the caller lays them out itself. Characters that reorder or
/// hide text (bidi overrides and isolates, zero-width spaces and joiners other than the one
/// emoji use) are shown by their code, `<U+202E>`, so a name like "bob<U+202E>exe.txt" cannot
/// pass for another.
pub fn clean(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && !(keep_newlines && c == '\n') {
            out.push('\u{fffd}');
        } else if hides_or_reorders(c) {
            let _ = write!(out, "<U+{:04X}>", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Bidi embeddings, overrides, isolates and marks; zero-width spaces, non-joiners, word
/// joiners and byte-order marks; the soft hyphen. (The zero-width joiner stays: emoji need it.)
fn hides_or_reorders(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
        || matches!(c, '\u{200B}' | '\u{200C}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}')
}

/// A stamp's time in the viewer's time zone (the zone is read here, never in the core).
pub fn local(ts: Hlc) -> chrono::DateTime<chrono::Local> {
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
        assert_eq!(clean("👩\u{200D}💻 ok", false), "👩\u{200D}💻 ok", "emoji sequences stay whole");
    }
}
