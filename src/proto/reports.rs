//! Reports of what was refused: one per address per second at most, with how many drops each
//! covers, so a flood from one address (an old client in a tight loop, a forger) cannot flood the
//! front end too. What a second held back is reported when the second is over, so every drop
//! is in some report.
//!
//! `Reports` owns, per source address (at most `MAX_SOURCES`, the one heard from longest ago
//! forgotten first), when its last report went and how many drops came since.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::reasons::DropReason;
use super::types::Time;

/// Addresses remembered at most.
const MAX_SOURCES: usize = 256;
/// One report per address at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(1);

struct Source {
    last: Time,
    last_report: Option<Time>,
    /// Drops since the last report, and the latest one's reason.
    suppressed: u64,
    reason: Option<DropReason>,
}

/// When each address was last reported, and what was dropped from it since.
#[derive(Default)]
pub(super) struct Reports {
    sources: BTreeMap<SocketAddr, Source>,
}

impl Reports {
    /// A drop from `addr` for `reason`: whether to report it now and, if so, how many drops the
    /// report covers.
    pub(super) fn report(&mut self, addr: SocketAddr, reason: DropReason, now: Time) -> Option<u64> {
        if !self.sources.contains_key(&addr) && self.sources.len() >= MAX_SOURCES {
            // Forget the address heard from longest ago.
            if let Some(oldest) = self.sources.iter().min_by_key(|(_, s)| s.last).map(|(a, _)| *a) {
                self.sources.remove(&oldest);
            }
        }
        let s =
            self.sources.entry(addr).or_insert(Source { last: now, last_report: None, suppressed: 0, reason: None });
        s.last = s.last.max(now);
        s.suppressed += 1;
        s.reason = Some(reason);
        if s.last_report.is_some_and(|t| now.since(t) < REPORT_EVERY) {
            return None;
        }
        s.last_report = Some(now);
        Some(std::mem::take(&mut s.suppressed))
    }

    /// Drops held back whose second is over: reported now, each address's with the latest
    /// reason and how many there were.
    pub(super) fn due(&mut self, now: Time) -> Vec<(SocketAddr, DropReason, u64)> {
        let mut out = Vec::new();
        for (addr, s) in &mut self.sources {
            if s.suppressed > 0 && s.last_report.is_none_or(|t| now.since(t) >= REPORT_EVERY) {
                s.last_report = Some(now);
                let reason = s.reason.unwrap_or(DropReason::Malformed);
                out.push((*addr, reason, std::mem::take(&mut s.suppressed)));
            }
        }
        out
    }

    /// When `due` next has a report to give.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        self.sources.values().filter(|s| s.suppressed > 0).filter_map(|s| s.last_report).map(|t| t + REPORT_EVERY).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn reports_are_one_per_second_with_counts() {
        let mut r = Reports::default();
        let t = |ms| Time::from_millis(ms);
        let why = DropReason::Oversized;
        assert_eq!(r.report(a(1), why, t(0)), Some(1));
        assert_eq!(r.report(a(1), why, t(10)), None);
        assert_eq!(r.report(a(1), why, t(20)), None);
        assert_eq!(r.report(a(1), why, t(1000)), Some(3));
        assert_eq!(r.report(a(2), why, t(1000)), Some(1), "another address has its own");
        // A burst, then nothing: what was held back is reported when its second is over.
        assert_eq!(r.report(a(1), why, t(1010)), None);
        assert_eq!(r.report(a(1), DropReason::Replay, t(1020)), None);
        assert_eq!(r.next_deadline(), Some(t(2000)));
        assert_eq!(r.due(t(1500)), vec![]);
        assert_eq!(r.due(t(2000)), vec![(a(1), DropReason::Replay, 2)]);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn the_address_table_is_bounded() {
        let mut r = Reports::default();
        for p in 0..2000u16 {
            r.report(a(p), DropReason::Oversized, Time::from_millis(u64::from(p)));
        }
        assert_eq!(r.sources.len(), MAX_SOURCES);
    }
}
