#!/usr/bin/env bash
# Measures the TUI under no load and under a flood, inside a network namespace of its own
# (loopback only): CPU time of an idle TUI over 20 s, then of the same TUI while a headless node
# multicasts 20,000 messages as fast as it can, and how long a typed line takes to show.
#
#   sudo scripts/tui-load.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${GC_IN_NS:-}" ]; then
  cargo build --release --manifest-path "$root/Cargo.toml"
  exec unshare -n env GC_IN_NS=1 bash "$0" "$@"
fi
ip link set lo up
bin="$root/target/release/groupcast"
sock=gcload$$
trap 'tmux -L $sock kill-server 2>/dev/null || true' EXIT
tmux -L $sock new-session -d -s main -x 100 -y 30 "$bin --iface 127.0.0.1 --name watcher"
sleep 2
pid=$(pgrep -f "^$bin --iface 127.0.0.1 --name watcher")
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

a=$(ticks); sleep 20; b=$(ticks)
echo "idle TUI: $(( (b - a) * 1000 / hz )) ms of CPU in 20 s"

a=$(ticks)
seq 1 20000 | sed 's/^/flood message number /' | timeout 30 "$bin" node --iface 127.0.0.1 --name flooder >/dev/null &
sleep 1
start=$(date +%s%N)
tmux -L $sock send-keys -t main -l "typing during flood"
until tmux -L $sock capture-pane -p -t main | grep -q "typing during flood"; do sleep 0.005; done
echo "typed text on screen after $(( ($(date +%s%N) - start) / 1000000 )) ms, during the flood"
sleep 4
b=$(ticks)
echo "flooded TUI: $(( (b - a) * 1000 / hz )) ms of CPU in 5 s"
echo "header: $(tmux -L $sock capture-pane -p -t main | head -1)"
kill %1 2>/dev/null || true
