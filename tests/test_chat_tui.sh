#!/usr/bin/env bash
# test_chat_tui.sh - the workbench as a daily chat tool on the real default model, in a real
# terminal (tmux) at 80x24 and 120x40: it opens with SmolLM2-135M-Instruct loaded from the
# models folder, "What is the capital of France?" gets "Paris", a system prompt is set, a
# three-line paste arrives as one turn, `use` switches between two loaded models (the models
# pane marks the current one), the context meter advances with each turn; after /quit the
# journal holds the pasted turn as one entry and `lathe replay --check` accepts the session.
# Skipped (77) when SmolLM2 is not at hand ($LATHE_SMOLLM2, or the models folder that
# `lathe --version` names: tools/install-deps.sh fetches it there).
set -u
. "$(dirname "$0")/tui_lib.sh"
smol=$(smollm2_path)
[ -f "$smol" ] || { echo "SmolLM2 not found at $smol: skipped (tools/fetch-model.sh fetches it)"; exit 77; }
ctx_used() { screen | grep -oE "ctx [0-9]+/[0-9]+" | head -1 | sed -E 's/ctx ([0-9]+)\/.*/\1/'; }
# wait_ctx_above N: the context meter shows more than N tokens (within 10 s)
wait_ctx_above() {
  local t0=$SECONDS c
  c=$(ctx_used)
  while { [ -z "$c" ] || [ "$c" -le "$1" ]; } && ((SECONDS - t0 < 10)); do sleep 0.2; c=$(ctx_used); done
  [ -n "$c" ] && [ "$c" -gt "$1" ]
}
# the model waits for each chat turn; count the finished ones
dones() { screen | grep -cE "chat done in [0-9.]+ s"; }

models="$tmp/models"
mkdir -p "$models"
ln -s "$smol" "$models/SmolLM2-135M-Instruct.Q4_1.gguf"

run_size() {
  local cols=$1 rows=$2
  local home="$tmp/home-$cols" state="$tmp/state-$cols"
  mkdir -p "$home" "$state"
  echo "== ${cols}x${rows}"
  T new-session -d -s w -x "$cols" -y "$rows" -c "$root" \
    "env HOME='$home' LATHE_STATE_DIR='$state' LATHE_MODELS='$models' XDG_CONFIG_HOME= XDG_CACHE_HOME= LATHE_CONFIG= TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin'; echo LATHE-EXITED=\$?; sleep 600" ||
    { bad "tmux new-session"; return; }
  expect "opens with SmolLM2 loaded" "loaded 'smollm2'" 60
  expect "context meter" "ctx 0/8192" 10

  # greedy, so the answer does not depend on the seed
  type_line "/set temp 0"
  expect "greedy" "temp 0  top-k" 10
  type_line "What is the capital of France?"
  expect "asks and sees Paris" "Paris" 90
  expect "first turn finishes" "chat done in" 90
  wait_ctx_above 10 && ok || bad "context meter counts the first turn ($(ctx_used))"

  # a system prompt: the conversation starts over with it
  type_line "/set system You are a helpful assistant. Answer in one short sentence."
  expect "system prompt set" "system You are a helpful assistant" 10
  expect "conversation starts over" "cleared: the system" 10

  # a three-line paste is one turn
  T set-buffer -b p "$(printf 'Here is a list of fruits:\napple\nbanana')"
  T paste-buffer -p -b p -t w
  expect "paste shown as a multi-line input" "\[3 lines\] > banana" 10
  T send-keys -t w Enter
  expect "pasted turn: first line" "^> Here is a list of fruits:" 15
  expect "pasted turn finishes" "chat done in" 90
  sleep 0.3
  if screen | grep -qE "^> (apple|banana)"; then bad "pasted lines sent as separate turns"; else ok; fi
  wait_ctx_above 10 && ok || bad "context meter advances with the pasted turn"
  local c1
  sleep 0.5 # the panes sample every 0.2 s: let the meter catch up with the finished turn
  c1=$(ctx_used)

  # two models: load the toy one, switch back with `use`
  type_line "/load assets/models/stories260K.bin as toy"
  expect "second model loads" "loaded 'toy'" 30
  expect "models pane marks the toy model current" "\*toy" 10
  type_line "/use smollm2"
  expect "use switches" "using 'smollm2'" 10
  expect "models pane marks smollm2 current" "\*smollm2" 10
  expect "the meter shows smollm2's conversation again" "ctx $c1/8192" 10
  type_line "What color is the sky?"
  expect "turn on smollm2 finishes" "chat done in" 90
  wait_ctx_above "$c1" && ok || bad "context meter advances after use ($c1 -> $(ctx_used))"

  type_line "/quit"
  expect "quits" "LATHE-EXITED=0" 30
  local j
  j=$(ls "$state"/sessions/*.lathe 2>/dev/null | head -1)
  if [ -n "$j" ] && grep -q 'Here is a list of fruits:\\napple\\nbanana' "$j"; then ok; else bad "journal holds the pasted turn as one entry"; fi
  if [ -n "$j" ] && LATHE_MODELS="$models" "$bin" replay --check "$j" >"$tmp/replay-$cols.txt" 2>&1; then ok
  else bad "replay --check of the session"; cat "$tmp/replay-$cols.txt"; fi
  T kill-server >/dev/null 2>&1
}

run_size 80 24
run_size 120 40
finish
