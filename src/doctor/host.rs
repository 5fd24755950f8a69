//! What the host itself says, read from /proc, /sys and `nft`: its interfaces and their flags,
//! the default routes, the reverse-path filter, signs of a container or WSL, and a firewall rule
//! that drops the group's port. Linux; elsewhere each reads as unknown.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use super::Iface;

/// The host's interfaces, from the address list and each interface's flags in /sys.
pub(super) fn interfaces() -> Vec<Iface> {
    let mut by_name: BTreeMap<String, Iface> = BTreeMap::new();
    for a in if_addrs::get_if_addrs().unwrap_or_default() {
        let i = by_name.entry(a.name.clone()).or_insert_with(|| {
            let flags = sys_flags(&a.name);
            // Up means up with a carrier (a cable in, Wi-Fi associated): the flag alone says
            // only that it was switched on.
            let oper = std::fs::read_to_string(format!("/sys/class/net/{}/operstate", a.name)).unwrap_or_default();
            let carrier = !matches!(oper.trim(), "down" | "lowerlayerdown" | "notpresent");
            Iface {
                name: a.name.clone(),
                ipv4: Vec::new(),
                ipv6: false,
                ipv6_addrs: Vec::new(),
                up: flags.is_none_or(|f| f & IFF_UP != 0) && carrier,
                multicast: flags.is_none_or(|f| f & IFF_MULTICAST != 0),
                loopback: a.is_loopback(),
            }
        });
        match a.ip() {
            IpAddr::V4(v4) => i.ipv4.push(v4),
            IpAddr::V6(v6) => {
                i.ipv6 |= !v6.is_loopback() && !v6.is_unicast_link_local();
                i.ipv6_addrs.push(v6);
            }
        }
    }
    for i in by_name.values_mut() {
        i.ipv6_addrs.sort_by_key(Ipv6Addr::is_unicast_link_local);
    }
    by_name.into_values().collect()
}

const IFF_UP: u32 = 0x1;
const IFF_MULTICAST: u32 = 0x1000;

/// An interface's flags (Linux), if readable.
pub(super) fn sys_flags(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/flags")).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The interface of the IPv4 default route (Linux), if there is one.
pub(super) fn default_route() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    })
}

/// The interface of the IPv6 default route, if there is one (`/proc/net/ipv6_route`: a
/// destination of all zeros with prefix length 0).
pub(super) fn default_route_v6() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/ipv6_route").ok()?;
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() == 10 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo").then(|| f[9].to_string())
    })
}

/// The strictest reverse-path filter setting for `iface` (0 off, 1 strict, 2 loose).
pub(super) fn rp_filter(iface: &str) -> Option<u8> {
    let read = |p: String| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u8>().ok());
    let all = read("/proc/sys/net/ipv4/conf/all/rp_filter".into());
    let one = read(format!("/proc/sys/net/ipv4/conf/{iface}/rp_filter"));
    all.max(one)
}

/// Signs that this host is a container or WSL, where the LAN's multicast often does not arrive.
pub(super) fn container_sign() -> Option<(&'static str, &'static str)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().to_lowercase();
    if release.contains("microsoft") || release.contains("wsl") {
        return Some((
            "this is WSL: WSL 2's own network (NAT) passes no multicast to the LAN",
            "set networkingMode=mirrored in %UserProfile%\\.wslconfig, or run groupcast on Windows' side of the LAN",
        ));
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    if std::path::Path::new("/.dockerenv").exists() || cgroup.contains("docker") || cgroup.contains("kubepods") {
        return Some((
            "this is a container: its own network usually passes no multicast to the LAN",
            "run the container with --network host",
        ));
    }
    None
}

/// A firewall rule here that seems to drop the group's port or all input, with the family,
/// table and chain it is in, if one can be read (`nft list ruleset` needs root; without it
/// nothing is said).
pub(super) fn firewall_drops(port: u16) -> Option<(String, String)> {
    let out = std::process::Command::new("nft").args(["list", "ruleset"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let port = port.to_string();
    let (mut table, mut chain) = (String::new(), String::new());
    for l in text.lines().map(str::trim) {
        if let Some(t) = l.strip_prefix("table ") {
            table = t.trim_end_matches('{').trim().to_string(); // "inet fw"
        } else if let Some(c) = l.strip_prefix("chain ") {
            chain = c.trim_end_matches('{').trim().to_string();
        } else if (l.contains("drop") || l.contains("reject"))
            && (l.contains(&port) || (l.contains("udp") && !l.contains("dport")) || l.contains("policy drop"))
        {
            return Some((l.to_string(), format!("{table} {chain}")));
        }
    }
    None
}
