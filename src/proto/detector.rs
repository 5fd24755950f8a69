//! Phi-accrual failure detection (Hayashibara et al.; the form Akka and Cassandra use): instead of
//! a fixed timeout, each peer's heartbeat inter-arrival times are kept, and `phi` says how
//! unlikely the current silence is under a normal distribution fitted to them. A peer on a
//! lossy link accrues a wider distribution, so it is not declared down as eagerly.

use std::collections::VecDeque;
use std::time::Duration;

use super::types::Time;

/// When the failure detector suspects a peer and when it declares it down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorConfig {
    /// phi at which a peer becomes suspect.
    pub suspect_phi: f64,
    /// phi at which a peer is declared down.
    pub down_phi: f64,
    /// Floor for the standard deviation, so a very regular peer is not judged too tightly.
    pub min_std_dev: Duration,
    /// Silence tolerated on top of the mean interval (a lost heartbeat or two, a GC pause).
    pub acceptable_pause: Duration,
    /// Inter-arrival samples kept per peer.
    pub window: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            suspect_phi: 2.0,
            down_phi: 8.0,
            min_std_dev: Duration::from_millis(100),
            acceptable_pause: Duration::from_secs(1),
            window: 100,
        }
    }
}

/// One peer's failure detector: its heartbeat rhythm and its latest sign of life.
#[derive(Clone, Debug)]
pub(super) struct PhiDetector {
    /// Heartbeat gaps in ms, kept as f32 (a group of 1,000 keeps 999 of these windows per
    /// node: f64 would double the largest part of a peer's memory for precision no one needs).
    intervals_ms: VecDeque<f32>,
    sum: f64,
    sum_sq: f64,
    last: Time,
    /// Latest second-hand sign of life (a ring neighbour heard it): silence counts from here
    /// when it is later than the last heartbeat, but it adds no interval sample.
    evidence: Time,
    /// The interval the peer said it keeps (ms): in a large group, whose heartbeats are slow,
    /// the silence tolerated on top of the mean is at least two of them, so one or two lost
    /// ones are no more alarming than in a small one.
    expected_ms: f32,
}

impl PhiDetector {
    /// Starts with the peer's advertised interval as the estimate (mean = interval,
    /// std-dev = interval / 4), as Akka seeds its detector.
    pub(super) fn new(now: Time, expected: Duration) -> Self {
        let m = expected.as_secs_f64() * 1000.0;
        let mut d = PhiDetector {
            intervals_ms: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            last: now,
            evidence: now,
            expected_ms: m as f32,
        };
        d.push(m - m / 4.0, usize::MAX);
        d.push(m + m / 4.0, usize::MAX);
        d
    }

    /// The peer's advertised interval changed (its group grew or shrank): the gaps learnt are
    /// scaled to the new rhythm, so the spread they learnt (lost heartbeats, jitter) carries
    /// over in proportion.
    pub(super) fn rescale(&mut self, expected: Duration) {
        let new = expected.as_secs_f64() * 1000.0;
        let old = f64::from(self.expected_ms);
        if old <= 0.0 {
            return;
        }
        let f = new / old;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for g in &mut self.intervals_ms {
            *g = (f64::from(*g) * f) as f32;
            let v = f64::from(*g);
            sum += v;
            sum_sq += v * v;
        }
        (self.sum, self.sum_sq) = (sum, sum_sq);
        self.expected_ms = new as f32;
    }

    fn push(&mut self, ms: f64, window: usize) {
        if self.intervals_ms.len() >= window.max(2)
            && let Some(old) = self.intervals_ms.pop_front()
        {
            let old = f64::from(old);
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        // The sums take the value as kept, so taking it out later leaves no residue.
        let kept = ms as f32;
        self.intervals_ms.push_back(kept);
        let ms = f64::from(kept);
        self.sum += ms;
        self.sum_sq += ms * ms;
    }

    /// A heartbeat arrived. Its gap since the last one becomes a sample, unless the gap was an
    /// outage (long enough to make the peer suspect): a freeze or a cut is not the peer's
    /// normal rhythm, and learning it would make each later outage take longer to notice.
    pub(super) fn heartbeat(&mut self, now: Time, cfg: &DetectorConfig) {
        let gap = now.since(self.last).as_secs_f64() * 1000.0;
        self.last = now;
        if self.phi_of(gap, cfg, 0.0) < cfg.suspect_phi {
            self.push(gap, cfg.window);
        }
    }

    /// The interval its gaps are scaled to (ms): the peer's, as it last said it.
    pub(super) fn expected_ms(&self) -> u32 {
        self.expected_ms as u32
    }

    /// The last sign of life, first- or second-hand.
    pub(super) fn last(&self) -> Time {
        self.last.max(self.evidence)
    }

    /// The peer was heard alive at `at` by someone else (or on a ring link).
    pub(super) fn vouch(&mut self, at: Time) {
        self.evidence = self.evidence.max(at);
    }

    /// The mean heartbeat interval in the samples, in milliseconds.
    pub(super) fn mean_ms(&self) -> f64 {
        self.sum / self.intervals_ms.len() as f64
    }

    fn std_dev_ms(&self) -> f64 {
        let n = self.intervals_ms.len() as f64;
        let mean = self.sum / n;
        (self.sum_sq / n - mean * mean).max(0.0).sqrt()
    }

    /// Suspicion level now: 1 means a 10% chance the peer is still alive and was merely slow,
    /// 2 means 1%, 8 means one in 10^8. (The node asks `phi_paced`; the tests ask this.)
    #[cfg(test)]
    pub(super) fn phi(&self, now: Time, cfg: &DetectorConfig) -> f64 {
        self.phi_paced(now, cfg, Duration::ZERO)
    }

    /// `phi`, for a peer that may be heartbeating as slowly as `paced` (the interval the group's
    /// size calls for, as this node sees it; zero when that is the configured one): a peer
    /// whose group grew slows down step by step, and the heartbeats saying so can be lost.
    pub(super) fn phi_paced(&self, now: Time, cfg: &DetectorConfig, paced: Duration) -> f64 {
        self.phi_of(now.since(self.last()).as_secs_f64() * 1000.0, cfg, paced.as_secs_f64() * 1000.0)
    }

    fn phi_of(&self, elapsed_ms: f64, cfg: &DetectorConfig, paced_ms: f64) -> f64 {
        // In a paced group (see `phi_paced`) two heartbeats at the slower of the two rhythms
        // may go missing before the silence counts; otherwise the configured pause alone.
        let slowest = if paced_ms > 0.0 { f64::from(self.expected_ms).max(paced_ms) } else { 0.0 };
        let pause = (cfg.acceptable_pause.as_secs_f64() * 1000.0).max(2.0 * slowest);
        let mean = self.mean_ms() + pause;
        let std = self.std_dev_ms().max(cfg.min_std_dev.as_secs_f64() * 1000.0);
        phi(elapsed_ms, mean, std)
    }
}

/// -log10 of the chance that a heartbeat is still to come after `elapsed`, using the logistic
/// approximation of the normal CDF (error under 1e-4), which stays finite far into the tail.
fn phi(elapsed: f64, mean: f64, std: f64) -> f64 {
    let y = (elapsed - mean) / std;
    let e = (-y * (1.5976 + 0.070_566 * y * y)).exp();
    if elapsed > mean { -(e / (1.0 + e)).log10() } else { -(1.0 - 1.0 / (1.0 + e)).log10() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Time {
        Time::from_millis(1_000_000 + ms)
    }

    /// Feeds heartbeats at the given times and returns the detector.
    fn fed(times: &[u64], cfg: &DetectorConfig) -> PhiDetector {
        let mut d = PhiDetector::new(at(times[0]), Duration::from_millis(500));
        for &t in &times[1..] {
            d.heartbeat(at(t), cfg);
        }
        d
    }

    /// First time (in 10 ms steps after `from`) at which phi reaches `level`.
    fn crossing(d: &PhiDetector, from: u64, level: f64, cfg: &DetectorConfig) -> u64 {
        (from..from + 60_000).step_by(10).find(|&t| d.phi(at(t), cfg) >= level).unwrap() - from
    }

    #[test]
    fn phi_grows_with_silence() {
        let cfg = DetectorConfig::default();
        let d = fed(&(0..20).map(|i| i * 500).collect::<Vec<_>>(), &cfg);
        let last = 19 * 500;
        let mut prev = -1.0;
        for t in (last..last + 5000).step_by(100) {
            let p = d.phi(at(t), &cfg);
            assert!(p >= prev, "phi never falls while silent");
            prev = p;
        }
        assert!(d.phi(at(last + 400), &cfg) < cfg.suspect_phi, "on-time peer is not suspect");
    }

    #[test]
    fn regular_peer_is_suspected_then_down_within_about_two_seconds() {
        let cfg = DetectorConfig::default();
        let d = fed(&(0..40).map(|i| i * 500).collect::<Vec<_>>(), &cfg);
        let last = 39 * 500;
        let suspect = crossing(&d, last, cfg.suspect_phi, &cfg);
        let down = crossing(&d, last, cfg.down_phi, &cfg);
        assert!(suspect < down);
        assert!((1500..=2000).contains(&suspect), "suspect after {suspect} ms");
        assert!((1800..=2300).contains(&down), "down after {down} ms");
    }

    #[test]
    fn lossy_peer_gets_more_slack_than_a_regular_one() {
        let cfg = DetectorConfig::default();
        let regular = fed(&(0..40).map(|i| i * 500).collect::<Vec<_>>(), &cfg);
        // Every third heartbeat lost: gaps of 500 and 1000 ms.
        let lossy_times: Vec<u64> = (0..60).filter(|i| i % 3 != 2).map(|i| i * 500).collect();
        let lossy = fed(&lossy_times, &cfg);
        let r = crossing(&regular, 39 * 500, cfg.down_phi, &cfg);
        let l = crossing(&lossy, *lossy_times.last().unwrap(), cfg.down_phi, &cfg);
        assert!(l > r + 300, "lossy {l} ms vs regular {r} ms");
    }

    #[test]
    fn settings_move_the_verdict() {
        let strict = DetectorConfig { acceptable_pause: Duration::ZERO, ..Default::default() };
        let loose = DetectorConfig { acceptable_pause: Duration::from_secs(3), ..Default::default() };
        let times: Vec<u64> = (0..40).map(|i| i * 500).collect();
        let d = fed(&times, &strict);
        let s = crossing(&d, 39 * 500, strict.down_phi, &strict);
        let l = crossing(&d, 39 * 500, loose.down_phi, &loose);
        assert!(s < 1500 && l > 4000, "strict {s} ms, loose {l} ms");
    }

    #[test]
    fn second_hand_evidence_holds_off_suspicion_without_skewing_the_intervals() {
        let cfg = DetectorConfig::default();
        let mut d = fed(&(0..40).map(|i| i * 500).collect::<Vec<_>>(), &cfg);
        let last = 39 * 500;
        d.vouch(at(last + 1500));
        assert!(d.phi(at(last + 2500), &cfg) < cfg.suspect_phi, "a neighbour heard it 1 s ago");
        assert!(d.phi(at(last + 4000), &cfg) >= cfg.down_phi, "evidence ages like a heartbeat");
        d.heartbeat(at(last + 4100), &cfg);
        // Two seed samples (375, 625 ms) and 39 intervals of 500 ms: the vouch made no sample
        // of its own, and the 4,100 ms outage is not the peer's rhythm either.
        let want = (1000.0 + 39.0 * 500.0) / 41.0;
        assert!((d.mean_ms() - want).abs() < 1.0, "only real heartbeats make samples");
        d.heartbeat(at(last + 4700), &cfg);
        let want = (1000.0 + 40.0 * 500.0 + 100.0) / 42.0;
        assert!((d.mean_ms() - want).abs() < 1.0, "the rhythm resumes: {}", d.mean_ms());
    }

    #[test]
    fn outages_are_not_learned_as_the_peers_rhythm() {
        let cfg = DetectorConfig::default();
        let mut t = 0;
        let mut times = vec![0];
        let mut detections = Vec::new();
        for _ in 0..4 {
            for _ in 0..20 {
                t += 500;
                times.push(t);
            }
            let d = fed(&times, &cfg);
            detections.push(crossing(&d, t, cfg.down_phi, &cfg));
            // Frozen for 10 s, then back on its rhythm.
            t += 10_000;
            times.push(t);
        }
        assert!(detections.iter().all(|&d| d == detections[0]), "each freeze caught alike: {detections:?}");
    }

    #[test]
    fn window_is_bounded() {
        let cfg = DetectorConfig { window: 10, ..Default::default() };
        let d = fed(&(0..1000).map(|i| i * 500).collect::<Vec<_>>(), &cfg);
        assert_eq!(d.intervals_ms.len(), 10);
        assert!((d.mean_ms() - 500.0).abs() < 1e-6);
    }

    #[test]
    fn a_peer_whose_interval_grows_is_judged_by_its_new_rhythm_once_rescaled() {
        let cfg = DetectorConfig::default();
        let times: Vec<u64> = (0..40).map(|i| i * 500).collect();
        let last = 39 * 500;
        let kept = fed(&times, &cfg);
        let mut rescaled = kept.clone();
        rescaled.rescale(Duration::from_millis(2500));
        assert_eq!(rescaled.expected_ms(), 2500);
        assert!((rescaled.mean_ms() - 2500.0).abs() < 1.0, "gaps scaled: {}", rescaled.mean_ms());
        // One new gap of 2.5 s, with no pacing of our own to lean on.
        let silence = at(last + 2500);
        assert!(rescaled.phi(silence, &cfg) < cfg.suspect_phi);
        assert!(kept.phi(silence, &cfg) >= cfg.down_phi, "the old rhythm would call it down");
        // Rescaled back, the faster rhythm is judged as fast again.
        rescaled.rescale(Duration::from_millis(500));
        assert!((rescaled.mean_ms() - 500.0).abs() < 1.0);
    }
}
