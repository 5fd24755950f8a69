//! What this node keeps of each peer besides its table entry: its status, how lossy its
//! datagrams are, and how far its clock is from ours. The table itself is `membership::Members`.

use super::types::Seq;

/// What this node thinks of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Heard from recently.
    Alive,
    /// Silent for longer than usual, or its link broke: perhaps gone.
    Suspect,
    /// Gone without a goodbye (timed out, crashed or restarted).
    Down,
    /// Said goodbye.
    Left,
}

impl Status {
    /// The word shown for it (and used in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Down => "down",
            Status::Left => "left",
        }
    }

    /// Alive or suspect: still a member as far as this node knows.
    pub fn is_member(self) -> bool {
        matches!(self, Status::Alive | Status::Suspect)
    }
}

/// Receipt of the last 128 frame sequence numbers, newest in bit 0.
#[derive(Clone, Debug)]
pub(super) struct LossWindow {
    first: u64,
    highest: u64,
    bits: u128,
}

impl LossWindow {
    pub(super) fn new(seq: Seq) -> Self {
        LossWindow { first: seq.0, highest: seq.0, bits: 1 }
    }

    pub(super) fn record(&mut self, seq: Seq) {
        let s = seq.0;
        if s > self.highest {
            let shift = s - self.highest;
            self.bits = if shift >= 128 { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.highest = s;
        } else if s >= self.first {
            let back = self.highest - s;
            if back < 128 {
                self.bits |= 1 << back;
            }
        }
    }

    /// The highest frame number heard.
    pub(super) fn highest(&self) -> Seq {
        Seq(self.highest)
    }

    /// Fraction of recent frames that never arrived, 0.0 ..= 1.0.
    pub(super) fn loss(&self) -> f64 {
        let span = (self.highest - self.first).saturating_add(1).min(128);
        let mask = if span >= 128 { u128::MAX } else { (1u128 << span) - 1 };
        let got = u64::from((self.bits & mask).count_ones());
        1.0 - got as f64 / span as f64
    }
}

/// Samples kept of how far a peer's clock is from ours.
const CLOCK_SAMPLES: usize = 5;

/// A peer's clock as this node sees it: recent differences between its own wall clock (the
/// group time its heartbeats carried plus the skew they report) and ours when they arrived (a
/// LAN's delay is far below what matters here), whether that clock can be right, and how far
/// its wall clock is from the group time it uses, as it reports.
#[derive(Clone, Debug, Default)]
pub(super) struct PeerClock {
    /// The last `CLOCK_SAMPLES` samples, in place (no allocation per peer): `len` of them
    /// are filled, and the next one overwrites `samples[next]`, the oldest once it is full.
    samples: [i64; CLOCK_SAMPLES],
    len: u8,
    next: u8,
    /// Its wall clock minus its group time, as it last reported.
    pub skew_ms: i64,
    /// Its wall clock, as last heard, can be right (see `clock::plausible`).
    pub plausible: bool,
}

impl PeerClock {
    /// A heartbeat put its wall clock `offset_ms` from ours; it reports `skew_ms`, and its
    /// clock is `plausible` or not.
    pub(super) fn sample(&mut self, offset_ms: i64, skew_ms: i64, plausible: bool) {
        self.samples[usize::from(self.next)] = offset_ms;
        self.next = (self.next + 1) % CLOCK_SAMPLES as u8;
        self.len = (self.len + 1).min(CLOCK_SAMPLES as u8);
        self.skew_ms = skew_ms;
        self.plausible = plausible;
    }

    fn kept(&mut self) -> &mut [i64] {
        &mut self.samples[..usize::from(self.len)]
    }

    /// Its wall clock minus ours (median of the recent samples), if it has been heard.
    pub(super) fn offset_ms(&self) -> Option<i64> {
        let mut v = self.samples;
        let v = &mut v[..usize::from(self.len)];
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    }

    /// Our wall clock stepped by `by_ms`: the samples taken against the old one move the other
    /// way.
    pub(super) fn stepped(&mut self, by_ms: i64) {
        for s in self.kept() {
            *s = s.saturating_sub(by_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_counts_gaps_in_recent_sequence_numbers() {
        let mut w = LossWindow::new(Seq(10));
        for s in 11..=19 {
            if s != 15 {
                w.record(Seq(s));
            }
        }
        assert!((w.loss() - 0.1).abs() < 1e-9, "{}", w.loss());
        w.record(Seq(15)); // late, reordered
        assert!(w.loss().abs() < 1e-12);
        for s in 20..1000 {
            if s % 4 != 0 {
                w.record(Seq(s));
            }
        }
        assert!((w.loss() - 0.25).abs() < 0.01, "window forgets old history: {}", w.loss());
    }

    #[test]
    fn a_peer_clock_is_the_median_of_its_last_five_samples() {
        let mut c = PeerClock::default();
        assert_eq!(c.offset_ms(), None);
        c.sample(40, 0, true);
        assert_eq!(c.offset_ms(), Some(40));
        for s in [1_000, -3, 7, 9] {
            c.sample(s, 0, true);
        }
        assert_eq!(c.offset_ms(), Some(9), "of 40, 1000, -3, 7, 9");
        // Two more: 40 and 1000 fall out.
        c.sample(2, 0, true);
        c.sample(5, 0, true);
        assert_eq!(c.offset_ms(), Some(5), "of -3, 7, 9, 2, 5");
        c.stepped(10);
        assert_eq!(c.offset_ms(), Some(-5));
    }
}
