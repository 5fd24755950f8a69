#!/usr/bin/env bash
# The benchmark of issue 10: groupcast against a minimal raw-socket multicast sender/receiver on
# a LAN of network namespaces, raw and groupcast runs interleaved, and a table of every figure
# beside its target. Takes about 5 minutes, plus the build.
#
#   sudo scripts/bench.sh [--rounds N] [--only latency,ingest,cpu,settle,idle,down] [--json FILE]
#   sudo scripts/bench.sh --only freeze --hosts 150    # freezes in a large group (minutes)
#
# With BENCH_KEEP=1 the nodes' stamped output (one NAME.jsonl per node) is kept for inspection;
# with BENCH_BIN=PATH that groupcast binary is measured and nothing is built.
#
# It builds groupcast (cargo build --release) and the two C helpers in scripts/bench/ (raw.c, the
# raw baseline; driver.c, which paces lines into a node's stdin and stamps its output), makes a
# bridge namespace and five host namespaces (eth0 at 10.234.0.1-5/24 on a veth to the bridge, lo
# up, a default route on eth0) and runs scripts/bench/bench.py, which does the measuring. No packet
# is sent on a real interface: every process that touches the network runs inside one of those
# host namespaces, and raw.c and bench.py refuse to run anywhere else. The namespaces (and
# anything still running in them) go when the script exits, however it exits.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh: needs root for network namespaces; run: sudo $0 $*" >&2
  exit 1
fi
for tool in ip nft gcc python3; do
  command -v "$tool" >/dev/null || { echo "bench.sh: needs $tool" >&2; exit 1; }
done

# ---- build ------------------------------------------------------------------------------------
# BENCH_BIN=PATH measures that binary instead (another commit's build, say) and skips the build.
# The build runs as the invoking user under sudo, so target/ does not fill with root-owned files.
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$(realpath "$BENCH_BIN")
  echo "== using $bin (BENCH_BIN), not building"
else
  echo "== building groupcast (release)"
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    sudo -u "$SUDO_USER" -H bash -lc "cd '$root' && cargo build --release --quiet"
  else
    (cd "$root" && cargo build --release --quiet)
  fi
  bin="$root/target/release/groupcast"
fi

work=$(mktemp -d /tmp/gcbench.XXXXXX)
echo "== compiling scripts/bench/raw.c and driver.c into $work"
gcc -O2 -Wall -o "$work/raw" "$root/scripts/bench/raw.c"
gcc -O2 -Wall -o "$work/driver" "$root/scripts/bench/driver.c"

# ---- the LAN ----------------------------------------------------------------------------------
prefix="gcb$$"
hosts=5
# `--hosts N` (5 to 250) makes that many host namespaces; bench.py reads it too.
args=("$@")
for ((k = 0; k < ${#args[@]}; k++)); do
  if [ "${args[$k]}" = --hosts ] && [ $((k + 1)) -lt ${#args[@]} ]; then
    hosts=${args[$((k + 1))]}
  fi
done
case "$hosts" in
  '' | *[!0-9]*) echo "bench.sh: --hosts takes a number" >&2; exit 2 ;;
esac
if [ "$hosts" -lt 5 ] || [ "$hosts" -gt 250 ]; then
  echo "bench.sh: --hosts is 5 to 250" >&2
  exit 2
fi

py=""
cleanup() {
  local ns pid
  # bench.py first (it is this script's child), then whatever runs in the namespaces; the
  # helpers outside them (stamp, pace) end when the nodes they read from or write to are gone.
  if [ -n "$py" ]; then
    kill -TERM "$py" 2>/dev/null || true
    wait "$py" 2>/dev/null || true
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -CONT "$pid" 2>/dev/null || true # a node frozen by the benchmark
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  if [ -n "${BENCH_KEEP:-}" ]; then
    echo "bench.sh: kept the nodes' output in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building a namespaced LAN: $prefix-br with $hosts hosts on 10.234.0.0/24"
ip netns add "$prefix-br"
ip -n "$prefix-br" link add br0 type bridge mcast_snooping 0
ip -n "$prefix-br" link set br0 up
for i in $(seq 1 $hosts); do
  ns="$prefix-h$i"
  ip netns add "$ns"
  ip -n "$prefix-br" link add "v$i" type veth peer name eth0 netns "$ns"
  ip -n "$prefix-br" link set "v$i" master br0 up
  ip -n "$ns" addr add "10.234.0.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default dev eth0
done

# raw.c refuses to run in the namespace this script started in (where the real interfaces are).
GCB_ROOT_NETNS=$(stat -L -c %i /proc/self/ns/net)
export GCB_ROOT_NETNS

# ---- measure ----------------------------------------------------------------------------------
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
if [ -n "${BENCH_BIN:-}" ]; then
  echo "binary:  $bin (BENCH_BIN)"
else
  echo "commit:  $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
fi
echo "command: sudo scripts/bench.sh $*"
echo
# In the background and waited for, so that a signal to this script runs the cleanup at once.
python3 "$root/scripts/bench/bench.py" --prefix "$prefix" --hosts $hosts --bin "$bin" \
  --raw "$work/raw" --driver "$work/driver" --work "$work" "$@" &
py=$!
status=0
wait "$py" || status=$?
py=""
exit $status
