//! Replay protection for keyed groups: a frame that opened with the key is taken once.
//!
//! Per sender and life this keeps a window of the last 128 multicast frame numbers (as `IPsec`
//! does) and the highest ring-link frame number (a link delivers in order, so link numbers
//! only grow). A frame from an older life than one already heard is stale. A life never heard
//! before must carry a recent stamp, so a datagram captured from a node that has since gone,
//! and sent again once its record was forgotten, is not taken for a new member.
//!
//! Open groups cannot tell a replay from a forgery and do not use this: anyone can send any
//! frame there (see `docs/PROTOCOL.md`, open groups).

use std::collections::BTreeMap;
use std::time::Duration;

use super::reasons::DropReason;
use super::types::{Hlc, Incarnation, NodeId, Seq, Time};

/// Senders' lives remembered at most; the least recently heard is forgotten first.
const MAX_LIVES: usize = 4096;
/// Multicast frame numbers this far below the highest seen are refused as too old to tell.
const WINDOW: u64 = 128;
/// A life not heard before must be stamped no further than this behind group time.
pub const FRESH: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Window {
    highest: u64,
    /// Bit `i`: frame `highest - i` was taken.
    bits: u128,
    /// Highest ring-link frame number taken.
    link_high: u64,
    heard: Time,
}

/// The frames a keyed node has taken, per sender and life.
#[derive(Default)]
pub(super) struct ReplayGuard {
    lives: BTreeMap<(NodeId, Incarnation), Window>,
}

/// Which count a frame is on: multicast frames may arrive out of order, link frames may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Path {
    Multicast,
    Link,
}

impl ReplayGuard {
    /// Takes a frame that opened with the group key, or says why it is refused: `Replay` for
    /// a frame taken before (or too old to tell), `Stale` for an older life or a stamp too far
    /// behind `group_now` for a life not heard before.
    pub fn admit(
        &mut self,
        (node, inc, seq, hlc): (NodeId, Incarnation, Seq, Hlc),
        path: Path,
        group_now: Hlc,
        now: Time,
    ) -> Result<(), DropReason> {
        if self
            .lives
            .range((node, Incarnation(inc.0.saturating_add(1)))..=(node, Incarnation(u64::MAX)))
            .next()
            .is_some()
        {
            return Err(DropReason::Stale);
        }
        if !self.lives.contains_key(&(node, inc)) {
            let floor = Hlc::from_unix(group_now.to_unix().saturating_sub(FRESH));
            if hlc < floor {
                return Err(DropReason::Stale);
            }
            if self.lives.len() >= MAX_LIVES {
                self.forget_oldest();
            }
            self.lives.insert((node, inc), Window { highest: 0, bits: 0, link_high: 0, heard: now });
        }
        let w = self.lives.get_mut(&(node, inc)).expect("inserted above");
        let s = seq.0;
        let taken = match path {
            Path::Link => {
                let ok = s > w.link_high;
                if ok {
                    w.link_high = s;
                }
                ok
            }
            Path::Multicast if s > w.highest => {
                let shift = s - w.highest;
                w.bits = if shift >= 128 { 0 } else { w.bits << shift };
                w.bits |= 1;
                w.highest = s;
                true
            }
            Path::Multicast => {
                let back = w.highest - s;
                let bit = 1u128 << back.min(127);
                let ok = back < WINDOW && w.bits & bit == 0;
                if ok {
                    w.bits |= bit;
                }
                ok
            }
        };
        if !taken {
            return Err(DropReason::Replay);
        }
        w.heard = now;
        // Earlier lives of this sender will never speak again.
        let older: Vec<_> = self.lives.range((node, Incarnation(0))..(node, inc)).map(|(k, _)| *k).collect();
        for k in older {
            self.lives.remove(&k);
        }
        Ok(())
    }

    fn forget_oldest(&mut self) {
        if let Some(k) = self.lives.iter().min_by_key(|(_, w)| w.heard).map(|(k, _)| *k) {
            self.lives.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Hlc = Hlc(1_780_000_000_000 << 16);

    fn f(node: u64, inc: u64, seq: u64) -> (NodeId, Incarnation, Seq, Hlc) {
        (NodeId(node), Incarnation(inc), Seq(seq), NOW)
    }

    #[test]
    fn each_multicast_frame_is_taken_once_in_any_order() {
        let mut g = ReplayGuard::default();
        let t = Time::default();
        for s in [1, 2, 5, 4, 3] {
            assert_eq!(g.admit(f(1, 1, s), Path::Multicast, NOW, t), Ok(()), "seq {s}");
        }
        for s in 1..=5 {
            assert_eq!(g.admit(f(1, 1, s), Path::Multicast, NOW, t), Err(DropReason::Replay), "seq {s} again");
        }
        assert_eq!(g.admit(f(1, 1, 300), Path::Multicast, NOW, t), Ok(()));
        assert_eq!(g.admit(f(1, 1, 100), Path::Multicast, NOW, t), Err(DropReason::Replay), "too old to tell");
        assert_eq!(g.admit(f(2, 1, 1), Path::Multicast, NOW, t), Ok(()), "another sender has its own window");
    }

    #[test]
    fn link_frames_only_grow_and_older_lives_are_stale() {
        let mut g = ReplayGuard::default();
        let t = Time::default();
        assert_eq!(g.admit(f(1, 1, LINK_BASE + 1), Path::Link, NOW, t), Ok(()));
        assert_eq!(g.admit(f(1, 1, LINK_BASE + 1), Path::Link, NOW, t), Err(DropReason::Replay));
        assert_eq!(g.admit(f(1, 2, 1), Path::Multicast, NOW, t), Ok(()), "a new life");
        assert_eq!(g.admit(f(1, 1, LINK_BASE + 2), Path::Link, NOW, t), Err(DropReason::Stale));
        assert_eq!(g.admit(f(1, 1, 9), Path::Multicast, NOW, t), Err(DropReason::Stale));
    }

    #[test]
    fn a_life_not_heard_before_needs_a_recent_stamp() {
        let mut g = ReplayGuard::default();
        let old = Hlc::from_unix(NOW.to_unix().saturating_sub(Duration::from_secs(120)));
        let frame = (NodeId(5), Incarnation(1), Seq(1), old);
        assert_eq!(g.admit(frame, Path::Multicast, NOW, Time::default()), Err(DropReason::Stale));
        let recent = Hlc::from_unix(NOW.to_unix().saturating_sub(Duration::from_secs(5)));
        let frame = (NodeId(5), Incarnation(1), Seq(1), recent);
        assert_eq!(g.admit(frame, Path::Multicast, NOW, Time::default()), Ok(()));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut g = ReplayGuard::default();
        for n in 1..=(MAX_LIVES as u64 + 100) {
            g.admit(f(n, 1, 1), Path::Multicast, NOW, Time::from_millis(n)).unwrap();
        }
        assert_eq!(g.lives.len(), MAX_LIVES);
    }

    const LINK_BASE: u64 = super::super::seal::LINK_SEQ;
}
