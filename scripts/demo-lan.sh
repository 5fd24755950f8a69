#!/usr/bin/env bash
# A LAN of network namespaces on this one machine, to try groupcast without sending anything
# beyond it: a bridge namespace and N hosts with 10.231.0.1..N on a veth `eth0` each.
#
#   sudo scripts/demo-lan.sh up 3     make hosts gcdemo-h1..h3 and print how to open a TUI on each
#   sudo scripts/demo-lan.sh down     remove them (and stop what runs in them)
#   sudo scripts/demo-lan.sh cut 2    take host 2 off the LAN (link down);  heal 2 puts it back
set -euo pipefail
prefix=${GROUPCAST_DEMO_PREFIX:-gcdemo}
bin=${GROUPCAST_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/groupcast}

hosts() { ip netns list | awk '{print $1}' | grep -E "^${prefix}-h[0-9]+$" | sort -V || true; }

up() {
  local n=${1:-3}
  [ "$n" -ge 1 ] && [ "$n" -le 250 ] || { echo "usage: $0 up N (1..250)" >&2; exit 2; }
  ip netns add "$prefix-br"
  ip -n "$prefix-br" link add br0 type bridge mcast_snooping 0
  ip -n "$prefix-br" link set br0 up
  for i in $(seq 1 "$n"); do
    local ns="$prefix-h$i"
    ip netns add "$ns"
    ip -n "$prefix-br" link add "v$i" type veth peer name eth0 netns "$ns"
    ip -n "$prefix-br" link set "v$i" master br0 up
    ip -n "$ns" addr add "10.231.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default dev eth0
  done
  [ -x "$bin" ] || echo "(build first: cargo build --release)"
  echo "A LAN of $n hosts is up. Open a TUI on each, in its own terminal:"
  for i in $(seq 1 "$n"); do
    echo "  sudo ip netns exec $prefix-h$i $bin --name host$i"
  done
  echo "Take one off the LAN: sudo $0 cut N; back: sudo $0 heal N; all gone: sudo $0 down"
}

down() {
  for ns in $(hosts) "$prefix-br"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  sleep 0.3
  for ns in $(hosts) "$prefix-br"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  echo "demo LAN removed"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  cut) ip -n "$prefix-h${2:?host number}" link set eth0 down ;;
  heal) ip -n "$prefix-h${2:?host number}" link set eth0 up; ip -n "$prefix-h$2" route replace default dev eth0 ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
