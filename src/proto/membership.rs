//! Membership: what heartbeats, vouches and silence say about each peer (alive, suspect,
//! down, left), restarts recognised, and the peer table kept bounded.

use std::net::SocketAddr;
use std::time::Duration;

use super::detector::PhiDetector;
use super::peers::{LossWindow, Peer, PeerClock};
use super::wire::Beat;
use super::{
    DownReason, DownVia, DropReason, Event, GAP_SYNC_EVERY, Header, Hlc, Incarnation, MAX_VOUCHES, Node, NodeId,
    Status, Time,
};

impl Node {
    pub(super) fn on_beat(&mut self, f: Header, beat: &Beat, announce: bool, from: SocketAddr, now: Time) {
        let interval = Duration::from_millis(u64::from(beat.interval_ms.clamp(10, 60_000)));
        let name = super::Name::clip(&beat.name).to_string();
        self.log.on_beat(f.sender, f.incarnation, beat.msg_seq, f.hlc);
        let known = self.peers.get(&f.sender).map(|p| (p.incarnation, p.status));
        match known {
            Some((inc, status)) if f.incarnation < inc || (status == Status::Left && f.incarnation == inc) => {
                return; // a stale frame of an old life, or a straggler after a leave
            }
            Some((inc, status)) if f.incarnation > inc && status.is_member() => {
                // The same node (ids are random per run) began a new life to reset its clock:
                // it carries on as the same member, with fresh counters.
                let p = self.peers.get_mut(&f.sender).expect("known peer");
                p.incarnation = f.incarnation;
                p.loss = LossWindow::new(f.seq);
                p.frontier = Hlc(0);
                p.clock = PeerClock::default();
            }
            Some((inc, _)) if f.incarnation > inc => {
                self.peers.remove(&f.sender);
                self.ring_dirty = true;
            }
            _ => {}
        }
        if let Some(p) = self.peers.get_mut(&f.sender) {
            p.detector.heartbeat(now, &self.cfg.detector);
            p.last_seen = now;
            if p.addr != from {
                // Its place in the ring is its address: a move re-forms the ring.
                p.addr = from;
                self.ring_dirty = true;
            }
            p.frontier = p.frontier.max(beat.frontier);
            if p.tcp_port != beat.tcp_port {
                p.tcp_port = beat.tcp_port;
                self.ring_dirty = true;
            }
            let (node, old_status) = (p.id, p.status);
            if p.name != name {
                let old = std::mem::replace(&mut p.name, name.clone());
                self.emit(Event::PeerRenamed { node, old, new: name.clone() });
            }
            match old_status {
                Status::Suspect => {
                    self.set_status(node, Status::Alive, now);
                    self.emit(Event::PeerAlive { node, name });
                }
                Status::Down => {
                    self.set_status(node, Status::Alive, now);
                    self.emit(Event::PeerUp { node, name, addr: from });
                }
                Status::Alive | Status::Left => {}
            }
            self.clock_sample(f.sender, beat, now);
            self.after_beat(f, beat, now);
            return;
        }
        // A peer we did not know (or a new life of one).
        if self.peers.len() >= self.cfg.max_peers && !self.forget_one() {
            self.count(DropReason::PeerTableFull);
            return;
        }
        self.replace_restarted(&name, from, f.incarnation, now);
        self.peers.insert(
            f.sender,
            Peer {
                id: f.sender,
                incarnation: f.incarnation,
                name: name.clone(),
                addr: from,
                status: Status::Alive,
                last_seen: now,
                since: now,
                detector: PhiDetector::new(now, interval),
                loss: LossWindow::new(f.seq),
                tcp_port: beat.tcp_port,
                frontier: beat.frontier,
                clock: PeerClock::default(),
            },
        );
        self.ring_dirty = true;
        self.emit(Event::PeerUp { node: f.sender, name, addr: from });
        if announce && !self.left {
            // Answer a newcomer at once so it lists us within its announce burst.
            self.send_beat(false, now);
        }
        self.clock_sample(f.sender, beat, now);
        self.after_beat(f, beat, now);
    }

    /// What a heartbeat says beyond its sender's own liveness: peers it hears on its ring
    /// links, and whether it has sent messages we lack.
    pub(super) fn after_beat(&mut self, f: Header, beat: &Beat, now: Time) {
        for &(node, age_ms) in beat.links.iter().take(MAX_VOUCHES) {
            let heard = Time(now.0.saturating_sub(Duration::from_millis(u64::from(age_ms))));
            if node != self.id && age_ms < self.link_timeout().as_millis() as u32 {
                self.vouch(node, heard, now);
            }
        }
        let missing = self.log.origin(f.sender, f.incarnation).is_none_or(|o| o.missing_up_to(beat.msg_seq));
        if missing
            && beat.msg_seq.0 > 0
            && self.last_gap_sync.is_none_or(|t| now.since(t) >= GAP_SYNC_EVERY)
            && self.log.ask(f.sender, f.incarnation, beat.msg_seq)
        {
            // A message we never got (perhaps the last one it sent): ask the neighbours now,
            // once per news; the regular digests carry on after that.
            self.last_gap_sync = Some(now);
            self.sync_all(now);
        }
    }

    /// `node` was heard alive at `at`, second-hand or on its link.
    pub(super) fn vouch(&mut self, node: NodeId, at: Time, now: Time) {
        let Some(p) = self.peers.get_mut(&node) else { return };
        if !p.status.is_member() {
            return; // a vouch never brings back the dead; only the peer itself can
        }
        p.detector.vouch(at);
        if p.status == Status::Suspect && p.detector.phi(now, &self.cfg.detector) < self.cfg.detector.suspect_phi {
            let name = p.name.clone();
            p.status = Status::Alive;
            self.emit(Event::PeerAlive { node, name });
        }
    }

    /// Anything on the link from `peer` shows it is alive.
    pub(super) fn wake(&mut self, peer: NodeId, now: Time) {
        self.vouch(peer, now, now);
    }

    /// A new life of a node on the same host under the same name replaces the old entry, once
    /// the old one has gone quiet (two nodes may share a host and a name while both live).
    pub(super) fn replace_restarted(&mut self, name: &str, from: SocketAddr, inc: Incarnation, now: Time) {
        let quiet = self.cfg.heartbeat * 2;
        let old: Vec<NodeId> = self
            .peers
            .values()
            .filter(|p| {
                p.status.is_member()
                    && p.name == name
                    && p.addr.ip() == from.ip()
                    && p.incarnation < inc
                    && (p.status == Status::Suspect || now.since(p.detector.last()) > quiet)
            })
            .map(|p| p.id)
            .collect();
        for node in old {
            self.set_status(node, Status::Down, now);
            let name = name.to_string();
            self.emit(Event::PeerDown { node, name, reason: DownReason::Restarted, via: DownVia::Restart });
        }
    }

    pub(super) fn set_status(&mut self, node: NodeId, status: Status, now: Time) {
        if let Some(p) = self.peers.get_mut(&node) {
            if p.status.is_member() != status.is_member() {
                self.ring_dirty = true;
            }
            p.status = status;
            p.since = now;
        }
    }

    pub(super) fn mark_down(&mut self, node: NodeId, reason: DownReason, via: DownVia, now: Time) {
        let Some(p) = self.peers.get(&node) else { return };
        if !p.status.is_member() {
            return;
        }
        let name = p.name.clone();
        self.set_status(node, Status::Down, now);
        self.emit(Event::PeerDown { node, name, reason, via });
    }

    /// Makes room in a full table by forgetting the longest-gone down or left peer.
    pub(super) fn forget_one(&mut self) -> bool {
        let gone = self.peers.values().filter(|p| !p.status.is_member()).min_by_key(|p| p.since).map(|p| p.id);
        if let Some(node) = gone {
            self.peers.remove(&node);
            self.emit(Event::PeerRemoved { node });
        }
        gone.is_some()
    }

    pub(super) fn check_peers(&mut self, now: Time) {
        let mut verdicts = Vec::new();
        for p in self.peers.values() {
            let verdict = match p.status {
                Status::Alive | Status::Suspect => {
                    let phi = p.detector.phi(now, &self.cfg.detector);
                    if phi >= self.cfg.detector.down_phi {
                        Some(Verdict::Down)
                    } else if phi >= self.cfg.detector.suspect_phi && p.status == Status::Alive {
                        Some(Verdict::Suspect)
                    } else {
                        None
                    }
                }
                Status::Down | Status::Left => (now.since(p.since) >= self.cfg.forget_after).then_some(Verdict::Forget),
            };
            if let Some(v) = verdict {
                verdicts.push((p.id, v));
            }
        }
        for (node, verdict) in verdicts {
            match verdict {
                Verdict::Forget => {
                    self.peers.remove(&node);
                    self.emit(Event::PeerRemoved { node });
                }
                Verdict::Down => self.mark_down(node, DownReason::Timeout, DownVia::Heartbeat, now),
                Verdict::Suspect => {
                    let name = self.peers[&node].name.clone();
                    self.set_status(node, Status::Suspect, now);
                    self.emit(Event::PeerSuspect { node, name });
                }
            }
        }
    }
}

/// What the failure detector and the forgetting clock decided about a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Suspect,
    Down,
    /// Down or gone long enough: drop it from the table.
    Forget,
}
