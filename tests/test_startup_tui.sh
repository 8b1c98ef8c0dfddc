#!/usr/bin/env bash
# test_startup_tui.sh - what the workbench opens with, in a real terminal (tmux, 200x50): with the
# models folder ($LATHE_MODELS) empty, the bundled stories260K and a status line that says
# SmolLM2 is missing and where; with neither SmolLM2 nor the assets (LATHE_ASSETS pointing
# nowhere, the binary copied to a folder without assets), an empty workbench that says how to
# load a model and then loads one (it used to refuse to start); a config file
# ($LATHE_CONFIG, or $XDG_CONFIG_HOME/lathe/config) whose settings `/set` shows, whose failing
# line is reported as config:LINE and whose `load` keeps the default model out; --no-config;
# `lathe -m MODEL --threads N` (a broken stand-in SmolLM2 in the models folder shows that the
# default model is not touched); SmolLM2 loaded by default when the real file is at hand
# ($LATHE_SMOLLM2 or the models folder `lathe --version` names; skipped when absent); and
# without a terminal `lathe -m X` exits 2 with a clear message.
set -u
. "$(dirname "$0")/tui_lib.sh"
absent() { # absent NAME REGEX: the screen does not show REGEX
  if screen | grep -qE -- "$2"; then bad "$1"; screen; else ok; fi
}
n=0 # one tmux server per workbench opened
base_sock=$sock
# open "ENV ASSIGNMENTS" [ARGS...]: a fresh workbench (own HOME and state dir) in tmux
open() {
  local envs=$1
  shift
  T kill-server >/dev/null 2>&1
  n=$((n + 1))
  sock="$base_sock-$n"
  local home="$tmp/home-$n"
  mkdir -p "$home"
  local args=""
  for a in "$@"; do args="$args $(printf '%q' "$a")"; done
  T new-session -d -s w -x 200 -y 50 -c "$tmp" \
    "env HOME='$home' LATHE_STATE_DIR='$home/state' XDG_CONFIG_HOME= XDG_CACHE_HOME= LATHE_CONFIG= LATHE_ASSETS= TERM=xterm LANG=C.UTF-8 LC_ALL=C.UTF-8 $envs $(printf '%q' "${BIN:-$bin}")$args; echo LATHE-EXITED=\$?; sleep 600" ||
    bad "tmux new-session"
}
quit() {
  type_line "/quit"
  expect "quit" "LATHE-EXITED=0" 15
}

empty="$tmp/no-models"
mkdir -p "$empty"
stories="$root/assets/models/stories260K.bin"
tok="$root/assets/models/tok512.bin"

echo "== SmolLM2 absent: stories260K, and the status line says so"
open "LATHE_MODELS='$empty'"
expect "welcome" "type a prompt to continue the story" 10
expect "stories260K loads" "loaded 'stories260K'" 30
expect "status: SmolLM2 missing, where, what to run" \
  "SmolLM2 not found in $empty - run tools/fetch-model.sh; using the bundled stories260K" 10
quit

echo "== neither SmolLM2 nor the assets: an empty workbench"
mkdir -p "$tmp/alone"
cp "$bin" "$tmp/alone/lathe"
BIN="$tmp/alone/lathe" open "LATHE_MODELS='$empty' LATHE_ASSETS='$tmp/nowhere'"
expect "opens without a model" "lathe workbench - no model loaded: /load PATH" 10
expect "says how to load one" "no model loaded: SmolLM2 not found in $empty and no bundled assets" 10
absent "nothing loaded" "loaded '"
type_line "hello"
expect "chat without a model: the error" "no model loaded" 10
type_line "/load $stories --tokenizer $tok"
expect "a model loads afterwards" "loaded 'stories260K'" 30
quit

echo "== a config file: settings, a failing line, the rest still runs"
printf '# my settings\nset temp 0.3\nfrobnicate now\nset top-k 7\n' >"$tmp/config"
open "LATHE_MODELS='$empty' LATHE_CONFIG='$tmp/config'"
expect "config error reported with its line" "config:3: unknown command 'frobnicate'" 30
expect "the default model after the config" "loaded 'stories260K'" 30
type_line "/set"
expect "/set shows the config's settings" "temp 0\.3  top-k 7" 10
quit

echo "== the config in \$XDG_CONFIG_HOME/lathe, and --no-config"
mkdir -p "$tmp/xdg/lathe"
printf 'set temp 0.25\n' >"$tmp/xdg/lathe/config"
open "LATHE_MODELS='$empty' XDG_CONFIG_HOME='$tmp/xdg'"
expect "loads" "loaded 'stories260K'" 30
type_line "/set"
expect "XDG config applied" "temp 0\.25  top-k" 10
quit
open "LATHE_MODELS='$empty' XDG_CONFIG_HOME='$tmp/xdg'" --no-config
expect "loads" "loaded 'stories260K'" 30
type_line "/set"
expect "--no-config: default temp" "temp 0\.8  top-k" 10
quit

# a stand-in SmolLM2 that does not load: the default model must not be tried below
fake="$tmp/fake-models"
mkdir -p "$fake"
echo "not a model" >"$fake/SmolLM2-135M-Instruct.Q4_1.gguf"

echo "== a config that loads a model: the default one is not loaded"
printf 'load "%s" as mine --tokenizer "%s"\n' "$stories" "$tok" >"$tmp/config-load"
open "LATHE_MODELS='$fake' LATHE_CONFIG='$tmp/config-load'"
expect "the config's model" "loaded 'mine'" 30
type_line "/models"
expect "models listed" "^\* mine +llm" 10
absent "no default model" "smollm2|load: |SmolLM2 not found"
quit

echo "== lathe -m MODEL --threads 1"
open "LATHE_MODELS='$fake'" -m "$stories" --tokenizer "$tok" --threads 1
expect "-m model" "loaded 'stories260K'" 30
expect "chat welcome" "type a message to chat" 5
type_line "/set"
expect "--threads applied" "threads 1" 10
absent "no default model" "smollm2|load: "
quit

echo "== SmolLM2 by default"
smol=${LATHE_SMOLLM2:-$("$bin" --version | sed -n 's/^models: //p')/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ -f "$smol" ]; then
  mkdir -p "$tmp/smol"
  ln -s "$(cd "$(dirname "$smol")" && pwd)/$(basename "$smol")" "$tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf"
  open "LATHE_MODELS='$tmp/smol'"
  expect "chat welcome" "type a message to chat" 10
  expect "SmolLM2 loads as smollm2" "loaded 'smollm2' \(gguf, q4_1, 30 layers" 60
  absent "no fallback" "stories260K"
  quit
else
  echo "skipped: $smol is absent (tools/fetch-model.sh fetches it)"
fi

echo "== without a terminal"
out=$("$bin" -m "$stories" </dev/null 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "needs a terminal" <<<"$out"; then ok; else bad "lathe -m without a terminal (rc $rc): $out"; fi
out=$("$bin" --bogus </dev/null 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "unknown option '--bogus'" <<<"$out"; then ok; else bad "lathe --bogus (rc $rc): $out"; fi
out=$("$bin" -m "$stories" --device gpu7 </dev/null 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "lathe --device: .*'gpu7'" <<<"$out"; then ok; else bad "lathe --device gpu7 (rc $rc): $out"; fi
out=$("$bin" --help 2>&1)
if grep -q "lathe \[-m MODEL\]" <<<"$out" && grep -q "LATHE_MODELS" <<<"$out"; then ok; else bad "--help: $out"; fi

finish
