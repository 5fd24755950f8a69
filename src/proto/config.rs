//! How a node is set up: its name, rhythm, detector, retention and limits.

use std::net::SocketAddr;
use std::time::Duration;

use super::detector::DetectorConfig;
use super::seal::GroupKey;
use super::types::Name;

/// How a node is set up; `Default` gives the values the command line starts from.
#[derive(Clone, Debug)]
pub struct Config {
    /// The name shown to the group.
    pub name: Name,
    /// How often this node sends a heartbeat.
    pub heartbeat: Duration,
    /// When a silent peer becomes suspect, then down.
    pub detector: DetectorConfig,
    /// Received timestamps push this node's clock forward at most this far past its own time.
    /// (Frames stamped further ahead are still taken; only the clock is held back.)
    pub max_clock_ahead: Duration,
    /// Retention: messages kept in the log.
    pub log_capacity: usize,
    /// Retention in bytes (text and names, plus a fixed cost per message).
    pub log_bytes: usize,
    /// Peers tracked at most; beyond it a new one is heard only if a gone one can be forgotten.
    pub max_peers: usize,
    /// How long a down or left peer is remembered (and shown) before it is removed.
    pub forget_after: Duration,
    /// How long a node that is not the bare-text stamper waits for the stamper's copy.
    pub bare_wait: Duration,
    /// Bare-text datagrams accepted per second from one address, and the burst allowed.
    pub bare_rate: f64,
    /// Bare-text datagrams one address may send at once before the rate applies.
    pub bare_burst: f64,
    /// This node's place in the ring: its interface address and TCP listening port. `None`
    /// takes no part in the ring (a one-shot sender).
    pub ring_addr: Option<SocketAddr>,
    /// How often ring neighbours exchange digests.
    pub sync_every: Duration,
    /// A ring link idle this long gets a ping; one silent four times this long is broken.
    /// TCP loses nothing, so a silent link is a peer that stopped answering, not a lossy LAN.
    pub link_ping: Duration,
    /// A new node holds what its user says until it has heard the group's clock, or this long
    /// (so a host with a wrong clock never stamps its first messages in the future). Zero for a
    /// one-shot sender, which hears nothing.
    pub clock_wait: Duration,
    /// The group's key: every frame sent is sealed with it, and only frames sealed with it are
    /// taken. `None`: an open group.
    pub key: Option<GroupKey>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: Name::clip("node"),
            heartbeat: Duration::from_millis(500),
            detector: DetectorConfig::default(),
            max_clock_ahead: Duration::from_millis(500),
            log_capacity: 10_000,
            log_bytes: 16 << 20,
            max_peers: 1024,
            forget_after: Duration::from_secs(60),
            bare_wait: Duration::from_secs(1),
            bare_rate: 20.0,
            bare_burst: 40.0,
            ring_addr: None,
            sync_every: Duration::from_secs(1),
            link_ping: Duration::from_millis(200),
            clock_wait: Duration::from_millis(300),
            key: None,
        }
    }
}
