//! Replay protection for keyed groups: a frame that opened with the key is taken once.
//!
//! Per sender and life this keeps a window of the last 128 multicast frame numbers (as `IPsec`
//! does) and the highest ring-link frame number (a link delivers in order, so link numbers
//! only grow). A frame from an older life than one already heard is stale.
//!
//! A life never heard before is taken whatever its stamp: its stamp says only what its
//! sender's clock said, and a node whose clock is wrong (or a newcomer whose own is) must still
//! be heard. Nothing is refused for a clock reason. A capture of a life that has gone, sent again
//! to a node that never heard it, is taken as that life speaking, for as long as the replay
//! lasts; but it never votes on the group's clock and never holds back settled marks, since
//! no one links with it (see `Members::clock_votes`, `Members::attested`).
//!
//! Open groups cannot tell a replay from a forgery and do not use this: anyone can send any
//! frame there (see `docs/PROTOCOL.md`, open groups).

use std::collections::BTreeMap;

use super::reasons::DropReason;
use super::types::{Incarnation, NodeId, Seq, Time};

/// Senders' lives remembered at most; the least recently heard is forgotten first.
const MAX_LIVES: usize = 4096;
/// Multicast frame numbers this far below the highest seen are refused as too old to tell.
const WINDOW: u64 = 128;

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
    /// a frame taken before (or too old to tell), `Stale` for a frame of an older life than one
    /// heard.
    pub(super) fn admit(
        &mut self,
        (node, inc, seq): (NodeId, Incarnation, Seq),
        path: Path,
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

    fn f(node: u64, inc: u64, seq: u64) -> (NodeId, Incarnation, Seq) {
        (NodeId(node), Incarnation(inc), Seq(seq))
    }

    #[test]
    fn each_multicast_frame_is_taken_once_in_any_order() {
        let mut g = ReplayGuard::default();
        let t = Time::default();
        for s in [1, 2, 5, 4, 3] {
            assert_eq!(g.admit(f(1, 1, s), Path::Multicast, t), Ok(()), "seq {s}");
        }
        for s in 1..=5 {
            assert_eq!(g.admit(f(1, 1, s), Path::Multicast, t), Err(DropReason::Replay), "seq {s} again");
        }
        assert_eq!(g.admit(f(1, 1, 300), Path::Multicast, t), Ok(()));
        assert_eq!(g.admit(f(1, 1, 100), Path::Multicast, t), Err(DropReason::Replay), "too old to tell");
        assert_eq!(g.admit(f(2, 1, 1), Path::Multicast, t), Ok(()), "another sender has its own window");
    }

    #[test]
    fn link_frames_only_grow_and_older_lives_are_stale() {
        let mut g = ReplayGuard::default();
        let t = Time::default();
        assert_eq!(g.admit(f(1, 1, LINK_BASE + 1), Path::Link, t), Ok(()));
        assert_eq!(g.admit(f(1, 1, LINK_BASE + 1), Path::Link, t), Err(DropReason::Replay));
        assert_eq!(g.admit(f(1, 2, 1), Path::Multicast, t), Ok(()), "a new life");
        assert_eq!(g.admit(f(1, 1, LINK_BASE + 2), Path::Link, t), Err(DropReason::Stale));
        assert_eq!(g.admit(f(1, 1, 9), Path::Multicast, t), Err(DropReason::Stale));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut g = ReplayGuard::default();
        for n in 1..=(MAX_LIVES as u64 + 100) {
            g.admit(f(n, 1, 1), Path::Multicast, Time::from_millis(n)).unwrap();
        }
        assert_eq!(g.lives.len(), MAX_LIVES);
    }

    const LINK_BASE: u64 = super::super::seal::LINK_SEQ;
}
