#!/usr/bin/env python3
"""The measurements of scripts/bench.sh (issue 10): groupcast against a raw-socket baseline on a
namespaced LAN, raw and groupcast runs interleaved, and the table of figures with their targets.

bench.sh builds the binaries and the LAN (namespaces PREFIX-h1 .. PREFIX-hN, each with eth0 at
10.234.0.I/24 on a bridge in PREFIX-br) and then runs this script as root. Everything that touches
the network is started with `ip netns exec` in one of those hosts; this script itself sends nothing.

How each figure is taken (all stamps are CLOCK_MONOTONIC, which every namespace shares):

* Latency: `driver pace` writes lines "L SEQ NS" into the sending node's stdin at 200/s; each
  receiving node's stdout goes through `driver stamp`, which stamps every line as it is read. The
  latency of a message is the receiver's stamp minus NS. The raw baseline stamps in the datagram
  and at the return of recv(). A second raw figure puts the raw pair between the same pipes:
  `raw line-send` reads the pacer's lines from stdin and sends each as it is read, `raw line-recv`
  writes each datagram to stdout as a line, stamped by `driver stamp` (the original C client and
  server's shape). Both leave out the first 10 messages and combine the two receivers
  the same way: p50 is the mean of their medians, p99 the larger of their 99th percentiles.
* Zero-loss ingest: 2 s of traffic at a rate R from h1 to h2 and h3; R passes if the sender kept
  up (achieved >= 95% of R) and every message reached both receivers within 2 s of the last send.
  The highest passing R is found by bisection on a log scale (within 10%); later rounds search
  between half and twice the previous round's figure. Groupcast nodes are started afresh for
  every probe. Hosts h4 and h5 are unplugged from the bridge for the three-host figures.
* CPU at 1,000 msg/s: the receivers' CPU time over 10 s of traffic, as % of one core (the mean of
  the two receivers). A second raw figure is the raw pair between the same pipes (see latency):
  its receiver also writes each datagram to its stdout, as a node writes each message. CPU time is the sum over threads of /proc/PID/task/*/schedstat (ns) when no
  thread came or went in the window, otherwise utime+stime from /proc/PID/stat (10 ms ticks).
* Idle: five nodes, nothing said; CPU % and wake-ups per second (voluntary + involuntary context
  switches summed over /proc/PID/task/*/status) of each over 20 s; the median node is reported.
* Frozen / cut / killed / terminated host: SIGSTOP a node, `ip link set eth0 down` in its host,
  SIGKILL or SIGTERM it; the time until every other node has printed peer_down for it. Then the
  host is brought back with a fresh node.
* False downs at 20% loss: every host drops 20% of incoming UDP (nftables) for 20 s; every
  peer_down printed in that window is a false one. Then a node is frozen under that loss.
* Freezes in a large group (`--only freeze --hosts N`, N up to 250): a node on every host; once
  every node lists every other and 25 s more have let the paced heartbeats settle, a node is
  frozen (SIGSTOP) and the time until every other node has printed peer_down for it is taken;
  then it is thawed (SIGCONT) and waited for until every node lists it again. Four freezes: the
  node at a third of the way round twice, then the middle one, then the last. The figure is the
  slowest of the four; every peer_suspect or peer_down printed about a node that was never
  frozen, from the start of the first freeze to the end, is a false suspicion.
* Settled: 20 messages at 200/s into h1; the time from the last line written to h1's stdin until
  every node has printed `settled` marks covering them (the sum of the `count` of its settled
  events reaches the number of messages sent, or an `upto` later than the last message's stamp).
  Repeated with 30% of incoming UDP dropped on every host.
"""

import argparse
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time

# ---- processes --------------------------------------------------------------------------------

CHILDREN = []  # everything started, killed on the way out whatever happens


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    CHILDREN.append(p)
    return p


def kill_all():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            pass
    CHILDREN.clear()


def mono_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, the clock of the C helpers' stamps


def run(argv, check=True):
    out = subprocess.run(argv, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {out.stderr.strip()}")
    return out


# ---- the LAN ----------------------------------------------------------------------------------


class Host:
    def __init__(self, prefix, i):
        self.prefix = prefix
        self.ns = f"{prefix}-h{i}"
        self.ip = f"10.234.0.{i}"
        self.i = i

    def cmd(self, argv):
        """argv run inside this host's namespace."""
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def link(self, up):
        run(["ip", "-n", self.ns, "link", "set", "eth0", "up" if up else "down"])
        if up:
            run(["ip", "-n", self.ns, "route", "replace", "default", "dev", "eth0"])

    def attach(self, up):
        """Plugs this host into the bridge or unplugs it (its port on the bridge up or down)."""
        run(["ip", "-n", self.prefix + "-br", "link", "set", f"v{self.i}", "up" if up else "down"])

    def udp_loss(self, pct):
        """Drops pct% of incoming UDP datagrams in this host (table gcbloss); 0 removes the rule."""
        run(["ip", "netns", "exec", self.ns, "nft", "delete table inet gcbloss"], check=False)
        if pct > 0:
            for c in [
                "add table inet gcbloss",
                "add chain inet gcbloss in { type filter hook input priority 0; policy accept; }",
                f"add rule inet gcbloss in meta l4proto udp numgen random mod 100 lt {pct} drop",
            ]:
                run(["ip", "netns", "exec", self.ns, "nft", c])


def check_lan(prefix, n):
    """Refuses to go on unless every host is a namespace of bench.sh's LAN: only lo and eth0,
    eth0 a veth with the expected address. Nothing is ever started outside these namespaces."""
    names = run(["ip", "netns", "list"]).stdout.split()
    hosts = []
    for i in range(1, n + 1):
        h = Host(prefix, i)
        if h.ns not in names:
            sys.exit(f"bench.py: namespace {h.ns} does not exist; run scripts/bench.sh")
        links = json.loads(run(["ip", "-n", h.ns, "-j", "-d", "link", "show"]).stdout)
        if sorted(link["ifname"] for link in links) != ["eth0", "lo"]:
            sys.exit(f"bench.py: {h.ns} has other interfaces than lo and eth0; refusing to run")
        eth0 = next(link for link in links if link["ifname"] == "eth0")
        if eth0.get("linkinfo", {}).get("info_kind") != "veth":
            sys.exit(f"bench.py: eth0 in {h.ns} is not a veth; refusing to run")
        addrs = json.loads(run(["ip", "-n", h.ns, "-j", "addr", "show", "eth0"]).stdout)
        if h.ip not in [a["local"] for a in addrs[0].get("addr_info", [])]:
            sys.exit(f"bench.py: eth0 in {h.ns} lacks {h.ip}; refusing to run")
        hosts.append(h)
    return hosts


# ---- CPU and wake-ups of a process ------------------------------------------------------------

HZ = os.sysconf("SC_CLK_TCK")


class Usage:
    """One reading of a process's CPU time and context switches."""

    def __init__(self, pid):
        self.t = mono_ns()
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        self.ticks_ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // HZ  # utime + stime
        self.sched_ns = 0
        self.switches = 0
        self.tids = set()
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    self.sched_ns += int(f.read().split()[0])
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            self.switches += int(line.split()[1])
                self.tids.add(tid)
            except (FileNotFoundError, ProcessLookupError):
                pass  # the thread ended while being read


def usage_between(a, b):
    """(CPU seconds, wall seconds, wake-ups, exact): exact when no thread came or went, so the
    per-thread ns counters cover the whole process; else CPU falls back to the 10 ms ticks."""
    exact = a.tids == b.tids
    cpu = (b.sched_ns - a.sched_ns) if exact else (b.ticks_ns - a.ticks_ns)
    return cpu / 1e9, (b.t - a.t) / 1e9, b.switches - a.switches, exact


# ---- groupcast nodes --------------------------------------------------------------------------


class Node:
    """`groupcast node --json` in a host: stdin is a pipe this script holds; stdout goes through
    `driver stamp` into a file, which is read back as (stamp ns, event) pairs."""

    def __init__(self, cfg, host, name):
        self.cfg, self.host, self.name = cfg, host, name
        self.path = os.path.join(cfg.work, f"{name}.jsonl")
        out = open(self.path, "wb")
        self.stamp = spawn([cfg.driver, "stamp"], stdin=subprocess.PIPE, stdout=out)
        out.close()
        r, self.stdin = os.pipe()
        argv = [cfg.bin, "node", "--json", "--name", name, "--iface", host.ip]
        self.proc = spawn(host.cmd(argv), stdin=r, stdout=self.stamp.stdin, stderr=subprocess.DEVNULL)
        os.close(r)
        self.stamp.stdin.close()  # the node holds the only write end now
        self.pid = self.proc.pid  # `ip netns exec` execs the binary: this is the node itself
        self.file = open(self.path, "rb")
        self.partial = b""
        self.events = []  # (stamp ns, dict) for every line parsed so far
        self.id = None

    def read_raw(self):
        """New complete lines since the last call, unparsed."""
        data = self.partial + self.file.read()
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        return data[:cut]

    def pump(self):
        for line in self.read_raw().splitlines():
            stamp, _, text = line.partition(b" ")
            try:
                ev = json.loads(text)
            except ValueError:
                continue
            self.events.append((int(stamp), ev))
            if ev.get("event") == "ready":
                self.id = ev["node"]
        return self.events

    def first(self, pred, since=0):
        """The first (stamp, event) at or after index `since` that matches, or None."""
        self.pump()
        for st, ev in self.events[since:]:
            if pred(ev):
                return st, ev
        return None

    def say(self, text):
        os.write(self.stdin, (text + "\n").encode())

    def pace(self, count, rate, prefix, deadline=None):
        """Writes `count` stamped lines into the node's stdin at `rate`; returns driver's summary."""
        argv = [self.cfg.driver, "pace", "--count", str(count), "--rate", str(rate), "--prefix", prefix]
        if deadline:
            argv += ["--deadline", str(deadline)]
        p = spawn(argv, stdout=self.stdin, stderr=subprocess.PIPE)
        _, err = p.communicate()
        return json.loads(err.decode().strip().splitlines()[-1])

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            os.close(self.stdin)
        except OSError:
            pass

    def join(self):
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stamp.wait()
        self.file.close()


def wait_until(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def start_group(cfg, hosts, tag, timeout=10):
    """A node on each host, returned once every node lists every other as up and sits in a ring."""
    nodes = [Node(cfg, h, f"{tag}-h{h.i}") for h in hosts]
    if not wait_until(lambda: all(n.first(lambda e: e["event"] == "ready") for n in nodes), timeout):
        raise RuntimeError(f"{tag}: not every node became ready")
    wait_mesh(nodes, tag, timeout)
    return nodes


def wait_mesh(nodes, tag, timeout=10):
    def meshed():
        for n in nodes:
            n.pump()
            up = {e["node"] for _, e in n.events if e["event"] == "peer_up"}
            rings = [e for _, e in n.events if e["event"] == "ring"]
            others = {m.id for m in nodes if m is not n}
            if not others <= up or not rings or not (rings[-1]["prev"] and rings[-1]["next"]):
                return False
        return True

    if not wait_until(meshed, timeout):
        raise RuntimeError(f"{tag}: the nodes did not all see each other and form a ring")


def stop_group(nodes):
    for n in nodes:
        n.stop()
    for n in nodes:
        n.join()


def messages(node, prefix):
    """(stamp, text) of the messages from others whose text starts with prefix."""
    node.pump()
    return [
        (st, e["text"])
        for st, e in node.events
        if e["event"] == "message" and not e["own"] and e["text"].startswith(prefix + " ")
    ]


def percentile(values, q):
    s = sorted(values)
    return s[(len(s) - 1) * q // 100] if s else None


# ---- the raw baseline -------------------------------------------------------------------------


def raw_receivers(cfg, hosts, count, idle=1.0, timeout=60, skip=0):
    procs = []
    for h in hosts:
        argv = [cfg.raw, "recv", "--iface", h.ip, "--count", str(count), "--idle", str(idle)]
        argv += ["--timeout", str(timeout), "--skip", str(skip)]
        p = spawn(h.cmd(argv), stdout=subprocess.PIPE, text=True)
        if json.loads(p.stdout.readline()).get("ready") is not True:
            raise RuntimeError("raw receiver did not start")
        procs.append(p)
    return procs


def raw_send(cfg, host, count, rate, deadline=None):
    argv = [cfg.raw, "send", "--iface", host.ip, "--count", str(count), "--rate", str(rate)]
    if deadline:
        argv += ["--deadline", str(deadline)]
    p = spawn(host.cmd(argv), stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate()
    return json.loads(out.strip().splitlines()[-1])


def raw_results(procs):
    res = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        res.append(json.loads(out.strip().splitlines()[-1]))
    return res


# ---- the measurements -------------------------------------------------------------------------

LAT_COUNT, LAT_RATE, LAT_SKIP = 1000, 200, 10


def latency_raw(cfg, hosts):
    recv = raw_receivers(cfg, hosts[1:3], LAT_COUNT, skip=LAT_SKIP)
    raw_send(cfg, hosts[0], LAT_COUNT, LAT_RATE)
    res = raw_results(recv)
    return {"p50": statistics.mean(r["p50_us"] for r in res), "p99": max(r["p99_us"] for r in res),
            "lost": sum(r["lost"] for r in res)}


def raw_lines(cfg, hosts, tag, count, rate):
    """The raw pair between the same pipes as groupcast: the pacer writes `count` lines at `rate`
    into `raw line-send`'s stdin, each `raw line-recv`'s stdout goes through `driver stamp` into a
    file. Returns each receiver's (stamp, seq, sent) lines and its CPU use over the run."""
    recvs, files = [], []
    try:
        for h in hosts[1:3]:
            path = os.path.join(cfg.work, f"{tag}-h{h.i}.lines")
            out = open(path, "wb")
            stamp = spawn([cfg.driver, "stamp"], stdin=subprocess.PIPE, stdout=out)
            out.close()
            p = spawn(h.cmd([cfg.raw, "line-recv", "--iface", h.ip]), stdout=stamp.stdin, stderr=subprocess.PIPE,
                      text=True)
            stamp.stdin.close()
            if json.loads(p.stderr.readline()).get("ready") is not True:
                raise RuntimeError("raw line-recv did not start")
            recvs.append((p, stamp))
            files.append(path)
        r, w = os.pipe()
        sender = spawn(hosts[0].cmd([cfg.raw, "line-send", "--iface", hosts[0].ip]), stdin=r)
        os.close(r)
        prefix = "L"
        before = [Usage(p.pid) for p, _ in recvs]
        p = spawn([cfg.driver, "pace", "--count", str(count), "--rate", str(rate), "--prefix", prefix],
                  stdout=w, stderr=subprocess.PIPE)
        p.communicate()
        os.close(w)
        sender.wait(timeout=5)

        def lines(path):
            with open(path, "rb") as f:
                got = []
                for line in f.read().splitlines():
                    parts = line.split()
                    if len(parts) == 4 and parts[1] == prefix.encode():
                        got.append((int(parts[0]), int(parts[2]), int(parts[3])))
                return got

        wait_until(lambda: all(len(lines(f)) >= count for f in files), 5, 0.1)
        time.sleep(0.05)
        after = [Usage(p.pid) for p, _ in recvs]
        got = [lines(f) for f in files]
        return got, cpu_summary(before, after, [len(g) for g in got], None)
    finally:
        for p, stamp in recvs:
            p.terminate()
            p.wait()
            stamp.wait()


def latency_raw_lines(cfg, hosts, tag):
    got, _ = raw_lines(cfg, hosts, tag, LAT_COUNT, LAT_RATE)
    per_node, lost = [], 0
    for g in got:
        lost += LAT_COUNT - len({seq for _, seq, _ in g})
        per_node.append([(st - sent) / 1e3 for st, seq, sent in g if seq >= LAT_SKIP])
    return {"p50": statistics.mean(percentile(v, 50) for v in per_node),
            "p99": max(percentile(v, 99) for v in per_node), "lost": lost}


def latency_gc(cfg, hosts, tag):
    nodes = start_group(cfg, hosts[0:3], tag)
    try:
        time.sleep(1.0)  # let the joins' own traffic pass
        prefix = "L"
        nodes[0].pace(LAT_COUNT, LAT_RATE, prefix)
        wait_until(lambda: all(len(messages(n, prefix)) >= LAT_COUNT for n in nodes[1:]), 5, 0.1)
        per_node = []
        lost = 0
        for n in nodes[1:]:
            got = messages(n, prefix)
            lost += LAT_COUNT - len({t for _, t in got})
            per_node.append([(st - int(t.split()[2])) / 1e3 for st, t in got if int(t.split()[1]) >= LAT_SKIP])
        return {"p50": statistics.mean(percentile(v, 50) for v in per_node),
                "p99": max(percentile(v, 99) for v in per_node), "lost": lost}
    finally:
        stop_group(nodes)


CPU_RATE, CPU_SECONDS = 1000, 10


def cpu_raw(cfg, hosts):
    count = CPU_RATE * CPU_SECONDS
    recv = raw_receivers(cfg, hosts[1:3], count, idle=2.0)
    before = [Usage(p.pid) for p in recv]
    raw_send(cfg, hosts[0], count, CPU_RATE)
    time.sleep(0.05)  # the last datagrams
    after = [Usage(p.pid) for p in recv]
    res = raw_results(recv)
    return cpu_summary(before, after, [r["received"] for r in res], [r["cpu_s"] for r in res])


def cpu_gc(cfg, hosts, tag):
    nodes = start_group(cfg, hosts[0:3], tag)
    try:
        time.sleep(1.0)
        before = [Usage(n.pid) for n in nodes[1:]]
        nodes[0].pace(CPU_RATE * CPU_SECONDS, CPU_RATE, "C")
        time.sleep(0.05)
        after = [Usage(n.pid) for n in nodes[1:]]
        return cpu_summary(before, after, [len(messages(n, "C")) for n in nodes[1:]], None)
    finally:
        stop_group(nodes)


def cpu_summary(before, after, received, self_reported):
    pcts, per_msg, exact = [], [], True
    for a, b, got in zip(before, after, received):
        cpu, wall, _, ex = usage_between(a, b)
        exact &= ex
        pcts.append(100 * cpu / wall)
        per_msg.append(cpu / max(got, 1) * 1e6)
    out = {"pct": statistics.mean(pcts), "us_per_msg": statistics.mean(per_msg), "received": received,
           "exact": exact}
    if self_reported:
        out["getrusage_s"] = self_reported
    return out


INGEST_SECONDS, INGEST_GRACE = 2.0, 2.0


def ingest_raw_probe(cfg, hosts, rate):
    count = int(rate * INGEST_SECONDS)
    recv = raw_receivers(cfg, hosts[1:3], count, idle=INGEST_GRACE, timeout=INGEST_SECONDS * 3 + 10)
    sent = raw_send(cfg, hosts[0], count, rate, deadline=INGEST_SECONDS * 1.5)
    res = raw_results(recv)
    ok = sent["sent"] == count and sent["rate"] >= 0.95 * rate and all(r["received"] == count for r in res)
    return ok, f"sent {sent['sent']} at {sent['rate']:.0f}/s, received {[r['received'] for r in res]} of {count}"


def ingest_gc_probe(cfg, hosts, rate, tag):
    count = int(rate * INGEST_SECONDS)
    nodes = start_group(cfg, hosts[0:3], tag)
    try:
        time.sleep(0.5)
        sent = nodes[0].pace(count, rate, "I", deadline=INGEST_SECONDS * 1.5)
        end = sent["last_ns"] + int(INGEST_GRACE * 1e9)
        counts = [0, 0]
        lagged = 0
        # Count message events from the raw text (parsing every line would cost more CPU than
        # the machine can spare while the nodes still work).
        while True:
            for i, n in enumerate(nodes[1:]):
                chunk = n.read_raw()
                counts[i] += chunk.count(b'"event":"message"')
                lagged += chunk.count(b'"event":"lagged"')
            if all(c >= sent["sent"] for c in counts) or mono_ns() > end:
                break
            time.sleep(0.1)
        # Zero loss means every message printed with no lag on the way to the screen either.
        ok = sent["sent"] == count and sent["rate"] >= 0.95 * rate and all(c >= count for c in counts) and not lagged
        note = f"sent {sent['sent']} at {sent['rate']:.0f}/s, received {counts} of {count}"
        return ok, note + (f", {lagged} lagged" if lagged else "")
    finally:
        stop_group(nodes)


def bisect_rate(probe, lo, hi, log):
    """The highest rate in [lo, hi] that passes, to within 10%, assuming pass/fail is monotone.
    lo is tried first (and halved while it fails); hi is taken to fail."""
    while True:
        ok, note = probe(lo)
        log(f"    {lo:>8.0f}/s {'pass' if ok else 'FAIL'}: {note}")
        if ok:
            break
        hi, lo = lo, lo / 2
        if lo < 100:
            return 0
    while hi / lo > 1.1:
        mid = (lo * hi) ** 0.5
        ok, note = probe(mid)
        log(f"    {mid:>8.0f}/s {'pass' if ok else 'FAIL'}: {note}")
        if ok:
            lo = mid
        else:
            hi = mid
    return lo


def idle(cfg, nodes, seconds):
    before = [Usage(n.pid) for n in nodes]
    time.sleep(seconds)
    after = [Usage(n.pid) for n in nodes]
    res = []
    for a, b in zip(before, after):
        cpu, wall, switches, exact = usage_between(a, b)
        res.append({"pct": 100 * cpu / wall, "wakeups": switches / wall, "exact": exact})
    return res


def time_to_down(nodes, victim, act, timeout=15):
    """Seconds from act() until every node but the victim has printed peer_down for it."""
    others = [n for n in nodes if n is not victim]
    marks = [len(n.pump()) for n in others]
    t0 = mono_ns()
    act()

    def downs():
        seen = [n.first(lambda e: e["event"] == "peer_down" and e["node"] == victim.id, m)
                for n, m in zip(others, marks)]
        return seen if all(seen) else None

    seen = wait_until(downs, timeout, 0.05)
    if not seen:
        return None
    return max(st for st, _ in seen) / 1e9 - t0 / 1e9


def replace_node(cfg, nodes, victim, tag):
    """Kills the victim (stopped or cut off) and starts a fresh node on its host."""
    victim.proc.kill()
    victim.host.link(True)
    victim.join()
    fresh = Node(cfg, victim.host, tag)
    nodes[nodes.index(victim)] = fresh
    wait_until(lambda: fresh.first(lambda e: e["event"] == "ready"), 10)
    wait_mesh(nodes, tag)
    time.sleep(1.0)  # the ring links and heartbeat histories settle
    return fresh


def settle_trials(cfg, nodes, trials, prefix, sent_so_far):
    """Seconds from the last line written until every node has settled marks covering it."""
    times = []
    for k in range(trials):
        marks = [len(n.pump()) for n in nodes]
        summary = nodes[0].pace(20, 200, f"{prefix}{k}")
        last_ns = summary["last_ns"]
        sent_so_far += summary["sent"]
        own = wait_until(lambda: nodes[0].first(
            lambda e: e["event"] == "message" and e["own"] and e["text"].startswith(f"{prefix}{k} 19 "), marks[0]), 5)
        last_ts = own[1]["ts"] if own else "9999"

        def covered(n, m):
            """The stamp of n's first settled event covering the trial's messages, if any."""
            total = 0
            for i, (st, e) in enumerate(n.pump()):
                if e["event"] != "settled":
                    continue
                total += e["count"]
                # The sum of counts, or an upto past the last message's stamp (both RFC 3339
                # with milliseconds, so they compare as strings).
                if i >= m and (total >= sent_so_far or e["upto"] > last_ts):
                    return st
            return None

        def everywhere():
            seen = [covered(n, m) for n, m in zip(nodes, marks)]
            return seen if all(seen) else None

        seen = wait_until(everywhere, 10, 0.05)
        times.append(max(seen) / 1e9 - last_ns / 1e9 if seen else None)
        time.sleep(0.3 + random.random() * 0.5)  # land at a different point of the heartbeat
    return times, sent_so_far


# ---- the report -------------------------------------------------------------------------------


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "us":
        return f"{v:.0f} µs"
    if unit == "rate":
        return f"{v / 1000:.1f}k msg/s"
    if unit == "pct":
        return f"{v:.2f}%"
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "per_s":
        return f"{v:.1f}/s"
    return f"{v:g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", required=True, help="namespace prefix made by bench.sh")
    ap.add_argument("--hosts", type=int, default=5)
    ap.add_argument("--bin", required=True, help="the groupcast binary")
    ap.add_argument("--raw", required=True, help="the raw sender/receiver (raw.c)")
    ap.add_argument("--driver", required=True, help="the pace/stamp helper (driver.c)")
    ap.add_argument("--work", required=True, help="a directory for the nodes' output")
    ap.add_argument("--rounds", type=int, default=3, help="raw/groupcast rounds per figure (the median is reported)")
    ap.add_argument("--json", help="also write every figure and sample here")
    ap.add_argument("--only", help="comma-separated sections: latency,ingest,cpu,idle,down,settle,freeze")
    cfg = ap.parse_args()
    # Interrupted or terminated (bench.sh's cleanup sends SIGTERM), leave through the `finally`
    # below so every process started is stopped. SIGINT is restored in case it came ignored, as
    # it does to a background job of a script.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root (network namespaces); run scripts/bench.sh")
    if cfg.hosts < 5:
        sys.exit("bench.py: needs 5 hosts")
    hosts = check_lan(cfg.prefix, cfg.hosts)
    only = set(cfg.only.split(",")) if cfg.only else None
    # The large group is asked for by name (it needs `--hosts N` and minutes to start).
    want = lambda s: (only is None and s != "freeze") or (only is not None and s in only)  # noqa: E731
    started = time.monotonic()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"note: load average {load_before[0]:.2f} at the start: something else is running, and on a "
              f"machine of {os.cpu_count()} CPUs the figures will be noisier\n", flush=True)

    def log(msg):
        print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)

    R = {}  # figure -> {"gc": [...], "raw": [...]} samples
    add = lambda k, side, v: R.setdefault(k, {"gc": [], "raw": []})[side].append(v)  # noqa: E731

    def use_hosts(k):
        """Hosts 1..k on the bridge, the rest unplugged: the bridge floods every multicast
        datagram to every port, and copies to hosts with no listener would cost the sender (in
        whose context the kernel delivers them) CPU that both sides of a comparison need."""
        for h in hosts:
            h.attach(h.i <= k)

    try:
        use_hosts(3)
        if want("latency"):
            log(f"one-way latency, {LAT_COUNT} messages at {LAT_RATE}/s, h1 -> h2, h3")
            for r in range(cfg.rounds):
                raw = latency_raw(cfg, hosts)
                log(f"  raw       p50 {raw['p50']:.0f} µs  p99 {raw['p99']:.0f} µs  lost {raw['lost']}")
                piped = latency_raw_lines(cfg, hosts, f"rawl{r}")
                log(f"  raw lines p50 {piped['p50']:.0f} µs  p99 {piped['p99']:.0f} µs  lost {piped['lost']}")
                gc = latency_gc(cfg, hosts, f"lat{r}")
                log(f"  groupcast p50 {gc['p50']:.0f} µs  p99 {gc['p99']:.0f} µs  lost {gc['lost']}")
                for side, v in (("raw", raw), ("gc", gc)):
                    add("lat50", side, v["p50"])
                    add("lat99", side, v["p99"])
                for side, v in (("raw", piped), ("gc", gc)):
                    add("lat50_lines", side, v["p50"])
                    add("lat99_lines", side, v["p99"])

        if want("ingest"):
            log(f"zero-loss ingest, {INGEST_SECONDS:.0f} s per probe, h1 -> h2, h3")
            bounds = {"raw": (4000, 1_024_000), "gc": (1000, 256_000)}
            for r in range(cfg.rounds):
                log(f"  raw, round {r + 1}")
                v = bisect_rate(lambda x: ingest_raw_probe(cfg, hosts, x), *bounds["raw"], log)
                add("ingest", "raw", v)
                bounds["raw"] = (v / 2, v * 2) if v else bounds["raw"]
                log(f"  groupcast, round {r + 1}")
                probes = itertools.count()  # each probe's nodes get names of their own
                v = bisect_rate(lambda x: ingest_gc_probe(cfg, hosts, x, f"ing{r}-{next(probes)}"), *bounds["gc"], log)
                add("ingest", "gc", v)
                bounds["gc"] = (v / 2, v * 2) if v else bounds["gc"]
                log(f"  round {r + 1}: raw {R['ingest']['raw'][-1]:.0f}/s, groupcast {v:.0f}/s")

        if want("cpu"):
            log(f"receiver CPU at {CPU_RATE}/s for {CPU_SECONDS} s, h1 -> h2, h3")
            for r in range(cfg.rounds):
                raw = cpu_raw(cfg, hosts)
                log(f"  raw       {raw['pct']:.2f}% of a core, {raw['us_per_msg']:.1f} µs/msg "
                    f"(received {raw['received']}, getrusage {raw['getrusage_s']} s, exact {raw['exact']})")
                gc = cpu_gc(cfg, hosts, f"cpu{r}")
                log(f"  groupcast {gc['pct']:.2f}% of a core, {gc['us_per_msg']:.1f} µs/msg "
                    f"(received {gc['received']}, exact {gc['exact']})")
                add("cpu", "raw", raw["pct"])
                add("cpu", "gc", gc["pct"])
                _, lines_cpu = raw_lines(cfg, hosts, f"cpul{r}", CPU_RATE * CPU_SECONDS, CPU_RATE)
                log(f"  raw lines {lines_cpu['pct']:.2f}% of a core, {lines_cpu['us_per_msg']:.1f} µs/msg "
                    f"(received {lines_cpu['received']}, exact {lines_cpu['exact']})")
                add("cpu_lines", "raw", lines_cpu["pct"])
                add("cpu_lines", "gc", gc["pct"])

        if want("settle"):
            log("settled everywhere after the last send, 20 messages at 200/s into h1, three hosts")
            nodes = start_group(cfg, hosts[0:3], "settle")
            try:
                time.sleep(1.0)
                times, sent = settle_trials(cfg, nodes, 5, "S", 0)
                log("  no loss:  " + ", ".join(fmt(t, "s") for t in times))
                for t in times:
                    add("settle0", "gc", t)
                for h in hosts[0:3]:
                    h.udp_loss(30)
                time.sleep(1.0)
                times, sent = settle_trials(cfg, nodes, 5, "T", sent)
                log("  30% loss: " + ", ".join(fmt(t, "s") for t in times))
                for t in times:
                    add("settle30", "gc", t)
            finally:
                for h in hosts[0:3]:
                    h.udp_loss(0)
                stop_group(nodes)

        if want("idle") or want("down"):
            use_hosts(5)
            log("five hosts, one node each")
            nodes = start_group(cfg, hosts[0:5], "five")
            try:
                if want("idle"):
                    time.sleep(3.0)  # past the joins
                    res = idle(cfg, nodes, 20)
                    for n, x in zip(nodes, res):
                        log(f"  idle {n.name}: {x['pct']:.3f}% CPU, {x['wakeups']:.1f} wake-ups/s (exact {x['exact']})")
                    add("idle_cpu", "gc", med([x["pct"] for x in res]))
                    add("idle_wake", "gc", med([x["wakeups"] for x in res]))
                if want("down"):
                    if not want("idle"):
                        time.sleep(1.5)  # past the joins: the ring links are up
                    for k, v in enumerate([4, 3]):
                        victim = nodes[v]
                        t = time_to_down(nodes, victim, lambda v=victim: v.signal(signal.SIGSTOP))
                        log(f"  frozen {victim.name}: down everywhere after {fmt(t, 's')}")
                        add("frozen", "gc", t)
                        replace_node(cfg, nodes, victim, f"frz{k}-h{victim.host.i}")
                    for k, v in enumerate([2, 1]):
                        victim = nodes[v]
                        t = time_to_down(nodes, victim, lambda v=victim: v.host.link(False))
                        log(f"  cut {victim.name}: down everywhere after {fmt(t, 's')}")
                        add("cut", "gc", t)
                        replace_node(cfg, nodes, victim, f"cut{k}-h{victim.host.i}")
                    # Killed (kill -9: its ring neighbours' probes are refused) and terminated
                    # (it says leave): the functional tests check the reasons, this the time.
                    for k, (v, sig, key) in enumerate([(2, signal.SIGKILL, "killed"), (1, signal.SIGTERM, "left")]):
                        victim = nodes[v]
                        t = time_to_down(nodes, victim, lambda v=victim, sig=sig: v.signal(sig))
                        log(f"  {key} {victim.name}: down everywhere after {fmt(t, 's')}")
                        add(key, "gc", t)
                        replace_node(cfg, nodes, victim, f"{key}{k}-h{victim.host.i}")
                    log("  20% UDP loss on every host for 20 s")
                    for h in hosts[0:5]:
                        h.udp_loss(20)
                    marks = [len(n.pump()) for n in nodes]
                    time.sleep(20)
                    false_downs = sum(
                        1 for n, m in zip(nodes, marks) for _, e in n.pump()[m:] if e["event"] == "peer_down")
                    suspects = sum(
                        1 for n, m in zip(nodes, marks) for _, e in n.pump()[m:] if e["event"] == "peer_suspect")
                    log(f"  false downs {false_downs}, suspects {suspects}")
                    add("false_downs", "gc", false_downs)
                    victim = nodes[4]
                    t = time_to_down(nodes, victim, lambda v=victim: v.signal(signal.SIGSTOP))
                    log(f"  frozen {victim.name} at 20% loss: down everywhere after {fmt(t, 's')}")
                    add("frozen_loss", "gc", t)
                    for h in hosts[0:5]:
                        h.udp_loss(0)
            finally:
                for n in nodes:
                    if n.proc.poll() is None:
                        n.proc.send_signal(signal.SIGCONT)
                stop_group(nodes)

        if want("freeze"):
            n = cfg.hosts
            use_hosts(n)
            log(f"{n} hosts, one node each; four freezes")
            nodes = start_group(cfg, hosts[0:n], f"big{n}", timeout=180)
            log("  everyone lists everyone; 25 s for the paced heartbeats to settle")
            try:
                time.sleep(25)
                marks = [len(x.pump()) for x in nodes]
                frozen = set()
                slowest = 0.0
                for k, v in enumerate([n // 3, n // 3, n // 2, n - 1]):
                    victim = nodes[v]
                    frozen.add(victim.id)
                    t = time_to_down(nodes, victim, lambda v=victim: v.signal(signal.SIGSTOP), timeout=30)
                    log(f"  freeze {k + 1}, {victim.name}: down everywhere after {fmt(t, 's')}")
                    slowest = max(slowest, t if t is not None else float("inf"))
                    downs = [len(x.pump()) for x in nodes]
                    victim.signal(signal.SIGCONT)

                    def back(victim=victim, downs=downs):
                        return all(x.first(lambda e: e["event"] in ("peer_up", "peer_alive") and e["node"] == victim.id, m)
                                   for x, m in zip(nodes, downs) if x is not victim)

                    if not wait_until(back, 60, 0.2):
                        log(f"  {victim.name} is not listed everywhere again after 60 s")
                    time.sleep(5)
                add("frozen_big", "gc", slowest)
                false = sum(1 for x, m in zip(nodes, marks) for _, e in x.pump()[m:]
                            if e["event"] in ("peer_suspect", "peer_down") and e["node"] not in frozen)
                log(f"  false suspicions of nodes never frozen: {false}")
                add("false_big", "gc", false)
            finally:
                for x in nodes:
                    if x.proc.poll() is None:
                        x.proc.send_signal(signal.SIGCONT)
                stop_group(nodes)

    finally:
        kill_all()

    report(R, time.monotonic() - started)
    print("load average (1, 5, 15 min): %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end"
          % (load_before + os.getloadavg()))
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(R, f, indent=1)


# figure key, label, unit, target text, check(gc, raw) -> bool (None: no check)
ROWS = [
    ("lat50", "one-way latency p50, 200 msg/s", "us", "≤ 2× raw", lambda g, r: g <= 2 * r),
    ("lat99", "one-way latency p99, 200 msg/s", "us", "≤ 2× raw", lambda g, r: g <= 2 * r),
    ("lat50_lines", "… p50 against raw between the same pipes", "us", "(informative)", None),
    ("lat99_lines", "… p99 against raw between the same pipes", "us", "(informative)", None),
    ("ingest", "zero-loss ingest, 1 sender → 2 receivers", "rate", "≥ 50% of raw", lambda g, r: g >= 0.5 * r),
    ("cpu", "receiver CPU at 1,000 msg/s (% of a core)", "pct", "≤ 2× raw", lambda g, r: g <= 2 * r),
    ("cpu_lines", "… against raw printing each datagram as a line", "pct", "(informative)", None),
    ("idle_cpu", "idle headless node, 4 peers: CPU", "pct", "≤ 0.15%", lambda g, r: g <= 0.15),
    ("idle_wake", "idle headless node, 4 peers: wake-ups", "per_s", "≤ 20/s", lambda g, r: g <= 20),
    ("frozen", "frozen (SIGSTOP) host → down everywhere", "s", "≤ 1 s", lambda g, r: g <= 1),
    ("cut", "cut host (link down) → down everywhere", "s", "≤ 1 s", lambda g, r: g <= 1),
    ("killed", "killed (kill -9) host → down (crashed) everywhere", "s", "≤ 1 s", lambda g, r: g <= 1),
    ("left", "terminated host → left everywhere", "s", "≤ 1 s", lambda g, r: g <= 1),
    ("false_downs", "false downs, 5 hosts, 20% loss, 20 s", "n", "0", lambda g, r: g == 0),
    ("frozen_big", "frozen host → down everywhere, --hosts N (slowest of 4)", "s", "≤ 1 s", lambda g, r: g <= 1),
    ("false_big", "… suspicions of nodes never frozen, --hosts N", "n", "0", lambda g, r: g == 0),
    ("frozen_loss", "frozen host → down everywhere, 20% loss", "s", "(≤ 1 s without loss)", None),
    ("settle0", "settled everywhere after the last send, no loss", "s", "≤ 0.5 s", lambda g, r: g <= 0.5),
    ("settle30", "settled everywhere after the last send, 30% loss", "s", "≤ 1 s", lambda g, r: g <= 1),
]


def report(R, elapsed):
    print()
    print("| figure | groupcast | raw | ratio | target | met |")
    print("|---|---:|---:|---:|---|---|")
    for key, label, unit, target, check in ROWS:
        if key not in R:
            continue
        g, r = med(R[key]["gc"]), med(R[key]["raw"])
        ratio = f"{g / r:.2f}×" if g is not None and r else "—"
        met = "—"
        if check and g is not None and (r is not None or not R[key]["raw"]):
            met = "yes" if check(g, r) else "NO"
        print(f"| {label} | {fmt(g, unit)} | {fmt(r, unit) if R[key]['raw'] else '—'} | {ratio} | {target} | {met} |")
    print()
    print("Samples (groupcast; raw), medians above:")
    for key, label, unit, _, _ in ROWS:
        if key in R:
            gs = ", ".join(fmt(v, unit) for v in R[key]["gc"])
            rs = ", ".join(fmt(v, unit) for v in R[key]["raw"])
            print(f"  {label}: {gs}" + (f"; raw {rs}" if rs else ""))
    print(f"\nmeasured in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
