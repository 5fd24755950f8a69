//! The protocol core: a state machine with no sockets and no clock reads.
//!
//! Feed it datagrams (`handle_datagram`), ring-link traffic (`handle_link_up`,
//! `handle_link_frame`, `handle_link_end`), local commands (`handle_command`) and timer ticks
//! (`handle_timer`), each with the current `Time`; take what it wants done from `poll_output`:
//! datagrams to multicast, links to dial, frames to send on links, and events for front ends.
//! The network task drives it for real; the simulation (`sim`, behind the `testing` feature)
//! drives hundreds of them on simulated time.
//!
//! `Node` (in `node.rs`) owns the parts and routes inputs between them; each part owns its
//! state: `Members` the peer table, `Links` the ring links and dials, `Repair` the holes and
//! settled marks, `Log` the messages, `Clock` group time, `TimerTable` the deadlines, `BareDesk`
//! bare text. `linking.rs` and `timekeeping.rs` are the node's work on the ring and on time.

mod acks;
mod bare;
mod beats;
mod clock;
mod config;
mod detector;
mod events;
mod failures;
mod holding;
mod life;
pub(crate) mod log;
mod membership;
mod node;
mod outbox;
mod pauses;
mod peers;
mod reasons;
mod repair;
mod replay;
mod reports;
mod ring;
pub(crate) mod seal;
mod snapshot;
mod tending;
mod timekeeping;
mod timer;
pub(crate) mod types;
mod verdicts;
pub mod wire;
mod writing;

pub use clock::ClockBasis;
pub use config::Config;
pub use detector::DetectorConfig;
pub use events::{ClockCause, Command, CommandError, DownReason, Event, Output, check_message};
pub use log::{Entry, Inserted, Log};
pub use node::Node;
pub use peers::Status;
pub use reasons::{DownVia, DropReason};
pub use ring::{LinkEnd, Neighbours, RingKey};
pub use seal::{GroupKey, KEY_LEN, TAG_LEN};
pub use snapshot::{PeerView, Snapshot, Stats};
pub use types::{BadName, Hlc, Incarnation, Name, NodeId, Now, Seq, Time};

#[cfg(test)]
mod tests;
