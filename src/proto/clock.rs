//! The node's sense of time. Timers count in monotonic `Time`; stamps come from a hybrid logical
//! clock (HLC) that runs on *group time*: this host's wall clock plus an offset.
//!
//! The offset keeps stamps sane when wall clocks are not: a wall-clock step (an NTP step, a
//! resume from suspend) is seen as the wall moving apart from the monotonic clock and is taken
//! into the offset at once, so group time runs on without a jump; and group time follows what
//! most hosts' *own* wall clocks say (`decide`): never a minority, never a clock that cannot be
//! right (`plausible`), and, once this node has spoken, in bounded steps (`Clock::follow`).
//! Because the votes are wall clocks, not group times, a wrong clock that was followed for a
//! while never spreads: when it goes, group time goes back to what the others' clocks say.
//! Received stamps push the HLC forward, but never more than `cap` past group time, so one
//! wrong clock cannot drag a node's stamps into the future. Nothing is ever refused for a
//! clock reason.
//!
//! The HLC value is NTP64 (32 bits of seconds, 32 of fraction) with the low four bits as the
//! logical counter; it is a pure type of this crate, fed only the readings it is given.

use std::time::Duration;

use super::types::{Hlc, Now, Time};

/// A wall clock that moves apart from the monotonic one by more than this between two readings
/// has been stepped.
pub(super) const STEP_TOLERANCE: Duration = Duration::from_secs(1);
/// Clocks this close agree; a group time this close to the one voted for stays where it is.
pub(super) const AGREE_MS: i64 = 1_000;
/// A wall clock before this (2026-01-01, before this version was made) is wrong: a lost RTC
/// battery, a board without a clock. It votes for nothing, and its host follows the others.
pub(super) const PLAUSIBLE_FROM_MS: i64 = 1_767_225_600_000;
/// Nor does one at or after this (2046-01-01): a clock decades ahead is as wrong.
pub(super) const PLAUSIBLE_UNTIL_MS: i64 = 2_398_377_600_000;
/// The first step group time takes toward the votes once this node has spoken; each next step
/// in the same direction may be twice the one before (see `Clock::follow`).
const FIRST_STEP_MS: i64 = 1_000;

/// Whether a wall clock reading (ms since the UNIX epoch) can be right.
pub(super) fn plausible(wall_ms: i64) -> bool {
    (PLAUSIBLE_FROM_MS..PLAUSIBLE_UNTIL_MS).contains(&wall_ms)
}

/// What group time rests on, as this node last worked it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockBasis {
    /// No other host's clock to go by (alone, or none of the hosts heard is linked into the
    /// ring yet): this host's own.
    Own,
    /// `agree` of the `voters` hosts' clocks agree (this one among the voters when its clock is
    /// plausible): group time is theirs.
    Majority {
        /// Hosts whose clocks agree with group time.
        agree: usize,
        /// Hosts whose clocks vote.
        voters: usize,
    },
    /// The `voters` hosts' clocks disagree and no group of them is a majority (two are not):
    /// no one's clock moves anyone's, so this host keeps its own.
    Split {
        /// Hosts whose clocks vote.
        voters: usize,
    },
    /// This host's clock cannot be right (before 2026, or decades ahead): it follows the
    /// plausible clocks it hears (`voters` of them), or stays where it is when there are none.
    Implausible {
        /// Plausible clocks heard.
        voters: usize,
    },
}

impl ClockBasis {
    /// The stable word, as in `/state`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockBasis::Own => "own",
            ClockBasis::Majority { .. } => "majority",
            ClockBasis::Split { .. } => "split",
            ClockBasis::Implausible { .. } => "implausible",
        }
    }

    /// Hosts whose clocks voted (1: this one alone).
    pub fn voters(self) -> usize {
        match self {
            ClockBasis::Own => 1,
            ClockBasis::Majority { voters, .. } | ClockBasis::Split { voters } | ClockBasis::Implausible { voters } => {
                voters
            }
        }
    }
}

/// What the votes say: the offset from this host's wall clock that group time should have
/// (`None`: stay where it is), and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decision {
    /// Group time minus this host's wall clock, in ms, that the votes call for.
    pub target_ms: Option<i64>,
    /// What that rests on.
    pub basis: ClockBasis,
    /// How many of the voting clocks agree with the target (0: no majority agrees). A newcomer
    /// stamps by the target only once these are more than half of the hosts it knows of: more
    /// clocks may yet be heard that change the vote.
    pub agree: usize,
}

/// Group time by the hosts' own wall clocks. `votes` are the other hosts' clocks (one per
/// host, each its wall clock minus ours, in ms; only plausible ones); `own_plausible` says
/// whether ours votes too (as zero). The largest set of clocks that agree within `AGREE_MS`
/// of one of them wins if it is more than half of the voters: group time is its median. With
/// no majority, each host keeps its own clock; a host whose clock is implausible follows the
/// plausible ones (their majority, or else the earlier middle one) or stays where it is.
pub(super) fn decide(own_plausible: bool, votes: &[i64]) -> Decision {
    let mut all: Vec<i64> = votes.to_vec();
    if own_plausible {
        all.push(0);
    }
    all.sort_unstable();
    let voters = all.len();
    if voters == 0 {
        return Decision { target_ms: None, basis: ClockBasis::Implausible { voters: 0 }, agree: 0 };
    }
    // The clock with the most others within AGREE_MS of it; a tie goes to the one nearest
    // ours, then the earlier.
    let (mut lo, mut hi) = (0, 0);
    let mut best: Option<(usize, usize, usize)> = None;
    for (i, &v) in all.iter().enumerate() {
        while all[lo] < v.saturating_sub(AGREE_MS) {
            lo += 1;
        }
        while hi < voters && all[hi] <= v.saturating_add(AGREE_MS) {
            hi += 1;
        }
        let better = best.is_none_or(|(b, blo, bhi)| {
            let (n, bn) = (hi - lo, bhi - blo);
            n > bn || (n == bn && v.unsigned_abs() < all[b].unsigned_abs())
        });
        if better {
            best = Some((i, lo, hi));
        }
    }
    let (_, lo, hi) = best.expect("at least one voter");
    let agree = hi - lo;
    if agree * 2 > voters {
        let cluster = &all[lo..hi];
        let target = cluster[(cluster.len() - 1) / 2];
        let basis = if own_plausible {
            if voters == 1 { ClockBasis::Own } else { ClockBasis::Majority { agree, voters } }
        } else {
            ClockBasis::Implausible { voters }
        };
        return Decision { target_ms: Some(target), basis, agree };
    }
    if own_plausible {
        return Decision { target_ms: Some(0), basis: ClockBasis::Split { voters }, agree: 0 };
    }
    Decision { target_ms: Some(all[(voters - 1) / 2]), basis: ClockBasis::Implausible { voters }, agree: 0 }
}

/// Group time and the HLC that stamps this node's messages.
pub(super) struct Clock {
    /// Nanoseconds added to the wall clock to make group time.
    offset_ns: i64,
    /// The previous reading, to see wall-clock steps.
    anchor: Option<Now>,
    /// Group time at the latest reading.
    group: Duration,
    /// The latest stamp issued or absorbed.
    last: Hlc,
    /// Received stamps are absorbed at most this far past group time.
    cap: Duration,
    /// The steps taken in a row toward the votes in one direction (each may double).
    streak: u32,
    /// When group time last stepped toward the votes, and which way (+1 or -1).
    last_step: Option<(Time, i64)>,
    /// What group time rests on, as last worked out.
    basis: ClockBasis,
}

fn add_ns(d: Duration, ns: i64) -> Duration {
    let total = d.as_nanos() as i128 + i128::from(ns);
    Duration::from_nanos(total.clamp(0, i128::from(u64::MAX)) as u64)
}

impl Clock {
    /// A clock on the host's wall clock as read at `now`, absorbing received stamps at most `cap` ahead.
    pub(super) fn new(now: Now, cap: Duration) -> Self {
        Clock {
            offset_ns: 0,
            anchor: Some(now),
            group: now.wall,
            last: Hlc(0),
            cap,
            streak: 0,
            last_step: None,
            basis: ClockBasis::Own,
        }
    }

    /// Takes a reading. Returns the step, in milliseconds, if the wall clock jumped against the
    /// monotonic clock since the last reading; group time goes on as if it had not.
    pub(super) fn advance(&mut self, now: Now) -> Option<i64> {
        let mut step = None;
        if let Some(prev) = self.anchor
            && now.mono >= prev.mono
        {
            let expected = prev.wall + now.mono.since(prev.mono);
            let drift = now.wall.as_nanos() as i128 - expected.as_nanos() as i128;
            if drift.unsigned_abs() > STEP_TOLERANCE.as_nanos() {
                let drift = drift.clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64;
                self.offset_ns = self.offset_ns.saturating_sub(drift);
                step = Some(drift / 1_000_000);
            }
        }
        self.anchor = Some(now);
        self.group = add_ns(now.wall, self.offset_ns);
        step
    }

    /// What group time rests on, as last worked out.
    pub(super) fn basis(&self) -> ClockBasis {
        self.basis
    }

    /// Notes what group time rests on now.
    pub(super) fn set_basis(&mut self, basis: ClockBasis) {
        self.basis = basis;
    }

    /// This host's wall clock at the latest reading, in ms since the UNIX epoch.
    pub(super) fn wall_ms(&self) -> i64 {
        self.anchor.map_or(0, |a| a.wall.as_millis().min(i64::MAX as u128) as i64)
    }

    /// Group time minus this host's wall clock, in ms.
    pub(super) fn offset_ms(&self) -> i64 {
        self.offset_ns / 1_000_000
    }

    /// Toward the offset the votes call for (`target_ms`, see `decide`): the step to take now,
    /// if any. `jump` (a node that has not spoken yet, or whose own clock cannot be right) goes
    /// all the way at once; otherwise group time moves at most `FIRST_STEP_MS` at a time,
    /// doubling with each step in the same direction, at most once per `every`. So a majority
    /// must last to move group time far, and nothing one input says moves it by much.
    pub(super) fn follow(&mut self, target_ms: i64, jump: bool, now: Time, every: Duration) -> Option<i64> {
        let d = target_ms.saturating_sub(self.offset_ms());
        if d.abs() <= AGREE_MS {
            self.streak = 0;
            return None;
        }
        if jump {
            self.streak = 0;
            self.last_step = Some((now, d.signum()));
            return Some(d);
        }
        let streak = match self.last_step {
            Some((t, _)) if now.since(t) < every => return None,
            Some((_, dir)) if dir == d.signum() => self.streak.saturating_add(1),
            _ => 0,
        };
        let most = FIRST_STEP_MS.saturating_mul(1 << streak.min(40));
        self.streak = streak;
        self.last_step = Some((now, d.signum()));
        Some(d.clamp(-most, most))
    }

    /// Group time at the latest reading, as time since the UNIX epoch.
    pub(super) fn group_now(&self) -> Duration {
        self.group
    }

    /// The physical HLC time of the latest reading (no logical part, nothing absorbed).
    pub(super) fn now_hlc(&self) -> Hlc {
        Hlc::from_unix(self.group)
    }

    /// How far this host's wall clock is from group time (wall minus group), in milliseconds.
    pub(super) fn skew_ms(&self) -> i64 {
        -self.offset_ns / 1_000_000
    }

    /// A fresh stamp, later than any this clock issued or absorbed.
    pub(super) fn stamp(&mut self) -> Hlc {
        let pt = self.now_hlc();
        self.last = if pt > self.last { pt } else { Hlc(self.last.0.saturating_add(1)) };
        self.last
    }

    /// Moves past a received stamp up to `cap` past group time. Returns true if the stamp was
    /// further ahead than that: it is still accepted, but moves this clock not at all. (Moved
    /// up to the cap, every node that heard one frame of a clock far ahead, as a newcomer's are
    /// before it knows the group's time, would stamp the same instant for `cap`, and the order
    /// of what is said meanwhile would be the order of logical ticks, not of time.)
    pub(super) fn observe(&mut self, seen: Hlc) -> bool {
        let limit = Hlc::from_unix(self.group + self.cap);
        if seen <= limit {
            self.last = self.last.max(seen);
        }
        seen > limit
    }

    /// Shifts group time by `by_ms` (to agree with the group). Returns true if stamps already
    /// issued are now in the future: the clock then starts over from the new group time, and
    /// the caller must start a new life so no one mistakes the later, smaller stamps for old ones.
    pub(super) fn shift(&mut self, by_ms: i64) -> bool {
        self.offset_ns = self.offset_ns.saturating_add(by_ms.saturating_mul(1_000_000));
        self.group = add_ns(self.group, by_ms.saturating_mul(1_000_000));
        let behind = Hlc::from_unix(self.group + self.cap) < self.last;
        if behind {
            self.last = self.now_hlc();
        }
        behind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_780_000_000_000;

    fn reading(mono_ms: u64, wall_ms: u64) -> Now {
        Now { mono: Time::from_millis(mono_ms), wall: Duration::from_millis(wall_ms) }
    }

    fn clock() -> Clock {
        Clock::new(reading(0, T0), Duration::from_millis(500))
    }

    #[test]
    fn hlc_round_trips_physical_time() {
        let d = Duration::from_millis(T0 + 123);
        let back = Hlc::from_unix(d).to_unix();
        assert!(d.abs_diff(back) < Duration::from_micros(1), "{d:?} vs {back:?}");
    }

    #[test]
    fn stamps_increase_even_when_time_stands_still() {
        let mut c = clock();
        let a = c.stamp();
        let b = c.stamp();
        assert!(b > a);
        c.advance(reading(10, T0 + 10));
        assert!(c.stamp() > b);
    }

    #[test]
    fn a_wall_clock_step_is_seen_and_group_time_runs_on() {
        let mut c = clock();
        c.advance(reading(1_000, T0 + 1_000));
        let before = c.stamp();
        // One hour forward on the wall, one second on the monotonic clock.
        assert_eq!(c.advance(reading(2_000, T0 + 2_000 + 3_600_000)), Some(3_600_000));
        assert_eq!(c.group_now(), Duration::from_millis(T0 + 2_000));
        assert_eq!(c.skew_ms(), 3_600_000);
        let after = c.stamp();
        assert!(after > before && after.to_unix() < Duration::from_millis(T0 + 2_100));
        // And back again: nothing moves backwards.
        assert_eq!(c.advance(reading(3_000, T0 + 3_000)), Some(-3_600_000));
        assert_eq!(c.group_now(), Duration::from_millis(T0 + 3_000));
        assert_eq!(c.skew_ms(), 0);
        // Ordinary drift is not a step.
        assert_eq!(c.advance(reading(4_000, T0 + 4_200)), None);
    }

    #[test]
    fn received_stamps_push_the_clock_forward_within_the_cap_and_not_at_all_beyond() {
        let mut c = clock();
        let near = Hlc::from_unix(Duration::from_millis(T0 + 300));
        assert!(!c.observe(near));
        assert!(c.stamp() > near);
        let far = Hlc::from_unix(Duration::from_millis(T0 + 3_600_000));
        assert!(c.observe(far), "held, but accepted");
        let s = c.stamp();
        assert!(s > near && s.to_unix() <= Duration::from_millis(T0 + 301), "{:?}", s.to_unix());
    }

    #[test]
    fn the_majority_of_plausible_clocks_decides_and_two_are_not_a_majority() {
        let m = |agree, voters| ClockBasis::Majority { agree, voters };
        // Alone: our own clock.
        assert_eq!(decide(true, &[]), Decision { target_ms: Some(0), basis: ClockBasis::Own, agree: 1 });
        // A pair that disagrees: no one moves.
        assert_eq!(
            decide(true, &[-3_000]),
            Decision { target_ms: Some(0), basis: ClockBasis::Split { voters: 2 }, agree: 0 }
        );
        // A pair within a second agrees.
        assert_eq!(decide(true, &[400]).basis, m(2, 2));
        // Three, ours the odd one out: follow the two.
        assert_eq!(decide(true, &[3_000, 3_100]), Decision { target_ms: Some(3_000), basis: m(2, 3), agree: 2 });
        // Three, another the odd one out: stay.
        assert_eq!(decide(true, &[0, -3_000]).target_ms, Some(0));
        // Four, two and two: no majority.
        assert_eq!(decide(true, &[0, 5_000, 5_000]).basis, ClockBasis::Split { voters: 4 });
        // Five, spread out, three within a second of the middle one.
        assert_eq!(decide(true, &[-60_000, 300, 700, 90_000]).target_ms, Some(300));
        // Our own clock cannot be right: follow the plausible ones, even one alone.
        assert_eq!(
            decide(false, &[56_000_000]),
            Decision { target_ms: Some(56_000_000), basis: ClockBasis::Implausible { voters: 1 }, agree: 1 }
        );
        assert_eq!(decide(false, &[10, 90_000]).target_ms, Some(10), "no majority: the earlier middle one");
        assert_eq!(decide(false, &[10, 90_000]).agree, 0, "and a newcomer waits for more clocks");
        assert_eq!(
            decide(false, &[]),
            Decision { target_ms: None, basis: ClockBasis::Implausible { voters: 0 }, agree: 0 }
        );
    }

    #[test]
    fn clocks_before_this_version_or_decades_ahead_cannot_be_right() {
        assert!(!plausible(0), "1970");
        assert!(!plausible(PLAUSIBLE_FROM_MS - 1));
        assert!(plausible(T0 as i64));
        assert!(!plausible(T0 as i64 + 60 * 365 * 86_400_000), "sixty years ahead");
    }

    #[test]
    fn once_spoken_group_time_follows_in_bounded_steps_that_double() {
        let mut c = clock();
        let every = Duration::from_millis(500);
        let t = |ms| Time::from_millis(ms);
        assert_eq!(c.follow(500, false, t(0), every), None, "within a second: stays");
        let mut steps = Vec::new();
        for k in 0..12u64 {
            if let Some(by) = c.follow(600_000, false, t(1_000 + k * 500), every) {
                c.shift(by);
                steps.push(by);
            }
        }
        assert_eq!(&steps[..5], &[1_000, 2_000, 4_000, 8_000, 16_000]);
        assert_eq!(steps.iter().sum::<i64>(), 600_000, "ten minutes in a dozen steps: {steps:?}");
        assert_eq!(c.follow(600_200, false, t(9_000), every), None, "there");
        assert_eq!(c.follow(0, false, t(9_100), every), Some(-1_000), "the other way starts small again");
        assert_eq!(c.follow(0, false, t(9_200), every), None, "not twice within `every`");
        assert_eq!(c.follow(-5_000_000, true, t(9_600), every), Some(-5_000_000 - c.offset_ms()), "a jump");
    }

    #[test]
    fn shifting_back_past_issued_stamps_starts_over() {
        let mut c = clock();
        c.stamp();
        assert!(!c.shift(200), "forward never needs a new life");
        assert!(c.shift(-600_000), "ten minutes back");
        assert_eq!(c.skew_ms(), 600_000 - 200);
        let s = c.stamp();
        assert!(s.to_unix() < Duration::from_millis(T0 - 590_000));
    }
}
