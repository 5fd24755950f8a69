//! A LAN of network namespaces for black-box tests of the real binary: one namespace holds a
//! bridge, each host namespace has a veth `eth0` on it with 10.231.0.N/24 and a default route.
//! Nothing here touches a real interface. Names are unique per test, but the LANs of one test
//! binary take turns: a node is declared down when it goes silent for 0.8 s, and a dozen nodes
//! of several tests starving each other of two cores (in a debug build) would be exactly that.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Held by the LAN in use; the next test's LAN waits for it.
static TURN: Mutex<()> = Mutex::new(());

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_groupcast");

/// Says on the terminal, past the test harness's capture (which takes only `eprintln!` and
/// friends), that a test did not run, so a skip never passes for a pass.
pub(crate) fn skipped(why: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

pub(crate) struct Lan {
    prefix: String,
    pub hosts: Vec<Host>,
    /// This LAN's turn; released when it is dropped (a failed test's too).
    _turn: MutexGuard<'static, ()>,
}

#[derive(Clone)]
pub(crate) struct Host {
    pub ns: String,
    pub ip: String,
}

impl Lan {
    /// A LAN of `n` hosts, or `None` (with the reason printed) where namespaces cannot be made.
    /// With `GROUPCAST_REQUIRE_NETNS=1` a LAN that cannot be made fails the test instead.
    pub(crate) fn new(n: usize) -> Option<Lan> {
        match Lan::try_new(n) {
            Ok(lan) => Some(lan),
            Err(why) => {
                assert!(
                    std::env::var("GROUPCAST_REQUIRE_NETNS").as_deref() != Ok("1"),
                    "cannot build a namespaced LAN: {why}"
                );
                skipped(&format!("cannot build a namespaced LAN ({why}); needs root and iproute2"));
                None
            }
        }
    }

    fn try_new(n: usize) -> Result<Lan, String> {
        let turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let prefix = format!("gc{}x{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut lan = Lan { prefix: prefix.clone(), hosts: Vec::new(), _turn: turn };
        let br = format!("{prefix}-br");
        ip(&["netns", "add", &br])?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        for i in 1..=n {
            lan.add_host(i)?;
        }
        Ok(lan)
    }

    fn add_host(&mut self, i: usize) -> Result<(), String> {
        let br = format!("{}-br", self.prefix);
        let ns = format!("{}-h{i}", self.prefix);
        let addr = format!("10.231.0.{i}");
        ip(&["netns", "add", &ns])?;
        self.hosts.push(Host { ns: ns.clone(), ip: addr.clone() });
        let port = format!("v{i}");
        ip(&["-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
        ip(&["-n", &br, "link", "set", &port, "master", "br0", "up"])?;
        ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "route", "add", "default", "dev", "eth0"])?;
        Ok(())
    }

    pub(crate) fn host(&self, i: usize) -> &Host {
        &self.hosts[i - 1]
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in &self.hosts {
            // Anything still running in the host dies with it.
            let _ = Command::new("ip").args(["netns", "pids", &h.ns]).output().map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            });
            let _ = ip(&["netns", "del", &h.ns]);
        }
        let _ = ip(&["netns", "del", &format!("{}-br", self.prefix)]);
    }
}

impl Host {
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, BIN]).args(args);
        c
    }

    /// Runs the binary to completion in this host.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().expect("run groupcast")
    }

    /// Runs any program in this host.
    pub(crate) fn exec(&self, prog: &str, args: &[&str]) -> Output {
        Command::new("ip").args(["netns", "exec", &self.ns, prog]).args(args).output().expect("run in namespace")
    }

    /// Drops `pct`% of incoming UDP datagrams in this host (nftables; netem is not needed).
    pub(crate) fn udp_loss(&self, pct: u32) {
        let rule = format!("add rule inet loss in meta l4proto udp numgen random mod 100 lt {pct} drop");
        for cmd in [
            "add table inet loss",
            "add chain inet loss in { type filter hook input priority 0; policy accept; }",
            rule.as_str(),
        ] {
            let out = self.exec("nft", &[cmd]);
            assert!(out.status.success(), "nft {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Runs nft commands in this host, each as one argument (`add table inet t`, ...).
    pub(crate) fn nft(&self, cmds: &[&str]) {
        for cmd in cmds {
            let out = self.exec("nft", &[cmd]);
            assert!(out.status.success(), "nft {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Adds table `table` with an output-hook chain `out` holding `rule` (nftables syntax, e.g.
    /// `meta l4proto tcp counter drop`): what this host sends is filtered until the table is
    /// deleted with `nft_delete_table`.
    pub(crate) fn drop_output(&self, table: &str, rule: &str) {
        self.nft(&[
            &format!("add table inet {table}"),
            &format!("add chain inet {table} out {{ type filter hook output priority 0; policy accept; }}"),
            &format!("add rule inet {table} out {rule}"),
        ]);
    }

    pub(crate) fn nft_delete_table(&self, table: &str) {
        self.nft(&[&format!("delete table inet {table}")]);
    }

    /// Packets counted by the `counter` statements of `table`.
    pub(crate) fn nft_packets(&self, table: &str) -> u64 {
        let out = self.exec("nft", &["list", "table", "inet", table]);
        assert!(out.status.success(), "nft list: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        words.windows(2).filter(|w| w[0] == "packets").filter_map(|w| w[1].parse::<u64>().ok()).sum()
    }

    /// Bytes this host has sent on its LAN interface (`eth0`), by the kernel's count.
    pub(crate) fn tx_bytes(&self) -> u64 {
        let out = self.exec("ip", &["-s", "-j", "link", "show", "eth0"]);
        assert!(out.status.success(), "ip -s -j link: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j prints JSON");
        v[0]["stats64"]["tx"]["bytes"].as_u64().unwrap_or_else(|| panic!("no tx bytes in {v}"))
    }

    /// Established TCP connections in this host.
    pub(crate) fn tcp_connections(&self) -> usize {
        let out = self.exec("ss", &["-Htn", "state", "established"]);
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
    }

    /// Takes the host off the LAN (`false`) or puts it back (`true`).
    pub(crate) fn set_link(&self, up: bool) {
        let out = self.exec("ip", &["link", "set", "eth0", if up { "up" } else { "down" }]);
        assert!(out.status.success());
        if up {
            let out = self.exec("ip", &["route", "replace", "default", "dev", "eth0"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Starts `groupcast node --json` with extra arguments.
    pub(crate) fn node(&self, name: &str, extra: &[&str]) -> NodeProc {
        self.node_env(name, extra, &[])
    }

    /// Starts `groupcast node --json` with extra arguments and extra environment for the binary
    /// alone (set through `env`, so `ip` itself runs untouched, e.g. by an `LD_PRELOAD`).
    pub(crate) fn node_env(&self, name: &str, extra: &[&str], env: &[(&str, &str)]) -> NodeProc {
        let mut p = self.spawn_node(name, extra, env);
        let ready = p.wait_for("ready", |v| v["event"] == "ready");
        assert_eq!(ready["name"], name);
        p
    }

    /// Starts `groupcast node --json` without waiting for it to join.
    pub(crate) fn spawn_node(&self, name: &str, extra: &[&str], env: &[(&str, &str)]) -> NodeProc {
        let mut args = vec!["node", "--json", "--name", name];
        args.extend_from_slice(extra);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "env"]);
        cmd.args(env.iter().map(|(k, v)| format!("{k}={v}")));
        cmd.arg(BIN).args(&args);
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        NodeProc { name: name.to_string(), child, stdin, rx, seen: Vec::new() }
    }
}

/// A running node and every JSON event it has printed.
pub(crate) struct NodeProc {
    pub name: String,
    pub child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    pub seen: Vec<Value>,
}

pub(crate) const WAIT: Duration = Duration::from_secs(10);

impl NodeProc {
    pub(crate) fn id(&self) -> String {
        self.seen.iter().find(|v| v["event"] == "ready").expect("ready")["node"].as_str().unwrap().to_string()
    }

    /// Takes in what the node printed so far without waiting.
    pub(crate) fn pump(&mut self) {
        while let Ok(v) = self.rx.try_recv() {
            self.seen.push(v);
        }
    }

    /// The first event (already seen or still to come within WAIT) that matches.
    pub(crate) fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(what, WAIT, pred)
    }

    pub(crate) fn wait_for_within(&mut self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.pump();
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no {what} within {limit:?}; saw:\n{}", self.name, self.dump())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited before {what}; saw:\n{}", self.name, self.dump())
                }
            }
        }
    }

    /// How many events have been seen so far: a mark for `next_after`.
    pub(crate) fn mark(&mut self) -> usize {
        self.pump();
        self.seen.len()
    }

    /// The first event printed at or after `mark` that matches, waiting up to `limit`; `None`
    /// (instead of a panic) if none came, so a test can gather more before it fails.
    pub(crate) fn next_after(&mut self, mark: usize, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let end = Instant::now() + limit;
        loop {
            self.pump();
            if let Some(v) = self.seen.iter().skip(mark).find(|v| pred(v)) {
                return Some(v.clone());
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.rx.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(v) => self.seen.push(v),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Events seen so far of one kind (`"message"`, `"peer_down"`...).
    pub(crate) fn events(&mut self, kind: &str) -> Vec<Value> {
        self.pump();
        self.seen.iter().filter(|v| v["event"] == kind).cloned().collect()
    }

    /// Writes many lines to stdin at once, as a fast producer would.
    pub(crate) fn say_many(&mut self, lines: &[String]) {
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.push_str(l);
            buf.push('\n');
        }
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(buf.as_bytes()).expect("write to node");
        stdin.flush().expect("flush");
    }

    /// The process id (`ip netns exec` and `env` exec the binary, so it is the node's own).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn dump(&self) -> String {
        self.seen.iter().map(std::string::ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    pub(crate) fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to node");
        stdin.flush().expect("flush");
    }

    /// Asks for `/state` and returns the state event that answers.
    pub(crate) fn state(&mut self) -> Value {
        let before = self.seen.iter().filter(|v| v["event"] == "state").count();
        self.say("/state");
        let end = Instant::now() + WAIT;
        loop {
            self.pump();
            if let Some(v) = self.seen.iter().filter(|v| v["event"] == "state").nth(before) {
                return v.clone();
            }
            assert!(Instant::now() < end, "{}: no state answer", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/state` until `pred` holds (or WAIT passes), and returns the last state.
    pub(crate) fn state_until(&mut self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + limit;
        loop {
            let s = self.state();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "{}: state never showed {what}; last: {s}", self.name);
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("kill").success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.pump();
                return status.code();
            }
            assert!(Instant::now() < end, "{}: still running after {limit:?}", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
