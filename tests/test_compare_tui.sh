#!/usr/bin/env bash
# test_compare_tui.sh - the compression report in the workbench at 80x24 (tmux): stories260K,
# `compress ... as NEW`, `compare`; the side column then shows the report pane (title with the
# text and chunks, the original marked '*' at 32 bits per weight, the compressed copy below it
# with its KLD) and the full table is in the transcript.
set -u
. "$(dirname "$0")/tui_lib.sh"
model="$root/assets/models/stories260K.bin" text="$root/assets/text/tinyshakespeare-head.txt"
home="$tmp/home" state="$tmp/state"
mkdir -p "$home" "$state"
T new-session -d -s w -x 80 -y 24 -c "$tmp" \
  "env HOME='$home' LATHE_STATE_DIR='$state' LATHE_MODELS='$tmp/none' XDG_CONFIG_HOME= XDG_CACHE_HOME= LATHE_CONFIG= TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin' -m '$model'; sleep 600" ||
  { bad "tmux new-session"; finish; exit; }
expect "loaded" "loaded 'stories260K'" 30
type_line "/compress stories260K rtn --sym --out $tmp/s4.gguf as s4"
expect "compressed" "loaded 's4'" 30
type_line "/compare -f $text --ctx 128 --chunks 3 -p 16 -n 8"
expect "report pane title" "compare tinyshakespeare-head" 60
expect "report pane base row" "\*stories 32.00b +1016K +[0-9]+" 5
expect "report pane compressed row" " s4 +7.51b" 5
expect "full table" "KLD, top-1: vs" 5
screen >"${LATHE_SCREEN_DUMP:-/dev/null}"
finish
