//! The only place with sockets and clocks: multicast socket setup, node start-up, the task that
//! drives the core, and the TCP ring links. Both front ends (`tui`, `headless`) start nodes here.

use std::net::SocketAddr;

mod alarm;
mod driver;
mod link;
mod node;
mod recv;
pub mod socket;

/// Where and how to reach the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// The multicast group's address and port, IPv4 or IPv6.
    pub group: SocketAddr,
    /// An address or an interface name; `None` lets the routing table choose.
    pub iface: Option<String>,
    /// Multicast TTL: how many routers the group's datagrams may cross.
    pub ttl: u32,
    /// The TCP port of the ring listener; 0 lets the system pick one.
    pub ring_port: u16,
}

pub use driver::{EventSink, NetEvent, NodeHandle, Ready, Request, Resync, mono_now, now, spawn, wall_now};
pub use link::MAX_HELLO;
pub use node::{new_identity, start_node, start_node_when_up};
pub use socket::{SetupError, resolve_iface};
