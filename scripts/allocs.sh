#!/usr/bin/env bash
# Heap allocations per received message, counted rather than timed (timing on a shared machine
# moves ±30% from run to run; a count does not). Three headless nodes on the loopback interface of
# a fresh network namespace: one says 6,000 lines at 1,000 a second, the two others print them;
# a uprobe on libc's malloc counts one receiver's allocations over 4 s of that traffic.
#
#   sudo scripts/allocs.sh [BIN...]      (default: target/release/groupcast; needs perf and gcc)
#
# Give several binaries (say, two commits' builds) to compare them; each is run twice, in turn.
# No packet leaves the machine: everything runs inside `unshare -n`, whose only interface is lo.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "allocs.sh: needs root (a network namespace and a uprobe); run: sudo $0 $*" >&2
  exit 1
fi
for tool in perf gcc unshare; do
  command -v "$tool" >/dev/null || { echo "allocs.sh: needs $tool" >&2; exit 1; }
done
[ $# -gt 0 ] || set -- "$root/target/release/groupcast"
for bin in "$@"; do
  [ -x "$bin" ] || { echo "allocs.sh: $bin is not an executable (cargo build --release?)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/gcallocs.XXXXXX)
libc=$(ldd "$1" | awk '/libc\.so/ {print $3}')
cleanup() { perf probe -q -d 'probe_gcallocs:*' 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
gcc -O2 -o "$work/driver" "$root/scripts/bench/driver.c"
perf probe -q -x "$libc" --add 'probe_gcallocs:malloc=malloc'

# One run, inside the namespace: prints "allocations task-clock-ms messages".
cat > "$work/one.sh" <<'EOF'
set -eu
bin=$1 work=$2
ip link set lo up
"$bin" node --json --name r1 --iface 127.0.0.1 < /dev/null 2>/dev/null > "$work/r1.out" &
r1=$!
"$bin" node --json --name r2 --iface 127.0.0.1 < /dev/null > /dev/null 2>&1 &
r2=$!
sleep 0.5
# (A node stays up when its stdin ends.)
( sleep 1; "$work/driver" pace --count 6000 --rate 1000 --prefix L 2>/dev/null ) |
  "$bin" node --json --name s --iface 127.0.0.1 > /dev/null 2>&1 &
s=$!
sleep 2
before=$(grep -c '"event":"message"' "$work/r1.out" || true)
stat=$(perf stat -x, -e probe_gcallocs:malloc,task-clock -p "$r1" -- sleep 4 2>&1)
after=$(grep -c '"event":"message"' "$work/r1.out" || true)
kill "$r1" "$r2" "$s" 2>/dev/null || true
wait 2>/dev/null || true
allocs=$(echo "$stat" | awk -F, '/probe_gcallocs:malloc/ {print $1}')
ms=$(echo "$stat" | awk -F, '/task-clock/ {print $1}')
echo "$allocs $ms $((after - before))"
EOF

printf '%-50s %12s %10s %14s\n' binary allocations messages 'per message'
for round in 1 2; do
  for bin in "$@"; do
    read -r allocs _ms msgs < <(unshare -n sh "$work/one.sh" "$bin" "$work")
    printf '%-50s %12s %10s %14s\n' "$bin" "$allocs" "$msgs" \
      "$(awk -v a="$allocs" -v m="$msgs" 'BEGIN { if (m > 0) printf "%.1f", a / m; else print "-" }')"
  done
done
