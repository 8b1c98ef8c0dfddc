#!/usr/bin/env bash
# test_serve_tui.sh - the serve pane in the workbench at 80x24 (tmux): stories260K, `bench serve`;
# the side column then shows the serve pane (its title with the policy and budget, requests
# done, decode and prefill sparklines, KV blocks on the device and in host memory, times between
# tokens) and the report is in the transcript.
set -u
. "$(dirname "$0")/tui_lib.sh"
model="$root/assets/models/stories260K.bin"
home="$tmp/home" state="$tmp/state"
mkdir -p "$home" "$state"
T new-session -d -s w -x 80 -y 24 -c "$tmp" \
  "env HOME='$home' LATHE_STATE_DIR='$state' LATHE_MODELS='$tmp/none' XDG_CONFIG_HOME= XDG_CACHE_HOME= LATHE_CONFIG= TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin' -m '$model'; sleep 600" ||
  { bad "tmux new-session"; finish; exit; }
expect "loaded" "loaded 'stories260K'" 30
type_line "/bench serve --requests 12 --prompt-len 16:48 --output-len 8:24 --token-budget 64"
expect "serve pane title" "serve sarathi 64 \(done\)" 60
expect "serve pane requests" "run 0 wait 0 done 12/12" 5
expect "serve pane KV" "KV [0-9]+/[0-9]+ dev 0/0 host" 5
expect "serve pane tbt" "tbt p50 [0-9.]+ max [0-9.]+ ms" 5
expect "report in the transcript" "completed 12 requests \(0 failed\)" 5
screen >"${LATHE_SCREEN_DUMP:-/dev/null}"
finish
