//! Opening the multicast socket with socket2, and turning each way it can fail into one line
//! that tells the user what to do.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;

use super::NetConfig;

const RECV_BUFFER: usize = 4 << 20;

/// Why a node could not join the group or open its ring listener.
#[derive(Debug, Error)]
pub enum SetupError {
    /// `--iface` names no interface with an address of the group's family.
    #[error("no interface named {0:?} with an {1} address (see `ip addr`); pass --iface with a name or an address")]
    UnknownIface(String, &'static str),
    /// `--iface` is an address of the other family than the group's.
    #[error(
        "--iface {iface} is an {iface_family} address but the group {group} is {group_family}; give an interface name or an address of the group's family"
    )]
    WrongFamily {
        /// The address given.
        iface: IpAddr,
        /// Its family.
        iface_family: &'static str,
        /// The group.
        group: SocketAddr,
        /// Its family.
        group_family: &'static str,
    },
    /// IPv6 multicast on the loopback interface (Linux has no route for it there).
    #[error(
        "IPv6 groups do not work on loopback (--iface {0}); to try groupcast on one host use an IPv4 group with --iface 127.0.0.1"
    )]
    V6Loopback(IpAddr),
    /// A link-local IPv6 group with no interface to scope it to.
    #[error("the group {0} is link-local: name the link with --iface (for example --iface eth0)")]
    NeedsIface(SocketAddr),
    /// The group's port could not be bound.
    #[error("cannot bind {group}: {source}")]
    Bind {
        /// The group.
        group: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// The group could not be joined on the interface.
    #[error(
        "cannot join {group} on {iface}: {source}. {}",
        if *iface == "the default route" {
            "There is no route for multicast here; pick an interface with --iface (for example --iface 127.0.0.1 or --iface eth0)"
        } else {
            "Check that the interface is up and has this address (see `ip addr`)"
        }
    )]
    Join {
        /// The group.
        group: SocketAddr,
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
        addr: SocketAddr,
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
            SetupError::UnknownIface(name, _) => {
                spec == Some(name.as_str()) && std::path::Path::new("/sys/class/net").join(name).exists()
            }
            _ => false,
        }
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// The interface address to use, of the group's family: `None` means "let the routing table
/// choose". By name, an IPv6 group takes the interface's global or unique-local address if it
/// has one, else its link-local one.
pub fn resolve_iface(spec: Option<&str>, group: SocketAddr) -> Result<Option<IpAddr>, SetupError> {
    let Some(spec) = spec else { return Ok(None) };
    if let Ok(addr) = spec.parse::<IpAddr>() {
        if addr.is_ipv4() != group.is_ipv4() {
            return Err(SetupError::WrongFamily {
                iface: addr,
                iface_family: family(addr),
                group,
                group_family: family(group.ip()),
            });
        }
        if addr.is_ipv6() && addr.is_loopback() {
            return Err(SetupError::V6Loopback(addr));
        }
        return Ok(Some(addr));
    }
    let addrs = if_addrs::get_if_addrs().map_err(SetupError::Socket)?;
    let mut mine: Vec<IpAddr> = addrs
        .into_iter()
        .filter(|i| i.name == spec)
        .map(|i| i.ip())
        .filter(|a| a.is_ipv4() == group.is_ipv4())
        .collect();
    // Link-local addresses last.
    mine.sort_by_key(|a| matches!(a, IpAddr::V6(v) if v.is_unicast_link_local()));
    match mine.first() {
        Some(a) if a.is_ipv6() && a.is_loopback() => Err(SetupError::V6Loopback(*a)),
        Some(a) => Ok(Some(*a)),
        None => Err(SetupError::UnknownIface(spec.to_string(), family(group.ip()))),
    }
}

/// Why the network may never come for an IPv4 group: this host has IPv6 addresses only (on
/// anything but loopback). Says what to use instead.
pub fn family_hint(group: SocketAddr) -> Option<String> {
    if !group.is_ipv4() {
        return None;
    }
    let addrs = if_addrs::get_if_addrs().ok()?;
    let v4 = addrs.iter().any(|i| !i.is_loopback() && i.ip().is_ipv4());
    let v6 = addrs.iter().any(|i| !i.is_loopback() && matches!(i.ip(), IpAddr::V6(a) if !a.is_unicast_link_local()));
    (!v4 && v6).then(|| {
        "this host has IPv6 addresses only: use an IPv6 group, --group '[ff15::37]:12345' on every member".to_string()
    })
}

/// The index of the interface holding `ip` (IPv6 joins and link-local addresses need it).
pub fn iface_index(ip: IpAddr) -> Option<u32> {
    if_addrs::get_if_addrs().ok()?.into_iter().find(|i| i.ip() == ip).and_then(|i| i.index)
}

/// Whether an IPv6 group is link-local in scope (`ff12::`, `ff02::`): it needs an interface.
pub fn link_local_group(group: SocketAddr) -> bool {
    matches!(group, SocketAddr::V6(g) if g.ip().segments()[0] & 0x000f == 2)
}

/// The group with the interface it is used on: an IPv6 group carries the interface's index
/// as its scope (where datagrams to it go out, and what link-local ring addresses mean).
pub fn scoped_group(group: SocketAddr, iface: Option<IpAddr>) -> SocketAddr {
    match group {
        SocketAddr::V6(g) => {
            let index = iface.and_then(iface_index).unwrap_or(0);
            SocketAddr::V6(SocketAddrV6::new(*g.ip(), g.port(), 0, index))
        }
        v4 @ SocketAddr::V4(_) => v4,
    }
}

/// `addr` without an IPv6 scope: a datagram's source as the node keeps it. Every peer of a
/// link-local group is on the group's one interface, so the scope says nothing, and an address
/// must compare equal however it was learnt (heard, or named in a peer's frame).
pub fn unscoped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) if a.scope_id() != 0 => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, 0)),
        other => other,
    }
}

/// `addr` with the group's interface as its scope, if it is a link-local IPv6 address that has
/// none (a ring neighbour's, learnt from its datagrams' source).
pub fn scoped(addr: SocketAddr, group: SocketAddr) -> SocketAddr {
    match (addr, group) {
        (SocketAddr::V6(a), SocketAddr::V6(g)) if a.ip().is_unicast_link_local() && a.scope_id() == 0 => {
            SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, g.scope_id()))
        }
        _ => addr,
    }
}

/// The source address a datagram to the (scoped) IPv6 group goes out from, sent on the
/// interface of `iface`: what peers see. (Connecting a UDP socket only consults the routing
/// table and the address selection; it sends nothing.)
pub fn source_for(group: SocketAddr, iface: Option<IpAddr>) -> Option<IpAddr> {
    let sock = Socket::new(domain(group), Type::DGRAM, Some(Protocol::UDP)).ok()?;
    if let (SocketAddr::V6(_), Some(index)) = (group, iface.and_then(iface_index)) {
        sock.set_multicast_if_v6(index).ok()?;
    }
    sock.connect(&group.into()).ok()?;
    sock.local_addr().ok()?.as_socket().map(|a| a.ip())
}

fn unspecified(group: SocketAddr) -> IpAddr {
    if group.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) }
}

/// The interface address the group is reached through, for display: the one given, or the one
/// the routing table picks. (Connecting a UDP socket only consults the routing table; it sends
/// nothing.)
pub fn iface_in_use(cfg: &NetConfig, iface: Option<IpAddr>) -> Option<IpAddr> {
    if iface.is_some() {
        return iface;
    }
    let local = std::net::UdpSocket::bind((unspecified(cfg.group), 0)).and_then(|s| {
        s.connect(cfg.group)?;
        s.local_addr()
    });
    local.ok().map(|a| a.ip())
}

/// The TCP listener for ring links, on the interface's address (any, if the routing table
/// chooses) and on `port` (0: one the system picks).
pub fn open_ring_listener(
    ip: Option<IpAddr>,
    port: u16,
    group: SocketAddr,
) -> Result<tokio::net::TcpListener, SetupError> {
    let addr = scoped(SocketAddr::new(ip.unwrap_or(unspecified(group)), port), group);
    let l = std::net::TcpListener::bind(addr).map_err(|source| SetupError::RingPort { addr, source })?;
    l.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(l)?)
}

fn iface_label(iface: Option<IpAddr>) -> String {
    iface.map_or_else(|| "the default route".to_string(), |a| a.to_string())
}

fn outgoing(sock: &Socket, cfg: &NetConfig, iface: Option<IpAddr>) -> io::Result<()> {
    match cfg.group {
        SocketAddr::V4(_) => {
            if let Some(IpAddr::V4(a)) = iface {
                sock.set_multicast_if_v4(&a)?;
            }
            sock.set_multicast_ttl_v4(cfg.ttl)?;
            // Several nodes on one host hear each other through loopback; each drops its own echo.
            sock.set_multicast_loop_v4(true)?;
        }
        SocketAddr::V6(_) => {
            if let Some(index) = iface.and_then(iface_index) {
                sock.set_multicast_if_v6(index)?;
            }
            sock.set_multicast_hops_v6(cfg.ttl)?;
            sock.set_multicast_loop_v6(true)?;
        }
    }
    sock.set_nonblocking(true)
}

fn domain(group: SocketAddr) -> Domain {
    if group.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 }
}

/// A socket that has joined the group and sends to it: what a node uses.
pub fn open_member(cfg: &NetConfig, iface: Option<IpAddr>) -> Result<tokio::net::UdpSocket, SetupError> {
    if iface.is_none() && link_local_group(cfg.group) {
        return Err(SetupError::NeedsIface(cfg.group));
    }
    let sock = Socket::new(domain(cfg.group), Type::DGRAM, Some(Protocol::UDP))?;
    if cfg.group.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    // Several nodes (and old C servers) on one host share the group's port.
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    // Bound to the group address, the socket hears this group only, not others on the port.
    // (A link-local IPv6 group is bound on its interface: the scope says which.)
    let bind = scoped_group(cfg.group, iface);
    let join_error = |source| SetupError::Join { group: cfg.group, iface: iface_label(iface), source };
    sock.bind(&bind.into()).map_err(|source: io::Error| {
        if link_local_group(cfg.group) { join_error(source) } else { SetupError::Bind { group: cfg.group, source } }
    })?;
    match (cfg.group, iface) {
        (SocketAddr::V4(g), iface) => {
            let join_on = match iface {
                Some(IpAddr::V4(a)) => a,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            sock.join_multicast_v4(g.ip(), &join_on).map_err(join_error)?;
        }
        (SocketAddr::V6(g), iface) => {
            let index = iface.and_then(iface_index).unwrap_or(0);
            sock.join_multicast_v6(g.ip(), index).map_err(join_error)?;
        }
    }
    outgoing(&sock, cfg, iface)?;
    // Room for bursts while the task is busy; the kernel caps it at net.core.rmem_max.
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
    Ok(tokio::net::UdpSocket::from_std(sock.into())?)
}

/// A socket that only sends to the group: what `groupcast send` uses.
pub fn open_sender(cfg: &NetConfig, iface: Option<IpAddr>) -> Result<tokio::net::UdpSocket, SetupError> {
    if iface.is_none() && link_local_group(cfg.group) {
        return Err(SetupError::NeedsIface(cfg.group));
    }
    let sock = Socket::new(domain(cfg.group), Type::DGRAM, Some(Protocol::UDP))?;
    let any = SocketAddr::new(unspecified(cfg.group), 0);
    sock.bind(&any.into()).map_err(|source| SetupError::Bind { group: cfg.group, source })?;
    outgoing(&sock, cfg, iface)?;
    Ok(tokio::net::UdpSocket::from_std(sock.into())?)
}

/// Sending failed in a way that means the group cannot be reached from here at all.
pub fn unreachable_hint(e: &io::Error, iface: Option<IpAddr>, group: SocketAddr) -> Option<String> {
    const ENODEV: i32 = 19;
    const ENETUNREACH: i32 = 101;
    match e.raw_os_error() {
        Some(ENODEV | ENETUNREACH) => Some(match family_hint(group) {
            Some(hint) => format!("cannot send to the group via {}: {e}; {hint}", iface_label(iface)),
            None => format!(
                "cannot send to the group via {}: {e}. Pick an interface with --iface (for example --iface {})",
                iface_label(iface),
                if group.is_ipv4() { "127.0.0.1" } else { "eth0" }
            ),
        }),
        _ => None,
    }
}
