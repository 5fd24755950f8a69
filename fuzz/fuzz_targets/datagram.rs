//! Any datagram from the network, to the decoder and to an open and a keyed node.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use groupcast::proto::KEY_LEN;
use groupcast::proto::{Config, GroupKey, Incarnation, Node, NodeId, Now, Time, wire};
use libfuzzer_sys::fuzz_target;

fn node(key: Option<GroupKey>) -> Node {
    let cfg = Config { clock_wait: Duration::ZERO, key, ..Config::default() };
    Node::new(NodeId(9), Incarnation(1), cfg, Now::synced(Time::from_millis(1_780_000_000_000)))
}

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode(data);
    let from = SocketAddr::from(([10, 0, 0, 1], 12345));
    for mut n in [node(None), node(Some(GroupKey::new(&[7; KEY_LEN], "g")))] {
        // Several datagrams: the input split at each 0xFF byte.
        for (k, d) in data.split(|b| *b == 0xFF).enumerate() {
            n.handle_datagram(d, from, Now::synced(Time::from_millis(1_780_000_000_000 + k as u64 * 100)));
        }
        while n.poll_output().is_some() {}
    }
});
