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
  for p in tmux:tmux aha:aha chromium:chromium; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  /usr/bin/convert -version 2>/dev/null | grep -q ImageMagick || need+=(imagemagick)
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
cols=88 rows=26
cleanup() {
  for s in a b c; do tmux -L "gcshot-$s" kill-server 2>/dev/null || true; done
  scripts/demo-lan.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/demo-lan.sh up 3 >/dev/null
# A name for every screen (no config file of the user's is read).
export XDG_CONFIG_HOME="$work/config"

open_tui() { # session host name
  ip netns exec "gcshot-h$2" tmux -L "gcshot-$1" new-session -d -s main -x $cols -y $rows \
    "TERM=xterm-256color XDG_CONFIG_HOME=$XDG_CONFIG_HOME $bin --name $3"
  # A killed TUI's last screen stays in the picture.
  tmux -L "gcshot-$1" set-option -t main remain-on-exit on >/dev/null
}
keys() { tmux -L "gcshot-$1" send-keys -t main "${@:2}"; }
say() { keys "$1" -l "$2"; keys "$1" Enter; sleep 0.4; }
wait_for() { # session text
  for _ in $(seq 1 150); do
    tmux -L "gcshot-$1" capture-pane -p -t main | grep -qF -- "$2" && return 0
    sleep 0.1
  done
  echo "screen $1 never showed: $2" >&2
  tmux -L "gcshot-$1" capture-pane -p -t main >&2
  exit 1
}

# One screen as a PNG at `scale` (2 for the stills, 1 for the GIF's frames), with the terminal's
# own greys: aha draws colour 8 (ratatui's dark grey) as a brightened dimgray, nearly white, so
# it is put back to the grey terminals use.
shot() { # session out.png [scale]
  local html="$work/shot.html" scale=${3:-2}
  local c r
  c=$(tmux -L "gcshot-$1" display -p -t main '#{window_width}')
  r=$(tmux -L "gcshot-$1" display -p -t main '#{window_height}')
  {
    echo '<!doctype html><meta charset="utf-8"><style>'
    echo 'body{margin:0;background:#1e1e1e}'
    echo 'pre{margin:0;padding:12px;font:15px/1.0 "DejaVu Sans Mono","Noto Sans Mono CJK SC",monospace;color:#ddd}'
    echo '</style><pre>'
    tmux -L "gcshot-$1" capture-pane -p -e -t main | aha --no-header --black |
      sed 's/filter: contrast(70%) brightness(190%);color:dimgray;/color:#808080;/g'
    echo '</pre>'
  } >"$html"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chrome" --hide-scrollbars --force-device-scale-factor="$scale" \
    --window-size="$((c * 905 / 100 + 24)),$((r * 15 + 24))" --screenshot="$2" "file://$html" >/dev/null 2>&1
}
# One frame of the GIF: the three screens side by side.
frame=0
gif_frame() {
  frame=$((frame + 1))
  for s in a b c; do shot "$s" "$work/$s.png" 1; done
  /usr/bin/convert "$work/a.png" "$work/b.png" "$work/c.png" -bordercolor '#444' -border 2 +append +repage \
    "$work/frame-$(printf %02d $frame).png"
}
mkdir -p screenshots assets
blank() { ip netns exec "gcshot-h$2" tmux -L "gcshot-$1" new-session -d -s main -x $cols -y $rows "sleep 600"; }

# Alice alone: after ten seconds her screen says nobody is here, and why that may be.
open_tui a 1 alice
blank b 2; blank c 3
wait_for a "Nobody here yet"
shot a screenshots/nobody-here.png
gif_frame

# Bob joins; they talk; an old C client says something.
tmux -L gcshot-b kill-server
open_tui b 2 bob
wait_for a "Peers 1/1"
say a "morning! is the build green?"
say b "green since the ring landed"
ip netns exec gcshot-h2 "$bin" send --plain "hello from an old C client"
wait_for a "hello from an old C client"
say a "bob: carol joins late, she will get all of this"
gif_frame

# Carol joins late and catches up: the log comes from her ring neighbours.
tmux -L gcshot-c kill-server
open_tui c 3 carol
wait_for c "carol joins late"
say c "hi both, I see everything you said"
wait_for a "I see everything"
gif_frame
shot a screenshots/conversation.png
tmux -L gcshot-b resize-window -t main -x 80 -y 24
sleep 0.5
shot b screenshots/conversation-80x24.png
tmux -L gcshot-b resize-window -t main -x $cols -y $rows

# Bob's TUI is killed: the others see him down within a second.
pkill -KILL -f -- "^$bin --name bob"   # the TUI itself, not its tmux server
wait_for a "bob is down"
wait_for c "bob is down"
gif_frame
shot a screenshots/peer-down.png

# Carol's host is cut off: each side goes on alone, then the partition heals and merges.
scripts/demo-lan.sh cut 3 >/dev/null
wait_for a "carol is down"
say a "said while carol was cut off"
say c "and this while I was away"
gif_frame
scripts/demo-lan.sh heal 3 >/dev/null
wait_for a "and this while I was away"
wait_for c "said while carol was cut off"
gif_frame
shot c screenshots/healed.png

keys a F1
wait_for a "Esc or F1 to close"
shot a screenshots/help.png

/usr/bin/convert -delay 250 -loop 0 "$work"/frame-*.png -layers Optimize assets/demo.gif
echo "wrote screenshots/{nobody-here,conversation,conversation-80x24,peer-down,healed,help}.png and assets/demo.gif"
