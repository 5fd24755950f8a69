#!/usr/bin/env bash
# The sites rig: two LANs and a pod behind NAT routers, a WAN between them with a hub on a
# "public" address, every host a network namespace. The tests of sites joined over the WAN and
# `bench.sh --only wan` share it.
#
#   sudo scripts/sites-rig.sh up PREFIX      # build it (namespaces named PREFIX-...)
#   sudo scripts/sites-rig.sh check PREFIX   # what crosses and what does not, one line each
#   sudo scripts/sites-rig.sh down PREFIX    # remove it, and everything running in it
#   sudo scripts/sites-rig.sh hosts PREFIX   # each host's namespace and address, one a line
#
#            10.231.0.0/24                                   10.232.0.0/24
#   a1 a2 a3 ── PREFIX-la ── ra ─┐                    ┌─ rb ── PREFIX-lb ── b1 b2 b3
#   (.1-.3)      (bridge)  .254  │   198.51.100.0/24  │  .254   (bridge)     (.1-.3)
#                       wan .1   ├── PREFIX-wan ──────┤  wan .2
#                                │   (bridge)         │
#             hub 198.51.100.10 ─┘                    └─ rp (.3) ── pod 10.233.0.1
#
# ra, rb and rp are routers that masquerade (nft) what their LAN sends out to the WAN, as a home
# or office router does: nothing on the WAN can open a connection to a host behind one. No
# multicast routing anywhere: the routers drop forwarded multicast outright, and the pod's own
# nft drops multicast both ways (a container, a WSL 2 VM, a cloud host). Every host has lo up and
# a default route through its router; the hub's is the WAN bridge. Nothing here touches a real
# interface: every veth is made inside the namespaces.
set -euo pipefail

cmd=${1:-}
p=${2:-}
if [ -z "$cmd" ] || [ -z "$p" ]; then
  sed -n '6,9p' "$0" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "sites-rig.sh: needs root for network namespaces" >&2
  exit 2
fi

hosts=(a1 a2 a3 b1 b2 b3 pod hub)
routers=(ra rb rp)
bridges=(la lb lp wan)

# The address of each host.
addr_of() {
  case $1 in
    a[1-3]) echo "10.231.0.${1#a}" ;;
    b[1-3]) echo "10.232.0.${1#b}" ;;
    pod) echo "10.233.0.1" ;;
    hub) echo "198.51.100.10" ;;
  esac
}

in_ns() { ip netns exec "$p-$1" "${@:2}"; }

down() {
  for n in "${hosts[@]}" "${routers[@]}" "${bridges[@]}"; do
    local ns="$p-$n"
    ip netns list | grep -qw "^$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}

bridge() {
  ip netns add "$p-$1"
  ip -n "$p-$1" link add br0 type bridge mcast_snooping 0
  ip -n "$p-$1" link set br0 up
  ip -n "$p-$1" link set lo up
}

# plug NS IFACE BRIDGE PORT ADDR/LEN: a veth from NS (named IFACE there) to a port of BRIDGE.
plug() {
  ip -n "$p-$3" link add "$4" type veth peer name "$2" netns "$p-$1"
  ip -n "$p-$3" link set "$4" master br0 up
  ip -n "$p-$1" addr add "$5" dev "$2"
  ip -n "$p-$1" link set "$2" up
}

host() { # host NAME BRIDGE PORT GATEWAY
  ip netns add "$p-$1"
  ip -n "$p-$1" link set lo up
  plug "$1" eth0 "$2" "$3" "$(addr_of "$1")/24"
  if [ "$4" = dev ]; then
    ip -n "$p-$1" route add default dev eth0
  else
    ip -n "$p-$1" route add default via "$4" dev eth0
  fi
}

router() { # router NAME LAN-BRIDGE LAN-ADDR WAN-ADDR
  ip netns add "$p-$1"
  ip -n "$p-$1" link set lo up
  plug "$1" lan "$2" "r$1" "$3/24"
  plug "$1" wan wan "w$1" "$4/24"
  in_ns "$1" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$1" nft -f - <<EOF
table ip nat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter;
    ip daddr 224.0.0.0/4 drop
    ip6 daddr ff00::/8 drop
    iifname "wan" ct state new drop
  }
}
EOF
}

up() {
  down
  for b in "${bridges[@]}"; do bridge "$b"; done
  router ra la 10.231.0.254 198.51.100.1
  router rb lb 10.232.0.254 198.51.100.2
  # (The pod's router has a LAN of its own, lp, with the pod alone on it.)
  router rp lp 10.233.0.254 198.51.100.3
  for i in 1 2 3; do
    host "a$i" la "va$i" 10.231.0.254
    host "b$i" lb "vb$i" 10.232.0.254
  done
  host pod lp vpod 10.233.0.254
  in_ns pod nft -f - <<EOF
table inet nomcast {
  chain in { type filter hook input priority filter; ip daddr 224.0.0.0/4 drop; ip6 daddr ff00::/8 drop; }
  chain out { type filter hook output priority filter; ip daddr 224.0.0.0/4 drop; ip6 daddr ff00::/8 drop; }
}
EOF
  # On the WAN itself: every router is on its subnet.
  host hub wan vhub dev
}

# What crosses the rig and what does not, checked with python3 sockets (TCP for reachability,
# UDP multicast to 225.0.0.37 for multicast). Prints one line per check, "ok" or "FAILED", and
# exits non-zero if any failed.
check() {
  local failed=0
  tcp() { # tcp FROM TO-HOST PORT: 0 if a connection from FROM reaches a listener on TO-HOST
    local to; to=$(addr_of "$2")
    in_ns "$2" python3 -c "
import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$to',$3)); s.listen(1); s.settimeout(3)
try: c,a=s.accept(); print(a[0])
except OSError: pass" >"/tmp/$p-tcp.out" &
    local srv=$!
    sleep 0.3
    local rc=0
    in_ns "$1" python3 -c "
import socket
s=socket.create_connection(('$to',$3), timeout=2)" 2>/dev/null || rc=1
    wait $srv || true
    return $rc
  }
  mcast() { # mcast FROM TO: 0 if a datagram FROM sends to the group reaches a member on TO
    local from_ip; from_ip=$(addr_of "$1")
    local to_ip; to_ip=$(addr_of "$2")
    in_ns "$2" python3 -c "
import socket,struct
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('',12399)); s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton('225.0.0.37')+socket.inet_aton('$to_ip'))
s.settimeout(1.5)
try: s.recvfrom(100); print('heard')
except OSError: pass" >"/tmp/$p-mc.out" &
    local rcv=$!
    sleep 0.3
    in_ns "$1" python3 -c "
import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('$from_ip'))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
for _ in range(3): s.sendto(b'x', ('225.0.0.37', 12399))" 2>/dev/null || true
    wait $rcv || true
    grep -q heard "/tmp/$p-mc.out"
  }
  say() { if [ "$1" = 0 ]; then echo "ok: $2"; else echo "FAILED: $2"; failed=1; fi; }
  expect() { local want=$1; shift; local rc=0; "$@" || rc=1; [ "$rc" = "$want" ] && echo 0 || echo 1; }
  say "$(expect 0 tcp a1 hub 7001)" "a1 reaches the hub"
  say "$(expect 0 grep -qx 198.51.100.1 "/tmp/$p-tcp.out")" "the hub sees a1 as ra's WAN address (NAT)"
  say "$(expect 0 tcp b2 hub 7002)" "b2 reaches the hub"
  say "$(expect 0 tcp pod hub 7003)" "the pod reaches the hub"
  say "$(expect 1 tcp hub a1 7004)" "the hub cannot open a connection to a1"
  say "$(expect 1 tcp a1 b1 7005)" "a1 cannot open a connection to b1"
  say "$(expect 0 tcp a1 a2 7006)" "a1 reaches a2 on its LAN"
  say "$(expect 0 mcast a1 a3)" "multicast from a1 reaches a3"
  say "$(expect 1 mcast a1 b1)" "multicast from a1 does not reach b1"
  say "$(expect 1 mcast a1 hub)" "multicast from a1 does not reach the hub"
  say "$(expect 1 mcast pod hub)" "the pod sends no multicast"
  rm -f "/tmp/$p-tcp.out" "/tmp/$p-mc.out"
  return $failed
}

case $cmd in
  up) up ;;
  down) down ;;
  check) check ;;
  hosts) for h in "${hosts[@]}"; do echo "$p-$h $(addr_of "$h")"; done ;;
  *) sed -n '6,9p' "$0" >&2; exit 2 ;;
esac
