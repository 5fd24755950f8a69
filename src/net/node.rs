//! Node start-up, for both front ends: a fresh identity, the group joined, the ring listener
//! opened, and the network task started.

use std::net::SocketAddr;

use super::driver::{self, EventSink, NodeHandle};
use super::{NetConfig, SetupError, socket};
use crate::proto::{self, Incarnation, Node, NodeId};

/// A fresh identity for this run: a random non-zero id, and the start time as incarnation.
pub fn new_identity() -> (NodeId, Incarnation) {
    let id = loop {
        let v: u64 = rand::random();
        if v != 0 {
            break v;
        }
    };
    (NodeId(id), Incarnation(driver::wall_now().as_millis() as u64))
}

/// Joins the group, opens the ring listener, and starts the network task.
pub fn start_node(netcfg: &NetConfig, cfg: proto::Config) -> Result<NodeHandle, SetupError> {
    start_node_into(netcfg, cfg, &mut None)
}

/// As `start_node`, with the events going to `sink` (taken only if the node starts).
fn start_node_into(
    netcfg: &NetConfig,
    mut cfg: proto::Config,
    sink: &mut Option<Box<dyn EventSink>>,
) -> Result<NodeHandle, SetupError> {
    let iface = socket::resolve_iface(netcfg.iface.as_deref(), netcfg.group)?;
    let sock = socket::open_member(netcfg, iface)?;
    let in_use = socket::iface_in_use(netcfg, iface);
    if in_use.is_some_and(|a| a.is_unspecified()) {
        // The route for the group goes through an interface without an address (yet).
        const EADDRNOTAVAIL: i32 = 99;
        let source = std::io::Error::from_raw_os_error(EADDRNOTAVAIL);
        return Err(SetupError::Join { group: netcfg.group, iface: "the default route".into(), source });
    }
    let group = socket::scoped_group(netcfg.group, in_use);
    // Peers place us in the ring by the address our datagrams come from and this port. On IPv4
    // that is the interface's address; on IPv6 the kernel picks the source among the
    // interface's addresses (a temporary one, maybe): the listener takes any of them, and the
    // ring address is the one a datagram to the group goes out from.
    let (listen_on, source) =
        if group.is_ipv6() { (None, socket::source_for(group, in_use)) } else { (in_use, in_use) };
    let listener = socket::open_ring_listener(listen_on, netcfg.ring_port, group)?;
    let ip = source.unwrap_or(listener.local_addr()?.ip());
    cfg.ring_addr = Some(SocketAddr::new(ip, listener.local_addr()?.port()));
    let label = in_use.map_or_else(|| "default".to_string(), |a| a.to_string());
    let (id, inc) = new_identity();
    let core = Node::new(id, inc, cfg, driver::now());
    Ok(driver::spawn(sock, Some(listener), (group, label), core, sink.take()))
}

/// Like `start_node`, but while the network is not there yet (the interface down or without
/// its address, no route for the group) it waits and tries again every second, telling
/// `waiting` why (once per new reason). Other errors (a typo'd interface, a port in use) end it.
pub async fn start_node_when_up(
    netcfg: &NetConfig,
    cfg: proto::Config,
    mut sink: Option<Box<dyn EventSink>>,
    mut waiting: impl FnMut(&SetupError),
) -> Result<NodeHandle, SetupError> {
    let mut said = String::new();
    loop {
        match start_node_into(netcfg, cfg.clone(), &mut sink) {
            Err(e) if e.network_not_up(netcfg.iface.as_deref()) => {
                let why = e.to_string();
                if why != said {
                    waiting(&e);
                    said = why;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}
