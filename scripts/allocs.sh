#!/usr/bin/env bash
# Heap allocations per received message, counted rather than timed (timing on a shared machine
# moves ±30% from run to run; a count does not). Three headless nodes on the loopback interface of
# a fresh network namespace: one says 6,000 lines at 1,000 a second, the two others print them;
# uprobes on libc's malloc, calloc and realloc count one receiver's calls over 4 s of that traffic.
#
#   sudo scripts/allocs.sh [--time [--runs N]] [BIN...]
#        (default: target/release/groupcast; needs perf, gcc, ip, unshare)
#
# Give several binaries (say, two commits' builds) to compare them; each is run twice, in turn.
# With --time, no probes: the receiver's CPU time (task-clock, ms over the 4 s) instead, each
# binary run N times in turn (default 9), and the median of each (timings are noisy: compare
# builds only within one run of the script).
# The nodes read an empty config file, not yours. No packet leaves the machine: everything runs
# inside `unshare -n`, whose only interface is lo.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "allocs.sh: needs root (a network namespace and uprobes); run: sudo $0 $*" >&2
  exit 1
fi
for tool in perf gcc ip unshare ldd; do
  command -v "$tool" >/dev/null || { echo "allocs.sh: needs $tool" >&2; exit 1; }
done
mode=allocs runs=2
while [ $# -gt 0 ]; do
  case $1 in
    --time) mode=time; runs=9; shift ;;
    --runs) runs=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || set -- "$root/target/release/groupcast"
for bin in "$@"; do
  [ -x "$bin" ] || { echo "allocs.sh: $bin is not an executable (cargo build --release?)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/gcallocs.XXXXXX)
group=gcallocs$$
libc=$(ldd "$1" | awk '/libc\.so/ {print $3}')
[ -n "$libc" ] || { echo "allocs.sh: cannot find the libc $1 uses (ldd)" >&2; exit 1; }
cleanup() { perf probe -q -d "$group:*" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
gcc -O2 -o "$work/driver" "$root/scripts/bench/driver.c"
: > "$work/config.toml"
if [ "$mode" = allocs ]; then
  for f in malloc calloc realloc; do
    perf probe -q -x "$libc" --add "$group:$f=$f"
  done
fi

# One run, inside the namespace: prints "allocations messages", or "task-clock-ms messages". Whatever happens, the nodes are
# killed on the way out (a node stays up when its stdin ends).
cat > "$work/one.sh" <<'EOF'
bin=$1 work=$2 group=$3 mode=$4
pids=
trap 'kill $pids 2>/dev/null; wait 2>/dev/null' EXIT
export GROUPCAST_CONFIG="$work/config.toml"
ip link set lo up
"$bin" node --json --name r1 --iface 127.0.0.1 < /dev/null 2> "$work/r1.err" > "$work/r1.out" &
r1=$!; pids="$pids $r1"
"$bin" node --json --name r2 --iface 127.0.0.1 < /dev/null > /dev/null 2>&1 &
pids="$pids $!"
sleep 0.5
( sleep 1; "$work/driver" pace --count 6000 --rate 1000 --prefix L 2>/dev/null ) |
  "$bin" node --json --name s --iface 127.0.0.1 > /dev/null 2>&1 &
pids="$pids $!"
sleep 2
before=$(grep -c '"event":"message"' "$work/r1.out")
events="$group:malloc,$group:calloc,$group:realloc"
[ "$mode" = allocs ] || events=task-clock
stat=$(perf stat -x, -e "$events" -p "$r1" -- sleep 4 2>&1) || {
  echo "perf stat failed: $stat; the receiver said: $(cat "$work/r1.err")" >&2
  exit 1
}
after=$(grep -c '"event":"message"' "$work/r1.out")
if [ "$mode" = allocs ]; then
  n=$(echo "$stat" | awk -F, -v g="$group:" 'index($3, g) == 1 { n += $1 } END { print n + 0 }')
else
  n=$(echo "$stat" | awk -F, '$3 == "task-clock" { printf "%.1f", $1 }')
fi
echo "$n $((after - before))"
EOF

if [ "$mode" = time ]; then
  printf '%-50s %s\n' binary 'receiver task-clock over 4 s (ms): median, then every run'
else
  printf '%-50s %12s %10s %14s\n' binary allocations messages 'per message'
fi
for round in $(seq 1 "$runs"); do
  for bin in "$@"; do
    if ! out=$(unshare -n sh "$work/one.sh" "$bin" "$work" "$group" "$mode"); then
      echo "allocs.sh: the run of $bin failed (see above)" >&2
      exit 1
    fi
    read -r n msgs <<< "$out"
    if [ "$mode" = time ]; then
      echo "$bin $n" >> "$work/times"
    else
      printf '%-50s %12s %10s %14s\n' "$bin" "$n" "$msgs" \
        "$(awk -v a="$n" -v m="$msgs" 'BEGIN { if (m > 0) printf "%.1f", a / m; else print "-" }')"
    fi
  done
done
if [ "$mode" = time ]; then
  for bin in "$@"; do
    all=$(awk -v b="$bin" '$1 == b { print $2 }' "$work/times" | sort -n)
    median=$(echo "$all" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    printf '%-50s %s  (%s)\n' "$bin" "$median" "$(echo $all | tr ' ' ',')"
  done
fi
