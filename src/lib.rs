//! groupcast: multicast group chat and a small self-healing cluster for a shared LAN.
//!
//! `proto` is the protocol core (no I/O), `net` owns the sockets, node start-up and the task that
//! drives the core; `tui` (the terminal UI) and `headless` (the `node` and `send` commands) are
//! sibling front ends on top of `net`; `cli` turns the command line into their configuration;
//! `output` is what `node` prints; `show` is how values read for people; `error` is how a run ends badly.

pub mod cli;
pub mod config;
pub mod doctor;
pub mod error;
pub mod headless;
mod history;
pub mod keyfile;
pub mod net;
mod output;
pub mod proto;
mod show;
#[cfg(feature = "testing")]
pub mod sim;
mod stdin_lines;
pub mod tui;
