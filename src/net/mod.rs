//! The only place with sockets and clocks: multicast socket setup, node start-up, the task that
//! drives the core, and the TCP ring links. Both front ends (`tui`, `headless`) start nodes here.

use std::net::SocketAddrV4;

pub mod driver;
pub mod link;
pub mod node;
pub mod socket;

/// Where and how to reach the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub group: SocketAddrV4,
    /// An IPv4 address or an interface name; `None` lets the routing table choose.
    pub iface: Option<String>,
    pub ttl: u32,
}

pub use driver::{NetEvent, NodeHandle, Ready, Request, Resync, mono_now, now, spawn, wall_now};
pub use node::{new_identity, start_node};
pub use socket::{SetupError, resolve_iface};
