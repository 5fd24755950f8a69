//! groupcast: multicast group chat and a small self-healing cluster for a shared LAN.

pub mod proto;
