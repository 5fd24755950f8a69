//! The sites rig (`scripts/sites-rig.sh`) that the tests of sites joined over the WAN share: two
//! LANs and a pod behind NAT routers, a hub on the WAN. Built and checked here, as those tests
//! take it: what crosses (each LAN's multicast, every host's connections out to the hub) and what
//! does not (multicast beyond a LAN, or from the pod; a connection in to a host behind NAT).

mod support;

use std::process::Command;

use support::lan::skipped;

fn rig(args: &[&str]) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sites-rig.sh");
    Command::new(script).args(args).output().expect("run scripts/sites-rig.sh")
}

/// Removes the rig however the test ends.
struct Rig(String);

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = rig(&["down", &self.0]);
    }
}

#[test]
fn the_sites_rig_lets_through_what_a_nat_lets_through_and_no_multicast() {
    let prefix = format!("gcs{}", std::process::id());
    let up = rig(&["up", &prefix]);
    if !up.status.success() {
        let why = String::from_utf8_lossy(&up.stderr).trim().to_string();
        assert!(std::env::var("GROUPCAST_REQUIRE_NETNS").as_deref() != Ok("1"), "cannot build the sites rig: {why}");
        skipped(&format!("cannot build the sites rig ({why}); needs root, iproute2, nft and python3"));
        return;
    }
    let _rig = Rig(prefix.clone());
    let out = rig(&["check", &prefix]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        "a1 reaches the hub",
        "the hub sees a1 as ra's WAN address (NAT)",
        "the pod reaches the hub",
        "the hub cannot open a connection to a1",
        "a1 cannot open a connection to b1",
        "multicast from a1 reaches a3",
        "multicast from a1 does not reach b1",
        "multicast from a1 does not reach the hub",
        "the pod sends no multicast",
    ] {
        assert!(lines.contains(&format!("ok: {want}").as_str()), "{want}:\n{text}");
    }
    assert!(out.status.success() && !text.contains("FAILED"), "{text}");
    let hosts = rig(&["hosts", &prefix]);
    let hosts = String::from_utf8_lossy(&hosts.stdout);
    assert_eq!(hosts.lines().count(), 8, "three hosts a site, the pod, the hub:\n{hosts}");
    assert!(hosts.contains(&format!("{prefix}-hub 198.51.100.10")), "{hosts}");
}
