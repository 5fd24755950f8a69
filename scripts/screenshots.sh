#!/usr/bin/env bash
# Makes the README's pictures from real runs: three TUIs in tmux on a namespaced LAN, captured
# with `tmux capture-pane -e`, turned into HTML by aha and into PNG by headless Chromium; the
# demo GIF is a sequence of such frames (ImageMagick). Everything runs inside a network
# namespace of its own, so nothing is sent beyond this machine.
#
#   sudo scripts/screenshots.sh        writes screenshots/*.png and assets/demo.gif
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -z "${GC_IN_NS:-}" ]; then
  need=()
  for p in tmux:tmux aha:aha chromium:chromium convert:imagemagick; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  fc-list 2>/dev/null | grep -qi "DejaVu Sans Mono" || need+=(fonts-dejavu-core)
  fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  cargo build --release
  exec unshare -n env GC_IN_NS=1 bash "$0" "$@"
fi

ip link set lo up
export GROUPCAST_DEMO_PREFIX=gcshot
bin="$root/target/release/groupcast"
work=$(mktemp -d)
cols=100 rows=30
cleanup() {
  for s in a b c; do tmux -L "gcshot-$s" kill-server 2>/dev/null || true; done
  scripts/demo-lan.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/demo-lan.sh up 3 >/dev/null

open_tui() { # session host name
  ip netns exec "gcshot-h$2" tmux -L "gcshot-$1" new-session -d -s main -x $cols -y $rows \
    "TERM=xterm-256color $bin --name $3"
}
keys() { tmux -L "gcshot-$1" send-keys -t main "${@:2}"; }
say() { keys "$1" -l "$2"; keys "$1" Enter; sleep 0.4; }
wait_for() { # session text
  for _ in $(seq 1 100); do
    tmux -L "gcshot-$1" capture-pane -p -t main | grep -qF -- "$2" && return 0
    sleep 0.1
  done
  echo "screen $1 never showed: $2" >&2
  tmux -L "gcshot-$1" capture-pane -p -t main >&2
  exit 1
}

frame=0
shot() { # session out.png
  local html="$work/shot.html"
  {
    echo '<!doctype html><meta charset="utf-8"><style>'
    echo 'body{margin:0;background:#1e1e1e}'
    echo 'pre{margin:0;padding:12px;font:15px/1.0 "DejaVu Sans Mono","Noto Sans Mono CJK SC",monospace;color:#ddd}'
    echo '</style><pre>'
    tmux -L "gcshot-$1" capture-pane -p -e -t main | aha --no-header --black
    echo '</pre>'
  } >"$html"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chrome" --hide-scrollbars --force-device-scale-factor=1 \
    --window-size=930,480 --screenshot="$2" "file://$html" >/dev/null 2>&1
}
gif_frame() { frame=$((frame + 1)); shot a "$work/frame-$(printf %02d $frame).png"; }

open_tui a 1 alice
gif_frame
open_tui b 2 bob
open_tui c 3 carol
wait_for a "Peers 2/2"
gif_frame
say a "morning! is the build green?"
gif_frame
say b "green since the ring landed"
say c "I will restart my box in a minute"
ip netns exec gcshot-h3 "$bin" send --plain "hello from an old C client"
wait_for a "hello from an old C client"
say a "thanks both, see you at standup"
gif_frame
mkdir -p screenshots assets
shot a screenshots/conversation.png

pkill -KILL -f -- "--name carol"   # carol's TUI dies without a word
wait_for a "carol is down"
gif_frame
shot a screenshots/peer-down.png
keys b -l "/quit"; keys b Enter
wait_for a "bob left"
gif_frame
shot a screenshots/peer-left.png

keys a F1
wait_for a "Esc or F1 to close"
gif_frame
shot a screenshots/help.png

convert -delay 120 -loop 0 "$work"/frame-*.png -layers Optimize assets/demo.gif
echo "wrote screenshots/{conversation,peer-down,peer-left,help}.png and assets/demo.gif"
