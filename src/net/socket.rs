//! Opening the multicast socket with socket2, and turning each way it can fail into one line
//! that tells the user what to do.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;

use super::NetConfig;

const RECV_BUFFER: usize = 4 << 20;

/// Why a node could not join the group or open its ring listener.
#[derive(Debug, Error)]
pub enum SetupError {
    /// `--iface` names no interface with an IPv4 address.
    #[error("no interface named {0:?} with an IPv4 address (see `ip -4 addr`); pass --iface with a name or an address")]
    UnknownIface(String),
    /// The group's port could not be bound.
    #[error("cannot bind {group}: {source}")]
    Bind {
        /// The group.
        group: SocketAddrV4,
        /// What the system said.
        source: io::Error,
    },
    /// The group could not be joined on the interface.
    #[error(
        "cannot join {group} on {iface}: {source}. {}",
        if *iface == "the default route" {
            "There is no route for multicast here; pick an interface with --iface (for example --iface 127.0.0.1 or --iface eth0)"
        } else {
            "Check that the interface is up and has this address (see `ip -4 addr`)"
        }
    )]
    Join {
        /// The group.
        group: SocketAddrV4,
        /// The interface address, or "the default route".
        iface: String,
        /// What the system said.
        source: io::Error,
    },
    /// Creating or configuring the socket failed.
    #[error("cannot set up the multicast socket: {0}")]
    Socket(#[from] io::Error),
    /// The ring listener's address is taken or not ours.
    #[error("cannot listen for ring links on {addr}: {source} (pick another --ring-port, or 0 for any)")]
    RingPort {
        /// The address it would listen on.
        addr: SocketAddrV4,
        /// What the system said.
        source: io::Error,
    },
}

impl SetupError {
    /// The network is not there yet, and may come: the interface is down, has no address
    /// yet, or there is no route for the group. (`spec`: the `--iface` given, if any; a name
    /// that no interface has is a mistake, not a wait.)
    pub fn network_not_up(&self, spec: Option<&str>) -> bool {
        const ENODEV: i32 = 19;
        const EADDRNOTAVAIL: i32 = 99;
        const ENETUNREACH: i32 = 101;
        match self {
            SetupError::Join { source, .. } => {
                matches!(source.raw_os_error(), Some(ENODEV | EADDRNOTAVAIL | ENETUNREACH))
            }
            SetupError::UnknownIface(name) => {
                spec == Some(name.as_str()) && std::path::Path::new("/sys/class/net").join(name).exists()
            }
            _ => false,
        }
    }
}

/// The interface address to use: `None` means "let the routing table choose".
pub fn resolve_iface(spec: Option<&str>) -> Result<Option<Ipv4Addr>, SetupError> {
    let Some(spec) = spec else { return Ok(None) };
    if let Ok(addr) = spec.parse::<Ipv4Addr>() {
        return Ok(Some(addr));
    }
    let addrs = if_addrs::get_if_addrs().map_err(SetupError::Socket)?;
    addrs
        .into_iter()
        .find_map(|i| match i.ip() {
            std::net::IpAddr::V4(a) if i.name == spec => Some(a),
            _ => None,
        })
        .map(Some)
        .ok_or_else(|| SetupError::UnknownIface(spec.to_string()))
}

/// The interface address the group is reached through, for display: the one given, or the one
/// the routing table picks. (Connecting a UDP socket only consults the routing table; it sends
/// nothing.)
pub fn iface_in_use(cfg: &NetConfig, iface: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
    if iface.is_some() {
        return iface;
    }
    let local = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).and_then(|s| {
        s.connect(cfg.group)?;
        s.local_addr()
    });
    match local {
        Ok(SocketAddr::V4(a)) => Some(*a.ip()),
        _ => None,
    }
}

/// The TCP listener for ring links, on the interface's address (any, if the routing table
/// chooses) and on `port` (0: one the system picks).
pub fn open_ring_listener(ip: Option<Ipv4Addr>, port: u16) -> Result<tokio::net::TcpListener, SetupError> {
    let addr = SocketAddrV4::new(ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port);
    let l = std::net::TcpListener::bind(addr).map_err(|source| SetupError::RingPort { addr, source })?;
    l.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(l)?)
}

fn iface_label(iface: Option<Ipv4Addr>) -> String {
    iface.map_or_else(|| "the default route".to_string(), |a| a.to_string())
}

fn outgoing(sock: &Socket, cfg: &NetConfig, iface: Option<Ipv4Addr>) -> io::Result<()> {
    if let Some(a) = iface {
        sock.set_multicast_if_v4(&a)?;
    }
    sock.set_multicast_ttl_v4(cfg.ttl)?;
    // Several nodes on one host hear each other through loopback; each drops its own echo.
    sock.set_multicast_loop_v4(true)?;
    sock.set_nonblocking(true)
}

/// A socket that has joined the group and sends to it: what a node uses.
pub fn open_member(cfg: &NetConfig, iface: Option<Ipv4Addr>) -> Result<tokio::net::UdpSocket, SetupError> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several nodes (and old C servers) on one host share the group's port.
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    // Bound to the group address, the socket hears this group only, not others on the port.
    let bind = SocketAddr::V4(cfg.group);
    sock.bind(&bind.into()).map_err(|source| SetupError::Bind { group: cfg.group, source })?;
    let join_on = iface.unwrap_or(Ipv4Addr::UNSPECIFIED);
    sock.join_multicast_v4(cfg.group.ip(), &join_on).map_err(|source| SetupError::Join {
        group: cfg.group,
        iface: iface_label(iface),
        source,
    })?;
    outgoing(&sock, cfg, iface)?;
    // Room for bursts while the task is busy; the kernel caps it at net.core.rmem_max.
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
    Ok(tokio::net::UdpSocket::from_std(sock.into())?)
}

/// A socket that only sends to the group: what `groupcast send` uses.
pub fn open_sender(cfg: &NetConfig, iface: Option<Ipv4Addr>) -> Result<tokio::net::UdpSocket, SetupError> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    sock.bind(&any.into()).map_err(|source| SetupError::Bind { group: cfg.group, source })?;
    outgoing(&sock, cfg, iface)?;
    Ok(tokio::net::UdpSocket::from_std(sock.into())?)
}

/// Sending failed in a way that means the group cannot be reached from here at all.
pub fn unreachable_hint(e: &io::Error, iface: Option<Ipv4Addr>) -> Option<String> {
    const ENODEV: i32 = 19;
    const ENETUNREACH: i32 = 101;
    match e.raw_os_error() {
        Some(ENODEV | ENETUNREACH) => Some(format!(
            "cannot send to the group via {}: {e}. Pick an interface with --iface (for example --iface 127.0.0.1)",
            iface_label(iface)
        )),
        _ => None,
    }
}
