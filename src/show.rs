//! How values read for people, shared by both front ends: clock differences and local times.

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
/// Line breaks stay only where the caller lays them out itself.
pub fn clean(s: &str, keep_newlines: bool) -> String {
    s.chars().map(|c| if c.is_control() && !(keep_newlines && c == '\n') { '\u{fffd}' } else { c }).collect()
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
}
