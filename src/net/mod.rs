//! The only place with sockets: multicast socket setup and the task that drives the core.

pub mod driver;
pub mod link;
pub mod socket;

pub use driver::{NetEvent, NodeHandle, Ready, Request, Resync, mono_now, now, spawn, wall_now};
pub use socket::{SetupError, resolve_iface};
