//! `groupcast doctor`: why no peer appears. It looks at the interfaces and routes, joins the
//! group as a node for a few seconds, and says what it heard: itself (the group's datagrams
//! reach this host), peers (with loss, and whether their ring ports answer), old clients'
//! bare text. Each problem comes with a one-line fix. Exit 0 only when the group works on the
//! chosen interface.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::net::{NetConfig, NetEvent, socket, start_node};
use crate::proto::{self, Command, DropReason, Event, Snapshot, Status};

mod host;

use host::{container_sign, default_route, default_route_v6, firewall_drops, interfaces, rp_filter};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Works.
    Ok,
    /// Worth knowing; the group may still work.
    Warn,
    /// The group cannot work like this.
    Fail,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub status: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about it, if anything.
    pub fix: Option<String>,
}

/// An interface as the doctor lists it.
#[derive(Clone, Debug, Serialize)]
#[allow(clippy::struct_excessive_bools)] // independent flags of one interface, as `ip link` shows them
pub struct Iface {
    /// Its name (eth0).
    pub name: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// Whether it has IPv6 addresses.
    pub ipv6: bool,
    /// Its IPv6 addresses (global and unique-local first, link-local last).
    pub ipv6_addrs: Vec<Ipv6Addr>,
    /// Up, with a carrier.
    pub up: bool,
    /// It can carry multicast.
    pub multicast: bool,
    /// The loopback interface.
    pub loopback: bool,
}

/// A peer heard while listening.
#[derive(Clone, Debug, Serialize)]
pub struct PeerFound {
    /// Its name.
    pub name: String,
    /// Where its datagrams come from.
    pub addr: SocketAddr,
    /// Alive, suspect, down or left, at the end.
    pub status: String,
    /// Fraction of its frames lost while listening.
    pub loss: f64,
    /// Its ring port, and whether a TCP connection to it was accepted.
    pub ring_port: u16,
    /// `ok`, `refused`, `no answer`, or `not in the ring`.
    pub ring: String,
}

impl Iface {
    /// Its addresses of the group's family (IPv4 or IPv6).
    pub fn addrs_for(&self, group: SocketAddr) -> Vec<IpAddr> {
        if group.is_ipv4() {
            self.ipv4.iter().map(|a| IpAddr::V4(*a)).collect()
        } else {
            self.ipv6_addrs.iter().map(|a| IpAddr::V6(*a)).collect()
        }
    }
}

/// Everything the doctor found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The group.
    pub group: String,
    /// The interface address used, if one could be chosen.
    pub iface: Option<IpAddr>,
    /// Whether the group works on it.
    pub ok: bool,
    /// The interfaces of this host.
    pub interfaces: Vec<Iface>,
    /// Each finding, in order.
    pub checks: Vec<Check>,
    /// Peers heard.
    pub peers: Vec<PeerFound>,
    /// Old clients (bare text) heard: address and lines.
    pub bare_senders: BTreeMap<String, u64>,
}

impl Report {
    fn add(&mut self, check: &'static str, status: Verdict, detail: impl Into<String>, fix: Option<String>) {
        self.checks.push(Check { check, status, detail: detail.into(), fix });
    }
}

/// Runs the checks and prints the report (JSON: one object). True if the group works here.
pub async fn run(netcfg: NetConfig, cfg: proto::Config, listen: Duration, json: bool) -> color_eyre::Result<bool> {
    let report = examine(&netcfg, cfg, listen).await;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(report.ok)
}

/// The checks themselves.
pub async fn examine(netcfg: &NetConfig, cfg: proto::Config, listen: Duration) -> Report {
    let interfaces = interfaces();
    let mut r = Report {
        group: netcfg.group.to_string(),
        iface: None,
        ok: false,
        interfaces: interfaces.clone(),
        checks: Vec::new(),
        peers: Vec::new(),
        bare_senders: BTreeMap::new(),
    };
    let group = netcfg.group;
    let v4 = group.is_ipv4();
    let given = netcfg.iface.is_some();
    let (lan, lan_hint) = lan_interfaces(&mut r, &interfaces, group, given);
    // Where the group's datagrams would go.
    let default_route = if v4 { default_route() } else { default_route_v6() };
    let iface = match socket::resolve_iface(netcfg.iface.as_deref(), group) {
        Ok(a) => socket::iface_in_use(netcfg, a),
        Err(e) => {
            r.add(
                "interface",
                Verdict::Fail,
                e.to_string(),
                Some("pass --iface with a name or address from `ip addr`".into()),
            );
            None
        }
    };
    // A route for the group through an interface without an address gives 0.0.0.0.
    let iface = iface.filter(|a| !a.is_unspecified());
    let chosen = iface.and_then(|a| interfaces.iter().find(|i| i.addrs_for(group).contains(&a)));
    match (iface, chosen) {
        (Some(a), Some(i)) => judge_iface(&mut r, a, i, given, &lan_hint),
        (Some(a), None) => r.add("interface", Verdict::Ok, format!("{a}"), None),
        (None, _) if r.checks.iter().any(|c| c.check == "interface") => {}
        (None, _) if socket::link_local_group(group) => r.add(
            "interface",
            Verdict::Fail,
            format!("the group {group} is link-local: it needs the link named"),
            Some(if lan.is_empty() {
                "pass --iface eth0 (the LAN interface)".into()
            } else {
                format!("pass --iface {lan_hint}")
            }),
        ),
        (None, _) if socket::family_hint(group).is_some() => {} // said under "interfaces"
        (None, _) => r.add(
            "interface",
            Verdict::Fail,
            format!("no route to {}: the system cannot pick an interface for the group", netcfg.group.ip()),
            Some(match (lan.is_empty(), v4) {
                (true, true) => {
                    "connect to a LAN, or pass --iface 127.0.0.1 to try groupcast on this host alone".into()
                }
                (true, false) => "connect to a LAN with IPv6".into(),
                (false, _) => format!("pass --iface {lan_hint}, or add a default route"),
            }),
        ),
    }
    r.iface = iface;
    // (On an IPv6-only host an IPv4 default route is beside the point: said under "interfaces".)
    host_checks(&mut r, netcfg, default_route.as_deref(), socket::family_hint(group).is_none());
    // (Reverse-path filtering is IPv4's.)
    let rp = chosen.filter(|_| v4).and_then(|i| rp_filter(&i.name));
    // Nothing can be heard if no interface is chosen: the join fails.
    if r.checks.iter().any(|c| c.status == Verdict::Fail) && iface.is_none() {
        return r;
    }
    // Its own ring port (a pinned one may be held by a node of this host), and a name that
    // says what it is in peers' screens.
    let netcfg = NetConfig {
        iface: iface.map(|a| a.to_string()).or_else(|| netcfg.iface.clone()),
        ring_port: 0,
        ..netcfg.clone()
    };
    let cfg = proto::Config { name: proto::Name::clip(&format!("{} (doctor)", cfg.name)), ..cfg };
    let mut node = match start_node(&netcfg, cfg) {
        Ok(n) => n,
        Err(e) => {
            r.add("join", Verdict::Fail, e.to_string(), Some("see the message; `ip -4 addr` lists interfaces".into()));
            return r;
        }
    };
    r.add("join", Verdict::Ok, format!("joined {} as a node for {:.1} s", netcfg.group, listen.as_secs_f64()), None);
    let bare = bare_text_heard(&mut node, listen).await;
    let snap = node.snapshot().await;
    let _ = node.command(Command::Leave).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), &mut node.task).await;
    let Some(snap) = snap else {
        r.add("join", Verdict::Fail, "the node stopped while listening", None);
        return r;
    };
    r.bare_senders = bare;
    hearing(&mut r, &snap, socket::scoped_group(netcfg.group, iface), rp).await;
    // A container whose network carries the group after all: nothing to fix there.
    if snap.peers.iter().any(|p| p.status.is_member()) {
        for c in r.checks.iter_mut().filter(|c| c.check == "host" && c.status == Verdict::Warn) {
            c.status = Verdict::Ok;
            c.detail = "a container, and its network carries the group's multicast: peers were heard".into();
            c.fix = None;
        }
    }
    r.ok = !r.checks.iter().any(|c| c.status == Verdict::Fail);
    r
}

/// The interfaces that can carry the group to a LAN, and a hint naming them for fixes; says
/// so, or what is missing.
fn lan_interfaces<'a>(
    r: &mut Report,
    interfaces: &'a [Iface],
    group: SocketAddr,
    given: bool,
) -> (Vec<&'a Iface>, String) {
    let v4 = group.is_ipv4();
    let lan: Vec<&Iface> =
        interfaces.iter().filter(|i| !i.loopback && i.up && i.multicast && !i.addrs_for(group).is_empty()).collect();
    let lan_hint =
        lan.iter().map(|i| format!("{} ({})", i.addrs_for(group)[0], i.name)).collect::<Vec<_>>().join(" or ");
    if lan.is_empty() {
        let v6_only = interfaces.iter().any(|i| !i.loopback && i.up && i.ipv6 && i.ipv4.is_empty());
        let (detail, fix) = if v4 && v6_only {
            (
                "this host's network has IPv6 addresses only, and the group is IPv4".to_string(),
                "use an IPv6 group: --group [ff15::37]:12345 (every member passes the same one)".to_string(),
            )
        } else {
            let family = if v4 { "IPv4" } else { "IPv6" };
            (
                format!("no interface besides loopback is up with an {family} address and multicast"),
                format!(
                    "connect to a LAN (cable or Wi-Fi) with {family}; to try groupcast on this host alone, pass --iface \
                     127.0.0.1{}",
                    if v4 { "" } else { " with the IPv4 group (loopback carries no IPv6 multicast)" }
                ),
            )
        };
        // Given an interface (loopback, to try it on one host), that is what counts below.
        r.add("interfaces", if given { Verdict::Warn } else { Verdict::Fail }, detail, Some(fix));
    } else {
        r.add("interfaces", Verdict::Ok, format!("can carry multicast: {lan_hint}"), None);
    }
    (lan, lan_hint)
}

/// The default route (if worth checking), the TTL, and signs of a container.
fn host_checks(r: &mut Report, netcfg: &NetConfig, default_route: Option<&str>, check_route: bool) {
    let given = netcfg.iface.is_some();
    match default_route {
        _ if !check_route => {}
        Some(dev) => r.add("default route", Verdict::Ok, format!("via {dev}"), None),
        None => r.add(
            "default route",
            Verdict::Warn,
            "none: without --iface groupcast cannot pick an interface",
            (!given).then(|| {
                let ip = if netcfg.group.is_ipv4() { "ip" } else { "ip -6" };
                format!("pass --iface, or add a default route ({ip} route add default dev eth0)")
            }),
        ),
    }
    if netcfg.ttl == 0 {
        r.add(
            "ttl",
            Verdict::Warn,
            "TTL 0: the group's datagrams never leave this host",
            Some("drop --ttl 0 (1 reaches the LAN)".into()),
        );
    } else {
        r.add("ttl", Verdict::Ok, format!("{} (1 stays on the LAN; more crosses that many routers)", netcfg.ttl), None);
    }
    if let Some(sign) = container_sign() {
        r.add("host", Verdict::Warn, sign.0, Some(sign.1.into()));
    }
}

/// Listens as a node for `listen`, counting old clients' lines by address.
async fn bare_text_heard(node: &mut crate::net::NodeHandle, listen: Duration) -> BTreeMap<String, u64> {
    let mut bare = BTreeMap::new();
    let end = tokio::time::Instant::now() + listen;
    // Only lines said while the doctor listens: the group's history (repaired to it as to any
    // newcomer) holds old clients' lines from long ago.
    let mut since: Option<crate::proto::Hlc> = None;
    loop {
        tokio::select! {
            ev = node.events.recv() => match ev {
                Some(NetEvent::GroupTime { time, .. }) if since.is_none() => {
                    since = Some(crate::proto::Hlc::from_unix(time.to_unix().saturating_sub(Duration::from_secs(1))));
                }
                Some(NetEvent::Core(Event::Message { entry, .. })) => {
                    if let Some(from) = entry.bare_from.filter(|_| since.is_none_or(|s| entry.ts >= s)) {
                        *bare.entry(from.to_string()).or_insert(0u64) += 1;
                    }
                }
                Some(_) => {}
                None => break,
            },
            () = tokio::time::sleep_until(end) => break,
        }
    }
    bare
}

/// Whether the interface chosen (given, or the route's) can carry the group to the LAN.
fn judge_iface(r: &mut Report, a: IpAddr, i: &Iface, given: bool, lan_hint: &str) {
    let why = if given { "given with --iface" } else { "the route to the group" };
    let vpn = ["tun", "tap", "wg", "ppp", "utun", "zt", "tailscale"].iter().any(|p| i.name.starts_with(p));
    if !i.up {
        r.add(
            "interface",
            Verdict::Fail,
            format!("{a} on {} ({why}) is down or has no carrier: a cable out, or Wi-Fi not connected", i.name),
            Some(format!("connect {} (ip link set {} up, if it is switched off)", i.name, i.name)),
        );
    } else if i.loopback {
        r.add(
            "interface",
            Verdict::Warn,
            format!("{a} on {} ({why}): only nodes on this host hear the group", i.name),
            (!lan_hint.is_empty()).then(|| format!("to reach the LAN pass --iface {lan_hint}")),
        );
    } else if vpn || !i.multicast {
        r.add(
            "interface",
            Verdict::Fail,
            format!(
                "{a} on {} ({why}) does not carry multicast to the LAN{}",
                i.name,
                if vpn { " (a VPN)" } else { "" }
            ),
            Some(format!(
                "pass --iface with a LAN interface{}",
                if lan_hint.is_empty() { String::new() } else { format!(": {lan_hint}") }
            )),
        );
    } else {
        r.add("interface", Verdict::Ok, format!("{a} on {} ({why})", i.name), None);
    }
}

/// What listening showed: ourselves, peers, their ring ports, old clients, drops.
async fn hearing(r: &mut Report, snap: &Snapshot, group: SocketAddr, rp_filter: Option<u8>) {
    let port = group.port();
    let heard_self = snap.stats.own_echoes > 0;
    let peers: Vec<_> = snap.peers.iter().filter(|p| p.status != Status::Left).collect();
    if heard_self {
        r.add("hears itself", Verdict::Ok, format!("{} of its own datagrams came back", snap.stats.own_echoes), None);
    } else {
        let rule = firewall_drops(port);
        let detail = format!(
            "none of its own datagrams came back: something on this host drops the group's traffic{}",
            rule.as_ref().map_or_else(String::new, |(l, at)| format!(" (firewall rule in {at}: {l})"))
        );
        let chain = rule.map_or_else(|| "inet filter input".to_string(), |(_, at)| at);
        r.add(
            "hears itself",
            Verdict::Fail,
            detail,
            Some(format!(
                "let UDP port {port} in: nft insert rule {chain} udp dport {port} accept (or: ufw allow {port}/udp)"
            )),
        );
    }
    for p in &peers {
        let ring = if p.tcp_port == 0 {
            "not in the ring".to_string()
        } else {
            // (A link-local peer is reached over the group's interface.)
            let to = socket::scoped(SocketAddr::new(p.addr.ip(), p.tcp_port), group);
            match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(to)).await {
                Ok(Ok(_)) => "ok".to_string(),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused".to_string(),
                _ => "no answer".to_string(),
            }
        };
        r.peers.push(PeerFound {
            name: p.name.clone(),
            addr: p.addr,
            status: p.status.as_str().to_string(),
            loss: p.loss,
            ring_port: p.tcp_port,
            ring,
        });
    }
    if peers.is_empty() {
        nobody_heard(r, snap, heard_self, rp_filter);
    } else {
        let here: Vec<IpAddr> = r
            .interfaces
            .iter()
            .flat_map(|i| i.ipv4.iter().map(|a| IpAddr::V4(*a)).chain(i.ipv6_addrs.iter().map(|a| IpAddr::V6(*a))))
            .collect();
        key_checks(r, snap, r.peers.iter().any(|p| !here.contains(&p.addr.ip())));
        let names: Vec<String> =
            r.peers.iter().map(|p| format!("{} {} (loss {:.0}%)", p.name, p.addr.ip(), p.loss * 100.0)).collect();
        if r.peers.iter().all(|p| here.contains(&p.addr.ip())) {
            r.add(
                "peers",
                Verdict::Warn,
                format!("only nodes on this host: {}; none from another host was heard", names.join(", ")),
                Some("run groupcast doctor on another host too; both must list each other".into()),
            );
        } else {
            r.add("peers", Verdict::Ok, names.join(", "), None);
        }
        let closed: Vec<String> = r
            .peers
            .iter()
            .filter(|p| p.ring == "refused" || p.ring == "no answer")
            .map(|p| format!("{} ({})", p.name, p.ring))
            .collect();
        if closed.is_empty() {
            r.add("ring", Verdict::Ok, "every peer's ring port answers", None);
        } else {
            r.add(
                "ring",
                Verdict::Warn,
                format!(
                    "ring port closed on {}: the group works, but repair and fast failure detection need it",
                    closed.join(", ")
                ),
                Some("open the TCP ring port on those hosts (pin it with --ring-port N)".into()),
            );
        }
    }
    if !r.bare_senders.is_empty() {
        let who: Vec<String> =
            r.bare_senders.iter().map(|(a, n)| format!("{a} ({n} line{})", if *n == 1 { "" } else { "s" })).collect();
        r.add("old clients", Verdict::Ok, format!("bare text from {}", who.join(", ")), None);
    }
}

/// Datagrams of a group this node cannot read: a keyed group here without our key, or ours
/// keyed differently (a failure when nobody else was heard; noise beside a working group).
fn key_checks(r: &mut Report, snap: &Snapshot, heard_peers: bool) {
    let dropped = |why: DropReason| snap.stats.dropped.get(&why).copied().unwrap_or(0);
    let verdict = if heard_peers { Verdict::Warn } else { Verdict::Fail };
    let (keyed_here, bad_key, open) =
        (dropped(DropReason::Sealed), dropped(DropReason::BadKey), dropped(DropReason::Unsealed));
    if keyed_here > 0 {
        r.add(
            "key",
            verdict,
            format!("{keyed_here} datagrams sealed with a group key: a keyed group is here, and this node has no key"),
            Some("ask its members for the key file and pass --key-file PATH (and --label if they use one)".into()),
        );
    } else if bad_key > 0 {
        r.add(
            "key",
            verdict,
            format!("{bad_key} datagrams sealed with another key or label: a group keyed differently"),
            Some("use the same --key-file (and --label) as the others".into()),
        );
    }
    if open > 0 {
        r.add(
            "key",
            Verdict::Warn,
            format!("{open} datagrams without a seal: open nodes on this group, which cannot talk with a keyed one"),
            None,
        );
    }
}

/// No peer was heard: why that may be.
fn nobody_heard(r: &mut Report, snap: &Snapshot, heard_self: bool, rp_filter: Option<u8>) {
    let dropped = |why: DropReason| snap.stats.dropped.get(&why).copied().unwrap_or(0);
    let sealed = dropped(DropReason::Sealed) + dropped(DropReason::BadKey);
    key_checks(r, snap, false);
    // A peer that dialled our ring port heard our heartbeats (the link is refused while we
    // have not heard it, and counted).
    let ring_up = !snap.links.is_empty() || dropped(DropReason::LinkNotNeighbour) > 0;
    if ring_up {
        // They heard us (our multicast goes out) and dialled our ring port.
        let (where_, fix) = if heard_self {
            ("on the way here", "check the switch's IGMP snooping (it needs a querier) and Wi-Fi client isolation")
        } else {
            ("on this host", "let the group's UDP port in (see above)")
        };
        r.add(
            "peers",
            Verdict::Fail,
            format!("peers link to this node over TCP, but none of their multicast arrives: inbound multicast is blocked {where_}"),
            Some(fix.into()),
        );
    } else if sealed > 0 {
        // Said under "key" (see `key_checks`).
    } else {
        let mut causes = String::from(
            "no other groupcast node heard. Likely: no one else runs it on this group; Wi-Fi client isolation; \
             a switch's IGMP snooping without a querier; a firewall on the other hosts; another --group or port",
        );
        if rp_filter == Some(1) {
            causes.push_str("; strict reverse-path filtering (rp_filter=1) drops senders from other subnets");
        }
        r.add(
            "peers",
            Verdict::Warn,
            causes,
            Some("run groupcast doctor on another host too; both must list each other".into()),
        );
    }
}

/// The report as people read it.
pub fn human(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "groupcast doctor: group {}", r.group);
    let _ = writeln!(s, "interfaces:");
    for i in &r.interfaces {
        let addrs: Vec<String> =
            i.ipv4.iter().map(ToString::to_string).chain(i.ipv6_addrs.iter().map(ToString::to_string)).collect();
        let flags =
            [(i.up, "up"), (!i.up, "down"), (i.multicast, "multicast"), (i.loopback, "loopback"), (i.ipv6, "ipv6")]
                .iter()
                .filter(|f| f.0)
                .map(|f| f.1)
                .collect::<Vec<_>>()
                .join(", ");
        let chosen = r.iface.is_some_and(|a| match a {
            IpAddr::V4(a) => i.ipv4.contains(&a),
            IpAddr::V6(a) => i.ipv6_addrs.contains(&a),
        });
        let mark = if chosen { "  <- chosen" } else { "" };
        let addrs = if addrs.is_empty() { "no address".to_string() } else { addrs.join(" ") };
        let _ = writeln!(s, "  {:<12} {addrs} ({flags}){mark}", i.name);
    }
    for c in &r.checks {
        let mark = match c.status {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        let _ = writeln!(s, "{mark} {:<14} {}", c.check, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(s, "     {:<14} fix: {fix}", "");
        }
    }
    for p in &r.peers {
        let _ = writeln!(
            s,
            "peer {} at {} ({}, loss {:.0}%), ring port {}: {}",
            p.name,
            p.addr,
            p.status,
            p.loss * 100.0,
            p.ring_port,
            p.ring
        );
    }
    let _ = writeln!(
        s,
        "{}",
        if r.ok { "the group works on this interface" } else { "the group does not work here yet: see FAIL above" }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<Check>) -> Report {
        Report {
            group: "225.0.0.37:12345".into(),
            iface: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
            ok: false,
            interfaces: vec![Iface {
                name: "eth0".into(),
                ipv4: vec![Ipv4Addr::new(10, 0, 0, 2)],
                ipv6: false,
                ipv6_addrs: Vec::new(),
                up: true,
                multicast: true,
                loopback: false,
            }],
            checks,
            peers: Vec::new(),
            bare_senders: BTreeMap::new(),
        }
    }

    #[test]
    fn the_report_marks_the_chosen_interface_and_gives_each_failure_its_fix() {
        let r = report(vec![Check {
            check: "hears itself",
            status: Verdict::Fail,
            detail: "none came back".into(),
            fix: Some("let UDP port 12345 in".into()),
        }]);
        let text = human(&r);
        assert!(text.contains("eth0         10.0.0.2 (up, multicast)  <- chosen"), "{text}");
        assert!(text.contains("FAIL hears itself   none came back"), "{text}");
        assert!(text.contains("fix: let UDP port 12345 in"), "{text}");
        assert!(text.ends_with("the group does not work here yet: see FAIL above\n"), "{text}");
    }
}
