//! groupcast: multicast group chat and a small self-healing cluster for a shared LAN.
//!
//! `proto` is the protocol core (no I/O), `net` owns the sockets and drives it, `tui` is the
//! terminal UI, `headless` holds the `node` and `send` commands, `cli` the command line.

pub mod cli;
pub mod headless;
pub mod net;
pub mod proto;
pub mod tui;
